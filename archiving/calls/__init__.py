"""Calls: call events (started, participants, ended, incoming) as records, and Call Automation recordings
downloaded within ACS's 24 hours and stored by content hash (docs/archive-format.md, section 15).

layout.py names the blobs; events.py turns events into records; recordings.py downloads and stores
recordings; read.py is what the read doors (show, find, export, roll-ups, verify) need of calls.
"""
