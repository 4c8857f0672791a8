"""Authentication as kube-apiserver does it: bearer tokens, anonymous requests, 401 for an unknown token.

The emulator hands out the tokens (admin, any user, ServiceAccounts); kubeconfigs point at its HTTPS listener,
because kubectl sends no credentials over plain HTTP. The tests marked `cluster` use only what a real cluster has
as well (anonymous requests, TokenRequests, impersonation by the admin) and hold there too.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import requests
import yaml
from kube_emulator.threaded import ThreadedEmulator
from kubernetes.client.exceptions import ApiException

from tests.raw_api import RawApi, raw_api

client: Any = kubernetes.client
config: Any = kubernetes.config

pytestmark = pytest.mark.kubectl

CREATED_BY = {"app.kubernetes.io/created-by": "k8s-manager-tests"}  # as tests/conftest.py labels what it makes
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


@pytest.fixture
def anonymous(kubeconfig: Path) -> Iterator[RawApi]:
    """Raw HTTP to the cluster under test without credentials."""
    with raw_api(kubeconfig, credentials=False) as api:
        yield api


@pytest.fixture
def admin(kubeconfig: Path) -> Iterator[RawApi]:
    with raw_api(kubeconfig) as api:
        yield api


def kubeconfig_with_token(kubeconfig: Path, token: str, path: Path) -> Path:
    """The kubeconfig's server and CA, with `token` for the user."""
    document = yaml.safe_load(kubeconfig.read_text())
    context = next(c for c in document["contexts"] if c["name"] == document["current-context"])["context"]
    user = next(u for u in document["users"] if u["name"] == context["user"])
    user["user"] = {"token": token}
    path.write_text(yaml.safe_dump(document))
    return path


def kubectl_as(
    emulator: ThreadedEmulator, token: str | None, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    kubeconfig = emulator.write_kubeconfig(tmp_path / f"kubeconfig-{len(list(tmp_path.iterdir()))}", token)
    command = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------------------------------------- anonymous


@pytest.mark.cluster
def test_no_credentials_is_system_anonymous(anonymous: RawApi) -> None:
    # system:public-info-viewer is bound to system:unauthenticated: health and version are public.
    assert anonymous.get("/version").json()["major"] == "1"
    health = anonymous.get("/healthz")
    assert (health.status_code, health.headers["Content-Type"], health.text) == (200, "text/plain; charset=utf-8", "ok")
    # Discovery is for authenticated users only (system:discovery).
    answer = anonymous.get("/apis")
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
    listed = anonymous.get("/api/v1/namespaces").json()
    assert listed["message"] == (
        'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" '
        "at the cluster scope"
    )


@pytest.mark.cluster
@pytest.mark.parametrize("header", ["Basic YWRtaW46YWRtaW4=", "Negotiate x", "Bearer", "Bearer  x"])
def test_headers_without_a_bearer_token_are_anonymous(anonymous: RawApi, header: str) -> None:
    """kube-apiserver's bearer authenticator ignores other schemes and empty tokens: anonymous, not 401."""
    answer = anonymous.get("/apis", headers={"Authorization": header})
    assert answer.status_code == 403
    assert answer.json()["message"] == 'forbidden: User "system:anonymous" cannot get path "/apis"'


# ------------------------------------------------------------------------------------------- bad tokens


@pytest.mark.cluster
@pytest.mark.parametrize("path", ["/api/v1/namespaces", "/version", "/apis", "/api/v1/namespaces/default/pods/x"])
def test_unknown_token_is_401_everywhere(anonymous: RawApi, path: str) -> None:
    answer = anonymous.get(path, headers=bearer("not-a-token"))
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


@pytest.mark.cluster
def test_unknown_token_through_the_client(kubeconfig: Path, tmp_path: Path) -> None:
    forged = kubeconfig_with_token(kubeconfig, "forged", tmp_path / "kubeconfig")
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(forged), client_configuration=configuration)
    with client.ApiClient(configuration) as api, pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).list_namespace()
    assert caught.value.status == 401
    command = ["kubectl", "--kubeconfig", str(forged), "--cache-dir", str(tmp_path / "cache"), "get", "namespaces"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
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


@pytest.mark.cluster
def test_the_kube_root_ca_is_the_api_servers_ca(
    kubeconfig: Path, admin: RawApi, namespace: str, tmp_path: Path
) -> None:
    document = yaml.safe_load(kubeconfig.read_text())
    context = next(c for c in document["contexts"] if c["name"] == document["current-context"])["context"]
    cluster = next(c for c in document["clusters"] if c["name"] == context["cluster"])["cluster"]
    ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    # Verified with that CA alone: the bundle every namespace gets is the API server's CA.
    answer = admin.get(
        f"/api/v1/namespaces/{namespace}/configmaps/kube-root-ca.crt", verify=str(write(tmp_path / "ca.crt", ca))
    )
    assert answer.json()["data"]["ca.crt"] == ca


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# Emulator only: the emulator mints tokens for any user; a real cluster's users come from its authenticators.
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


def grant_reading_namespace(admin: RawApi, name: str, namespace: str, group: str) -> list[str]:
    """A ClusterRole and ClusterRoleBinding `name` letting `group` get `namespace`; returns the paths to delete."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    rule = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"], "resourceNames": [namespace]}
    role = {"metadata": {"name": name, "labels": CREATED_BY}, "rules": [rule]}
    assert admin.post(f"{rbac}/clusterroles", role).status_code == 201
    binding = {
        "metadata": {"name": name, "labels": CREATED_BY},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
    }
    assert admin.post(f"{rbac}/clusterrolebindings", binding).status_code == 201
    return [f"{rbac}/clusterrolebindings/{name}", f"{rbac}/clusterroles/{name}"]


def eventually(check: Any, what: str, deadline: float = 15.0) -> None:
    """A real cluster's authorizer learns of RBAC changes a moment later; the emulator at once."""
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.1)


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


