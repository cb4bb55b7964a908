"""A status check module whose own import fails (tests/test_status.py): not the same as "not deployed"."""

import archiving_dependency_that_is_not_installed  # noqa: F401


def check(ctx):  # pragma: no cover - never reached
    raise AssertionError
