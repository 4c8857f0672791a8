"""manifests/, as `kubectl kustomize manifests/` renders it: valid objects, restricted pods, least-privilege RBAC,
command lines and settings the processes accept; then `kubectl apply -k manifests/` on a fresh emulator, and
(marked `cluster`) `--dry-run=server` then for real on the cluster under test: the emulator, or a real
kube-apiserver with kwok Nodes (K8S_MANAGER_TEST_CLUSTER=real), where Pod Security admission judges the pods.

Every object is validated with kubernetes-validate (Kubernetes 1.32's schemas, strict: unknown fields fail). None
is a custom object: the CRDs come with the rest, and kubectl maps every object to its resource before it applies
any, so a custom object in the same apply would fail on an empty cluster. The ClusterKopfPeering the operator
coordinates through is created by the operator itself.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml
from k8s_manager import cli, dev
from k8s_manager_facade import config as facade_config
from k8s_manager_operator import config as operator_config
from k8s_manager_operator.operations import CLUSTER_PEERINGS
from k8s_manager_operator.runtime.desired import ROLE_RULES
from kube_emulator.threaded import ThreadedEmulator

from tests.identities import RBAC_KINDS, install_rbac, rendered_manifests

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
CRDS = ROOT / "crds"

NAMESPACE = "kre"
KUBERNETES_VERSION = "1.32"
OPERATOR = "k8s-manager-operator"
FACADE = "k8s-manager-facade"
RUNTIME_NAMESPACE_ROLE = "k8s-manager-runtime-namespace"
# The ClusterKopfPeering the operator's replicas share (it creates the object when it is missing).
PEERING = "k8s-manager"
PART_OF = "k8s-manager"
KRE_GROUP = "kre.konstellation.io"

# Built-in kinds the manifests use that are not namespaced.
CLUSTER_SCOPED_BUILTIN_KINDS = frozenset({"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"})
# The volume types the "restricted" Pod Security Standard allows.
RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
READ_VERBS = frozenset({"get", "list", "watch"})
# Verbs that let their holder gain permissions; granted only for named objects.
ESCALATING_VERBS = frozenset({"bind", "escalate", "impersonate"})

KubeObject = dict[str, Any]


class Kubectl(Protocol):
    """The `kubectl` fixture of tests/conftest.py."""

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]: ...

    def json(self, *args: str) -> Any: ...


# ---------------------------------------------------------------------------------------------- rendering


@pytest.fixture
def rendered() -> list[KubeObject]:
    """A copy per test of `kubectl kustomize manifests/` (rendered once per process, tests/identities.py)."""
    return copy.deepcopy(list(rendered_manifests()))


def find(objects: list[KubeObject], kind: str, name: str) -> KubeObject:
    found = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def crds(objects: list[KubeObject]) -> list[KubeObject]:
    return [obj for obj in objects if obj["kind"] == "CustomResourceDefinition"]


def custom_kinds(objects: list[KubeObject]) -> dict[tuple[str, str], KubeObject]:
    """(apiVersion, kind) -> CRD, for every served version of every rendered CRD."""
    kinds: dict[tuple[str, str], KubeObject] = {}
    for crd in crds(objects):
        spec = crd["spec"]
        for version in spec["versions"]:
            if version["served"]:
                kinds[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = crd
    return kinds


def own_objects(objects: list[KubeObject]) -> list[KubeObject]:
    """Everything but the CRDs, which come from crds/."""
    return [obj for obj in objects if obj["kind"] != "CustomResourceDefinition"]


def deployments(objects: list[KubeObject]) -> list[KubeObject]:
    return [obj for obj in objects if obj["kind"] == "Deployment"]


def pod_specs(objects: list[KubeObject]) -> Iterator[tuple[str, KubeObject]]:
    for deployment in deployments(objects):
        yield deployment["metadata"]["name"], deployment["spec"]["template"]["spec"]


def containers(pod: KubeObject) -> list[KubeObject]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def only_container(deployment: KubeObject) -> KubeObject:
    pod_containers: list[KubeObject] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(pod_containers) == 1
    return pod_containers[0]


def container_port(container: KubeObject, port: int | str) -> int:
    """The container port a probe or Service names, by number or by name."""
    for declared in container.get("ports", []):
        if port in (declared["containerPort"], declared.get("name")):
            number: int = declared["containerPort"]
            return number
    raise AssertionError(f"container {container['name']} declares no port {port!r}")


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def literal_env(container: KubeObject) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}


def field_refs(container: KubeObject) -> dict[str, str]:
    return {
        item["name"]: item["valueFrom"]["fieldRef"]["fieldPath"]
        for item in container.get("env", [])
        if "fieldRef" in item.get("valueFrom", {})
    }


def rules(objects: list[KubeObject], kind: str, name: str) -> list[KubeObject]:
    found: list[KubeObject] = find(objects, kind, name)["rules"]
    return found


# ---------------------------------------------------------------------------------------------- contents


def test_the_objects_and_their_names(rendered: list[KubeObject]) -> None:
    assert sorted((obj["kind"], obj["metadata"]["name"]) for obj in rendered) == sorted(
        [
            ("Namespace", NAMESPACE),
            ("CustomResourceDefinition", "clusterkopfpeerings.kopf.dev"),
            ("CustomResourceDefinition", "runtimes.kre.konstellation.io"),
            ("CustomResourceDefinition", "runtimeversions.kre.konstellation.io"),
            ("ServiceAccount", OPERATOR),
            ("ClusterRole", OPERATOR),
            ("ClusterRoleBinding", OPERATOR),
            ("ClusterRole", RUNTIME_NAMESPACE_ROLE),
            ("Deployment", OPERATOR),
            ("ServiceAccount", FACADE),
            ("ClusterRole", FACADE),
            ("ClusterRoleBinding", FACADE),
            ("Deployment", FACADE),
            ("Service", FACADE),
            ("PodDisruptionBudget", FACADE),
        ]
    )


def test_the_crds_are_those_of_crds_dir_unchanged(rendered: list[KubeObject]) -> None:
    """crds/ stays the single source: crds/Kustomization lists every CRD file, and kustomize changes none."""
    files = sorted(CRDS.glob("*.yaml"))
    listed = yaml.safe_load((CRDS / "Kustomization").read_text())["resources"]
    from_files = {doc["metadata"]["name"]: doc for path in files for doc in yaml.safe_load_all(path.read_text())}

    assert sorted(listed) == [path.name for path in files]
    assert {crd["metadata"]["name"]: crd for crd in crds(rendered)} == from_files


def test_every_object_is_a_valid_kubernetes_1_32_builtin(rendered: list[KubeObject]) -> None:
    """kubernetes-validate knows only the built-in kinds: a custom object fails with SchemaNotFoundError."""
    for obj in rendered:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_no_custom_objects_so_that_one_apply_installs_everything(rendered: list[KubeObject]) -> None:
    """Not even of the CRDs rendered alongside: kubectl could not map them to a resource on an empty cluster."""
    custom = custom_kinds(rendered)
    assert custom
    assert [obj["kind"] for obj in rendered if (obj["apiVersion"], obj["kind"]) in custom] == []


def test_namespaced_objects_are_in_kre_and_cluster_scoped_ones_in_none(rendered: list[KubeObject]) -> None:
    for obj in rendered:
        expected = None if obj["kind"] in CLUSTER_SCOPED_BUILTIN_KINDS else NAMESPACE
        assert obj["metadata"].get("namespace") == expected, (obj["kind"], obj["metadata"]["name"])


def test_the_namespace_enforces_the_restricted_pod_security_standard(rendered: list[KubeObject]) -> None:
    labels = find(rendered, "Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_every_object_carries_the_recommended_labels(rendered: list[KubeObject]) -> None:
    for obj in own_objects(rendered):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "k8s-manager", obj["metadata"]["name"]
        assert labels["app.kubernetes.io/part-of"] == PART_OF, obj["metadata"]["name"]
        if obj["kind"] != "Namespace":
            assert labels["app.kubernetes.io/component"] in ("operator", "facade"), obj["metadata"]["name"]
    for deployment in deployments(rendered):
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert template_labels == deployment["metadata"]["labels"]
        assert selects(deployment["spec"]["selector"]["matchLabels"], template_labels)


def test_operator_and_facade_run_the_same_pinned_image_set_in_one_place(rendered: list[KubeObject]) -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    expected = f"{image['newName']}@{image['digest']}" if "digest" in image else f"{image['newName']}:{image['newTag']}"
    images = {container["image"] for _, pod in pod_specs(rendered) for container in containers(pod)}

    assert images == {expected}
    assert image["name"] == "k8s-manager"
    for reference in images:
        name, _, digest = reference.partition("@")
        tag = name.rpartition(":")[2] if ":" in name.rpartition("/")[2] else ""
        assert digest.startswith("sha256:") or (tag and tag != "latest"), f"{reference} is not pinned"


def test_every_pod_meets_the_restricted_pod_security_standard(rendered: list[KubeObject]) -> None:
    checked = 0
    for name, pod in pod_specs(rendered):
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert isinstance(context["runAsUser"], int), name
        assert context["runAsUser"] > 0, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is True, name  # both talk to the Kubernetes API
        for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(host_namespace), name
        for volume in pod.get("volumes", []):
            assert set(volume) - {"name"} <= RESTRICTED_VOLUME_TYPES, (name, volume)
        for container in containers(pod):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security.get("runAsNonRoot", True) is True, name
            assert not security.get("privileged"), name
            assert "seccompProfile" not in security or security["seccompProfile"]["type"] == "RuntimeDefault"
            assert all("hostPort" not in port for port in container.get("ports", [])), name
            checked += 1
    assert checked == 2


def test_every_container_has_requests_limits_and_probes_on_its_own_ports(rendered: list[KubeObject]) -> None:
    for name, pod in pod_specs(rendered):
        for container in containers(pod):
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                request = operator_config.parse_quantity(resources["requests"][resource])
                limit = operator_config.parse_quantity(resources["limits"][resource])
                assert Decimal(0) < request <= limit, (name, resource)
            for probe_kind in ("livenessProbe", "readinessProbe"):
                probe = container[probe_kind]
                handler = probe.get("httpGet") or probe.get("grpc") or probe.get("tcpSocket")
                assert handler is not None, (name, probe_kind)
                container_port(container, handler["port"])


# ---------------------------------------------------------------------------------------------- the operator


def test_the_operator_command_line_is_one_the_cli_accepts(rendered: list[KubeObject]) -> None:
    deployment = find(rendered, "Deployment", OPERATOR)
    container = only_container(deployment)
    command = [*container["command"], *container["args"]]
    args = cli.build_parser().parse_args(command[1:])
    liveness = container["livenessProbe"]["httpGet"]

    assert command[:2] == ["k8s-manager", "operator"]
    assert args.peering == PEERING
    assert args.namespaces == []  # cluster-wide, hence a ClusterKopfPeering
    assert args.log_format == "json"
    assert args.liveness_endpoint == f"http://0.0.0.0:{container_port(container, liveness['port'])}{liveness['path']}"
    assert int(args.metrics_port) == container_port(container, "metrics")


def test_the_operator_may_create_its_peering_object_and_keep_its_heartbeats_there(rendered: list[KubeObject]) -> None:
    """Nothing else makes the ClusterKopfPeering: the operator creates it, then kopf lists, watches and patches it."""
    granted = {
        verb
        for rule in rules(rendered, "ClusterRole", OPERATOR)
        if CLUSTER_PEERINGS.group in rule["apiGroups"] and CLUSTER_PEERINGS.plural in rule["resources"]
        for verb in rule["verbs"]
    }
    crd = find(rendered, "CustomResourceDefinition", f"{CLUSTER_PEERINGS.plural}.{CLUSTER_PEERINGS.group}")
    versions = [version["name"] for version in crd["spec"]["versions"] if version["served"]]

    assert granted == {"list", "watch", "create", "patch"}
    assert (crd["spec"]["scope"], crd["spec"]["names"]["kind"]) == ("Cluster", "ClusterKopfPeering")
    assert CLUSTER_PEERINGS.version in versions
    assert not CLUSTER_PEERINGS.namespaced


def test_the_operator_knows_its_own_identity_and_the_role_it_binds_itself_to(rendered: list[KubeObject]) -> None:
    deployment = find(rendered, "Deployment", OPERATOR)
    container = only_container(deployment)
    refs = field_refs(container)
    pod = deployment["spec"]["template"]["spec"]
    # What the downward API resolves the fieldRefs to in the pod.
    resolved = {
        "metadata.namespace": deployment["metadata"]["namespace"],
        "spec.serviceAccountName": pod["serviceAccountName"],
    }
    env = {**literal_env(container), **{name: resolved[path] for name, path in refs.items() if path in resolved}}

    config = operator_config.OperatorConfig.from_env(env)

    assert refs["KRE_OPERATOR_NAMESPACE"] == "metadata.namespace"
    assert refs["KRE_OPERATOR_SERVICE_ACCOUNT"] == "spec.serviceAccountName"
    assert refs["POD_NAME"] == refs["POD_ID"] == "metadata.name"
    assert config.service_account == operator_config.ServiceAccountRef(NAMESPACE, OPERATOR)
    assert config.runtime_namespace_role == RUNTIME_NAMESPACE_ROLE
    find(rendered, "ClusterRole", config.runtime_namespace_role)


def test_two_operator_replicas_each_with_a_priority_of_its_own(rendered: list[KubeObject]) -> None:
    """kopf pauses every replica when two share a priority: with --peering and no --priority, each draws its own."""
    deployment = find(rendered, "Deployment", OPERATOR)
    container = only_container(deployment)
    args = cli.build_parser().parse_args([*container["command"], *container["args"]][1:])

    assert deployment["spec"]["replicas"] == 2
    assert args.peering is not None
    assert args.priority is None


# ---------------------------------------------------------------------------------------------- the facade


def test_the_facade_command_line_and_settings_are_ones_it_accepts(rendered: list[KubeObject]) -> None:
    container = only_container(find(rendered, "Deployment", FACADE))
    command = [*container["command"], *container["args"]]
    args = cli.build_parser().parse_args(command[1:])
    env = literal_env(container)

    config = facade_config.config_from_args(args, env)

    assert command[:2] == ["k8s-manager", "facade"]
    assert args.log_format == "json"
    assert config.port == container_port(container, "grpc") == 50051
    assert int(args.metrics_port) == container_port(container, "metrics")
    assert config.prometheus_url == env["KRE_PROMETHEUS_URL"]
    assert config.kubeconfig is None  # the pod's ServiceAccount
    for probe_kind in ("livenessProbe", "readinessProbe"):
        assert container[probe_kind]["grpc"]["port"] == config.port


def test_two_facade_replicas_behind_the_service_and_a_disruption_budget(rendered: list[KubeObject]) -> None:
    deployment = find(rendered, "Deployment", FACADE)
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    operator_labels = find(rendered, "Deployment", OPERATOR)["spec"]["template"]["metadata"]["labels"]
    service = find(rendered, "Service", FACADE)
    budget = find(rendered, "PodDisruptionBudget", FACADE)
    (port,) = service["spec"]["ports"]

    assert deployment["spec"]["replicas"] == 2
    assert budget["spec"]["minAvailable"] == 1
    assert selects(budget["spec"]["selector"]["matchLabels"], template_labels)
    assert not selects(budget["spec"]["selector"]["matchLabels"], operator_labels)
    assert selects(service["spec"]["selector"], template_labels)
    assert not selects(service["spec"]["selector"], operator_labels)
    assert (port["name"], port["port"], port["appProtocol"]) == ("grpc", 50051, "grpc")
    assert container_port(only_container(deployment), port["targetPort"]) == 50051


# ---------------------------------------------------------------------------------------------- RBAC


def test_the_facade_may_touch_only_runtimes_and_runtime_versions(rendered: list[KubeObject]) -> None:
    allowed = {"runtimes", "runtimeversions", "runtimes/status", "runtimeversions/status"}
    facade_rules = rules(rendered, "ClusterRole", FACADE)
    assert facade_rules
    for rule in facade_rules:
        assert rule["apiGroups"] == [KRE_GROUP]
        assert set(rule["resources"]) <= allowed


def test_no_rule_uses_wildcards(rendered: list[KubeObject]) -> None:
    for obj in rendered:
        for rule in obj.get("rules", []):
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert not any("*" in value for value in rule.get(field, [])), (obj["metadata"]["name"], rule)


def test_no_identity_may_read_secrets_cluster_wide(rendered: list[KubeObject]) -> None:
    """Secret access comes only from k8s-manager-runtime-namespace, which nothing binds cluster-wide."""
    bound_cluster_wide = {obj["roleRef"]["name"] for obj in rendered if obj["kind"] == "ClusterRoleBinding"}
    assert RUNTIME_NAMESPACE_ROLE not in bound_cluster_wide
    for role in bound_cluster_wide:
        for rule in rules(rendered, "ClusterRole", role):
            if "" in rule["apiGroups"] and "secrets" in rule["resources"]:
                assert not READ_VERBS & set(rule["verbs"]), (role, rule)


def test_the_runtime_namespace_role_holds_exactly_what_the_operator_grants_there(rendered: list[KubeObject]) -> None:
    """RBAC lets the operator create the runtime operator's Role only if it holds every rule of it."""
    expected = [{key: list(value) for key, value in rule.items()} for rule in ROLE_RULES]
    assert rules(rendered, "ClusterRole", RUNTIME_NAMESPACE_ROLE) == expected


