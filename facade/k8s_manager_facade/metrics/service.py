"""`resourcemetrics.ResourceMetricsService`: GetVersion and WatchVersion, thin over validation, PromQL and the hub.

GetVersion is one range query. WatchVersion sends its back-fill window (fromDate to now) at once, then one message
per refresh interval with the points that are new since the last message, from the poller its series shares
with every other stream of the same (namespace, version, step). It ends on client cancel (the subscription is
released, and the poller with the last one), with OK after toDate's points when a toDate is given, and otherwise
with a status: UNAVAILABLE when Prometheus fails or the facade shuts down, RESOURCE_EXHAUSTED when the client
does not read its messages.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, NoReturn, Protocol

import grpc

from ..generated import resourcemetrics_pb2, resourcemetrics_pb2_grpc
from ..log_fields import rpc_fields
from ..runtime_requests import InvalidRequestError
from .prometheus import PrometheusError, QueryRejectedError
from .promql import version_usage_query
from .usage import RangeSeries, UsagePoint, join_usage, rfc3339
from .validation import (
    SeriesKey,
    Window,
    grid_window,
    last_point_at_or_before,
    validate_get_version,
    validate_watch_version,
)
from .watch import Clock, HubStoppedError, MetricsHub, PollFailedError, SubscriberTooSlowError

log = logging.getLogger(__name__)


class RangeQueries(Protocol):
    async def query_range(self, query: str, window: Window) -> list[RangeSeries]: ...


async def fetch_usage(prometheus: RangeQueries, key: SeriesKey, window: Window) -> list[UsagePoint]:
    """The version's points in the window (no query for an empty window)."""
    if window.points == 0:
        return []
    return join_usage(await prometheus.query_range(version_usage_query(key.namespace, key.version_name), window))


def metrics_hub(prometheus: RangeQueries, refresh_interval: float, clock: Clock = time.time) -> MetricsHub:
    return MetricsHub(functools.partial(fetch_usage, prometheus), refresh_interval, clock)


def response(points: Iterable[UsagePoint]) -> resourcemetrics_pb2.Response:
    message = resourcemetrics_pb2.Response()
    add = message.versionResourceMetrics.add
    for point in points:
        add(date=rfc3339(point.timestamp), cpu=point.cpu, mem=point.mem)
    return message


def prometheus_status(error: PrometheusError) -> grpc.StatusCode:
    return grpc.StatusCode.INVALID_ARGUMENT if isinstance(error, QueryRejectedError) else grpc.StatusCode.UNAVAILABLE


def describe(key: SeriesKey) -> str:
    return f"version {key.version_name!r} in namespace {key.namespace!r}"


class ResourceMetricsServicer(resourcemetrics_pb2_grpc.ResourceMetricsServiceServicer):
    def __init__(self, prometheus: RangeQueries, hub: MetricsHub, clock: Clock = time.time) -> None:
        self._prometheus = prometheus
        self._hub = hub
        self._clock = clock

    async def GetVersion(  # noqa: N802
        self, request: resourcemetrics_pb2.VersionRequest, context: Any
    ) -> resourcemetrics_pb2.Response:
        try:
            valid = validate_get_version(request)
        except InvalidRequestError as error:
            await abort(context, "GetVersion", grpc.StatusCode.INVALID_ARGUMENT, str(error), request)
        try:
            points = await fetch_usage(self._prometheus, valid.key, valid.window)
        except PrometheusError as error:
            message = f"metrics of {describe(valid.key)}: {error}"
            await abort(context, "GetVersion", prometheus_status(error), message, request)
        return response(points)

    async def WatchVersion(  # noqa: N802
        self, request: resourcemetrics_pb2.VersionRequest, context: Any
    ) -> AsyncIterator[resourcemetrics_pb2.Response]:
        try:
            valid = validate_watch_version(request, self._clock())
        except InvalidRequestError as error:
            await abort(context, "WatchVersion", grpc.StatusCode.INVALID_ARGUMENT, str(error), request)
        key, since, until = valid.key, valid.since, valid.until
        last_point = None if until is None else last_point_at_or_before(until, key.step)

        def wanted(point: UsagePoint, sent_until: float) -> bool:
            return (
                sent_until < point.timestamp
                and since <= point.timestamp
                and (until is None or point.timestamp <= until)
            )

        failure: tuple[grpc.StatusCode, str] | None = None
        try:
            async with self._hub.subscribe(key) as subscription:
                # Subscribed first, back-filled second: the poller's batches start where this window ends, or before.
                now = self._clock()
                window = grid_window(since, now if until is None else min(now, until), key.step)
                yield response(await fetch_usage(self._prometheus, key, window))
                sent_until = window.end
                while last_point is None or sent_until < last_point:
                    batch = await subscription.next()
                    new_points = [point for point in batch.points if wanted(point, sent_until)]
                    sent_until = max(sent_until, batch.covered_until)
                    yield response(new_points)
        except PrometheusError as error:
            failure = prometheus_status(error), f"metrics of {describe(key)}: {error}"
        except PollFailedError as poll:
            shared_error = poll.error
            code = prometheus_status(shared_error) if isinstance(shared_error, PrometheusError) else None
            failure = code or grpc.StatusCode.UNAVAILABLE, f"metrics of {describe(key)}: {shared_error}"
        except HubStoppedError:
            failure = grpc.StatusCode.UNAVAILABLE, f"metrics of {describe(key)}: the facade is shutting down"
        except SubscriberTooSlowError as error:
            failure = (
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"metrics of {describe(key)}: the client reads too slowly ({error})",
            )
        if failure is not None:
            await abort(context, "WatchVersion", *failure, request)


async def abort(
    context: Any, method: str, code: grpc.StatusCode, message: str, request: resourcemetrics_pb2.VersionRequest
) -> NoReturn:
    """Log the failure (one line, naming the runtime and version asked for) and end the call with it."""
    fields = rpc_fields(method, code, runtime=request.namespace, version=request.versionName)
    log.info("%s failed: %s %s", method, code.name, message, extra=fields)
    await context.abort(code, message)
    raise AssertionError("context.abort returned")  # it raises; this keeps the type checker honest
