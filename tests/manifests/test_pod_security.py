"""The pods the operator builds, and the manifests' own, through the API server's Pod Security admission.

The desired-state builders (`runtime/desired.py`: the runtime operator `kre-operator`; `version/desired.py`: a
version's node and entrypoint Deployments) promise pods that meet the `restricted` Pod Security Standard, which the
runtime namespaces enforce. Here their Deployments, built for the samples of crds/examples/, are created as the
cluster admin in a namespace labelled as the operator labels a runtime namespace (`POD_SECURITY_LABELS`), and
their pods must be created and become Ready; a bare Pod from each template must pass a server-side dry run.

On a real kube-apiserver (K8S_MANAGER_TEST_CLUSTER=real, or K8S_MANAGER_TEST_KUBECONFIG) the PodSecurity admission
plugin judges every one of those pods: the ReplicaSet controller's creations and the dry runs. The emulator has no
Pod Security admission, so there the same tests check only that the objects are accepted and the pods run; the
tests that a non-compliant pod is refused are skipped on it (they would fail for want of the plugin, not of the
pods: see docs/decisions.md). The cluster is recognised by the `gitVersion` its /version reports.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from k8s_manager_operator.config import OperatorConfig
from k8s_manager_operator.runtime import desired as runtime_desired
from k8s_manager_operator.runtime.validation import validate_runtime
from k8s_manager_operator.version import desired as version_desired
from k8s_manager_operator.version.validation import validate_version
from kubernetes.client.exceptions import ApiException

from tests.identities import install_rbac, rendered_manifests

# The `kubernetes` client is typed Optional everywhere; used untyped, as the suites use it.
client: Any = kubernetes.client
config: Any = kubernetes.config

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "crds" / "examples"
# kube_emulator/discovery.py reports `v1.32.0-kube-emulator`; kube-apiserver a plain release (`v1.36.3`).
EMULATOR_VERSION_SUFFIX = "-kube-emulator"
RESTRICTED_REFUSAL = 'violates PodSecurity "restricted:latest"'
# How long a Deployment's pod may take to be created, scheduled (its claim bound first) and Ready.
READY_DEADLINE = 90.0
MANIFESTS_NAMESPACE = "kre"
MANIFESTS_OPERATOR = "k8s-manager-operator"

KubeObject = dict[str, Any]
VERSION_CONFIGS = {
    "default-user": version_desired.VersionConfig(),
    # KRE_VERSION_RUN_AS_USER=image: no runAsUser, each image's own (non-root) user.
    "image-user": version_desired.VersionConfig(run_as_user=None),
}


@pytest.fixture
def admin(kubeconfig: Path) -> Iterator[Any]:
    """An API client with the kubeconfig's own (cluster-admin) credentials."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def restricted_namespace(admin: Any, namespace: str) -> str:
    """The test's namespace, labelled as the operator labels a runtime namespace: restricted enforced."""
    core = client.CoreV1Api(admin)
    core.patch_namespace(namespace, {"metadata": {"labels": dict(runtime_desired.POD_SECURITY_LABELS)}})
    labels = core.read_namespace(namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"
    return namespace


@pytest.fixture
def emulated(admin: Any) -> bool:
    """Whether the cluster under test is the emulator (no Pod Security admission)."""
    git_version: str = client.VersionApi(admin).get_code().git_version
    return git_version.endswith(EMULATOR_VERSION_SUFFIX)


@pytest.fixture
def enforcing(emulated: bool) -> None:
    if emulated:
        pytest.skip(
            "the emulator has no Pod Security admission (it would admit the pod): a refusal is a real "
            "kube-apiserver's; run with K8S_MANAGER_TEST_CLUSTER=real"
        )


# ---------------------------------------------------------------------------------------------- the samples


def sample_runtime(namespace: str) -> KubeObject:
    """crds/examples/runtime.yaml, named after the test's namespace (a Runtime's namespace bears its name), as
    stored (a uid). No Runtime object is created: the builders need none, and none may be reconciled here."""
    runtime: KubeObject = yaml.safe_load((EXAMPLES / "runtime.yaml").read_text())
    runtime["metadata"].update(name=namespace, uid=str(uuid.uuid4()))
    assert validate_runtime(runtime) == []
    return runtime


def sample_version(namespace: str) -> KubeObject:
    """crds/examples/runtimeversion.yaml (three nodes in two workflows), in the test's namespace, as stored."""
    version: KubeObject = yaml.safe_load((EXAMPLES / "runtimeversion.yaml").read_text())
    version["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()))
    assert validate_version(version) == []
    return version


def unowned(obj: KubeObject) -> KubeObject:
    """The object without its owner reference: its owner is never stored here, and the garbage collector deletes
    what a missing owner owned."""
    copied = copy.deepcopy(obj)
    copied["metadata"].pop("ownerReferences")
    return copied


def operator_deployments(namespace: str, version_config: version_desired.VersionConfig) -> list[KubeObject]:
    """The runtime operator's Deployment and the sample version's node and entrypoint Deployments."""
    version_objects = version_desired.desired_objects(sample_version(namespace), version_config)
    deployments = [
        runtime_desired.operator_deployment(sample_runtime(namespace), OperatorConfig()),
        *(obj for obj in version_objects if obj["kind"] == "Deployment"),
    ]
    assert [obj["metadata"]["name"] for obj in deployments] == [
        "kre-operator",
        "greeter-v1-greeter-qmzhfkxzbn",
        "greeter-v1-greeter-tbwfojcjyx",
        "greeter-v1-formatter-hsqkdnzwpa",
        "greeter-v1-entrypoint",
    ]
    return [unowned(obj) for obj in deployments]


def pod_from(deployment: KubeObject, namespace: str) -> KubeObject:
    """A bare Pod with the template of `deployment`."""
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{deployment['metadata']['name']}-bare",
            "namespace": namespace,
            "labels": dict(template["metadata"]["labels"]),
        },
        "spec": copy.deepcopy(template["spec"]),
    }


