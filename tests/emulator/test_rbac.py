"""RBAC authorization and escalation prevention as kube-apiserver enforces them, and the record of rules used.

Each test runs on a fresh emulator: the admin (system:masters) sets Roles and bindings up, then users made with
`add_identity` / `service_account_token` try their luck over HTTP, with kubectl or with the Python client.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import requests
from kube_emulator.authn import User
from kube_emulator.authz import request_attributes
from kube_emulator.rbac import Attributes, Rule
from kube_emulator.threaded import ThreadedEmulator
from kubernetes.client.exceptions import ApiException

client: Any = kubernetes.client
config: Any = kubernetes.config

pytestmark = pytest.mark.kubectl

GROUP = "rbac.authorization.k8s.io"
RBAC = f"/apis/{GROUP}/v1"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{ns}/deployments"
CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"
MERGE = {"Content-Type": "application/merge-patch+json"}


class Api:
    """`requests` against the emulator's plain-HTTP listener as one user."""

    def __init__(self, emulator: ThreadedEmulator, token: str) -> None:
        self.base = emulator.url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

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


@pytest.fixture
def admin(emulator: ThreadedEmulator) -> Iterator[Api]:
    api = Api(emulator, emulator.admin_token)
    for namespace in ("team-a", "team-b"):
        api.made("/api/v1/namespaces", {"metadata": {"name": namespace}})
        for name in ("one", "two"):
            api.made(CONFIGMAPS.format(ns=namespace), {"metadata": {"name": name}, "data": {"k": "v"}})
    yield api
    api.session.close()


def as_user(emulator: ThreadedEmulator, name: str, groups: tuple[str, ...] = ()) -> Api:
    return Api(emulator, emulator.add_identity(name, groups))


def rule(verbs: list[str], resources: list[str], groups: tuple[str, ...] = ("",), names: tuple[str, ...] = ()) -> Any:
    made: dict[str, Any] = {"apiGroups": list(groups), "resources": resources, "verbs": verbs}
    if names:
        made["resourceNames"] = list(names)
    return made


def user(name: str) -> dict[str, str]:
    return {"apiGroup": GROUP, "kind": "User", "name": name}


def group(name: str) -> dict[str, str]:
    return {"apiGroup": GROUP, "kind": "Group", "name": name}


def role(admin: Api, namespace: str, name: str, *rules: Any) -> None:
    admin.made(f"{RBAC}/namespaces/{namespace}/roles", {"metadata": {"name": name}, "rules": list(rules)})


def cluster_role(admin: Api, name: str, *rules: Any) -> None:
    admin.made(f"{RBAC}/clusterroles", {"metadata": {"name": name}, "rules": list(rules)})


def binding(name: str, kind: str, role_name: str, *subjects: Any) -> Any:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": GROUP, "kind": kind, "name": role_name},
        "subjects": list(subjects),
    }


def role_binding(admin: Api, namespace: str, kind: str, role_name: str, *subjects: Any) -> None:
    admin.made(f"{RBAC}/namespaces/{namespace}/rolebindings", binding(f"{role_name}-b", kind, role_name, *subjects))


def cluster_role_binding(admin: Api, role_name: str, *subjects: Any) -> None:
    admin.made(f"{RBAC}/clusterrolebindings", binding(f"{role_name}-b", "ClusterRole", role_name, *subjects))


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


