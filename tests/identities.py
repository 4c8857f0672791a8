"""The operator's and the facade's identities and RBAC exactly as `manifests/` installs them, for the tests.

The suites run both components under these identities, so a permission missing from the manifests fails a test;
`tests/e2e/test_least_privilege.py` fails on a permission granted there that no test needed. On the emulator the
tokens come from the emulator; on a real cluster (K8S_MANAGER_TEST_KUBECONFIG) from `kubectl create token`.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kube_emulator.kubeconfig import kubeconfig_document
from kube_emulator.threaded import ThreadedEmulator

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
# What the suites need of the manifests: who the components are and what they may do (not their Deployments).
RBAC_KINDS = frozenset({"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"})


@dataclass(frozen=True)
class Identity:
    namespace: str
    service_account: str

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def operator_environment(self) -> dict[str, str]:
        """What the manifests' Deployment gives the operator through the downward API."""
        return {"KRE_OPERATOR_NAMESPACE": self.namespace, "KRE_OPERATOR_SERVICE_ACCOUNT": self.service_account}


OPERATOR = Identity("kre", "k8s-manager-operator")
FACADE = Identity("kre", "k8s-manager-facade")


@functools.cache
def rendered_manifests() -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize manifests/`, parsed (once per test process)."""
    result = subprocess.run([_kubectl(), "kustomize", str(MANIFESTS)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize manifests/ failed: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def rbac_objects() -> list[dict[str, Any]]:
    return [obj for obj in rendered_manifests() if obj["kind"] in RBAC_KINDS]


def operator_peering_flag() -> str:
    """The `--peering=NAME` the manifests' operator Deployment runs with."""
    for obj in rendered_manifests():
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == OPERATOR.service_account:
            for container in obj["spec"]["template"]["spec"]["containers"]:
                flags = [arg for arg in container.get("args", []) if arg.startswith("--peering=")]
                if flags:
                    return str(flags[0])
    raise AssertionError("the manifests' operator runs without --peering")


def install_rbac(admin_kubeconfig: Path) -> None:
    """Apply the manifests' namespace, ServiceAccounts, roles and bindings as the cluster admin."""
    document = yaml.safe_dump_all(rbac_objects())
    result = subprocess.run(
        [_kubectl(), "--kubeconfig", str(admin_kubeconfig), "apply", "-f", "-"],
        input=document,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"applying the manifests' RBAC failed: {result.stderr}"


def _kubectl() -> str:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl is part of the contract"
    return kubectl


def identity_kubeconfig(
    identity: Identity, admin_kubeconfig: Path, path: Path, emulator: ThreadedEmulator | None
) -> Path:
    """A kubeconfig for `identity`: the admin's cluster entry with the ServiceAccount's bearer token."""
    if emulator is not None:
        token = emulator.service_account_token(identity.namespace, identity.service_account)
        return emulator.write_kubeconfig(path, token=token)
    command = [_kubectl(), "--kubeconfig", str(admin_kubeconfig), "create", "token", identity.service_account]
    result = subprocess.run(
        [*command, "-n", identity.namespace, "--duration=2h"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"kubectl create token failed: {result.stderr}"
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    current = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == current["cluster"])["cluster"]
    document = kubeconfig_document(cluster["server"], result.stdout.strip())
    document["clusters"][0]["cluster"] = cluster  # keep the cluster's CA and TLS settings  # type: ignore[index]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path
