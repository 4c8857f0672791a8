"""RBAC authorization and escalation prevention as kube-apiserver enforces them, and the record of rules used.

The admin (system:masters) sets Roles and bindings up in two namespaces of the test's own, then users try their
luck over HTTP, with kubectl or with the Python client, as the admin impersonating them (Impersonate-User and
Impersonate-Group, kubectl's --as): so the tests marked `cluster` run against a real cluster too. Users, and the
cluster-wide roles and bindings a test makes, carry a suffix of the test's own (other tests run meanwhile there).
The usage record of rules (`/_emulator/rbac/usage`) is the emulator's own.
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import kubernetes
import pytest
import requests
from kube_emulator.authn import User
from kube_emulator.authz import request_attributes
from kube_emulator.rbac import Attributes, Rule
from kube_emulator.threaded import ThreadedEmulator
from kubernetes.client.exceptions import ApiException

from tests.raw_api import RawApi

client: Any = kubernetes.client
config: Any = kubernetes.config

pytestmark = pytest.mark.kubectl

GROUP = "rbac.authorization.k8s.io"
RBAC = f"/apis/{GROUP}/v1"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{ns}/deployments"
CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"
MERGE = {"Content-Type": "application/merge-patch+json"}
CREATED_BY = {"app.kubernetes.io/created-by": "k8s-manager-tests"}  # as tests/conftest.py labels what it makes


class Kubectl(Protocol):
    """The `kubectl` fixture of tests/conftest.py."""

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...


class Api:
    """`requests` against the API server as one user: the admin, someone the admin impersonates, or nobody."""

    def __init__(self, raw: RawApi, user: str | None = None, groups: tuple[str, ...] = (), anonymous: bool = False):
        self.base = raw.base
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = raw.session.verify
        if not anonymous:
            self.session.cert = raw.session.cert
            self.session.headers.update(raw.session.headers)
        if user is not None:
            self.session.headers["Impersonate-User"] = user
        assert len(groups) <= 1, "one Impersonate-Group header per group: requests sends one per name"
        if groups:
            self.session.headers["Impersonate-Group"] = groups[0]

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None:
            kwargs["data"] = json.dumps(body)
        return self.session.request(method, self.base + path, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.request("PUT", path, body)

    def patch(self, path: str, body: Any) -> requests.Response:
        return self.request("PATCH", path, body, headers=MERGE)

    def delete(self, path: str) -> requests.Response:
        return self.request("DELETE", path)

    def made(self, path: str, body: Any) -> Any:
        answer = self.post(path, body)
        assert answer.status_code == 201, answer.text
        return answer.json()


@dataclass
class World:
    """Two namespaces of the test's own with ConfigMaps `one` and `two` each, and what the test makes cluster-wide."""

    raw: RawApi
    admin: Api
    a: str
    b: str
    suffix: str
    on_emulator: bool
    cluster_wide: list[str] = field(default_factory=list)  # paths to delete afterwards

    def until(self, check: Callable[[], Any], what: str) -> None:
        """`check` must hold: at once on the emulator, within moments on a real cluster (whose authorizer learns
        of RBAC changes through its informers)."""
        end = time.monotonic() + (0 if self.on_emulator else 15)
        while not check():
            if time.monotonic() > end:
                raise AssertionError(f"does not hold: {what}")
            time.sleep(0.1)

    def user(self, name: str) -> str:
        """The test's own user of that name."""
        return f"{name}-{self.suffix}"

    def cr(self, name: str) -> str:
        """The test's own ClusterRole (and ClusterRoleBinding) of that name."""
        return f"{name}-{self.suffix}"

    def as_user(self, name: str, groups: tuple[str, ...] = ()) -> Api:
        return Api(self.raw, self.user(name), groups)

    def as_service_account(self, namespace: str, name: str) -> Api:
        return Api(self.raw, f"system:serviceaccount:{namespace}:{name}")

    def anonymous(self) -> Api:
        return Api(self.raw, anonymous=True)

    def role(self, namespace: str, name: str, *rules: Any) -> None:
        self.admin.made(f"{RBAC}/namespaces/{namespace}/roles", {"metadata": {"name": name}, "rules": list(rules)})

    def cluster_role(self, name: str, *rules: Any) -> None:
        body = {"metadata": {"name": self.cr(name), "labels": CREATED_BY}, "rules": list(rules)}
        self.admin.made(f"{RBAC}/clusterroles", body)
        self.cluster_wide.append(f"{RBAC}/clusterroles/{self.cr(name)}")

    def role_binding(self, namespace: str, kind: str, role_name: str, *subjects: Any) -> None:
        """A RoleBinding `<role>-b` to the Role, or to the test's ClusterRole, of that name."""
        ref = self.cr(role_name) if kind == "ClusterRole" else role_name
        made = binding(f"{role_name}-b", kind, ref, *subjects)
        self.admin.made(f"{RBAC}/namespaces/{namespace}/rolebindings", made)

    def cluster_role_binding(self, role_name: str, *subjects: Any, builtin: bool = False) -> None:
        ref = role_name if builtin else self.cr(role_name)
        made = binding(self.cr(f"{role_name}-b"), "ClusterRole", ref, *subjects)
        made["metadata"]["labels"] = CREATED_BY
        self.admin.made(f"{RBAC}/clusterrolebindings", made)
        self.cluster_wide.append(f"{RBAC}/clusterrolebindings/{self.cr(f'{role_name}-b')}")

    def subject(self, name: str) -> dict[str, str]:
        return user(self.user(name))


@pytest.fixture
def world(kubeconfig: Path, namespace: str, on_emulator: bool) -> Iterator[World]:
    raw = RawApi(kubeconfig)
    admin = Api(raw)
    made = World(raw, admin, namespace, f"{namespace}-b", uuid.uuid4().hex[:8], on_emulator)
    admin.made("/api/v1/namespaces", {"metadata": {"name": made.b, "labels": CREATED_BY}})
    try:
        for name in (made.a, made.b):
            for cm in ("one", "two"):
                admin.made(CONFIGMAPS.format(ns=name), {"metadata": {"name": cm}, "data": {"k": "v"}})
        yield made
    finally:
        for path in [*made.cluster_wide, f"/api/v1/namespaces/{made.b}"]:
            admin.delete(path)
        admin.session.close()
        raw.session.close()


