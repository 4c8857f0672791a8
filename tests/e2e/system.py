"""The whole system for end-to-end tests: CRDs, the operator and the facade as real processes.

The operator and the facade run under their identities and RBAC from `manifests/` (tests/identities.py); the
tests' own kubectl is the cluster admin.

Against the emulator by default, or against a real cluster when K8S_MANAGER_TEST_KUBECONFIG is set. On both, the
runtime operator stand-in (cmd/k8s_manager/runtime_standin.py) deploys the runtime components (MongoDB, NATS,
Minio) that the real runtime operator will deploy once it exists (upcoming work): their Deployments' pods become
Running and Ready without running a container, by the emulator's controllers or by kwok's fake Nodes (the suites'
control plane, tests/cluster/). Unlike `k8s-manager dev --kubeconfig`, which never runs the stand-in on a cluster,
the tests do, so that a Runtime gets to Ready there too.

On a real cluster the tests take turns (tests/e2e/conftest.py) and each cleans up after itself: the Runtimes it made
are deleted when it ends (kopf's finalizer dropped first, for no operator runs by then), which takes their namespaces
and everything in them along, and so is the peering object; the test ends once they are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from k8s_manager.runtime_standin import run_standin_forever
from k8s_manager_api.kube import KubeApi
from k8s_manager_api.names import DEPLOYMENTS, MANAGED_BY, MANAGED_BY_LABEL, Resource
from kube_emulator.threaded import ThreadedEmulator

from tests.identities import FACADE, OPERATOR, Identity, identity_kubeconfig, install_rbac

from .api_proxy import ApiProxy
from .background import BackgroundLoop

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
IN_CLUSTER_VARIABLES = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_PORT")
# The ClusterKopfPeering of the manifests' operator (`--peering=k8s-manager`), which the suites' peered runs share.
PEERING = "k8s-manager"
DROP_FINALIZERS = '{"metadata":{"finalizers":null}}'
T = TypeVar("T")


# A node label no Node has: a pod selecting it stays Pending (Unschedulable), as one waiting for a slow volume does.
HELD_NODE_SELECTOR = {"k8s-manager-tests.invalid/held": "true"}


def real_cluster() -> bool:
    """Whether the suites run against a real cluster (K8S_MANAGER_TEST_KUBECONFIG) rather than the emulator."""
    return bool(os.environ.get("K8S_MANAGER_TEST_KUBECONFIG"))


def emulator_or_none(request: Any) -> ThreadedEmulator | None:
    """The test's emulator (the `emulator` fixture), or None on a real cluster."""
    if real_cluster():
        return None
    emulator: ThreadedEmulator = request.getfixturevalue("emulator")
    return emulator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def eventually(check: Callable[[], T | None], what: str, timeout: float = 60.0, interval: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for: {what}")
        time.sleep(interval)


class StandinApi(KubeApi):
    """The stand-in's client: the component Deployments named in `held` get pods that cannot be scheduled."""

    held: set[tuple[str, str]]

    async def create(self, res: Resource, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        if res == DEPLOYMENTS and (namespace, body["metadata"]["name"]) in self.held:
            body = json.loads(json.dumps(body))
            body["spec"]["template"]["spec"]["nodeSelector"] = dict(HELD_NODE_SELECTOR)
        return await super().create(res, body, namespace)


@dataclass
class System:
    kubeconfig: Path
    work: Path
    emulator: ThreadedEmulator | None
    env: dict[str, str]
    grpc_address: str = ""
    operator: subprocess.Popen[bytes] | None = None
    facade: subprocess.Popen[bytes] | None = None
    _standin_loop: BackgroundLoop | None = None
    _standin_task: asyncio.Task[None] | None = None
    _standin_api: StandinApi | None = None
    # Components (namespace, Deployment) whose pods the stand-in keeps unschedulable on a real cluster.
    held: set[tuple[str, str]] = field(default_factory=set)
    logs: dict[str, Path] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    operator_args: tuple[str, ...] = ()
    # The Runtimes a real cluster held before the test (left alone afterwards).
    runtimes_before: frozenset[str] = frozenset()
    # When set, the components reach the API server through it (tests/e2e/api_proxy.py).
    proxy: ApiProxy | None = None

    @property
    def real_cluster(self) -> bool:
        return self.emulator is None

    # ------------------------------------------------------------------ kubectl

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        kubectl = shutil.which("kubectl")
        assert kubectl is not None, "kubectl is part of the contract"
        command = [kubectl, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.work / "kube-cache"), *args]
        result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)} failed: {result.stderr}"
        return result

    def get(self, *args: str) -> Any:
        """`kubectl get ... -o json`, or None when it is not found."""
        result = self.kubectl("get", *args, "-o", "json", check=False)
        if result.returncode != 0:
            assert "NotFound" in result.stderr or "not found" in result.stderr, result.stderr
            return None
        return json.loads(result.stdout)

    # ------------------------------------------------------------------ processes

    def start_operator(self) -> None:
        self.operator = self.spawn_operator("operator", *self.operator_args)

    def spawn_operator(self, name: str, *extra_args: str) -> subprocess.Popen[bytes]:
        """An operator process under the manifests' operator identity, logging to `name`.log."""
        env = {**self.env, **OPERATOR.operator_environment, "KUBECONFIG": str(self.identity_kubeconfig(OPERATOR))}
        return self._spawn(name, [sys.executable, "-m", "k8s_manager", "operator", "-v", *extra_args], env)

    def identity_kubeconfig(self, identity: Identity) -> Path:
        path = self.work / f"kubeconfig-{identity.service_account}"
        if path.exists():
            return path
        identity_kubeconfig(identity, self.kubeconfig, path)
        return path if self.proxy is None else self.proxy.route(identity, path)

    def kill_operator(self) -> None:
        assert self.operator is not None
        self.operator.send_signal(signal.SIGKILL)
        self.operator.wait(timeout=30)

    def start_facade(self) -> None:
        port = free_port()
        self.grpc_address = f"127.0.0.1:{port}"
        args = [sys.executable, "-m", "k8s_manager", "facade", "--host", "127.0.0.1", "--port", str(port)]
        env = {**self.env, "KUBECONFIG": str(self.identity_kubeconfig(FACADE))}
        self.facade = self._spawn("facade", args, env)
        eventually(self._facade_serving, "the facade to serve health checks", timeout=60)

    def _facade_serving(self) -> bool:
        assert self.facade is not None
        assert self.facade.poll() is None, f"the facade exited:\n{self.log('facade')}"
        with grpc.insecure_channel(self.grpc_address) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            except grpc.RpcError:
                return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log_path = self.work / f"{name}.log"
        self.logs[name] = log_path
        with log_path.open("ab") as sink:
            process = subprocess.Popen(args, env=env, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        path = self.logs.get(name)
        return path.read_text(errors="replace") if path and path.exists() else ""

    # ------------------------------------------------------------------ the runtime operator stand-in

    def start_standin(self) -> None:
        """Run the stand-in (as the cluster admin) in a thread of its own until `stop`."""
        loop = self._standin_loop = BackgroundLoop("runtime-operator-standin")

        async def boot() -> None:
            api = await StandinApi.connect(str(self.kubeconfig))
            assert isinstance(api, StandinApi)
            api.held = self.held
            self._standin_api = api
            self._standin_task = asyncio.get_running_loop().create_task(run_standin_forever(api))

        loop.call(boot)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        loop = self._standin_loop
        if loop is not None:

            async def shutdown() -> None:
                task = self._standin_task
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                if self._standin_api is not None:
                    await self._standin_api.close()

            try:
                loop.call(shutdown)
            finally:
                loop.close()
                self._standin_loop = None

    def hold_component(self, namespace: str, name: str) -> None:
        """Keep a runtime component's pod from becoming Ready, as a slow volume would, until `release_component`.

        Before the component is deployed. On the emulator through its workload control; on a real cluster the
        stand-in deploys it with a node selector no Node matches, so that its pod stays Pending.
        """
        emulator = self.emulator
        if emulator is not None:
            emulator.run_sync(lambda: emulator.emulator.controllers.set_workload_ready(namespace, name, False))
        else:
            self.held.add((namespace, name))

    def release_component(self, namespace: str, name: str) -> None:
        emulator = self.emulator
        if emulator is not None:
            emulator.run_sync(lambda: emulator.emulator.controllers.set_workload_ready(namespace, name, True))
        else:
            self.held.discard((namespace, name))
            unhold = '[{"op": "remove", "path": "/spec/template/spec/nodeSelector"}]'
            self.kubectl("patch", "deployment", name, "-n", namespace, "--type=json", "-p", unhold)

    # ------------------------------------------------------------------ a shared real cluster

    def runtime_names(self) -> frozenset[str]:
        return frozenset(item["metadata"]["name"] for item in self.get("runtimes")["items"])

    def remember_the_cluster(self) -> None:
        """Note the Runtimes there are, and delete the peering object an interrupted run may have left: the
        peered operators started next create it, as they would on a new cluster.

        First wait until the runtime namespaces still being deleted (the dev-mode tests' do not wait; an
        interrupted run's may be held by kopf's finalizer on versions, released here as no operator runs yet) are
        gone, so that this test's operator does not work on what is left of them meanwhile."""
        for namespace in self.terminating_runtime_namespaces():
            versions = self.get("runtimeversions", "-n", namespace)
            for version in versions["items"] if versions else []:
                held = ["runtimeversion", version["metadata"]["name"], "-n", namespace]
                self.kubectl("patch", *held, "--type=merge", "-p", DROP_FINALIZERS, check=False)
        eventually(
            lambda: not self.terminating_runtime_namespaces(),
            "the runtime namespaces of an earlier test to be deleted",
            timeout=180,
            interval=0.5,
        )
        self.runtimes_before = self.runtime_names()
        self.kubectl("delete", "clusterkopfpeering", PEERING, "--ignore-not-found", "--wait=true")

    def terminating_runtime_namespaces(self) -> list[str]:
        listed = self.get("namespaces", "-l", f"{MANAGED_BY_LABEL}={MANAGED_BY},{RUNTIME_LABEL}")
        return [item["metadata"]["name"] for item in listed["items"] if item["metadata"].get("deletionTimestamp")]

    def clean_up(self) -> None:
        """Delete what the test made on a real cluster, once its processes are stopped, and wait until it is gone.

        Runtimes and their versions carry kopf's finalizer, which no operator removes any more: it is dropped, then
        the Runtimes deleted; their namespaces (and everything in them) go with them, as the operator's objects are
        owned by their Runtime. Awaited (about 15 s), so that nothing of it is left for the next test's operator
        to find: one that saw the versions of a namespace still being deleted would put its finalizer back on them,
        and once it stopped the namespace would stay Terminating for good. The peering object goes too.
        """
        made = sorted(self.runtime_names() - self.runtimes_before)
        for name in made:
            versions = self.get("runtimeversions", "-n", name)
            for version in versions["items"] if versions else []:
                held = ["runtimeversion", version["metadata"]["name"], "-n", name]
                self.kubectl("patch", *held, "--type=merge", "-p", DROP_FINALIZERS, check=False)
            self.kubectl("patch", "runtime", name, "--type=merge", "-p", DROP_FINALIZERS, check=False)
            self.kubectl("delete", "runtime", name, "--ignore-not-found", "--wait=false", check=False)
        self.kubectl("delete", "clusterkopfpeering", PEERING, "--ignore-not-found", "--wait=false", check=False)
        eventually(
            lambda: not self.terminating_runtime_namespaces() and all(self.get("namespace", n) is None for n in made),
            "the test's runtime namespaces to be deleted",
            timeout=180,
            interval=0.5,
        )


@contextlib.contextmanager
def running_system(
    work: Path,
    emulator: ThreadedEmulator | None,
    kubeconfig: Path,
    facade: bool = True,
    operator_args: tuple[str, ...] = (),
    proxy: ApiProxy | None = None,
) -> Iterator[System]:
    """CRDs, the manifests' RBAC, the operator (with `operator_args`) and the facade (through `proxy` if given)."""
    env = {key: value for key, value in os.environ.items() if key not in IN_CLUSTER_VARIABLES}
    env["KUBECONFIG"] = str(kubeconfig)
    env["KRE_RUNTIME_RESYNC_INTERVAL"] = env.get("KRE_RUNTIME_RESYNC_INTERVAL", "2")
    system = System(
        kubeconfig=kubeconfig, work=work, emulator=emulator, env=env, operator_args=operator_args, proxy=proxy
    )
    crd_files = sorted(CRDS.glob("*.yaml"))
    for crd_file in crd_files:
        system.kubectl("apply", "-f", str(crd_file))
    crds = [f"crd/{crd_file.stem}" for crd_file in crd_files]  # files are named after their CRD
    system.kubectl("wait", "--for=condition=Established", *crds, "--timeout=60s")
    install_rbac(kubeconfig)
    if system.real_cluster:
        system.remember_the_cluster()
    try:
        system.start_standin()
        system.start_operator()
        if facade:
            system.start_facade()
        yield system
    finally:
        system.stop()
        if system.real_cluster:
            system.clean_up()


ALPHABET = string.ascii_letters + string.digits
RUNTIME_LABEL = "kre.konstellation.io/runtime"


def random_credential() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(8))


