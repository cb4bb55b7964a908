"""``seal_archive``: a timer that seals the blobs created since the last run into the signed Merkle log."""

from __future__ import annotations

import azure.functions as func

from archiving.bootstrap import services

bp = func.Blueprint()


@bp.function_name("seal_archive")
@bp.timer_trigger(arg_name="timer", schedule="%SEAL_SCHEDULE%", run_on_startup=False, use_monitor=True)
def seal_archive(timer: func.TimerRequest) -> None:
    # Errors raise: the next run seals from the same cut-off (nothing is lost, the interval only grows).
    from archiving.integrity.seal import seal

    seal(services())