def rule(verbs: list[str], resources: list[str], groups: tuple[str, ...] = ("",), names: tuple[str, ...] = ()) -> Any:
    made: dict[str, Any] = {"apiGroups": list(groups), "resources": resources, "verbs": verbs}
    if names:
        made["resourceNames"] = list(names)
    return made


def user(name: str) -> dict[str, str]:
    return {"apiGroup": GROUP, "kind": "User", "name": name}


def group(name: str) -> dict[str, str]:
    return {"apiGroup": GROUP, "kind": "Group", "name": name}


def binding(name: str, kind: str, role_name: str, *subjects: Any) -> Any:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": GROUP, "kind": kind, "name": role_name},
        "subjects": list(subjects),
    }


def deployment(name: str) -> Any:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "main", "image": "nginx"}]}},
        },
    }


def codes(*answers: requests.Response) -> list[int]:
    return [answer.status_code for answer in answers]


# ------------------------------------------------------------------------------------------- bootstrap policy

BOOTSTRAP_ROLES = {
    "cluster-admin": [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
        {"verbs": ["*"], "nonResourceURLs": ["*"]},
    ],
    "system:discovery": [
        {
            "verbs": ["get"],
            "nonResourceURLs": [
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            ],
        }
    ],
    "system:public-info-viewer": [
        {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"]}
    ],
}
BOOTSTRAP_BINDINGS = {
    "cluster-admin": ["system:masters"],
    "system:discovery": ["system:authenticated"],
    "system:public-info-viewer": ["system:authenticated", "system:unauthenticated"],
}


@pytest.mark.cluster
def test_bootstrap_policy(world: World) -> None:
    bootstrapped = {"labelSelector": "kubernetes.io/bootstrapping=rbac-defaults"}
    listed = world.admin.get(f"{RBAC}/clusterroles", params=bootstrapped).json()["items"]
    roles = {item["metadata"]["name"]: item["rules"] for item in listed}
    bindings = {b["metadata"]["name"]: b for b in world.admin.get(f"{RBAC}/clusterrolebindings").json()["items"]}
    # The emulator has just these (no nodes, controllers or aggregated roles); kube-apiserver dozens more.
    if world.on_emulator:
        assert set(roles) == set(BOOTSTRAP_ROLES)
        assert set(bindings) == set(BOOTSTRAP_BINDINGS)
    assert {name: roles[name] for name in BOOTSTRAP_ROLES} == BOOTSTRAP_ROLES
    assert {name: [s["name"] for s in bindings[name]["subjects"]] for name in BOOTSTRAP_BINDINGS} == BOOTSTRAP_BINDINGS
    assert all(
        bindings[name]["metadata"]["labels"] == {"kubernetes.io/bootstrapping": "rbac-defaults"}
        for name in BOOTSTRAP_BINDINGS
    )


# ------------------------------------------------------------------------------------------- matching


@pytest.mark.cluster
def test_verbs(world: World) -> None:
    w = world
    w.role(w.a, "reader", rule(["get"], ["configmaps"]))
    w.role_binding(w.a, "Role", "reader", w.subject("alice"))
    alice = w.as_user("alice")
    configmaps = CONFIGMAPS.format(ns=w.a)
    w.until(lambda: alice.get(f"{configmaps}/one").status_code == 200, "alice may get")
    assert codes(
        alice.get(f"{configmaps}/one"),
        alice.get(configmaps),
        alice.patch(f"{configmaps}/one", {"data": {"k": "w"}}),
        alice.delete(f"{configmaps}/one"),
        alice.delete(configmaps),
    ) == [200, 403, 403, 403, 403]
    assert (
        alice.delete(configmaps)
        .json()["message"]
        .startswith(f'configmaps is forbidden: User "{w.user("alice")}" cannot deletecollection resource "configmaps"')
    )

    w.role(w.a, "everything", rule(["*"], ["configmaps"]))
    w.role_binding(w.a, "Role", "everything", w.subject("alice"))
    w.until(
        lambda: codes(alice.get(configmaps), alice.patch(f"{configmaps}/one", {"data": {"k": "w"}})) == [200, 200],
        "alice may do everything with ConfigMaps",
    )


@pytest.mark.cluster
def test_api_groups_and_resources(world: World) -> None:
    w = world
    w.admin.made(DEPLOYMENTS.format(ns=w.a), deployment("web"))
    # "deployments" in the core group is not apps' deployments.
    w.cluster_role("wrong-group", rule(["get"], ["deployments"]))
    w.cluster_role("any-group", rule(["get"], ["deployments"], groups=("*",)))
    w.cluster_role("apps-only", rule(["get"], ["*"], groups=("apps",)))
    alice, bob, carol = (w.as_user(name) for name in ("alice", "bob", "carol"))
    w.role_binding(w.a, "ClusterRole", "wrong-group", w.subject("alice"))
    w.role_binding(w.a, "ClusterRole", "any-group", w.subject("bob"))
    w.role_binding(w.a, "ClusterRole", "apps-only", w.subject("carol"))
    web = DEPLOYMENTS.format(ns=w.a) + "/web"
    replica_sets = f"/apis/apps/v1/namespaces/{w.a}/replicasets"
    w.until(lambda: codes(alice.get(web), bob.get(web), carol.get(web)) == [403, 200, 200], "the grants")
    assert codes(bob.get(CONFIGMAPS.format(ns=w.a) + "/one"), carol.get(CONFIGMAPS.format(ns=w.a) + "/one")) == [
        403,
        403,
    ]
    assert codes(carol.get(replica_sets), carol.get(replica_sets + "/x")) == [403, 404]


@pytest.mark.cluster
def test_subresources(world: World) -> None:
    w = world
    w.admin.made(DEPLOYMENTS.format(ns=w.a), deployment("web"))
    web = DEPLOYMENTS.format(ns=w.a) + "/web"
    status = {"status": {"observedGeneration": 7}}
    cases = {
        "main-only": (["deployments"], [200, 403]),
        "status-only": (["deployments/status"], [403, 200]),
        "any-status": (["*/status"], [403, 200]),
        "everything": (["*"], [200, 200]),
        "scale-only": (["*/scale"], [403, 403]),
    }
    for name, (resources, _) in cases.items():
        w.cluster_role(name, rule(["patch"], resources, groups=("apps",)))
        w.role_binding(w.a, "ClusterRole", name, w.subject(name))

    def as_expected(name: str, expected: list[int]) -> bool:
        api = w.as_user(name)
        return codes(api.patch(web, {"metadata": {"labels": {"by": name}}}), api.patch(web + "/status", status)) == (
            expected
        )

    for name, (_, expected) in cases.items():
        w.until(functools.partial(as_expected, name, expected), name)
    denied = w.as_user("main-only").patch(web + "/status", status).json()
    assert denied["message"] == (
        f'deployments.apps "web" is forbidden: User "{w.user("main-only")}" cannot patch resource '
        f'"deployments/status" in API group "apps" in the namespace "{w.a}"'
    )
    assert denied["details"] == {"name": "web", "group": "apps", "kind": "deployments"}


@pytest.mark.cluster
def test_resource_names(world: World) -> None:
    w = world
    w.role(w.a, "just-one", rule(["get", "list", "watch", "create", "update"], ["configmaps"], names=("one",)))
    w.role_binding(w.a, "Role", "just-one", w.subject("alice"))
    alice = w.as_user("alice")
    configmaps = CONFIGMAPS.format(ns=w.a)
    w.until(lambda: codes(alice.get(f"{configmaps}/one"), alice.get(f"{configmaps}/two")) == [200, 403], "by name")
    # A collection has no name: resourceNames never allow list, watch or create...
    assert codes(
        alice.get(configmaps),
        alice.get(configmaps, params={"watch": "true", "timeoutSeconds": "1"}),
        alice.post(configmaps, {"metadata": {"name": "one"}}),
    ) == [403, 403, 403]
    # ...unless a field selector pins the name, as kube-apiserver's RequestInfo reads it.
    pinned = {"fieldSelector": "metadata.name=one"}
    listed = alice.get(configmaps, params=pinned)
    assert [item["metadata"]["name"] for item in listed.json()["items"]] == ["one"]
    watched = alice.get(configmaps, params={**pinned, "watch": "1", "timeoutSeconds": "1"})
    assert [json.loads(line)["object"]["metadata"]["name"] for line in watched.text.splitlines()] == ["one"]
    other = alice.get(configmaps, params={"fieldSelector": "metadata.name=two"})
    assert other.json()["message"] == (
        f'configmaps "two" is forbidden: User "{w.user("alice")}" cannot list resource "configmaps" in API group "" '
        f'in the namespace "{w.a}"'
    )


@pytest.mark.cluster
def test_namespace_scope(world: World) -> None:
    w = world
    w.cluster_role("cm-reader", rule(["get", "list"], ["configmaps"]))
    w.role_binding(w.a, "ClusterRole", "cm-reader", w.subject("alice"))
    w.cluster_role_binding("cm-reader", w.subject("bob"))
    alice, bob = w.as_user("alice"), w.as_user("bob")
    everywhere = "/api/v1/configmaps"
    # A RoleBinding to a ClusterRole grants in its own namespace only.
    w.until(
        lambda: (
            codes(alice.get(CONFIGMAPS.format(ns=w.a)), alice.get(CONFIGMAPS.format(ns=w.b)), alice.get(everywhere))
            == [200, 403, 403]
        ),
        "alice reads in a only",
    )
    assert alice.get(everywhere).json()["message"] == (
        f'configmaps is forbidden: User "{w.user("alice")}" cannot list resource "configmaps" in API group "" '
        "at the cluster scope"
    )
    # A ClusterRoleBinding grants everywhere, across namespaces too.
    w.until(
        lambda: codes(bob.get(CONFIGMAPS.format(ns=w.a)), bob.get(CONFIGMAPS.format(ns=w.b))) == [200, 200],
        "bob reads everywhere",
    )
    assert {item["metadata"]["namespace"] for item in bob.get(everywhere).json()["items"]} >= {w.a, w.b}
    # A Role binds in its namespace only, whatever the binding's namespace (here: none of that name).
    w.role(w.b, "local", rule(["get"], ["configmaps"]))
    w.role_binding(w.a, "Role", "local", w.subject("carol"))
    carol = w.as_user("carol")
    w.until(
        lambda: (
            carol.get(CONFIGMAPS.format(ns=w.a) + "/one")
            .json()["message"]
            .endswith(': RBAC: role.rbac.authorization.k8s.io "local" not found')
        ),
        "the missing role named",
    )


@pytest.mark.cluster
def test_a_namespace_is_in_its_own_scope(world: World) -> None:
    """RequestInfo puts a namespace's own name in its namespace: a RoleBinding there may grant reading it."""
    w = world
    w.cluster_role("ns-reader", rule(["get"], ["namespaces"]))
    w.role_binding(w.a, "ClusterRole", "ns-reader", w.subject("alice"))
    alice = w.as_user("alice")
    w.until(
        lambda: codes(alice.get(f"/api/v1/namespaces/{w.a}"), alice.get(f"/api/v1/namespaces/{w.b}")) == [200, 403],
        "alice reads namespace a",
    )
    assert alice.get(f"/api/v1/namespaces/{w.b}").json()["message"] == (
        f'namespaces "{w.b}" is forbidden: User "{w.user("alice")}" cannot get resource "namespaces" in API group "" '
        f'in the namespace "{w.b}"'
    )


@pytest.mark.cluster
def test_subjects(world: World) -> None:
    w = world
    w.cluster_role("cm-reader", rule(["get"], ["configmaps"]))
    one = CONFIGMAPS.format(ns=w.a) + "/one"
    devs = f"devs-{w.suffix}"
    subjects = [
        group(devs),
        {"kind": "ServiceAccount", "name": "app", "namespace": w.b},
        {"kind": "ServiceAccount", "name": "local"},  # a RoleBinding's own namespace
    ]
    w.role_binding(w.a, "ClusterRole", "cm-reader", *subjects)
    allowed = [w.as_user("dora", (devs,)), w.as_service_account(w.b, "app"), w.as_service_account(w.a, "local")]
    denied = [
        Api(w.raw, devs),  # a user named like the group is not in it
        w.as_service_account(w.a, "app"),
        w.as_service_account(w.b, "local"),
        Api(w.raw, f"system:serviceaccount:{w.b}:app2"),
    ]
    w.until(lambda: codes(*(api.get(one) for api in allowed)) == [200, 200, 200], "the subjects may read")
    assert codes(*(api.get(one) for api in denied)) == [403, 403, 403, 403]
    # In a ClusterRoleBinding, a ServiceAccount needs its namespace: without one it is refused.
    refused = w.admin.post(
        f"{RBAC}/clusterrolebindings",
        binding(w.cr("nowhere"), "ClusterRole", w.cr("cm-reader"), {"kind": "ServiceAccount", "name": "nowhere"}),
    )
    assert refused.status_code == 422
    assert [(c["field"], c["message"]) for c in refused.json()["details"]["causes"]] == [
        ("subjects[0].namespace", "Required value")
    ]


@pytest.mark.cluster
def test_non_resource_urls(world: World) -> None:
    w = world
    anonymous = w.anonymous()
    assert codes(*(anonymous.get(path) for path in ("/apis", "/openapi/v2"))) == [403, 403]
    # A ClusterRoleBinding for system:unauthenticated holds for every anonymous request of the cluster: briefly.
    w.cluster_role("apps-discovery", {"verbs": ["get"], "nonResourceURLs": ["/apis/apps/*", "/api"]})
    w.cluster_role_binding("apps-discovery", group("system:unauthenticated"))
    paths = ("/api", "/api/v1", "/apis/apps", "/apis/apps/v1", "/apis")
    w.until(lambda: codes(*(anonymous.get(path) for path in paths)) == [200, 403, 403, 200, 403], "anonymous discovery")


@pytest.mark.cluster
def test_changes_apply_at_once(world: World) -> None:
    w = world
    alice = w.as_user("alice")
    one = CONFIGMAPS.format(ns=w.a) + "/one"
    assert alice.get(one).json()["message"] == (
        f'configmaps "one" is forbidden: User "{w.user("alice")}" cannot get resource "configmaps" in API group "" '
        f'in the namespace "{w.a}"'
    )
    w.role_binding(w.a, "ClusterRole", "reader", w.subject("alice"))  # before its role exists
    w.until(
        lambda: (
            alice.get(one)
            .json()["message"]
            .endswith(f': RBAC: clusterrole.rbac.authorization.k8s.io "{w.cr("reader")}" not found')
        ),
        "the missing ClusterRole named",
    )
    w.cluster_role("reader", rule(["list"], ["configmaps"]))
    assert alice.get(one).status_code == 403
    w.admin.patch(f"{RBAC}/clusterroles/{w.cr('reader')}", {"rules": [rule(["get"], ["configmaps"])]})
    w.until(lambda: alice.get(one).status_code == 200, "the changed rule to allow")
    w.admin.delete(f"{RBAC}/namespaces/{w.a}/rolebindings/reader-b")
    w.until(lambda: alice.get(one).status_code == 403, "the deleted binding to stop allowing")


@pytest.mark.cluster
def test_watch_needs_the_watch_verb(world: World) -> None:
    w = world
    w.role(w.a, "lister", rule(["list"], ["configmaps"]))
    w.role_binding(w.a, "Role", "lister", w.subject("alice"))
    alice = w.as_user("alice")
    configmaps = CONFIGMAPS.format(ns=w.a)
    w.until(lambda: alice.get(configmaps).status_code == 200, "alice may list")
    denied = alice.get(configmaps, params={"watch": "true", "timeoutSeconds": "1"})
    assert denied.status_code == 403
    assert 'cannot watch resource "configmaps"' in denied.json()["message"]
    w.role(w.a, "watcher", rule(["watch"], ["configmaps"]))
    w.role_binding(w.a, "Role", "watcher", w.subject("alice"))
    w.until(lambda: alice.get(configmaps, params={"watch": "true", "timeoutSeconds": "1"}).ok, "alice may watch")
    watched = alice.get(configmaps, params={"watch": "true", "timeoutSeconds": "1"})
    # Its two ConfigMaps and the CA bundle.
    assert [json.loads(line)["type"] for line in watched.text.splitlines()] == ["ADDED", "ADDED", "ADDED"]


@pytest.mark.cluster
def test_denials_through_kubectl_and_the_client(world: World, kubectl: Kubectl, kubeconfig: Path) -> None:
    w = world
    w.admin.made(DEPLOYMENTS.format(ns=w.a), deployment("web"))
    operator = f"system:serviceaccount:kre-{w.suffix}:op"
    result = kubectl.run("--as", operator, "-n", w.a, "get", "deployment", "web", check=False)
    message = (
        f'deployments.apps "web" is forbidden: User "{operator}" cannot get resource '
        f'"deployments" in API group "apps" in the namespace "{w.a}"'
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error from server (Forbidden): {message}"

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with (
        client.ApiClient(configuration, header_name="Impersonate-User", header_value=operator) as api,
        pytest.raises(ApiException) as caught,
    ):
        client.AppsV1Api(api).read_namespaced_deployment("web", w.a)
    assert caught.value.status == 403
    assert json.loads(str(caught.value.body)) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Forbidden",
        "details": {"name": "web", "group": "apps", "kind": "deployments"},
        "code": 403,
    }


@pytest.mark.cluster
def test_impersonation_needs_its_verbs(world: World) -> None:
    """kube-apiserver 1.36's constrained impersonation, then the legacy `impersonate` verb."""
    w = world
    w.admin.made(f"/api/v1/namespaces/{w.a}/serviceaccounts", {"metadata": {"name": "sa"}})
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    token = w.admin.made(f"/api/v1/namespaces/{w.a}/serviceaccounts/sa/token", request)["status"]["token"]
    sa = Api(w.raw, anonymous=True)
    sa.session.headers["Authorization"] = f"Bearer {token}"
    requestor = f"system:serviceaccount:{w.a}:sa"
    configmaps = CONFIGMAPS.format(ns=w.a)

    def as_(name: str) -> requests.Response:
        return sa.get(configmaps, headers={"Impersonate-User": name})

    # Refused as the first mode that applies refuses: the one for users, or the one for service accounts.
    assert (as_(w.user("bob")).status_code, as_(w.user("bob")).json()["message"]) == (
        403,
        f'configmaps is forbidden: User "{requestor}" cannot impersonate-on:user-info:list resource "configmaps" '
        f'in API group "" in the namespace "{w.a}"',
    )
    assert as_(f"system:serviceaccount:{w.a}:other").json()["message"] == (
        f'configmaps is forbidden: User "{requestor}" cannot impersonate-on:serviceaccount:list resource '
        f'"configmaps" in API group "" in the namespace "{w.a}"'
    )
    # The legacy verb on one user lets the ServiceAccount act as that user, and as nobody else.
    w.cluster_role("impersonator", rule(["impersonate"], ["users"], names=(w.user("bob"),)))
    w.cluster_role_binding("impersonator", {"kind": "ServiceAccount", "name": "sa", "namespace": w.a})
    w.role(w.a, "lister", rule(["list"], ["configmaps"]))
    w.role_binding(w.a, "Role", "lister", w.subject("bob"))
    w.until(lambda: as_(w.user("bob")).status_code == 200, "the ServiceAccount to list as bob")
    assert as_(w.user("carol")).status_code == 403

    groups_only = w.admin.request("GET", configmaps, headers={"Impersonate-Group": "devs"})
    assert (groups_only.status_code, groups_only.json()["message"]) == (
        400,
        'requested &user.DefaultInfo{Name:"", UID:"", Groups:[]string{"devs"}, Extra:map[string][]string(nil)} '
        "without impersonating a user name",
    )


# ------------------------------------------------------------------------------------------- escalation


ROLES_ADMIN = rule(["create", "update", "patch", "get"], ["roles", "rolebindings"], groups=(GROUP,))
CLUSTER_ROLES_ADMIN = rule(
    ["create", "update", "patch", "get"], ["clusterroles", "clusterrolebindings"], groups=(GROUP,)
)


def escalation(kind: str, name: str, username: str, groups: str, *missing: str) -> str:
    return (
        f'{kind}.{GROUP} "{name}" is forbidden: user "{username}" (groups=[{groups}]) is attempting to grant RBAC '
        "permissions not currently held:\n" + "\n".join(missing)
    )


@pytest.mark.cluster
def test_role_escalation(world: World) -> None:
    w = world
    w.cluster_role("role-admin", ROLES_ADMIN)
    w.role_binding(w.a, "ClusterRole", "role-admin", w.subject("alice"))
    devs = f"devs-{w.suffix}"
    alice = w.as_user("alice", (devs,))
    roles = f"{RBAC}/namespaces/{w.a}/roles"
    wanted = {
        "metadata": {"name": "deployer"},
        "rules": [
            rule(["get", "list"], ["deployments", "replicasets"], groups=("apps",)),
            rule(["get"], ["secrets"], names=("a", "b")),
        ],
    }
    w.until(lambda: alice.get(f"{roles}/none").status_code == 404, "alice may get roles")
    denied = alice.post(roles, wanted)
    assert denied.status_code == 403
    assert denied.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": escalation(
            "roles",
            "deployer",
            w.user("alice"),
            f'"{devs}" "system:authenticated"',
            '{APIGroups:[""], Resources:["secrets"], ResourceNames:["a"], Verbs:["get"]}',
            '{APIGroups:[""], Resources:["secrets"], ResourceNames:["b"], Verbs:["get"]}',
            '{APIGroups:["apps"], Resources:["deployments"], Verbs:["get" "list"]}',
            '{APIGroups:["apps"], Resources:["replicasets"], Verbs:["get" "list"]}',
        ),
        "reason": "Forbidden",
        "details": {"name": "deployer", "group": GROUP, "kind": "roles"},
        "code": 403,
    }
    assert w.admin.get(f"{roles}/deployer").status_code == 404

    # Held in the namespace (the names a-b by one rule with more names, the rest by wildcards): allowed.
    w.cluster_role(
        "holder",
        rule(["*"], ["deployments", "replicasets"], groups=("apps",)),
        rule(["get"], ["secrets"], names=("a", "b", "c")),
    )
    w.role_binding(w.b, "ClusterRole", "holder", w.subject("alice"))
    w.until(lambda: alice.get(f"/apis/apps/v1/namespaces/{w.b}/deployments").ok, "holder in b")
    assert alice.post(roles, wanted).status_code == 403  # held in another namespace does not count
    w.role_binding(w.a, "ClusterRole", "holder", w.subject("alice"))
    w.until(lambda: alice.post(roles, wanted).status_code == 201, "alice may grant what she holds")

    # Updates are checked the same way, by PUT and by PATCH.
    more = rule(["delete"], ["pods"])
    patched = alice.patch(f"{roles}/deployer", {"rules": [*wanted["rules"], more]})
    assert patched.json()["message"] == escalation(
        "roles",
        "deployer",
        w.user("alice"),
        f'"{devs}" "system:authenticated"',
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}',
    )
    current = alice.get(f"{roles}/deployer").json()
    current["rules"].append(rule(["get"], ["secrets"]))  # all secrets: a/b/c held by name do not cover it
    assert alice.put(f"{roles}/deployer", current).status_code == 403
    # A change of labels keeps rules alice holds: allowed.
    assert alice.patch(f"{roles}/deployer", {"metadata": {"labels": {"x": "y"}}}).status_code == 200


