"""A real Kubernetes control plane on loopback, for the test suites: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok (fake Nodes whose Pods become Running and Ready; no container ever runs).

The binaries come from `tests/cluster/build` (upstream Go modules at the versions of tests/cluster/go/go.mod). One
launcher serves `tests/cluster/up` and the suites' session fixture (tests/conftest.py). Each component is a process
of its own on free loopback ports, started in dependency order and awaited on its health endpoint; the harness then
creates the fake Nodes, a default StorageClass served by a small provisioner (below) and proves that a Deployment
becomes Available before it says the cluster is ready.

Why a provisioner: no volume plugin runs on kwok Nodes, and a StatefulSet's claims would stay Pending and keep its
Pods from scheduling. The provisioner creates a hostPath PersistentVolume bound to each Pending claim of the default
class and deletes those volumes once released; the controller manager's PV controller does the binding itself.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import kubernetes
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from kubernetes.client.exceptions import ApiException

client: Any = kubernetes.client
config: Any = kubernetes.config

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"

STORAGE_CLASS = "standard"
PROVISIONER = "k8s-manager.invalid/loopback-hostpath"
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
# kwok's pods would otherwise be reachable at nothing; ClusterIPs are never routed either (no kube-proxy).
NODE_CAPACITY = {"cpu": "32", "memory": "256Gi", "pods": "250", "ephemeral-storage": "1Ti"}
PR_SET_PDEATHSIG = 1  # linux/prctl.h
COMPONENT_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or proven ready; the message says which part and why."""