def test_escalating_verbs_only_for_named_objects(rendered: list[KubeObject]) -> None:
    granted = [
        (obj["metadata"]["name"], rule)
        for obj in rendered
        for rule in obj.get("rules", [])
        if ESCALATING_VERBS & set(rule["verbs"])
    ]
    assert granted == [
        (
            OPERATOR,
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["clusterroles"],
                "resourceNames": [RUNTIME_NAMESPACE_ROLE],
                "verbs": ["bind"],
            },
        )
    ]


def test_every_deployment_runs_as_its_own_bound_service_account(rendered: list[KubeObject]) -> None:
    accounts = {obj["metadata"]["name"] for obj in rendered if obj["kind"] == "ServiceAccount"}
    bindings = [obj for obj in rendered if obj["kind"] == "ClusterRoleBinding"]
    used = [pod["serviceAccountName"] for _, pod in pod_specs(rendered)]

    assert sorted(used) == sorted(accounts) == sorted([FACADE, OPERATOR])
    for binding in bindings:
        find(rendered, binding["roleRef"]["kind"], binding["roleRef"]["name"])
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": binding["metadata"]["name"], "namespace": NAMESPACE}
        ]
    assert sorted(binding["metadata"]["name"] for binding in bindings) == sorted(used)
    for name, pod in pod_specs(rendered):
        assert pod["serviceAccountName"] == name