@pytest.mark.cluster
def test_only_gc_fields_are_not_checked(world: World) -> None:
    w = world
    w.role(w.a, "powerful", rule(["*"], ["*"], groups=("*",)))
    w.cluster_role("role-admin", ROLES_ADMIN)
    w.role_binding(w.a, "ClusterRole", "role-admin", w.subject("alice"))
    alice = w.as_user("alice")
    powerful = f"{RBAC}/namespaces/{w.a}/roles/powerful"
    w.until(lambda: alice.get(powerful).ok, "alice may get roles")
    assert alice.patch(powerful, {"metadata": {"finalizers": ["example.com/hold"]}}).status_code == 200
    assert alice.patch(powerful, {"metadata": {"finalizers": None}}).status_code == 200
    assert alice.patch(powerful, {"metadata": {"labels": {"x": "y"}}}).status_code == 403


@pytest.mark.cluster
def test_escalate_verb(world: World) -> None:
    w = world
    w.cluster_role("role-admin", ROLES_ADMIN)
    w.role_binding(w.a, "ClusterRole", "role-admin", w.subject("alice"), w.subject("bob"))
    w.role(w.a, "named", rule(["get"], ["configmaps"]))
    w.role(w.a, "other", rule(["get"], ["configmaps"]))
    roles = f"{RBAC}/namespaces/{w.a}/roles"
    grab = {"rules": [rule(["*"], ["*"], groups=("*",))]}
    # escalate on every role: anything goes.
    w.cluster_role("escalator", rule(["escalate"], ["roles"], groups=(GROUP,)))
    w.role_binding(w.a, "ClusterRole", "escalator", w.subject("alice"))
    alice = w.as_user("alice")
    w.until(lambda: alice.post(roles, {"metadata": {"name": "mine"}, **grab}).status_code == 201, "escalate")
    assert alice.patch(f"{roles}/other", grab).status_code == 200
    # escalate on one role by name: updating that one only, never creating (a create has no name).
    w.cluster_role("named-escalator", rule(["escalate"], ["roles"], groups=(GROUP,), names=("named",)))
    w.role_binding(w.a, "ClusterRole", "named-escalator", w.subject("bob"))
    bob = w.as_user("bob")
    w.until(lambda: bob.patch(f"{roles}/named", grab).status_code == 200, "escalate on named")
    assert codes(
        bob.patch(f"{roles}/other", {"rules": [rule(["list"], ["secrets"])]}),
        bob.post(roles, {"metadata": {"name": "named-2"}, **grab}),
    ) == [403, 403]