def runtime_manifest(name: str, credentials: dict[str, str]) -> str:
    return json.dumps(
        {
            "apiVersion": "kre.konstellation.io/v1alpha1",
            "kind": "Runtime",
            "metadata": {"name": name},
            "spec": {
                "displayName": name.removeprefix("kre-").title(),
                "entrypoint": {"host": f"{name}.local"},
                "mongo": {
                    "credentials": {
                        "username": "admin",
                        "password": credentials["password"],
                        "sharedKey": credentials["sharedKey"],
                    }
                },
                "minio": {"credentials": {"accessKey": "admin", "secretKey": credentials["secretKey"]}},
            },
        }
    )


def unique_name() -> str:
    return "kre-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))


def ready(system: System, name: str) -> dict[str, Any] | None:
    runtime = system.get("runtime", name)
    conditions = ((runtime or {}).get("status") or {}).get("conditions") or []
    ready_now = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return runtime if ready_now else None


def owned_objects(system: System, name: str) -> dict[str, list[str]]:
    """Every object labelled with the runtime, by kind (cluster-wide), as `kubectl get` lists them."""
    kinds = "namespaces,serviceaccounts,secrets,roles,rolebindings,deployments,clusterroles,clusterrolebindings"
    listed = system.get(kinds, "-A", "-l", f"{RUNTIME_LABEL}={name}")
    found: dict[str, list[str]] = {}
    for item in listed["items"]:
        found.setdefault(item["kind"], []).append(item["metadata"]["name"])
    return {kind: sorted(names) for kind, names in found.items()}


EXPECTED_KINDS = {
    "ClusterRole": ["kre-runtime-{name}"],
    "ClusterRoleBinding": ["kre-runtime-{name}"],
    "Deployment": ["kre-operator"],
    "Namespace": ["{name}"],
    "Role": ["kre-operator"],
    "RoleBinding": ["k8s-manager-operator", "kre-operator"],
    "Secret": ["kre-runtime-credentials"],
    "ServiceAccount": ["kre-operator"],
}


def expected_objects(name: str) -> dict[str, list[str]]:
    return {kind: [n.format(name=name) for n in names] for kind, names in EXPECTED_KINDS.items()}
