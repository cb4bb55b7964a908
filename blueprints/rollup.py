"""``rollup_archive``: a daily timer that rolls up the days whose grace period has passed."""

from __future__ import annotations

import azure.functions as func

from archiving.bootstrap import services

bp = func.Blueprint()


@bp.function_name("rollup_archive")
@bp.timer_trigger(arg_name="timer", schedule="%ROLLUP_SCHEDULE%", run_on_startup=False, use_monitor=True)
@bp.retry(strategy="exponential_backoff", max_retry_count="3", minimum_interval="00:01:00",
          maximum_interval="00:10:00")
def rollup_archive(timer: func.TimerRequest) -> None:
    # Imported here: DuckDB and the roll-up code stay out of the other functions' cold start.
    from archiving.rollup.writer import run_due

    run_due(services())
