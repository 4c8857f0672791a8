"""ResourceMetricsService requests, pure: validation and the step grid every query is aligned on.

Every problem names the request field (`fromDate: ...`); all problems of a request are reported at once.

The step grid: points are at whole multiples of `step` seconds since the Unix epoch, so that every query for
the same (namespace, version, step) evaluates at the same instants, whoever asks and whenever: GetVersion and
WatchVersion agree, and WatchVersion's windows meet without a gap or an overlap.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass

from ..generated import resourcemetrics_pb2
from ..runtime_requests import (
    DNS1123_LABEL,
    DNS1123_LABEL_MAX_LENGTH,
    DNS1123_LABEL_RULE,
    FieldProblem,
    InvalidRequestError,
    quoted,
)

# Prometheus refuses a range query of more than 11,000 points per series (HTTP 400).
MAX_POINTS = 11_000
# The Admin API asks for about this many points: step = ⌊range / 60⌋ s. It sends step 0 for ranges under a minute;
# the facade then picks ⌈range / 60⌉ s, at least 1 s, which continues the Admin API's own rule.
POINTS_PER_RANGE_WHEN_STEP_IS_ZERO = 60
# RFC 3339 date-time (section 5.6): date, "T", time, optional fraction, "Z" or a numeric offset; "T" and "Z" may
# be lower case. Python's fromisoformat alone accepts much more (dates alone, week dates, no offset).
RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
RFC3339_EXAMPLE = "2024-05-01T12:00:00Z or 2024-05-01T14:00:00+02:00"
MAX_QUOTED_LENGTH = 64  # longer values are not repeated in full in a message


@dataclass(frozen=True)
class SeriesKey:
    """What a query is about: one version's pods in one namespace, at one step. Shared WatchVersion polls key on it."""

    namespace: str
    version_name: str
    step: int  # seconds, > 0


@dataclass(frozen=True)
class Window:
    """The grid points from `start` to `end` inclusive, `step` apart (seconds since the epoch). Empty if start > end."""

    start: int
    end: int
    step: int

    @property
    def points(self) -> int:
        return 0 if self.start > self.end else (self.end - self.start) // self.step + 1


@dataclass(frozen=True)
class GetVersionRequest:
    key: SeriesKey
    window: Window


@dataclass(frozen=True)
class WatchVersionRequest:
    key: SeriesKey
    since: float  # fromDate, seconds since the epoch
    until: float | None  # toDate if given: the stream ends once it has sent the points up to it


# ---------------------------------------------------------------------------------------------- the grid


def first_point_at_or_after(instant: float, step: int) -> int:
    return math.ceil(instant / step) * step


def last_point_at_or_before(instant: float, step: int) -> int:
    return math.floor(instant / step) * step


def grid_window(since: float, until: float, step: int) -> Window:
    """The grid points within [since, until]."""
    return Window(first_point_at_or_after(since, step), last_point_at_or_before(until, step), step)


def default_step(range_seconds: float) -> int:
    """The step used when the request says 0: about 60 points over the range, at least one second apart."""
    return max(1, math.ceil(range_seconds / POINTS_PER_RANGE_WHEN_STEP_IS_ZERO))


# ------------------------------------------------------------------------------------------- validation


def validate_get_version(request: resourcemetrics_pb2.VersionRequest) -> GetVersionRequest:
    """A GetVersion request as a query window; raises InvalidRequestError listing every problem."""
    problems = name_problems(request)
    since = parse_date("fromDate", request.fromDate, problems)
    until = parse_date("toDate", request.toDate, problems)
    check_order(since, until, problems)
    check_step(request.step, problems)
    if problems or since is None or until is None:
        raise InvalidRequestError(problems)
    step = request.step or default_step(until - since)
    window = grid_window(since, until, step)
    check_points(window, "from fromDate to toDate")
    return GetVersionRequest(SeriesKey(request.namespace, request.versionName, step), window)