def test_bootstrap_policy(admin: Api) -> None:
    listed = admin.get(f"{RBAC}/clusterroles", params={"labelSelector": "kubernetes.io/bootstrapping=rbac-defaults"})
    roles = {item["metadata"]["name"]: item["rules"] for item in listed.json()["items"]}
    assert roles == {
        "cluster-admin": [
            {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
            {"verbs": ["*"], "nonResourceURLs": ["*"]},
        ],
        "system:discovery": [
            {
                "verbs": ["get"],
                "nonResourceURLs": [
                    "/livez",
                    "/readyz",
                    "/healthz",
                    "/version",
                    "/version/",
                    "/openapi",
                    "/openapi/*",
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                ],
            }
        ],
        "system:public-info-viewer": [
            {"verbs": ["get"], "nonResourceURLs": ["/livez", "/readyz", "/healthz", "/version", "/version/"]}
        ],
    }
    bindings = admin.get(f"{RBAC}/clusterrolebindings").json()["items"]
    assert {b["metadata"]["name"]: [s["name"] for s in b["subjects"]] for b in bindings} == {
        "cluster-admin": ["system:masters"],
        "system:discovery": ["system:authenticated"],
        "system:public-info-viewer": ["system:authenticated", "system:unauthenticated"],
    }
    assert all(b["metadata"]["labels"] == {"kubernetes.io/bootstrapping": "rbac-defaults"} for b in bindings)


# ------------------------------------------------------------------------------------------- matching


def test_verbs(emulator: ThreadedEmulator, admin: Api) -> None:
    role(admin, "team-a", "reader", rule(["get"], ["configmaps"]))
    role_binding(admin, "team-a", "Role", "reader", user("alice"))
    alice = as_user(emulator, "alice")
    configmaps = CONFIGMAPS.format(ns="team-a")
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
        .startswith('configmaps is forbidden: User "alice" cannot deletecollection resource "configmaps"')
    )

    role(admin, "team-a", "everything", rule(["*"], ["configmaps"]))
    role_binding(admin, "team-a", "Role", "everything", user("alice"))
    assert codes(alice.get(configmaps), alice.patch(f"{configmaps}/one", {"data": {"k": "w"}})) == [200, 200]


def test_api_groups_and_resources(emulator: ThreadedEmulator, admin: Api) -> None:
    admin.made(DEPLOYMENTS.format(ns="team-a"), deployment("web"))
    # "deployments" in the core group is not apps' deployments.
    cluster_role(admin, "wrong-group", rule(["get"], ["deployments"]))
    cluster_role(admin, "any-group", rule(["get"], ["deployments"], groups=("*",)))
    cluster_role(admin, "apps-only", rule(["get"], ["*"], groups=("apps",)))
    alice, bob, carol = (as_user(emulator, name) for name in ("alice", "bob", "carol"))
    role_binding(admin, "team-a", "ClusterRole", "wrong-group", user("alice"))
    role_binding(admin, "team-a", "ClusterRole", "any-group", user("bob"))
    role_binding(admin, "team-a", "ClusterRole", "apps-only", user("carol"))
    web = DEPLOYMENTS.format(ns="team-a") + "/web"
    replica_sets = "/apis/apps/v1/namespaces/team-a/replicasets"
    assert codes(alice.get(web), bob.get(web), carol.get(web)) == [403, 200, 200]
    assert codes(
        bob.get(CONFIGMAPS.format(ns="team-a") + "/one"), carol.get(CONFIGMAPS.format(ns="team-a") + "/one")
    ) == [403, 403]
    assert codes(carol.get(replica_sets), carol.get(replica_sets + "/x")) == [403, 404]


def test_subresources(emulator: ThreadedEmulator, admin: Api) -> None:
    admin.made(DEPLOYMENTS.format(ns="team-a"), deployment("web"))
    web = DEPLOYMENTS.format(ns="team-a") + "/web"
    status = {"status": {"observedGeneration": 7}}
    cases = {
        "main-only": (["deployments"], [200, 403]),
        "status-only": (["deployments/status"], [403, 200]),
        "any-status": (["*/status"], [403, 200]),
        "everything": (["*"], [200, 200]),
        "scale-only": (["*/scale"], [403, 403]),
    }
    for name, (resources, expected) in cases.items():
        cluster_role(admin, name, rule(["patch"], resources, groups=("apps",)))
        role_binding(admin, "team-a", "ClusterRole", name, user(name))
        api = as_user(emulator, name)
        got = codes(api.patch(web, {"metadata": {"labels": {"by": name}}}), api.patch(web + "/status", status))
        assert got == expected, name
    denied = as_user(emulator, "main-only").patch(web + "/status", status).json()
    assert denied["message"] == (
        'deployments.apps "web" is forbidden: User "main-only" cannot patch resource "deployments/status" '
        'in API group "apps" in the namespace "team-a"'
    )
    assert denied["details"] == {"name": "web", "group": "apps", "kind": "deployments"}


