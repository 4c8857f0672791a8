"""The Runtime and RuntimeVersion CRDs of crds/, and their samples, through the API server.

The CRDs are installed and the samples created with the official `kubernetes` client and kubectl, so
defaulting, pruning and validation are the API server's (the emulator's, or a real cluster's when
K8S_MANAGER_TEST_KUBECONFIG is set: objects then get unique names and are deleted afterwards).

Each bad sample in crds/examples/invalid/ states what the server must say about it in two comment lines:
`# expect-field: <field path>` (one of the 422's causes) and `# expect-message: <text in the message>`.
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import kubernetes
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

# kubernetes>=37 types every model field as Optional and every body as a model; these tests pass plain dicts
# and check values at run time, so they use the client untyped (as the other emulator tests do).
KubeApi = Any
client: Any = kubernetes.client
config: Any = kubernetes.config


class Kubectl(Protocol):
    """The `kubectl` fixture of tests/conftest.py."""

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...


CRDS_DIR = Path(__file__).resolve().parents[2] / "crds"
EXAMPLES_DIR = CRDS_DIR / "examples"
INVALID_DIR = EXAMPLES_DIR / "invalid"

GROUP = "kre.konstellation.io"
VERSION = "v1alpha1"
RUNTIMES = "runtimes"
VERSIONS = "runtimeversions"
RUNTIME_CRD = f"{RUNTIMES}.{GROUP}"
VERSION_CRD = f"{VERSIONS}.{GROUP}"
DEADLINE = 20.0


def load_document(path: Path) -> dict[str, Any]:
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert len(documents) == 1, f"{path} must hold exactly one document"
    document: dict[str, Any] = documents[0]
    return document


def crd_files() -> list[Path]:
    return sorted(CRDS_DIR.glob("*.yaml"))


def crd(name: str) -> dict[str, Any]:
    return load_document(CRDS_DIR / f"{name}.yaml")


def root_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = crd(name)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


@dataclass(frozen=True)
class BadSample:
    path: Path
    body: dict[str, Any]
    field: str
    message: str

    @property
    def is_runtime(self) -> bool:
        kind: str = self.body["kind"]
        return kind == "Runtime"


def read_bad_sample(path: Path) -> BadSample:
    expectations: dict[str, str] = {}
    for line in path.read_text().splitlines():
        for key in ("expect-field", "expect-message"):
            prefix = f"# {key}: "
            if line.startswith(prefix):
                expectations[key] = line[len(prefix) :]
    assert set(expectations) == {"expect-field", "expect-message"}, f"{path} lacks its expect- comments"
    return BadSample(path, load_document(path), expectations["expect-field"], expectations["expect-message"])


# The expected messages are worded as kube-apiserver 1.36 words them (the control plane of tests/cluster/): older
# ones differ here and there (a CEL rule's value, a duplicate's rendering, "Too long" before 1.32).
BAD_SAMPLES = [read_bad_sample(path) for path in sorted(INVALID_DIR.glob("*.yaml"))]


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def api(kubeconfig: Path) -> Iterator[KubeApi]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture
def installed(api: KubeApi) -> None:
    """Both CRDs created (or replaced) and Established.

    On a real cluster they stay installed afterwards: other tests running at the same time use them, and they
    may have been there before (the operator's own).
    """
    extensions = client.ApiextensionsV1Api(api)
    for path in crd_files():
        create_or_replace(extensions, load_document(path))
    for name in (RUNTIME_CRD, VERSION_CRD):
        wait_established(extensions, name)
    wait_discoverable(client.CustomObjectsApi(api))


def create_or_replace(extensions: KubeApi, body: dict[str, Any]) -> None:
    """Retried on a conflict: the CRD's status changes right after a create, maybe another test's."""
    name = body["metadata"]["name"]
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            existing = extensions.read_custom_resource_definition(name)
        except ApiException as error:
            if error.status != 404:
                raise
            existing = None
        try:
            if existing is None:
                extensions.create_custom_resource_definition(body)
            else:
                body["metadata"]["resourceVersion"] = existing.metadata.resource_version
                extensions.replace_custom_resource_definition(name, body)
            return
        except ApiException as error:
            if error.status != 409 or time.monotonic() > deadline:
                raise


def wait_established(extensions: KubeApi, name: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        conditions = extensions.read_custom_resource_definition(name).status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.1)
    raise AssertionError(f"CRD {name} not Established within {DEADLINE}s")


def wait_discoverable(custom: KubeApi) -> None:
    """Until discovery lists both kinds (kubectl needs it): a real API server may publish them a moment late."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            served = {resource.name for resource in custom.get_api_resources(GROUP, VERSION).resources}
        except ApiException as error:
            if error.status != 404:
                raise
            served = set()
        if {RUNTIMES, VERSIONS} <= served:
            return
        time.sleep(0.1)
    raise AssertionError(f"{GROUP}/{VERSION} not in discovery within {DEADLINE}s")


def wait_for_openapi_v3(kubectl: Kubectl) -> None:
    """Until /openapi/v3 lists the group version (kubectl explain reads it): published a moment late, too."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if f"apis/{GROUP}/{VERSION}" in json.loads(kubectl.run("get", "--raw", "/openapi/v3").stdout)["paths"]:
            return
        time.sleep(0.1)
    raise AssertionError(f"{GROUP}/{VERSION} not in /openapi/v3 within {DEADLINE}s")


@dataclass
class Cluster:
    """Creates runtimes and versions under unique names in a scratch namespace, and deletes them afterwards."""

    custom: KubeApi
    core: KubeApi
    namespace: str
    suffix: str
    runtimes: list[str]

    def unique(self, name: str) -> str:
        return f"{name[: 63 - len(self.suffix) - 1]}-{self.suffix}"

    def create_runtime(self, body: dict[str, Any], keep_name: bool = False) -> dict[str, Any]:
        body = copy.deepcopy(body)
        if not keep_name:
            body["metadata"]["name"] = self.unique(body["metadata"]["name"])
        created: dict[str, Any] = self.custom.create_cluster_custom_object(GROUP, VERSION, RUNTIMES, body)
        self.runtimes.append(created["metadata"]["name"])
        return created

    def create_version(self, body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        body["metadata"]["namespace"] = self.namespace
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, VERSIONS, body
        )
        return created

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """A sample as it is: a Runtime under its own name, a RuntimeVersion in the scratch namespace."""
        if body["kind"] == "Runtime":
            return self.create_runtime(body, keep_name=True)
        return self.create_version(body)

    def patch_runtime(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.custom.patch_cluster_custom_object(GROUP, VERSION, RUNTIMES, name, patch)
        return patched

    def patch_runtime_status(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.custom.patch_cluster_custom_object_status(GROUP, VERSION, RUNTIMES, name, patch)
        return patched

    def patch_version(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, VERSIONS, name, patch
        )
        return patched


@pytest.fixture
def cluster(installed: None, api: KubeApi, namespace: str) -> Iterator[Cluster]:
    """Runtimes are deleted here; the scratch namespace (with the versions in it) by the `namespace` fixture."""
    made = Cluster(client.CustomObjectsApi(api), client.CoreV1Api(api), namespace, uuid.uuid4().hex[:6], [])
    yield made
    for name in made.runtimes:
        try:
            made.custom.delete_cluster_custom_object(GROUP, VERSION, RUNTIMES, name)
        except ApiException as error:
            if error.status != 404:
                raise


def rejection(error: ApiException) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Status body of a rejected request and its causes."""
    status: dict[str, Any] = json.loads(error.body or "{}")
    return status, status.get("details", {}).get("causes", [])


def good_runtime() -> dict[str, Any]:
    return load_document(EXAMPLES_DIR / "runtime.yaml")


def good_version() -> dict[str, Any]:
    return load_document(EXAMPLES_DIR / "runtimeversion.yaml")


def ready_condition(status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2024-05-01T10:00:00Z",
        "observedGeneration": 1,
    }


# ---------------------------------------------------------------------------------- the CRD documents


def test_each_file_holds_one_v1_crd_named_after_the_file() -> None:
    # kopf's ClusterKopfPeering CRD too: the operator runs with --peering in the cluster (manifests/).
    assert [path.name for path in crd_files()] == [
        "clusterkopfpeerings.kopf.dev.yaml",
        f"{RUNTIME_CRD}.yaml",
        f"{VERSION_CRD}.yaml",
    ]
    for path in crd_files():
        document = load_document(path)
        assert document["apiVersion"] == "apiextensions.k8s.io/v1"
        assert document["kind"] == "CustomResourceDefinition"
        assert f"{document['metadata']['name']}.yaml" == path.name


@pytest.mark.parametrize(
    ("name", "kind", "scope", "short_name"),
    [(RUNTIME_CRD, "Runtime", "Cluster", "rt"), (VERSION_CRD, "RuntimeVersion", "Namespaced", "rtv")],
)
def test_names_scope_and_the_single_served_storage_version(name: str, kind: str, scope: str, short_name: str) -> None:
    spec = crd(name)["spec"]

    assert spec["group"] == GROUP
    assert spec["scope"] == scope
    assert spec["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": name.split(".")[0],
        "singular": kind.lower(),
        "shortNames": [short_name],
        "categories": ["kre"],
    }
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    assert version["subresources"] == {"status": {}}


def undescribed_fields(schema: dict[str, Any], path: str) -> Iterator[str]:
    if not schema.get("description"):
        yield path
    for name, child in (schema.get("properties") or {}).items():
        yield from undescribed_fields(child, f"{path}.{name}")
    if "items" in schema:
        yield from undescribed_fields(schema["items"], f"{path}[]")


@pytest.mark.parametrize("name", [RUNTIME_CRD, VERSION_CRD])
def test_every_field_has_a_description_for_kubectl_explain(name: str) -> None:
    schema = root_schema(name)
    # The root `metadata` may not carry anything but name/generateName restrictions (structural schema rule).
    metadata = schema["properties"]["metadata"]
    assert set(metadata) == {"type", "properties"}
    fields = {key: value for key, value in schema["properties"].items() if key != "metadata"}
    missing = list(undescribed_fields({**schema, "properties": fields}, "")) + list(
        undescribed_fields(metadata["properties"]["name"], ".metadata.name")
    )

    assert missing == []


def test_both_crds_give_conditions_the_shape_of_metav1_condition() -> None:
    conditions = [
        root_schema(name)["properties"]["status"]["properties"]["conditions"] for name in (RUNTIME_CRD, VERSION_CRD)
    ]

    assert conditions[0]["items"] == conditions[1]["items"]
    for schema in conditions:
        assert schema["x-kubernetes-list-type"] == "map"
        assert schema["x-kubernetes-list-map-keys"] == ["type"]
        item = schema["items"]
        assert sorted(item["required"]) == ["lastTransitionTime", "message", "reason", "status", "type"]
        assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
        assert item["properties"]["lastTransitionTime"]["format"] == "date-time"
        assert item["properties"]["observedGeneration"]["format"] == "int64"
        assert item["properties"]["observedGeneration"]["minimum"] == 0
        assert item["properties"]["reason"]["pattern"] == "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
        assert (item["properties"]["type"]["maxLength"], item["properties"]["message"]["maxLength"]) == (316, 32768)


@pytest.mark.parametrize(
    ("name", "columns", "wide_columns"),
    [
        (RUNTIME_CRD, ["Ready", "Reason", "Age"], ["Ready", "Reason", "Display", "Host", "Message", "Age"]),
        (
            VERSION_CRD,
            ["State", "Published", "Ready", "Reason", "Age"],
            ["State", "Published", "Ready", "Reason", "Version-ID", "Message", "Age"],
        ),
    ],
)
def test_printer_columns(name: str, columns: list[str], wide_columns: list[str]) -> None:
    declared = {c["name"]: c for c in crd(name)["spec"]["versions"][0]["additionalPrinterColumns"]}

    assert list(declared) == wide_columns
    assert [column for column in declared if declared[column].get("priority", 0) == 0] == columns
    assert declared["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert declared["Reason"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert (declared["Age"]["type"], declared["Age"]["jsonPath"]) == ("date", ".metadata.creationTimestamp")


def test_bad_samples_cover_both_kinds_and_the_kinds_of_mistakes() -> None:
    fields = {sample.field for sample in BAD_SAMPLES}

    assert len(BAD_SAMPLES) >= 8
    assert {sample.is_runtime for sample in BAD_SAMPLES} == {True, False}
    assert {"metadata.name", "spec", "spec.mongo", "spec.desiredState", "spec.mongo.credentials"} <= fields


# ------------------------------------------------------------------------------------------ good samples


@pytest.mark.cluster
def test_the_runtime_sample_is_accepted_and_defaulted(cluster: Cluster) -> None:
    created = cluster.create_runtime(good_runtime())

    assert created["spec"] == {
        "displayName": "Demo",
        "developmentMode": False,
        "entrypoint": {"host": "kre-demo.local"},
        "sharedStorageClass": "standard",
        "mongo": {"credentials": {"username": "admin", "password": "Xw9pL2mQ", "sharedKey": "qwerlk12SDf"}},
        "minio": {"credentials": {"accessKey": "admin", "secretKey": "K7dNq3Zr"}, "storage": {"size": "1Gi"}},
        "nats_streaming": {"replicas": 1},
    }
    assert created["metadata"]["generation"] == 1


@pytest.mark.cluster
def test_the_version_sample_is_accepted_as_written(cluster: Cluster) -> None:
    sample = good_version()

    created = cluster.create_version(sample)

    assert created["spec"] == sample["spec"]
    assert created["spec"]["entrypoint"]["protoFile"] == "public_input.proto"


@pytest.mark.cluster
def test_a_version_gets_its_desired_state_and_config_value_defaults(cluster: Cluster) -> None:
    sample = good_version()
    del sample["spec"]["desiredState"], sample["spec"]["published"]
    sample["spec"]["config"] = [{"key": "EMPTY"}]

    created = cluster.create_version(sample)

    assert (created["spec"]["desiredState"], created["spec"]["published"]) == ("Started", False)
    assert created["spec"]["config"] == [{"key": "EMPTY", "value": ""}]


@pytest.mark.cluster
def test_a_runtime_may_refer_to_a_secret_instead(cluster: Cluster) -> None:
    sample = good_runtime()
    sample["spec"]["mongo"]["credentials"] = {"secretRef": {"name": "kre-demo-credentials"}}
    sample["spec"]["minio"]["credentials"] = {"secretRef": {"name": "kre-demo-credentials"}}

    created = cluster.create_runtime(sample)

    assert created["spec"]["mongo"] == {"credentials": {"secretRef": {"name": "kre-demo-credentials"}}}


@pytest.mark.cluster
def test_one_merge_patch_swaps_inline_credentials_for_a_secret_ref(cluster: Cluster) -> None:
    """What the operator does once it has copied the inline values into a Secret."""
    name = cluster.create_runtime(good_runtime())["metadata"]["name"]
    secret_ref = {"secretRef": {"name": f"{name}-credentials"}}
    patch = {
        "spec": {
            "mongo": {"credentials": {"username": None, "password": None, "sharedKey": None, **secret_ref}},
            "minio": {"credentials": {"accessKey": None, "secretKey": None, **secret_ref}},
        }
    }

    patched = cluster.patch_runtime(name, patch)

    assert patched["spec"]["mongo"]["credentials"] == secret_ref
    assert patched["spec"]["minio"]["credentials"] == secret_ref
    text = json.dumps(patched["spec"])
    assert not any(value in text for value in ("Xw9pL2mQ", "qwerlk12SDf", "K7dNq3Zr"))


@pytest.mark.cluster
def test_unknown_fields_such_as_the_old_chart_keys_are_pruned(cluster: Cluster) -> None:
    sample = good_runtime()
    sample["spec"]["mongo"]["auth"] = {"adminUser": "admin", "adminPassword": "Xw9pL2mQ"}

    created = cluster.create_runtime(sample)

    assert "auth" not in created["spec"]["mongo"]


# ------------------------------------------------------------------------------------------- bad samples


@pytest.mark.cluster
@pytest.mark.parametrize("sample", [pytest.param(sample, id=sample.path.stem) for sample in BAD_SAMPLES])
def test_bad_sample_is_rejected_with_the_field_at_fault(cluster: Cluster, sample: BadSample) -> None:
    with pytest.raises(ApiException) as caught:
        cluster.create(sample.body)

    status, causes = rejection(caught.value)
    assert caught.value.status == 422
    assert (status["reason"], status["details"]["kind"], status["details"]["group"]) == (
        "Invalid",
        sample.body["kind"],
        GROUP,
    )
    assert sample.field in [cause["field"] for cause in causes]
    assert sample.message in status["message"]


@pytest.mark.cluster
def test_stopping_a_published_version_is_refused_until_it_is_unpublished(cluster: Cluster) -> None:
    name = cluster.create_version(good_version())["metadata"]["name"]
    cluster.patch_version(name, {"spec": {"published": True}})

    with pytest.raises(ApiException) as caught:
        cluster.patch_version(name, {"spec": {"desiredState": "Stopped"}})
    stopped = cluster.patch_version(name, {"spec": {"desiredState": "Stopped", "published": False}})

    assert caught.value.status == 422
    assert [cause["field"] for cause in rejection(caught.value)[1]] == ["spec.published"]
    assert (stopped["spec"]["desiredState"], stopped["spec"]["published"]) == ("Stopped", False)


@pytest.mark.cluster
def test_status_conditions_are_validated_and_keyed_by_type(cluster: Cluster) -> None:
    name = cluster.create_runtime(good_runtime())["metadata"]["name"]
    ready = ready_condition("True", "RuntimeReady")

    accepted = cluster.patch_runtime_status(name, {"status": {"observedGeneration": 1, "conditions": [ready]}})
    with pytest.raises(ApiException) as no_reason:
        cluster.patch_runtime_status(name, {"status": {"conditions": [{**ready, "reason": None}]}})
    with pytest.raises(ApiException) as twice:
        cluster.patch_runtime_status(name, {"status": {"conditions": [ready, ready]}})
    with pytest.raises(ApiException) as bad_status:
        cluster.patch_runtime_status(name, {"status": {"conditions": [{**ready, "status": "Yes"}]}})

    assert accepted["status"] == {"observedGeneration": 1, "conditions": [ready]}
    # A blocking error also reports that the CEL rules were skipped (field "<nil>"), as kube-apiserver does.
    assert [c["field"] for c in rejection(no_reason.value)[1]] == ["status.conditions[0].reason", "<nil>"]
    assert [c["field"] for c in rejection(twice.value)[1]] == ["status.conditions[1]"]
    assert "status.conditions[0].status" in [c["field"] for c in rejection(bad_status.value)[1]]


# ----------------------------------------------------------------------------------------------- kubectl


def renamed_examples(runtime: str, namespace: str) -> str:
    """crds/examples/ as one manifest, the Runtime named `runtime` and the RuntimeVersion in `namespace`."""
    documents = []
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        document = load_document(path)
        if document["kind"] == "Runtime":
            document["metadata"]["name"] = runtime
        else:
            document["metadata"]["namespace"] = namespace
        documents.append(yaml.safe_dump(document))
    return "---\n".join(documents)


@pytest.mark.cluster
def test_kubectl_applies_the_crds_then_the_examples_and_shows_the_columns(
    installed: None, kubectl: Kubectl, namespace: str
) -> None:
    # The examples under names of the test's own (kre-demo may be in use on a real cluster), a Runtime being
    # cluster-scoped. The CRDs are there already (`installed`): applying them again configures or leaves them.
    runtime = f"kre-demo-{uuid.uuid4().hex[:6]}"
    kubectl.run("apply", "-f", str(CRDS_DIR))
    kubectl.run("wait", "--for=condition=Established", f"crd/{RUNTIME_CRD}", f"crd/{VERSION_CRD}", "--timeout=20s")
    try:
        applied = kubectl.run("apply", "-f", "-", input=renamed_examples(runtime, namespace)).stdout
        kubectl.run(
            "patch", "rt", runtime, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"conditions": [ready_condition("False", "WaitingForComponents", "mongo")]}}),
        )  # fmt: skip
        runtimes = kubectl.run("get", "rt", runtime).stdout.splitlines()
        wide = kubectl.run("get", "rt", runtime, "-o", "wide").stdout.splitlines()
        versions = kubectl.run("get", "rtv", "-n", namespace).stdout.splitlines()
        everything = kubectl.run("get", "kre", "-A", "-o", "name").stdout.split()
    finally:
        kubectl.run("delete", "rt", runtime, "--ignore-not-found", "--wait=false")

    assert applied.split("\n")[:2] == [
        f"runtime.{GROUP}/{runtime} created",
        f"runtimeversion.{GROUP}/greeter-v1 created",
    ]
    assert runtimes[0].split() == ["NAME", "READY", "REASON", "AGE"]
    assert runtimes[1].split()[:3] == [runtime, "False", "WaitingForComponents"]
    assert wide[0].split() == ["NAME", "READY", "REASON", "DISPLAY", "HOST", "MESSAGE", "AGE"]
    assert wide[1].split()[:6] == [runtime, "False", "WaitingForComponents", "Demo", "kre-demo.local", "mongo"]
    assert versions[0].split() == ["NAME", "STATE", "PUBLISHED", "READY", "REASON", "AGE"]
    assert versions[1].split()[:3] == ["greeter-v1", "Started", "false"]
    # Both kinds are in the `kre` category (what else is there belongs to others on a real cluster).
    assert {f"runtime.{GROUP}/{runtime}", f"runtimeversion.{GROUP}/greeter-v1"} <= set(everything)


