"""The objects a started RuntimeVersion stands for: the original's names, labels, env, files, volumes and ports,
with its bugs fixed (order, first node, wiring precedence, roll-outs, restricted pods)."""

from __future__ import annotations

import copy
import json
import random
import string
from typing import Any

import pytest
from k8s_manager_operator.config import ConfigError
from k8s_manager_operator.version.desired import (
    CONFIG_HASH_ANNOTATION,
    WIRING_HASH_ANNOTATION,
    Requests,
    VersionConfig,
    config_hash,
    deployment_annotations,
    desired_objects,
    differences,
    entrypoint_service,
    merge_patch,
    nats_subjects,
    resource_of,
    version_object_names,
)
from k8s_manager_operator.version.validation import validate_version

RANDOM = random.Random(20240610)
UID = "0b9f3c2e-5d4a-4e8b-9c71-2a6d8e4f1b30"


def random_id() -> str:
    """Like the Admin API's node, edge and workflow ids: 10 random lowercase letters."""
    return "".join(RANDOM.choices(string.ascii_lowercase, k=10))


VERSION_ID = random_id()
GREETING_ID, SALUTING_ID = random_id(), random_id()
GREETING_NODE, SALUTING_NODE = random_id(), random_id()
GREETING_DEPLOYMENT = f"greeter-v1-greeter-{GREETING_NODE}"
SALUTING_DEPLOYMENT = f"greeter-v1-greeter-{SALUTING_NODE}"


def greeter_version(**spec: Any) -> dict[str, Any]:
    """krt-template/greeter as the facade writes it for the Admin API's Start, as stored."""
    node = {"name": "greeter", "image": "konstellation/kre-py:latest", "src": "src/greeter/main.py"}
    return {
        "apiVersion": "kre.konstellation.io/v1alpha1",
        "kind": "RuntimeVersion",
        "metadata": {
            "name": "greeter-v1",
            "namespace": "kre-demo",
            "uid": UID,
            "generation": 1,
            "resourceVersion": "812",
        },
        "spec": {
            "id": VERSION_ID,
            "entrypoint": {
                "protoFile": "public_input.proto",
                "image": "konstellation/kre-runtime-entrypoint:latest",
                "src": "src/entrypoint/entrypoint.py",
            },
            "config": [{"key": "GREETING", "value": "Hello"}, {"key": "API_TOKEN", "value": "t0k3n"}],
            "workflows": [
                # The Admin API sends no edges for a single-node workflow; a kubectl user may write `edges: []`.
                {
                    "id": GREETING_ID,
                    "name": "greeting",
                    "entrypoint": "Greet",
                    "nodes": [{"id": GREETING_NODE, **node}],
                },
                {
                    "id": SALUTING_ID,
                    "name": "saluting",
                    "entrypoint": "Salute",
                    "nodes": [{"id": SALUTING_NODE, **node}],
                    "edges": [],
                },
            ],
            "desiredState": "Started",
            "published": False,
            **spec,
        },
    }


def objects_by_name(version: dict[str, Any], config: VersionConfig | None = None) -> dict[tuple[str, str], Any]:
    return {(obj["kind"], obj["metadata"]["name"]): obj for obj in desired_objects(version, config or VersionConfig())}


def chain_version() -> dict[str, Any]:
    """One workflow of three nodes a → b → c, listed in the spec as c, a, b with the edges as b→c, a→b: neither
    `nodes[0]` nor `edges[0].fromNode` is the first node (the original's V3)."""
    version = greeter_version()
    node_a, node_b, node_c = random_id(), random_id(), random_id()
    edge_ab, edge_bc = random_id(), random_id()

    def node(node_id: str, name: str) -> dict[str, str]:
        return {"id": node_id, "name": name, "image": f"konstellation/kre-py:{name}", "src": f"src/{name}/main.py"}

    version["spec"]["workflows"] = [
        {
            "id": GREETING_ID,
            "name": "greeting",
            "entrypoint": "Greet",
            "nodes": [node(node_c, "last"), node(node_a, "first"), node(node_b, "middle")],
            "edges": [
                {"id": edge_bc, "fromNode": node_b, "toNode": node_c},
                {"id": edge_ab, "fromNode": node_a, "toNode": node_b},
            ],
        }
    ]
    version["ids"] = {"a": node_a, "b": node_b, "c": node_c, "ab": edge_ab, "bc": edge_bc}
    return version


def kubelet_environment(container: dict[str, Any], config_maps: dict[str, dict[str, str]]) -> dict[str, str]:
    """The variables a container starts with: envFrom sources in order (a later one wins), then env (wins)."""
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(config_maps[source["configMapRef"]["name"]])
    for variable in container.get("env", []):
        environment[variable["name"]] = variable.get("value", "")
    return environment


