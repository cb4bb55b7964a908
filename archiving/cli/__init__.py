"""The command line (`python -m archiving`): argument parsing, output, exit codes."""
