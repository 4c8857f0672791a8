"""The objects a started RuntimeVersion stands for: the original's Start (reference §4.2), as plain API bodies.

Names, labels (`type`, `version-name`, `node-name`, `node-id`), `KRT_*` variables, ConfigMap keys and file texts,
volumes, mounts and ports are the original's: runtime-api, the runners, the entrypoint image and mongo-writer read
them. What differs, and why (reference §9):

- Order (V1): the ConfigMaps come before the Deployments that read them.
- First node (V3): the node no edge points to receives the workflow's input, and the entrypoint's subject map
  (`nats_subject.json`) is built from that same node; the last node is the one no edge leaves. The original took
  `edges[0].fromNode` for the one and `nodes[0]` for the other.
- Precedence (V4): a node container reads `<v>-global` first and its own `<v>-<node>-<id>` ConfigMap second. Among
  `envFrom` sources the later one wins, so the wiring beats any user key (validation also refuses `KRT_*` keys),
  and the six identity variables are explicit `env`, which beats both. The wiring stays in the node ConfigMap,
  where the original kept it. `<v>-conf-files` is no longer an `envFrom` source: its file texts became
  variables named `default.conf`, `nats_subject.json` and `fluent-bit.conf`.
- Roll-out (V6): every pod template carries `kre.konstellation.io/config-hash`, the hash of the `<v>-global`
  data, so a config change rolls the Deployments. `kre.konstellation.io/wiring-hash` does the same for what
  else a pod reads at start (its node ConfigMap; for the entrypoint, its env and the subject map), which only
  changes with the spec's workflows.
- Pods (V8, V9): a restricted security context (non-root, seccomp RuntimeDefault, no privilege escalation, all
  capabilities dropped: the runtime namespace enforces Pod Security `restricted`), resource requests, pinned
  images for fluent-bit and nginx, a configurable shared claim. The user's images are used as given. The
  entrypoint pod sets the namespaced sysctl `net.ipv4.ip_unprivileged_port_start=0` (allowed by `restricted`) so
  the non-root web container can listen on port 80 as the original's default.conf says.
- Every object carries `app.kubernetes.io/managed-by: k8s-manager` and `kre.konstellation.io/version: <v>`, and
  a controller ownerReference to the RuntimeVersion. The `active-entrypoint` Service is not owned: it moves
  between versions.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, TypeVar

from k8s_manager_api import names

from ..config import IMAGE_REPOSITORY, IMAGE_TAG, parse_positive_quantity, read_setting
from ..drift import differences as field_differences
from ..runtime.validation import DNS1123_SUBDOMAIN

T = TypeVar("T")

VERSION_KIND: Final = "RuntimeVersion"
VERSION_API_VERSION: Final = names.RUNTIME_VERSIONS.api_version

# Labels of everything a version runs, besides the original's.
VERSION_LABEL: Final = f"{names.GROUP}/version"
CONFIG_HASH_ANNOTATION: Final = f"{names.GROUP}/config-hash"
WIRING_HASH_ANNOTATION: Final = f"{names.GROUP}/wiring-hash"

# The original's labels (reference §4.1).
TYPE_LABEL: Final = "type"
VERSION_NAME_LABEL: Final = "version-name"
NODE_NAME_LABEL: Final = "node-name"
NODE_ID_LABEL: Final = "node-id"
NODE_TYPE: Final = "node"
VERSION_TYPE: Final = "version"
ENTRYPOINT_TYPE: Final = "entrypoint"

ENTRYPOINT_SERVICE: Final = "active-entrypoint"
GRPC_PORT: Final = 9000
WEB_PORT: Final = 80

# The wiring's fixed values (reference §4.2.1, §4.2.3).
NATS_SERVER: Final = "kre-nats:4222"
MONGO_WRITER_SUBJECT: Final = "mongo_writer"
BASE_PATH: Final = "/krt-files"
NATS_SUBJECTS_FILE: Final = "/src/conf/nats_subject.json"
# KRT_WORKFLOW_NAME, KRT_WORKFLOW_ID, KRT_NODE_NAME and KRT_NODE_ID of the entrypoint's pod.
ENTRYPOINT_IDENTITY: Final = "entrypoint"

DEFAULT_CONF_KEY: Final = "default.conf"
NATS_SUBJECT_KEY: Final = "nats_subject.json"
FLUENT_BIT_CONF_KEY: Final = "fluent-bit.conf"

CONF_FILES_VOLUME: Final = "version-conf-files"
SHARED_DATA_VOLUME: Final = "shared-data"
APP_LOG_VOLUME: Final = "app-log-volume"
APP_LOG_PATH: Final = "/var/log/app"
FLUENT_BIT_CONTAINER: Final = "fluent-bit"
FLUENT_BIT_CONF_PATH: Final = "/fluent-bit/etc/fluent-bit.conf"
FLUENT_BIT_COMMAND: Final = ("/fluent-bit/bin/fluent-bit", "-c", FLUENT_BIT_CONF_PATH, "-v")
NGINX_CONF_PATH: Final = "/etc/nginx/conf.d/default.conf"
PULL_POLICY: Final = "IfNotPresent"
UNPRIVILEGED_PORT_SYSCTL: Final = "net.ipv4.ip_unprivileged_port_start"

# The original's file texts, byte for byte (k8s-manager/kubernetes/version/config.go at c079d936).
NGINX_DEFAULT_CONF: Final = """server {
        listen       80;
        server_name  localhost;

        location / {
            root   /proto;
            autoindex on;
        }

        error_page   500 502 503 504  /50x.html;
        location = /50x.html {
            root   /usr/share/nginx/html;
        }
    }