@pytest.mark.cluster
def test_cluster_role_escalation(world: World) -> None:
    w = world
    w.cluster_role("cluster-role-admin", CLUSTER_ROLES_ADMIN)
    w.cluster_role_binding("cluster-role-admin", w.subject("alice"))
    w.cluster_role("cm-all", rule(["*"], ["configmaps"]))
    w.role_binding(w.a, "ClusterRole", "cm-all", w.subject("alice"))
    alice = w.as_user("alice")
    w.until(
        lambda: alice.get(CONFIGMAPS.format(ns=w.a)).ok and alice.get(f"{RBAC}/clusterroles/x").status_code == 404,
        "grants",
    )
    cm_reader = w.cr("cm-reader")
    wanted = {"metadata": {"name": cm_reader, "labels": CREATED_BY}, "rules": [rule(["get"], ["configmaps"])]}
    w.cluster_wide.append(f"{RBAC}/clusterroles/{cm_reader}")
    # Held in one namespace is not held cluster-wide.
    assert alice.post(f"{RBAC}/clusterroles", wanted).json()["message"] == escalation(
        "clusterroles",
        cm_reader,
        w.user("alice"),
        '"system:authenticated"',
        '{APIGroups:[""], Resources:["configmaps"], Verbs:["get"]}',
    )
    w.cluster_role_binding("cm-all", w.subject("alice"))
    w.until(lambda: alice.post(f"{RBAC}/clusterroles", wanted).status_code == 201, "held cluster-wide")
    # An aggregationRule takes cluster-admin's powers.
    aggregated = {
        "metadata": {"name": w.cr("aggregated")},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]},
        "rules": [],
    }
    denied = alice.post(f"{RBAC}/clusterroles", aggregated).json()
    assert denied["message"] == (
        f'clusterroles.{GROUP} "{w.cr("aggregated")}" is forbidden: must have cluster-admin privileges to use the '
        "aggregationRule"
    )
    # escalate on clusterroles.
    w.cluster_role("escalator", rule(["escalate"], ["clusterroles"], groups=(GROUP,)))
    w.cluster_role_binding("escalator", w.subject("alice"))
    grab = {"metadata": {"name": w.cr("grab"), "labels": CREATED_BY}, "rules": [rule(["*"], ["*"], groups=("*",))]}
    w.cluster_wide.append(f"{RBAC}/clusterroles/{w.cr('grab')}")
    w.until(lambda: alice.post(f"{RBAC}/clusterroles", grab).status_code == 201, "escalate on clusterroles")