def test_resource_names(emulator: ThreadedEmulator, admin: Api) -> None:
    role(
        admin, "team-a", "just-one", rule(["get", "list", "watch", "create", "update"], ["configmaps"], names=("one",))
    )
    role_binding(admin, "team-a", "Role", "just-one", user("alice"))
    alice = as_user(emulator, "alice")
    configmaps = CONFIGMAPS.format(ns="team-a")
    assert codes(alice.get(f"{configmaps}/one"), alice.get(f"{configmaps}/two")) == [200, 403]
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
        'configmaps "two" is forbidden: User "alice" cannot list resource "configmaps" in API group "" '
        'in the namespace "team-a"'
    )


def test_namespace_scope(emulator: ThreadedEmulator, admin: Api) -> None:
    cluster_role(admin, "cm-reader", rule(["get", "list"], ["configmaps"]))
    role_binding(admin, "team-a", "ClusterRole", "cm-reader", user("alice"))
    cluster_role_binding(admin, "cm-reader", user("bob"))
    alice, bob = as_user(emulator, "alice"), as_user(emulator, "bob")
    everywhere = "/api/v1/configmaps"
    # A RoleBinding to a ClusterRole grants in its own namespace only.
    assert codes(
        alice.get(CONFIGMAPS.format(ns="team-a")), alice.get(CONFIGMAPS.format(ns="team-b")), alice.get(everywhere)
    ) == [200, 403, 403]
    assert alice.get(everywhere).json()["message"] == (
        'configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" at the cluster scope'
    )
    # A ClusterRoleBinding grants everywhere, across namespaces too.
    assert codes(bob.get(CONFIGMAPS.format(ns="team-a")), bob.get(CONFIGMAPS.format(ns="team-b"))) == [200, 200]
    assert {item["metadata"]["namespace"] for item in bob.get(everywhere).json()["items"]} >= {"team-a", "team-b"}
    # A Role binds in its namespace only, whatever the binding's namespace (here: none of that name).
    role(admin, "team-b", "local", rule(["get"], ["configmaps"]))
    role_binding(admin, "team-a", "Role", "local", user("carol"))
    assert (
        as_user(emulator, "carol")
        .get(CONFIGMAPS.format(ns="team-a") + "/one")
        .json()["message"]
        .endswith(': RBAC: role.rbac.authorization.k8s.io "local" not found')
    )


def test_a_namespace_is_in_its_own_scope(emulator: ThreadedEmulator, admin: Api) -> None:
    """RequestInfo puts a namespace's own name in its namespace: a RoleBinding there may grant reading it."""
    cluster_role(admin, "ns-reader", rule(["get"], ["namespaces"]))
    role_binding(admin, "team-a", "ClusterRole", "ns-reader", user("alice"))
    alice = as_user(emulator, "alice")
    assert codes(alice.get("/api/v1/namespaces/team-a"), alice.get("/api/v1/namespaces/team-b")) == [200, 403]
    assert alice.get("/api/v1/namespaces/team-b").json()["message"] == (
        'namespaces "team-b" is forbidden: User "alice" cannot get resource "namespaces" in API group "" '
        'in the namespace "team-b"'
    )