# ---------------------------------------------------------------------------------------------- on a cluster


def test_kubectl_apply_k_installs_everything_in_one_step(
    emulator: ThreadedEmulator, kubectl: Kubectl, rendered: list[KubeObject]
) -> None:
    """`kubectl apply -k manifests/` on an empty cluster, as docs/install.md says: CRDs and all, in one apply."""
    applied = kubectl.run("apply", "-k", str(MANIFESTS)).stdout.splitlines()
    workloads = [f"deployment/{OPERATOR}", f"deployment/{FACADE}"]
    kubectl.run("wait", "--for=condition=Available", "-n", NAMESPACE, *workloads, "--timeout=30s")
    budget_before = kubectl.json("get", "pdb", FACADE, "-n", NAMESPACE)["metadata"]["resourceVersion"]
    reapplied = kubectl.run("apply", "-k", str(MANIFESTS)).stdout.splitlines()
    budget_after = kubectl.json("get", "pdb", FACADE, "-n", NAMESPACE)["metadata"]["resourceVersion"]
    installed = kubectl.json("get", "-k", str(MANIFESTS))["items"]
    pods = kubectl.json("get", "pods", "-n", NAMESPACE)["items"]

    assert len(applied) == len(rendered)
    assert all(line.endswith(" created") for line in applied), applied
    # kubectl's patch of a PodDisruptionBudget always holds spec.selector (patch strategy `replace`), so it
    # reports "configured" on every apply, as on a real cluster; the server changes nothing.
    budget = f"poddisruptionbudget.policy/{FACADE}"
    assert [line for line in reapplied if not line.endswith(" unchanged")] == [f"{budget} configured"]
    assert budget_after == budget_before
    assert sorted((obj["kind"], obj["metadata"]["name"]) for obj in installed) == sorted(
        (obj["kind"], obj["metadata"]["name"]) for obj in rendered
    )
    components = sorted(pod["metadata"]["labels"]["app.kubernetes.io/component"] for pod in pods)
    assert components == ["facade", "facade", "operator", "operator"]
    for pod in pods:
        assert pod["spec"]["serviceAccountName"] in (OPERATOR, FACADE)