@pytest.mark.cluster
def test_role_binding_escalation(world: World) -> None:
    w = world
    w.cluster_role("binder", ROLES_ADMIN)
    w.role_binding(w.a, "ClusterRole", "binder", w.subject("alice"))
    w.cluster_role("secrets-reader", rule(["get", "list"], ["secrets"]))
    w.role(w.a, "cm-writer", rule(["create"], ["configmaps"]))
    alice = w.as_user("alice")
    bindings = f"{RBAC}/namespaces/{w.a}/rolebindings"
    w.until(lambda: alice.get(f"{bindings}/none").status_code == 404, "alice may get bindings")
    to_secrets = binding("secrets-for-bob", "ClusterRole", w.cr("secrets-reader"), w.subject("bob"))
    denied = alice.post(bindings, to_secrets)
    assert denied.json()["message"] == escalation(
        "rolebindings",
        "secrets-for-bob",
        w.user("alice"),
        '"system:authenticated"',
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}',
    )
    assert denied.json()["details"] == {"name": "secrets-for-bob", "group": GROUP, "kind": "rolebindings"}
    missing = alice.post(bindings, binding("to-ghost", "Role", "ghost", w.subject("bob")))
    # The role getter's NotFound, passed on as it is: named after the binding's resource, with the role's name.
    assert (missing.status_code, missing.json()["message"]) == (404, f'rolebindings.{GROUP} "ghost" not found')
    # bind on one ClusterRole, by name, in this namespace.
    w.cluster_role("bind-secrets", rule(["bind"], ["clusterroles"], groups=(GROUP,), names=(w.cr("secrets-reader"),)))
    w.role_binding(w.b, "ClusterRole", "bind-secrets", w.subject("alice"))
    assert alice.post(bindings, to_secrets).status_code == 403  # bind held in another namespace
    w.role_binding(w.a, "ClusterRole", "bind-secrets", w.subject("alice"))
    w.until(lambda: alice.post(bindings, to_secrets).status_code == 201, "bind in a")
    assert alice.post(bindings, binding("cm", "Role", "cm-writer", w.subject("bob"))).status_code == 403
    # Holding every permission of the role is enough without bind.
    w.role(w.a, "cm-creator", rule(["create"], ["configmaps"]))
    w.role_binding(w.a, "Role", "cm-creator", w.subject("alice"))
    w.until(
        lambda: alice.post(bindings, binding("cm", "Role", "cm-writer", w.subject("bob"))).status_code == 201,
        "holding the role's permissions",
    )
    # Updates too: pointing the binding at another subject is re-checked (and allowed: bind still holds).
    assert alice.patch(f"{bindings}/secrets-for-bob", {"subjects": [w.subject("carol")]}).status_code == 200


