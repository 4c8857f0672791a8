"""`k8s-manager dev`: the whole system on loopback, on the embedded emulator or on a cluster of yours.

By default it starts the Kubernetes API emulator in this process and writes a kubeconfig for it; with
`--kubeconfig PATH` it uses the cluster of that kubeconfig (its current context) instead, as kubebuilder's
`make run` does, and starts no emulator. Before it writes anything it locks the directory of --kubeconfig-out
(a second dev mode there stops at once) and checks that the ports asked for are free. It installs the CRDs from
crds/ and the namespace, ServiceAccounts and RBAC of manifests/, then runs the operator (unless --no-operator)
and the facade as child processes, each as its ServiceAccount (a token from the TokenRequest API, in a
kubeconfig written next to --kubeconfig-out). Once the facade answers health checks SERVING and the operator's
liveness endpoint answers, it prints

    gRPC facade: 127.0.0.1:50051
    kubeconfig: /abs/path/kubeconfig
    ready

on stdout (logs go to stderr, the children's prefixed with their name). SIGINT/SIGTERM stops the
children (SIGTERM, then SIGKILL after --stop-timeout; a second signal kills at once those still running),
removes the kubeconfigs it wrote, stops the emulator if there is one, and exits 0. A child that dies on its
own stops everything with exit code 1. On a cluster, the CRDs and RBAC stay installed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import aiohttp
import grpc
import kubernetes
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from k8s_manager_api.errors import AlreadyExists, Conflict, KubeError, NotFound
from k8s_manager_api.kube import KubeApi
from k8s_manager_api.names import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    CUSTOM_RESOURCE_DEFINITIONS,
    NAMESPACES,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    Resource,
)
from k8s_manager_facade.config import parse_port, parse_seconds

from .runtime_standin import run_standin_forever

if TYPE_CHECKING:
    from kube_emulator import Emulator

log = logging.getLogger(__name__)
T = TypeVar("T")

# The `kubernetes` package is untyped: only its config loader and the TokenRequest call are used.
_kube_client: Any = kubernetes.client
_kube_config: Any = kubernetes.config

LOOPBACK = "127.0.0.1"
DEFAULT_KUBECONFIG_OUT = Path(".k8s-manager") / "kubeconfig"
CRD_SUFFIXES = (".yaml", ".yml", ".json")
# Variables that would make the children's Kubernetes clients prefer an in-cluster service account.
IN_CLUSTER_VARIABLES = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_PORT")
FACADE_SHUTDOWN_GRACE = 2.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
DEFAULT_API_PORT = 0
DEFAULT_READY_AFTER = 0.5
# Flags of the embedded emulator, refused with --kubeconfig (docs/decisions.md).
EMULATOR_ONLY_FLAGS = {"api_port": "--api-port", "ready_after": "--ready-after"}
# In the directory of --kubeconfig-out while a dev mode uses it; holds that dev mode's pid.
LOCK_NAME = "k8s-manager-dev.lock"


class DevError(RuntimeError):
    """Development mode cannot start or continue; the message says why."""


class UsageError(DevError):
    """The command line asks for something that cannot be done (exit code 2)."""


@dataclass(frozen=True)
class DevOptions:
    grpc_port: int = 50051
    api_port: int = DEFAULT_API_PORT
    kubeconfig_out: Path = DEFAULT_KUBECONFIG_OUT
    kubeconfig: Path | None = None  # a cluster to use instead of the emulator
    crds_dir: Path | None = None
    manifests_dir: Path | None = None
    ready_after: float = DEFAULT_READY_AFTER
    startup_timeout: float = 60.0
    stop_timeout: float = 10.0
    log_format: str = "text"
    verbose: bool = False
    quiet: bool = False
    operator: bool = True  # False: --no-operator, run one yourself (`kopf run`)


# --- CRDs -------------------------------------------------------------------------------------------


def default_crds_dir() -> Path:
    """crds/ of the source tree this package runs from (an editable install or a clone), else ./crds."""
    return _project_dir("crds")


def _project_dir(name: str) -> Path:
    project_root = Path(__file__).resolve().parents[2]
    candidate = project_root / name
    return candidate if candidate.is_dir() else Path.cwd() / name


def load_crds(crds_dir: Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition document of every YAML/JSON file in crds_dir, in file-name order."""
    if not crds_dir.is_dir():
        raise DevError(f"CRD directory {crds_dir} does not exist; pass --crds DIR")
    documents: list[dict[str, Any]] = []
    for path in sorted(p for p in crds_dir.iterdir() if p.suffix in CRD_SUFFIXES and p.is_file()):
        try:
            loaded = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        except yaml.YAMLError as error:
            raise DevError(f"{path}: not valid YAML: {error}") from None
        for document in loaded:
            if not (
                isinstance(document, dict)
                and document.get("apiVersion") == "apiextensions.k8s.io/v1"
                and document.get("kind") == "CustomResourceDefinition"
                and isinstance(document.get("metadata"), dict)
                and document["metadata"].get("name")
            ):
                raise DevError(
                    f"{path}: every document must be a named apiextensions.k8s.io/v1 CustomResourceDefinition"
                )
            documents.append(document)
    return documents