NGINX_DEFAULT_CONF = (
    "server {\n"
    "        listen       80;\n"
    "        server_name  localhost;\n"
    "\n"
    "        location / {\n"
    "            root   /proto;\n"
    "            autoindex on;\n"
    "        }\n"
    "\n"
    "        error_page   500 502 503 504  /50x.html;\n"
    "        location = /50x.html {\n"
    "            root   /usr/share/nginx/html;\n"
    "        }\n"
    "    }\n"
)

FLUENT_BIT_CONF = (
    "\n"
    "[SERVICE]\n"
    "    Flush        1\n"
    "    Verbose      1\n"
    "\n"
    "    Daemon       Off\n"
    "    Log_Level    info\n"
    "\n"
    "    Plugins_File plugins.conf\n"
    "    Parsers_File parsers.conf\n"
    "\n"
    "    HTTP_Server  Off\n"
    "    HTTP_Listen  0.0.0.0\n"
    "    HTTP_Port    2020\n"
    "\n"
    "[INPUT]\n"
    "    Name        tail\n"
    "    Tag         mongo_writer_logs\n"
    "    Buffer_Chunk_Size 1k\n"
    "    Path        /var/log/app/*.log\n"
    "\n"
    "[FILTER]\n"
    "    Name record_modifier\n"
    "    Match *\n"
    "    Record versionId ${KRT_VERSION_ID}\n"
    "    Record versionName ${KRT_VERSION}\n"
    "    Record nodeName ${KRT_NODE_NAME}\n"
    "    Record nodeId ${KRT_NODE_ID}\n"
    "    Record workflowName ${KRT_WORKFLOW_NAME}\n"
    "    Record workflowId ${KRT_WORKFLOW_ID}\n"
    "\n"
    "[FILTER]\n"
    "    Name  stdout\n"
    "    Match *\n"
    "\n"
    "[OUTPUT]\n"
    "    Name  nats\n"
    "    Match *\n"
    "    Host  kre-nats\n"
    "    Port  4222\n"
)

RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
FLUENT_BIT_MOUNTS = [
    {
        "name": "version-conf-files",
        "readOnly": True,
        "mountPath": "/fluent-bit/etc/fluent-bit.conf",
        "subPath": "fluent-bit.conf",
    },
    {"name": "app-log-volume", "readOnly": True, "mountPath": "/var/log/app"},
]
VOLUMES = [
    {"name": "version-conf-files", "configMap": {"name": "greeter-v1-conf-files"}},
    {"name": "shared-data", "persistentVolumeClaim": {"claimName": "kre-minio-pvc-kre-minio-0", "readOnly": True}},
    {"name": "app-log-volume", "emptyDir": {}},
]
MANAGED = {"app.kubernetes.io/managed-by": "k8s-manager", "kre.konstellation.io/version": "greeter-v1"}


def identity(workflow_name: str, workflow_id: str, node_name: str, node_id: str) -> list[dict[str, str]]:
    return [
        {"name": "KRT_VERSION_ID", "value": VERSION_ID},
        {"name": "KRT_VERSION", "value": "greeter-v1"},
        {"name": "KRT_WORKFLOW_NAME", "value": workflow_name},
        {"name": "KRT_WORKFLOW_ID", "value": workflow_id},
        {"name": "KRT_NODE_NAME", "value": node_name},
        {"name": "KRT_NODE_ID", "value": node_id},
    ]


# ------------------------------------------------------------------------------------------ all objects


def test_the_greeter_is_valid() -> None:
    assert validate_version(greeter_version()) == []
    assert validate_version(chain_version()) == []


def test_objects_come_configmaps_first_in_the_original_order_with_its_names() -> None:
    objects = desired_objects(greeter_version(), VersionConfig())

    assert [
        (obj["apiVersion"], obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]) for obj in objects
    ] == [
        ("v1", "ConfigMap", "kre-demo", GREETING_DEPLOYMENT),
        ("v1", "ConfigMap", "kre-demo", SALUTING_DEPLOYMENT),
        ("v1", "ConfigMap", "kre-demo", "greeter-v1-global"),
        ("v1", "ConfigMap", "kre-demo", "greeter-v1-conf-files"),
        ("v1", "ConfigMap", "kre-demo", "greeter-v1-entrypoint-env"),
        ("apps/v1", "Deployment", "kre-demo", GREETING_DEPLOYMENT),
        ("apps/v1", "Deployment", "kre-demo", SALUTING_DEPLOYMENT),
        ("apps/v1", "Deployment", "kre-demo", "greeter-v1-entrypoint"),
    ]
    assert version_object_names(greeter_version()) == [(obj["kind"], obj["metadata"]["name"]) for obj in objects]
    assert [resource_of(obj).plural for obj in objects] == ["configmaps"] * 5 + ["deployments"] * 3


