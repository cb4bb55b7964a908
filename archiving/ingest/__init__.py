"""Events in: Event Grid / CloudEvents envelopes, per-channel parsing into changes, the records
built from them, the real-time archive path (`archive_event`), replay of files and dead letters."""
