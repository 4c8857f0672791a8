"""The server's own Prometheus metrics: an interceptor counting and timing every RPC, and the /metrics endpoint.

Per registered method (`service`, `method`, `type` = unary, server_stream, client_stream or bidi_stream):

- `k8s_manager_facade_rpcs_started_total`, `k8s_manager_facade_rpcs_handled_total{code}` (the status code's
  name, OK included; a stream counts when it ends),
- `k8s_manager_facade_rpc_duration_seconds` (for a stream, its lifetime),
- `k8s_manager_facade_stream_messages_sent_total` and `k8s_manager_facade_streams_open` (server streams).

A call the client cancels counts as CANCELLED, one whose deadline passed as DEADLINE_EXCEEDED; so do calls still
running when the shutdown's grace period ends (their clients see UNAVAILABLE). A call the shutdown gate refuses
(shutdown_gate.py) counts as UNAVAILABLE. Calls to methods the server does not have are not counted: their names
are the client's choice. Labels never carry request contents.

The metrics live in a registry of the server's own, served by `MetricsEndpoint` (aiohttp, on the server's loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder

PREFIX = "k8s_manager_facade"
# RuntimeStatus and VersionService calls wait up to 10 minutes, WatchVersion streams for hours.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400)
# RpcMethodHandler behaviour attribute → (the `type` label, grpc's constructor of such a handler).
HANDLER_KINDS: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    ("unary_unary", "unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", "server_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", "client_stream", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", "bidi_stream", grpc.stream_stream_rpc_method_handler),
)


class RpcMetrics:
    """The RPC metrics, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("service", "method", "type")
        self.started = Counter(f"{PREFIX}_rpcs_started", "RPCs started on the server.", labels, registry=registry)
        self.handled = Counter(
            f"{PREFIX}_rpcs_handled",
            "RPCs completed on the server, by gRPC status code (streams when they end).",
            (*labels, "code"),
            registry=registry,
        )
        self.duration = Histogram(
            f"{PREFIX}_rpc_duration_seconds",
            "Time from the start of an RPC to its end (a stream's lifetime).",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.messages_sent = Counter(
            f"{PREFIX}_stream_messages_sent",
            "Messages sent on server streams.",
            ("service", "method"),
            registry=registry,
        )
        self.streams_open = Gauge(
            f"{PREFIX}_streams_open", "Server streams open now.", ("service", "method"), registry=registry
        )


def server_registry() -> CollectorRegistry:
    """A registry of one server's own (not the process-wide default), with the process and runtime collectors."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def split_method(full_method: str) -> tuple[str, str]:
    """`/runtime.RuntimeService/Create` → (`runtime.RuntimeService`, `Create`)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def ending_code(error: BaseException | None, context: Any) -> grpc.StatusCode:
    """The status a call ends with: from its handler's exception (None: it returned) and its context."""
    if error is None or isinstance(error, grpc.aio.AbortError):
        # context.code() is what abort() or set_code() gave; a handler that returned without one ended OK.
        code = context.code()
        if isinstance(code, grpc.StatusCode):
            return code
        return grpc.StatusCode.OK if error is None else grpc.StatusCode.UNKNOWN
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return cut_short_code(context)
    return grpc.StatusCode.UNKNOWN  # what grpc answers for an exception escaping a handler


def cut_short_code(context: Any) -> grpc.StatusCode:
    """The status of a call ended before its handler finished: its deadline passed, or it was cancelled."""
    remaining = context.time_remaining()
    expired = remaining is not None and remaining <= 0
    return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED


@dataclass(frozen=True)
class Rpc:
    service: str
    method: str
    type: str

    @property
    def streaming_response(self) -> bool:
        return self.type in ("server_stream", "bidi_stream")


class CallRecord:
    """One call's metrics: started when made, ended exactly once."""

    def __init__(self, metrics: RpcMetrics, rpc: Rpc) -> None:
        self._metrics = metrics
        self._rpc = rpc
        self._started = time.monotonic()
        self._ended = False
        metrics.started.labels(rpc.service, rpc.method, rpc.type).inc()
        if rpc.streaming_response:
            metrics.streams_open.labels(rpc.service, rpc.method).inc()

    def message_sent(self) -> None:
        self._metrics.messages_sent.labels(self._rpc.service, self._rpc.method).inc()

    def end(self, code: grpc.StatusCode) -> None:
        if self._ended:
            return
        self._ended = True
        rpc, metrics = self._rpc, self._metrics
        metrics.handled.labels(rpc.service, rpc.method, rpc.type, code.name).inc()
        metrics.duration.labels(rpc.service, rpc.method, rpc.type).observe(time.monotonic() - self._started)
        if rpc.streaming_response:
            metrics.streams_open.labels(rpc.service, rpc.method).dec()


class CountingContext:
    """The servicer context of a stream handler that writes with context.write(): counts what it sends."""

    def __init__(self, context: Any, record: CallRecord) -> None:
        self._context = context
        self._record = record

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        self._record.message_sent()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    def __init__(self, metrics: RpcMetrics) -> None:
        self._metrics = metrics
        # Wrapped handlers by full method name: one per registered method, made on its first call.
        self._handlers: dict[str, Any] = {}

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], handler_call_details: Any) -> Any:
        full_method: str = handler_call_details.method
        known = self._handlers.get(full_method)
        if known is not None:
            return known
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # grpc answers UNIMPLEMENTED; not counted (see the module's docstring)
        wrapped = self._handlers[full_method] = self._wrap_handler(handler, *split_method(full_method))
        return wrapped

    def _wrap_handler(self, handler: Any, service: str, method: str) -> Any:
        for attribute, rpc_type, make_handler in HANDLER_KINDS:
            behaviour = getattr(handler, attribute)
            if behaviour is None:
                continue
            wrapped = self._wrap(behaviour, Rpc(service, method, rpc_type))
            if wrapped is None:
                return handler
            return make_handler(
                wrapped,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _wrap(self, behaviour: Callable[..., Any], rpc: Rpc) -> Callable[..., Any] | None:
        """The behaviour, recording its call; None for a synchronous one (this server has none)."""
        metrics = self._metrics
        if inspect.isasyncgenfunction(behaviour):

            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                record = CallRecord(metrics, rpc)
                # A stream cancelled while grpc sends a message is never resumed: its end is this callback.
                context.add_done_callback(lambda done: record.end(cut_short_code(done)))
                try:
                    async with contextlib.aclosing(behaviour(request, context)) as messages:
                        async for message in messages:
                            yield message
                            record.message_sent()  # grpc asks for the next message once this one is sent
                except BaseException as error:
                    record.end(ending_code(error, context))
                    raise
                record.end(ending_code(None, context))

            return stream
        if inspect.iscoroutinefunction(behaviour):

            async def call(request: Any, context: Any) -> Any:
                record = CallRecord(metrics, rpc)
                try:
                    # Stream handlers of this shape (grpc's Health.Watch) send with context.write().
                    handler_context = CountingContext(context, record) if rpc.streaming_response else context
                    result = await behaviour(request, handler_context)
                except BaseException as error:
                    record.end(ending_code(error, context))
                    raise
                record.end(ending_code(None, context))
                return result

            return call
        return None


class MetricsEndpoint:
    """`GET /metrics` in Prometheus' text format (or OpenMetrics, when asked for), on the running loop."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port; returns the bound port. OSError when it cannot bind."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound: int = runner.addresses[0][1]
        return bound

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(self._registry), headers={"Content-Type": content_type})