def test_every_object_has_the_original_labels_ours_and_an_owner_reference() -> None:
    owner = {
        "apiVersion": "kre.konstellation.io/v1alpha1",
        "kind": "RuntimeVersion",
        "name": "greeter-v1",
        "uid": UID,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    greeting = {"type": "node", "version-name": "greeter-v1", "node-name": "greeter", "node-id": GREETING_NODE}
    saluting = {"type": "node", "version-name": "greeter-v1", "node-name": "greeter", "node-id": SALUTING_NODE}
    version_type = {"type": "version", "version-name": "greeter-v1"}
    entrypoint = {"type": "entrypoint", "version-name": "greeter-v1"}
    expected = {
        ("ConfigMap", GREETING_DEPLOYMENT): greeting,
        ("ConfigMap", SALUTING_DEPLOYMENT): saluting,
        ("ConfigMap", "greeter-v1-global"): version_type,
        ("ConfigMap", "greeter-v1-conf-files"): version_type,
        ("ConfigMap", "greeter-v1-entrypoint-env"): entrypoint,
        ("Deployment", GREETING_DEPLOYMENT): greeting,
        ("Deployment", SALUTING_DEPLOYMENT): saluting,
        ("Deployment", "greeter-v1-entrypoint"): entrypoint,
    }

    objects = objects_by_name(greeter_version())

    assert set(objects) == set(expected)
    for key, obj in objects.items():
        assert obj["metadata"]["labels"] == {**expected[key], **MANAGED}, key
        assert obj["metadata"]["ownerReferences"] == [owner], key
        assert "annotations" not in obj["metadata"], key
        if key[0] == "Deployment":
            # The selector is immutable and is the original's; pods carry our labels too.
            assert obj["spec"]["selector"] == {"matchLabels": expected[key]}, key
            assert obj["spec"]["template"]["metadata"]["labels"] == {**expected[key], **MANAGED}, key


def test_objects_need_the_stored_version() -> None:
    version = greeter_version()
    del version["metadata"]["uid"]
    with pytest.raises(ValueError, match=r"metadata\.uid"):
        desired_objects(version, VersionConfig())
    version = greeter_version()
    del version["metadata"]["namespace"]
    with pytest.raises(ValueError, match=r"metadata\.namespace"):
        desired_objects(version, VersionConfig())


# ------------------------------------------------------------------------------------------ ConfigMaps


def test_node_configmaps_hold_the_wiring_of_single_node_workflows() -> None:
    """No edges: the only node reads the workflow's entrypoint subject and replies to the entrypoint."""
    objects = objects_by_name(greeter_version())

    assert objects["ConfigMap", GREETING_DEPLOYMENT]["data"] == {
        "KRT_VERSION": "greeter-v1",
        "KRT_NODE_NAME": "greeter",
        "KRT_NATS_SERVER": "kre-nats:4222",
        "KRT_NATS_MONGO_WRITER": "mongo_writer",
        "KRT_BASE_PATH": "/krt-files",
        "KRT_HANDLER_PATH": "src/greeter/main.py",
        "KRT_NATS_INPUT": "greeter-v1-Greet-entrypoint",
        "KRT_NATS_OUTPUT": "",
    }
    assert objects["ConfigMap", SALUTING_DEPLOYMENT]["data"]["KRT_NATS_INPUT"] == "greeter-v1-Salute-entrypoint"
    assert objects["ConfigMap", SALUTING_DEPLOYMENT]["data"]["KRT_NATS_OUTPUT"] == ""


def test_a_chain_is_wired_from_its_real_first_node_whatever_the_order_of_nodes_and_edges() -> None:
    version = chain_version()
    ids = version["ids"]
    objects = objects_by_name(version)

    def wiring(name: str, node_id: str) -> tuple[str, str]:
        data = objects["ConfigMap", f"greeter-v1-{name}-{node_id}"]["data"]
        return data["KRT_NATS_INPUT"], data["KRT_NATS_OUTPUT"]

    assert wiring("first", ids["a"]) == ("greeter-v1-Greet-entrypoint", ids["ab"])
    assert wiring("middle", ids["b"]) == (ids["ab"], ids["bc"])
    assert wiring("last", ids["c"]) == (ids["bc"], "")
    # The subject map is built from the same first node (the original read nodes[0], here the last node).
    assert nats_subjects(version) == {"Greet": "greeter-v1-Greet-entrypoint"}
    conf_files = objects["ConfigMap", "greeter-v1-conf-files"]["data"]
    assert conf_files["nats_subject.json"] == '{"Greet":"greeter-v1-Greet-entrypoint"}'
    # Node objects come in spec order.
    assert [name for kind, name in version_object_names(version) if kind == "Deployment"] == [
        f"greeter-v1-last-{ids['c']}",
        f"greeter-v1-first-{ids['a']}",
        f"greeter-v1-middle-{ids['b']}",
        "greeter-v1-entrypoint",
    ]


def test_global_configmap_holds_the_config_and_only_it() -> None:
    objects = objects_by_name(greeter_version())
    assert objects["ConfigMap", "greeter-v1-global"]["data"] == {"GREETING": "Hello", "API_TOKEN": "t0k3n"}

    # As the original: a repeated key's last value wins (the facade may pass the Admin API's list as it is).
    repeated = greeter_version(config=[{"key": "A", "value": "1"}, {"key": "B"}, {"key": "A", "value": "2"}])
    assert objects_by_name(repeated)["ConfigMap", "greeter-v1-global"]["data"] == {"A": "2", "B": ""}

    # The API drops an empty `data`; the desired object leaves it out so that it compares equal.
    empty = objects_by_name(greeter_version(config=[]))["ConfigMap", "greeter-v1-global"]
    assert "data" not in empty


def test_conf_files_hold_the_original_files() -> None:
    data = objects_by_name(greeter_version())["ConfigMap", "greeter-v1-conf-files"]["data"]

    assert list(data) == ["default.conf", "nats_subject.json", "fluent-bit.conf"]
    assert data["default.conf"] == NGINX_DEFAULT_CONF
    assert data["fluent-bit.conf"] == FLUENT_BIT_CONF
    # Go's encoding/json of the map: sorted keys, no spaces.
    assert (
        data["nats_subject.json"] == '{"Greet":"greeter-v1-Greet-entrypoint","Salute":"greeter-v1-Salute-entrypoint"}'
    )
    assert json.loads(data["nats_subject.json"]) == {
        "Greet": "greeter-v1-Greet-entrypoint",
        "Salute": "greeter-v1-Salute-entrypoint",
    }


def test_entrypoint_env_configmap() -> None:
    data = objects_by_name(greeter_version())["ConfigMap", "greeter-v1-entrypoint-env"]["data"]
    assert data == {
        "KRT_ENTRYPOINT": "/krt-files/src/entrypoint/entrypoint.py",
        "KRT_NATS_SERVER": "kre-nats:4222",
        "KRT_NATS_SUBJECTS_FILE": "/src/conf/nats_subject.json",
    }


@pytest.mark.parametrize(
    ("src", "joined"),
    [
        ("./src/entrypoint.py", "/krt-files/src/entrypoint.py"),
        ("src/./entrypoint.py", "/krt-files/src/entrypoint.py"),
        ("entrypoint.py", "/krt-files/entrypoint.py"),
        (".", "/krt-files"),
        ("src/", "/krt-files/src"),
    ],
)
def test_entrypoint_path_is_joined_and_cleaned_like_go_path_join(src: str, joined: str) -> None:
    version = greeter_version()
    version["spec"]["entrypoint"]["src"] = src
    assert objects_by_name(version)["ConfigMap", "greeter-v1-entrypoint-env"]["data"]["KRT_ENTRYPOINT"] == joined


# ------------------------------------------------------------------------------------------ Deployments


def test_node_deployment() -> None:
    deployment = objects_by_name(greeter_version())["Deployment", GREETING_DEPLOYMENT]
    env = identity("greeting", GREETING_ID, "greeter", GREETING_NODE)

    assert "replicas" not in deployment["spec"]  # as the original: 1, and a manual scale is not undone
    pod = deployment["spec"]["template"]["spec"]
    assert pod == {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": GREETING_DEPLOYMENT,
                "image": "konstellation/kre-py:latest",  # the user's reference, unchanged
                "imagePullPolicy": "IfNotPresent",
                "env": env,
                # The user's config first, the wiring second: the later source wins. No conf-files: the original
                # turned its three file texts into variables.
                "envFrom": [
                    {"configMapRef": {"name": "greeter-v1-global"}},
                    {"configMapRef": {"name": GREETING_DEPLOYMENT}},
                ],
                "volumeMounts": [
                    {"name": "shared-data", "readOnly": True, "mountPath": "/krt-files", "subPath": "greeter-v1"},
                    {"name": "app-log-volume", "mountPath": "/var/log/app"},
                ],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "securityContext": RESTRICTED_CONTAINER,
            },
            {
                "name": "fluent-bit",
                "image": "fluent/fluent-bit:1.3.11",
                "imagePullPolicy": "IfNotPresent",
                "command": ["/fluent-bit/bin/fluent-bit", "-c", "/fluent-bit/etc/fluent-bit.conf", "-v"],
                "env": env,
                "volumeMounts": FLUENT_BIT_MOUNTS,
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                "securityContext": RESTRICTED_CONTAINER,
            },
        ],
        "volumes": VOLUMES,
    }
    assert set(deployment["spec"]["template"]["metadata"]["annotations"]) == {
        CONFIG_HASH_ANNOTATION,
        WIRING_HASH_ANNOTATION,
    }