@pytest.mark.cluster
def test_cluster_role_binding_escalation(world: World) -> None:
    w = world
    w.cluster_role("binder", CLUSTER_ROLES_ADMIN)
    w.cluster_role_binding("binder", w.subject("alice"))
    alice = w.as_user("alice")
    bindings = f"{RBAC}/clusterrolebindings"
    w.until(lambda: alice.get(f"{bindings}/none").status_code == 404, "alice may get bindings")
    bob_admin = w.cr("bob-admin")
    w.cluster_wide += [f"{bindings}/{w.cr(name)}" for name in ("bob-admin", "bob-secrets", "bob-discovery")]
    to_admin = binding(bob_admin, "ClusterRole", "cluster-admin", w.subject("bob"))
    assert alice.post(bindings, to_admin).json()["message"] == escalation(
        "clusterrolebindings",
        bob_admin,
        w.user("alice"),
        '"system:authenticated"',
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}',
        '{NonResourceURLs:["*"], Verbs:["*"]}',
    )
    w.cluster_role("bind-admin", rule(["bind"], ["clusterroles"], groups=(GROUP,), names=("cluster-admin",)))
    w.role_binding(w.a, "ClusterRole", "bind-admin", w.subject("alice"))
    assert alice.post(bindings, to_admin).status_code == 403  # bind in a namespace is not bind cluster-wide
    w.cluster_role_binding("bind-admin", w.subject("alice"))
    w.until(lambda: alice.post(bindings, to_admin).status_code == 201, "bind cluster-admin")
    # bind by name is for that role only; holding a role's permissions (discovery's, as any user) is enough.
    w.cluster_role("secrets-reader", rule(["get"], ["secrets"]))
    secrets = binding(w.cr("bob-secrets"), "ClusterRole", w.cr("secrets-reader"), w.subject("bob"))
    discovery = binding(w.cr("bob-discovery"), "ClusterRole", "system:discovery", w.subject("bob"))
    assert codes(alice.post(bindings, secrets), alice.post(bindings, discovery)) == [403, 201]