async def apply_crds(api: KubeApi, crds: list[dict[str, Any]]) -> None:
    """Create each CRD, or update it if it exists, then wait until the API server reports it Established.

    Waits as long as the caller lets it (wrap it in `asyncio.timeout`).
    """
    try:
        for crd in crds:
            await create_or_replace(api, CUSTOM_RESOURCE_DEFINITIONS, crd)
            log.info("CRD %s applied", crd["metadata"]["name"])
        for crd in crds:
            await _wait_established(api, crd["metadata"]["name"])
    except KubeError as error:
        raise DevError(f"cannot install the CRDs: {error}") from None


REPLACE_ATTEMPTS = 5


async def create_or_replace(api: KubeApi, resource: Resource, obj: dict[str, Any]) -> None:
    """Create `obj`, or replace the stored one with it (what `kubectl apply` of a whole object comes to).

    On a shared cluster someone else may write the same object between our read and our replace (a conflict) or
    delete it (not found): read again and retry, a few times."""
    name, namespace = obj["metadata"]["name"], obj["metadata"].get("namespace")
    for attempt in range(1, REPLACE_ATTEMPTS + 1):
        try:
            await api.create(resource, obj)
            return
        except AlreadyExists:
            pass
        try:
            existing = await api.get(resource, name, namespace)
            metadata = {**obj["metadata"], "resourceVersion": existing["metadata"]["resourceVersion"]}
            await api.replace(resource, name, {**obj, "metadata": metadata}, namespace)
            return
        except (Conflict, NotFound):
            if attempt == REPLACE_ATTEMPTS:
                raise


async def _wait_established(api: KubeApi, name: str) -> None:
    while True:
        crd = await api.find(CUSTOM_RESOURCE_DEFINITIONS, name) or {}
        conditions = (crd.get("status") or {}).get("conditions") or []  # null on a CRD just created
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return
        await asyncio.sleep(0.05)


# --- The components' identities ---------------------------------------------------------------------

# The ServiceAccounts manifests/ runs the two processes as.
OPERATOR_ACCOUNT = "k8s-manager-operator"
FACADE_ACCOUNT = "k8s-manager-facade"
ACCESS_RESOURCES: Mapping[str, Resource] = {
    "Namespace": NAMESPACES,
    "ServiceAccount": SERVICE_ACCOUNTS,
    "ClusterRole": CLUSTER_ROLES,
    "ClusterRoleBinding": CLUSTER_ROLE_BINDINGS,
    "Role": ROLES,
    "RoleBinding": ROLE_BINDINGS,
}


def default_manifests_dir() -> Path:
    """manifests/ of the source tree this package runs from, else ./manifests."""
    return _project_dir("manifests")


@dataclass(frozen=True)
class Access:
    """The namespace, ServiceAccounts, roles and bindings of manifests/, as `kubectl kustomize` renders them."""

    namespace: str
    objects: list[dict[str, Any]]


