"""``dispose_archive``: a daily timer that deletes the records whose retention has ended and that no hold covers,
after writing the signed disposition record (archiving/retention/dispose.py)."""

from __future__ import annotations

import azure.functions as func

from archiving.bootstrap import services

bp = func.Blueprint()


@bp.function_name("dispose_archive")
@bp.timer_trigger(arg_name="timer", schedule="%DISPOSE_SCHEDULE%", run_on_startup=False, use_monitor=True)
def dispose_archive(timer: func.TimerRequest) -> None:
    # Errors raise (a damaged hold record, storage down): nothing is deleted on a doubt; the next day runs again.
    from archiving.retention.dispose import dispose

    dispose(services())