@pytest.mark.cluster
def test_kubectl_apply_of_a_bad_sample_names_the_field(installed: None, kubectl: Kubectl) -> None:
    path = INVALID_DIR / "runtime-credentials-secretref-and-inline.yaml"

    result = kubectl.run("apply", "-f", str(path), check=False)

    assert result.returncode != 0
    assert (  # a CEL rule on an object leaves its value out of the message
        'The Runtime "kre-invalid-both" is invalid: spec.mongo.credentials: Invalid value: '
        "secretRef and inline credentials (username, password, sharedKey) are mutually exclusive"
    ) in result.stderr


@pytest.mark.cluster
@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("rt.spec.mongo.credentials", "either `secretRef` or all of `username`, `password` and"),
        ("rt.spec.nats_streaming.replicas", "Number of NATS Streaming server replicas."),
        ("rtv.spec.entrypoint.protoFile", "(`proto_file` in version.proto)"),
        ("rtv.status.conditions.reason", "reason contains a programmatic identifier"),
    ],
)
def test_kubectl_explain_shows_the_descriptions(installed: None, kubectl: Kubectl, field: str, expected: str) -> None:
    wait_for_openapi_v3(kubectl)

    explained = " ".join(kubectl.run("explain", field).stdout.split())

    assert expected in explained