def load_access(manifests_dir: Path) -> Access:
    """manifests/namespace.yaml and manifests/rbac/: plain files, which kustomize changes only by setting the
    kustomization's namespace on namespaced objects (a test compares the result with `kubectl kustomize`)."""
    try:
        namespace = yaml.safe_load((manifests_dir / "kustomization.yaml").read_text())["namespace"]
        paths = [manifests_dir / "namespace.yaml", *sorted((manifests_dir / "rbac").glob("*.yaml"))]
        documents = [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as error:
        raise DevError(f"cannot read the RBAC of {manifests_dir}: {error}; pass --manifests DIR") from None
    objects = [doc for doc in documents if doc.get("kind") in ACCESS_RESOURCES]
    for obj in objects:
        if ACCESS_RESOURCES[obj["kind"]].namespaced:
            obj["metadata"]["namespace"] = namespace
    return Access(namespace, objects)


async def apply_access(api: KubeApi, access: Access) -> None:
    """Create each object, or replace it if it exists."""
    try:
        for obj in access.objects:
            await create_or_replace(api, ACCESS_RESOURCES[obj["kind"]], obj)
    except KubeError as error:
        raise DevError(f"cannot install the components' RBAC: {error}") from None


# The TokenRequest's lifetime: a working day and more. The API server may grant less (its
# --service-account-max-token-expiration); the granted expiry is logged. Tokens are not renewed.
TOKEN_SECONDS = 24 * 3600


@dataclass(frozen=True)
class ClusterEntry:
    """The cluster of a kubeconfig's current context: its name and its `cluster` map, the CA inlined."""

    name: str
    cluster: dict[str, Any]


def cluster_of(kubeconfig: Path) -> ClusterEntry:
    """The server, CA and TLS settings of the kubeconfig's current context, with a `certificate-authority` file
    (relative to the kubeconfig, as kubectl reads it) turned into `certificate-authority-data`."""
    try:
        document = yaml.safe_load(kubeconfig.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise DevError(f"cannot read the kubeconfig {kubeconfig}: {error}") from None
    if not isinstance(document, dict):
        raise DevError(f"{kubeconfig} is not a kubeconfig")
    current = document.get("current-context")
    if not current:
        raise DevError(f"{kubeconfig} has no current-context: select one with `kubectl config use-context`")
    context = _named(document, "contexts", current, kubeconfig).get("context") or {}
    cluster_name = context.get("cluster")
    if not cluster_name:
        raise DevError(f"{kubeconfig}: context {current!r} names no cluster")
    cluster = dict(_named(document, "clusters", cluster_name, kubeconfig).get("cluster") or {})
    if not cluster.get("server"):
        raise DevError(f"{kubeconfig}: cluster {cluster_name!r} has no server")
    ca_file = cluster.pop("certificate-authority", None)
    if ca_file and not cluster.get("certificate-authority-data"):  # both: the data wins, as in client-go
        path = Path(ca_file).expanduser()
        path = path if path.is_absolute() else kubeconfig.parent / path
        try:
            cluster["certificate-authority-data"] = base64.b64encode(path.read_bytes()).decode()
        except OSError as error:
            raise DevError(
                f"{kubeconfig}: cannot read the certificate-authority of {cluster_name!r}: {error}"
            ) from None
    return ClusterEntry(cluster_name, cluster)


def _named(document: dict[str, Any], section: str, name: str, kubeconfig: Path) -> dict[str, Any]:
    for entry in document.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise DevError(f"{kubeconfig}: no entry {name!r} in {section}")


def identity_kubeconfig_document(cluster: ClusterEntry, account: str, token: str) -> dict[str, Any]:
    """A kubeconfig for the bearer `token` of `account` on `cluster`, and nothing else of the admin's."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster.name, "cluster": cluster.cluster}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": cluster.name, "user": account}}],
        "current-context": account,
        "preferences": {},
    }


def request_token(
    admin_kubeconfig: Path, namespace: str, account: str, seconds: int = TOKEN_SECONDS
) -> tuple[str, str]:
    """A TokenRequest for the ServiceAccount, as the kubeconfig's user (`kubectl create token`); blocking.

    Returns the token and its expiry as the API server granted it.
    """
    configuration = _kube_client.Configuration()
    body = {"spec": {"expirationSeconds": seconds}}
    try:
        _kube_config.load_kube_config(
            config_file=str(admin_kubeconfig), client_configuration=configuration, persist_config=False
        )
        with _kube_client.ApiClient(configuration) as api:
            answer = _kube_client.CoreV1Api(api).create_namespaced_service_account_token(account, namespace, body)
    except _kube_client.exceptions.ApiException as error:
        raise DevError(f"cannot get a token for {namespace}/{account}: {error.status} {error.reason}") from None
    except (OSError, _kube_config.ConfigException) as error:
        raise DevError(f"cannot get a token for {namespace}/{account}: {error}") from None
    return str(answer.status.token), str(answer.status.expiration_timestamp)


def write_private(path: Path, document: dict[str, Any]) -> Path:
    """Write the YAML document readable by its owner only (it holds a credential)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(yaml.safe_dump(document, sort_keys=False))
    return path


async def write_identity(
    admin_kubeconfig: Path, cluster: ClusterEntry, namespace: str, account: str, directory: Path
) -> Path:
    """`directory/ACCOUNT.kubeconfig` for the ServiceAccount: the cluster's server and CA with a token from the
    TokenRequest API, asked for as the admin. On the emulator as on a cluster."""
    path = directory / f"{account}.kubeconfig"
    if path == admin_kubeconfig:
        raise DevError(f"{path} is the kubeconfig given; pick another --kubeconfig-out directory")
    token, expires = await asyncio.to_thread(request_token, admin_kubeconfig, namespace, account)
    try:
        write_private(path, identity_kubeconfig_document(cluster, account, token))
    except OSError as error:
        raise DevError(f"cannot write the kubeconfig of {namespace}/{account}: {error}") from None
    log.info("token for %s/%s valid until %s; its kubeconfig is %s", namespace, account, expires, path)
    return path


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("cannot remove %s: %s", path, error)


# --- The folder and the ports ----------------------------------------------------------------------


class FolderLock:
    """An exclusive lock on a directory (flock on its LOCK_NAME file, which holds the owner's pid), taken before the
    dev mode writes anything there, so that a second dev mode in the same folder cannot overwrite the kubeconfigs
    of the first. The kernel releases it when the process ends, however it ends."""

    def __init__(self, directory: Path, descriptor: int, created_directory: bool) -> None:
        self.directory = directory
        self.path = directory / LOCK_NAME
        self._descriptor: int | None = descriptor
        self._created_directory = created_directory

    @classmethod
    def acquire(cls, directory: Path) -> FolderLock:
        """The lock, or `DevError` naming the dev mode that holds it."""
        created = not directory.exists()
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            reason = error.strerror or error
            raise DevError(f"cannot create {directory}: {reason}; pick another --kubeconfig-out") from None
        path = directory / LOCK_NAME
        while True:
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as error:
                raise DevError(f"cannot lock {directory}: {error.strerror or error}") from None
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                holder = os.read(descriptor, 32).decode(errors="replace").strip()
                os.close(descriptor)
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise DevError(f"cannot lock {directory}: {error.strerror or error}") from None
                who = f"another k8s-manager dev (pid {holder})" if holder.isdigit() else "another k8s-manager dev"
                raise DevError(
                    f"{who} is running with its kubeconfigs in {directory}: stop it first, or give this one "
                    "another --kubeconfig-out (and another --grpc-port)"
                ) from None
            # The holder we waited for may have removed the file on its way out: lock the one at the path.
            try:
                same = os.stat(path).st_ino == os.fstat(descriptor).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(descriptor)
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        return cls(directory, descriptor, created)

    def release(self) -> None:
        """Remove the lock file (while still holding it), unlock, and remove the directory if this lock created it
        and nothing else is left in it."""
        if self._descriptor is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._descriptor)
        self._descriptor = None
        if self._created_directory:
            with contextlib.suppress(OSError):  # not empty: someone put something there; leave it
                self.directory.rmdir()


def port_taken(port: int) -> str | None:
    """Why 127.0.0.1:`port` cannot be listened on (a listening socket there), or None if it can.

    SO_REUSEADDR as the servers set it: a port left in TIME_WAIT by a previous run counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            return error.strerror or str(error)
    return None


def check_distinct(ports: Mapping[str, int]) -> None:
    """`UsageError` if two flags ask for the same port (0, any free one, may be asked for by all)."""
    by_port: dict[int, list[str]] = {}
    for flag, port in ports.items():
        if port:
            by_port.setdefault(port, []).append(flag)
    for port, flags in by_port.items():
        if len(flags) > 1:
            raise UsageError(f"{' and '.join(flags)} are both {port}: give them different ports")


def check_ports(ports: Mapping[str, int]) -> None:
    """`DevError` unless every port (by flag; 0: any free one) is free."""
    for flag, port in ports.items():
        reason = port_taken(port) if port else None
        if reason is not None:
            raise DevError(
                f"{flag} {port}: {LOOPBACK}:{port} is in use ({reason}); stop what listens there, or pick another "
                f"port ({flag} 0: a free one)"
            )


# --- Children ---------------------------------------------------------------------------------------


def child_environment(environ: Mapping[str, str], kubeconfig: Path) -> dict[str, str]:
    """The parent's environment with the emulator's kubeconfig taking precedence over any cluster."""
    env = {key: value for key, value in environ.items() if key not in IN_CLUSTER_VARIABLES}
    env["KUBECONFIG"] = str(kubeconfig)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def relay_line(name: str, line: str, log_format: str) -> str:
    """A child's log line as the parent prints it: prefixed in text, tagged with `process` in JSON."""
    if log_format == "json":
        try:
            document = json.loads(line)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            document = {"message": line}
        return json.dumps({"process": name, **document})
    return f"{name} | {line}"


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    relay: asyncio.Task[None] = field(init=False)

    @property
    def exited(self) -> bool:
        """Whether the process has ended, even if asyncio has not reaped it or processed its exit yet."""
        if self.process.returncode is not None:
            return True
        try:  # WNOWAIT: look without reaping, which stays asyncio's job
            state = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped already, the exit not yet processed
            return True
        return state is not None

    @property
    def exit_description(self) -> str:
        code = self.process.returncode
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"


async def spawn_child(name: str, args: list[str], env: Mapping[str, str], log_format: str, sink: TextIO) -> Child:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "k8s_manager",
        *args,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        # Own session: a Ctrl-C in the terminal reaches only this process, which stops the children in order.
        start_new_session=True,
        limit=4 * 1024 * 1024,
    )
    child = Child(name, process)
    child.relay = asyncio.create_task(_relay_output(child, log_format, sink), name=f"relay-{name}")
    log.info("started %s (pid %d)", name, process.pid)
    return child