@pytest.mark.cluster
def test_service_account_token(kubeconfig: Path, admin: RawApi, namespace: str) -> None:
    """A ServiceAccount's token (a TokenRequest's) is its user, in system:serviceaccounts and those of its
    namespace. (A real cluster is shared: the grants are only to read the test's own namespace.)"""
    other = f"{namespace}-other"
    assert admin.post("/api/v1/namespaces", {"metadata": {"name": other, "labels": CREATED_BY}}).status_code == 201
    suffix = namespace.rsplit("-", 1)[-1]
    made: list[str] = []
    try:
        tokens = {}
        for where in (namespace, other):
            admin.post(f"/api/v1/namespaces/{where}/serviceaccounts", {"metadata": {"name": "operator"}})
            request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
            minted = admin.post(f"/api/v1/namespaces/{where}/serviceaccounts/operator/token", request)
            tokens[where] = minted.json()["status"]["token"]
        ours = f"/api/v1/namespaces/{namespace}"
        with raw_api(kubeconfig, token=tokens[namespace]) as mine, raw_api(kubeconfig, token=tokens[other]) as theirs:
            denied = mine.get(ours).json()
            assert f'User "system:serviceaccount:{namespace}:operator" cannot get' in denied["message"]
            made += grant_reading_namespace(admin, f"ns-{suffix}", namespace, f"system:serviceaccounts:{namespace}")
            eventually(lambda: mine.get(ours).status_code == 200, "the namespace's accounts to read it")
            assert theirs.get(ours).status_code == 403
            made += grant_reading_namespace(admin, f"all-{suffix}", namespace, "system:serviceaccounts")
            eventually(lambda: theirs.get(ours).status_code == 200, "all accounts to read it")
    finally:
        for path in made:
            admin.delete(path)
        admin.delete(f"/api/v1/namespaces/{other}")


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


@pytest.mark.cluster
def test_a_token_request_needs_the_service_account_and_the_permission(admin: RawApi, namespace: str) -> None:
    def token_request(name: str, headers: dict[str, str] | None = None, **spec: Any) -> requests.Response:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        return admin.post(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", body, headers=headers)

    assert token_request("nobody").status_code == 404
    too_short = token_request("default", expirationSeconds=60)
    assert too_short.status_code == 422
    assert too_short.json()["message"] == (
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: '
        "may not specify a duration less than 10 minutes"
    )
    denied = token_request("default", headers={"Impersonate-User": "mallory"})  # someone without the permission
    assert denied.status_code == 403
    assert denied.json()["message"] == (
        'serviceaccounts "default" is forbidden: User "mallory" cannot create resource "serviceaccounts/token" '
        f'in API group "" in the namespace "{namespace}"'
    )


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
