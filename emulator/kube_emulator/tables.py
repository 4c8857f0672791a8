"""Server-side printing: `meta.k8s.io/v1 Table` answers, as `kubectl get` asks for them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .resources import JsonObject, ResourceType


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    created = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - created).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _partial_metadata(obj: JsonObject) -> JsonObject:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def to_table(rtype: ResourceType, items: list[JsonObject], query: Any, watch_event: bool = False) -> JsonObject:
    columns = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.",
         "priority": 0},
        {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp", "priority": 0},
    ]
    include = query.get("includeObject", "Metadata")
    rows = []
    for obj in items:
        row: JsonObject = {"cells": [obj["metadata"]["name"], _age(obj["metadata"].get("creationTimestamp"))]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = _partial_metadata(obj)
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns,
            "rows": rows}