def test_subjects(emulator: ThreadedEmulator, admin: Api) -> None:
    cluster_role(admin, "cm-reader", rule(["get"], ["configmaps"]))
    one = CONFIGMAPS.format(ns="team-a") + "/one"
    subjects = [
        group("devs"),
        {"kind": "ServiceAccount", "name": "app", "namespace": "team-b"},
        {"kind": "ServiceAccount", "name": "local"},  # a RoleBinding's own namespace
    ]
    role_binding(admin, "team-a", "ClusterRole", "cm-reader", *subjects)
    allowed = [
        Api(emulator, emulator.add_identity("dora", ["devs"])),
        Api(emulator, emulator.service_account_token("team-b", "app")),
        Api(emulator, emulator.service_account_token("team-a", "local")),
    ]
    denied = [
        as_user(emulator, "devs"),  # a user named like the group is not in it
        Api(emulator, emulator.service_account_token("team-a", "app")),
        Api(emulator, emulator.service_account_token("team-b", "local")),
        as_user(emulator, "system:serviceaccount:team-b:app2"),
    ]
    assert codes(*(api.get(one) for api in allowed)) == [200, 200, 200]
    assert codes(*(api.get(one) for api in denied)) == [403, 403, 403, 403]
    # In a ClusterRoleBinding, a ServiceAccount needs its namespace.
    cluster_role_binding(admin, "cm-reader", {"kind": "ServiceAccount", "name": "nowhere"})
    assert Api(emulator, emulator.service_account_token("team-a", "nowhere")).get(one).status_code == 403


def test_non_resource_urls(emulator: ThreadedEmulator, admin: Api) -> None:
    anonymous = requests.Session()
    assert codes(*(anonymous.get(emulator.url + path, timeout=10) for path in ("/apis", "/openapi/v2"))) == [403, 403]
    cluster_role(admin, "apps-discovery", {"verbs": ["get"], "nonResourceURLs": ["/apis/apps/*", "/api"]})
    cluster_role_binding(admin, "apps-discovery", group("system:unauthenticated"))
    paths = ("/api", "/api/v1", "/apis/apps", "/apis/apps/v1", "/apis")
    assert codes(*(anonymous.get(emulator.url + path, timeout=10) for path in paths)) == [200, 403, 403, 200, 403]


def test_changes_apply_at_once(emulator: ThreadedEmulator, admin: Api) -> None:
    alice = as_user(emulator, "alice")
    one = CONFIGMAPS.format(ns="team-a") + "/one"
    assert alice.get(one).json()["message"] == (
        'configmaps "one" is forbidden: User "alice" cannot get resource "configmaps" in API group "" '
        'in the namespace "team-a"'
    )
    role_binding(admin, "team-a", "ClusterRole", "reader", user("alice"))  # before its role exists
    assert alice.get(one).json()["message"].endswith(': RBAC: clusterrole.rbac.authorization.k8s.io "reader" not found')
    cluster_role(admin, "reader", rule(["list"], ["configmaps"]))
    assert alice.get(one).status_code == 403
    admin.patch(f"{RBAC}/clusterroles/reader", {"rules": [rule(["get"], ["configmaps"])]})
    assert alice.get(one).status_code == 200
    admin.delete(f"{RBAC}/namespaces/team-a/rolebindings/reader-b")
    assert alice.get(one).status_code == 403


def test_watch_needs_the_watch_verb(emulator: ThreadedEmulator, admin: Api) -> None:
    role(admin, "team-a", "lister", rule(["list"], ["configmaps"]))
    role_binding(admin, "team-a", "Role", "lister", user("alice"))
    alice = as_user(emulator, "alice")
    configmaps = CONFIGMAPS.format(ns="team-a")
    denied = alice.get(configmaps, params={"watch": "true", "timeoutSeconds": "1"})
    assert denied.status_code == 403
    assert 'cannot watch resource "configmaps"' in denied.json()["message"]
    role(admin, "team-a", "watcher", rule(["watch"], ["configmaps"]))
    role_binding(admin, "team-a", "Role", "watcher", user("alice"))
    watched = alice.get(configmaps, params={"watch": "true", "timeoutSeconds": "1"})
    assert [json.loads(line)["type"] for line in watched.text.splitlines()] == ["ADDED", "ADDED", "ADDED"]


