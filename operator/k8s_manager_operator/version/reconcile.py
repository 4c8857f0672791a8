"""The RuntimeVersion reconciler: read, compute the desired objects, apply (or remove), publish, write status.

Level-based like the Runtime reconciler: each call converges the version's objects and the namespace's
`active-entrypoint` Service to the spec as it is now. `status.observedGeneration` is written only after
everything of that generation was applied, which is what the facade waits for.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from k8s_manager_api import names
from k8s_manager_api.errors import KubeError, NotFound
from k8s_manager_api.kube import KubeApi

from ..apply import ensure, write_status
from ..locks import KeyedLocks
from ..runtime.status import format_timestamp
from . import desired, status
from .validation import is_published, is_started, validate_version

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
RESOURCES = {"ConfigMap": names.CONFIG_MAPS, "Deployment": names.DEPLOYMENTS, "Service": names.SERVICES}


def _now() -> str:
    return format_timestamp(datetime.datetime.now(datetime.UTC))


class VersionReconciler:
    """Converges RuntimeVersions by (namespace, name); calls for one version run one at a time."""

    def __init__(self, api: KubeApi, config: desired.VersionConfig, now: Callable[[], str] = _now) -> None:
        self._api = api
        self._config = config
        self._now = now
        self._locks: KeyedLocks[tuple[str, str]] = KeyedLocks()
        # The Service moves between versions: one change of publication at a time per namespace.
        self._publication_locks: KeyedLocks[str] = KeyedLocks()

    async def reconcile(self, namespace: str, name: str) -> None:
        async with self._locks((namespace, name)):
            version = await self._api.find(names.RUNTIME_VERSIONS, name, namespace)
            if version is None or version["metadata"].get("deletionTimestamp"):
                return  # its objects are owned by it: the garbage collector removes them
            valid = not validate_version(version)
            if valid:
                if is_started(version.get("spec") or {}):
                    await self._apply(version)
                else:
                    await self._remove(version)
                async with self._publication_locks(namespace):
                    await self._publish(version)
            await self._write_status(version, valid)

    # ------------------------------------------------------------------ objects

    async def _labelled(self, version: JsonObject) -> dict[tuple[str, str], JsonObject]:
        """The version's ConfigMaps and Deployments by (kind, name): two lists instead of a read per object."""
        namespace, name = version["metadata"]["namespace"], version["metadata"]["name"]
        found: dict[tuple[str, str], JsonObject] = {}
        for kind in ("ConfigMap", "Deployment"):
            items, _ = await self._api.list(RESOURCES[kind], namespace, labels=f"{desired.VERSION_LABEL}={name}")
            found.update(((kind, item["metadata"]["name"]), item) for item in items)
        return found

    async def _apply(self, version: JsonObject) -> None:
        """Started: every object, ConfigMaps before the Deployments that read them."""
        existing = await self._labelled(version)
        for wanted in desired.desired_objects(version, self._config):
            await ensure(
                self._api,
                desired.resource_of(wanted),
                wanted,
                owner=_describe(version),
                may_change=lambda actual: status.ownership(actual, version) != "foreign",
                drift=desired.differences,
                patch_body=desired.merge_patch,
                observed=existing.get((wanted["kind"], wanted["metadata"]["name"])),
                observed_known=True,
            )

    async def _remove(self, version: JsonObject) -> None:
        """Stopped: delete the version's own objects, Deployments before the ConfigMaps they read."""
        namespace = version["metadata"]["namespace"]
        for kind, object_name in reversed(desired.version_object_names(version)):
            resource = RESOURCES[kind]
            found = await self._api.find(resource, object_name, namespace)
            if found is not None and status.ownership(found, version) == "this":
                await self._api.delete(resource, object_name, namespace, uid=found["metadata"]["uid"])

    async def _publish(self, version: JsonObject) -> None:
        """Published: the Service selects this version, and the version it selected before is unpublished.

        Publishing moves the Service (the last version published wins); unpublishing removes it only while
        it still selects this version.

        Called under the namespace's publication lock, and decided on the version as it is now, read again: the
        version read when this reconcile began may since have been displaced by another one (which patched its
        `published` to false under this lock); acting on that stale spec would displace the other in turn and
        take the Service back.
        """
        namespace, name = version["metadata"]["namespace"], version["metadata"]["name"]
        current = await self._api.find(names.RUNTIME_VERSIONS, name, namespace)
        if current is None or current["metadata"].get("deletionTimestamp"):
            return
        spec = current.get("spec") or {}
        service = await self._api.find(names.SERVICES, desired.ENTRYPOINT_SERVICE, namespace)
        previous = status.selected_version(service)
        if is_started(spec) and is_published(spec):
            if previous is not None and previous != name:
                await self._unpublish_spec(namespace, previous)
            await ensure(
                self._api,
                names.SERVICES,
                desired.entrypoint_service(current),
                owner=_describe(current),
                drift=desired.differences,
                patch_body=desired.merge_patch,
            )
        elif service is not None and previous == name:
            await self._api.delete(
                names.SERVICES, desired.ENTRYPOINT_SERVICE, namespace, uid=service["metadata"]["uid"]
            )

    async def _unpublish_spec(self, namespace: str, name: str) -> None:
        """The version another one displaced: no longer `published` (declaratively, so it stays displaced)."""
        try:
            await self._api.patch(names.RUNTIME_VERSIONS, name, {"spec": {"published": False}}, namespace)
        except NotFound:
            return
        log.info("version %s/%s: unpublished, another version took the entrypoint", namespace, name)

    # ------------------------------------------------------------------ status

    async def _write_status(self, version: JsonObject, valid: bool) -> None:
        namespace = version["metadata"]["namespace"]
        deployments: dict[str, Any] = {}
        remaining: list[str] = []
        existing = await self._labelled(version) if valid else {}
        for kind, object_name in desired.version_object_names(version) if valid else []:
            found = existing.get((kind, object_name))
            if kind == "Deployment":
                deployments[object_name] = found
            elif found is not None and status.ownership(found, version) == "this":
                remaining.append(object_name)
        service = await self._api.find(names.SERVICES, desired.ENTRYPOINT_SERVICE, namespace)
        new_status = status.compute_status(
            version,
            deployments,
            service,
            now=self._now(),
            previous_conditions=(version.get("status") or {}).get("conditions") or [],
            remaining_objects=() if is_started(version.get("spec") or {}) else remaining,
        )
        if new_status == version.get("status"):
            return
        name = version["metadata"]["name"]
        try:
            await write_status(self._api, names.RUNTIME_VERSIONS, name, new_status, namespace)
        except NotFound:
            return


def _describe(version: JsonObject) -> str:
    return f"version {version['metadata']['namespace']}/{version['metadata']['name']}"


async def reconcile_key(reconciler: VersionReconciler, key: tuple[str, str]) -> bool:
    """Reconcile the version `(namespace, name)`, logging API errors by their safe message instead of raising;
    False after such an error (the queue's metrics count it as a failure)."""
    namespace, name = key
    try:
        await reconciler.reconcile(namespace, name)
    except KubeError as error:
        log.warning("version %s/%s: reconcile failed, will retry: %s", namespace, name, error.safe_message)
        return False
    return True
