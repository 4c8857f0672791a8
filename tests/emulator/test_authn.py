"""Authentication as kube-apiserver does it: bearer tokens, anonymous requests, 401 for an unknown token.

The emulator hands out the tokens (admin, any user, ServiceAccounts); kubeconfigs point at its HTTPS listener,
because kubectl sends no credentials over plain HTTP.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import requests
import yaml
from kube_emulator.threaded import ThreadedEmulator
from kubernetes.client.exceptions import ApiException

client: Any = kubernetes.client
config: Any = kubernetes.config

pytestmark = pytest.mark.kubectl

UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def get(emulator: ThreadedEmulator, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(emulator.url + path, headers=headers, timeout=10)


def kubectl_as(
    emulator: ThreadedEmulator, token: str | None, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    kubeconfig = emulator.write_kubeconfig(tmp_path / f"kubeconfig-{len(list(tmp_path.iterdir()))}", token)
    command = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------------------------------------- anonymous


def test_no_credentials_is_system_anonymous(emulator: ThreadedEmulator) -> None:
    # system:public-info-viewer is bound to system:unauthenticated: health and version are public.
    assert get(emulator, "/version").json()["major"] == "1"
    assert get(emulator, "/healthz").status_code == 200
    # Discovery is for authenticated users only (system:discovery).
    answer = get(emulator, "/apis")
    assert answer.status_code == 403
    assert answer.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'forbidden: User "system:anonymous" cannot get path "/apis"',
        "reason": "Forbidden",
        "details": {},
        "code": 403,
    }
    listed = get(emulator, "/api/v1/namespaces").json()
    assert listed["message"] == (
        'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" '
        "at the cluster scope"
    )


@pytest.mark.parametrize("header", ["Basic YWRtaW46YWRtaW4=", "Negotiate x", "Bearer", "Bearer  x"])
def test_headers_without_a_bearer_token_are_anonymous(emulator: ThreadedEmulator, header: str) -> None:
    """kube-apiserver's bearer authenticator ignores other schemes and empty tokens: anonymous, not 401."""
    answer = get(emulator, "/apis", {"Authorization": header})
    assert answer.status_code == 403
    assert answer.json()["message"] == 'forbidden: User "system:anonymous" cannot get path "/apis"'


# ------------------------------------------------------------------------------------------- bad tokens


@pytest.mark.parametrize("path", ["/api/v1/namespaces", "/version", "/apis", "/api/v1/namespaces/default/pods/x"])
def test_unknown_token_is_401_everywhere(emulator: ThreadedEmulator, path: str) -> None:
    answer = get(emulator, path, bearer("not-a-token"))
    assert answer.status_code == 401
    assert answer.json() == UNAUTHORIZED
    assert "not-a-token" not in answer.text


def test_a_token_is_never_logged(emulator: ThreadedEmulator, caplog: pytest.LogCaptureFixture) -> None:
    secret = emulator.add_identity("alice")
    with caplog.at_level(logging.DEBUG):
        get(emulator, "/api/v1/namespaces", bearer(secret))
        get(emulator, "/api/v1/namespaces", bearer(secret + "x"))
        requests.post(emulator.url + "/api/v1/namespaces", data="{", headers=bearer(secret), timeout=10)
    assert secret not in caplog.text


def test_unknown_token_through_the_client(emulator: ThreadedEmulator, tmp_path: Path) -> None:
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig", "forged")
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api, pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).list_namespace()
    assert caught.value.status == 401
    result = kubectl_as(emulator, "forged", tmp_path, "get", "namespaces")
    assert result.returncode == 1
    assert result.stderr.endswith(
        "error: You must be logged in to the server (the server has asked for the client to provide credentials)\n"
    )


# ------------------------------------------------------------------------------------------- good tokens


def test_admin_token_and_kubeconfig(emulator: ThreadedEmulator, tmp_path: Path) -> None:
    assert get(emulator, "/api/v1/namespaces", bearer(emulator.admin_token)).status_code == 200
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    assert stat.S_IMODE(os.stat(kubeconfig).st_mode) == 0o600
    document = yaml.safe_load(kubeconfig.read_text())
    assert document["users"][0]["user"] == {"token": emulator.admin_token}
    cluster = document["clusters"][0]["cluster"]
    assert cluster["server"] == emulator.secure_url
    assert emulator.secure_url.startswith("https://127.0.0.1:")
    assert base64.b64decode(cluster["certificate-authority-data"]).startswith(b"-----BEGIN CERTIFICATE-----")

    result = kubectl_as(emulator, None, tmp_path, "get", "namespaces", "-o", "name")
    assert result.returncode == 0, result.stderr
    assert "namespace/kube-system" in result.stdout.split()
    result = kubectl_as(emulator, None, tmp_path, "get", "clusterroles", "-o", "name")
    assert "clusterrole.rbac.authorization.k8s.io/cluster-admin" in result.stdout.split()