def test_denials_through_kubectl_and_the_client(emulator: ThreadedEmulator, admin: Api, tmp_path: Path) -> None:
    admin.made(DEPLOYMENTS.format(ns="team-a"), deployment("web"))
    token = emulator.service_account_token("kre", "op")
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig", token)
    command = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache")]
    result = subprocess.run(
        [*command, "-n", "team-a", "get", "deployment", "web"], capture_output=True, text=True, timeout=60
    )
    message = (
        'deployments.apps "web" is forbidden: User "system:serviceaccount:kre:op" cannot get resource '
        '"deployments" in API group "apps" in the namespace "team-a"'
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error from server (Forbidden): {message}"

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api, pytest.raises(ApiException) as caught:
        client.AppsV1Api(api).read_namespaced_deployment("web", "team-a")
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


# ------------------------------------------------------------------------------------------- escalation


ROLES_ADMIN = rule(["create", "update", "patch", "get"], ["roles", "rolebindings"], groups=(GROUP,))
CLUSTER_ROLES_ADMIN = rule(
    ["create", "update", "patch", "get"], ["clusterroles", "clusterrolebindings"], groups=(GROUP,)
)


def escalation(kind: str, name: str, groups: str, *missing: str) -> str:
    return (
        f'{kind}.{GROUP} "{name}" is forbidden: user "alice" (groups=[{groups}]) is attempting to grant RBAC '
        "permissions not currently held:\n" + "\n".join(missing)
    )


def test_role_escalation(emulator: ThreadedEmulator, admin: Api) -> None:
    cluster_role(admin, "role-admin", ROLES_ADMIN)
    role_binding(admin, "team-a", "ClusterRole", "role-admin", user("alice"))
    alice = as_user(emulator, "alice", ("devs",))
    roles = f"{RBAC}/namespaces/team-a/roles"
    wanted = {
        "metadata": {"name": "deployer"},
        "rules": [
            rule(["get", "list"], ["deployments", "replicasets"], groups=("apps",)),
            rule(["get"], ["secrets"], names=("a", "b")),
        ],
    }
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
            '"devs" "system:authenticated"',
            '{APIGroups:[""], Resources:["secrets"], ResourceNames:["a"], Verbs:["get"]}',
            '{APIGroups:[""], Resources:["secrets"], ResourceNames:["b"], Verbs:["get"]}',
            '{APIGroups:["apps"], Resources:["deployments"], Verbs:["get" "list"]}',
            '{APIGroups:["apps"], Resources:["replicasets"], Verbs:["get" "list"]}',
        ),
        "reason": "Forbidden",
        "details": {"name": "deployer", "group": GROUP, "kind": "roles"},
        "code": 403,
    }
    assert admin.get(f"{roles}/deployer").status_code == 404

    # Held in the namespace (the names a-b by one rule with more names, the rest by wildcards): allowed.
    cluster_role(
        admin,
        "holder",
        rule(["*"], ["deployments", "replicasets"], groups=("apps",)),
        rule(["get"], ["secrets"], names=("a", "b", "c")),
    )
    role_binding(admin, "team-b", "ClusterRole", "holder", user("alice"))
    assert alice.post(roles, wanted).status_code == 403  # held in another namespace does not count
    role_binding(admin, "team-a", "ClusterRole", "holder", user("alice"))
    assert alice.post(roles, wanted).status_code == 201

    # Updates are checked the same way, by PUT and by PATCH.
    more = rule(["delete"], ["pods"])
    patched = alice.patch(f"{roles}/deployer", {"rules": [*wanted["rules"], more]})
    assert patched.json()["message"] == escalation(
        "roles", "deployer", '"devs" "system:authenticated"', '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}'
    )
    current = alice.get(f"{roles}/deployer").json()
    current["rules"].append(rule(["get"], ["secrets"]))  # all secrets: a/b/c held by name do not cover it
    assert alice.put(f"{roles}/deployer", current).status_code == 403
    # A change of labels keeps rules alice holds: allowed.
    assert alice.patch(f"{roles}/deployer", {"metadata": {"labels": {"x": "y"}}}).status_code == 200


