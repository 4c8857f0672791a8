"""The facade's gRPC server (grpc.aio).

It serves the original's three services (`runtime.RuntimeService`, `version.VersionService`,
`resourcemetrics.ResourceMetricsService`), `grpc.health.v1` and server reflection (v1 and v1alpha, reflection.py).
Nothing is asked of Prometheus at start: while it is down, the metrics calls answer UNAVAILABLE.

Transport (transport.py): plaintext, or TLS from PEM files (KRE_TLS_CERT_FILE and KRE_TLS_KEY_FILE), with client
certificates required and verified when KRE_TLS_CLIENT_CA_FILE is set; keepalive and message size limits from
the configuration. A TLS file that cannot be read or used is a start-up error naming the file.

Observability (observability.py): an interceptor counts and times every RPC in a Prometheus registry of the
server's own, served on KRE_METRICS_PORT (`GET /metrics`) when that is set.

Health: the Health and reflection services are SERVING as soon as the port is bound. The start-up check lists
Runtimes, again and again (its failures logged) until it works. The server as a whole (service "") turns
SERVING once the Kubernetes API has answered it (reachable, credentials and RBAC accepted; "no such resource"
counts as an answer); the three k8s-manager services once the list has worked, i.e. the Runtime CRD is
installed too. A kubeconfig that cannot be loaded is a start-up error instead.

SIGTERM or SIGINT starts a graceful shutdown (`stop`): health turns NOT_SERVING, the
shutdown gate (shutdown_gate.py) answers new calls UNAVAILABLE, waiting RuntimeStatus and VersionService calls and
WatchVersion streams end with UNAVAILABLE ("the facade is shutting down"). The server keeps receiving calls for a
drain period (a tenth of the grace period, at most DRAIN_PERIOD), so that a call already on its way is answered
UNAVAILABLE by the server instead of being cut off with CANCELLED by grpc's own stop; then grpc stops receiving,
and the other calls in flight get the rest of the configured grace period before they are cancelled. The metrics
endpoint closes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from k8s_manager_api.errors import KubeError, NotFound
from k8s_manager_api.kube import KubeApi
from k8s_manager_api.names import RUNTIMES

from . import reflection
from .config import FacadeConfig
from .generated import (
    resourcemetrics_pb2,
    resourcemetrics_pb2_grpc,
    runtime_pb2,
    runtime_pb2_grpc,
    version_pb2,
    version_pb2_grpc,
)
from .metrics.prometheus import PrometheusClient
from .metrics.service import ResourceMetricsServicer, metrics_hub
from .metrics.watch import MetricsHub
from .observability import MetricsEndpoint, MetricsInterceptor, RpcMetrics, server_registry
from .runtime_service import RuntimeServicer
from .shutdown_gate import ShutdownGate
from .status_hub import RuntimeStatusHub, VersionStatusHub
from .transport import TlsFileError, read_tls_files, server_credentials, server_options
from .version_service import VersionServicer

log = logging.getLogger(__name__)

HEALTH_SERVICE_NAME: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
RUNTIME_SERVICE_NAME: str = runtime_pb2.DESCRIPTOR.services_by_name["RuntimeService"].full_name
VERSION_SERVICE_NAME: str = version_pb2.DESCRIPTOR.services_by_name["VersionService"].full_name
RESOURCE_METRICS_SERVICE_NAME: str = resourcemetrics_pb2.DESCRIPTOR.services_by_name["ResourceMetricsService"].full_name
# What needs the Runtime CRD, and so is SERVING only once Runtimes can be listed.
CRD_BOUND_SERVICES = (RUNTIME_SERVICE_NAME, VERSION_SERVICE_NAME, RESOURCE_METRICS_SERVICE_NAME)
OVERALL = ""  # the server as a whole: SERVING once the Kubernetes API answers
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The start-up check of the Kubernetes API is retried after 1, 2, 4, ... seconds, at most this long apart.
CLUSTER_CHECK_MAX_DELAY = 10.0
# Once the shutdown has begun, the server still receives calls (and refuses them) this long, and at most a tenth of
# the grace period: calls sent a moment before the signal reach it instead of being cancelled by grpc's stop.
DRAIN_PERIOD = 1.0
DRAIN_SHARE = 0.1
# Calls that end by themselves once the shutdown has begun (their hubs are stopped), naming what they waited for.
SELF_ENDING_METHODS = frozenset(
    {
        f"/{RUNTIME_SERVICE_NAME}/RuntimeStatus",
        *(
            f"/{VERSION_SERVICE_NAME}/{method.name}"
            for method in version_pb2.DESCRIPTOR.services_by_name["VersionService"].methods
        ),
        f"/{RESOURCE_METRICS_SERVICE_NAME}/WatchVersion",
    }
)


class StartupError(RuntimeError):
    """The server could not start (for example, its port is taken)."""


class FacadeServer:
    def __init__(self, config: FacadeConfig, kube: KubeApi | None = None) -> None:
        """Without `kube`, the server connects with `config.kubeconfig` at start and closes that connection."""
        self.config = config
        self.health = health.aio.HealthServicer()
        self.service_names: tuple[str, ...] = (
            RUNTIME_SERVICE_NAME,
            VERSION_SERVICE_NAME,
            RESOURCE_METRICS_SERVICE_NAME,
            HEALTH_SERVICE_NAME,
            *reflection.SERVICE_NAMES,
        )
        self.port: int | None = None
        self.metrics_port: int | None = None  # the bound port of the metrics endpoint, when there is one
        # The server's own metrics registry: several servers in one process (tests) never share counters.
        self.registry = server_registry()
        self.rpc_metrics = RpcMetrics(self.registry)
        self.kube = kube
        self.hub: RuntimeStatusHub | None = None
        self.version_hub: VersionStatusHub | None = None
        self.prometheus: PrometheusClient | None = None
        self.metrics_hub: MetricsHub | None = None
        self.cluster_reached = asyncio.Event()
        self._owns_kube = kube is None
        self._server: Any = None
        self._metrics_endpoint: MetricsEndpoint | None = None
        self._cluster_check: asyncio.Task[None] | None = None
        self.gate = ShutdownGate(SELF_ENDING_METHODS, frozenset(CRD_BOUND_SERVICES))
        self._shutdown_began: float | None = None  # the loop's time when begin_shutdown began

    async def start(self) -> int:
        """Connect, bind, start serving and check the cluster in the background; returns the bound port."""
        try:
            tls_files = read_tls_files(self.config)
        except TlsFileError as error:
            raise StartupError(f"cannot use TLS: {error}") from None
        kube = self.kube or await self._connect()
        self.kube, self.hub = kube, RuntimeStatusHub(kube)
        self.version_hub = VersionStatusHub(kube)
        prometheus = self.prometheus = PrometheusClient(self.config.prometheus_url, self.config.prometheus_timeout)
        self.metrics_hub = metrics_hub(prometheus, self.config.metrics_refresh_interval)
        if self.config.metrics_port is not None:
            await self._start_metrics_endpoint(self.config.metrics_port)
        server = grpc.aio.server(
            options=server_options(self.config), interceptors=[MetricsInterceptor(self.rpc_metrics), self.gate]
        )
        # The generated registration functions are untyped: named here with their signature.
        registrations: tuple[tuple[Callable[[Any, Any], None], Any], ...] = (
            (runtime_pb2_grpc.add_RuntimeServiceServicer_to_server, RuntimeServicer(kube, self.hub, self.config)),
            (version_pb2_grpc.add_VersionServiceServicer_to_server, VersionServicer(kube, self.version_hub)),
            (
                resourcemetrics_pb2_grpc.add_ResourceMetricsServiceServicer_to_server,
                ResourceMetricsServicer(prometheus, self.metrics_hub),
            ),
        )
        for register, servicer in registrations:
            register(servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(self.service_names, server)
        try:
            if tls_files is None:
                port = int(server.add_insecure_port(self.config.address))
            else:
                port = int(server.add_secure_port(self.config.address, server_credentials(tls_files)))
        except RuntimeError as error:
            await self._abandon_start()
            raise StartupError(f"cannot listen on {self.config.address}: {error}") from None
        if port == 0:  # older grpcio reports a failed bind this way instead of raising
            await self._abandon_start()
            raise StartupError(f"cannot listen on {self.config.address}")
        await server.start()
        self._server, self.port = server, port
        for name in (HEALTH_SERVICE_NAME, *reflection.SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        for name in (OVERALL, *CRD_BOUND_SERVICES):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self._cluster_check = asyncio.create_task(self._check_cluster(kube), name="cluster-check")
        security = "plaintext" if tls_files is None else "mTLS" if tls_files.client_ca else "TLS"
        log.info("gRPC facade listening on %s:%d (%s)", self.config.host, port, security)
        return port

    async def _start_metrics_endpoint(self, port: int) -> None:
        host = self.config.metrics_host or self.config.host
        endpoint = MetricsEndpoint(self.registry)
        try:
            self.metrics_port = await endpoint.start(host, port)
        except OSError as error:
            await self._close_clients()
            raise StartupError(f"cannot serve metrics on {host}:{port}: {error.strerror or error}") from None
        self._metrics_endpoint = endpoint
        log.info("Prometheus metrics at http://%s:%d/metrics", host, self.metrics_port)

    async def _abandon_start(self) -> None:
        await self._stop_metrics_endpoint()
        await self._close_clients()

    @property
    def drain_period(self) -> float:
        """How long the server still receives (and refuses) calls once its shutdown has begun."""
        return min(DRAIN_PERIOD, DRAIN_SHARE * self.config.shutdown_grace_period)

    async def _begin_shutdown(self) -> None:
        """Health NOT_SERVING, new calls refused, waiting calls ended; calls are still received."""
        if self._shutdown_began is not None:
            return
        self._shutdown_began = asyncio.get_running_loop().time()
        log.info(
            "gRPC facade shutting down (grace period %gs, of which %gs refusing new calls before it stops receiving)",
            self.config.shutdown_grace_period,
            self.drain_period,
        )
        await self.health.enter_graceful_shutdown()
        self.gate.close()
        await self._end_waits()

    async def stop(self) -> None:
        """Graceful shutdown (see the module's docstring); returns once every call has ended."""
        if self._server is None:
            return
        server, self._server = self._server, None
        await self._begin_shutdown()
        assert self._shutdown_began is not None
        loop = asyncio.get_running_loop()
        # The drain and the grace period count from the beginning of the shutdown, whoever began it.
        await asyncio.sleep(max(self._shutdown_began + self.drain_period - loop.time(), 0.0))
        await server.stop(max(self._shutdown_began + self.config.shutdown_grace_period - loop.time(), 0.0))
        await self._stop_metrics_endpoint()
        await self._close_clients()
        log.info("gRPC facade stopped")

    async def _end_waits(self) -> None:
        """Stop the cluster check and the hubs: waiting calls and streams end with UNAVAILABLE."""
        if self._cluster_check is not None:
            self._cluster_check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cluster_check
        for hub in (self.hub, self.version_hub, self.metrics_hub):
            if hub is not None:
                await hub.stop()

    async def _stop_metrics_endpoint(self) -> None:
        endpoint, self._metrics_endpoint = self._metrics_endpoint, None
        if endpoint is not None:
            await endpoint.stop()

    async def _connect(self) -> KubeApi:
        source = self.config.kubeconfig or "KUBECONFIG, the pod's service account or ~/.kube/config"
        try:
            return await KubeApi.connect(self.config.kubeconfig)
        except Exception as error:
            # The loader's errors say what is wrong with the file (missing, no context); they hold no secret.
            raise StartupError(f"cannot load the Kubernetes configuration ({source}): {error}") from None

    async def _close_clients(self) -> None:
        if self.prometheus is not None:
            self.prometheus.close()
        if self._owns_kube and self.kube is not None:
            kube, self.kube = self.kube, None
            await kube.close()

    async def _check_cluster(self, kube: KubeApi) -> None:
        """List Runtimes until it works, marking the server, then its services, SERVING on the way."""
        delay = 1.0
        while True:
            try:
                await kube.list(RUNTIMES)
                break
            except NotFound:
                await self.health.set(OVERALL, health_pb2.HealthCheckResponse.SERVING)
                log.error(
                    "the Runtime CRD (%s.%s) is not installed: kubectl apply -f crds/; checking again in %g s",
                    RUNTIMES.plural,
                    RUNTIMES.group,
                    delay,
                )
            except KubeError as error:
                log.error("the Kubernetes API cannot be used (%s); checking again in %g s", error.safe_message, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, CLUSTER_CHECK_MAX_DELAY)
        for name in (OVERALL, *CRD_BOUND_SERVICES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.cluster_reached.set()
        log.info("Kubernetes API reached and Runtimes listed; serving")


# ------------------------------------------------------------------------------------------ process


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
