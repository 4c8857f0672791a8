"""A version's usage points from Prometheus' range-query result, pure: joined by timestamp, dated in RFC 3339 UTC.

The one query returns up to two series, labelled metric="cpu" and metric="mem", each with its own timestamps: a
series has no point where it has no value (CPU needs two samples in its rate window, so a pod's first scrape
shows memory and no CPU). Points are therefore joined by timestamp, never by position, and a timestamp present
in one series only still gives a point: the other value is 0. 0 rather than NaN because the Admin API hands the
values on as GraphQL `Float!`, which cannot carry NaN, and because "no sample" sums to nothing. Values that are
not finite are treated as missing for the same reason.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .promql import CPU, MEM, METRIC_LABEL

MISSING_VALUE = 0.0


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query's matrix: its labels and its (timestamp in seconds, value as text) samples."""

    labels: Mapping[str, str]
    samples: Sequence[tuple[float, str]]


@dataclass(frozen=True)
class UsagePoint:
    timestamp: float  # seconds since the epoch
    cpu: float  # cores
    mem: float  # bytes


def join_usage(matrix: Iterable[RangeSeries]) -> list[UsagePoint]:
    """One point per timestamp of either series, in time order; several series of one metric are added up."""
    cpu: dict[float, float] = {}
    mem: dict[float, float] = {}
    for series in matrix:
        target = {CPU: cpu, MEM: mem}.get(series.labels.get(METRIC_LABEL, ""))
        if target is None:
            continue  # not one of the query's two series
        for timestamp, text in series.samples:
            value = parse_value(text)
            target[timestamp] = target.get(timestamp, 0.0) + value
    return [
        UsagePoint(timestamp, cpu.get(timestamp, MISSING_VALUE), mem.get(timestamp, MISSING_VALUE))
        for timestamp in sorted(cpu.keys() | mem.keys())
    ]


def parse_value(text: str) -> float:
    """A sample value as Prometheus writes it ("0.25", "NaN", "+Inf"); not finite counts as missing."""
    try:
        value = float(text)
    except ValueError:
        return MISSING_VALUE
    return value if math.isfinite(value) else MISSING_VALUE


def rfc3339(timestamp: float) -> str:
    """`2024-05-01T12:00:00Z`; with milliseconds (`…T12:00:00.250Z`) only when the instant has them."""
    seconds, milliseconds = divmod(round(timestamp * 1000), 1000)
    # time.strftime over gmtime: a fourth of datetime's cost, which shows on thousands of points.
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{milliseconds:03d}Z" if milliseconds else f"{text}Z"


def parse_matrix(result: Any) -> list[RangeSeries]:
    """The `data.result` of a query_range answer (resultType matrix); raises ValueError if it is not one."""
    if not isinstance(result, list):
        raise ValueError("data.result is not a list")
    matrix = []
    for item in result:
        if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
            raise ValueError("a series has no labels")
        values = item.get("values")
        if not isinstance(values, list):
            raise ValueError("a series has no values")
        samples = []
        for sample in values:
            if not (isinstance(sample, list) and len(sample) == 2 and isinstance(sample[0], int | float)):
                raise ValueError(f"a sample is not [timestamp, value]: {str(sample)[:80]}")
            samples.append((float(sample[0]), str(sample[1])))
        matrix.append(RangeSeries({str(k): str(v) for k, v in item["metric"].items()}, samples))
    return matrix