def test_the_kube_root_ca_is_the_api_servers_ca(emulator: ThreadedEmulator, tmp_path: Path) -> None:
    document = yaml.safe_load(emulator.write_kubeconfig(tmp_path / "kubeconfig").read_text())
    ca = base64.b64decode(document["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    answer = requests.get(
        emulator.secure_url + "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
        headers=bearer(emulator.admin_token),
        verify=str(write(tmp_path / "ca.crt", ca)),
        timeout=10,
    )
    assert answer.json()["data"]["ca.crt"] == ca


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_user_token_is_that_user_in_system_authenticated(emulator: ThreadedEmulator, tmp_path: Path) -> None:
    alice, again = emulator.add_identity("alice", ["devs"]), emulator.add_identity("alice", ["devs"])
    assert len({alice, again, emulator.admin_token}) == 3
    # Discovery is open to every authenticated user, the rest is not.
    assert get(emulator, "/apis", bearer(alice)).status_code == 200
    assert get(emulator, "/api/v1", bearer(alice)).status_code == 200
    denied = get(emulator, "/api/v1/namespaces", bearer(alice)).json()
    assert 'User "alice" cannot list resource "namespaces"' in denied["message"]

    result = kubectl_as(emulator, alice, tmp_path, "get", "namespaces")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (Forbidden): namespaces is forbidden: User "alice" cannot list resource "namespaces" '
        'in API group "" at the cluster scope'
    )

    # Its groups are the ones given, and system:authenticated.
    for group, token in (("devs", alice), ("system:authenticated", emulator.add_identity("bob"))):
        grant_listing_namespaces(emulator, f"for-{group.replace(':', '-')}", {"kind": "Group", "name": group})
        assert get(emulator, "/api/v1/namespaces", bearer(token)).status_code == 200


def grant_listing_namespaces(emulator: ThreadedEmulator, name: str, subject: dict[str, str]) -> None:
    admin = bearer(emulator.admin_token)
    rbac = emulator.url + "/apis/rbac.authorization.k8s.io/v1"
    role = {"metadata": {"name": name}, "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}]}
    assert requests.post(f"{rbac}/clusterroles", json=role, headers=admin, timeout=10).status_code == 201
    binding = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", **subject}],
    }
    assert requests.post(f"{rbac}/clusterrolebindings", json=binding, headers=admin, timeout=10).status_code == 201


def test_service_account_token(emulator: ThreadedEmulator) -> None:
    token = emulator.service_account_token("kre", "operator")
    denied = get(emulator, "/api/v1/namespaces", bearer(token)).json()
    assert 'User "system:serviceaccount:kre:operator" cannot list' in denied["message"]
    # The groups of a ServiceAccount's token: all ServiceAccounts, those of its namespace.
    grant_listing_namespaces(emulator, "kre-accounts", {"kind": "Group", "name": "system:serviceaccounts:kre"})
    assert get(emulator, "/api/v1/namespaces", bearer(token)).status_code == 200
    other = emulator.service_account_token("elsewhere", "operator")
    assert get(emulator, "/api/v1/namespaces", bearer(other)).status_code == 403
    grant_listing_namespaces(emulator, "all-accounts", {"kind": "Group", "name": "system:serviceaccounts"})
    assert get(emulator, "/api/v1/namespaces", bearer(other)).status_code == 200


def token_request(emulator: ThreadedEmulator, as_token: str, namespace: str, name: str, **spec: Any) -> Any:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    url = f"{emulator.url}/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
    return requests.post(url, json=body, headers=bearer(as_token), timeout=10)


@pytest.mark.cluster
def test_a_token_request_mints_a_token_of_the_service_account(kubeconfig: Path, namespace: str, tmp_path: Path) -> None:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_service_account(namespace, {"metadata": {"name": "operator"}})
        request = {"spec": {"expirationSeconds": 3600}}
        answer = core.create_namespaced_service_account_token("operator", namespace, request)
    assert answer.status.token
    assert answer.spec.expiration_seconds == 3600
    assert answer.status.expiration_timestamp is not None

    document = yaml.safe_load(kubeconfig.read_text())
    context = next(c for c in document["contexts"] if c["name"] == document["current-context"])["context"]
    user = next(u for u in document["users"] if u["name"] == context["user"])
    user["user"] = {"token": answer.status.token}
    account_kubeconfig = tmp_path / "account-kubeconfig"
    account_kubeconfig.write_text(yaml.safe_dump(document))
    as_account = client.Configuration()
    config.load_kube_config(config_file=str(account_kubeconfig), client_configuration=as_account)
    with client.ApiClient(as_account) as api, pytest.raises(ApiException) as denied:
        client.CoreV1Api(api).list_namespace()
    body = str(denied.value.body)
    assert denied.value.status == 403
    assert f"system:serviceaccount:{namespace}:operator" in body
    assert answer.status.token not in body


def test_a_token_request_needs_the_service_account_and_the_permission(emulator: ThreadedEmulator) -> None:
    assert token_request(emulator, emulator.admin_token, "default", "nobody").status_code == 404
    too_short = token_request(emulator, emulator.admin_token, "default", "default", expirationSeconds=60)
    assert too_short.status_code == 422
    assert "may not specify a duration less than 10 minutes" in too_short.json()["message"]
    outsider = emulator.add_identity("mallory")
    denied = token_request(emulator, outsider, "default", "default")
    assert denied.status_code == 403
    assert 'cannot create resource "serviceaccounts/token"' in denied.json()["message"]


def test_control_routes_take_no_credentials(emulator: ThreadedEmulator) -> None:
    assert get(emulator, "/_emulator/faults").json() == []
    assert get(emulator, "/_emulator/rbac/usage").status_code == 200
    assert get(emulator, "/_emulator/faults", bearer("not-a-token")).status_code == 200


# ------------------------------------------------------------------------------------------- standalone


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "kube_emulator", "--kubeconfig-out", str(kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        yield url, kubeconfig
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors


def test_standalone_writes_an_admin_kubeconfig(standalone: tuple[str, Path], tmp_path: Path) -> None:
    url, kubeconfig = standalone
    assert url.startswith("http://127.0.0.1:")
    token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    assert requests.get(url + "/api/v1/namespaces", headers=bearer(token), timeout=10).status_code == 200
    command = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache")]
    result = subprocess.run(
        [*command, "get", "namespace", "default", "-o", "name"], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "namespace/default", result.stderr
