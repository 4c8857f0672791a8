"""`k8s-manager dev --kubeconfig`: the dev mode against a cluster that runs on its own.

The cluster is the `kubeconfig` fixture's: a standalone emulator in this test process by default, a real cluster
with K8S_MANAGER_TEST_KUBECONFIG. Everything a test creates there has a name of its own (the cluster may be shared);
the CRDs and the manifests' RBAC are the project's, installed by every suite the same way, and stay.
"""

from __future__ import annotations

import base64
import dataclasses
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .dev_process import DevProcess, free_port, start_dev, stop
from .system import eventually, random_credential, unique_name

# Starting the operator and the facade on a loaded 2-core machine, then a Runtime's reconcile and deletion.
pytestmark = pytest.mark.timeout(300)

ACCOUNTS = ("k8s-manager-operator", "k8s-manager-facade")
NAMESPACE = "kre"  # the manifests'
RUNTIME_LABEL = "kre.konstellation.io/runtime"


def current_cluster(kubeconfig: Path) -> dict[str, Any]:
    """The `cluster` map of the kubeconfig's current context."""
    document = yaml.safe_load(kubeconfig.read_text())
    context = next(c for c in document["contexts"] if c["name"] == document["current-context"])["context"]
    return dict(next(c for c in document["clusters"] if c["name"] == context["cluster"])["cluster"])


def ca_data(kubeconfig: Path) -> str | None:
    """The cluster CA of the kubeconfig, as certificate-authority-data, wherever the kubeconfig keeps it."""
    cluster = current_cluster(kubeconfig)
    if "certificate-authority-data" in cluster:
        return str(cluster["certificate-authority-data"])
    if "certificate-authority" in cluster:
        return base64.b64encode((kubeconfig.parent / cluster["certificate-authority"]).read_bytes()).decode()
    return None


def identity_paths(kubeconfig_out: Path) -> dict[str, Path]:
    return {account: kubeconfig_out.with_name(f"{account}.kubeconfig") for account in ACCOUNTS}


def child_kubeconfigs(dev: DevProcess) -> dict[str, str]:
    """The KUBECONFIG of the operator and the facade, by subcommand."""
    found = {}
    for process in dev.descendants():
        with_args = process.cmdline()
        for command in ("operator", "facade"):
            if with_args[1:4] == ["-m", "k8s_manager", command]:
                found[command] = process.environ().get("KUBECONFIG", "")
    return found


