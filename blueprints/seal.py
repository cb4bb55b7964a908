"""``seal_archive``: a timer that seals the blobs the change feed brought since the last run into the signed Merkle
log; ``seal_audit``: a weekly timer that also lists every container (blobs the feed never brought, sealed loudly)."""

from __future__ import annotations

import azure.functions as func

from archiving.bootstrap import services

bp = func.Blueprint()


@bp.function_name("seal_archive")
@bp.timer_trigger(arg_name="timer", schedule="%SEAL_SCHEDULE%", run_on_startup=False, use_monitor=True)
def seal_archive(timer: func.TimerRequest) -> None:
    # Errors raise: the next run reads the feed from the same cursor (nothing is lost).
    from archiving.integrity.seal import seal

    seal(services())


@bp.function_name("seal_audit")
@bp.timer_trigger(arg_name="timer", schedule="%SEAL_AUDIT_SCHEDULE%", run_on_startup=False, use_monitor=True)
def seal_audit(timer: func.TimerRequest) -> None:
    from archiving.integrity.seal import seal

    result = seal(services(), audit=True)
    if result.missed:
        # Sealed, but it must never happen: fail the run so that the function's failure alert fires.
        raise RuntimeError(f"seal audit: {len(result.missed)} blobs the change feed never brought (sealed late in "
                           f"manifest {result.seq})")