def test_only_gc_fields_are_not_checked(emulator: ThreadedEmulator, admin: Api) -> None:
    role(admin, "team-a", "powerful", rule(["*"], ["*"], groups=("*",)))
    cluster_role(admin, "role-admin", ROLES_ADMIN)
    role_binding(admin, "team-a", "ClusterRole", "role-admin", user("alice"))
    alice = as_user(emulator, "alice")
    powerful = f"{RBAC}/namespaces/team-a/roles/powerful"
    assert alice.patch(powerful, {"metadata": {"finalizers": ["example.com/hold"]}}).status_code == 200
    assert alice.patch(powerful, {"metadata": {"finalizers": None}}).status_code == 200
    assert alice.patch(powerful, {"metadata": {"labels": {"x": "y"}}}).status_code == 403


def test_escalate_verb(emulator: ThreadedEmulator, admin: Api) -> None:
    cluster_role(admin, "role-admin", ROLES_ADMIN)
    role_binding(admin, "team-a", "ClusterRole", "role-admin", user("alice"), user("bob"))
    role(admin, "team-a", "named", rule(["get"], ["configmaps"]))
    role(admin, "team-a", "other", rule(["get"], ["configmaps"]))
    roles = f"{RBAC}/namespaces/team-a/roles"
    grab = {"rules": [rule(["*"], ["*"], groups=("*",))]}
    # escalate on every role: anything goes.
    cluster_role(admin, "escalator", rule(["escalate"], ["roles"], groups=(GROUP,)))
    role_binding(admin, "team-a", "ClusterRole", "escalator", user("alice"))
    alice = as_user(emulator, "alice")
    assert alice.post(roles, {"metadata": {"name": "mine"}, **grab}).status_code == 201
    assert alice.patch(f"{roles}/other", grab).status_code == 200
    # escalate on one role by name: updating that one only, never creating (a create has no name).
    cluster_role(admin, "named-escalator", rule(["escalate"], ["roles"], groups=(GROUP,), names=("named",)))
    role_binding(admin, "team-a", "ClusterRole", "named-escalator", user("bob"))
    bob = as_user(emulator, "bob")
    assert codes(
        bob.patch(f"{roles}/named", grab),
        bob.patch(f"{roles}/other", {"rules": [rule(["list"], ["secrets"])]}),
        bob.post(roles, {"metadata": {"name": "named-2"}, **grab}),
    ) == [200, 403, 403]


def test_cluster_role_escalation(emulator: ThreadedEmulator, admin: Api) -> None:
    cluster_role(admin, "cluster-role-admin", CLUSTER_ROLES_ADMIN)
    cluster_role_binding(admin, "cluster-role-admin", user("alice"))
    cluster_role(admin, "cm-all", rule(["*"], ["configmaps"]))
    role_binding(admin, "team-a", "ClusterRole", "cm-all", user("alice"))
    alice = as_user(emulator, "alice")
    wanted = {"metadata": {"name": "cm-reader"}, "rules": [rule(["get"], ["configmaps"])]}
    # Held in one namespace is not held cluster-wide.
    assert alice.post(f"{RBAC}/clusterroles", wanted).json()["message"] == escalation(
        "clusterroles",
        "cm-reader",
        '"system:authenticated"',
        '{APIGroups:[""], Resources:["configmaps"], Verbs:["get"]}',
    )
    cluster_role_binding(admin, "cm-all", user("alice"))
    assert alice.post(f"{RBAC}/clusterroles", wanted).status_code == 201
    # An aggregationRule takes cluster-admin's powers.
    aggregated = {
        "metadata": {"name": "aggregated"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]},
        "rules": [],
    }
    denied = alice.post(f"{RBAC}/clusterroles", aggregated).json()
    assert denied["message"] == (
        f'clusterroles.{GROUP} "aggregated" is forbidden: must have cluster-admin privileges to use the aggregationRule'
    )
    # escalate on clusterroles.
    cluster_role(admin, "escalator", rule(["escalate"], ["clusterroles"], groups=(GROUP,)))
    cluster_role_binding(admin, "escalator", user("alice"))
    grab = {"metadata": {"name": "grab"}, "rules": [rule(["*"], ["*"], groups=("*",))]}
    assert alice.post(f"{RBAC}/clusterroles", grab).status_code == 201


