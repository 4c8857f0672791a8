"""The emulator's storage: objects, one global resourceVersion counter, an event history and watches.

Everything here is synchronous and runs on the event loop's thread, so each operation is atomic,
which is what etcd transactions give kube-apiserver. Kind-specific rules (defaults, validation,
status handling) come from :mod:`kube_emulator.strategies`; controllers listen to changes through
:meth:`Store.subscribe`.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import errors
from .resources import JsonObject, Registry, ResourceType
from .selectors import FieldSelector, LabelSelector

StorageKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"

FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"

# Characters kube-apiserver uses for generateName suffixes (no vowels, no confusable digits).
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(obj: JsonObject) -> JsonObject:
    metadata: JsonObject = obj.setdefault("metadata", {})
    return metadata


_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value: what copy.deepcopy makes of dicts, lists and scalars, several times faster
    (every read and write of the store copies objects). Anything else is left to copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if kind is list:
        return [copy_json(item) for item in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


@dataclass
class Change:
    """One committed change, as recorded in the history and sent to watches and controllers."""

    type: str
    storage_key: StorageKey
    namespace: str
    rv: int
    object: JsonObject
    old: JsonObject | None = None


@dataclass
class Watch:
    """One open watch stream; the HTTP layer drains `queue` (None means: the watch was closed)."""

    rtype: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    queue: asyncio.Queue[Change | None] = field(default_factory=asyncio.Queue)

    def selects(self, namespace: str, obj: JsonObject | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and namespace != self.namespace:
            return False
        return self.labels.matches(obj.get("metadata", {}).get("labels") or {}) and self.fields.matches(obj)

    def concerns(self, change: Change) -> bool:
        """Whether `offer` would queue anything for `change`: the object is or was in the selection."""
        return self.selects(change.namespace, change.object) or (
            change.type == MODIFIED and self.selects(change.namespace, change.old)
        )

    def offer(self, change: Change) -> None:
        """Queue `change` as this watch sees it: objects entering or leaving the selection are ADDED/DELETED."""
        now_in = self.selects(change.namespace, change.object)
        if change.type == MODIFIED:
            was_in = self.selects(change.namespace, change.old)
            if now_in and not was_in:
                change = Change(ADDED, change.storage_key, change.namespace, change.rv, change.object)
            elif was_in and not now_in and change.old is not None:
                # As the watch cache does: the previous (still matching) content, at the new resourceVersion.
                last_seen = copy_json(change.old)
                meta(last_seen)["resourceVersion"] = str(change.rv)
                change = Change(DELETED, change.storage_key, change.namespace, change.rv, last_seen)
            elif not now_in:
                return
        elif not now_in:
            return
        self.queue.put_nowait(change)


class Hooks:
    """Kind-specific rules the store applies on writes (implemented in strategies.py)."""

    def prepare_create(self, rtype: ResourceType, obj: JsonObject) -> list[str]:
        """Default and normalise a new object in place; return the unknown fields it dropped."""
        return []

    def prepare_update(self, rtype: ResourceType, new: JsonObject, old: JsonObject, subresource: str) -> list[str]:
        """Carry over what the write may not change (status, or everything but status).

        Returns the unknown fields it dropped.
        """
        return []

    def validate(self, rtype: ResourceType, obj: JsonObject, old: JsonObject | None, subresource: str = "") -> None:
        """Raise ApiError 422 when the object is invalid."""

    def uses_generation(self, rtype: ResourceType) -> bool:
        return False

    def spec_changed(self, rtype: ResourceType, new: JsonObject, old: JsonObject) -> bool:
        return False

    def allow_unconditional_update(self, rtype: ResourceType) -> bool:
        return True

    def blocks_deletion(self, rtype: ResourceType, obj: JsonObject) -> bool:
        """Whether something other than metadata.finalizers holds the object (a namespace's spec.finalizers)."""
        return False

    def check_delete(self, rtype: ResourceType, obj: JsonObject) -> None:
        """Raise ApiError when this object may not be deleted at all."""

    def on_deletion_started(self, rtype: ResourceType, obj: JsonObject) -> None:
        """Mutate an object whose deletion just started (namespaces become Terminating)."""

    def deletion_finalizers(self, rtype: ResourceType) -> list[str]:
        """Finalizers a deletion adds whatever it asks (a CRD's, which removes its custom resources first)."""
        return []


Listener = Callable[[Change], None]


class Store:
    def __init__(self, registry: Registry, hooks: Hooks | None = None, history_size: int = 20000) -> None:
        self.registry = registry
        self.hooks = hooks or Hooks()
        self._objects: dict[StorageKey, dict[ObjectKey, JsonObject]] = {}
        self._rv = 1
        self._history: deque[Change] = deque(maxlen=history_size)
        # Oldest resourceVersion a watch may still start from (raised by compact() and by history overflow).
        self._compacted_rv = 1
        self._watches: dict[StorageKey, list[Watch]] = {}
        self._listeners: list[Listener] = []

    # ------------------------------------------------------------------ basics

    @property
    def resource_version(self) -> int:
        return self._rv

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _bucket(self, rtype: ResourceType) -> dict[ObjectKey, JsonObject]:
        return self._objects.setdefault(rtype.storage_key, {})

    @staticmethod
    def _present(rtype: ResourceType, obj: JsonObject) -> JsonObject:
        """A copy of a stored object as the requested version shows it."""
        shown = {"apiVersion": rtype.api_version, "kind": rtype.kind}
        shown.update((k, copy_json(v)) for k, v in obj.items() if k not in ("apiVersion", "kind"))
        return shown

    def _key(self, rtype: ResourceType, namespace: str | None, name: str) -> ObjectKey:
        return ((namespace or "") if rtype.namespaced else "", name)

    def _commit(self, change_type: str, rtype: ResourceType, obj: JsonObject, old: JsonObject | None) -> int:
        self._rv += 1
        rv = self._rv
        meta(obj)["resourceVersion"] = str(rv)
        namespace = obj["metadata"].get("namespace", "")
        change = Change(change_type, rtype.storage_key, namespace, rv, obj, old)
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        self._history.append(change)
        # One copy per version the watches see, shared (they only read it), and none for watches it does not concern.
        views: dict[str, Change] = {}
        for watch in self._watches.get(rtype.storage_key, []):
            if watch.concerns(change):
                version = watch.rtype.api_version
                view = views.get(version) or views.setdefault(version, self._view(watch.rtype, change))
                watch.offer(view)
        for listener in list(self._listeners):
            listener(change)
        return rv

    def _view(self, rtype: ResourceType, change: Change) -> Change:
        # The old state is only read (selection) or copied (a DELETED event) by Watch.offer, which runs before
        # anything else sees the change: a shallow view of it is enough.
        old = None
        if change.old is not None:
            old = {"apiVersion": rtype.api_version, "kind": rtype.kind}
            old.update((key, value) for key, value in change.old.items() if key not in ("apiVersion", "kind"))
        return Change(
            change.type, change.storage_key, change.namespace, change.rv, self._present(rtype, change.object), old
        )

    # ------------------------------------------------------------------ reads

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> JsonObject:
        obj = self._bucket(rtype).get(self._key(rtype, namespace, name))
        if obj is None:
            raise errors.not_found(rtype.group, rtype.plural, name)
        return self._present(rtype, obj)

    def find(self, rtype: ResourceType, namespace: str | None, name: str) -> JsonObject | None:
        obj = self._bucket(rtype).get(self._key(rtype, namespace, name))
        return None if obj is None else self._present(rtype, obj)

    def list_objects(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> tuple[list[JsonObject], int]:
        """Matching objects sorted as etcd keys sort (namespace, then name), and the list resourceVersion."""
        selected = []
        candidates: Iterable[tuple[ObjectKey, JsonObject]] = self._bucket(rtype).items()
        if namespace is not None and rtype.namespaced:
            candidates = [(key, obj) for key, obj in candidates if key[0] == namespace]  # before sorting: fewer
        for _key, obj in sorted(candidates):
            if labels is not None and not labels.matches(obj["metadata"].get("labels") or {}):
                continue
            if fields is not None and not fields.matches(obj):
                continue
            selected.append(self._present(rtype, obj))
        return selected, self._rv

    def all_objects(self, storage_key: StorageKey) -> Iterable[JsonObject]:
        """Stored objects of one group/resource (not copies: controllers must not mutate them)."""
        return list(self._objects.get(storage_key, {}).values())

    # ------------------------------------------------------------------ writes

    def create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        obj: JsonObject,
        dry_run: bool = False,
        strict: bool = False,
    ) -> tuple[JsonObject, list[str]]:
        """Create an object; returns it and the API warnings (unknown fields dropped).

        `strict` is `fieldValidation=Strict`: unknown fields are an error instead of a warning.
        """
        obj = copy_json(obj)
        metadata = meta(obj)
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = str(metadata["generateName"]) + "".join(
                secrets.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5)
            )
        if not metadata.get("name"):
            raise errors.invalid(
                rtype.kind,
                rtype.group,
                rtype.plural,
                "",
                [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")],
            )
        if rtype.namespaced:
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        for system_field in ("uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            metadata.pop(system_field, None)
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now_rfc3339()
        if self.hooks.uses_generation(rtype):
            metadata["generation"] = 1
        elif not isinstance(metadata.get("generation"), int):  # kept as the client sent it otherwise, as the
            metadata.pop("generation", None)  # apiserver does for kinds that do not track generation
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        warnings = _unknown_fields(rtype, self.hooks.prepare_create(rtype, obj), strict)
        _drop_empty_metadata(obj)
        self.hooks.validate(rtype, obj, None)
        key = self._key(rtype, namespace, metadata["name"])
        if key in self._bucket(rtype):
            raise errors.already_exists(rtype.group, rtype.plural, metadata["name"])
        if dry_run:
            return self._present(rtype, obj), warnings
        self._bucket(rtype)[key] = obj
        self._commit(ADDED, rtype, obj, None)
        return self._present(rtype, obj), warnings

    def update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        new: JsonObject,
        subresource: str = "",
        dry_run: bool = False,
        require_resource_version: bool = True,
        strict: bool = False,
    ) -> tuple[JsonObject, list[str]]:
        """Replace an object (PUT, and the last step of every PATCH).

        `require_resource_version=False` is for patches: they are applied to the current object, so
        a missing resourceVersion is not an unconditional update by the client.
        """
        key = self._key(rtype, namespace, name)
        new = copy_json(new)
        metadata = meta(new)
        if metadata.get("name", name) != name:  # the update handler's check, before storage is asked
            raise errors.bad_request(
                f"the name of the object ({metadata.get('name')}) does not match the name on the URL ({name})"
            )
        stored = self._bucket(rtype).get(key)
        if stored is None:
            raise errors.not_found(rtype.group, rtype.plural, name)
        old_meta = stored["metadata"]
        given_rv = metadata.get("resourceVersion")
        if given_rv:
            if str(given_rv) != old_meta["resourceVersion"]:
                raise errors.conflict(
                    rtype.group,
                    rtype.plural,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
        elif require_resource_version and not self.hooks.allow_unconditional_update(rtype):
            # The update handler's check (rest.DefaultUpdatedObjectInfo): it names the resource, not the kind.
            raise errors.invalid(
                rtype.plural,
                rtype.group,
                rtype.plural,
                name,
                [
                    (
                        "FieldValueInvalid",
                        "metadata.resourceVersion",
                        "Invalid value: 0: must be specified for an update",
                    )
                ],
            )
        given_uid = metadata.get("uid")
        if given_uid and given_uid != old_meta["uid"]:
            raise errors.conflict(
                rtype.group,
                rtype.plural,
                name,
                f"Precondition failed: UID in precondition: {given_uid}, UID in object meta: {old_meta['uid']}",
            )
        # Fields the client can never change.
        for system_field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if system_field in old_meta:
                metadata[system_field] = old_meta[system_field]
            else:
                metadata.pop(system_field, None)
        metadata["name"] = name
        if rtype.namespaced:
            metadata["namespace"] = old_meta.get("namespace")
        else:
            metadata.pop("namespace", None)
        new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
        old = self._present(rtype, stored)
        warnings = _unknown_fields(rtype, self.hooks.prepare_update(rtype, new, old, subresource), strict)
        _drop_empty_metadata(new)
        if "generation" in old_meta:  # rest.BeforeUpdate: the client cannot change it
            generation = int(old_meta["generation"])
            if self.hooks.uses_generation(rtype) and self.hooks.spec_changed(rtype, new, old):
                generation += 1
            meta(new)["generation"] = generation
        else:
            meta(new).pop("generation", None)
        self.hooks.validate(rtype, new, old, subresource)  # (finalizers added while deleting among the rest)
        meta(new)["resourceVersion"] = old_meta["resourceVersion"]
        if _same(new, old):
            return old, warnings  # a no-op write changes nothing, not even the resourceVersion
        if dry_run:
            return self._present(rtype, new), warnings
        if (
            "deletionTimestamp" in old_meta
            and not meta(new).get("finalizers")
            and not self.hooks.blocks_deletion(rtype, new)
        ):
            self._remove(rtype, key, new)
            return self._present(rtype, new), warnings
        self._bucket(rtype)[key] = new
        self._commit(MODIFIED, rtype, new, copy_json(stored))
        return self._present(rtype, new), warnings

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        propagation: str = "Background",
        preconditions: JsonObject | None = None,
        dry_run: bool = False,
    ) -> JsonObject:
        """Delete now, or mark for deletion (deletionTimestamp) while finalizers remain.

        Returns the object in its last state, as kube-apiserver does.
        """
        key = self._key(rtype, namespace, name)
        stored = self._bucket(rtype).get(key)
        if stored is None:
            raise errors.not_found(rtype.group, rtype.plural, name)
        metadata = stored["metadata"]
        if preconditions:
            # rest.BeforeDelete checks them first, and names the kind rather than the resource.
            uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
            if uid is not None and uid != metadata["uid"]:
                raise errors.conflict(
                    rtype.group,
                    rtype.kind,
                    name,
                    f"the UID in the precondition ({uid}) does not match the UID in record ({metadata['uid']}). "
                    "The object might have been deleted and then recreated",
                )
            if rv is not None and str(rv) != metadata["resourceVersion"]:
                raise errors.conflict(
                    rtype.group,
                    rtype.kind,
                    name,
                    f"the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record "
                    f"({metadata['resourceVersion']}). The object might have been modified",
                )
        self.hooks.check_delete(rtype, stored)
        if dry_run:
            return self._present(rtype, stored)
        if "deletionTimestamp" in metadata:
            return self._present(rtype, stored)
        finalizers = list(metadata.get("finalizers") or [])
        finalizers += [f for f in self.hooks.deletion_finalizers(rtype) if f not in finalizers]
        if propagation == "Foreground" and FOREGROUND_FINALIZER not in finalizers:
            finalizers.append(FOREGROUND_FINALIZER)
        elif propagation == "Orphan" and ORPHAN_FINALIZER not in finalizers:
            finalizers.append(ORPHAN_FINALIZER)
        if not finalizers and not self.hooks.blocks_deletion(rtype, stored):
            removed = copy_json(stored)
            self._remove(rtype, key, removed)
            return self._present(rtype, removed)
        marked = copy_json(stored)
        marked_meta = marked["metadata"]
        marked_meta["finalizers"] = finalizers
        marked_meta["deletionTimestamp"] = now_rfc3339()
        marked_meta["deletionGracePeriodSeconds"] = 0
        if "generation" in marked_meta:
            marked_meta["generation"] = int(marked_meta["generation"]) + 1
        self.hooks.on_deletion_started(rtype, marked)
        self._bucket(rtype)[key] = marked
        self._commit(MODIFIED, rtype, marked, copy_json(stored))
        return self._present(rtype, marked)

    def _remove(self, rtype: ResourceType, key: ObjectKey, last: JsonObject) -> None:
        stored = self._bucket(rtype).pop(key)
        self._commit(DELETED, rtype, last, stored)

    # ------------------------------------------------------------------ watches

    def open_watch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        since: int | None,
    ) -> Watch:
        """Start a watch; `since=None` replays the current state as ADDED events first (like rv "" or "0")."""
        watch = Watch(rtype, namespace if rtype.namespaced else None, labels, fields)
        if since is None:
            items, _ = self.list_objects(rtype, watch.namespace, labels, fields)
            for item in items:
                ns = item["metadata"].get("namespace", "")
                watch.queue.put_nowait(
                    Change(ADDED, rtype.storage_key, ns, int(item["metadata"]["resourceVersion"]), item)
                )
        else:
            if since < self._compacted_rv:
                raise errors.gone(f"too old resource version: {since} ({self._compacted_rv})")
            for change in self._history:
                if change.rv > since and change.storage_key == rtype.storage_key:
                    watch.offer(self._view(rtype, change))
        self._watches.setdefault(rtype.storage_key, []).append(watch)
        return watch

    def close_watch(self, watch: Watch) -> None:
        watches = self._watches.get(watch.rtype.storage_key, [])
        if watch in watches:
            watches.remove(watch)

    def end_watches(self, storage_key: StorageKey | None = None) -> None:
        """Close watches (all, or of one resource), as kube-apiserver does on restart or CRD removal."""
        for key, watches in list(self._watches.items()):
            if storage_key is not None and key != storage_key:
                continue
            for watch in watches:
                watch.queue.put_nowait(None)
            self._watches[key] = []

    def compact(self) -> int:
        """Forget the event history up to now, as etcd compaction does; older watches get 410 Gone."""
        self._history.clear()
        self._compacted_rv = self._rv
        return self._compacted_rv

    def drop_resource(self, storage_key: StorageKey) -> None:
        """Forget every object of a group/resource (its CRD is gone)."""
        self._objects.pop(storage_key, None)
        self.end_watches(storage_key)


def _drop_empty_metadata(obj: JsonObject) -> None:
    """ObjectMeta's empty maps and lists are `omitempty`: a real server never stores or returns them."""
    metadata = obj.get("metadata", {})
    for key in ("labels", "annotations", "finalizers", "ownerReferences", "managedFields"):
        if key in metadata and not metadata[key]:
            del metadata[key]


def _unknown_fields(rtype: ResourceType, paths: list[str], strict: bool) -> list[str]:
    if paths and strict:
        listed = ", ".join(f'unknown field "{path}"' for path in paths)
        raise errors.bad_request(
            f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
            f"strict decoding error: {listed}"
        )
    return [f'unknown field "{path}"' for path in paths]


def _same(new: JsonObject, old: JsonObject) -> bool:
    """Equal but for metadata.managedFields. Compared in place: copying both would cost more than the write."""

    def without_managed_fields(obj: JsonObject) -> JsonObject:
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict) or "managedFields" not in metadata:
            return obj
        return {**obj, "metadata": {key: value for key, value in metadata.items() if key != "managedFields"}}

    return bool(without_managed_fields(new) == without_managed_fields(old))
