"""``archive_thread``: a queue trigger that writes one thread's transcripts."""

from __future__ import annotations

import azure.functions as func

from archiving.bootstrap import services

bp = func.Blueprint()


@bp.function_name("archive_thread")
@bp.queue_trigger(arg_name="msg", queue_name="%SWEEP_QUEUE%", connection="ArchiveStorage")
def archive_thread(msg: func.QueueMessage) -> None:
    # Imported here, not at the top, to keep them out of the cold start (docs/performance.md).
    from archiving.threads.sweep import ThreadToArchive
    from archiving.threads.transcripts import archive_thread as write_transcripts

    # Errors raise: the queue delivers again, and after maxDequeueCount (host.json) the message
    # lands in <SWEEP_QUEUE>-poison, where it is kept for a re-drive.
    item = ThreadToArchive.from_message(msg.get_body().decode("utf-8"))
    write_transcripts(item.thread_id, services(), item.last_message_at)