@pytest.fixture
def runtime_name(kubectl: Any) -> Iterator[str]:
    """A unique Runtime (and namespace) name; whatever of it is left afterwards is removed without waiting."""
    name = unique_name()
    yield name
    # The operator, which would remove its finalizer, may be gone: drop it, then delete.
    kubectl.run("patch", "runtime", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
    kubectl.run("delete", "runtime", name, "--ignore-not-found", "--wait=false", check=False)
    kubectl.run("delete", "namespace", name, "--ignore-not-found", "--wait=false", check=False)


def create_runtime(port: int, namespace: str, display_name: str) -> str:
    from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc

    runtime = runtime_pb2.Runtime(
        name=display_name,
        namespace=namespace,
        mongo=runtime_pb2.Runtime.MongoConf(
            username="admin", password=random_credential(), sharedKey=random_credential()
        ),
        minio=runtime_pb2.Runtime.MinioConf(accessKey="admin", secretKey=random_credential()),
    )
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub: Any = runtime_pb2_grpc.RuntimeServiceStub(channel)  # type: ignore[no-untyped-call]
        reply = stub.Create(runtime_pb2.Request(runtime=runtime), timeout=30)
    return str(reply.message)


@pytest.mark.cluster
def test_dev_mode_runs_the_system_on_a_cluster_as_its_service_accounts(
    kubeconfig: Path, kubectl: Any, runtime_name: str, tmp_path: Path
):
    port = free_port()
    kubeconfig_out = tmp_path / "dev" / "kubeconfig"
    identities = identity_paths(kubeconfig_out)
    given = kubeconfig.read_bytes()
    dev = start_dev(
        tmp_path, "--kubeconfig", str(kubeconfig), "--kubeconfig-out", str(kubeconfig_out), "--grpc-port", str(port)
    )
    try:
        lines = dev.read_until_ready()

        assert lines == [f"gRPC facade: 127.0.0.1:{port}", f"kubeconfig: {kubeconfig.resolve()}", "ready"]
        assert not kubeconfig_out.exists()  # the given kubeconfig is the admin's: no other is written
        assert child_kubeconfigs(dev) == {
            "operator": str(identities["k8s-manager-operator"]),
            "facade": str(identities["k8s-manager-facade"]),
        }
        for account, path in identities.items():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            document = yaml.safe_load(path.read_text())
            cluster = current_cluster(path)
            assert cluster["server"] == current_cluster(kubeconfig)["server"]
            assert cluster.get("certificate-authority-data") == ca_data(kubeconfig)
            assert "certificate-authority" not in cluster
            assert [user["user"].keys() for user in document["users"]] == [{"token"}], account

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING

        assert create_runtime(port, runtime_name, "Dev Cluster") == "Runtime 'Dev Cluster' created"
        runtime = kubectl.json("get", "runtime", runtime_name)
        assert runtime["spec"]["displayName"] == "Dev Cluster"
        namespace = eventually(
            lambda: kubectl.json("get", "namespaces", "-l", f"{RUNTIME_LABEL}={runtime_name}")["items"],
            "the operator to create the runtime's namespace",
            timeout=120,
        )
        assert [item["metadata"]["name"] for item in namespace] == [runtime_name]
        assert namespace[0]["metadata"]["ownerReferences"][0]["uid"] == runtime["metadata"]["uid"]

        # The children's identities are the manifests' ServiceAccounts, not the admin: the facade's may read
        # Runtimes and nothing else, the operator's reads no Secrets.
        as_facade = dataclasses.replace(kubectl, kubeconfig=identities["k8s-manager-facade"])
        assert as_facade.json("get", "runtime", runtime_name)["metadata"]["uid"] == runtime["metadata"]["uid"]
        for account, path in identities.items():
            denied = dataclasses.replace(kubectl, kubeconfig=path).run("get", "secrets", "-A", check=False)
            assert denied.returncode != 0
            user = f"system:serviceaccount:{NAMESPACE}:{account}"
            assert f'User "{user}" cannot list resource "secrets"' in denied.stderr

        # Deleting goes through the operator's finalizer, so it is done while the operator runs.
        kubectl.run("delete", "runtime", runtime_name, "--timeout=120s", timeout=150)

        dev.process.send_signal(signal.SIGTERM)
        assert dev.process.wait(timeout=60) == 0, dev.log()
    finally:
        children = dev.descendants() if dev.process.poll() is None else []
        stop(dev)
        psutil.wait_procs(children, timeout=5)

    assert [path for path in identities.values() if path.exists()] == []
    assert kubeconfig.read_bytes() == given
    # Installed for good: the CRDs, and the namespace, ServiceAccounts and RBAC the components run under.
    kubectl.run("get", "crd", "runtimes.kre.konstellation.io", "runtimeversions.kre.konstellation.io")
    kubectl.run("get", "clusterrole", "k8s-manager-operator", "k8s-manager-facade", "k8s-manager-runtime-namespace")
    kubectl.run("get", "clusterrolebinding", "k8s-manager-operator", "k8s-manager-facade")
    kubectl.run("get", "serviceaccount", "-n", NAMESPACE, *ACCOUNTS)
    assert "operator | " in dev.log()
    assert "facade | " in dev.log()


def with_files(kubeconfig: Path, directory: Path) -> Path:
    """A copy of the kubeconfig whose CA and client certificate (if any) are files, referred to by paths relative to
    the copy, as kind's and kubeadm's `admin.conf` users often have them."""
    document = yaml.safe_load(kubeconfig.read_text())
    (directory / "pki").mkdir(parents=True)
    inline = {
        "certificate-authority-data": "certificate-authority",
        "client-certificate-data": "client-certificate",
        "client-key-data": "client-key",
    }
    for section, key in (("clusters", "cluster"), ("users", "user")):
        for number, entry in enumerate(document[section]):
            fields = entry[key]
            for data_field, file_field in inline.items():
                if data_field in fields:
                    relative = Path("pki") / f"{section}-{number}-{file_field}.pem"
                    (directory / relative).write_bytes(base64.b64decode(fields.pop(data_field)))
                    fields[file_field] = str(relative)
                elif file_field in fields:
                    fields[file_field] = str((kubeconfig.parent / fields[file_field]).resolve())
    copy = directory / "kubeconfig"
    copy.write_text(yaml.safe_dump(document))
    copy.chmod(0o600)
    return copy


@pytest.mark.cluster
def test_a_kubeconfig_referring_to_certificate_files_is_followed(kubeconfig: Path, kubectl: Any, tmp_path: Path):
    admin = with_files(kubeconfig, tmp_path / "elsewhere")
    ca = ca_data(admin)
    if ca is None:
        pytest.skip("the cluster's kubeconfig names no CA")
    port = free_port()
    identities = identity_paths(tmp_path / "dev" / "kubeconfig")
    # Its working directory is not the kubeconfig's: relative paths are the kubeconfig's, as in kubectl.
    dev = start_dev(
        tmp_path, "--kubeconfig", str(admin), "--kubeconfig-out", "dev/kubeconfig", "--grpc-port", str(port)
    )
    try:
        lines = dev.read_until_ready()
        facade = current_cluster(identities["k8s-manager-facade"])
        listed = dataclasses.replace(kubectl, kubeconfig=identities["k8s-manager-facade"]).run(
            "get", "runtimes", "-o", "name"
        )
        dev.process.send_signal(signal.SIGTERM)
        code = dev.process.wait(timeout=60)
    finally:
        stop(dev)

    assert lines == [f"gRPC facade: 127.0.0.1:{port}", f"kubeconfig: {admin}", "ready"]
    assert facade.get("certificate-authority-data") == ca
    assert "certificate-authority" not in facade
    assert listed.returncode == 0  # the facade's identity reaches the cluster and trusts its CA
    assert code == 0, dev.log()
    assert [path for path in identities.values() if path.exists()] == []


def test_a_missing_kubeconfig_stops_before_anything_is_started(tmp_path: Path):
    dev = start_dev(tmp_path, "--kubeconfig", "nowhere/kubeconfig", "--grpc-port", str(free_port()))
    try:
        code = dev.process.wait(timeout=60)
    finally:
        stop(dev)

    assert code == 1
    assert f"cannot read the kubeconfig {tmp_path / 'nowhere' / 'kubeconfig'}" in dev.log()
    assert "started operator" not in dev.log()
    assert dev.stdout_lines.get(timeout=5) is None  # never ready
    assert not (tmp_path / ".k8s-manager").exists()  # no identity kubeconfig written