def test_entrypoint_deployment() -> None:
    deployment = objects_by_name(greeter_version())["Deployment", "greeter-v1-entrypoint"]
    env = identity("entrypoint", "entrypoint", "entrypoint", "entrypoint")

    assert "replicas" not in deployment["spec"]
    assert deployment["spec"]["template"]["spec"] == {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
            # Lets the non-root web container listen on 80; a namespaced sysctl that Pod Security allows.
            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
        },
        "containers": [
            {
                "name": "greeter-v1",
                "image": "konstellation/kre-runtime-entrypoint:latest",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 9000, "protocol": "TCP"}],
                "env": env,
                "envFrom": [{"configMapRef": {"name": "greeter-v1-entrypoint-env"}}],
                "volumeMounts": [
                    {
                        "name": "version-conf-files",
                        "readOnly": True,
                        "mountPath": "/src/conf/nats_subject.json",
                        "subPath": "nats_subject.json",
                    },
                    {"name": "shared-data", "readOnly": True, "mountPath": "/krt-files", "subPath": "greeter-v1"},
                    {"name": "app-log-volume", "mountPath": "/var/log/app"},
                ],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "securityContext": RESTRICTED_CONTAINER,
            },
            {
                "name": "fluent-bit",
                "image": "fluent/fluent-bit:1.3.11",
                "imagePullPolicy": "IfNotPresent",
                "command": ["/fluent-bit/bin/fluent-bit", "-c", "/fluent-bit/etc/fluent-bit.conf", "-v"],
                "env": env,
                "volumeMounts": FLUENT_BIT_MOUNTS,
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                "securityContext": RESTRICTED_CONTAINER,
            },
            {
                "name": "greeter-v1-web",
                "image": "nginxinc/nginx-unprivileged:1.27.4-alpine",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "volumeMounts": [
                    {
                        "name": "version-conf-files",
                        "readOnly": True,
                        "mountPath": "/etc/nginx/conf.d/default.conf",
                        "subPath": "default.conf",
                    },
                    {
                        "name": "shared-data",
                        "readOnly": True,
                        "mountPath": "/proto/public_input.proto",
                        "subPath": "greeter-v1/public_input.proto",
                    },
                ],
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                "securityContext": RESTRICTED_CONTAINER,
            },
        ],
        "volumes": VOLUMES,
    }