def build(quiet: bool = False) -> Path:
    """Build what is missing (tests/cluster/build) and return the folder holding the binaries."""
    result = subprocess.run(
        [str(BUILD), *(["--quiet"] if quiet else [])],
        stdout=subprocess.PIPE,
        stderr=None if not quiet else subprocess.PIPE,
        text=True,
    )
    if result.returncode != 0:
        raise ControlPlaneError(f"tests/cluster/build failed ({result.returncode}): {result.stderr or ''}")
    return Path(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- PKI -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def ca(self) -> Path:
        return self.path("ca.crt")


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _certificate(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None,
    *,
    ca: bool = False,
    server_names: tuple[str, ...] = (),
    client_auth: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        usages = [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else []
        if server_names:
            usages.append(x509.oid.ExtendedKeyUsageOID.SERVER_AUTH)
            names: list[x509.GeneralName] = []
            for name in server_names:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(name)))
                except ValueError:
                    names.append(x509.DNSName(name))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def write_pki(directory: Path) -> Pki:
    """A CA, kube-apiserver's serving certificate, an admin client certificate (group system:masters) and the
    ServiceAccount token signing key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8s-manager-tests-ca")])
    ca_cert = _certificate(ca_name, ca_key, None, ca=True)
    _write_key(ca_key, directory / "ca.key")
    (directory / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def issue(name: str, subject: x509.Name, **kwargs: Any) -> None:
        key = _key()
        cert = _certificate(subject, key, (ca_name, ca_key), **kwargs)
        _write_key(key, directory / f"{name}.key")
        (directory / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    issue(
        "apiserver",
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        server_names=(
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "10.96.0.1",
        ),
    )
    issue(
        "admin",
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes-admin"),
            ]
        ),
        client_auth=True,
    )
    service_account_key = _key()
    _write_key(service_account_key, directory / "sa.key")
    (directory / "sa.pub").write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Pki(directory)


def write_admin_kubeconfig(path: Path, server: str, pki: Pki) -> None:
    """A self-contained kubeconfig (certificates inlined), so it stays usable when copied elsewhere."""
    import base64

    def data(name: str) -> str:
        return base64.b64encode(pki.path(name).read_bytes()).decode()

    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "k8s-manager-tests", "cluster": {"server": server, "certificate-authority-data": data("ca.crt")}}
        ],
        "users": [
            {
                "name": "admin",
                "user": {"client-certificate-data": data("admin.crt"), "client-key-data": data("admin.key")},
            }
        ],
        "contexts": [{"name": "admin", "context": {"cluster": "k8s-manager-tests", "user": "admin"}}],
        "current-context": "admin",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    path.chmod(0o600)


# --- processes -------------------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Run in the child: the kernel sends it SIGTERM if the launcher dies, so a SIGKILL'd launcher or pytest worker
    leaves no component behind."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Component:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            start_new_session=True,  # a Ctrl-C reaches the launcher only, which stops the components in order
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL (for failure tests); `start` brings it back with the same flags."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _get(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _insecure() -> ssl.SSLContext:
    # The controller manager's and scheduler's serving certificates are self-signed by each of them at start.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# --- the control plane -----------------------------------------------------------------------------------------


@dataclass
class ControlPlane:
    """The control plane in `workdir` (created if missing, removed by `stop` when the launcher created it)."""

    bin_dir: Path
    workdir: Path
    nodes: int = 3
    components: dict[str, Component] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    remove_workdir: bool = True
    _provisioner: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def create(cls, nodes: int = 3, workdir: Path | None = None, quiet: bool = True) -> ControlPlane:
        bin_dir = build(quiet=quiet)
        if workdir is None:
            base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # etcd on tmpfs: no disk flushes
            return cls(bin_dir, Path(tempfile.mkdtemp(prefix="k8s-manager-cluster-", dir=base)), nodes)
        workdir.mkdir(parents=True, exist_ok=True)
        return cls(bin_dir, workdir, nodes, remove_workdir=False)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['kube-apiserver']}"

    def binary(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _arguments(self, pki: Pki) -> dict[str, list[str]]:
        w, p = self.workdir, self.ports
        kubeconfig = str(self.kubeconfig)
        delegated = [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",  # a single replica: no lease to wait for
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
        ]
        etcd_url = f"http://127.0.0.1:{p['etcd']}"
        peer_url = f"http://127.0.0.1:{p['etcd-peer']}"
        return {
            "etcd": [
                self.binary("etcd"),
                "--name=node0",
                f"--data-dir={w / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=node0={peer_url}",
                "--listen-metrics-urls=",
                "--auto-compaction-mode=revision",
                "--auto-compaction-retention=5000",
                "--quota-backend-bytes=4294967296",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            "kube-apiserver": [
                self.binary("kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # The default `lease` reconciler would write the loopback address into the kubernetes Endpoints,
                # which validation refuses; nothing in the suites routes to the Service anyway.
                "--endpoint-reconciler-type=none",
                f"--secure-port={p['kube-apiserver']}",
                f"--cert-dir={w / 'apiserver'}",
                f"--tls-cert-file={pki.path('apiserver.crt')}",
                f"--tls-private-key-file={pki.path('apiserver.key')}",
                f"--client-ca-file={pki.ca}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.path('sa.pub')}",
                f"--service-account-signing-key-file={pki.path('sa.key')}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--authorization-mode=Node,RBAC",
                # The default admission plugins stay on (PodSecurity, ServiceAccount, NamespaceLifecycle, ...).
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ],
            "kube-controller-manager": [
                self.binary("kube-controller-manager"),
                *delegated,
                f"--secure-port={p['kube-controller-manager']}",
                f"--cert-dir={w / 'kube-controller-manager'}",
                f"--service-account-private-key-file={pki.path('sa.key')}",
                f"--root-ca-file={pki.ca}",
                f"--cluster-signing-cert-file={pki.ca}",
                f"--cluster-signing-key-file={pki.path('ca.key')}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--use-service-account-credentials=true",  # each controller under its own RBAC, as in clusters
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--v=1",
            ],
            "kube-scheduler": [
                self.binary("kube-scheduler"),
                *delegated,
                f"--secure-port={p['kube-scheduler']}",
                f"--cert-dir={w / 'kube-scheduler'}",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--v=1",
            ],
            "kwok": [
                self.binary("kwok"),
                f"--kubeconfig={kubeconfig}",
                f"--config={self.bin_dir.parent / 'kwok-stages.yaml'}",
                "--manage-all-nodes=true",
                "--node-lease-duration-seconds=40",
                f"--cidr={POD_CIDR}",
                "--node-ip=127.0.0.1",
                f"--server-address=127.0.0.1:{p['kwok']}",
            ],
        }

    def _health(self, name: str) -> Callable[[], bool]:
        p = self.ports
        if name == "etcd":
            url, context = f"http://127.0.0.1:{p['etcd']}/health", None
        elif name == "kube-apiserver":
            url, context = f"{self.server}/readyz", ssl.create_default_context(cafile=str(self.workdir / "pki/ca.crt"))
        elif name == "kwok":
            url, context = f"http://127.0.0.1:{p['kwok']}/healthz", None
        else:
            url, context = f"https://127.0.0.1:{p[name]}/healthz", _insecure()

        def healthy() -> bool:
            try:
                status, _ = _get(url, context)
            except (OSError, ssl.SSLError):
                return False
            return status == 200

        return healthy

    def _await(self, what: str, check: Callable[[], bool], timeout: float, component: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if component and not self.components[component].alive():
                tail = self.components[component].log_tail()
                raise ControlPlaneError(f"{component} exited while waiting for {what}; its log ends:\n{tail}")
            if time.monotonic() > deadline:
                tail = self.components[component].log_tail() if component else ""
                raise ControlPlaneError(
                    f"{what} not within {timeout:.0f} s" + (f"; {component}'s log ends:\n{tail}" if tail else "")
                )
            time.sleep(0.2)

    def start(self, timeout: float = 180.0) -> None:
        """Start every component in order and return once a Deployment can become Available."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        pki = write_pki(self.workdir / "pki")
        for name in ("etcd", "etcd-peer", *COMPONENT_ORDER[1:]):
            self.ports[name] = free_port()
        write_admin_kubeconfig(self.kubeconfig, self.server, pki)
        arguments = self._arguments(pki)
        for name in COMPONENT_ORDER:
            self.components[name] = Component(name, arguments[name], self.workdir / "logs" / f"{name}.log")
        for name in ("etcd", "kube-apiserver"):
            self.components[name].start()
            self._await(f"{name} healthy", self._health(name), timeout, name)
        for name in COMPONENT_ORDER[2:]:
            self.components[name].start()
        for name in COMPONENT_ORDER[2:]:
            self._await(f"{name} healthy", self._health(name), timeout, name)
        with self.api() as api:
            self._install_storage_class(api)
            self._create_nodes(api, timeout)
            self._start_provisioner()
            self._prove_workloads(api, timeout)

    @contextlib.contextmanager
    def api(self) -> Iterator[Any]:
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=configuration)
        with client.ApiClient(configuration) as api:
            yield api

    def restart(self, name: str, timeout: float = 120.0) -> None:
        """Stop a component (SIGTERM) and start it again with the same flags and ports (failure tests)."""
        component = self.components[name]
        component.stop()
        component.start()
        self._await(f"{name} healthy again", self._health(name), timeout, name)

    # --- what the cluster holds before it is handed over ---

    def _install_storage_class(self, api: Any) -> None:
        storage = client.StorageV1Api(api)
        body = {
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        with contextlib.suppress(ApiException):
            storage.create_storage_class(body)

    def _create_nodes(self, api: Any, timeout: float) -> None:
        core = client.CoreV1Api(api)
        names = [f"kwok-node-{index}" for index in range(self.nodes)]
        for index, name in enumerate(names):
            body = {
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "kubernetes.io/role": "agent",
                        "node-role.kubernetes.io/agent": "",
                        "topology.kubernetes.io/zone": f"zone-{index}",
                        "type": "kwok",
                    },
                },
                "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"]},
                "status": {"allocatable": NODE_CAPACITY, "capacity": NODE_CAPACITY},
            }
            try:
                core.create_node(body)
            except ApiException as error:
                if error.status != 409:
                    raise

        def schedulable() -> bool:
            for node in core.list_node().items:
                ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
                tainted = any(t.key == "node.kubernetes.io/not-ready" for t in node.spec.taints or [])
                if node.metadata.name in names and (not ready or tainted):
                    return False
            return True

        self._await("the kwok Nodes Ready and untainted", schedulable, timeout, "kwok")

    def _prove_workloads(self, api: Any, timeout: float) -> None:
        """A Deployment becomes Available (controllers, scheduler and kwok work) and a claim binds (provisioner)."""
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        namespace = "k8s-manager-cluster-check"
        with contextlib.suppress(ApiException):
            core.create_namespace({"metadata": {"name": namespace}})
        self._await(
            "the default ServiceAccount of a new namespace",
            lambda: _exists(core.read_namespaced_service_account, "default", namespace),
            timeout,
            "kube-controller-manager",
        )
        labels = {"app": "check"}
        apps.create_namespaced_deployment(
            namespace,
            {
                "metadata": {"name": "check"},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "check", "image": "registry.invalid/check:1"}]},
                    },
                },
            },
        )
        core.create_namespaced_persistent_volume_claim(
            namespace,
            {
                "metadata": {"name": "check"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}},
            },
        )

        def available() -> bool:
            status = apps.read_namespaced_deployment(name="check", namespace=namespace).status
            return any(c.type == "Available" and c.status == "True" for c in status.conditions or [])

        self._await("a Deployment Available", available, timeout, "kwok")
        self._await(
            "a PersistentVolumeClaim Bound",
            lambda: core.read_namespaced_persistent_volume_claim("check", namespace).status.phase == "Bound",
            timeout,
            "kube-controller-manager",
        )
        core.delete_namespace(namespace)
        self._await(
            "the check namespace deleted",
            lambda: not _exists(core.read_namespace, namespace),
            timeout,
            "kube-controller-manager",
        )

    # --- the provisioner ---

    def _start_provisioner(self) -> None:
        self._provisioner = threading.Thread(target=self._provision, name="provisioner", daemon=True)
        self._provisioner.start()

    def _provision(self) -> None:
        with self.api() as api:
            core = client.CoreV1Api(api)
            while not self._stopping.wait(0.5):
                try:
                    self._provision_once(core)
                except Exception:  # the API server may be restarting in a failure test: retry
                    continue

    def _provision_once(self, core: Any) -> None:
        volumes = self.workdir / "volumes"
        for claim in core.list_persistent_volume_claim_for_all_namespaces().items:
            if claim.status.phase != "Pending" or claim.spec.volume_name or claim.metadata.deletion_timestamp:
                continue
            if claim.spec.storage_class_name != STORAGE_CLASS:
                continue
            name = f"pvc-{claim.metadata.uid}"
            (volumes / name).mkdir(parents=True, exist_ok=True)
            body = {
                "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
                "spec": {
                    "capacity": {"storage": (claim.spec.resources.requests or {}).get("storage", "1Gi")},
                    "accessModes": claim.spec.access_modes or ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": STORAGE_CLASS,
                    "volumeMode": claim.spec.volume_mode or "Filesystem",
                    "hostPath": {"path": str(volumes / name), "type": "DirectoryOrCreate"},
                    "claimRef": {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "namespace": claim.metadata.namespace,
                        "name": claim.metadata.name,
                        "uid": claim.metadata.uid,
                    },
                },
            }
            try:
                core.create_persistent_volume(body)
            except ApiException as error:
                if error.status != 409:
                    raise
        for volume in core.list_persistent_volume().items:
            annotations = volume.metadata.annotations or {}
            released = volume.status.phase in ("Released", "Failed")
            if released and annotations.get("pv.kubernetes.io/provisioned-by") == PROVISIONER:
                with contextlib.suppress(ApiException):
                    core.delete_persistent_volume(volume.metadata.name)
                shutil.rmtree(volumes / volume.metadata.name, ignore_errors=True)

    # --- stop ---

    def stop(self) -> None:
        """Stop every component, last started first, and remove the work folder the launcher created."""
        self._stopping.set()
        for name in reversed(COMPONENT_ORDER):
            if name in self.components:
                self.components[name].stop()
        if self._provisioner is not None:
            self._provisioner.join(timeout=5)
        if self.remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> dict[str, Any]:
        return {"kubeconfig": str(self.kubeconfig), "kubectl": str(self.kubectl), "ports": self.ports}