def test_dev_mode_runs_the_components_under_exactly_the_rendered_rbac(rendered: list[KubeObject]) -> None:
    """`k8s-manager dev` reads manifests/ without kustomize: it must see what kustomize renders."""

    def key(obj: KubeObject) -> tuple[str, str, str]:
        return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    access = dev.load_access(MANIFESTS)
    expected = [obj for obj in rendered if obj["kind"] in dev.ACCESS_RESOURCES]

    assert access.namespace == NAMESPACE
    assert {dev.OPERATOR_ACCOUNT, dev.FACADE_ACCOUNT} == {
        obj["metadata"]["name"] for obj in expected if obj["kind"] == "ServiceAccount"
    }
    assert sorted(access.objects, key=key) == sorted(expected, key=key)


# What only the cluster test below installs, and so deletes again: the rest of manifests/ (the namespace, the
# ServiceAccounts and roles, the CRDs) is what tests/identities.install_rbac and the CRD installs of other tests,
# possibly running at the same time on the same cluster, put there too, and stays (docs/decisions.md).
WORKLOADS = (
    ("Deployment", OPERATOR),
    ("Deployment", FACADE),
    ("Service", FACADE),
    ("PodDisruptionBudget", FACADE),
)
DRY_RUN = " (server dry run)"


def reference(obj: KubeObject) -> str:
    """How kubectl names an object in its output: `deployment.apps/NAME`, `service/NAME`."""
    group = obj["apiVersion"].rpartition("/")[0]
    kind = obj["kind"].lower()
    return f"{kind}.{group}/{obj['metadata']['name']}" if group else f"{kind}/{obj['metadata']['name']}"


