"""CLI commands of the sweep side: ``sweep`` and ``identity`` (filled in by the sweep issue)."""

from __future__ import annotations


def register(sub) -> None:
    """Add this module's subcommands to the CLI's subparsers."""