async def _relay_output(child: Child, log_format: str, sink: TextIO) -> None:
    stream = child.process.stdout
    assert stream is not None
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line longer than the buffer: pass on what there is
            raw = await stream.read(64 * 1024)
        if not raw:
            return
        line = raw.decode(errors="replace").rstrip("\r\n")
        sink.write(relay_line(child.name, line, log_format) + "\n")
        sink.flush()


async def stop_children(children: list[Child], grace: float, force: asyncio.Event) -> None:
    """SIGTERM every running child; SIGKILL those still running after `grace` seconds or once `force` is set.

    Only a child that is still running is killed and named: one that has exited, even if its exit is not processed
    yet, is only waited for."""
    running = [child for child in children if not child.exited]
    for child in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.process.pid, signal.SIGTERM)  # not Popen.send_signal, which may reap it under asyncio
    if running:
        waits = asyncio.gather(*(child.process.wait() for child in running))
        forced = asyncio.create_task(force.wait())
        racers: set[asyncio.Future[Any]] = {waits, forced}
        done, _ = await asyncio.wait(racers, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        forced.cancel()
        if waits not in done:
            why = (
                "still stopping at the second signal"
                if forced in done
                else f"still running {grace:g}s after SIGTERM (--stop-timeout)"
            )
            for child in running:
                if not child.exited:
                    log.warning("killing %s: %s", child.name, why)
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.process.pid, signal.SIGKILL)
            await waits
    for child in children:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(child.relay, timeout=2)  # cancelled if something else still holds the pipe