def create_runtime_operator_account(admin: Any, namespace: str) -> None:
    """The ServiceAccount `kre-operator` runs as (ServiceAccount admission refuses a pod naming a missing one)."""
    account = unowned(runtime_desired.service_account(sample_runtime(namespace)))
    client.CoreV1Api(admin).create_namespaced_service_account(namespace, account)


def serves_claims(admin: Any) -> bool:
    resources = client.CoreV1Api(admin).get_api_resources().resources
    return any(resource.name == "persistentvolumeclaims" for resource in resources)


def create_shared_claim(admin: Any, namespace: str, claim: str) -> None:
    """The claim every version pod mounts (Minio's, in a runtime), of the cluster's default StorageClass: without
    it the scheduler leaves the pods Pending. The emulator serves no claims and schedules without them."""
    body = {
        "metadata": {"name": claim},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}},
    }
    client.CoreV1Api(admin).create_namespaced_persistent_volume_claim(namespace, body)


def wait_until(
    check: Callable[[], bool], what: str, describe: Callable[[], str], deadline: float = READY_DEADLINE
) -> None:
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"{what} not within {deadline} s: {describe()}")
        time.sleep(0.2)


def deployment_conditions(apps: Any, namespace: str, name: str) -> str:
    """What the Deployment controller reports (a refused pod shows as ReplicaFailure, with the refusal)."""
    conditions = apps.read_namespaced_deployment(name, namespace).status.conditions or []
    return "; ".join(f"{condition.type}={condition.status}: {condition.message}" for condition in conditions)


def await_available(admin: Any, namespace: str, deployment: KubeObject) -> None:
    """Until the Deployment's one pod is Running and Ready and the Deployment Available."""
    apps = client.AppsV1Api(admin)
    name = deployment["metadata"]["name"]

    def describe() -> str:
        return deployment_conditions(apps, namespace, name)

    def available() -> bool:
        return bool(apps.read_namespaced_deployment(name, namespace).status.available_replicas == 1)

    wait_until(lambda: len(ready_pods(admin, namespace, deployment)) == 1, f"{name}'s pod Ready", describe)
    wait_until(available, f"{name} Available", describe)


def pod_security_warnings(response: Any) -> list[str]:
    """The Pod Security warnings (namespace label `warn`) of a raw response."""
    return [warning for warning in response.headers.getlist("Warning") if "PodSecurity" in warning]


def ready_pods(admin: Any, namespace: str, deployment: KubeObject) -> list[Any]:
    selector = ",".join(f"{key}={value}" for key, value in deployment["spec"]["selector"]["matchLabels"].items())
    pods = client.CoreV1Api(admin).list_namespaced_pod(namespace, label_selector=selector).items
    return [
        pod
        for pod in pods
        if pod.status.phase == "Running"
        and any(condition.type == "Ready" and condition.status == "True" for condition in pod.status.conditions or [])
    ]


def refusal(error: ApiException) -> tuple[int, str, str]:
    assert error.body is not None
    body = json.loads(error.body)
    return error.status, body["reason"], body["message"]


# ---------------------------------------------------------------------------------------------- admitted


def test_the_deployments_the_operator_builds_get_ready_pods_in_a_restricted_namespace(
    admin: Any, restricted_namespace: str
) -> None:
    """Created as the operator creates them (the admin stands in for it), with what they need: the runtime
    operator's ServiceAccount, the version's ConfigMaps and its shared claim. The ReplicaSet controller's pod
    creations pass Pod Security admission, or no pod would exist; the namespace's `warn` label would also make
    the API server warn about a template that would be refused."""
    namespace = restricted_namespace
    version_config = version_desired.VersionConfig()
    deployments = operator_deployments(namespace, version_config)
    create_runtime_operator_account(admin, namespace)
    if serves_claims(admin):
        create_shared_claim(admin, namespace, version_config.shared_claim)
    core, apps = client.CoreV1Api(admin), client.AppsV1Api(admin)
    version_objects = version_desired.desired_objects(sample_version(namespace), version_config)
    for config_map in (obj for obj in version_objects if obj["kind"] == "ConfigMap"):
        core.create_namespaced_config_map(namespace, unowned(config_map))
    warnings: dict[str, list[str]] = {}
    for deployment in deployments:
        response = apps.create_namespaced_deployment(namespace, deployment, _preload_content=False)
        assert response.status == 201, response.data
        warnings[deployment["metadata"]["name"]] = pod_security_warnings(response)

    assert warnings == {deployment["metadata"]["name"]: [] for deployment in deployments}
    for deployment in deployments:
        await_available(admin, namespace, deployment)
    for deployment in deployments:
        (pod,) = ready_pods(admin, namespace, deployment)
        assert pod.spec.security_context.run_as_non_root is True
        assert pod.spec.security_context.seccomp_profile.type == "RuntimeDefault"


@pytest.mark.parametrize("version_config", VERSION_CONFIGS.values(), ids=VERSION_CONFIGS.keys())
def test_a_bare_pod_of_each_template_passes_a_server_side_dry_run(
    admin: Any, restricted_namespace: str, version_config: version_desired.VersionConfig
) -> None:
    """A dry run goes through every admission plugin (Pod Security's among them) and stores nothing."""
    namespace = restricted_namespace
    create_runtime_operator_account(admin, namespace)
    core = client.CoreV1Api(admin)
    runtime_operator, *version_deployments = operator_deployments(namespace, version_config)

    answers = [
        core.create_namespaced_pod(namespace, pod_from(deployment, namespace), dry_run="All")
        for deployment in [runtime_operator, *version_deployments]
    ]

    # The runtime operator runs as its image's user; the version's pods as configured.
    assert [(answer.metadata.name, answer.spec.security_context.run_as_user) for answer in answers] == [
        ("kre-operator-bare", None),
        *((f"{deployment['metadata']['name']}-bare", version_config.run_as_user) for deployment in version_deployments),
    ]
    assert core.list_namespaced_pod(namespace).items == []


# ---------------------------------------------------------------------------------------------- refused


def _containers(spec: KubeObject) -> str:
    names = [container["name"] for container in spec["containers"]]
    return f'containers "{names[0]}", "{names[1]}"'


def _no_run_as_non_root(spec: KubeObject) -> str:
    del spec["securityContext"]["runAsNonRoot"]
    return f"runAsNonRoot != true (pod or {_containers(spec)} must set securityContext.runAsNonRoot=true)"


def _root_user(spec: KubeObject) -> str:
    spec["securityContext"]["runAsUser"] = 0
    return "runAsUser=0 (pod must not set runAsUser=0)"


def _no_seccomp_profile(spec: KubeObject) -> str:
    del spec["securityContext"]["seccompProfile"]
    return (
        f"seccompProfile (pod or {_containers(spec)} must set securityContext.seccompProfile.type to "
        '"RuntimeDefault" or "Localhost")'
    )


def _capabilities_kept(spec: KubeObject) -> str:
    sidecar = spec["containers"][1]
    del sidecar["securityContext"]["capabilities"]
    return (
        f'unrestricted capabilities (container "{sidecar["name"]}" must set securityContext.capabilities.drop=["ALL"])'
    )


def _privilege_escalation(spec: KubeObject) -> str:
    runner = spec["containers"][0]
    del runner["securityContext"]["allowPrivilegeEscalation"]
    return (
        f'allowPrivilegeEscalation != false (container "{runner["name"]}" must set '
        "securityContext.allowPrivilegeEscalation=false)"
    )


def _privileged(spec: KubeObject) -> str:
    """Validation refuses privileged with allowPrivilegeEscalation false (422), so both change."""
    runner = spec["containers"][0]
    escalation = _privilege_escalation(spec)
    runner["securityContext"]["privileged"] = True
    return f'privileged (container "{runner["name"]}" must not set securityContext.privileged=true), {escalation}'


def _host_path_volume(spec: KubeObject) -> str:
    spec["volumes"].append({"name": "host-root", "hostPath": {"path": "/"}})
    return 'restricted volume types (volume "host-root" uses restricted volume type "hostPath")'


NON_COMPLIANT = {
    "runAsNonRoot-missing": _no_run_as_non_root,
    "runAsUser-root": _root_user,
    "seccompProfile-missing": _no_seccomp_profile,
    "capabilities-not-dropped": _capabilities_kept,
    "allowPrivilegeEscalation-missing": _privilege_escalation,
    "privileged": _privileged,
    "hostPath-volume": _host_path_volume,
}


@pytest.mark.usefixtures("enforcing")
@pytest.mark.parametrize("spoil", NON_COMPLIANT.values(), ids=NON_COMPLIANT.keys())
def test_a_version_pod_with_one_setting_spoilt_is_refused_by_pod_security(
    admin: Any, restricted_namespace: str, spoil: Callable[[KubeObject], str]
) -> None:
    """A node pod of the sample version with one thing the builder sets undone (or one thing added): refused with
    exactly that violation, so every other field of the template meets `restricted`, and this one is needed."""
    namespace = restricted_namespace
    node = operator_deployments(namespace, version_desired.VersionConfig())[1]
    pod = pod_from(node, namespace)
    violation = spoil(pod["spec"])

    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(admin).create_namespaced_pod(namespace, pod, dry_run="All")

    message = f'pods "{pod["metadata"]["name"]}" is forbidden: {RESTRICTED_REFUSAL}: {violation}'
    assert refusal(refused.value) == (403, "Forbidden", message)


@pytest.mark.usefixtures("enforcing")
def test_the_manifests_namespace_refuses_a_privileged_operator_pod(admin: Any, kubeconfig: Path) -> None:
    """The namespace `kre` of manifests/ enforces `restricted` too: its operator's pod, made privileged, is refused
    (a dry run: nothing is stored in the namespace other tests share)."""
    install_rbac(kubeconfig)  # the namespace `kre`, as manifests/ makes it; shared, and left in place
    (deployment,) = [
        obj
        for obj in rendered_manifests()
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == MANIFESTS_OPERATOR
    ]
    pod = pod_from(deployment, MANIFESTS_NAMESPACE)
    pod["metadata"]["name"] = f"privileged-{uuid.uuid4().hex[:8]}"
    (container,) = pod["spec"]["containers"]
    container["securityContext"].pop("allowPrivilegeEscalation")
    container["securityContext"]["privileged"] = True
    core = client.CoreV1Api(admin)
    core.create_namespaced_pod(MANIFESTS_NAMESPACE, pod_from(deployment, MANIFESTS_NAMESPACE), dry_run="All")

    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(MANIFESTS_NAMESPACE, pod, dry_run="All")

    status, reason, message = refusal(refused.value)
    assert (status, reason) == (403, "Forbidden")
    assert message.startswith(f'pods "{pod["metadata"]["name"]}" is forbidden: {RESTRICTED_REFUSAL}: privileged ')
    assert f'container "{container["name"]}" must not set securityContext.privileged=true' in message
