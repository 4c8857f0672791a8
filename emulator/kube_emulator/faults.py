"""Fault injection: answer chosen requests with an error, delay them, or break watch streams.

An injected error is answered *instead of* the request: the emulator does not apply it. Rules are
matched in the order they were added; the first rule that matches and still has uses left wins.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ApiError


@dataclass
class Fault:
    """One rule. `path` is a regular expression searched in the request path (no query string)."""

    method: str | None = None  # GET, POST, PUT, PATCH, DELETE; None = any
    path: str = ""
    watch: bool | None = None  # only watch requests (True), only non-watch (False), or both (None)
    status: int | None = None  # answer with this HTTP status and a matching Status body
    message: str = "injected fault"
    retry_after: int | None = None  # seconds, sent as the Retry-After header (429/503)
    delay: float = 0.0  # seconds to wait before answering (the request is then served normally)
    break_watch_after: int | None = None  # end a watch stream abruptly after this many events
    skip: int = 0  # let this many matching requests through first
    times: int | None = 1  # how many matching requests to affect; None = all
    id: int = 0
    seen: int = 0  # matching requests so far
    hits: int = 0  # requests affected so far
    _pattern: re.Pattern[str] = field(default=re.compile(""), repr=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_pattern")
        return data

    def error(self) -> ApiError:
        assert self.status is not None
        if self.retry_after is None:
            return ApiError(self.status, self.message)
        # As kube-apiserver: details.retryAfterSeconds in the Status, and the same as Retry-After.
        return ApiError(
            self.status,
            self.message,
            details={"retryAfterSeconds": self.retry_after},
            headers={"Retry-After": str(self.retry_after)},
        )


class FaultInjector:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        fault.id = next(self._ids)
        self._faults.append(fault)
        return fault

    def add_from_json(self, data: dict[str, Any]) -> Fault:
        allowed = {
            "method",
            "path",
            "watch",
            "status",
            "message",
            "retry_after",
            "delay",
            "break_watch_after",
            "skip",
            "times",
        }
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return self.add(Fault(**data))

    def clear(self) -> None:
        self._faults.clear()

    def remove(self, fault_id: int) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def list(self) -> list[Fault]:
        return list(self._faults)

    def match(self, method: str, path: str, is_watch: bool) -> Fault | None:
        """The rule that takes this request, if any (counts it as a hit)."""
        for fault in self._faults:
            if fault.method is not None and fault.method.upper() != method.upper():
                continue
            if fault.watch is not None and fault.watch != is_watch:
                continue
            if not fault._pattern.search(path):
                continue
            if fault.times is not None and fault.hits >= fault.times:
                continue
            fault.seen += 1
            if fault.seen <= fault.skip:
                continue
            fault.hits += 1
            return fault
        return None
