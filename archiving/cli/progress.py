"""Progress bars, logs and storage outages on the command line.

- Bars (tqdm) go to stderr, only on a terminal and without ``--quiet``; they have a total where the
  count is known (blobs of a thread, bytes of the files to replay, threads to sweep).
- Logs go through ``tqdm.write``, which clears the bar, prints the line and draws the bar again, so
  a log line never runs into a bar.  ``--log-file PATH`` sends them to a file instead.
- The CLI's storage profile gives up quickly when storage is down, and says so while it retries:
  the first retry is announced at once (a line on stderr), and a command fails within 30 s
  (exit 4), where the batch profile would sit silent for minutes.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger("archiving.cli")

# Worst case with these figures (azure-storage's ExponentialRetry waits initial + base**n: 2.5 s, then
# 4.5 s, +-0.5 s jitter): storage refusing connections fails after about 7 s; storage that accepts
# nothing after 3 x 4 s + 7 s = 19 s; storage that accepts but never answers after 3 x 5 s + 7 s = 22 s,
# about 24 s with the command's start (tests/test_cli_edges.py): under 30 s.
CLI_PROFILE = {"retry_total": 2, "initial_backoff": 0.5, "increment_base": 2, "jitter": 0.5,
               "connection_timeout": 4, "read_timeout": 5}


def announcing_retry_class():
    """ExponentialRetry that logs a warning before each wait, so an outage is visible within seconds."""
    from azure.storage.blob import ExponentialRetry

    class AnnouncingRetry(ExponentialRetry):
        def sleep(self, settings, transport):
            backoff = self.get_backoff_time(settings)
            history = settings.get("history") or []
            last = history[-1] if history else None
            error = getattr(last, "error", None)
            response = getattr(last, "http_response", None)
            cause = (type(error).__name__ if error is not None
                     else f"HTTP {getattr(response, 'status_code', '?')}" if response is not None else "no answer")
            log.warning("storage did not answer (%s): retrying in %.0f s (retry %d of %d)", cause, backoff,
                        settings.get("count", 0), self.total_retries)
            super().sleep(settings, transport)

    return AnnouncingRetry


def cli_profile() -> dict[str, Any]:
    return {**CLI_PROFILE, "retry_class": announcing_retry_class()}


class _BarHandler(logging.Handler):
    """Writes log records through tqdm, so that they do not run into a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)  # stderr as it is now, not as it was
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


def configure_logging(quiet: bool, log_file: str | None = None) -> None:
    """INFO (WARNING with --quiet) to stderr through the bars, or to ``log_file``."""
    handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8") if log_file else _BarHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, (_BarHandler, logging.FileHandler))]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    for noisy in ("azure", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bar(args: Any, total: int | None = None, **kwargs: Any):
    """A progress bar on stderr; off with --quiet, and when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, disable=getattr(args, "quiet", False) or None, file=sys.stderr, **kwargs)