def test_role_binding_escalation(emulator: ThreadedEmulator, admin: Api) -> None:
    cluster_role(admin, "binder", ROLES_ADMIN)
    role_binding(admin, "team-a", "ClusterRole", "binder", user("alice"))
    cluster_role(admin, "secrets-reader", rule(["get", "list"], ["secrets"]))
    role(admin, "team-a", "cm-writer", rule(["create"], ["configmaps"]))
    alice = as_user(emulator, "alice")
    bindings = f"{RBAC}/namespaces/team-a/rolebindings"
    to_secrets = binding("secrets-for-bob", "ClusterRole", "secrets-reader", user("bob"))
    denied = alice.post(bindings, to_secrets)
    assert denied.json()["message"] == escalation(
        "rolebindings",
        "secrets-for-bob",
        '"system:authenticated"',
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}',
    )
    assert denied.json()["details"] == {"name": "secrets-for-bob", "group": GROUP, "kind": "rolebindings"}
    missing = alice.post(bindings, binding("ghost", "Role", "ghost", user("bob"))).json()
    assert missing["message"] == (f'rolebindings.{GROUP} "ghost" is forbidden: roles.{GROUP} "ghost" not found')
    # bind on one ClusterRole, by name, in this namespace.
    cluster_role(admin, "bind-secrets", rule(["bind"], ["clusterroles"], groups=(GROUP,), names=("secrets-reader",)))
    role_binding(admin, "team-b", "ClusterRole", "bind-secrets", user("alice"))
    assert alice.post(bindings, to_secrets).status_code == 403  # bind held in another namespace
    role_binding(admin, "team-a", "ClusterRole", "bind-secrets", user("alice"))
    assert alice.post(bindings, to_secrets).status_code == 201
    assert alice.post(bindings, binding("cm", "Role", "cm-writer", user("bob"))).status_code == 403
    # Holding every permission of the role is enough without bind.
    role(admin, "team-a", "cm-creator", rule(["create"], ["configmaps"]))
    role_binding(admin, "team-a", "Role", "cm-creator", user("alice"))
    assert alice.post(bindings, binding("cm", "Role", "cm-writer", user("bob"))).status_code == 201
    # Updates too: pointing the binding at another subject is re-checked (and allowed: bind still holds).
    assert alice.patch(f"{bindings}/secrets-for-bob", {"subjects": [user("carol")]}).status_code == 200


def test_cluster_role_binding_escalation(emulator: ThreadedEmulator, admin: Api) -> None:
    cluster_role(admin, "binder", CLUSTER_ROLES_ADMIN)
    cluster_role_binding(admin, "binder", user("alice"))
    alice = as_user(emulator, "alice")
    bindings = f"{RBAC}/clusterrolebindings"
    to_admin = binding("bob-admin", "ClusterRole", "cluster-admin", user("bob"))
    assert alice.post(bindings, to_admin).json()["message"] == escalation(
        "clusterrolebindings",
        "bob-admin",
        '"system:authenticated"',
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}',
        '{NonResourceURLs:["*"], Verbs:["*"]}',
    )
    cluster_role(admin, "bind-admin", rule(["bind"], ["clusterroles"], groups=(GROUP,), names=("cluster-admin",)))
    role_binding(admin, "team-a", "ClusterRole", "bind-admin", user("alice"))
    assert alice.post(bindings, to_admin).status_code == 403  # bind in a namespace is not bind cluster-wide
    cluster_role_binding(admin, "bind-admin", user("alice"))
    assert alice.post(bindings, to_admin).status_code == 201
    # bind by name is for that role only; holding a role's permissions (discovery's, as any user) is enough.
    cluster_role(admin, "secrets-reader", rule(["get"], ["secrets"]))
    secrets = binding("bob-secrets", "ClusterRole", "secrets-reader", user("bob"))
    discovery = binding("bob-discovery", "ClusterRole", "system:discovery", user("bob"))
    assert codes(alice.post(bindings, secrets), alice.post(bindings, discovery)) == [403, 201]