def outcomes(output: str, suffix: str = "") -> dict[str, str]:
    """kubectl apply's lines (`REF VERB[suffix]`), as {REF: VERB}; every line must have the suffix."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        assert line.endswith(suffix), line
        ref, _, verb = line.removesuffix(suffix).partition(" ")
        assert ref not in found, line
        found[ref] = verb
    return found


def delete_workloads(kubectl: Kubectl) -> None:
    refs = [f"{kind.lower()}/{name}" for kind, name in WORKLOADS]
    kubectl.run("delete", "-n", NAMESPACE, *refs, "--ignore-not-found", "--wait=true", "--timeout=60s", timeout=90)
    kubectl.run(
        "wait",
        "--for=delete",
        "pod",
        "-n",
        NAMESPACE,
        f"-l=app.kubernetes.io/part-of={PART_OF}",
        "--timeout=60s",
        timeout=90,
    )


@pytest.fixture
def workloads_removed(kubectl: Kubectl, kubeconfig: Path) -> Iterator[None]:
    """The namespace `kre` and the RBAC as every test installs them, without this test's workloads (left by an
    interrupted run on a cluster that outlived it) before, and without them again after."""
    install_rbac(kubeconfig)
    delete_workloads(kubectl)
    try:
        yield
    finally:
        delete_workloads(kubectl)


@pytest.mark.cluster
@pytest.mark.usefixtures("workloads_removed")
def test_kubectl_apply_k_dry_run_then_for_real_on_the_cluster_under_test(
    kubectl: Kubectl, rendered: list[KubeObject]
) -> None:
    """`kubectl apply -k manifests/ --dry-run=server` passes every object through the API server's validation and
    admission and stores none; the real apply installs them, and both Deployments' pods are admitted into `kre`
    (Pod Security `restricted` enforced; on a real cluster kwok's Nodes make them Running and Ready, no container
    runs) and become Available.

    The namespace `kre` exists already (tests/identities.install_rbac): a server-side dry run creates nothing,
    so on an empty cluster the namespaced objects fail with `namespaces "kre" not found` (docs/install.md)."""
    own = [find(rendered, kind, name) for kind, name in WORKLOADS]
    own_refs = [reference(obj) for obj in own]
    shared = [obj for obj in rendered if obj not in own]
    assert {obj["kind"] for obj in shared} <= RBAC_KINDS | {"CustomResourceDefinition"}
    applied_verbs = {"created", "configured", "unchanged"}

    dry_run = kubectl.run("apply", "-k", str(MANIFESTS), "--dry-run=server")
    after_dry_run = kubectl.run("get", "-n", NAMESPACE, *own_refs, "--ignore-not-found")
    applied = kubectl.run("apply", "-k", str(MANIFESTS))
    workloads = [f"deployment/{OPERATOR}", f"deployment/{FACADE}"]
    kubectl.run("wait", "--for=condition=Available", "-n", NAMESPACE, *workloads, "--timeout=90s", timeout=120)
    installed = kubectl.json("get", "-k", str(MANIFESTS))["items"]
    pods = kubectl.json("get", "pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/part-of={PART_OF}")["items"]
    labels = kubectl.json("get", "namespace", NAMESPACE)["metadata"]["labels"]
    versions_before = {
        ref: kubectl.json("get", "-n", NAMESPACE, ref)["metadata"]["resourceVersion"] for ref in own_refs
    }
    reapplied = outcomes(kubectl.run("apply", "-k", str(MANIFESTS)).stdout)
    versions_after = {ref: kubectl.json("get", "-n", NAMESPACE, ref)["metadata"]["resourceVersion"] for ref in own_refs}

    dry_run_outcomes = outcomes(dry_run.stdout, DRY_RUN)
    assert sorted(dry_run_outcomes) == sorted(reference(obj) for obj in rendered)
    assert {ref: dry_run_outcomes[ref] for ref in own_refs} == dict.fromkeys(own_refs, "created")
    assert {dry_run_outcomes[reference(obj)] for obj in shared} <= applied_verbs
    assert after_dry_run.stdout == ""
    for result in (dry_run, applied):
        assert "PodSecurity" not in result.stderr  # the namespace's `warn` label: no template would be refused
    applied_outcomes = outcomes(applied.stdout)
    assert sorted(applied_outcomes) == sorted(reference(obj) for obj in rendered)
    assert {ref: applied_outcomes[ref] for ref in own_refs} == dict.fromkeys(own_refs, "created")
    assert set(applied_outcomes.values()) <= applied_verbs
    assert sorted((obj["kind"], obj["metadata"]["name"]) for obj in installed) == sorted(
        (obj["kind"], obj["metadata"]["name"]) for obj in rendered
    )
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    by_component: dict[str, list[KubeObject]] = {}
    for pod in pods:
        by_component.setdefault(pod["metadata"]["labels"]["app.kubernetes.io/component"], []).append(pod)
    assert sorted((component, len(found)) for component, found in by_component.items()) == [
        ("facade", 2),
        ("operator", 2),
    ]
    for pod in pods:
        conditions = {condition["type"]: condition["status"] for condition in pod["status"]["conditions"]}
        assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
        assert conditions["Ready"] == "True", pod["metadata"]["name"]
        assert (
            pod["spec"]["serviceAccountName"]
            == f"k8s-manager-{pod['metadata']['labels']['app.kubernetes.io/component']}"
        )
    # Applying again changes none of them; the budget is reported `configured` (see the emulator test above).
    assert {ref: reapplied[ref] for ref in own_refs} == {
        **dict.fromkeys(own_refs, "unchanged"),
        f"poddisruptionbudget.policy/{FACADE}": "configured",
    }
    assert versions_after == versions_before