def test_node_pods_start_with_the_original_variables_and_the_wiring_wins_over_config() -> None:
    """What a node's runner sees, resolved as the kubelet does: even a config key named like a wiring variable
    (validation refuses them; a ConfigMap edited by hand is not validated) cannot rewire a node."""
    version = chain_version()
    ids = version["ids"]
    objects = objects_by_name(version)
    config_maps = {name: obj.get("data", {}) for (kind, name), obj in objects.items() if kind == "ConfigMap"}
    config_maps["greeter-v1-global"] = {
        **config_maps["greeter-v1-global"],
        "KRT_NATS_INPUT": "hijacked",
        "KRT_NODE_ID": "impostor",
    }
    middle = f"greeter-v1-middle-{ids['b']}"
    runner = objects["Deployment", middle]["spec"]["template"]["spec"]["containers"][0]

    assert kubelet_environment(runner, config_maps) == {
        "GREETING": "Hello",
        "API_TOKEN": "t0k3n",
        "KRT_VERSION": "greeter-v1",
        "KRT_NODE_NAME": "middle",
        "KRT_NATS_SERVER": "kre-nats:4222",
        "KRT_NATS_MONGO_WRITER": "mongo_writer",
        "KRT_BASE_PATH": "/krt-files",
        "KRT_HANDLER_PATH": "src/middle/main.py",
        "KRT_NATS_INPUT": ids["ab"],
        "KRT_NATS_OUTPUT": ids["bc"],
        "KRT_VERSION_ID": VERSION_ID,
        "KRT_WORKFLOW_NAME": "greeting",
        "KRT_WORKFLOW_ID": GREETING_ID,
        "KRT_NODE_ID": ids["b"],
    }


