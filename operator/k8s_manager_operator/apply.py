"""Applying one desired object: create it, or patch the fields the operator owns when they drifted.

Shared by the Runtime and RuntimeVersion reconcilers. A JSON merge patch of the desired object sets the
owned fields and replaces owned lists wholesale, while leaving fields others own (server defaults,
other labels, status) alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from k8s_manager_api.errors import AlreadyExists, NotFound
from k8s_manager_api.kube import KubeApi
from k8s_manager_api.names import Resource

from .drift import differences

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
# Fields that cannot change in place: when they drift, the object is deleted and created again.
IMMUTABLE_FIELDS = ("roleRef", "spec.selector")

Drift = Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]
PatchBody = Callable[[Mapping[str, Any], Mapping[str, Any]], JsonObject]


def owned_part(wanted: Mapping[str, Any], observed: Mapping[str, Any] | None = None) -> JsonObject:
    """What the operator asserts of an object: everything but identity (labels and owners are merged in)."""
    return {key: value for key, value in wanted.items() if key not in ("apiVersion", "kind")}


def _immutable(path: str) -> bool:
    return any(path == field or path.startswith(f"{field}.") for field in IMMUTABLE_FIELDS)


async def ensure(
    api: KubeApi,
    resource: Resource,
    wanted: JsonObject,
    *,
    owner: str,
    may_change: Callable[[JsonObject], bool] = lambda actual: True,
    drift: Drift = differences,
    patch_body: PatchBody = owned_part,
    observed: JsonObject | None = None,
    observed_known: bool = False,
) -> JsonObject | None:
    """Create `wanted`, or restore its owned fields; returns the object as it is now.

    `may_change(actual)` False leaves an existing object alone (someone else's); `owner` names the
    resource being reconciled, for the log; `drift` finds the drifted paths and `patch_body` builds the
    merge patch that restores them (kinds with maps that must match exactly bring their own). With
    `observed_known`, `observed` is the object as a recent list showed it (None: absent), which saves a read.
    """
    metadata = wanted["metadata"]
    name, namespace = metadata["name"], metadata.get("namespace")
    actual: JsonObject | None = observed if observed_known else await api.find(resource, name, namespace)
    if actual is None:
        try:
            created: JsonObject = await api.create(resource, wanted, namespace)
        except AlreadyExists:  # created meanwhile (or our earlier attempt's reply was lost)
            found: JsonObject | None = await api.find(resource, name, namespace)
            return found
        log.info("%s: created %s %s", owner, wanted["kind"], name)
        return created
    if not may_change(actual):
        return actual
    drifted = drift(owned_part(wanted), actual)
    if not drifted:
        return actual

    async def again() -> JsonObject | None:
        return await ensure(
            api, resource, wanted, owner=owner, may_change=may_change, drift=drift, patch_body=patch_body
        )

    if any(_immutable(path) for path in drifted):
        await api.delete(resource, name, namespace)
        return await again()
    log.info("%s: %s %s drifted (%s); restoring", owner, wanted["kind"], name, ", ".join(drifted[:5]))
    try:
        patched: JsonObject = await api.patch(resource, name, patch_body(wanted, actual), namespace)
    except NotFound:
        return await again()
    return patched


async def write_status(
    api: KubeApi, res: Resource, name: str, status: JsonObject, namespace: str | None = None
) -> None:
    """Replace the object's whole `status` with `status` (the status subresource: the operator's alone).

    A JSON patch, not a merge patch: a merge patch keeps every key the new status leaves out (such as the message
    of a part that has become ready since), so the stored status would differ from the computed one for good,
    show what is no longer true, and be written again at every resync.
    """
    await api.patch(
        res,
        name,
        [{"op": "add", "path": "/status", "value": status}],
        namespace,
        patch_type="json",
        subresource="status",
    )
