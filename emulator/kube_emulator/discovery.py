"""Documents served at fixed paths: version, health and API discovery (the legacy, non-aggregated form).

kubectl asks for aggregated discovery first and falls back to these documents when the answer is plain
`application/json`, as it does with any apiserver that predates aggregated discovery.
"""

from __future__ import annotations

from typing import Any

from . import openapi
from .resources import JsonObject, Registry, ResourceType

VERSION_INFO: JsonObject = {
    "major": "1",
    "minor": "32",
    "emulationMajor": "1",
    "emulationMinor": "32",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "31",
    "gitVersion": "v1.32.0-kube-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_SERVER_ADDRESSES = [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]


def static_document(registry: Registry, path: str) -> Any | None:
    """The document served at `path`, or None when `path` is not a fixed document."""
    if path == "/version":
        return VERSION_INFO
    if path in ("/healthz", "/livez", "/readyz"):
        return "ok"
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": _SERVER_ADDRESSES}
    if path == "/apis":
        return api_group_list(registry)
    if path.startswith("/openapi/"):
        return openapi.document(registry, path)
    parts = [p for p in path.split("/") if p]
    if len(parts) == 2 and parts[0] == "api":
        return resource_list(registry, "", parts[1]) if registry.in_group_version("", parts[1]) else None
    if len(parts) == 2 and parts[0] == "apis":
        return api_group(registry, parts[1]) if registry.versions(parts[1]) else None
    if len(parts) == 3 and parts[0] == "apis":
        return resource_list(registry, parts[1], parts[2]) if registry.in_group_version(parts[1], parts[2]) else None
    return None


def api_group(registry: Registry, group: str) -> JsonObject:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in registry.versions(group)]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions,
        "preferredVersion": versions[0],
    }


def api_group_list(registry: Registry) -> JsonObject:
    groups = [api_group(registry, g) for g in registry.groups() if g]
    for group in groups:
        group.pop("kind")
        group.pop("apiVersion")
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _resource_entries(rtype: ResourceType) -> list[JsonObject]:
    entry: JsonObject = {
        "name": rtype.plural,
        "singularName": rtype.singular,
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        "verbs": list(rtype.verbs),
    }
    if rtype.short_names:
        entry["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        entry["categories"] = list(rtype.categories)
    entries = [entry]
    for sub in sorted(rtype.subresources):
        sub_entry: JsonObject = {"name": f"{rtype.plural}/{sub}", "singularName": "", "namespaced": rtype.namespaced}
        if sub == "scale":
            # Another group's kind: client-go's scale client reads the group and version from here.
            sub_entry.update(group="autoscaling", version="v1", kind="Scale")
        else:
            sub_entry["kind"] = rtype.kind
        sub_entry["verbs"] = ["get", "patch", "update"]
        entries.append(sub_entry)
    if rtype.storage_key == ("", "namespaces"):
        entries.append(
            {
                "name": "namespaces/finalize",
                "singularName": "",
                "namespaced": False,
                "kind": "Namespace",
                "verbs": ["update"],
            }
        )
    return entries


def resource_list(registry: Registry, group: str, version: str) -> JsonObject:
    resources = [e for rtype in registry.in_group_version(group, version) for e in _resource_entries(rtype)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