def validate_watch_version(request: resourcemetrics_pb2.VersionRequest, now: float) -> WatchVersionRequest:
    """A WatchVersion request (toDate optional: the Admin API leaves it empty); `now` bounds the first window."""
    problems = name_problems(request)
    since = parse_date("fromDate", request.fromDate, problems)
    until = parse_date("toDate", request.toDate, problems) if request.toDate else None
    check_order(since, until, problems)
    check_step(request.step, problems)
    if problems or since is None:
        raise InvalidRequestError(problems)
    backfill_until = now if until is None else min(now, until)
    step = request.step or default_step(backfill_until - since)
    check_points(
        grid_window(since, backfill_until, step),
        "from fromDate to now" if backfill_until == now else "from fromDate to toDate",
    )
    return WatchVersionRequest(SeriesKey(request.namespace, request.versionName, step), since, until)


def name_problems(request: resourcemetrics_pb2.VersionRequest) -> list[FieldProblem]:
    return [*label_problems("versionName", request.versionName), *label_problems("namespace", request.namespace)]


def label_problems(field_name: str, value: str) -> list[FieldProblem]:
    """A DNS-1123 label, as Kubernetes names namespaces and the version's pods' `version-name` label values."""
    if not value:
        return [FieldProblem(field_name, "is required")]
    if len(value) > DNS1123_LABEL_MAX_LENGTH:
        return [FieldProblem(field_name, f"must be no more than {DNS1123_LABEL_MAX_LENGTH} characters")]
    if not DNS1123_LABEL.fullmatch(value):
        return [FieldProblem(field_name, f"{quoted(value)} is invalid: {DNS1123_LABEL_RULE}")]
    return []


def parse_date(field_name: str, text: str, problems: list[FieldProblem]) -> float | None:
    """An RFC 3339 date-time as seconds since the epoch; None (and a problem added) if it is not one."""
    if not text:
        problems.append(FieldProblem(field_name, f"is required: an RFC 3339 date-time such as {RFC3339_EXAMPLE}"))
        return None
    parsed = RFC3339.fullmatch(text)
    shown = quoted(text) if len(text) <= MAX_QUOTED_LENGTH else f"{quoted(text[:MAX_QUOTED_LENGTH])}…"
    if parsed is None:
        problems.append(FieldProblem(field_name, f"{shown} is not an RFC 3339 date-time such as {RFC3339_EXAMPLE}"))
        return None
    # Python keeps microseconds: a longer fraction is truncated (Prometheus itself works in milliseconds).
    fraction = (parsed["fraction"] or "")[:6].ljust(6, "0")
    offset = "+00:00" if parsed["offset"] in ("Z", "z") else parsed["offset"]
    try:
        moment = datetime.datetime.fromisoformat(f"{parsed['date']}T{parsed['time']}.{fraction}{offset}")
        return moment.timestamp()
    except (ValueError, OverflowError) as error:
        problems.append(FieldProblem(field_name, f"{shown} is not a valid date-time: {error}"))
        return None


def check_order(since: float | None, until: float | None, problems: list[FieldProblem]) -> None:
    if since is not None and until is not None and since >= until:
        problems.append(FieldProblem("toDate", "must be after fromDate"))


def check_step(step: int, problems: list[FieldProblem]) -> None:
    """The step is in seconds; 0 asks for the server's default (see default_step)."""
    if step < 0:
        problems.append(
            FieldProblem("step", f"must be a positive number of seconds, or 0 to let the server choose (got {step})")
        )


def check_points(window: Window, span: str) -> None:
    if window.points > MAX_POINTS:
        raise InvalidRequestError(
            [
                FieldProblem(
                    "step",
                    f"{window.step} s {span} makes {window.points:,} points; Prometheus allows at most "
                    f"{MAX_POINTS:,} per series: use a larger step or a shorter range",
                )
            ]
        )