@pytest.mark.cluster
def test_escalation_through_kubectl(world: World, kubectl: Kubectl) -> None:
    w = world
    w.cluster_role("role-admin", ROLES_ADMIN)
    w.role_binding(w.a, "ClusterRole", "role-admin", w.subject("alice"))
    w.until(lambda: w.as_user("alice").get(f"{RBAC}/namespaces/{w.a}/roles/none").status_code == 404, "role-admin")
    manifest = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Role",
        "metadata": {"name": "deployer", "namespace": w.a},
        "rules": [rule(["create"], ["deployments"], groups=("apps",))],
    }
    result = kubectl.run("--as", w.user("alice"), "create", "-f", "-", input=json.dumps(manifest), check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": '
        + escalation(
            "roles",
            "deployer",
            w.user("alice"),
            '"system:authenticated"',
            '{APIGroups:["apps"], Resources:["deployments"], Verbs:["create"]}',
        )
    )


@pytest.mark.parametrize(
    ("held", "wanted", "covered"),
    [
        (rule(["*"], ["*"], groups=("*",)), rule(["get"], ["pods/log"]), True),
        (rule(["get"], ["*/status"], groups=("apps",)), rule(["get"], ["deployments/status"], groups=("apps",)), True),
        (rule(["get"], ["*/status"], groups=("apps",)), rule(["get"], ["deployments"], groups=("apps",)), False),
        (rule(["get"], ["pods"]), rule(["get"], ["pods"], groups=("*",)), False),  # "*" is not held by "" alone
        (rule(["get"], ["pods"], names=("a", "b")), rule(["get"], ["pods"], names=("b",)), True),
        (rule(["get"], ["pods"], names=("a",)), rule(["get"], ["pods"]), False),
        (rule(["get"], ["pods"]), rule(["get"], ["pods"], names=("x",)), True),
        (
            {"verbs": ["get"], "nonResourceURLs": ["/apis/*"]},
            {"verbs": ["get"], "nonResourceURLs": ["/apis/apps"]},
            True,
        ),
        ({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}, {"verbs": ["get"], "nonResourceURLs": ["/api"]}, False),
        (rule(["get"], ["pods"], groups=("*",)), {"verbs": ["get"], "nonResourceURLs": ["/api"]}, False),
    ],
)
def test_coverage(held: Any, wanted: Any, covered: bool) -> None:
    owner = Rule.from_json(held)
    assert all(owner.covers(atom) for atom in Rule.from_json(wanted).breakdown()) is covered


