"""Exceptions that cross module boundaries."""


class InvalidEvent(ValueError):
    """An event of an archived type that cannot be archived as it is; the message says why."""
