"""ACS chat archiver core: plain Python shared by the Functions app and the CLI.

Nothing here imports ``azure.functions``; heavy SDKs are imported where they are used so that
the Functions host's cold start stays short.
"""

SCHEMA_VERSION = 1