def test_every_pod_meets_pod_security_restricted() -> None:
    safe_sysctls = {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
    }
    allowed_volumes = {"configMap", "persistentVolumeClaim", "emptyDir"}
    for obj in desired_objects(chain_version(), VersionConfig()):
        if obj["kind"] != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        name = obj["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"].get("runAsUser", 1) != 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert {sysctl["name"] for sysctl in pod["securityContext"].get("sysctls", [])} <= safe_sysctls, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), name
        for volume in pod["volumes"]:
            assert set(volume) - {"name"} <= allowed_volumes, name
        for container in pod["containers"]:
            assert container["securityContext"] == RESTRICTED_CONTAINER, (name, container["name"])
            assert all("hostPort" not in port for port in container.get("ports", [])), name
            assert container["resources"]["requests"].keys() == {"cpu", "memory"}, (name, container["name"])


def test_only_our_images_are_pinned_and_the_users_are_left_as_given() -> None:
    version = greeter_version()
    version["spec"]["entrypoint"]["image"] = "registry.local:5000/entrypoint"  # no tag: the user's business
    images = {
        container["image"]
        for obj in desired_objects(version, VersionConfig())
        if obj["kind"] == "Deployment"
        for container in obj["spec"]["template"]["spec"]["containers"]
    }
    assert images == {
        "konstellation/kre-py:latest",
        "registry.local:5000/entrypoint",
        "fluent/fluent-bit:1.3.11",
        "nginxinc/nginx-unprivileged:1.27.4-alpine",
    }


def test_configuration_sets_images_claim_user_and_requests() -> None:
    config = VersionConfig(
        fluent_bit_image="registry.local/fluent-bit:1.3.11",
        web_image="registry.local/nginx@sha256:" + "a" * 64,
        shared_claim="shared-krt-files",
        run_as_user=None,
        workload_requests=Requests(cpu="250m", memory="1Gi"),
        sidecar_requests=Requests(cpu="5m", memory="16Mi"),
    )
    objects = objects_by_name(greeter_version(), config)
    node = objects["Deployment", GREETING_DEPLOYMENT]["spec"]["template"]["spec"]
    entrypoint = objects["Deployment", "greeter-v1-entrypoint"]["spec"]["template"]["spec"]

    # Without a user id each image's own user runs, and the kubelet refuses to start one that is root.
    assert node["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert node["volumes"][1]["persistentVolumeClaim"] == {"claimName": "shared-krt-files", "readOnly": True}
    assert node["containers"][0]["resources"] == {"requests": {"cpu": "250m", "memory": "1Gi"}}
    assert node["containers"][1]["image"] == "registry.local/fluent-bit:1.3.11"
    assert node["containers"][1]["resources"] == {"requests": {"cpu": "5m", "memory": "16Mi"}}
    assert entrypoint["containers"][2]["image"] == "registry.local/nginx@sha256:" + "a" * 64


# ------------------------------------------------------------------------------------------ roll-outs


def test_config_hash_is_on_every_pod_template_and_changes_with_the_config_only() -> None:
    version = greeter_version()
    hashes = deployment_annotations(version)
    assert set(hashes) == {GREETING_DEPLOYMENT, SALUTING_DEPLOYMENT, "greeter-v1-entrypoint"}
    for obj in desired_objects(version, VersionConfig()):
        if obj["kind"] == "Deployment":
            annotations = obj["spec"]["template"]["metadata"]["annotations"]
            assert annotations == hashes[obj["metadata"]["name"]]
            assert annotations[CONFIG_HASH_ANNOTATION] == config_hash(version)

    changed_value = greeter_version(
        config=[{"key": "GREETING", "value": "Hola"}, {"key": "API_TOKEN", "value": "t0k3n"}]
    )
    added_key = greeter_version(config=[*version["spec"]["config"], {"key": "LANG", "value": "en"}])
    removed_key = greeter_version(config=[{"key": "GREETING", "value": "Hello"}])
    reordered = greeter_version(config=list(reversed(version["spec"]["config"])))
    other_image = copy.deepcopy(version)
    other_image["spec"]["workflows"][0]["nodes"][0]["image"] = "konstellation/kre-py:1.0.1"

    assert len({config_hash(v) for v in (version, changed_value, added_key, removed_key)}) == 4
    assert config_hash(reordered) == config_hash(version)  # the ConfigMap's data is the same
    assert config_hash(other_image) == config_hash(version)
    assert deployment_annotations(other_image) == hashes  # a new image rolls the pods by itself


def test_wiring_hash_rolls_the_pods_whose_start_up_reads_changed() -> None:
    """ConfigMaps are read at start: a change of edges or methods must roll the pods that read them."""
    version = chain_version()
    ids = version["ids"]
    before = deployment_annotations(version)
    rewired = copy.deepcopy(version)
    rewired["spec"]["workflows"][0]["edges"][1]["id"] = random_id()  # a → b gets a new subject
    renamed = copy.deepcopy(version)
    renamed["spec"]["workflows"][0]["entrypoint"] = "Hello"

    after = deployment_annotations(rewired)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {f"greeter-v1-first-{ids['a']}", f"greeter-v1-middle-{ids['b']}"}
    after = deployment_annotations(renamed)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {f"greeter-v1-first-{ids['a']}", "greeter-v1-entrypoint"}
    assert all(after[name][CONFIG_HASH_ANNOTATION] == before[name][CONFIG_HASH_ANNOTATION] for name in before)


# ------------------------------------------------------------------------------------------ the Service


def test_entrypoint_service_selects_the_version_and_is_not_owned() -> None:
    assert entrypoint_service(greeter_version()) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "active-entrypoint",
            "namespace": "kre-demo",
            "labels": {
                "type": "entrypoint",
                "version-name": "greeter-v1",
                "app.kubernetes.io/managed-by": "k8s-manager",
            },
        },
        "spec": {
            "type": "ClusterIP",
            "ports": [
                {"name": "grpc", "protocol": "TCP", "port": 9000, "targetPort": 9000},
                {"name": "web", "protocol": "TCP", "port": 80, "targetPort": 80},
            ],
            "selector": {"type": "entrypoint", "version-name": "greeter-v1"},
        },
    }


