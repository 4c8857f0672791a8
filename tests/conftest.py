"""Shared fixtures: the cluster under test, a kubectl bound to it, and a fresh namespace in it.

By default the cluster is the embedded emulator on loopback (in a background thread). Two ways to run the suites on
a real control plane instead, where the tests marked `cluster` run and every other test is skipped (those need the
emulator itself: fault injection, compaction, workload readiness control, or what only a fresh emulator makes true):

- `K8S_MANAGER_TEST_CLUSTER=real`: this run starts the upstream control plane of tests/cluster/ (kube-apiserver,
  kube-controller-manager, kube-scheduler, etcd and kwok on loopback, built by tests/cluster/build) once, shared by
  every xdist worker, and stops it at the end; its kubectl (same release) is put first on PATH;
- `K8S_MANAGER_TEST_KUBECONFIG=PATH`: an existing cluster (its current context), such as `tests/cluster/up`'s.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kube_emulator import EmulatorSettings
from kube_emulator.threaded import ThreadedEmulator
from kubernetes.client.exceptions import ApiException

from tests.identities import FACADE, identity_kubeconfig, install_rbac

# kubernetes>=37 types every model field as Optional; the fixtures check values at run time, so they use the
# client untyped (as the tests do).
client: Any = kubernetes.client
config: Any = kubernetes.config

CONTROL_PLANE_ENV = "K8S_MANAGER_TEST_CLUSTER"
KUBECONFIG_ENV = "K8S_MANAGER_TEST_KUBECONFIG"


def pytest_configure(config: pytest.Config) -> None:
    """With K8S_MANAGER_TEST_CLUSTER=real, start the control plane before xdist starts its workers, which inherit
    its kubeconfig and kubectl through the environment; `pytest_unconfigure` stops it."""
    mode = os.environ.get(CONTROL_PLANE_ENV, "")
    if mode not in ("", "emulator", "real"):
        raise pytest.UsageError(f"{CONTROL_PLANE_ENV} must be 'real' or 'emulator', not {mode!r}")
    if mode != "real" or hasattr(config, "workerinput") or os.environ.get(KUBECONFIG_ENV):
        return
    from tests.cluster.controlplane import ControlPlane, ControlPlaneError

    try:
        plane = ControlPlane.create()
        plane.start()
    except ControlPlaneError as error:
        raise pytest.UsageError(f"{CONTROL_PLANE_ENV}=real: the control plane did not start: {error}") from None
    config.stash[_CONTROL_PLANE] = plane
    os.environ[KUBECONFIG_ENV] = str(plane.kubeconfig)
    os.environ["PATH"] = f"{plane.bin_dir}{os.pathsep}{os.environ['PATH']}"
    _discover_cluster()


def pytest_unconfigure(config: pytest.Config) -> None:
    plane = config.stash.get(_CONTROL_PLANE, None)
    if plane is not None:
        plane.stop()


_CONTROL_PLANE: pytest.StashKey[Any] = pytest.StashKey()
KUBECTL: str | None = None
REAL_CLUSTER_KUBECONFIG = ""
REAL_CLUSTER_KUBECONFIG_PATH: Path | None = None


def _discover_cluster() -> None:
    """Read the cluster under test from the environment (again, once pytest_configure may have started one)."""
    global KUBECTL, REAL_CLUSTER_KUBECONFIG, REAL_CLUSTER_KUBECONFIG_PATH
    KUBECTL = shutil.which("kubectl")
    REAL_CLUSTER_KUBECONFIG = os.environ.get(KUBECONFIG_ENV, "")
    # Absolute: subprocesses started with another working directory get it through KUBECONFIG.
    REAL_CLUSTER_KUBECONFIG_PATH = (
        Path(REAL_CLUSTER_KUBECONFIG).expanduser().resolve() if REAL_CLUSTER_KUBECONFIG else None
    )


_discover_cluster()

# Every namespace the tests make carries this label, so leftovers of an interrupted run are easy to find:
# kubectl delete namespace -l app.kubernetes.io/created-by=k8s-manager-tests
CREATED_BY_LABEL = "app.kubernetes.io/created-by"
CREATED_BY = "k8s-manager-tests"
NAMESPACE_READY_DEADLINE = 60.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Against a real cluster, run only the tests marked `cluster`."""
    if REAL_CLUSTER_KUBECONFIG_PATH is None:
        return
    if not REAL_CLUSTER_KUBECONFIG_PATH.is_file():
        reason = f"K8S_MANAGER_TEST_KUBECONFIG is set, but there is no kubeconfig at {REAL_CLUSTER_KUBECONFIG_PATH}"
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))
        return
    emulator_only = pytest.mark.skip(
        reason="emulator only (not marked `cluster`); K8S_MANAGER_TEST_KUBECONFIG points at a real cluster"
    )
    for item in items:
        if item.get_closest_marker("cluster") is None:
            item.add_marker(emulator_only)


