"""The facade's gRPC server (grpc.aio).

It serves `grpc.health.v1` and server reflection; the k8s-manager services are registered here as they
are built. SIGTERM or SIGINT starts a graceful shutdown: health turns NOT_SERVING, new calls are refused
and in-flight calls get the configured grace period before they are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .config import FacadeConfig

log = logging.getLogger(__name__)

HEALTH_SERVICE_NAME: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
# grpc enables SO_REUSEPORT by default, which would let a second server share a busy port silently.
SERVER_OPTIONS: tuple[tuple[str, Any], ...] = (("grpc.so_reuseport", 0),)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StartupError(RuntimeError):
    """The server could not start (for example, its port is taken)."""


class FacadeServer:
    def __init__(self, config: FacadeConfig) -> None:
        self.config = config
        self.health = health.aio.HealthServicer()
        self.service_names: tuple[str, ...] = (HEALTH_SERVICE_NAME, reflection.SERVICE_NAME)
        self.port: int | None = None
        self._server: Any = None

    async def start(self) -> int:
        """Bind, start serving and mark every service SERVING; returns the bound port."""
        server = grpc.aio.server(options=SERVER_OPTIONS)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(self.service_names, server)
        try:
            port = int(server.add_insecure_port(self.config.address))
        except RuntimeError as error:
            raise StartupError(f"cannot listen on {self.config.address}: {error}") from None
        if port == 0:  # older grpcio reports a failed bind this way instead of raising
            raise StartupError(f"cannot listen on {self.config.address}")
        await server.start()
        self._server, self.port = server, port
        for name in self.service_names:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("gRPC facade listening on %s:%d", self.config.host, port)
        return port

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        grace = self.config.shutdown_grace_period
        log.info("gRPC facade shutting down (grace period %gs)", grace)
        await self.health.enter_graceful_shutdown()
        await server.stop(grace)
        log.info("gRPC facade stopped")


async def serve(config: FacadeConfig, stop: asyncio.Event | None = None) -> None:
    """Run the facade until `stop` is set or the process gets SIGTERM/SIGINT."""
    stop = stop or asyncio.Event()
    server = FacadeServer(config)
    with _stop_on_signals(stop):
        await server.start()
        try:
            await stop.wait()
        finally:
            await server.stop()


def run(config: FacadeConfig) -> int:
    """Entry point of `k8s-manager facade`; returns the process exit code."""
    try:
        asyncio.run(serve(config))
    except StartupError as error:
        log.error("%s", error)
        return 1
    return 0


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, _request_stop, stop, signum)
    try:
        yield
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def _request_stop(stop: asyncio.Event, signum: signal.Signals) -> None:
    log.info("received %s", signum.name)
    stop.set()
