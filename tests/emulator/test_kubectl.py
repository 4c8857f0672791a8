"""kubectl against the emulator, as a subprocess: apply, get, label, delete, wait and explain.

Each test drives the real binary (fixtures in tests/conftest.py) and checks what a user of a real cluster
would see: kubectl's own output, exit codes, and the objects it leaves behind. Each test works in a namespace
and an API group (for its CRDs) of its own, both deleted afterwards, so that those marked `cluster` also run
against a real cluster (K8S_MANAGER_TEST_KUBECONFIG). What another client changes meanwhile, it changes through
kubectl too. The emulator runs are with kubectl 1.32, the real control plane's with its own kubectl (1.36): where
the two print differently, the expected output follows the running kubectl's version (`deleted`).
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from string import Template
from typing import Any, Protocol

import pytest
import yaml
from kube_emulator import openapi, tables
from kube_emulator.resources import JsonObject, Registry, ResourceType

pytestmark = pytest.mark.kubectl

HOLD = "example.com/hold"


class Kubectl(Protocol):
    """The `kubectl` fixture of tests/conftest.py."""

    def in_namespace(self, namespace: str) -> Kubectl: ...

    def command(self, *args: str) -> list[str]: ...

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...

    def json(self, *args: str) -> Any: ...


# Workloads take this long to become ready on a real cluster that first has to pull the image.
WORKLOAD_TIMEOUT = 180

# The CRDs are templates for the test's own group ($group).
CRD = Template("""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: models.$group
spec:
  group: $group
  scope: Namespaced
  names: {plural: models, singular: model, kind: Model, shortNames: [mdl]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Engine, type: string, jsonPath: .spec.engine, description: The inference engine}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Path, type: string, jsonPath: .spec.path, priority: 1}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        description: A model served by an inference engine.
        properties:
          spec:
            type: object
            description: What to serve.
            required: [engine]
            properties:
              engine: {type: string, enum: [vllm, tgi], description: The engine that serves the model.}
              replicas: {type: integer, minimum: 0, default: 1}
              path: {type: string}
          status:
            type: object
            properties:
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
                    reason: {type: string}
""")

PLAIN_CRD = Template("""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.$group
spec:
  group: $group
  scope: Cluster
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
""")


def deployment(env: list[dict[str, str]], name: str = "web") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "main", "image": "nginx:1.27", "env": env}]},
                },
            },
        }
    )


def model_crd(group: str) -> str:
    return CRD.substitute(group=group)


def plain_crd(group: str) -> str:
    return PLAIN_CRD.substitute(group=group)


def model(group: str, name: str, namespace: str | None = None, **spec: Any) -> str:
    """A Model, in kubectl's namespace unless `namespace` is given."""
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return yaml.safe_dump(
        {"apiVersion": f"{group}/v1", "kind": "Model", "metadata": metadata, "spec": {"engine": "vllm", **spec}}
    )


def openapi_v2_name(group: str) -> str:
    """The name of the group's definitions in /openapi/v2: the group's DNS labels reversed."""
    return ".".join(reversed(group.split(".")))


