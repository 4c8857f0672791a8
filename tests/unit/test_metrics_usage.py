"""Usage points from a range-query matrix: joined by timestamp, a missing metric is 0, dates in RFC 3339 UTC."""

from __future__ import annotations

import math

import pytest
from k8s_manager_facade.metrics.usage import RangeSeries, UsagePoint, join_usage, parse_matrix, parse_value, rfc3339


def cpu(*samples: tuple[float, str]) -> RangeSeries:
    return RangeSeries({"label_version_name": "v1", "metric": "cpu"}, list(samples))


def mem(*samples: tuple[float, str]) -> RangeSeries:
    return RangeSeries({"label_version_name": "v1", "metric": "mem"}, list(samples))


def test_points_are_joined_by_timestamp_not_by_position():
    # The memory series starts one step earlier: pairing by index would shift every value.
    matrix = [cpu((120, "0.5"), (180, "0.75")), mem((60, "100"), (120, "200"), (180, "300"))]

    assert join_usage(matrix) == [
        UsagePoint(60, 0.0, 100.0),
        UsagePoint(120, 0.5, 200.0),
        UsagePoint(180, 0.75, 300.0),
    ]


def test_a_timestamp_of_one_metric_only_still_gives_a_point_with_zero_for_the_other():
    matrix = [mem((60, "100")), cpu((60, "0.5"), (120, "0.25"))]

    assert join_usage(matrix) == [UsagePoint(60, 0.5, 100.0), UsagePoint(120, 0.25, 0.0)]


def test_a_longer_memory_series_does_not_break_the_join():
    """The original paired by index and crashed when the series lengths differed."""
    matrix = [cpu((60, "1")), mem((60, "10"), (120, "20"), (180, "30"))]

    assert [point.timestamp for point in join_usage(matrix)] == [60, 120, 180]


def test_points_come_in_time_order_whatever_the_series_order():
    matrix = [mem((180, "3"), (60, "1")), cpu((120, "0.2"))]

    assert [point.timestamp for point in join_usage(matrix)] == [60, 120, 180]


def test_series_of_the_same_metric_add_up_and_other_series_are_ignored():
    other = RangeSeries({"metric": "disk"}, [(60, "999")])
    unlabelled = RangeSeries({}, [(60, "999")])
    matrix = [cpu((60, "0.25")), cpu((60, "0.5")), other, unlabelled, mem((60, "7"))]

    assert join_usage(matrix) == [UsagePoint(60, 0.75, 7.0)]


def test_no_series_gives_no_points():
    assert join_usage([]) == []


@pytest.mark.parametrize(("text", "value"), [("0.25", 0.25), ("1e3", 1000.0), ("NaN", 0.0), ("+Inf", 0.0), ("x", 0.0)])
def test_values_that_are_not_finite_numbers_count_as_missing(text, value):
    parsed = parse_value(text)

    assert parsed == value
    assert math.isfinite(parsed)


@pytest.mark.parametrize(
    ("timestamp", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1714564800, "2024-05-01T12:00:00Z"),
        (1714564800.25, "2024-05-01T12:00:00.250Z"),
        (1714564800.001, "2024-05-01T12:00:00.001Z"),
        (1714564799.9999, "2024-05-01T12:00:00Z"),
    ],
)
def test_dates_are_rfc3339_in_utc_with_milliseconds_only_when_present(timestamp, text):
    assert rfc3339(timestamp) == text


def test_a_matrix_result_is_parsed_into_series():
    result = [{"metric": {"metric": "cpu"}, "values": [[1714564800, "0.5"], [1714564860.5, "0.25"]]}]

    assert parse_matrix(result) == [RangeSeries({"metric": "cpu"}, [(1714564800.0, "0.5"), (1714564860.5, "0.25")])]


@pytest.mark.parametrize(
    "result",
    [
        {"metric": {}},
        [{"values": []}],
        [{"metric": {}, "values": "none"}],
        [{"metric": {}, "values": [[1714564800]]}],
        [{"metric": {}, "values": [["now", "1"]]}],
    ],
)
def test_a_result_that_is_not_a_matrix_is_refused(result):
    with pytest.raises(ValueError, match=r"data\.result|series|sample"):
        parse_matrix(result)
