"""Fault injection (throttling, outages, slow answers) and the request log of the ACS test server."""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable

__all__ = ["FaultRule", "Faults", "RequestRecord", "RequestLog", "ERROR_TEXT"]

# Error codes and messages as in the spec's examples (vectors/chat-rest/2024-03-07/*.json).
ERROR_TEXT: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The request is invalid."),
    401: ("Unauthorized", "Request is not authorized."),
    403: ("Forbidden", "User is not allowed to perform specified action."),
    404: ("NotFound", "The requested resource was not found."),
    405: ("MethodNotAllowed", "The method is not allowed on this resource."),
    408: ("RequestTimeout", "The request timed out."),
    409: ("Conflict", "The request conflicts with the current state of the resource."),
    429: ("TooManyRequests", "Rate limit exceeded."),
    500: ("InternalServerError", "An internal server error occurred."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "The server is currently unable to handle the request."),
    504: ("GatewayTimeout", "Gateway timeout."),
}


@dataclass
class FaultRule:
    """One rule; see :meth:`Faults.add`.  ``matched`` and ``fired`` count what it saw and did."""

    status: int | None = 429
    path: str | None = None
    method: str | None = None
    every: int | None = None
    probability: float | None = None
    seed: int | None = 0
    times: int | None = None
    after: int = 0
    retry_after: float | None = 0
    delay: float = 0.0
    code: str | None = None
    message: str | None = None
    matched: int = 0
    fired: int = 0
    _regex: re.Pattern | None = field(default=None, repr=False)
    _rng: random.Random | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.every is not None and self.every < 1:
            raise ValueError("every must be >= 1")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if self.every is not None and self.probability is not None:
            raise ValueError("give either every or probability, not both")
        if self.status is None and not self.delay:
            raise ValueError("a rule needs a status, a delay, or both")
        self._regex = re.compile(self.path) if self.path else None
        self._rng = random.Random(self.seed)
        if self.method:
            self.method = self.method.upper()

    def _decide(self, method: str, path: str) -> bool:
        """Count a request that reaches this rule; True when the rule acts on it (caller holds the lock)."""
        if self.method and self.method != method:
            return False
        if self._regex is not None and not self._regex.search(path):
            return False
        self.matched += 1
        k = self.matched - self.after
        if k <= 0:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.every is not None:
            fire = k % self.every == 0
        elif self.probability is not None:
            fire = self._rng.random() < self.probability
        else:
            fire = True
        if fire:
            self.fired += 1
        return fire

    def error_body(self) -> dict:
        default_code, default_message = ERROR_TEXT.get(self.status or 500, ("Error", "Injected fault."))
        return {"error": {"code": self.code or default_code, "message": self.message or default_message}}


class Faults:
    """Per-server, thread-safe list of fault rules, checked in order for every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(
        self,
        status: int | None = 429,
        path: str | None = None,
        method: str | None = None,
        *,
        every: int | None = None,
        probability: float | None = None,
        seed: int | None = 0,
        times: int | None = None,
        after: int = 0,
        retry_after: float | None = 0,
        delay: float = 0.0,
        code: str | None = None,
        message: str | None = None,
    ) -> FaultRule:
        """Add a rule and return it.

        * ``path``: regex searched in the request path (percent-decoded, without the query), e.g.
          ``r"/messages$"``; ``method``: e.g. ``"GET"``; both None = every request.
        * Which matching requests get the fault: all of them by default; ``every=N`` the N-th, 2N-th, ...;
          ``probability=p`` each with chance p from ``random.Random(seed)`` (repeatable); ``after=N`` lets the
          first N matching requests through; ``times=N`` stops after N faults.
        * ``status``: the answer (429 gives ``TooManyRequests``, 503 ``ServiceUnavailable``, others per
          :data:`ERROR_TEXT`, or ``code``/``message``), with ``Retry-After: <retry_after>`` unless
          ``retry_after`` is None.  ``status=None`` with ``delay`` only slows the real answer down.
        * ``delay``: seconds to sleep before answering (applies to faulted and to normal answers).
        """
        rule = FaultRule(
            status=status,
            path=path,
            method=method,
            every=every,
            probability=probability,
            seed=seed,
            times=times,
            after=after,
            retry_after=retry_after,
            delay=delay,
            code=code,
            message=message,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def evaluate(self, method: str, path: str) -> tuple[float, FaultRule | None]:
        """(seconds to sleep, the rule whose error to answer with or None).  Every rule sees the request."""
        delay = 0.0
        chosen: FaultRule | None = None
        with self._lock:
            for rule in self._rules:
                if rule._decide(method, path):
                    delay += rule.delay
                    if chosen is None and rule.status is not None:
                        chosen = rule
        return delay, chosen


@dataclass(frozen=True)
class RequestRecord:
    time: float  # time.time() when the request arrived
    method: str
    path: str  # percent-decoded path, no query
    query: str  # raw query string
    status: int
    user: str | None  # the authenticated ACS user (chat) or None
    fault: bool  # answered by a fault rule
    duration: float  # seconds from arrival to the answer being ready (fault delays included)
    client_request_id: str | None


class RequestLog:
    """Thread-safe list of :class:`RequestRecord`, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def filter(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | Iterable[int] | None = None,
        fault: bool | None = None,
        user: str | None = None,
    ) -> list[RequestRecord]:
        """Records matching all given criteria; ``path`` is a regex searched in the decoded path."""
        regex = re.compile(path) if path else None
        statuses = {status} if isinstance(status, int) else (set(status) if status is not None else None)
        out = []
        for r in self.records():
            if method and r.method != method.upper():
                continue
            if regex is not None and not regex.search(r.path):
                continue
            if statuses is not None and r.status not in statuses:
                continue
            if fault is not None and r.fault != fault:
                continue
            if user is not None and r.user != user:
                continue
            out.append(r)
        return out

    def count(self, **criteria) -> int:
        return len(self.filter(**criteria))


def sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
