"""What the Functions host does around our code: builds trigger objects, collects outputs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import azure.functions as func


class Out(func.Out):
    """An output binding value holder, as the worker passes one (azure_functions_worker's Out)."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


def grid_event(raw: dict[str, Any]) -> func.EventGridEvent:
    """A func.EventGridEvent from an Event Grid schema event, as the worker builds it."""
    event_time = raw.get("eventTime")
    parsed = None
    if isinstance(event_time, str):
        try:
            parsed = datetime.fromisoformat(event_time.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
    return func.EventGridEvent(
        id=raw.get("id"),
        data=raw.get("data"),
        topic=raw.get("topic"),
        subject=raw.get("subject"),
        event_type=raw.get("eventType"),
        event_time=parsed,
        data_version=raw.get("dataVersion"),
    )


def function_json(fn) -> dict[str, Any]:
    return json.loads(fn.get_function_json())
