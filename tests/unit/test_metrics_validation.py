"""ResourceMetricsService request validation: every bad input is refused naming its field, the step grid, step 0."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from k8s_manager_facade.generated import resourcemetrics_pb2
from k8s_manager_facade.metrics.validation import (
    MAX_POINTS,
    SeriesKey,
    Window,
    default_step,
    grid_window,
    validate_get_version,
    validate_watch_version,
)
from k8s_manager_facade.runtime_requests import InvalidRequestError

FROM = "2024-05-01T12:00:00Z"
TO = "2024-05-01T13:00:00Z"
FROM_SECONDS = datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC).timestamp()
NOW = FROM_SECONDS + 3600


def request(**fields: Any) -> resourcemetrics_pb2.VersionRequest:
    """What the Admin API sends for the last hour: step = ⌊3600 / 60⌋."""
    defaults: dict[str, Any] = {
        "versionName": "greeter-v1",
        "namespace": "kre-demo",
        "fromDate": FROM,
        "toDate": TO,
        "step": 60,
    }
    return resourcemetrics_pb2.VersionRequest(**{**defaults, **fields})


def refused(fields: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as refusal:
        validate_get_version(request(**fields))
    return refusal.value


# ---------------------------------------------------------------------------------------------- accepted


def test_an_admin_api_request_becomes_a_window_on_the_step_grid():
    valid = validate_get_version(request())

    assert valid.key == SeriesKey("kre-demo", "greeter-v1", 60)
    assert valid.window == Window(int(FROM_SECONDS), int(FROM_SECONDS) + 3600, 60)
    assert valid.window.points == 61


def test_offsets_and_fractions_are_understood_and_the_window_is_aligned_inwards():
    # 14:00:30.5+02:00 is 12:00:30.5Z: the first grid point at or after it is 12:01; 13:00:59Z's last is 13:00.
    valid = validate_get_version(request(fromDate="2024-05-01T14:00:30.5+02:00", toDate="2024-05-01t13:00:59z"))

    assert valid.window == Window(int(FROM_SECONDS) + 60, int(FROM_SECONDS) + 3600, 60)


def test_a_fraction_longer_than_microseconds_is_accepted():
    valid = validate_get_version(request(fromDate="2024-05-01T12:00:00.123456789Z"))

    assert valid.window.start == int(FROM_SECONDS) + 60


@pytest.mark.parametrize(
    ("range_seconds", "step"),
    [(1, 1), (59, 1), (60, 1), (61, 2), (3600, 60), (86_400, 1440)],
)
def test_step_zero_picks_about_sixty_points_over_the_range(range_seconds, step):
    to_date = datetime.datetime.fromtimestamp(FROM_SECONDS + range_seconds, datetime.UTC).isoformat()

    valid = validate_get_version(request(toDate=to_date, step=0))

    assert default_step(range_seconds) == step
    assert valid.key.step == step


def test_the_admin_api_step_zero_for_a_range_under_a_minute_gives_one_second():
    valid = validate_get_version(request(toDate="2024-05-01T12:00:45Z", step=0))

    assert valid.key.step == 1
    assert valid.window.points == 46


def test_a_window_with_no_grid_point_is_valid_and_empty():
    valid = validate_get_version(request(fromDate="2024-05-01T12:00:10Z", toDate="2024-05-01T12:00:50Z", step=60))

    assert valid.window.points == 0


def test_exactly_the_point_limit_is_accepted():
    to_date = datetime.datetime.fromtimestamp(FROM_SECONDS + (MAX_POINTS - 1), datetime.UTC).isoformat()

    assert validate_get_version(request(toDate=to_date, step=1)).window.points == MAX_POINTS


def test_watch_needs_no_to_date_and_bounds_its_first_window_by_now():
    valid = validate_watch_version(request(toDate="", step=0), now=NOW)

    assert valid.key == SeriesKey("kre-demo", "greeter-v1", 60)
    assert (valid.since, valid.until) == (FROM_SECONDS, None)


def test_watch_keeps_a_given_to_date():
    valid = validate_watch_version(request(toDate="2024-05-01T12:30:00Z"), now=NOW)

    assert valid.until == FROM_SECONDS + 1800


def test_watch_counts_its_back_fill_against_the_point_limit():
    with pytest.raises(InvalidRequestError) as refusal:
        validate_watch_version(request(toDate="", step=1), now=FROM_SECONDS + MAX_POINTS + 5)

    assert refusal.value.fields == ("step",)
    assert "from fromDate to now" in str(refusal.value)


def test_grid_window_is_inclusive_at_both_ends_on_the_grid():
    assert grid_window(120, 300, 60) == Window(120, 300, 60)
    assert grid_window(121, 299, 60) == Window(180, 240, 60)
    assert Window(180, 120, 60).points == 0


# ---------------------------------------------------------------------------------------------- refused


BAD_REQUESTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("no version", {"versionName": ""}, "versionName", "is required"),
    ("no namespace", {"namespace": ""}, "namespace", "is required"),
    ("upper case version", {"versionName": "Greeter-V1"}, "versionName", "RFC 1123 label"),
    ("version ending with a dash", {"versionName": "greeter-"}, "versionName", "RFC 1123 label"),
    ("version with a dot", {"versionName": "greeter.v1"}, "versionName", "RFC 1123 label"),
    ("namespace of 64 characters", {"namespace": "a" * 64}, "namespace", "no more than 63 characters"),
    ("namespace with a Unicode hyphen", {"namespace": "kre\u2010demo"}, "namespace", "RFC 1123 label"),
    # PromQL injection attempts: each would change the query if it were pasted into a string literal unescaped.
    ("version closing the literal", {"versionName": 'v1"} or vector(1) or {"'}, "versionName", "RFC 1123 label"),
    ("version as a regex", {"versionName": ".*"}, "versionName", "RFC 1123 label"),
    ("version with a newline", {"versionName": "v1\n"}, "versionName", "RFC 1123 label"),
    ("version closing a single quote", {"versionName": "v1') or sum(up"}, "versionName", "RFC 1123 label"),
    ("namespace widening the match", {"namespace": 'kre-demo",namespace=~".+'}, "namespace", "RFC 1123 label"),
    ("namespace with a backslash", {"namespace": "kre-demo\\"}, "namespace", "RFC 1123 label"),
    ("namespace with a comment", {"namespace": "kre-demo # x"}, "namespace", "RFC 1123 label"),
    ("no fromDate", {"fromDate": ""}, "fromDate", "is required"),
    ("no toDate for GetVersion", {"toDate": ""}, "toDate", "is required"),
    ("fromDate without offset", {"fromDate": "2024-05-01T12:00:00"}, "fromDate", "not an RFC 3339 date-time"),
    ("fromDate date only", {"fromDate": "2024-05-01"}, "fromDate", "not an RFC 3339 date-time"),
    ("fromDate with a space", {"fromDate": "2024-05-01 12:00:00Z"}, "fromDate", "not an RFC 3339 date-time"),
    ("fromDate in Unix seconds", {"fromDate": "1714564800"}, "fromDate", "not an RFC 3339 date-time"),
    ("fromDate as Go prints it", {"fromDate": "2024-05-01 12:00:00 +0000 UTC"}, "fromDate", "RFC 3339"),
    ("fromDate in full-width digits", {"fromDate": "\uff12\uff10\uff12\uff14-05-01T12:00:00Z"}, "fromDate", "RFC 3339"),
    ("toDate with month 13", {"toDate": "2024-13-01T00:00:00Z"}, "toDate", "not a valid date-time"),
    ("toDate with offset 24:00", {"toDate": "2024-05-01T13:00:00+24:00"}, "toDate", "not a valid date-time"),
    ("toDate before fromDate", {"toDate": "2024-05-01T11:00:00Z"}, "toDate", "must be after fromDate"),
    ("toDate equal to fromDate", {"toDate": FROM}, "toDate", "must be after fromDate"),
    ("negative step", {"step": -60}, "step", "must be a positive number of seconds"),
    ("too many points", {"toDate": "2024-05-02T12:00:00Z", "step": 7}, "step", "at most 11,000"),
]


@pytest.mark.parametrize(
    ("fields", "field_name", "problem"),
    [pytest.param(fields, field_name, problem, id=case) for case, fields, field_name, problem in BAD_REQUESTS],
)
def test_a_bad_request_is_refused_naming_the_field(fields, field_name, problem):
    error = refused(fields)

    assert error.fields == (field_name,)
    assert str(error).startswith(f"{field_name}: ")
    assert problem in str(error)


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        pytest.param(fields, field_name, id=case)
        for case, fields, field_name, _ in BAD_REQUESTS
        # toDate is optional for WatchVersion, and its back-fill ends at "now" (see the test of its own limit)
        if field_name != "toDate" and case != "too many points"
    ],
)
def test_watch_refuses_the_same_bad_input(fields, field_name):
    with pytest.raises(InvalidRequestError) as refusal:
        validate_watch_version(request(**fields), now=NOW)

    assert refusal.value.fields == (field_name,)


def test_every_problem_of_a_request_is_reported_at_once():
    error = refused({"versionName": "V1", "namespace": "", "fromDate": "yesterday", "step": -1})

    assert error.fields == ("versionName", "namespace", "fromDate", "step")


def test_a_long_bad_date_is_not_repeated_in_full():
    error = refused({"fromDate": "x" * 10_000})

    assert len(str(error)) < 300