def _exists(read: Callable[..., Any], *args: str) -> bool:
    try:
        read(*args)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def main(argv: list[str] | None = None) -> int:
    """`tests/cluster/up`: the control plane in the foreground until SIGTERM or Ctrl-C."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="tests/cluster/up",
        description="Start the suites' real control plane on loopback; stop it with SIGTERM or Ctrl-C.",
    )
    parser.add_argument("--kubeconfig-out", type=Path, required=True, help="where to write the admin kubeconfig")
    parser.add_argument("--nodes", type=int, default=3, help="fake kwok Nodes (default 3)")
    parser.add_argument("--workdir", type=Path, help="keep state and logs here (default: a temporary folder, removed)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds for each start-up step (default 180)")
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        plane = ControlPlane.create(nodes=args.nodes, workdir=args.workdir, quiet=False)
        plane.start(timeout=args.timeout)
    except ControlPlaneError as error:
        print(f"tests/cluster/up: {error}", file=sys.stderr)
        return 1
    try:
        args.kubeconfig_out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plane.kubeconfig, args.kubeconfig_out)
        args.kubeconfig_out.chmod(0o600)
        print(f"kubectl: {plane.kubectl}", flush=True)
        print(f"logs: {plane.workdir / 'logs'}", flush=True)
        print(f"kubeconfig: {args.kubeconfig_out}", flush=True)
        print("ready", flush=True)
        while not stop.wait(1.0):
            dead = [name for name, component in plane.components.items() if not component.alive()]
            if dead:
                print(f"tests/cluster/up: {', '.join(dead)} exited; stopping the rest", file=sys.stderr)
                for name in dead:
                    print(f"{name}'s log ends:\n{plane.components[name].log_tail()}", file=sys.stderr)
                return 1
    finally:
        plane.stop()
        args.kubeconfig_out.unlink(missing_ok=True)
    return 0
