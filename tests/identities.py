"""The operator's and the facade's identities and RBAC exactly as `manifests/` installs them, for the tests.

The suites run both components under these identities, so a permission missing from the manifests fails a test;
`tests/e2e/test_least_privilege.py` fails on a permission granted there that no test needed. Their tokens come
from TokenRequests, on the emulator as on a real cluster (K8S_MANAGER_TEST_KUBECONFIG).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import yaml

# The `kubernetes` client is typed Optional everywhere; used untyped, as the suites use it.
client: Any = kubernetes.client
config: Any = kubernetes.config

ROOT = Path(__file__).resolve().parents[1]
# Long enough for the longest suite; a real cluster may cap it (the API server's --service-account-max-token-...).
TOKEN_SECONDS = 4 * 3600
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


def identity_kubeconfig(identity: Identity, admin_kubeconfig: Path, path: Path) -> Path:
    """A kubeconfig for `identity`: the admin's, with the token of a TokenRequest for the ServiceAccount instead of
    the admin's credentials (what `kubectl create token` asks for; kubectl sends it as protobuf, which the emulator
    does not read, so the request goes through the Python client here, on the emulator and on a real cluster)."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(admin_kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        answer = client.CoreV1Api(api).create_namespaced_service_account_token(
            identity.service_account, identity.namespace, {"spec": {"expirationSeconds": TOKEN_SECONDS}}
        )
    document = yaml.safe_load(admin_kubeconfig.read_text())
    context = next(c for c in document["contexts"] if c["name"] == document["current-context"])["context"]
    for user in document["users"]:
        if user["name"] == context["user"]:
            user["user"] = {"token": answer.status.token}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path