# --- Readiness --------------------------------------------------------------------------------------


async def facade_not_ready(address: str) -> str | None:
    """None once the facade's health check answers SERVING; else what it answered, for a startup timeout."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
        except grpc.aio.AioRpcError as error:
            return f"the facade's health check at {address} (no answer: {error.code().name})"
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return None
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return f"the facade's health check at {address} (answers {status}, not SERVING)"


async def operator_not_ready(session: aiohttp.ClientSession, liveness_url: str) -> str | None:
    """None once the operator's liveness endpoint answers 200; else what it answered, for a startup timeout."""
    try:
        async with session.get(liveness_url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            if response.status == 200:
                return None
            return f"the operator's liveness endpoint {liveness_url} (answers HTTP {response.status}, not 200)"
    except (aiohttp.ClientError, TimeoutError) as error:
        reason = type(error).__name__ if isinstance(error, TimeoutError) else str(error) or type(error).__name__
        return f"the operator's liveness endpoint {liveness_url} (no answer: {reason})"


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


# --- The session ------------------------------------------------------------------------------------


class DevSession:
    def __init__(self, options: DevOptions, stdout: TextIO, stderr: TextIO) -> None:
        self.options = options
        self.stdout = stdout
        self.stderr = stderr
        self.emulator: Emulator | None = None
        self.api: KubeApi | None = None
        self.standin: asyncio.Task[None] | None = None
        self.children: list[Child] = []
        self.kubeconfig_out = options.kubeconfig_out.expanduser().resolve()
        # The admin's kubeconfig: the one given, or the emulator's, written at --kubeconfig-out.
        self.kubeconfig = (options.kubeconfig or options.kubeconfig_out).expanduser().resolve()
        self.lock: FolderLock | None = None
        self.written: list[Path] = []  # the kubeconfigs this session wrote, removed at stop
        self.identities: dict[str, Path] = {}  # ServiceAccount -> its kubeconfig
        self.access_namespace = ""
        self.grpc_port = options.grpc_port
        self.stage = "starting"  # what start-up is doing or waiting for, for a startup timeout
        self.stop_requested = asyncio.Event()
        self.force_stop = asyncio.Event()

    @property
    def facade_address(self) -> str:
        return f"{LOOPBACK}:{self.grpc_port}"

    async def run(self) -> int:
        with self._signals_handled():
            try:
                return await self._run()
            except DevError as error:
                log.error("%s", error)
                return 1
            finally:
                await self._shutdown()

    async def _run(self) -> int:
        startup = asyncio.create_task(self._start(), name="dev-startup")
        stop = asyncio.create_task(self.stop_requested.wait(), name="dev-stop")
        try:
            await asyncio.wait({startup, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not startup.done():  # stopped while starting: not an error
                startup.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await startup
                return 0
            startup.result()
            self._announce()
            exits = {asyncio.create_task(child.process.wait()): child for child in self.children}
            await asyncio.wait({stop, *exits}, return_when=asyncio.FIRST_COMPLETED)
            for task in exits:
                task.cancel()
            if self.stop_requested.is_set():
                return 0
            dead = next(child for child in self.children if child.exited)
            raise DevError(f"{dead.name} exited unexpectedly ({dead.exit_description}); stopping")
        finally:
            stop.cancel()

    async def _start(self) -> None:
        timeout = self.options.startup_timeout
        try:
            async with asyncio.timeout(timeout):
                await self._start_everything()
        except TimeoutError:
            raise DevError(f"not ready within {timeout:g}s (--startup-timeout): still {self.stage}") from None

    def _claim_folder_and_ports(self) -> None:
        """Before anything is written: the folder of --kubeconfig-out locked, every port asked for free, and the
        facade's port chosen if it is 0."""
        self.lock = FolderLock.acquire(self.kubeconfig_out.parent)
        ports = {"--grpc-port": self.options.grpc_port}
        if self.options.kubeconfig is None:
            ports["--api-port"] = self.options.api_port
        check_ports(ports)
        if self.grpc_port == 0:
            # The facade runs in a child: the port is picked here and handed to it (docs/decisions.md).
            self.grpc_port = free_loopback_port()

    async def _start_everything(self) -> None:
        self._claim_folder_and_ports()
        crds = load_crds(self.options.crds_dir or default_crds_dir())
        access = load_access(self.options.manifests_dir or default_manifests_dir())
        if self.options.kubeconfig is None:
            self.stage = "starting the Kubernetes API emulator"
            emulator = await self._start_emulator()
            self.written.append(emulator.write_kubeconfig(self.kubeconfig))
            log.info(
                "Kubernetes API emulator at %s, kubeconfig %s (plain HTTP for raw clients with the admin token at %s)",
                emulator.secure_url,
                self.kubeconfig,
                emulator.url,
            )
        cluster = cluster_of(self.kubeconfig)  # before anything is installed: a bad kubeconfig changes nothing
        server = cluster.cluster["server"]
        if self.options.kubeconfig is not None:
            log.info("using the cluster %s at %s (kubeconfig %s)", cluster.name, server, self.kubeconfig)
        self.api = await self._connect()
        self.stage = f"installing the CRDs and waiting until they are Established, at {server}"
        await apply_crds(self.api, crds)
        if not crds:
            log.warning("no CRDs found to install")
        # The operator and the facade run as in a cluster: as their ServiceAccounts, with the manifests' RBAC.
        self.stage = f"installing the namespace, ServiceAccounts and RBAC of the manifests, at {server}"
        await apply_access(self.api, access)
        # The operator's too with --no-operator: for the one run by hand, under the same RBAC.
        for account in (OPERATOR_ACCOUNT, FACADE_ACCOUNT):  # one by one: a stop meanwhile removes those written
            self.stage = f"requesting a token for {access.namespace}/{account} (TokenRequest API), at {server}"
            path = await write_identity(self.kubeconfig, cluster, access.namespace, account, self.kubeconfig_out.parent)
            self.identities[account] = path
            self.written.append(path)
        self.access_namespace = access.namespace
        if self.emulator is not None:
            # The emulator runs no containers: a stand-in deploys each runtime's components (see runtime_standin).
            self.standin = asyncio.create_task(run_standin_forever(self.api), name="runtime-operator-standin")
        else:
            log.info("no runtime operator stand-in on a cluster: Runtimes need the cluster's runtime operator")
        if not self.options.operator:
            self._explain_no_operator()
        async with aiohttp.ClientSession() as session:
            liveness_url = f"http://{LOOPBACK}:{free_loopback_port()}/healthz"
            self.stage = "starting the children"
            await self._spawn_children(liveness_url)
            await self._wait_until_ready(session, liveness_url)

    def _explain_no_operator(self) -> None:
        operator_kubeconfig = self.identities[OPERATOR_ACCOUNT]
        log.info(
            "no operator (--no-operator): run your own against this cluster, e.g. KUBECONFIG=%s kopf run --standalone "
            "--all-namespaces -m k8s_manager_operator.handlers; or as the operator's ServiceAccount, under the "
            "manifests' RBAC: KUBECONFIG=%s KRE_OPERATOR_NAMESPACE=%s KRE_OPERATOR_SERVICE_ACCOUNT=%s and the same "
            "command",
            self.kubeconfig,
            operator_kubeconfig,
            self.access_namespace,
            OPERATOR_ACCOUNT,
        )

    async def _connect(self) -> KubeApi:
        try:
            return await KubeApi.connect(str(self.kubeconfig))
        except (OSError, ValueError, yaml.YAMLError, _kube_config.ConfigException) as error:
            raise DevError(f"cannot use the kubeconfig {self.kubeconfig}: {error}") from None

    async def _start_emulator(self) -> Emulator:
        from kube_emulator import Emulator, EmulatorSettings  # imported here: only the dev mode needs it

        emulator = Emulator(EmulatorSettings(workload_ready_after=self.options.ready_after, simulate_pods=True))
        try:
            # --api-port is the HTTPS port, the kubeconfig's; plain HTTP goes on a free port.
            await emulator.start(LOOPBACK, 0, secure_port=self.options.api_port)
        except OSError as error:
            await emulator.stop()
            port = self.options.api_port
            raise DevError(f"cannot start the Kubernetes API emulator on port {port}: {error}") from None
        self.emulator = emulator
        return emulator

    async def _spawn_children(self, liveness_url: str) -> None:
        options = self.options
        verbosity = ["--verbose"] if options.verbose else ["--quiet"] if options.quiet else []
        common = ["--log-format", options.log_format, *verbosity]
        spawns: list[tuple[str, list[str], dict[str, str]]] = []
        if options.operator:
            operator_env = {
                **child_environment(os.environ, self.identities[OPERATOR_ACCOUNT]),
                "KRE_OPERATOR_NAMESPACE": self.access_namespace,
                "KRE_OPERATOR_SERVICE_ACCOUNT": OPERATOR_ACCOUNT,
            }
            spawns.append(("operator", ["operator", "--liveness", liveness_url, *common], operator_env))
        facade_args = [
            "facade",
            "--host",
            LOOPBACK,
            "--port",
            str(self.grpc_port),
            "--shutdown-grace-period",
            str(FACADE_SHUTDOWN_GRACE),
            *common,
        ]
        spawns.append(("facade", facade_args, child_environment(os.environ, self.identities[FACADE_ACCOUNT])))
        for name, args, env in spawns:
            self.children.append(await spawn_child(name, args, env, options.log_format, self.stderr))

    async def _wait_until_ready(self, session: aiohttp.ClientSession, liveness_url: str) -> None:
        """Until the facade is SERVING and the operator (if any) is alive; `stage` names what is not ready yet."""
        while True:
            for child in self.children:
                if child.exited:
                    raise DevError(f"{child.name} exited while starting ({child.exit_description})")
            waiting = [await facade_not_ready(self.facade_address)]
            if self.options.operator:
                waiting.append(await operator_not_ready(session, liveness_url))
            not_ready = [description for description in waiting if description is not None]
            if not not_ready:
                return
            self.stage = "waiting for " + " and ".join(not_ready)
            await asyncio.sleep(0.1)

    def _announce(self) -> None:
        self.stdout.write(f"gRPC facade: {self.facade_address}\nkubeconfig: {self.kubeconfig}\nready\n")
        self.stdout.flush()
        log.info("ready")

    async def _shutdown(self) -> None:
        if self.children:
            log.info("stopping %s", ", ".join(child.name for child in self.children))
            await stop_children(self.children, self.options.stop_timeout, self.force_stop)
        if self.standin is not None:
            self.standin.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.standin
        if self.api is not None:
            await self.api.close()
        if self.emulator is not None:
            await self.emulator.stop()
            self.emulator = None
        elif self.api is not None:
            log.info("the CRDs and RBAC stay installed on the cluster")
        # The identities' tokens stay valid until they expire, and the emulator's kubeconfig points at an emulator
        # that is gone: leave none of the files written.
        if self.written:
            remove_files(self.written)
            self.written = []
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        log.info("stopped")

    @contextlib.contextmanager
    def _signals_handled(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            yield
        finally:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)

    def _on_signal(self, signum: signal.Signals) -> None:
        if self.stop_requested.is_set():
            stopping = [child.name for child in self.children if not child.exited]
            if stopping:
                log.warning("received %s again: killing %s", signum.name, ", ".join(stopping))
            else:
                log.info("received %s again: the children have stopped already", signum.name)
            self.force_stop.set()
        else:
            log.info("received %s: stopping", signum.name)
            self.stop_requested.set()


async def run_dev(options: DevOptions, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    return await DevSession(options, stdout or sys.stdout, stderr or sys.stderr).run()


# --- Command line -----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grpc-port",
        type=_argument(parse_port),
        default=50051,
        help="facade port on 127.0.0.1 (default 50051; 0: a free port, the one printed)",
    )
    parser.add_argument(
        "--no-operator",
        dest="operator",
        action="store_false",
        help="run everything but the operator, to run one yourself (kopf run) against the same API",
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        metavar="PATH",
        help="run against the cluster of this kubeconfig (its current context) instead of the embedded emulator; "
        "needs cluster-admin there",
    )
    parser.add_argument(
        "--api-port",
        type=_argument(parse_port),
        default=None,
        help=f"HTTPS port of the Kubernetes API emulator on 127.0.0.1, the kubeconfig's (default {DEFAULT_API_PORT}: "
        "a free port; not with --kubeconfig)",
    )
    parser.add_argument(
        "--kubeconfig-out",
        type=Path,
        default=DEFAULT_KUBECONFIG_OUT,
        metavar="PATH",
        help=f"where to write the emulator's kubeconfig for kubectl; the ServiceAccounts' kubeconfigs go next to it; "
        f"one dev mode at a time per directory (default ./{DEFAULT_KUBECONFIG_OUT})",
    )
    parser.add_argument(
        "--crds", type=Path, default=None, metavar="DIR", help="CRD directory (default: crds/ of the project)"
    )
    parser.add_argument(
        "--manifests",
        type=Path,
        default=None,
        metavar="DIR",
        help="whose RBAC the operator and the facade run under (default: manifests/ of the project)",
    )
    parser.add_argument(
        "--ready-after",
        type=_argument(parse_seconds),
        default=None,
        metavar="SECONDS",
        help=f"simulated Deployments and pods become ready this long after they appear (default "
        f"{DEFAULT_READY_AFTER:g}; not with --kubeconfig)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=_argument(parse_seconds),
        default=60.0,
        metavar="SECONDS",
        help="give up if not ready by then, saying what was not (default 60)",
    )
    parser.add_argument(
        "--stop-timeout",
        type=_argument(parse_seconds),
        default=10.0,
        metavar="SECONDS",
        help="on stop, children still running after this long are killed (default 10)",
    )


def options_from_args(args: argparse.Namespace) -> DevOptions:
    """The options of the parsed command line; `UsageError` for emulator flags given with --kubeconfig."""
    if args.kubeconfig is not None:
        given = [flag for dest, flag in EMULATOR_ONLY_FLAGS.items() if getattr(args, dest) is not None]
        if given:
            verb, them = ("configures", "it") if len(given) == 1 else ("configure", "them")
            raise UsageError(
                f"{' and '.join(given)} {verb} the embedded emulator, which --kubeconfig replaces: "
                f"drop {them}, or drop --kubeconfig"
            )
    else:
        check_distinct({"--grpc-port": args.grpc_port, "--api-port": args.api_port or 0})
    return DevOptions(
        grpc_port=args.grpc_port,
        api_port=DEFAULT_API_PORT if args.api_port is None else args.api_port,
        kubeconfig_out=args.kubeconfig_out,
        kubeconfig=args.kubeconfig,
        crds_dir=args.crds,
        manifests_dir=args.manifests,
        ready_after=DEFAULT_READY_AFTER if args.ready_after is None else args.ready_after,
        startup_timeout=args.startup_timeout,
        stop_timeout=args.stop_timeout,
        log_format=args.log_format,
        verbose=args.verbose,
        quiet=args.quiet,
        operator=args.operator,
    )


def _argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse `type` from a parser raising ValueError, keeping its message in argparse's error."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert
