"""The operator's configuration: environment variables, defaults, and errors naming the variable."""

from __future__ import annotations

from decimal import Decimal

import pytest
from k8s_manager_operator.config import (
    DEFAULT_COMPONENTS,
    ComponentCheck,
    ConfigError,
    LabelSelector,
    OperatorConfig,
    ResourceAmounts,
    ServiceAccountRef,
    parse_quantity,
)


def test_defaults_without_environment() -> None:
    config = OperatorConfig.from_env({})

    assert config == OperatorConfig()
    assert config.runtime_operator_image == "konstellation/kre-operator"
    assert config.runtime_operator_image_reference == f"konstellation/kre-operator:{config.runtime_operator_version}"
    assert config.resync_interval == 10.0


def test_the_default_tag_is_pinned_never_latest() -> None:
    tag = OperatorConfig().runtime_operator_version

    assert tag != "latest"
    assert tag[0].isdigit()


def test_default_resources_are_requests_within_limits() -> None:
    assert OperatorConfig().runtime_operator_resources.as_requirements() == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }


def test_default_components_are_the_original_runtime_status_watches() -> None:
    assert [str(component) for component in DEFAULT_COMPONENTS] == [
        "minio:app=kre-minio:ready",
        "mongo:kre-app=kre-mongo:running",
        "nats:app=kre-nats:running",
        "runtime-operator:name=kre-operator:running",
    ]
    assert OperatorConfig().components == DEFAULT_COMPONENTS


def test_every_variable_is_read() -> None:
    env = {
        "KRE_RUNTIME_OPERATOR_IMAGE": "registry.example.com:5000/kre/kre-operator",
        "KRE_KUBERNETES_OPERATOR_VERSION": "1.4.2",
        "KRE_RUNTIME_OPERATOR_CPU_REQUEST": "0.2",
        "KRE_RUNTIME_OPERATOR_MEMORY_REQUEST": "100Mi",
        "KRE_RUNTIME_OPERATOR_CPU_LIMIT": "1",
        "KRE_RUNTIME_OPERATOR_MEMORY_LIMIT": "1Gi",
        "KRE_RUNTIME_COMPONENTS": "minio:app=kre-minio:ready; api:app=runtime-api,tier!=test",
        "KRE_RUNTIME_RESYNC_INTERVAL": "2.5",
        "KRE_OPERATOR_NAMESPACE": "kre",
        "KRE_OPERATOR_SERVICE_ACCOUNT": "k8s-manager-operator",
        "KRE_RUNTIME_NAMESPACE_ROLE": "kre-runtime-namespace",
    }

    config = OperatorConfig.from_env(env)

    assert config.runtime_operator_image_reference == "registry.example.com:5000/kre/kre-operator:1.4.2"
    assert config.runtime_operator_resources == ResourceAmounts("0.2", "100Mi", "1", "1Gi")
    assert [str(component) for component in config.components] == [
        "minio:app=kre-minio:ready",
        "api:app=runtime-api,tier!=test:running",
    ]
    assert config.resync_interval == 2.5
    assert config.service_account == ServiceAccountRef("kre", "k8s-manager-operator")
    assert config.runtime_namespace_role == "kre-runtime-namespace"


def test_empty_variables_count_as_unset() -> None:
    env = {"KRE_RUNTIME_OPERATOR_IMAGE": "", "KRE_KUBERNETES_OPERATOR_VERSION": "  ", "KRE_RUNTIME_COMPONENTS": ""}

    assert OperatorConfig.from_env(env) == OperatorConfig()


def test_an_explicit_latest_tag_is_the_operators_choice() -> None:
    assert OperatorConfig.from_env({"KRE_KUBERNETES_OPERATOR_VERSION": "latest"}).runtime_operator_version == "latest"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"KRE_RUNTIME_OPERATOR_IMAGE": "konstellation/kre-operator:1.0"},
            "KRE_RUNTIME_OPERATOR_IMAGE: 'konstellation/kre-operator:1.0' is not an image repository",
        ),
        (
            {"KRE_RUNTIME_OPERATOR_IMAGE": "Konstellation/KRE"},
            "KRE_RUNTIME_OPERATOR_IMAGE: 'Konstellation/KRE' is not an image repository",
        ),
        (
            {"KRE_KUBERNETES_OPERATOR_VERSION": "v1:2"},
            "KRE_KUBERNETES_OPERATOR_VERSION: 'v1:2' is not an image tag",
        ),
        (
            {"KRE_RUNTIME_OPERATOR_CPU_LIMIT": "lots"},
            "KRE_RUNTIME_OPERATOR_CPU_LIMIT: 'lots' is not a quantity",
        ),
        (
            {"KRE_RUNTIME_OPERATOR_MEMORY_REQUEST": "0"},
            "KRE_RUNTIME_OPERATOR_MEMORY_REQUEST: '0' is not positive",
        ),
        (
            {"KRE_RUNTIME_OPERATOR_CPU_REQUEST": "2"},
            "KRE_RUNTIME_OPERATOR_CPU_REQUEST: 2 is more than KRE_RUNTIME_OPERATOR_CPU_LIMIT (500m)",
        ),
        (
            {"KRE_RUNTIME_OPERATOR_MEMORY_REQUEST": "1Gi", "KRE_RUNTIME_OPERATOR_MEMORY_LIMIT": "1000Mi"},
            "KRE_RUNTIME_OPERATOR_MEMORY_REQUEST: 1Gi is more than KRE_RUNTIME_OPERATOR_MEMORY_LIMIT (1000Mi)",
        ),
        (
            {"KRE_RUNTIME_COMPONENTS": "minio"},
            "KRE_RUNTIME_COMPONENTS: 'minio' is not a component",
        ),
        (
            {"KRE_RUNTIME_COMPONENTS": "minio:app=kre-minio:healthy"},
            "KRE_RUNTIME_COMPONENTS: 'healthy' in 'minio:app=kre-minio:healthy' is not a readiness check",
        ),
        (
            {"KRE_RUNTIME_COMPONENTS": "Minio:app=kre-minio"},
            "KRE_RUNTIME_COMPONENTS: 'Minio' is not a component name",
        ),
        (
            {"KRE_RUNTIME_COMPONENTS": "nats:app=a;nats:app=b"},
            "KRE_RUNTIME_COMPONENTS: component 'nats' is given twice",
        ),
        (
            {"KRE_RUNTIME_COMPONENTS": "nats:app in (kre-nats)"},
            "KRE_RUNTIME_COMPONENTS: 'app in (kre-nats)': set-based requirements (in, notin) are not supported",
        ),
        (
            {"KRE_RUNTIME_COMPONENTS": "nats:app=kre nats"},
            "KRE_RUNTIME_COMPONENTS: 'kre nats' is not a label value",
        ),
        (
            {"KRE_RUNTIME_COMPONENTS": "nats:-app=kre-nats"},
            "KRE_RUNTIME_COMPONENTS: '-app' is not a label key",
        ),
        (
            {"KRE_RUNTIME_COMPONENTS": ";;"},
            "KRE_RUNTIME_COMPONENTS: ';;' names no component",
        ),
        (
            {"KRE_RUNTIME_RESYNC_INTERVAL": "0"},
            "KRE_RUNTIME_RESYNC_INTERVAL: '0' is out of range",
        ),
        (
            {"KRE_RUNTIME_RESYNC_INTERVAL": "soon"},
            "KRE_RUNTIME_RESYNC_INTERVAL: 'soon' is not a number of seconds",
        ),
        (
            {"KRE_OPERATOR_NAMESPACE": "kre"},
            "KRE_OPERATOR_NAMESPACE and KRE_OPERATOR_SERVICE_ACCOUNT: set both",
        ),
        (
            {"KRE_OPERATOR_SERVICE_ACCOUNT": "k8s-manager-operator"},
            "KRE_OPERATOR_NAMESPACE and KRE_OPERATOR_SERVICE_ACCOUNT: set both",
        ),
        (
            {"KRE_OPERATOR_NAMESPACE": "Kre", "KRE_OPERATOR_SERVICE_ACCOUNT": "op"},
            "KRE_OPERATOR_NAMESPACE: 'Kre' is not a DNS label",
        ),
        (
            {"KRE_OPERATOR_NAMESPACE": "kre", "KRE_OPERATOR_SERVICE_ACCOUNT": "op_1"},
            "KRE_OPERATOR_SERVICE_ACCOUNT: 'op_1' is not a DNS subdomain name",
        ),
        (
            {"KRE_RUNTIME_NAMESPACE_ROLE": "a..b"},
            "KRE_RUNTIME_NAMESPACE_ROLE: 'a..b' is not a DNS subdomain name",
        ),
    ],
)
def test_invalid_values_are_refused_naming_the_variable(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        OperatorConfig.from_env(env)

    assert str(caught.value).startswith(expected)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("0.5", Decimal("0.5")),
        ("1", Decimal(1)),
        ("128Mi", Decimal(128 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1G", Decimal(10**9)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("250u", Decimal("0.00025")),
        (".5", Decimal("0.5")),
    ],
)
def test_quantities_are_read_as_kubernetes_reads_them(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "-1", "1.5.3", "1gi", "Mi", "1 Gi", "0x10"])
def test_malformed_quantities_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=kre-minio", {"app": "kre-minio", "other": "x"}, True),
        ("app==kre-minio", {"app": "kre-minio"}, True),
        ("app=kre-minio", {"app": "kre-minio-secret"}, False),
        ("app=kre-minio", {}, False),
        ("app!=kre-minio", {}, True),  # Kubernetes: != also matches objects without the label
        ("app!=kre-minio", {"app": "kre-minio"}, False),
        ("app", {"app": ""}, True),
        ("!app", {"app": ""}, False),
        ("app=kre-nats,statefulset.kubernetes.io/pod-name", {"app": "kre-nats"}, False),
    ],
)
def test_label_selectors_match_as_the_api_server_does(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(labels) is expected


def test_a_selector_prints_in_the_api_form() -> None:
    assert str(LabelSelector.parse(" app == kre-minio , !debug ")) == "app=kre-minio,!debug"


def test_a_component_check_reads_back_as_written() -> None:
    component = ComponentCheck("minio", LabelSelector.parse("app=kre-minio"), needs_ready=True)

    assert OperatorConfig.from_env({"KRE_RUNTIME_COMPONENTS": str(component)}).components == (component,)