def test_escalation_through_kubectl(emulator: ThreadedEmulator, admin: Api, tmp_path: Path) -> None:
    cluster_role(admin, "role-admin", ROLES_ADMIN)
    role_binding(admin, "team-a", "ClusterRole", "role-admin", user("alice"))
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig", emulator.add_identity("alice"))
    manifest = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Role",
        "metadata": {"name": "deployer", "namespace": "team-a"},
        "rules": [rule(["create"], ["deployments"], groups=("apps",))],
    }
    command = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), "create", "-f", "-"]
    result = subprocess.run(command, input=json.dumps(manifest), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": '
        + escalation(
            "roles",
            "deployer",
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


def test_usage_records_each_rule_that_allows(emulator: ThreadedEmulator, admin: Api) -> None:
    cluster_role(admin, "reader", rule(["list"], ["secrets"]), rule(["get", "list"], ["configmaps"]))
    cluster_role(admin, "also", rule(["get"], ["configmaps"], names=("one",)))
    role(admin, "team-a", "local", rule(["patch"], ["configmaps"]))
    role_binding(admin, "team-a", "ClusterRole", "reader", user("alice"))
    cluster_role_binding(admin, "also", user("alice"))
    role_binding(admin, "team-a", "Role", "local", user("alice"))
    emulator.reset_rbac_usage()
    alice = as_user(emulator, "alice")
    configmaps = CONFIGMAPS.format(ns="team-a")
    for _ in range(2):  # recorded once
        assert codes(alice.get(f"{configmaps}/one"), alice.get(f"{configmaps}/two"), alice.get(configmaps)) == [200] * 3
    assert alice.patch(f"{configmaps}/one", {"data": {"k": "w"}}).status_code == 200
    assert alice.get("/api/v1/namespaces/team-a/secrets/x").status_code == 403  # denied: no rule used
    admin.get(configmaps)  # system:masters: no rule decides
    recorded = emulator.rbac_usage()
    assert sorted(recorded, key=json.dumps) == sorted(
        [
            usage("also", 0, "get", "configmaps", resourceName="one"),
            usage("reader", 1, "get", "configmaps"),
            usage("reader", 1, "list", "configmaps"),
            usage("local", 0, "patch", "configmaps", roleKind="Role", roleNamespace="team-a"),
        ],
        key=json.dumps,
    )
    assert requests.get(emulator.url + "/_emulator/rbac/usage", timeout=10).json() == recorded
    assert requests.delete(emulator.url + "/_emulator/rbac/usage", timeout=10).status_code == 200
    assert emulator.rbac_usage() == []


def test_usage_records_discovery_and_escalation_checks(emulator: ThreadedEmulator, admin: Api) -> None:
    cluster_role(admin, "role-admin", rule(["create"], ["roles"], groups=(GROUP,)))
    cluster_role(admin, "cm", rule(["get", "list"], ["configmaps"]))
    role_binding(admin, "team-a", "ClusterRole", "role-admin", user("alice"))
    role_binding(admin, "team-a", "ClusterRole", "cm", user("alice"))
    emulator.reset_rbac_usage()
    alice = as_user(emulator, "alice")
    assert alice.get("/apis").status_code == 200
    wanted = {"metadata": {"name": "x"}, "rules": [rule(["get"], ["configmaps"])]}
    assert alice.post(f"{RBAC}/namespaces/team-a/roles", wanted).status_code == 201
    assert sorted(emulator.rbac_usage(), key=json.dumps) == sorted(
        [
            usage("system:discovery", 0, "get", "", nonResourceURL="/apis"),
            usage("role-admin", 0, "create", "roles", apiGroup=GROUP),
            usage("cm", 0, "get", "configmaps"),  # covered the new role's permission
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
