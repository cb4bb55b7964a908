"""``archive_event``: Event Grid (Event Grid schema) -> one immutable record per change, every channel
(chat, SMS, WhatsApp with its media, email reports, calls with their recordings)."""

from __future__ import annotations

import azure.functions as func

from archiving.ingest.archiver import REJECTED, rejection_json
from archiving.ingest.archiver import archive_event as archive
from archiving.bootstrap import services

bp = func.Blueprint()


def event_as_dict(event: func.EventGridEvent) -> dict:
    """The event as Event Grid delivered it (Event Grid schema), for parsing and for rejections."""
    event_time = event.event_time
    return {
        "id": event.id,
        "topic": event.topic,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event_time.isoformat() if event_time is not None else None,
        "dataVersion": event.data_version,
        "data": event.get_json(),
    }


@bp.function_name("archive_event")
@bp.event_grid_trigger(arg_name="event")
@bp.blob_output(
    arg_name="rejected",
    # The host names the blob; a name computed at run time would need the SDK.
    path="%ARCHIVE_REJECTED_CONTAINER%/{DateTime}-{rand-guid}.json",
    connection="ArchiveStorage",
    data_type="string",
)
def archive_event(event: func.EventGridEvent, rejected: func.Out[str]) -> None:
    svc = services()
    outcome = archive(event_as_dict(event), svc.store, svc.settings.hash_key, media=svc.media,
                      media_max_bytes=svc.settings.media_max_bytes, recordings=svc.recordings,
                      delete_recordings=svc.settings.delete_recording_after_archive)
    if outcome.status == REJECTED:
        # Kept with its reason; returning normally stops Event Grid from redelivering it.
        rejected.set(rejection_json(outcome))
