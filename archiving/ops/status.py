"""``python -m archiving status``: is the archive healthy?  One screen, from the storage account alone.

Each check gives OK, WARN or FAIL (or SKIP: the feature is not deployed) with a short summary and
the figures behind it.  Cost is what keeps it usable at 10 million blobs: nothing lists the
archive container.

- records: one Find Blobs by Tags query on the ``at`` index tag for the last day (the hour is
  counted from the same results); one page per 5,000 records. ``at`` is the record's own time
  (compose, edit, deletion or change time), which is within seconds of archiving on the real-time
  path.  If the day is empty, wider windows (7 and 31 days) find the newest record.
- rejections: a listing of the rejected container under the names of today and yesterday only
  (the host names rejections ``<yyyy-MM-ddTHH-mm-ssZ>-<guid>.json``).
- poison queue: the approximate message count of ``<SWEEP_QUEUE>-poison`` (one call).
- dead letters: a listing of the dead-letter container (only events Event Grid gave up on).
- seal and roll-up: provided by their own features through :data:`OPTIONAL_CHECKS`; SKIP when the
  feature is not in this build (or reports itself not deployed).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from archiving.timefmt import UTC, iso, parse_time, utcnow

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"
_RANK = {OK: 0, SKIP: 0, WARN: 1, FAIL: 2}

DEAD_LETTER_CONTAINER = "chat-archive-deadletter"  # infra/main.bicep deadLetterContainerName
# Listing stops here; the count is then shown as "at least".
DEAD_LETTER_LIST_CAP = 10_000
# Quick to report a storage account that does not answer (the CLI's batch profile waits minutes).
STATUS_PROFILE = {"retry_total": 1, "initial_backoff": 0.5, "increment_base": 2, "jitter": 0.5,
                  "connection_timeout": 5, "read_timeout": 10}
# The whole report within 30 s (docs/operations.md): a check still waiting for storage then is a FAIL.
STATUS_DEADLINE_SECONDS = 25.0
ANNOUNCE_AFTER_SECONDS = 3.0


class NotDeployed(Exception):
    """Raised by a check whose feature is not deployed in this archive (the check shows SKIP)."""


@dataclass(frozen=True)
class Limits:
    """Thresholds: WARN at ``*_warn``, FAIL at ``*_fail`` (inclusive).  Defaults are documented in
    docs/operations.md; every one is a command-line option."""

    newest_warn_minutes: int = 180
    newest_fail_minutes: int = 1440
    rejections_warn: int = 1  # in the last 24 h
    rejections_fail: int = 100
    poison_warn: int = 1
    poison_fail: int = 10
    dead_letter_warn: int = 1
    dead_letter_fail: int = 100
    seal_warn_minutes: int = 60  # the seal runs every 15 minutes by default
    seal_fail_minutes: int = 240
    rollup_behind_warn: int = 1  # days due (past the grace period) but not rolled up
    rollup_behind_fail: int = 3
    # For the optional checks (seal, roll-up): names are theirs to define.
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    name: str
    state: str  # OK | WARN | FAIL | SKIP
    summary: str
    values: Mapping[str, Any] = field(default_factory=dict)
    action: str | None = None  # what the operator does about a WARN or FAIL


@dataclass(frozen=True)
class Context:
    services: Any  # archiving.bootstrap.Services
    now: datetime
    limits: Limits
    dead_letter_container: str = DEAD_LETTER_CONTAINER


@dataclass(frozen=True)
class Report:
    checked_at: datetime
    checks: tuple[Check, ...]

    @property
    def state(self) -> str:
        worst = max((_RANK[c.state] for c in self.checks), default=0)
        return {0: OK, 1: WARN, 2: FAIL}[worst]

    def as_json(self) -> dict[str, Any]:
        return {"status": self.state, "checked_at": iso(self.checked_at),
                "checks": [asdict(c) for c in self.checks]}


def grade(value: float, warn: float, fail: float) -> str:
    if value >= fail:
        return FAIL
    if value >= warn:
        return WARN
    return OK


def age_text(when: datetime | None, now: datetime) -> str:
    """A short age: '42 s', '17 min', '5 h 3 min', '2 d 4 h'."""
    if when is None:
        return "never"
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


# -- the archive: records and the newest one ---------------------------------------------------------

# A record's `at` can be slightly ahead of this machine's clock; count it as now.
_FUTURE_SLACK = timedelta(hours=1)


def _records_since(store: Any, start: datetime, now: datetime) -> tuple[int, int, datetime | None, int]:
    """(records, transcripts, newest record's ``at``, records in the last hour) with ``at`` from start
    to now (and up to _FUTURE_SLACK beyond: clocks differ)."""
    from archiving.read.scan import tag_filter
    from azure.core.exceptions import ResourceNotFoundError

    hour = iso(now - timedelta(hours=1))
    end = now + _FUTURE_SLACK
    records = transcripts = last_hour = 0
    newest: str | None = None
    try:
        for item in store.container.find_blobs_by_tags(tag_filter(start=iso(start), end=iso(end))):
            at = (getattr(item, "tags", None) or {}).get("at")
            if "/transcripts/" in item.name:
                transcripts += 1
                continue
            records += 1
            if at is not None:
                newest = at if newest is None or at > newest else newest
                last_hour += at >= hour
    except ResourceNotFoundError as exc:
        if getattr(exc, "error_code", None) != "ContainerNotFound":
            raise
    return records, transcripts, (parse_time(newest, "at") if newest else None), last_hour


def check_records(ctx: Context) -> list[Check]:
    store = ctx.services.store
    day, transcripts, newest, hour = _records_since(store, ctx.now - timedelta(days=1), ctx.now)
    window = "24 h"
    for days in (7, 31):
        if newest is not None:
            break
        _, _, newest, _ = _records_since(store, ctx.now - timedelta(days=days), ctx.now)
        window = f"{days} d"
    counts = Check("records", OK, f"{hour} in the last hour, {day} in the last 24 h ({transcripts} transcripts)",
                   {"last_hour": hour, "last_day": day, "transcripts_last_day": transcripts})
    limits = ctx.limits
    if newest is None:
        state = FAIL
        summary = f"no record in the last {window}"
        age_minutes = None
    else:
        age_minutes = max(0.0, (ctx.now - newest).total_seconds() / 60)
        state = grade(age_minutes, limits.newest_warn_minutes, limits.newest_fail_minutes)
        summary = f"{age_text(newest, ctx.now)} old ({iso(newest)})"
    newest_check = Check(
        "newest record", state, summary,
        {"newest_at": iso(newest), "age_minutes": None if age_minutes is None else round(age_minutes, 1),
         "warn_minutes": limits.newest_warn_minutes, "fail_minutes": limits.newest_fail_minutes},
        None if state == OK else "nothing archived lately: check the Event Grid subscription, the function's "
                                 "failures and dead letters (docs/operations.md, 'Archiving falls behind')",
    )
    return [counts, newest_check]


# -- rejected events ---------------------------------------------------------------------------------


def check_rejections(ctx: Context) -> list[Check]:
    from azure.core.exceptions import ResourceNotFoundError

    from archiving.store.listing import list_blobs

    container = ctx.services.rejected_store.container
    since_day, since_hour = ctx.now - timedelta(days=1), ctx.now - timedelta(hours=1)
    day = hour = 0
    newest: datetime | None = None
    # The function's rejections start with the host's {DateTime} (yyyy-MM-ddTHH-mm-ssZ): list only today's and
    # yesterday's.  Those of `replay` are named by content (replay-<sha>.json, rare): filtered by creation time.
    prefixes = sorted({(ctx.now - timedelta(days=n)).strftime("%Y-%m-%dT") for n in (0, 1)}) + ["replay-"]
    try:
        for prefix in prefixes:
            for blob in list_blobs(container, prefix, include=()):
                created = blob.creation_time
                if created is None or created < since_day:
                    continue
                day += 1
                hour += created >= since_hour
                newest = created if newest is None or created > newest else newest
    except ResourceNotFoundError as exc:
        if getattr(exc, "error_code", None) != "ContainerNotFound":
            raise
    limits = ctx.limits
    state = grade(day, limits.rejections_warn, limits.rejections_fail)
    summary = f"{hour} in the last hour, {day} in the last 24 h"
    if newest is not None:
        summary += f", newest {age_text(newest, ctx.now)} ago"
    return [Check(
        "rejections", state, summary,
        {"last_hour": hour, "last_day": day, "newest_at": iso(newest), "container": ctx.services.settings.rejected_container,
         "warn": limits.rejections_warn, "fail": limits.rejections_fail},
        None if state == OK else f"read the reasons in container {ctx.services.settings.rejected_container}, fix the "
                                 "cause, replay the events (docs/operations.md, 'Rejected events')",
    )]


# -- poison queue and dead letters -------------------------------------------------------------------


def poison_depth(services: Any) -> tuple[str, int, bool]:
    """(name, approximate message count, exists) of ``<SWEEP_QUEUE>-poison``: one call."""
    from azure.core.exceptions import ResourceNotFoundError

    name = f"{services.settings.sweep_queue}-poison"
    try:
        return name, services.queue_service.get_queue_client(name).get_queue_properties().approximate_message_count, True
    except ResourceNotFoundError:
        return name, 0, False


def log_poison_depth(services: Any) -> None:
    """One line per sweep run, ``poison_queue=<name> messages=<n>``: the alert "poison queue not empty"
    reads the latest one, so it stays on until the queue is empty again (the host's own line says
    only when a message arrives).  Never fails the sweep."""
    import logging

    from archiving.ops.logfields import line

    log = logging.getLogger("archiving.ops.status")
    try:
        name, depth, _ = poison_depth(services)
    except Exception as exc:  # noqa: BLE001 - a figure for the alerts; the sweep's own work is done
        log.warning(line(("poison_queue", f"{services.settings.sweep_queue}-poison"), ("error", type(exc).__name__)))
        return
    (log.warning if depth else log.info)(line(("poison_queue", name), ("messages", depth)))


def check_poison(ctx: Context) -> list[Check]:
    name, depth, exists = poison_depth(ctx.services)
    limits = ctx.limits
    state = grade(depth, limits.poison_warn, limits.poison_fail)
    summary = f"{depth} messages in {name}" if exists else f"queue {name} does not exist (nothing ever failed)"
    return [Check(
        "poison queue", state, summary,
        {"queue": name, "messages": depth, "exists": exists, "warn": limits.poison_warn, "fail": limits.poison_fail},
        None if state == OK else "threads whose transcripts failed 5 times: find the cause in the archive_thread "
                                 "failures, then `python -m archiving redrive` (docs/operations.md, 'Poison queue not empty')",
    )]


def check_dead_letters(ctx: Context) -> list[Check]:
    from azure.core.exceptions import ResourceNotFoundError

    name = ctx.dead_letter_container
    container = ctx.services.blob_service.get_container_client(name)
    count = 0
    oldest: datetime | None = None
    exists = True
    try:
        for blob in container.list_blobs():
            count += 1
            created = blob.creation_time
            if created is not None and (oldest is None or created < oldest):
                oldest = created
            if count >= DEAD_LETTER_LIST_CAP:
                break
    except ResourceNotFoundError as exc:
        if getattr(exc, "error_code", None) != "ContainerNotFound":
            raise
        exists = False
    limits = ctx.limits
    state = grade(count, limits.dead_letter_warn, limits.dead_letter_fail)
    shown = f"at least {count}" if count >= DEAD_LETTER_LIST_CAP else str(count)
    if not exists:
        summary = f"container {name} does not exist (not deployed here)"
    else:
        summary = f"{shown} blobs waiting in {name}"
        if oldest is not None:
            summary += f", oldest {age_text(oldest, ctx.now)} ago"
    return [Check(
        "dead letters", state, summary,
        {"container": name, "blobs": count, "capped": count >= DEAD_LETTER_LIST_CAP, "exists": exists,
         "oldest_at": iso(oldest), "warn": limits.dead_letter_warn, "fail": limits.dead_letter_fail},
        None if state == OK else f"`python -m archiving replay --container {name}`, then delete the replayed blobs "
                                 "(docs/operations.md, 'Event Grid dead-lettered events')",
    )]


# -- optional checks of other features ---------------------------------------------------------------

# name -> "module:function".  The function takes a Context and returns a Check (or a list of them),
# or raises NotDeployed (SKIP).  A module that is not in this build means the feature is not
# deployed (SKIP); a module without the function is a wiring mistake (FAIL).  The seal
# (archiving.integrity) and the roll-ups (archiving.rollup) provide these; ``seal_check`` and
# ``rollup_check`` below turn their figures into a Check with the thresholds of ``Limits``, e.g.
#
#     def check_seal(ctx):                                   # archiving/integrity/status.py
#         from archiving.ops.status import seal_check
#         cp, waiting = latest_checkpoint(ctx.services), unsealed(ctx.services, ctx.now)
#         return seal_check(ctx, cp and parse_time(cp["time"], "time"), waiting.count, waiting.oldest)
OPTIONAL_CHECKS: dict[str, str] = {
    "seal": "archiving.integrity.status:check_seal",
    "roll-up": "archiving.rollup.status:check_rollup",
    "records management": "archiving.retention.status:check_retention",
    "recordings": "archiving.calls.status:check_recordings",  # call recordings not archived after 12 h
}


def optional_check(name: str, target: str) -> Callable[[Context], list[Check]]:
    module_name, _, function_name = target.partition(":")

    def run(ctx: Context) -> list[Check]:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only the feature's own module missing means "not in this build"; a missing dependency
            # inside it is a real failure.
            if exc.name is None or not (module_name == exc.name or module_name.startswith(exc.name + ".")):
                raise
            return [Check(name, SKIP, "not deployed (not in this build)")]
        function = getattr(module, function_name, None)
        if function is None:
            # The feature is in this build but its check is not wired: say so, do not hide it.
            return [Check(name, FAIL, f"not wired: {module_name} has no {function_name}",
                          action=f"add {function_name}(ctx) to {module_name} (archiving/ops/status.py, OPTIONAL_CHECKS)")]
        try:
            result = function(ctx)
        except NotDeployed as exc:
            return [Check(name, SKIP, f"not deployed{f' ({exc})' if str(exc) else ''}")]
        return list(result) if isinstance(result, (list, tuple)) else [result]

    return run


def seal_check(ctx: Context, last_seal: datetime | None, unsealed: int, oldest_unsealed: datetime | None,
               tree_size: int | None = None) -> Check:
    """The seal's check from its figures (the seal feature's ``check_seal`` gathers them): the age of
    the latest signed checkpoint and of the oldest blob still waiting for a seal."""
    limits = ctx.limits
    values = {"last_seal_at": iso(last_seal), "tree_size": tree_size, "unsealed": unsealed,
              "oldest_unsealed_at": iso(oldest_unsealed), "warn_minutes": limits.seal_warn_minutes,
              "fail_minutes": limits.seal_fail_minutes}
    action = ("the seal is not keeping up: check the seal function's failures and schedule, then run "
              "`python -m archiving seal` (docs/operations.md, 'Seal or roll-up missing')")
    if last_seal is None:
        return Check("seal", WARN, f"never sealed; {unsealed} blobs waiting", values, action)
    # A blob that has waited long for a seal is as late as a seal that did not run.
    waiting = ctx.now - oldest_unsealed if oldest_unsealed is not None and unsealed else timedelta(0)
    age = max(ctx.now - last_seal, waiting)
    state = grade(age.total_seconds() / 60, limits.seal_warn_minutes, limits.seal_fail_minutes)
    summary = f"last seal {age_text(last_seal, ctx.now)} ago"
    if tree_size is not None:
        summary += f" (tree size {tree_size})"
    summary += f", {unsealed} blobs unsealed"
    if oldest_unsealed is not None and unsealed:
        summary += f", oldest {age_text(oldest_unsealed, ctx.now)} ago"
    return Check("seal", state, summary, values, None if state == OK else action)


def rollup_check(ctx: Context, newest_day: date | None, last_due_day: date, *, missing: Sequence[date] = (),
                 partial: Sequence[date] = (), first_day: date | None = None) -> Check:
    """The roll-up's check from its figures: the due days (from the first archived day to the last day
    whose grace period passed) without a complete roll-up, the partial roll-ups, the newest complete day."""
    limits = ctx.limits
    behind = (last_due_day - newest_day).days if newest_day is not None else None
    values = {"newest_day": newest_day.isoformat() if newest_day else None, "last_due_day": last_due_day.isoformat(),
              "first_day": first_day.isoformat() if first_day else None, "days_behind": behind,
              "missing_days": len(missing), "oldest_missing": missing[0].isoformat() if missing else None,
              "partial_days": len(partial), "warn_days": limits.rollup_behind_warn,
              "fail_days": limits.rollup_behind_fail}
    action = ("roll-ups are missing: check the roll-up function's failures (it catches up 7 days per run), or "
              "`python -m archiving rollup --from D --to D` (docs/operations.md, 'Seal or roll-up missing')")
    late = max(len(missing), max(behind, 0) if behind is not None else 0)
    counts = f"{len(missing)} due days missing" + (f" (oldest {missing[0].isoformat()})" if missing else "")
    counts += f", {len(partial)} partial" if partial else ""
    if behind is None and not missing:
        return Check("roll-up", OK, f"nothing archived to roll up (due up to {last_due_day.isoformat()})", values)
    state = grade(late, limits.rollup_behind_warn, limits.rollup_behind_fail)
    newest = f"newest complete day {newest_day.isoformat()}" if newest_day else "never rolled up"
    summary = f"{newest}, {counts} (due up to {last_due_day.isoformat()})"
    return Check("roll-up", state, summary, values, None if state == OK else action)


# -- running them ------------------------------------------------------------------------------------

CORE_CHECKS: tuple[tuple[str, Callable[[Context], list[Check]]], ...] = (
    ("records", check_records),
    ("rejections", check_rejections),
    ("poison queue", check_poison),
    ("dead letters", check_dead_letters),
)


def _guarded(name: str, fn: Callable[[Context], list[Check]], ctx: Context) -> list[Check]:
    """A check that cannot run is a FAIL naming why, not a traceback; the other checks still run."""
    try:
        return fn(ctx)
    except Exception as exc:  # noqa: BLE001 - storage errors above all; the operator needs the cause
        from archiving.settings import SettingError

        if isinstance(exc, SettingError):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        return [Check(name, FAIL, f"could not check: {type(exc).__name__}: {first}"[:300],
                      action="check the storage account, the settings and your access (docs/operations.md, 'The status command')")]


def run_checks(services: Any, limits: Limits | None = None, now: datetime | None = None,
               dead_letter_container: str = DEAD_LETTER_CONTAINER,
               optional: Mapping[str, str] | None = None, deadline: float = STATUS_DEADLINE_SECONDS,
               on_wait: Callable[[list[str], float], None] | None = None) -> Report:
    """Every check at once, each in a thread of its own; a check with no answer after ``deadline`` seconds
    is a FAIL saying so (its thread is left to end by itself), and ``on_wait(names, deadline)`` is told
    after ``ANNOUNCE_AFTER_SECONDS`` which checks are still waiting for storage."""
    import threading
    import time

    ctx = Context(services, (now or utcnow()).astimezone(UTC), limits or Limits(), dead_letter_container)
    extra = OPTIONAL_CHECKS if optional is None else optional
    checks: list[tuple[str, Callable[[Context], list[Check]]]] = list(CORE_CHECKS)
    checks += [(name, optional_check(name, target)) for name, target in extra.items()]
    results: dict[int, list[Check] | BaseException] = {}

    def run(index: int, name: str, fn: Callable[[Context], list[Check]]) -> None:
        try:
            results[index] = _guarded(name, fn, ctx)
        except BaseException as exc:  # noqa: BLE001 - a setting error: raised below, in the caller's thread
            results[index] = exc

    # Daemon threads: a check hung on storage must not keep the command from answering, nor from exiting.
    threads = [threading.Thread(target=run, args=(i, name, fn), name=f"status-{name}", daemon=True)
               for i, (name, fn) in enumerate(checks)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, started + min(ANNOUNCE_AFTER_SECONDS, deadline) - time.monotonic()))
    waiting = [name for i, (name, _) in enumerate(checks) if i not in results]
    if waiting and on_wait is not None:
        on_wait(waiting, deadline)
    for thread in threads:
        thread.join(max(0.0, started + deadline - time.monotonic()))
    found: list[Check] = []
    for i, (name, _) in enumerate(checks):
        result = results.get(i)
        if isinstance(result, BaseException):
            raise result
        found += result if result is not None else [Check(
            name, FAIL, f"storage did not answer within {deadline:.0f} s",
            {"deadline_seconds": deadline},
            "check the storage account, the network and your access (docs/operations.md, 'The status command')")]
    return Report(ctx.now, tuple(found))


def render_text(report: Report) -> str:
    from archiving.read.safe import terminal  # summaries can quote stored values (names, reasons)

    width = max((len(c.name) for c in report.checks), default=10)
    lines = [f"archive status at {iso(report.checked_at)}"]
    for c in report.checks:
        lines.append(f"{c.state:<5} {c.name:<{width}}  {terminal(c.summary)}")
        if c.action:
            lines.append(f"{'':<5} {'':<{width}}  -> {terminal(c.action)}")
    counts = {s: sum(c.state == s for c in report.checks) for s in (WARN, FAIL)}
    tail = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines.append(f"status: {report.state}" + (f" ({tail})" if tail else ""))
    return "\n".join(lines) + "\n"