"""

FLUENT_BIT_CONF: Final = """
[SERVICE]
    Flush        1
    Verbose      1

    Daemon       Off
    Log_Level    info

    Plugins_File plugins.conf
    Parsers_File parsers.conf

    HTTP_Server  Off
    HTTP_Listen  0.0.0.0
    HTTP_Port    2020

[INPUT]
    Name        tail
    Tag         mongo_writer_logs
    Buffer_Chunk_Size 1k
    Path        /var/log/app/*.log

[FILTER]
    Name record_modifier
    Match *
    Record versionId ${KRT_VERSION_ID}
    Record versionName ${KRT_VERSION}
    Record nodeName ${KRT_NODE_NAME}
    Record nodeId ${KRT_NODE_ID}
    Record workflowName ${KRT_WORKFLOW_NAME}
    Record workflowId ${KRT_WORKFLOW_ID}

[FILTER]
    Name  stdout
    Match *

[OUTPUT]
    Name  nats
    Match *
    Host  kre-nats
    Port  4222
"""

RESOURCES_BY_KIND: Final[Mapping[str, names.Resource]] = {
    "ConfigMap": names.CONFIG_MAPS,
    "Deployment": names.DEPLOYMENTS,
    "Service": names.SERVICES,
}

# ------------------------------------------------------------------------------------------ configuration

# The original's fluent-bit minor, at its last patch release; pinned, not the moving `1.3`.
DEFAULT_FLUENT_BIT_IMAGE: Final = "fluent/fluent-bit:1.3.11"
# The original ran `nginx:alpine`, which needs root; this build of the same server runs as any non-root user
# (its writable paths belong to group 0, and its pid file is in /tmp).
DEFAULT_WEB_IMAGE: Final = "nginxinc/nginx-unprivileged:1.27.4-alpine"
# The Minio StatefulSet's claim in the runtime chart (reference §4.2.4): bucket <version> is directory <version>/.
DEFAULT_SHARED_CLAIM: Final = "kre-minio-pvc-kre-minio-0"
# Pod Security `restricted` refuses root; images built to run as root (the KRE runners, fluent-bit 1.3) start as
# this user instead. `image` in KRE_VERSION_RUN_AS_USER keeps each image's own (non-root) user.
DEFAULT_RUN_AS_USER: Final = 1000
KEEP_IMAGE_USER: Final = "image"
MAX_USER_ID: Final = 2**31 - 1

_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")


@dataclass(frozen=True)
class Requests:
    """Resource requests of a container (quantities as given)."""

    cpu: str
    memory: str

    def as_requirements(self) -> dict[str, dict[str, str]]:
        """The container's `resources` field. No limits: a version's nodes run user code of unknown appetite."""
        return {"requests": {"cpu": self.cpu, "memory": self.memory}}


@dataclass(frozen=True)
class VersionConfig:
    """How the operator builds a version's pods, read from environment variables by `from_env`.

    | variable | default | meaning |
    |---|---|---|
    | `KRE_VERSION_FLUENT_BIT_IMAGE` | `fluent/fluent-bit:1.3.11` | log shipper sidecar of every pod |
    | `KRE_VERSION_WEB_IMAGE` | `nginxinc/nginx-unprivileged:1.27.4-alpine` | the entrypoint's web server |
    | `KRE_VERSION_SHARED_CLAIM` | `kre-minio-pvc-kre-minio-0` | PVC holding the versions' files (Minio's) |
    | `KRE_VERSION_RUN_AS_USER` | `1000` | user id of every container, or `image` for each image's own user |
    | `KRE_VERSION_CPU_REQUEST` | `100m` | CPU request of node and entrypoint containers |
    | `KRE_VERSION_MEMORY_REQUEST` | `128Mi` | their memory request |
    | `KRE_VERSION_SIDECAR_CPU_REQUEST` | `10m` | CPU request of the fluent-bit and web containers |
    | `KRE_VERSION_SIDECAR_MEMORY_REQUEST` | `32Mi` | their memory request |

    Images need a tag or a digest, and the tag may not be `latest`. An empty variable counts as unset.
    """

    fluent_bit_image: str = DEFAULT_FLUENT_BIT_IMAGE
    web_image: str = DEFAULT_WEB_IMAGE
    shared_claim: str = DEFAULT_SHARED_CLAIM
    run_as_user: int | None = DEFAULT_RUN_AS_USER
    workload_requests: Requests = Requests(cpu="100m", memory="128Mi")
    sidecar_requests: Requests = Requests(cpu="10m", memory="32Mi")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> VersionConfig:
        """Read the configuration; raises ConfigError (a ValueError) naming the variable at fault."""
        defaults = cls()
        run_as_user = read_setting(env, "KRE_VERSION_RUN_AS_USER", parse_run_as_user)
        return cls(
            fluent_bit_image=read_setting(env, "KRE_VERSION_FLUENT_BIT_IMAGE", parse_image_reference)
            or defaults.fluent_bit_image,
            web_image=read_setting(env, "KRE_VERSION_WEB_IMAGE", parse_image_reference) or defaults.web_image,
            shared_claim=read_setting(env, "KRE_VERSION_SHARED_CLAIM", parse_claim_name) or defaults.shared_claim,
            run_as_user=defaults.run_as_user if run_as_user is None else run_as_user.user_id,
            workload_requests=Requests(
                cpu=read_setting(env, "KRE_VERSION_CPU_REQUEST", parse_positive_quantity)
                or defaults.workload_requests.cpu,
                memory=read_setting(env, "KRE_VERSION_MEMORY_REQUEST", parse_positive_quantity)
                or defaults.workload_requests.memory,
            ),
            sidecar_requests=Requests(
                cpu=read_setting(env, "KRE_VERSION_SIDECAR_CPU_REQUEST", parse_positive_quantity)
                or defaults.sidecar_requests.cpu,
                memory=read_setting(env, "KRE_VERSION_SIDECAR_MEMORY_REQUEST", parse_positive_quantity)
                or defaults.sidecar_requests.memory,
            ),
        )


class RunAsUser(NamedTuple):
    """A parsed KRE_VERSION_RUN_AS_USER: a user id, or None for each image's own user."""

    user_id: int | None


def parse_image_reference(text: str) -> str:
    """An image reference with a tag other than `latest`, or a digest."""
    image = text.strip()
    name, at, digest = image.partition("@")
    repository, tag = name, ""
    if ":" in name.rsplit("/", 1)[-1]:
        repository, tag = name.rsplit(":", 1)
    example = "fluent/fluent-bit:1.3.11 or registry:5000/nginx@sha256:<hex>"
    if len(repository) > 255 or not IMAGE_REPOSITORY.match(repository):
        raise ValueError(f"{text!r} is not an image reference such as {example}")
    if tag and not IMAGE_TAG.match(tag):
        raise ValueError(f"{text!r} has an invalid tag: letters, digits, '_', '.', '-', at most 128 characters")
    if at and not _DIGEST.match(digest):
        raise ValueError(f"{text!r} has an invalid digest: expected <algorithm>:<hex>")
    if not tag and not at:
        raise ValueError(f"{text!r} has neither tag nor digest (that is `latest`): pin a version, e.g. {example}")
    if tag == "latest":
        raise ValueError(f"{text!r} uses the moving tag `latest`: pin a version, e.g. {example}")
    return image


def parse_claim_name(text: str) -> str:
    claim = text.strip()
    if len(claim) > 253 or not DNS1123_SUBDOMAIN.match(claim):
        raise ValueError(f"{text!r} is not a PersistentVolumeClaim name (a DNS-1123 subdomain)")
    return claim


def parse_run_as_user(text: str) -> RunAsUser:
    value = text.strip()
    if value == KEEP_IMAGE_USER:
        return RunAsUser(None)
    if not re.fullmatch(r"[0-9]{1,10}", value) or not 1 <= int(value) <= MAX_USER_ID:
        raise ValueError(
            f"{text!r} is not a user id: expected a number from 1 to {MAX_USER_ID} (0, root, is refused by Pod "
            f"Security `restricted`), or `{KEEP_IMAGE_USER}` for each image's own user"
        )
    return RunAsUser(int(value))


# ------------------------------------------------------------------------------------------ names


def version_name(version: Mapping[str, Any]) -> str:
    name = (version.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("the RuntimeVersion has no metadata.name")
    return name


def version_namespace(version: Mapping[str, Any]) -> str:
    namespace = (version.get("metadata") or {}).get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise ValueError("the RuntimeVersion has no metadata.namespace")
    return namespace


def node_object_name(name: str, node_name: str, node_id: str) -> str:
    """`<version>-<node name>-<node id>`: the node's ConfigMap, Deployment and first container."""
    return f"{name}-{node_name}-{node_id}"


def global_config_map_name(name: str) -> str:
    return f"{name}-global"


def conf_files_config_map_name(name: str) -> str:
    return f"{name}-conf-files"


def entrypoint_env_config_map_name(name: str) -> str:
    return f"{name}-entrypoint-env"


def entrypoint_deployment_name(name: str) -> str:
    return f"{name}-entrypoint"


def web_container_name(name: str) -> str:
    return f"{name}-web"


def entrypoint_subject(name: str, method: str) -> str:
    """The input subject of the workflow serving `method`, e.g. `greeter-v1-Greet-entrypoint`."""
    return f"{name}-{method}-entrypoint"


class VersionNode(NamedTuple):
    """One node of a version with its workflow, in spec order."""

    workflow_id: str
    workflow_name: str
    node_id: str
    node_name: str
    image: str
    src: str
    object_name: str  # <version>-<node name>-<node id>


def version_nodes(version: Mapping[str, Any]) -> list[VersionNode]:
    """Every node of every workflow, workflows and nodes in spec order."""
    name = version_name(version)
    return [
        VersionNode(
            workflow_id=str(workflow.get("id", "")),
            workflow_name=str(workflow.get("name", "")),
            node_id=str(node["id"]),
            node_name=str(node["name"]),
            image=str(node.get("image", "")),
            src=str(node.get("src", "")),
            object_name=node_object_name(name, str(node["name"]), str(node["id"])),
        )
        for workflow in _workflows(version)
        for node in workflow.get("nodes") or []
    ]


def version_object_names(version: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) of every object `desired_objects` returns, in the same order. Delete them in reverse."""
    name = version_name(version)
    nodes = version_nodes(version)
    return [
        *(("ConfigMap", node.object_name) for node in nodes),
        ("ConfigMap", global_config_map_name(name)),
        ("ConfigMap", conf_files_config_map_name(name)),
        ("ConfigMap", entrypoint_env_config_map_name(name)),
        *(("Deployment", node.object_name) for node in nodes),
        ("Deployment", entrypoint_deployment_name(name)),
    ]


# ------------------------------------------------------------------------------------------ wiring and data


def chain_ends(workflow: Mapping[str, Any]) -> tuple[str, str]:
    """Ids of the workflow's first node (no edge points to it) and last node (no edge leaves it).

    Without edges both are the only node. On a workflow that is not a chain (validation refuses those) the first
    node in spec order without an incoming (outgoing) edge is taken, else the first (last) node.
    """
    node_ids = [str(node["id"]) for node in workflow.get("nodes") or []]
    edges = workflow.get("edges") or []
    targets = {edge.get("toNode") for edge in edges}
    sources = {edge.get("fromNode") for edge in edges}
    first = next((node_id for node_id in node_ids if node_id not in targets), node_ids[0])
    last = next((node_id for node_id in node_ids if node_id not in sources), node_ids[-1])
    return first, last


def workflow_wiring(name: str, workflow: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The data of each node's ConfigMap, by node id (reference §4.2.1): fixed values, then the NATS subjects.

    Every edge's id is the output subject of its fromNode and the input subject of its toNode; the first node
    reads `<version>-<method>-entrypoint` and the last one's output is empty (it replies to the entrypoint).
    """
    wiring: dict[str, dict[str, str]] = {
        str(node["id"]): {
            "KRT_VERSION": name,
            "KRT_NODE_NAME": str(node["name"]),
            "KRT_NATS_SERVER": NATS_SERVER,
            "KRT_NATS_MONGO_WRITER": MONGO_WRITER_SUBJECT,
            "KRT_BASE_PATH": BASE_PATH,
            "KRT_HANDLER_PATH": str(node.get("src", "")),
        }
        for node in workflow.get("nodes") or []
    }
    for edge in workflow.get("edges") or []:
        wiring[str(edge["fromNode"])]["KRT_NATS_OUTPUT"] = str(edge["id"])
        wiring[str(edge["toNode"])]["KRT_NATS_INPUT"] = str(edge["id"])
    first, last = chain_ends(workflow)
    wiring[first]["KRT_NATS_INPUT"] = entrypoint_subject(name, str(workflow.get("entrypoint", "")))
    wiring[last]["KRT_NATS_OUTPUT"] = ""
    return wiring


def node_wiring(version: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The data of every node's ConfigMap, by node id (unique within a valid version)."""
    name = version_name(version)
    return {
        node_id: data for workflow in _workflows(version) for node_id, data in workflow_wiring(name, workflow).items()
    }


def nats_subjects(version: Mapping[str, Any]) -> dict[str, str]:
    """The entrypoint's subject map (reference §4.2.2): each workflow's method → its first node's input subject."""
    name = version_name(version)
    subjects: dict[str, str] = {}
    for workflow in _workflows(version):
        first, _ = chain_ends(workflow)
        subjects[str(workflow.get("entrypoint", ""))] = workflow_wiring(name, workflow)[first]["KRT_NATS_INPUT"]
    return subjects


def nats_subject_json(version: Mapping[str, Any]) -> str:
    """`nats_subject.json` as Go's encoding/json writes the map: sorted keys, compact, HTML characters escaped."""
    text = json.dumps(nats_subjects(version), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for character, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(character, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def config_data(version: Mapping[str, Any]) -> dict[str, str]:
    """The `<v>-global` data: every config entry, a repeated key's last value winning (as the original)."""
    return {str(entry["key"]): str(entry.get("value", "")) for entry in (version.get("spec") or {}).get("config") or []}


def conf_files_data(version: Mapping[str, Any]) -> dict[str, str]:
    return {
        DEFAULT_CONF_KEY: NGINX_DEFAULT_CONF,
        NATS_SUBJECT_KEY: nats_subject_json(version),
        FLUENT_BIT_CONF_KEY: FLUENT_BIT_CONF,
    }


def entrypoint_env_data(version: Mapping[str, Any]) -> dict[str, str]:
    src = str(((version.get("spec") or {}).get("entrypoint") or {}).get("src", ""))
    return {
        "KRT_ENTRYPOINT": _go_path_join(BASE_PATH, src),
        "KRT_NATS_SERVER": NATS_SERVER,
        "KRT_NATS_SUBJECTS_FILE": NATS_SUBJECTS_FILE,
    }


def data_hash(data: Mapping[str, str]) -> str:
    """A digest of ConfigMap data, independent of key order (hex SHA-256)."""
    canonical = json.dumps(dict(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def config_hash(version: Mapping[str, Any]) -> str:
    """The `kre.konstellation.io/config-hash` of every pod template: the hash of the `<v>-global` data."""
    return data_hash(config_data(version))


def deployment_annotations(version: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The pod-template annotations of each Deployment of the version, by Deployment name."""
    wiring = node_wiring(version)
    annotations = {node.object_name: node_annotations(version, wiring[node.node_id]) for node in version_nodes(version)}
    annotations[entrypoint_deployment_name(version_name(version))] = entrypoint_annotations(version)
    return annotations


def node_annotations(version: Mapping[str, Any], wiring: Mapping[str, str]) -> dict[str, str]:
    """A node's pod-template annotations; `wiring` is its ConfigMap's data."""
    return {CONFIG_HASH_ANNOTATION: config_hash(version), WIRING_HASH_ANNOTATION: data_hash(wiring)}


def entrypoint_annotations(version: Mapping[str, Any]) -> dict[str, str]:
    """The entrypoint's pod-template annotations: it reads its env ConfigMap and the subject map at start."""
    reads = {
        **{f"env/{key}": value for key, value in entrypoint_env_data(version).items()},
        f"file/{NATS_SUBJECT_KEY}": nats_subject_json(version),
    }
    return {CONFIG_HASH_ANNOTATION: config_hash(version), WIRING_HASH_ANNOTATION: data_hash(reads)}


# ------------------------------------------------------------------------------------------ metadata


def version_labels(name: str) -> dict[str, str]:
    """The labels every object of the version carries besides the original's."""
    return {names.MANAGED_BY_LABEL: names.MANAGED_BY, VERSION_LABEL: name}


def node_selector_labels(name: str, node: VersionNode) -> dict[str, str]:
    """The original's node labels: Deployment selector (immutable) and what runtime-api selects on."""
    return {
        TYPE_LABEL: NODE_TYPE,
        VERSION_NAME_LABEL: name,
        NODE_NAME_LABEL: node.node_name,
        NODE_ID_LABEL: node.node_id,
    }


def entrypoint_selector_labels(name: str) -> dict[str, str]:
    """The original's entrypoint labels, which the `active-entrypoint` Service selects on."""
    return {TYPE_LABEL: ENTRYPOINT_TYPE, VERSION_NAME_LABEL: name}


def owner_reference(version: Mapping[str, Any]) -> dict[str, Any]:
    """A controller reference to the RuntimeVersion; blockOwnerDeletion keeps a foreground deletion waiting."""
    uid = (version.get("metadata") or {}).get("uid")
    if not isinstance(uid, str) or not uid:
        raise ValueError("the RuntimeVersion has no metadata.uid: owner references need the stored object")
    return {
        "apiVersion": VERSION_API_VERSION,
        "kind": VERSION_KIND,
        "name": version_name(version),
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_metadata(version: Mapping[str, Any], object_name: str, original_labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": object_name,
        "namespace": version_namespace(version),
        "labels": {**original_labels, **version_labels(version_name(version))},
        "ownerReferences": [owner_reference(version)],
    }


def resource_of(obj: Mapping[str, Any]) -> names.Resource:
    """The API resource serving an object of one of the kinds built here."""
    return RESOURCES_BY_KIND[obj["kind"]]


# ------------------------------------------------------------------------------------------ the objects


def desired_objects(version: Mapping[str, Any], config: VersionConfig) -> list[dict[str, Any]]:
    """The ConfigMaps and Deployments of a started version, in creation order: the node ConfigMaps, `<v>-global`,
    `<v>-conf-files`, `<v>-entrypoint-env`, the node Deployments, `<v>-entrypoint`.

    Validate the version first (validation.validate_version): on an invalid one this may raise or be wrong.
    """
    wiring = node_wiring(version)
    nodes = version_nodes(version)
    return [
        *(node_config_map(version, node, wiring[node.node_id]) for node in nodes),
        global_config_map(version),
        conf_files_config_map(version),
        entrypoint_env_config_map(version),
        *(node_deployment(version, node, wiring[node.node_id], config) for node in nodes),
        entrypoint_deployment(version, config),
    ]


def node_config_map(version: Mapping[str, Any], node: VersionNode, data: Mapping[str, str]) -> dict[str, Any]:
    metadata = object_metadata(version, node.object_name, node_selector_labels(version_name(version), node))
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": dict(data)}


def global_config_map(version: Mapping[str, Any]) -> dict[str, Any]:
    name = version_name(version)
    metadata = object_metadata(version, global_config_map_name(name), _version_type_labels(name))
    config_map: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
    data = config_data(version)
    if data:  # the API drops an empty map: leaving it out keeps the desired object comparable
        config_map["data"] = data
    return config_map


def conf_files_config_map(version: Mapping[str, Any]) -> dict[str, Any]:
    name = version_name(version)
    metadata = object_metadata(version, conf_files_config_map_name(name), _version_type_labels(name))
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": conf_files_data(version)}


def entrypoint_env_config_map(version: Mapping[str, Any]) -> dict[str, Any]:
    name = version_name(version)
    metadata = object_metadata(version, entrypoint_env_config_map_name(name), entrypoint_selector_labels(name))
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": entrypoint_env_data(version)}


def node_deployment(
    version: Mapping[str, Any], node: VersionNode, wiring: Mapping[str, str], config: VersionConfig
) -> dict[str, Any]:
    """A node (reference §4.2.4): the runner, reading the version's config then its wiring (`wiring` is the data
    of its ConfigMap, see `node_wiring`), and fluent-bit."""
    name = version_name(version)
    spec = version.get("spec") or {}
    env = identity_env(
        version_id=str(spec.get("id", "")),
        name=name,
        workflow_name=node.workflow_name,
        workflow_id=node.workflow_id,
        node_name=node.node_name,
        node_id=node.node_id,
    )
    runner = {
        "name": node.object_name,
        "image": node.image,
        "imagePullPolicy": PULL_POLICY,
        "env": env,
        # Later sources win: the node's wiring overrides any key of the user's config.
        "envFrom": [
            {"configMapRef": {"name": global_config_map_name(name)}},
            {"configMapRef": {"name": node.object_name}},
        ],
        "volumeMounts": [
            {"name": SHARED_DATA_VOLUME, "readOnly": True, "mountPath": BASE_PATH, "subPath": name},
            {"name": APP_LOG_VOLUME, "mountPath": APP_LOG_PATH},
        ],
        "resources": config.workload_requests.as_requirements(),
        "securityContext": container_security_context(),
    }
    return _deployment(
        version,
        node.object_name,
        node_selector_labels(name, node),
        [runner, fluent_bit_container(env, config)],
        node_annotations(version, wiring),
        config,
    )


def entrypoint_deployment(version: Mapping[str, Any], config: VersionConfig) -> dict[str, Any]:
    """The entrypoint (reference §4.2.5): the gRPC server on 9000, fluent-bit, and nginx serving the .proto on 80."""
    name = version_name(version)
    spec = version.get("spec") or {}
    proto_file = str((spec.get("entrypoint") or {}).get("protoFile", ""))
    env = identity_env(
        version_id=str(spec.get("id", "")),
        name=name,
        workflow_name=ENTRYPOINT_IDENTITY,
        workflow_id=ENTRYPOINT_IDENTITY,
        node_name=ENTRYPOINT_IDENTITY,
        node_id=ENTRYPOINT_IDENTITY,
    )
    server = {
        "name": name,
        "image": str((spec.get("entrypoint") or {}).get("image", "")),
        "imagePullPolicy": PULL_POLICY,
        "ports": [{"containerPort": GRPC_PORT, "protocol": "TCP"}],
        "env": env,
        "envFrom": [{"configMapRef": {"name": entrypoint_env_config_map_name(name)}}],
        "volumeMounts": [
            {"name": CONF_FILES_VOLUME, "readOnly": True, "mountPath": NATS_SUBJECTS_FILE, "subPath": NATS_SUBJECT_KEY},
            {"name": SHARED_DATA_VOLUME, "readOnly": True, "mountPath": BASE_PATH, "subPath": name},
            {"name": APP_LOG_VOLUME, "mountPath": APP_LOG_PATH},
        ],
        "resources": config.workload_requests.as_requirements(),
        "securityContext": container_security_context(),
    }
    web = {
        "name": web_container_name(name),
        "image": config.web_image,
        "imagePullPolicy": PULL_POLICY,
        "ports": [{"containerPort": WEB_PORT, "protocol": "TCP"}],
        "volumeMounts": [
            {"name": CONF_FILES_VOLUME, "readOnly": True, "mountPath": NGINX_CONF_PATH, "subPath": DEFAULT_CONF_KEY},
            {
                "name": SHARED_DATA_VOLUME,
                "readOnly": True,
                "mountPath": f"/proto/{proto_file}",
                "subPath": f"{name}/{proto_file}",
            },
        ],
        "resources": config.sidecar_requests.as_requirements(),
        "securityContext": container_security_context(),
    }
    deployment_name = entrypoint_deployment_name(name)
    return _deployment(
        version,
        deployment_name,
        entrypoint_selector_labels(name),
        [server, fluent_bit_container(env, config), web],
        entrypoint_annotations(version),
        config,
        sysctls=[{"name": UNPRIVILEGED_PORT_SYSCTL, "value": "0"}],
    )


def entrypoint_service(version: Mapping[str, Any]) -> dict[str, Any]:
    """The `active-entrypoint` Service selecting this version (reference §4.4), the backend of the runtime's
    entrypoint and proto Ingresses. Not owned by the version: publishing another version re-points it."""
    name = version_name(version)
    selector = entrypoint_selector_labels(name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": ENTRYPOINT_SERVICE,
            "namespace": version_namespace(version),
            "labels": {**selector, names.MANAGED_BY_LABEL: names.MANAGED_BY},
        },
        "spec": {
            "type": "ClusterIP",
            "ports": [
                {"name": "grpc", "protocol": "TCP", "port": GRPC_PORT, "targetPort": GRPC_PORT},
                {"name": "web", "protocol": "TCP", "port": WEB_PORT, "targetPort": WEB_PORT},
            ],
            "selector": dict(selector),
        },
    }


def identity_env(
    *, version_id: str, name: str, workflow_name: str, workflow_id: str, node_name: str, node_id: str
) -> list[dict[str, str]]:
    """The six explicit variables of every container but nginx, in the original's order."""
    return [
        _env_var("KRT_VERSION_ID", version_id),
        _env_var("KRT_VERSION", name),
        _env_var("KRT_WORKFLOW_NAME", workflow_name),
        _env_var("KRT_WORKFLOW_ID", workflow_id),
        _env_var("KRT_NODE_NAME", node_name),
        _env_var("KRT_NODE_ID", node_id),
    ]


def fluent_bit_container(env: list[dict[str, str]], config: VersionConfig) -> dict[str, Any]:
    """The log shipper of every pod: tails /var/log/app/*.log to NATS subject mongo_writer_logs."""
    return {
        "name": FLUENT_BIT_CONTAINER,
        "image": config.fluent_bit_image,
        "imagePullPolicy": PULL_POLICY,
        "command": list(FLUENT_BIT_COMMAND),
        "env": [dict(variable) for variable in env],
        "volumeMounts": [
            {
                "name": CONF_FILES_VOLUME,
                "readOnly": True,
                "mountPath": FLUENT_BIT_CONF_PATH,
                "subPath": FLUENT_BIT_CONF_KEY,
            },
            {"name": APP_LOG_VOLUME, "readOnly": True, "mountPath": APP_LOG_PATH},
        ],
        "resources": config.sidecar_requests.as_requirements(),
        "securityContext": container_security_context(),
    }


def container_security_context() -> dict[str, Any]:
    """What Pod Security `restricted` asks of each container."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def pod_security_context(config: VersionConfig, sysctls: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """What Pod Security `restricted` asks of the pod, with the configured user."""
    context: dict[str, Any] = {"runAsNonRoot": True}
    if config.run_as_user is not None:
        context["runAsUser"] = config.run_as_user
    context["seccompProfile"] = {"type": "RuntimeDefault"}
    if sysctls:
        context["sysctls"] = sysctls
    return context


def pod_volumes(name: str, config: VersionConfig) -> list[dict[str, Any]]:
    """The three volumes of every pod of the version (reference §4.2.4)."""
    return [
        {"name": CONF_FILES_VOLUME, "configMap": {"name": conf_files_config_map_name(name)}},
        {"name": SHARED_DATA_VOLUME, "persistentVolumeClaim": {"claimName": config.shared_claim, "readOnly": True}},
        {"name": APP_LOG_VOLUME, "emptyDir": {}},
    ]


def _deployment(
    version: Mapping[str, Any],
    deployment_name: str,
    selector_labels: Mapping[str, str],
    containers: list[dict[str, Any]],
    annotations: Mapping[str, str],
    config: VersionConfig,
    sysctls: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    name = version_name(version)
    # replicas is left unset, as in the original (1 by default): scaling a node by hand is not undone.
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_metadata(version, deployment_name, selector_labels),
        "spec": {
            "selector": {"matchLabels": dict(selector_labels)},
            "template": {
                "metadata": {
                    "labels": {**selector_labels, **version_labels(name)},
                    "annotations": dict(annotations),
                },
                "spec": {
                    "securityContext": pod_security_context(config, sysctls),
                    "containers": containers,
                    "volumes": pod_volumes(name, config),
                },
            },
        },
    }


def _version_type_labels(name: str) -> dict[str, str]:
    return {TYPE_LABEL: VERSION_TYPE, VERSION_NAME_LABEL: name}


def _env_var(name: str, value: str) -> dict[str, str]:
    # The API drops an empty value (omitempty): leaving it out keeps the desired object comparable.
    return {"name": name, "value": value} if value else {"name": name}


def _go_path_join(base: str, relative: str) -> str:
    """Go's path.Join(base, relative): joined, then cleaned (no `.`, `..` resolved, no trailing `/`)."""
    return posixpath.normpath(f"{base}/{relative}") if relative else posixpath.normpath(base)


def _workflows(version: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    workflows = (version.get("spec") or {}).get("workflows") or []
    return [workflow for workflow in workflows if isinstance(workflow, Mapping)]


# ------------------------------------------------------------------------------------------ drift


# Maps compared whole: a key the observed object has and the desired one lacks is drift too. A config entry
# removed from the spec must leave `<v>-global`, and a Service selecting on one more label selects nothing.
EXACT_MAPS: Final[Mapping[str, tuple[str, ...]]] = {"ConfigMap": ("data",), "Service": ("spec", "selector")}


def differences(wanted: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    """Paths of the fields of `wanted` that `observed` lacks or holds another value in (drift.differences' rules:
    fields only `observed` has do not count), except that the maps of EXACT_MAPS must match key for key; an
    absent map counts as empty (the API drops empty ones)."""
    exact_path = EXACT_MAPS.get(str(wanted.get("kind")))
    if exact_path is None:
        return field_differences(wanted, observed)
    found = field_differences(_without(wanted, exact_path), observed)
    wanted_map = _dig(wanted, exact_path)
    observed_map = _dig(observed, exact_path)
    prefix = ".".join(exact_path)
    for key in sorted(set(wanted_map) | set(observed_map)):
        if wanted_map.get(key) != observed_map.get(key) or (key in wanted_map) != (key in observed_map):
            found.append(f"{prefix}.{key}")
    return found


def merge_patch(wanted: Mapping[str, Any], observed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON merge patch that makes `observed` as `wanted`: everything but apiVersion and kind, plus a null for
    each key of an EXACT_MAPS map that only `observed` has (a merge patch keeps keys it does not mention)."""
    patch = {key: value for key, value in wanted.items() if key not in ("apiVersion", "kind")}
    exact_path = EXACT_MAPS.get(str(wanted.get("kind")))
    if exact_path is None or observed is None:
        return patch
    removed = {key: None for key in _dig(observed, exact_path) if key not in _dig(wanted, exact_path)}
    if removed:
        target: dict[str, Any] = patch
        for key in exact_path[:-1]:
            target[key] = dict(target.get(key) or {})
            target = target[key]
        target[exact_path[-1]] = {**(target.get(exact_path[-1]) or {}), **removed}
    return patch


def _dig(obj: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
    current: Any = obj
    for key in path:
        current = current.get(key) if isinstance(current, Mapping) else None
    return current if isinstance(current, Mapping) else {}


def _without(obj: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    copy = dict(obj)
    if len(path) == 1:
        copy.pop(path[0], None)
    elif isinstance(copy.get(path[0]), Mapping):
        copy[path[0]] = _without(copy[path[0]], path[1:])
    return copy
