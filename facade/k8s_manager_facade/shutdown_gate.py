"""The server's own refusal of new calls while it shuts down, before grpc stops receiving them.

grpc's `server.stop()` cancels every call that reaches the server after it began: the client sees CANCELLED (with
the details "CANCELLED"), not UNAVAILABLE, for a call it sent a moment before the shutdown, because the call
was still on its way. So the facade first closes this gate and keeps receiving for a short drain period: a call
that arrives meanwhile reaches the server, and the gate answers it UNAVAILABLE (`the facade is shutting down; it
takes no new calls`). Only then does grpc stop receiving calls.

Waiting calls (`self_ending` methods: RuntimeStatus, the VersionService calls, WatchVersion) go through to their
handlers, which end them with UNAVAILABLE themselves, naming what they waited for, since their hubs have stopped.

The gate decides when a call starts, not when grpc looks its handler up (the metrics interceptor keeps the
handlers it wraps), and sits inside the metrics interceptor: a refused call counts as UNAVAILABLE.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc

from .log_fields import rpc_fields
from .observability import HANDLER_KINDS, split_method

log = logging.getLogger(__name__)

REFUSAL = "the facade is shutting down; it takes no new calls"


class ShutdownGate(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    def __init__(self, self_ending: frozenset[str], logged_services: frozenset[str]) -> None:
        """`self_ending`: full method names (`/runtime.RuntimeService/RuntimeStatus`) passed on once closed;
        `logged_services`: the services whose refused calls are logged (one line each, as their failed calls)."""
        self._self_ending = self_ending
        self._logged_services = logged_services
        self.closed = False

    def close(self) -> None:
        self.closed = True

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], handler_call_details: Any) -> Any:
        handler = await continuation(handler_call_details)
        full_method: str = handler_call_details.method
        if handler is None or full_method in self._self_ending:
            return handler
        for attribute, _, make_handler in HANDLER_KINDS:
            behaviour = getattr(handler, attribute)
            if behaviour is None:
                continue
            guarded = self._guard(behaviour, full_method)
            if guarded is None:
                return handler
            return make_handler(
                guarded,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _guard(self, behaviour: Callable[..., Any], full_method: str) -> Callable[..., Any] | None:
        """The behaviour, refused once the gate is closed; None for a synchronous one (this server has none)."""
        if inspect.isasyncgenfunction(behaviour):

            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                if self.closed:
                    await self._refuse(context, full_method)
                async with contextlib.aclosing(behaviour(request, context)) as messages:
                    async for message in messages:
                        yield message

            return stream
        if inspect.iscoroutinefunction(behaviour):

            async def call(request: Any, context: Any) -> Any:
                if self.closed:
                    await self._refuse(context, full_method)
                return await behaviour(request, context)

            return call
        return None

    async def _refuse(self, context: Any, full_method: str) -> NoReturn:
        service, method = split_method(full_method)
        if service in self._logged_services:
            fields = rpc_fields(method, grpc.StatusCode.UNAVAILABLE)
            log.info("%s refused: UNAVAILABLE %s", method, REFUSAL, extra=fields)
        await context.abort(grpc.StatusCode.UNAVAILABLE, REFUSAL)
        raise AssertionError("context.abort returned")  # it raises; this keeps the type checker honest
