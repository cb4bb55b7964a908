"""Inactive chat threads: ACS access as the archiver user, the sweep's selection, and transcripts."""
