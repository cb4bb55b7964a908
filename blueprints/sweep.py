"""``sweep_inactive_threads``: a timer that selects quiet threads and enqueues one message each."""

from __future__ import annotations

import azure.functions as func

from archiving.bootstrap import services

bp = func.Blueprint()


@bp.function_name("sweep_inactive_threads")
@bp.timer_trigger(arg_name="timer", schedule="%SWEEP_SCHEDULE%", run_on_startup=False, use_monitor=True)
@bp.queue_output(arg_name="queue", queue_name="%SWEEP_QUEUE%", connection="ArchiveStorage")
@bp.retry(strategy="exponential_backoff", max_retry_count="3", minimum_interval="00:00:30",
          maximum_interval="00:05:00")
def sweep_inactive_threads(timer: func.TimerRequest, queue: func.Out[list[str]]) -> None:
    # Imported here, not at the top: the host imports every blueprint at cold start, and the Event
    # Grid path must not wait for the sweep's modules (docs/performance.md, cold start).
    from archiving.threads.sweep import select_threads

    # It archives nothing itself: one run could not finish tens of thousands of threads in time.
    selected, _ = select_threads(services())
    if selected:
        queue.set([item.to_message() for item in selected])
    # The poison queue's depth, for the alert "poison queue not empty" (archiving/ops/status.py).
    from archiving.ops.status import log_poison_depth

    log_poison_depth(services())