@dataclass
class Kubectl:
    kubeconfig: Path
    cache_dir: Path
    namespace: str | None = None

    def in_namespace(self, namespace: str) -> Kubectl:
        """The same kubectl with `--namespace` on every command."""
        return dataclasses.replace(self, namespace=namespace)

    def command(self, *args: str) -> list[str]:
        assert KUBECTL is not None, "kubectl is not installed"
        scope = ["--namespace", self.namespace] if self.namespace else []
        return [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *scope, *args]

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.command(*args), input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)


@pytest.fixture
def emulator() -> Iterator[ThreadedEmulator]:
    """A fresh emulator; workloads become ready 0.2 s after they are observed."""
    if REAL_CLUSTER_KUBECONFIG:
        pytest.skip("needs the emulator itself; K8S_MANAGER_TEST_KUBECONFIG points at a real cluster")
    with ThreadedEmulator(EmulatorSettings(workload_ready_after=0.2, bookmark_interval=0.5)) as running:
        yield running


@pytest.fixture
def on_emulator() -> bool:
    """Whether the cluster under test is the emulator (for what tests assert of it alone, such as its version)."""
    return REAL_CLUSTER_KUBECONFIG_PATH is None


@pytest.fixture
def kubeconfig(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A kubeconfig for the cluster under test (the emulator unless a real cluster is configured)."""
    if REAL_CLUSTER_KUBECONFIG_PATH is not None:
        return REAL_CLUSTER_KUBECONFIG_PATH
    running: ThreadedEmulator = request.getfixturevalue("emulator")
    return running.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def facade_kubeconfig(kubeconfig: Path, tmp_path: Path) -> Path:
    """A kubeconfig for the facade's identity, with the manifests' RBAC installed (tests/identities.py)."""
    install_rbac(kubeconfig)
    return identity_kubeconfig(FACADE, kubeconfig, tmp_path / "facade-kubeconfig")


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    if KUBECTL is None:
        pytest.fail("kubectl is not installed: the kubectl path is part of the contract")
    return Kubectl(kubeconfig, tmp_path / "kubectl-cache")


@pytest.fixture
def namespace(kubeconfig: Path) -> Iterator[str]:
    """A new namespace of its own for the test, deleted afterwards.

    Handed over once it holds what the cluster puts in every namespace (the `default` ServiceAccount and the
    `kube-root-ca.crt` ConfigMap), so that tests see no object appear behind their back. On the way out the
    finalizers left on ConfigMaps and Deployments (the kinds tests hold with finalizers) are dropped, so that
    nothing keeps the namespace in Terminating; its deletion is not awaited.
    """
    name = f"k8s-manager-test-{uuid.uuid4().hex[:8]}"
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": name, "labels": {CREATED_BY_LABEL: CREATED_BY}}})
        try:
            wait_for(lambda: exists(core.read_namespaced_service_account, "default", name), "its ServiceAccount")
            wait_for(lambda: exists(core.read_namespaced_config_map, "kube-root-ca.crt", name), "its CA bundle")
            yield name
        finally:
            release_finalizers(core.list_namespaced_config_map(name).items, core.patch_namespaced_config_map)
            apps = client.AppsV1Api(api)
            release_finalizers(apps.list_namespaced_deployment(name).items, apps.patch_namespaced_deployment)
            ignore_not_found(core.delete_namespace, name)


def wait_for(check: Callable[[], bool], what: str, deadline: float = NAMESPACE_READY_DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"the new namespace did not get {what} within {deadline} s")
        time.sleep(0.1)


def exists(read: Callable[..., Any], *args: str) -> bool:
    try:
        read(*args)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def ignore_not_found(call: Callable[..., Any], *args: Any) -> None:
    try:
        call(*args)
    except ApiException as error:
        if error.status != 404:
            raise


def release_finalizers(objects: list[Any], patch: Callable[..., Any]) -> None:
    for obj in objects:
        if obj.metadata.finalizers:
            ignore_not_found(patch, obj.metadata.name, obj.metadata.namespace, {"metadata": {"finalizers": None}})