# ------------------------------------------------------------------------------------------- usage


def usage(rule_name: str, index: int, verb: str, resource: str, **fields: str) -> dict[str, str]:
    cell = {
        "roleKind": "ClusterRole",
        "roleName": rule_name,
        "roleNamespace": "",
        "ruleIndex": str(index),
        "verb": verb,
        "apiGroup": "",
        "resource": resource,
        "resourceName": "",
        "nonResourceURL": "",
    }
    cell.update(fields)
    return cell


def test_usage_records_each_rule_that_allows(emulator: ThreadedEmulator, world: World) -> None:
    w = world
    w.cluster_role("reader", rule(["list"], ["secrets"]), rule(["get", "list"], ["configmaps"]))
    w.cluster_role("also", rule(["get"], ["configmaps"], names=("one",)))
    w.role(w.a, "local", rule(["patch"], ["configmaps"]))
    w.role_binding(w.a, "ClusterRole", "reader", w.subject("alice"))
    w.cluster_role_binding("also", w.subject("alice"))
    w.role_binding(w.a, "Role", "local", w.subject("alice"))
    emulator.reset_rbac_usage()
    alice = w.as_user("alice")
    configmaps = CONFIGMAPS.format(ns=w.a)
    for _ in range(2):  # recorded once
        assert codes(alice.get(f"{configmaps}/one"), alice.get(f"{configmaps}/two"), alice.get(configmaps)) == [200] * 3
    assert alice.patch(f"{configmaps}/one", {"data": {"k": "w"}}).status_code == 200
    assert alice.get(f"/api/v1/namespaces/{w.a}/secrets/x").status_code == 403  # denied: no rule used
    w.admin.get(configmaps)  # system:masters: no rule decides (nor does its impersonating alice)
    recorded = emulator.rbac_usage()
    assert sorted(recorded, key=json.dumps) == sorted(
        [
            usage(w.cr("also"), 0, "get", "configmaps", resourceName="one"),
            usage(w.cr("reader"), 1, "get", "configmaps"),
            usage(w.cr("reader"), 1, "list", "configmaps"),
            usage("local", 0, "patch", "configmaps", roleKind="Role", roleNamespace=w.a),
        ],
        key=json.dumps,
    )
    assert requests.get(emulator.url + "/_emulator/rbac/usage", timeout=10).json() == recorded
    assert requests.delete(emulator.url + "/_emulator/rbac/usage", timeout=10).status_code == 200
    assert emulator.rbac_usage() == []


def test_usage_records_discovery_and_escalation_checks(emulator: ThreadedEmulator, world: World) -> None:
    w = world
    w.cluster_role("role-admin", rule(["create"], ["roles"], groups=(GROUP,)))
    w.cluster_role("cm", rule(["get", "list"], ["configmaps"]))
    w.role_binding(w.a, "ClusterRole", "role-admin", w.subject("alice"))
    w.role_binding(w.a, "ClusterRole", "cm", w.subject("alice"))
    emulator.reset_rbac_usage()
    alice = w.as_user("alice")
    assert alice.get("/apis").status_code == 200
    wanted = {"metadata": {"name": "x"}, "rules": [rule(["get"], ["configmaps"])]}
    assert alice.post(f"{RBAC}/namespaces/{w.a}/roles", wanted).status_code == 201
    assert sorted(emulator.rbac_usage(), key=json.dumps) == sorted(
        [
            usage("system:discovery", 0, "get", "", nonResourceURL="/apis"),
            usage(w.cr("role-admin"), 0, "create", "roles", apiGroup=GROUP),
            usage(w.cr("cm"), 0, "get", "configmaps"),  # covered the new role's permission
        ],
        key=json.dumps,
    )


# ------------------------------------------------------------------------------------------- request attributes

ALICE = User("alice", ("system:authenticated",))


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/ns/pods", {}, ("list", "", "pods", "", "ns", "")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"}, ("watch", "", "pods", "", "ns", "")),
        (
            "GET",
            "/api/v1/namespaces/ns/pods",
            {"watch": "true", "fieldSelector": "metadata.name=web"},
            ("watch", "", "pods", "", "ns", "web"),
        ),
        ("GET", "/api/v1/pods", {"fieldSelector": "metadata.name!=web"}, ("list", "", "pods", "", "", "")),
        ("POST", "/apis/apps/v1/namespaces/ns/deployments", {}, ("create", "apps", "deployments", "", "ns", "")),
        (
            "PUT",
            "/apis/apps/v1/namespaces/ns/deployments/web/status",
            {},
            ("update", "apps", "deployments", "status", "ns", "web"),
        ),
        (
            "DELETE",
            "/apis/apps/v1/namespaces/ns/deployments",
            {},
            ("deletecollection", "apps", "deployments", "", "ns", ""),
        ),
        ("DELETE", "/api/v1/namespaces/ns", {}, ("delete", "", "namespaces", "", "ns", "ns")),
        ("PUT", "/api/v1/namespaces/ns/finalize", {}, ("update", "", "namespaces", "finalize", "ns", "ns")),
        ("GET", "/api/v1/namespaces", {}, ("list", "", "namespaces", "", "", "")),
        (
            "PATCH",
            "/apis/kre.konstellation.io/v1alpha1/runtimes/r/status",
            {},
            ("patch", "kre.konstellation.io", "runtimes", "status", "", "r"),
        ),
    ],
)
def test_request_attributes(method: str, path: str, query: dict[str, str], expected: tuple[str, ...]) -> None:
    attrs = request_attributes(ALICE, method, path, query, query.get("watch") == "true")
    assert attrs.resource_request
    assert (attrs.verb, attrs.api_group, attrs.resource, attrs.subresource, attrs.namespace, attrs.name) == expected


@pytest.mark.parametrize(
    "path", ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/openapi/v3/api/v1", "/version", "/healthz"]
)
def test_non_resource_request_attributes(path: str) -> None:
    assert request_attributes(ALICE, "GET", path, {}, False) == Attributes(ALICE, "get", False, path=path)
