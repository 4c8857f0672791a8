"""The facade under test for the metrics tests: a real FacadeServer (grpc.aio) and the generated stub, plus stand-ins
for a Prometheus that misbehaves (canned HTTP answers, a socket that never answers, a port nobody listens on)."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from k8s_manager_facade.config import FacadeConfig
from k8s_manager_facade.generated import resourcemetrics_pb2, resourcemetrics_pb2_grpc
from k8s_manager_facade.server import FacadeServer

ResourceMetricsStub: Any = resourcemetrics_pb2_grpc.ResourceMetricsServiceStub


@dataclass
class Facade:
    server: FacadeServer
    channel: grpc.aio.Channel
    stub: Any

    @property
    def hub(self) -> Any:
        assert self.server.metrics_hub is not None
        return self.server.metrics_hub


@contextlib.asynccontextmanager
async def running_facade(kubeconfig: Path, prometheus_url: str, **settings: Any) -> AsyncIterator[Facade]:
    """A facade on a free loopback port asking `prometheus_url`; the cluster (the emulator) plays no part here."""
    defaults: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "shutdown_grace_period": 0.5}
    config = FacadeConfig(kubeconfig=str(kubeconfig), prometheus_url=prometheus_url, **{**defaults, **settings})
    server = FacadeServer(config)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield Facade(server, channel, ResourceMetricsStub(channel))
    finally:
        await server.stop()


def version_request(**fields: Any) -> resourcemetrics_pb2.VersionRequest:
    return resourcemetrics_pb2.VersionRequest(**fields)


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the call succeeded")


async def stream_error(call: Any) -> grpc.aio.AioRpcError:
    """Read the stream (with read(): a call read with read() cannot be iterated) until it fails."""
    try:
        while await call.read() is not grpc.aio.EOF:
            pass
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError("the stream ended with OK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def canned_http_server(status: int, body: str) -> Iterator[str]:
    """An HTTP server answering every request with `status` and `body`; yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="canned-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A port that accepts connections (the kernel does, from the backlog) and never answers; yields its URL."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


async def eventually(check: Any, within: float = 5.0) -> None:
    """Wait until `check()` is true (polled every 20 ms); fail after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"still not true after {within} s")
        await asyncio.sleep(0.02)