def apply(kubectl: Kubectl, manifest: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return kubectl.run("apply", "-f", "-", *args, input=manifest, check=check)


def lines(output: str) -> list[list[str]]:
    """A kubectl table as rows of whitespace-separated cells (headers first)."""
    return [line.split() for line in output.strip().splitlines()]


def spawn(kubectl: Kubectl, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(kubectl.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def still_running(process: subprocess.Popen[str], seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return True
    return False


def eventually(check: Callable[[], Any], what: str, deadline: float = 10.0) -> Any:
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)


def patch(kubectl: Kubectl, resource: str, change: JsonObject, *args: str) -> None:
    """A merge patch from another client of the cluster (not apply: it owns nothing of what apply manages)."""
    kubectl.run("patch", *resource.split(), "--type=merge", "-p", json.dumps(change), *args)


def set_status(kubectl: Kubectl, resource: str, status: JsonObject) -> None:
    """Write `status` through the status subresource, as a controller would."""
    patch(kubectl, resource, {"status": status}, "--subresource=status")


DROP_FINALIZERS: JsonObject = {"metadata": {"finalizers": None}}


@functools.cache
def client_minor(binary: str) -> int:
    """The minor version of a kubectl binary."""
    version = json.loads(subprocess.run([binary, "version", "--client", "-o", "json"], capture_output=True,
                                        text=True, check=True, timeout=30).stdout)  # fmt: skip
    return int(version["clientVersion"]["minor"].rstrip("+"))


def deleted(kubectl: Kubectl, what: str, namespace: str | None = None) -> str:
    """What `kubectl delete` prints for one object: kubectl 1.33 and later also name its namespace."""
    if namespace is None or client_minor(kubectl.command()[0]) < 33:
        return f"{what} deleted"
    return f"{what} deleted from {namespace} namespace"


def wait_served(kubectl: Kubectl, group: str, plural: str) -> None:
    """Until the CRD's resource is in discovery and in /openapi/v3, which kubectl reads.

    A real API server publishes a new or changed CRD there asynchronously, a moment after it is Established.
    """
    kubectl.run("wait", "--for=condition=Established", f"crd/{plural}.{group}", "--timeout=30s")

    def published() -> bool:
        discovery = kubectl.run("get", "--raw", f"/apis/{group}/v1", check=False)
        if discovery.returncode != 0 or plural not in [r["name"] for r in json.loads(discovery.stdout)["resources"]]:
            return False
        if f"apis/{group}/v1" not in json.loads(kubectl.run("get", "--raw", "/openapi/v3").stdout)["paths"]:
            return False
        # What kubectl itself resolves (its RESTMapper and its OpenAPI v3 cache), which can lag the two documents.
        return kubectl.run("explain", "--api-version", f"{group}/v1", plural, check=False).returncode == 0

    eventually(published, f"{plural}.{group} in discovery and /openapi/v3", deadline=60)


def wait_for_openapi_v2(kubectl: Kubectl, definition: str) -> None:
    """Until /openapi/v2 has the definition (kubectl validates a List and explains v2 with it)."""
    eventually(
        lambda: definition in json.loads(kubectl.run("get", "--raw", "/openapi/v2").stdout)["definitions"],
        f"{definition} in /openapi/v2",
        deadline=30,
    )


@pytest.fixture
def kubectl(kubectl: Kubectl, namespace: str) -> Kubectl:
    """kubectl working in the test's own namespace."""
    return kubectl.in_namespace(namespace)


@pytest.fixture(name="group")
def own_group(kubectl: Kubectl) -> Iterator[str]:
    """An API group of the test's own for its CRDs; afterwards their objects' finalizers go, then the CRDs."""
    name = f"ml-{uuid.uuid4().hex[:8]}.example.com"
    yield name
    listed = kubectl.run("get", f"models.{name}", "--all-namespaces", "-o", "json", check=False)
    if listed.returncode == 0:
        for item in json.loads(listed.stdout)["items"]:
            if item["metadata"].get("finalizers"):
                kubectl.run(
                    "patch", f"models.{name}", item["metadata"]["name"], "--namespace", item["metadata"]["namespace"],
                    "--type=merge", "-p", '{"metadata": {"finalizers": null}}',
                )  # fmt: skip
    kubectl.run("delete", "crd", f"models.{name}", f"widgets.{name}", "--ignore-not-found", "--wait=false")


@pytest.fixture
def crd(kubectl: Kubectl, group: str) -> None:
    apply(kubectl, model_crd(group))
    wait_served(kubectl, group, "models")


# ------------------------------------------------------------------------------------------------------------
# apply


@pytest.mark.cluster
def test_apply_creates_then_reports_unchanged(kubectl: Kubectl) -> None:
    manifest = deployment([{"name": "A", "value": "1"}])

    created = apply(kubectl, manifest)
    again = apply(kubectl, manifest)

    assert created.stdout.strip() == "deployment.apps/web created"
    assert again.stdout.strip() == "deployment.apps/web unchanged"
    live = kubectl.json("get", "deployment", "web")
    annotation = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert annotation["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]


@pytest.mark.cluster
def test_reapply_merges_container_env_by_name(kubectl: Kubectl) -> None:
    apply(kubectl, deployment([{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]))
    # Someone else adds B: apply must keep it, as it only owns what its last configuration listed.
    add_b = [{"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "B", "value": "2"}}]
    kubectl.run("patch", "deployment", "web", "--type=json", "-p", json.dumps(add_b))

    result = kubectl.run("apply", "-f", "-", "-v=8", input=deployment([{"name": "A", "value": "10"}]))

    assert "deployment.apps/web configured" in result.stdout
    assert "application/strategic-merge-patch+json" in result.stderr
    assert "warning" not in result.stderr.lower()
    env = kubectl.json("get", "deployment", "web")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "10"}, {"name": "B", "value": "2"}]


@pytest.mark.cluster
def test_reapply_keeps_replicas_set_by_someone_else(kubectl: Kubectl) -> None:
    manifest = yaml.safe_load(deployment([]))
    del manifest["spec"]["replicas"]
    apply(kubectl, yaml.safe_dump(manifest))
    kubectl.run("scale", "deployment", "web", "--replicas=3")

    manifest["metadata"]["labels"]["tier"] = "front"
    apply(kubectl, yaml.safe_dump(manifest))

    live = kubectl.json("get", "deployment", "web")
    assert live["spec"]["replicas"] == 3
    assert live["metadata"]["labels"] == {"app": "web", "tier": "front"}


@pytest.mark.cluster
def test_apply_rejects_unknown_fields_of_builtin_kinds(kubectl: Kubectl, namespace: str) -> None:
    manifest = yaml.safe_load(deployment([]))
    manifest["spec"]["replica"] = 2
    manifest["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"

    result = apply(kubectl, yaml.safe_dump(manifest), check=False)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be '
        'handled as a Deployment: strict decoding error: unknown field "spec.replica", unknown field '
        '"spec.template.spec.containers[0].imagePullPolicyy"'
    )
    missing = kubectl.run("get", "deployments", check=False)
    assert missing.stderr.strip() == f"No resources found in {namespace} namespace."


@pytest.mark.cluster
def test_apply_with_warn_validation_drops_unknown_fields(kubectl: Kubectl) -> None:
    manifest = yaml.safe_load(deployment([]))
    manifest["spec"]["replica"] = 2

    result = apply(kubectl, yaml.safe_dump(manifest), "--validate=warn")

    assert result.stderr.strip() == 'Warning: unknown field "spec.replica"'
    assert "replica" not in kubectl.json("get", "deployment", "web")["spec"]


@pytest.mark.cluster
def test_apply_rejects_unknown_and_invalid_fields_of_custom_resources(kubectl: Kubectl, crd: None, group: str) -> None:
    unknown = apply(kubectl, model(group, "bad", bogus=1), check=False)
    invalid = apply(kubectl, model(group, "bad", engine="nope"), check=False)

    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Model in version "v1" cannot be handled '
        'as a Model: strict decoding error: unknown field "spec.bogus"'
    )
    assert invalid.returncode == 1
    assert 'spec.engine: Unsupported value: "nope": supported values: "vllm", "tgi"' in invalid.stderr


# Emulator only: a real API server serves a new CRD's resource a moment after creating it, so kubectl may not
# find it right away ("ensure CRDs are installed first"); the emulator serves it at once.
def test_apply_crd_then_custom_resource_right_away(kubectl: Kubectl, group: str) -> None:
    crd_result = apply(kubectl, model_crd(group))
    cr_result = apply(kubectl, model(group, "llama", path="/models/llama"))

    assert crd_result.stdout.strip() == f"customresourcedefinition.apiextensions.k8s.io/models.{group} created"
    assert cr_result.stdout.strip() == f"model.{group}/llama created"
    live = kubectl.json("get", f"models.{group}", "llama")
    assert live["spec"] == {"engine": "vllm", "path": "/models/llama", "replicas": 1}  # schema default applied


@pytest.mark.cluster
def test_reapply_changed_custom_resource(kubectl: Kubectl, crd: None, group: str) -> None:
    apply(kubectl, model(group, "llama", path="/a"))

    changed = apply(kubectl, model(group, "llama", path="/b", replicas=2))
    unchanged = apply(kubectl, model(group, "llama", path="/b", replicas=2))

    assert changed.stdout.strip() == f"model.{group}/llama configured"
    assert changed.stderr == ""
    assert unchanged.stdout.strip() == f"model.{group}/llama unchanged"
    assert kubectl.json("get", f"models.{group}", "llama")["spec"] == {"engine": "vllm", "path": "/b", "replicas": 2}


@pytest.mark.cluster
def test_reapply_crd_with_a_new_field(kubectl: Kubectl, crd: None, group: str) -> None:
    document = yaml.safe_load(model_crd(group))
    spec_schema = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["properties"]["quantization"] = {"type": "string", "description": "Weight quantization."}

    result = apply(kubectl, yaml.safe_dump(document))
    # A real API server takes a changed schema a moment later: until a server-side dry run keeps the field.
    eventually(
        lambda: "quantization" in apply(kubectl, model(group, "llama", quantization="awq"), "--dry-run=server",
                                        "-o", "json", check=False).stdout,
        "the new field in the served schema",
        deadline=30,
    )  # fmt: skip
    accepted = apply(kubectl, model(group, "llama", quantization="awq"))

    assert result.stdout.strip() == f"customresourcedefinition.apiextensions.k8s.io/models.{group} configured"
    assert result.stderr == ""
    assert accepted.stdout.strip() == f"model.{group}/llama created"
    assert kubectl.json("get", f"models.{group}", "llama")["spec"]["quantization"] == "awq"


LIST = Template("""
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: listed}
  data: {a: b}
- apiVersion: $group/v1
  kind: Model
  metadata: {name: listed}
  spec: {engine: vllm}
""")


@pytest.mark.cluster
def test_apply_list_validates_its_items_with_openapi_v2(kubectl: Kubectl, crd: None, group: str) -> None:
    # A List has no server-side validation: kubectl validates each item against /openapi/v2 (protobuf).
    wait_for_openapi_v2(kubectl, f"{openapi_v2_name(group)}.v1.Model")
    listed = LIST.substitute(group=group)
    bad_configmap = apply(kubectl, listed.replace("data: {a: b}", "data: {a: b}\n  bogus: 1"), check=False)
    bad_model = apply(kubectl, listed.replace("{engine: vllm}", "{engine: vllm, bogus: 2}"), check=False)
    good = apply(kubectl, listed)

    assert bad_configmap.returncode == 1
    assert bad_configmap.stderr.strip() == (
        'error: error validating "STDIN": error validating data: ValidationError(ConfigMap): unknown field "bogus" '
        "in io.k8s.api.core.v1.ConfigMap; if you choose to ignore these errors, turn validation off with "
        "--validate=false"
    )
    assert bad_model.returncode == 1
    assert (
        f'ValidationError(Model.spec): unknown field "bogus" in {openapi_v2_name(group)}.v1.Model.spec'
    ) in bad_model.stderr
    assert good.stdout.splitlines() == ["configmap/listed created", f"model.{group}/listed created"]


# ------------------------------------------------------------------------------------------------------------
# get


MISC = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1", b: "2"}
binaryData: {c: AA==}
---
apiVersion: v1
kind: Secret
metadata: {name: token}
stringData: {key: value}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot}
---
apiVersion: v1
kind: Service
metadata: {name: front}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: https, port: 443, protocol: TCP}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: robot, namespace: default}, {kind: User, name: ann}]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: leader}
spec: {holderIdentity: operator-0}
"""


@pytest.mark.parametrize(
    ("resource", "headers", "cells"),
    [
        ("configmap/settings", ["NAME", "DATA", "AGE"], ["settings", "3"]),
        ("secret/token", ["NAME", "TYPE", "DATA", "AGE"], ["token", "Opaque", "1"]),
        ("serviceaccount/robot", ["NAME", "AGE"], ["robot"]),  # 1.36 prints no SECRETS column
        (
            "service/front",
            ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
            ["front", "ClusterIP", None, "<none>", "80/TCP,443/TCP"],
        ),
        ("rolebinding/reader", ["NAME", "ROLE", "AGE"], ["reader", "Role/reader"]),
        ("lease/leader", ["NAME", "HOLDER", "AGE"], ["leader", "operator-0"]),
        ("namespace/{namespace}", ["NAME", "STATUS", "AGE"], ["{namespace}", "Active"]),
    ],
)
@pytest.mark.cluster
def test_get_prints_the_apiserver_columns(
    kubectl: Kubectl, namespace: str, resource: str, headers: list[str], cells: list[str | None]
) -> None:
    apply(kubectl, MISC)
    resource = resource.format(namespace=namespace)
    cells = [cell if cell is None else cell.format(namespace=namespace) for cell in cells]

    header, row = lines(kubectl.run("get", resource).stdout)

    assert header == headers
    assert len(row) == len(headers)
    for expected, actual in zip(cells, row, strict=False):
        if expected is not None:
            assert actual == expected
    assert row[-1].endswith("s")  # AGE, in seconds for a new object


@pytest.mark.cluster
def test_get_prints_created_at_for_kinds_without_a_printer(kubectl: Kubectl, group: str) -> None:
    apply(kubectl, MISC)
    apply(kubectl, plain_crd(group))

    role_header, role_row = lines(kubectl.run("get", "role", "reader").stdout)
    crd_header, crd_row = lines(kubectl.run("get", "crd", f"widgets.{group}").stdout)

    role_created = kubectl.json("get", "role", "reader")["metadata"]["creationTimestamp"]
    crd_created = kubectl.json("get", "crd", f"widgets.{group}")["metadata"]["creationTimestamp"]
    assert role_header == crd_header == ["NAME", "CREATED", "AT"]
    assert role_row == ["reader", role_created]
    assert crd_row == [f"widgets.{group}", crd_created]


@pytest.mark.cluster
def test_get_wide_adds_the_priority_columns(kubectl: Kubectl) -> None:
    apply(kubectl, MISC)

    header, row = lines(kubectl.run("get", "rolebinding", "reader", "-o", "wide").stdout)

    assert header == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert row[0:2] == ["reader", "Role/reader"]
    assert row[3:] == ["ann", "default/robot"]


@pytest.mark.cluster
def test_get_workloads_show_readiness(kubectl: Kubectl) -> None:
    apply(kubectl, deployment([]))
    available = ("wait", "--for=condition=Available", "deployment/web", f"--timeout={WORKLOAD_TIMEOUT}s")
    kubectl.run(*available, timeout=WORKLOAD_TIMEOUT + 10)

    deploy_header, deploy_row = lines(kubectl.run("get", "deployment", "web").stdout)
    rs_lines = lines(kubectl.run("get", "replicasets", "-l", "app=web").stdout)
    pod_lines = lines(kubectl.run("get", "pods", "-l", "app=web").stdout)

    assert deploy_header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploy_row[:4] == ["web", "1/1", "1", "1"]
    assert rs_lines[0] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert rs_lines[1][1:4] == ["1", "1", "1"]
    assert pod_lines[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pod_lines[1][1:4] == ["1/1", "Running", "0"]
    assert pod_lines[1][0].startswith(rs_lines[1][0] + "-")


@pytest.mark.cluster
def test_get_events_table(kubectl: Kubectl) -> None:
    apply(kubectl, deployment([]))
    available = ("wait", "--for=condition=Available", "deployment/web", f"--timeout={WORKLOAD_TIMEOUT}s")
    kubectl.run(*available, timeout=WORKLOAD_TIMEOUT + 10)

    def scaling_events() -> str | None:
        output = kubectl.run("get", "events").stdout
        return output if "ScalingReplicaSet" in output else None

    output = eventually(scaling_events, "a ScalingReplicaSet event")

    rows = lines(output)
    assert rows[0] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    scaling = next(row for row in rows if "ScalingReplicaSet" in row)
    assert scaling[1:4] == ["Normal", "ScalingReplicaSet", "deployment/web"]


@pytest.mark.cluster
def test_get_yaml_and_json_print_the_object(kubectl: Kubectl) -> None:
    apply(kubectl, MISC)

    as_yaml = yaml.safe_load(kubectl.run("get", "configmap", "settings", "-o", "yaml").stdout)
    as_json = kubectl.json("get", "configmap", "settings")
    listed = kubectl.json("get", "configmaps")

    assert as_yaml == as_json
    assert as_json["kind"] == "ConfigMap"
    assert as_json["apiVersion"] == "v1"
    assert as_json["data"] == {"a": "1", "b": "2"}
    assert listed["kind"] == "List"
    # Next to the CA bundle the cluster publishes in every namespace.
    assert [item["metadata"]["name"] for item in listed["items"]] == ["kube-root-ca.crt", "settings"]


@pytest.mark.cluster
def test_get_label_selectors(kubectl: Kubectl, crd: None, group: str) -> None:
    for name, labels in [("a", "tier=gold,env=prod"), ("b", "tier=silver,env=dev"), ("c", "tier=bronze")]:
        apply(kubectl, model(group, name))
        kubectl.run("label", f"models.{group}", name, *labels.split(","))

    def names(selector: str) -> list[str]:
        return [item["metadata"]["name"] for item in kubectl.json("get", f"models.{group}", "-l", selector)["items"]]

    assert names("tier=gold") == ["a"]
    assert names("tier!=gold") == ["b", "c"]
    assert names("env in (prod,dev)") == ["a", "b"]
    assert names("tier notin (gold,silver)") == ["c"]
    assert names("env") == ["a", "b"]
    assert names("!env") == ["c"]
    assert names("env=dev,tier=silver") == ["b"]
    table = kubectl.run("get", f"models.{group}", "-l", "env=prod").stdout
    assert [row[0] for row in lines(table)] == ["NAME", "a"]


@pytest.mark.cluster
def test_label_add_overwrite_and_remove(kubectl: Kubectl, crd: None, group: str) -> None:
    apply(kubectl, model(group, "llama"))

    added = kubectl.run("label", f"models.{group}", "llama", "stage=test")
    refused = kubectl.run("label", f"models.{group}", "llama", "stage=prod", check=False)
    overwritten = kubectl.run("label", f"models.{group}", "llama", "stage=prod", "--overwrite")
    after_overwrite = kubectl.json("get", f"models.{group}", "llama")["metadata"]["labels"]
    removed = kubectl.run("label", f"models.{group}", "llama", "stage-")

    assert added.stdout.strip() == f"model.{group}/llama labeled"
    assert refused.returncode == 1
    assert "'stage' already has a value (test), and --overwrite is false" in refused.stderr
    assert overwritten.stdout.strip() == f"model.{group}/llama labeled"
    assert after_overwrite == {"stage": "prod"}
    assert removed.stdout.strip() == f"model.{group}/llama unlabeled"
    assert not kubectl.json("get", f"models.{group}", "llama")["metadata"].get("labels")
    assert lines(kubectl.run("get", f"models.{group}", "llama", "--show-labels").stdout)[1][-1] == "<none>"


@pytest.mark.cluster
def test_label_builtin_kind(kubectl: Kubectl) -> None:
    apply(kubectl, MISC)

    kubectl.run("label", "configmap", "settings", "team=ml")

    assert kubectl.json("get", "configmap", "settings")["metadata"]["labels"] == {"team": "ml"}
    assert [row[0] for row in lines(kubectl.run("get", "cm", "-l", "team=ml").stdout)] == ["NAME", "settings"]


# ------------------------------------------------------------------------------------------------------------
# printer columns of custom resources


@pytest.mark.cluster
def test_custom_resource_printer_columns(kubectl: Kubectl, crd: None, group: str) -> None:
    apply(kubectl, model(group, "llama", replicas=2, path="/models/llama"))
    conditions = [{"type": "Scheduled", "status": "True"}, {"type": "Ready", "status": "False"}]
    set_status(kubectl, f"models.{group} llama", {"conditions": conditions})

    header, row = lines(kubectl.run("get", f"models.{group}").stdout)
    wide_header, wide_row = lines(kubectl.run("get", f"models.{group}", "-o", "wide").stdout)

    assert header == ["NAME", "ENGINE", "REPLICAS", "READY", "AGE"]
    assert row[:4] == ["llama", "vllm", "2", "False"]
    assert wide_header == ["NAME", "ENGINE", "REPLICAS", "READY", "PATH", "AGE"]
    assert wide_row[:5] == ["llama", "vllm", "2", "False", "/models/llama"]


@pytest.mark.cluster
def test_custom_resource_without_printer_columns_shows_name_and_age(kubectl: Kubectl, group: str) -> None:
    apply(kubectl, plain_crd(group))
    wait_served(kubectl, group, "widgets")
    apply(kubectl, f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: gadget}}\nsize: 3\n")

    header, row = lines(kubectl.run("get", f"widgets.{group}").stdout)

    assert header == ["NAME", "AGE"]
    assert row[0] == "gadget"
    assert row[1].endswith("s")


@pytest.mark.cluster
def test_missing_column_values_print_as_none(kubectl: Kubectl, crd: None, group: str) -> None:
    apply(kubectl, model(group, "bare"))

    header, row = lines(kubectl.run("get", f"models.{group}", "bare").stdout)

    assert header == ["NAME", "ENGINE", "REPLICAS", "READY", "AGE"]
    assert row[:3] == ["bare", "vllm", "1"]
    assert len(row) == 4  # READY is empty: no Ready condition


# ------------------------------------------------------------------------------------------------------------
# wait


@pytest.mark.cluster
def test_wait_for_ready_condition_set_while_waiting(kubectl: Kubectl, crd: None, group: str) -> None:
    apply(kubectl, model(group, "llama"))
    waiting = spawn(kubectl, "wait", "--for=condition=Ready", f"models.{group}/llama", "--timeout=30s")
    try:
        assert still_running(waiting, 1.0)
        loading = {"conditions": [{"type": "Ready", "status": "False", "reason": "Loading"}]}
        set_status(kubectl, f"models.{group} llama", loading)
        assert still_running(waiting, 0.5)
        serving = {"conditions": [{"type": "Ready", "status": "True", "reason": "Serving"}]}
        set_status(kubectl, f"models.{group} llama", serving)
        code, stdout, stderr = finish(waiting)
    finally:
        waiting.kill()

    assert (code, stdout.strip()) == (0, f"model.{group}/llama condition met"), stderr


@pytest.mark.cluster
def test_wait_times_out_when_the_condition_never_holds(kubectl: Kubectl, crd: None, group: str) -> None:
    apply(kubectl, model(group, "llama"))

    result = kubectl.run("wait", "--for=condition=Ready", f"models.{group}/llama", "--timeout=1s", check=False)

    assert result.returncode == 1
    assert result.stderr.strip() == "error: timed out waiting for the condition on models/llama"


@pytest.mark.cluster
def test_wait_for_deployment_available(kubectl: Kubectl) -> None:
    apply(kubectl, deployment([]))

    available = ("wait", "--for=condition=Available", "deployment/web", f"--timeout={WORKLOAD_TIMEOUT}s")
    result = kubectl.run(*available, timeout=WORKLOAD_TIMEOUT + 10)

    assert result.stdout.strip() == "deployment.apps/web condition met"
    conditions = kubectl.json("get", "deployment", "web")["status"]["conditions"]
    assert {"type": "Available", "status": "True"}.items() <= next(
        c for c in conditions if c["type"] == "Available"
    ).items()


# ------------------------------------------------------------------------------------------------------------
# delete


@pytest.mark.cluster
def test_delete_custom_resource(kubectl: Kubectl, crd: None, group: str, namespace: str) -> None:
    apply(kubectl, model(group, "llama"))

    result = kubectl.run("delete", f"models.{group}", "llama")

    assert result.stdout.strip() == deleted(kubectl, f'model.{group} "llama"', namespace)
    gone = kubectl.run("get", f"models.{group}", "llama", check=False)
    assert gone.returncode == 1
    assert gone.stderr.strip() == f'Error from server (NotFound): models.{group} "llama" not found'


@pytest.mark.cluster
def test_delete_waits_for_finalizers(kubectl: Kubectl, crd: None, group: str, namespace: str) -> None:
    document = yaml.safe_load(model(group, "held"))
    document["metadata"]["finalizers"] = [HOLD]
    apply(kubectl, yaml.safe_dump(document))
    deleting = spawn(kubectl, "delete", f"models.{group}", "held", "--timeout=30s")
    try:
        assert still_running(deleting, 1.0)
        marked = kubectl.json("get", f"models.{group}", "held")
        assert "deletionTimestamp" in marked["metadata"]
        patch(kubectl, f"models.{group} held", DROP_FINALIZERS)
        code, stdout, stderr = finish(deleting)
    finally:
        deleting.kill()

    assert (code, stdout.strip()) == (0, deleted(kubectl, f'model.{group} "held"', namespace)), stderr
    assert kubectl.run("get", f"models.{group}", "held", check=False).returncode == 1


@pytest.mark.cluster
def test_delete_without_waiting_returns_at_once(kubectl: Kubectl, crd: None, group: str, namespace: str) -> None:
    document = yaml.safe_load(model(group, "held"))
    document["metadata"]["finalizers"] = [HOLD]
    apply(kubectl, yaml.safe_dump(document))

    result = kubectl.run("delete", f"models.{group}", "held", "--wait=false", timeout=10)

    assert result.stdout.strip() == deleted(kubectl, f'model.{group} "held"', namespace)
    assert kubectl.json("get", f"models.{group}", "held")["metadata"]["finalizers"] == [HOLD]


@pytest.fixture
def team(kubectl: Kubectl) -> Iterator[str]:
    """A namespace the test makes and deletes itself, with what it holds; gone afterwards whatever happened."""
    name = f"k8s-manager-test-{uuid.uuid4().hex[:8]}"
    yield name
    in_team = kubectl.in_namespace(name)
    in_team.run("patch", "configmap", "settings", "--type=merge", "-p", json.dumps(DROP_FINALIZERS), check=False)
    kubectl.run("delete", "namespace", name, "--ignore-not-found", "--wait=false", check=False)


@pytest.mark.cluster
def test_delete_namespace_waits_until_it_is_gone(kubectl: Kubectl, team: str) -> None:
    in_team = kubectl.in_namespace(team)
    held = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "finalizers": [HOLD]}}
    apply(kubectl, yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": team, "labels": {"app.kubernetes.io/created-by": "k8s-manager-tests"}}}))  # fmt: skip
    apply(in_team, yaml.safe_dump(held) + "---\n" + yaml.safe_dump({"apiVersion": "v1", "kind": "Secret",
                                                                     "metadata": {"name": "token"}}))  # fmt: skip
    deleting = spawn(kubectl, "delete", "namespace", team, "--timeout=60s")
    try:
        assert still_running(deleting, 1.5)
        _, row = lines(kubectl.run("get", "namespace", team).stdout)
        assert row[:2] == [team, "Terminating"]
        eventually(lambda: in_team.run("get", "secret", "token", check=False).returncode == 1, "the Secret to go")
        patch(in_team, "configmap settings", DROP_FINALIZERS)
        code, stdout, stderr = finish(deleting, timeout=90)
    finally:
        deleting.kill()

    assert (code, stdout.strip()) == (0, f'namespace "{team}" deleted'), stderr
    missing = kubectl.run("get", "namespace", team, check=False)
    assert missing.stderr.strip() == f'Error from server (NotFound): namespaces "{team}" not found'


@pytest.mark.cluster
def test_delete_file_removes_each_object(kubectl: Kubectl, namespace: str) -> None:
    apply(kubectl, MISC)

    result = kubectl.run("delete", "-f", "-", input=MISC)

    assert result.stdout.splitlines() == [
        deleted(kubectl, what, namespace)
        for what in (
            'configmap "settings"',
            'secret "token"',
            'serviceaccount "robot"',
            'service "front"',
            'role.rbac.authorization.k8s.io "reader"',
            'rolebinding.rbac.authorization.k8s.io "reader"',
            'lease.coordination.k8s.io "leader"',
        )
    ]


# ------------------------------------------------------------------------------------------------------------
# explain


@pytest.mark.cluster
def test_explain_custom_resource(kubectl: Kubectl, crd: None, group: str) -> None:
    top = kubectl.run("explain", "--api-version", f"{group}/v1", "models").stdout
    field = kubectl.run("explain", "--api-version", f"{group}/v1", "models.spec.engine").stdout
    meta = kubectl.run("explain", "--api-version", f"{group}/v1", "model.metadata.name").stdout

    assert top.startswith(f"GROUP:      {group}\nKIND:       Model\nVERSION:    v1\n")
    assert "A model served by an inference engine." in top
    assert "  metadata\t<ObjectMeta>" in top
    assert "  spec\t<Object>\n    What to serve." in top
    assert "FIELD: engine <string>\nENUM:\n    vllm\n    tgi" in field
    assert "The engine that serves the model." in field
    assert "FIELD: name <string>" in meta


@pytest.mark.cluster
def test_explain_sees_a_changed_crd_schema(kubectl: Kubectl, crd: None, group: str) -> None:
    before = kubectl.run("explain", "--api-version", f"{group}/v1", "models.spec").stdout
    document = yaml.safe_load(model_crd(group))
    spec_schema = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["properties"]["quantization"] = {"type": "string", "description": "Weight quantization."}
    apply(kubectl, yaml.safe_dump(document))

    def explained_with_the_new_field() -> str | None:
        output = kubectl.run("explain", "--api-version", f"{group}/v1", "models.spec").stdout
        return output if "quantization" in output else None

    after = eventually(explained_with_the_new_field, "the changed schema in kubectl explain", deadline=30)

    assert "quantization" not in before
    assert "  quantization\t<string>\n    Weight quantization." in after


@pytest.mark.cluster
def test_explain_builtin_kind(kubectl: Kubectl) -> None:
    output = kubectl.run("explain", "deployment.spec.template.spec.containers.env").stdout

    assert output.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n")
    assert "FIELD: env <[]EnvVar>" in output
    assert "  name\t<string> -required-" in output


@pytest.mark.cluster
def test_explain_with_openapi_v2(kubectl: Kubectl, crd: None, group: str) -> None:
    wait_for_openapi_v2(kubectl, f"{openapi_v2_name(group)}.v1.Model")

    custom = kubectl.run(
        "explain", "--api-version", f"{group}/v1", "models.spec", "--output=plaintext-openapiv2"
    ).stdout
    builtin = kubectl.run("explain", "deployment.spec.replicas", "--output=plaintext-openapiv2").stdout

    assert custom.startswith(f"KIND:     Model\nVERSION:  {group}/v1\n\nRESOURCE: spec <Object>\n")
    # /openapi/v2 keeps the schema's value validations (`required` among them) and drops its defaults.
    assert "   engine\t<string> -required-\n     The engine that serves the model." in custom
    assert builtin.startswith("KIND:     Deployment\nVERSION:  apps/v1\n\nFIELD:    replicas <integer>\n")


@pytest.mark.cluster
def test_explain_unknown_field(kubectl: Kubectl, crd: None, group: str) -> None:
    result = kubectl.run("explain", "--api-version", f"{group}/v1", "models.spec.nothing", check=False)

    assert result.returncode == 1
    assert result.stderr.strip() == 'error: field "nothing" does not exist'


# ------------------------------------------------------------------------------------------------------------
# The documents behind it


def crd_rtype(schema: JsonObject | None = None, columns: tuple[JsonObject, ...] = ()) -> ResourceType:
    return ResourceType(
        group="ml.example.com",
        version="v1",
        plural="models",
        singular="model",
        kind="Model",
        namespaced=True,
        subresources=frozenset({"status"}),
        schema=schema,
        printer_columns=columns,
        from_crd=True,
        storage_version="v1",
    )


def test_openapi_patch_operations_declare_field_validation() -> None:
    registry = Registry()
    registry.add(crd_rtype({"type": "object", "properties": {"spec": {"type": "object"}}}))

    apps = openapi.v3_document(registry, "apis/apps/v1")
    custom = openapi.v3_document(registry, "apis/ml.example.com/v1")

    assert apps is not None
    assert custom is not None
    deployment_patch = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    model_patch = custom["paths"]["/apis/ml.example.com/v1/namespaces/{namespace}/models/{name}"]["patch"]
    assert deployment_patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    assert "fieldValidation" in [p["name"] for p in deployment_patch["parameters"]]
    assert "application/strategic-merge-patch+json" in deployment_patch["requestBody"]["content"]
    assert "fieldValidation" in [p["name"] for p in model_patch["parameters"]]
    assert "application/strategic-merge-patch+json" not in model_patch["requestBody"]["content"]


def test_openapi_builtin_schemas_carry_patch_metadata() -> None:
    schemas = openapi.builtin_definitions().schemas

    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    env = schemas["io.k8s.api.core.v1.Container"]["properties"]["env"]
    deployment_gvk = schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"]

    assert (containers["x-kubernetes-patch-strategy"], containers["x-kubernetes-patch-merge-key"]) == ("merge", "name")
    assert (env["x-kubernetes-patch-strategy"], env["x-kubernetes-patch-merge-key"]) == ("merge", "name")
    assert deployment_gvk == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert schemas["io.k8s.api.core.v1.Container"]["required"] == ["name"]


def test_openapi_discovery_hash_follows_the_schema() -> None:
    registry = Registry()
    registry.add(crd_rtype({"type": "object", "properties": {"spec": {"type": "object"}}}))
    before = openapi.v3_discovery(registry)["paths"]["apis/ml.example.com/v1"]["serverRelativeURL"]
    registry.add(crd_rtype({"type": "object", "properties": {"spec": {"type": "string"}}}))

    after = openapi.v3_discovery(registry)["paths"]["apis/ml.example.com/v1"]["serverRelativeURL"]
    core = openapi.v3_discovery(registry)["paths"]["api/v1"]["serverRelativeURL"]

    assert before.startswith("/openapi/v3/apis/ml.example.com/v1?hash=")
    assert before != after
    assert core.startswith("/openapi/v3/api/v1?hash=")


def test_prune_unknown_fields_names_them_like_the_strict_decoder() -> None:
    rtype = Registry().get("apps", "v1", "deployments")
    assert rtype is not None
    obj = yaml.safe_load(deployment([{"name": "A", "value": "1"}]))
    obj["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFromm"] = {}
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}}
    obj["metadata"]["labelz"] = {}
    expected = copy.deepcopy(obj)
    del expected["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFromm"]
    del expected["metadata"]["labelz"]

    unknown = openapi.prune_unknown_fields(rtype, obj)

    assert unknown == ["metadata.labelz", "spec.template.spec.containers[0].env[0].valueFromm"]
    assert obj == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (185, "3m5s"),
        (600, "10m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60 * 5, "3h5m"),
        (8 * 3600, "8h"),
        (2 * 86400, "2d"),
        (2 * 86400 + 3600, "2d1h"),
        (8 * 86400, "8d"),
        (800 * 86400, "2y70d"),
        (3000 * 86400, "8y"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert tables.human_duration(seconds) == text


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".spec.engine", ["vllm"]),
        ("{.spec.replicas}", [2]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type=='Scheduled')].reason", ["Placed"]),
        (".status.conditions[0].type", ["Scheduled"]),
        (".status.conditions[-1].type", ["Ready"]),
        (".status.conditions[*].type", ["Scheduled", "Ready"]),
        (".metadata.labels.app\\.kubernetes\\.io/name", ["llama"]),
        (".metadata.labels['app.kubernetes.io/name']", ["llama"]),
        ("..reason", ["Placed"]),
        (".spec.missing", []),
    ],
)
def test_jsonpath_subset(path: str, expected: list[Any]) -> None:
    obj = {
        "metadata": {"labels": {"app.kubernetes.io/name": "llama"}},
        "spec": {"engine": "vllm", "replicas": 2},
        "status": {
            "conditions": [
                {"type": "Scheduled", "status": "True", "reason": "Placed"},
                {"type": "Ready", "status": "True"},
            ]
        },
    }

    assert tables.evaluate_jsonpath(obj, path) == expected