def test_the_service_selects_the_entrypoint_pods_only() -> None:
    service = entrypoint_service(greeter_version())
    selector = service["spec"]["selector"]
    for obj in desired_objects(greeter_version(), VersionConfig()):
        if obj["kind"] == "Deployment":
            labels = obj["spec"]["template"]["metadata"]["labels"]
            selected = all(labels.get(key) == value for key, value in selector.items())
            assert selected == (obj["metadata"]["name"] == "greeter-v1-entrypoint")
    ports = {
        port["containerPort"]
        for obj in desired_objects(greeter_version(), VersionConfig())
        if obj["kind"] == "Deployment"
        for c in obj["spec"]["template"]["spec"]["containers"]
        for port in c.get("ports", [])
    }
    assert {port["targetPort"] for port in service["spec"]["ports"]} == ports


# ------------------------------------------------------------------------------------------ drift


def as_stored(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API returns for an object created from `obj`: server fields and defaults added, empty maps gone."""
    stored = copy.deepcopy(obj)
    stored["metadata"].update(uid="x", resourceVersion="9", creationTimestamp="2024-06-10T10:00:00Z")
    if stored["kind"] == "Deployment":
        stored["metadata"]["generation"] = 1
        stored["spec"].update(replicas=1, revisionHistoryLimit=10, progressDeadlineSeconds=600)
        pod = stored["spec"]["template"]["spec"]
        pod.update(restartPolicy="Always", dnsPolicy="ClusterFirst", schedulerName="default-scheduler")
        for container in pod["containers"]:
            container.update(terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File")
        for volume in pod["volumes"]:
            if "configMap" in volume:
                volume["configMap"]["defaultMode"] = 420
        stored["status"] = {"observedGeneration": 1}
    if stored["kind"] == "Service":
        stored["spec"].update(clusterIP="10.96.0.12", sessionAffinity="None", ipFamilies=["IPv4"])
    if stored.get("data") == {}:
        del stored["data"]
    return stored


def test_stored_objects_do_not_drift() -> None:
    version = greeter_version(config=[])
    for obj in [*desired_objects(version, VersionConfig()), entrypoint_service(version)]:
        assert differences(obj, as_stored(obj)) == [], obj["metadata"]["name"]


def test_a_config_entry_removed_from_the_spec_is_drift_and_the_patch_removes_it() -> None:
    before = objects_by_name(greeter_version())["ConfigMap", "greeter-v1-global"]
    after = objects_by_name(greeter_version(config=[{"key": "GREETING", "value": "Hi"}]))[
        "ConfigMap", "greeter-v1-global"
    ]
    observed = as_stored(before)

    assert differences(after, observed) == ["data.API_TOKEN", "data.GREETING"]
    patch = merge_patch(after, observed)
    assert patch["data"] == {"GREETING": "Hi", "API_TOKEN": None}
    assert not {"apiVersion", "kind"} & set(patch)

    emptied = objects_by_name(greeter_version(config=[]))["ConfigMap", "greeter-v1-global"]
    assert differences(emptied, observed) == ["data.API_TOKEN", "data.GREETING"]
    assert merge_patch(emptied, observed)["data"] == {"GREETING": None, "API_TOKEN": None}


def test_a_service_selecting_on_more_labels_is_drift() -> None:
    service = entrypoint_service(greeter_version())
    observed = as_stored(service)
    observed["spec"]["selector"]["extra"] = "x"
    observed["metadata"]["labels"]["extra"] = "x"  # other labels are someone else's

    assert differences(service, observed) == ["spec.selector.extra"]
    assert merge_patch(service, observed)["spec"]["selector"] == {
        "type": "entrypoint",
        "version-name": "greeter-v1",
        "extra": None,
    }
    observed["spec"]["selector"] = {"type": "entrypoint", "version-name": "other-v2"}
    assert differences(service, observed) == ["spec.selector.version-name"]


def test_deployment_drift_is_found_field_by_field() -> None:
    deployment = objects_by_name(greeter_version())["Deployment", GREETING_DEPLOYMENT]
    observed = as_stored(deployment)
    observed["spec"]["template"]["spec"]["containers"][0]["envFrom"].reverse()
    observed["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION] = "old"
    observed["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = "now"

    assert differences(deployment, observed) == [
        f"spec.template.metadata.annotations.{CONFIG_HASH_ANNOTATION}",
        "spec.template.spec.containers[0].envFrom[0].configMapRef.name",
        "spec.template.spec.containers[0].envFrom[1].configMapRef.name",
    ]


# ------------------------------------------------------------------------------------------ configuration


def test_configuration_defaults() -> None:
    assert VersionConfig.from_env({}) == VersionConfig()
    assert VersionConfig.from_env({"KRE_VERSION_WEB_IMAGE": "  "}) == VersionConfig()
    config = VersionConfig()
    assert config.fluent_bit_image == "fluent/fluent-bit:1.3.11"
    assert config.web_image == "nginxinc/nginx-unprivileged:1.27.4-alpine"
    assert config.shared_claim == "kre-minio-pvc-kre-minio-0"
    assert config.run_as_user == 1000


def test_configuration_from_environment() -> None:
    config = VersionConfig.from_env(
        {
            "KRE_VERSION_FLUENT_BIT_IMAGE": "registry:5000/fluent/fluent-bit:1.3.11",
            "KRE_VERSION_WEB_IMAGE": "nginx@sha256:" + "0" * 64,
            "KRE_VERSION_SHARED_CLAIM": "krt-files",
            "KRE_VERSION_RUN_AS_USER": "image",
            "KRE_VERSION_CPU_REQUEST": "0.5",
            "KRE_VERSION_MEMORY_REQUEST": "256Mi",
            "KRE_VERSION_SIDECAR_CPU_REQUEST": "20m",
            "KRE_VERSION_SIDECAR_MEMORY_REQUEST": "64Mi",
        }
    )
    assert config == VersionConfig(
        fluent_bit_image="registry:5000/fluent/fluent-bit:1.3.11",
        web_image="nginx@sha256:" + "0" * 64,
        shared_claim="krt-files",
        run_as_user=None,
        workload_requests=Requests(cpu="0.5", memory="256Mi"),
        sidecar_requests=Requests(cpu="20m", memory="64Mi"),
    )
    assert VersionConfig.from_env({"KRE_VERSION_RUN_AS_USER": "101"}).run_as_user == 101


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("KRE_VERSION_FLUENT_BIT_IMAGE", "fluent/fluent-bit", "neither tag nor digest"),
        ("KRE_VERSION_FLUENT_BIT_IMAGE", "fluent/fluent-bit:latest", "moving tag `latest`"),
        ("KRE_VERSION_WEB_IMAGE", "Nginx:1.27", "not an image reference"),
        ("KRE_VERSION_WEB_IMAGE", "nginx@sha256:xyz", "invalid digest"),
        ("KRE_VERSION_SHARED_CLAIM", "Shared_Claim", "PersistentVolumeClaim name"),
        ("KRE_VERSION_RUN_AS_USER", "0", "not a user id"),
        ("KRE_VERSION_RUN_AS_USER", "root", "not a user id"),
        ("KRE_VERSION_CPU_REQUEST", "0", "not positive"),
        ("KRE_VERSION_SIDECAR_MEMORY_REQUEST", "lots", "not a quantity"),
    ],
)
def test_bad_configuration_names_the_variable(variable: str, value: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as raised:
        VersionConfig.from_env({variable: value})
    assert str(raised.value).startswith(f"{variable}: ")
    assert complaint in str(raised.value)
