"""The whole system for end-to-end tests: CRDs, the operator and the facade as real processes.

The operator and the facade run under their identities and RBAC from `manifests/` (tests/identities.py); the
tests' own kubectl is the cluster admin.

Against the emulator by default (with the runtime operator stand-in deploying the runtime components), or
against a real cluster when K8S_MANAGER_TEST_KUBECONFIG is set (then the cluster's runtime operator must
deploy the components for RuntimeStatus to reach STARTED).
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
from kube_emulator.threaded import ThreadedEmulator

from tests.identities import FACADE, OPERATOR, Identity, identity_kubeconfig, install_rbac

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
IN_CLUSTER_VARIABLES = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_PORT")
T = TypeVar("T")


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


@dataclass
class System:
    kubeconfig: Path
    work: Path
    emulator: ThreadedEmulator | None
    env: dict[str, str]
    grpc_address: str = ""
    operator: subprocess.Popen[bytes] | None = None
    facade: subprocess.Popen[bytes] | None = None
    _standin_task: asyncio.Task[None] | None = None
    _standin_api: KubeApi | None = None
    logs: dict[str, Path] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    operator_args: tuple[str, ...] = ()

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
        return path if path.exists() else identity_kubeconfig(identity, self.kubeconfig, path)

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
        emulator = self.emulator
        if emulator is None:
            return  # a real cluster runs the real runtime operator

        async def boot() -> None:
            self._standin_api = await KubeApi.connect(str(self.kubeconfig))
            loop = asyncio.get_running_loop()
            self._standin_task = loop.create_task(run_standin_forever(self._standin_api))

        emulator.call(boot)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        if self.emulator is not None and self._standin_api is not None:
            api = self._standin_api

            async def shutdown() -> None:
                task = self._standin_task
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await api.close()

            self.emulator.call(shutdown)


@contextlib.contextmanager
def running_system(
    work: Path,
    emulator: ThreadedEmulator | None,
    kubeconfig: Path,
    facade: bool = True,
    operator_args: tuple[str, ...] = (),
) -> Iterator[System]:
    """CRDs, the manifests' RBAC, the operator (with `operator_args`) and the facade."""
    env = {key: value for key, value in os.environ.items() if key not in IN_CLUSTER_VARIABLES}
    env["KUBECONFIG"] = str(kubeconfig)
    env["KRE_RUNTIME_RESYNC_INTERVAL"] = env.get("KRE_RUNTIME_RESYNC_INTERVAL", "2")
    system = System(kubeconfig=kubeconfig, work=work, emulator=emulator, env=env, operator_args=operator_args)
    crd_files = sorted(CRDS.glob("*.yaml"))
    for crd_file in crd_files:
        system.kubectl("apply", "-f", str(crd_file))
    crds = [f"crd/{crd_file.stem}" for crd_file in crd_files]  # files are named after their CRD
    system.kubectl("wait", "--for=condition=Established", *crds, "--timeout=60s")
    install_rbac(kubeconfig)
    try:
        system.start_standin()
        system.start_operator()
        if facade:
            system.start_facade()
        yield system
    finally:
        system.stop()


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
