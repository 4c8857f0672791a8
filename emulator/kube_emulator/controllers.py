"""The emulator's kube-controller-manager, with a scheduler and a kubelet stand-in.

The store calls :meth:`Controllers._observe` synchronously after every committed change; that only
updates indexes and queues work, as informer event handlers do. One worker task then reconciles the
queued items one at a time, reading and writing through the store, so every effect reaches watches
a moment after the write that caused it. Each reconcile step is synchronous, hence atomic against
other writers, and idempotent: it compares the current state with the desired one and writes only
the difference.

Controllers, each following its kube-controller-manager (or kube-apiserver) counterpart:

- garbage collector: ownerReferences, background / foreground / orphan propagation;
- namespace controller: empties a Terminating namespace, then removes its `kubernetes` finalizer;
- service account controller and root CA publisher: the ServiceAccount `default` and the ConfigMap
  `kube-root-ca.crt` in every namespace;
- the Service `kubernetes` in `default` (kube-apiserver's bootstrap controller);
- CRD naming + establishing + finalizer controllers (those run inside kube-apiserver);
- deployment and replicaset controllers, a scheduler binding pods to the node "kube-emulator" and a
  kubelet that starts them (only with `EmulatorSettings.simulate_pods`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import ipaddress
import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .cluster import CRD_KEY, Cluster
from .errors import ApiError
from .resources import JsonObject, ResourceType
from .store import ADDED, DELETED, FOREGROUND_FINALIZER, MODIFIED, ORPHAN_FINALIZER, Change, StorageKey, now_rfc3339
from .strategies import CRD_CLEANUP_FINALIZER, NAMESPACE_FINALIZER
from .tls import ClusterCa

if TYPE_CHECKING:
    from .settings import EmulatorSettings

log = logging.getLogger(__name__)

NODE_NAME = "kube-emulator"
HOST_IP = "172.18.0.2"
_FIRST_POD_IP = int(ipaddress.IPv4Address("10.244.0.2"))

NAMESPACES: StorageKey = ("", "namespaces")
SERVICE_ACCOUNTS: StorageKey = ("", "serviceaccounts")
CONFIGMAPS: StorageKey = ("", "configmaps")
SERVICES: StorageKey = ("", "services")
PODS: StorageKey = ("", "pods")
EVENTS: StorageKey = ("", "events")
DEPLOYMENTS: StorageKey = ("apps", "deployments")
REPLICASETS: StorageKey = ("apps", "replicasets")

TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
# Deployment annotations the deployment controller does not copy to its ReplicaSets.
_NOT_COPIED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        "deployment.kubernetes.io/error-selector-overlapping-with",
        "deployment.kubernetes.io/selector-updated-at",
    }
)

# rand.SafeEncodeString's alphabet: no vowels, no confusable characters.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# How many pods a ReplicaSet creates or deletes in one sync (the replicaset controller's burstReplicas).
_BURST_REPLICAS = 500
# The garbage collector remembers this many uids of deleted objects (its absentOwnerCache).
_ABSENT_OWNERS_REMEMBERED = 10000
# 2**31 - 1 as progressDeadlineSeconds means "no deadline" (what `HasProgressDeadline` checks).
_NO_DEADLINE = 2**31 - 1

WorkItem = tuple[str, ...]
# How long the controllers may run before the API server gets the event loop back.
CONTROLLER_SLICE = 0.005


# ---------------------------------------------------------------------------------------------- queue


class WorkQueue:
    """A deduplicating FIFO of work items drained by one worker task, plus delayed re-queueing.

    An item queued again while it waits is not duplicated; one queued while it is being processed
    runs once more afterwards (the semantics of client-go's workqueue).
    """

    def __init__(self) -> None:
        self._pending: dict[WorkItem, None] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._timers: dict[WorkItem, asyncio.TimerHandle] = {}
        self._failures: dict[WorkItem, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def add(self, item: WorkItem) -> None:
        self._pending[item] = None
        self._idle.clear()
        self._wakeup.set()

    def add_at(self, item: WorkItem, when: float) -> None:
        """Queue `item` at loop time `when` (an earlier pending timer for the same item wins)."""
        if self._loop is None:
            return
        existing = self._timers.get(item)
        if existing is not None:
            if existing.when() <= when:
                return
            existing.cancel()
        self._timers[item] = self._loop.call_at(when, self._fire, item)

    def add_after(self, item: WorkItem, delay: float) -> None:
        self.add_at(item, self.now() + max(delay, 0.0))

    def now(self) -> float:
        return self._loop.time() if self._loop is not None else time.monotonic()

    def _fire(self, item: WorkItem) -> None:
        self._timers.pop(item, None)
        self.add(item)

    def start(self, handler: Callable[[WorkItem], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(handler), name="kube-emulator-controllers")

    async def _run(self, handler: Callable[[WorkItem], None]) -> None:
        loop = asyncio.get_running_loop()
        turn_started = loop.time()
        while True:
            if not self._pending:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                turn_started = loop.time()
                continue
            item = next(iter(self._pending))
            del self._pending[item]
            try:
                handler(item)
            except Exception:
                # Like a controller's rate-limited requeue: retry later, backing off.
                failures = min(self._failures.get(item, 0) + 1, 10)
                self._failures[item] = failures
                log.exception("reconciling %s failed (attempt %d)", item, failures)
                self.add_after(item, min(0.01 * 2**failures, 5.0))
            else:
                self._failures.pop(item, None)
            # Let the API server serve requests between reconcile steps, every CONTROLLER_SLICE seconds rather than
            # after each step: under load a turn of the event loop is slow, and one step per turn starves the
            # controllers (as if kube-controller-manager had a fraction of a CPU).
            if loop.time() - turn_started >= CONTROLLER_SLICE:
                await asyncio.sleep(0)
                turn_started = loop.time()

    async def wait_idle(self) -> None:
        if self._task is None:
            if self._pending:
                raise RuntimeError("the controllers are not running")
            return
        while not self._idle.is_set():
            await self._idle.wait()

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pending.clear()
        self._failures.clear()
        self._idle.set()


# -------------------------------------------------------------------------------------------- helpers


def _meta(obj: JsonObject) -> JsonObject:
    metadata: JsonObject = obj.get("metadata") or {}
    return metadata


def _being_deleted(obj: JsonObject) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def _finalizers(obj: JsonObject) -> list[str]:
    return list(_meta(obj).get("finalizers") or [])


def _controller_ref(obj: JsonObject) -> JsonObject | None:
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def _controlled_by(obj: JsonObject, owner_uid: str) -> bool:
    ref = _controller_ref(obj)
    return ref is not None and ref.get("uid") == owner_uid


def _owner_reference(owner: JsonObject) -> JsonObject:
    """The reference a controller puts on the objects it creates (metav1.NewControllerRef)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _condition(conditions: Iterable[JsonObject], condition_type: str) -> JsonObject | None:
    return next((c for c in conditions if c.get("type") == condition_type), None)


def _condition_true(obj: JsonObject, condition_type: str) -> bool:
    found = _condition((obj.get("status") or {}).get("conditions") or [], condition_type)
    return found is not None and found.get("status") == "True"


def _parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _replicas(obj: JsonObject) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return int(value) if isinstance(value, int) else 1


def _set_or_drop(target: JsonObject, key: str, value: int) -> None:
    """Go's `omitempty` on an int field: zero values are absent from the JSON."""
    if value:
        target[key] = value
    else:
        target.pop(key, None)


# -------------------------------------------------------------------------------------------- context


class _Context:
    """What every controller shares: the cluster, the work queue, tolerant reads and writes, events."""

    def __init__(self, cluster: Cluster, queue: WorkQueue) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.queue = queue
        # Namespaces with a deletionTimestamp: nothing may be created in them any more.
        self.terminating_namespaces: set[str] = set()
        # Built-in kinds never change; only CRD kinds need a registry scan.
        self._builtin = {t.storage_key: t for t in cluster.registry if not t.from_crd}
        self._last_event_ns = 0

    def rtype(self, storage_key: StorageKey) -> ResourceType | None:
        """The served type of a group/resource, its storage version preferred."""
        found = self._builtin.get(storage_key)
        if found is not None:
            return found
        for rtype in self.cluster.registry:
            if rtype.storage_key == storage_key:
                if rtype.version == rtype.storage_version:
                    return rtype
                found = found or rtype
        return found

    def resolve_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The type an ownerReference names (any served version of its group and kind will do)."""
        exact = self.cluster.registry.by_kind(api_version, kind)
        if exact is not None:
            return exact
        group = api_version.rpartition("/")[0]
        return next((t for t in self.cluster.registry if t.group == group and t.kind == kind), None)

    def get(self, storage_key: StorageKey, namespace: str | None, name: str) -> JsonObject | None:
        rtype = self.rtype(storage_key)
        return None if rtype is None else self.store.find(rtype, namespace, name)

    def objects(self, storage_key: StorageKey, namespace: str | None = None) -> list[JsonObject]:
        """Stored objects, not copies: read them, never mutate them."""
        return [
            obj
            for obj in self.store.all_objects(storage_key)
            if namespace is None or _meta(obj).get("namespace", "") == namespace
        ]

    def namespace_open(self, namespace: str) -> bool:
        """Whether NamespaceLifecycle admission lets content be created in `namespace`."""
        if namespace in self.terminating_namespaces:
            return False
        # Read the namespace too: before `start` has observed everything, the index may lag behind.
        found = self.get(NAMESPACES, None, namespace)
        return found is not None and not _being_deleted(found)

    def create(self, storage_key: StorageKey, namespace: str, obj: JsonObject) -> JsonObject | None:
        rtype = self.rtype(storage_key)
        if rtype is None or (rtype.namespaced and not self.namespace_open(namespace)):
            return None
        try:
            created, _ = self.store.create(rtype, namespace if rtype.namespaced else None, obj)
        except ApiError as error:
            log.warning("could not create %s in %r: %s", rtype.group_resource, namespace, error.message)
            return None
        return created

    def update(self, storage_key: StorageKey, obj: JsonObject, subresource: str = "") -> JsonObject | None:
        """Write `obj` (read from the store just before); None when it is gone or the write is refused."""
        rtype = self.rtype(storage_key)
        if rtype is None:
            return None
        metadata = _meta(obj)
        try:
            updated, _ = self.store.update(
                rtype, metadata.get("namespace"), metadata["name"], obj, subresource=subresource
            )
        except ApiError as error:
            if error.code != 404:
                log.warning("could not update %s %r: %s", rtype.group_resource, metadata["name"], error.message)
            return None
        return updated

    def mutate(
        self,
        storage_key: StorageKey,
        namespace: str | None,
        name: str,
        change: Callable[[JsonObject], bool],
        subresource: str = "",
        uid: str | None = None,
    ) -> JsonObject | None:
        """Read the latest object, apply `change` (which says whether it changed anything), write it back.

        Returns the object as stored afterwards, or None when it is gone (or is another object now).
        """
        current = self.get(storage_key, namespace, name)
        if current is None or (uid is not None and _meta(current).get("uid") != uid):
            return None
        if not change(current):
            return current
        return self.update(storage_key, current, subresource)

    def delete(
        self,
        storage_key: StorageKey,
        namespace: str | None,
        name: str,
        propagation: str = "Background",
        uid: str | None = None,
    ) -> None:
        rtype = self.rtype(storage_key)
        if rtype is None:
            return
        try:
            self.store.delete(rtype, namespace, name, propagation, {"uid": uid} if uid else None)
        except ApiError as error:
            if error.code not in (404, 409):
                log.warning("could not delete %s %r: %s", rtype.group_resource, name, error.message)

    def event(self, involved: JsonObject, reason: str, message: str, component: str) -> None:
        """Record a Normal event about `involved`, as client-go's event recorder does."""
        metadata = _meta(involved)
        namespace = metadata.get("namespace") or "default"
        now = now_rfc3339()
        # Event names are the object's name and a nanosecond timestamp in hex; keep them unique.
        self._last_event_ns = max(time.time_ns(), self._last_event_ns + 1)
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{metadata.get('name')}.{self._last_event_ns:x}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": metadata.get("name"),
                "namespace": metadata.get("namespace"),
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": "Normal",
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": "",
        }
        self.create(EVENTS, namespace, event)


# ---------------------------------------------------------------------------------- garbage collector


@dataclass(frozen=True)
class _OwnerLink:
    uid: str
    api_version: str
    kind: str
    name: str
    controller: bool
    block_owner_deletion: bool


@dataclass(frozen=True)
class _Node:
    """What the garbage collector's graph knows of one object."""

    storage_key: StorageKey
    namespace: str
    name: str
    uid: str
    owners: tuple[_OwnerLink, ...]
    being_deleted: bool
    finalizers: tuple[str, ...]

    @property
    def deleting_dependents(self) -> bool:
        return self.being_deleted and FOREGROUND_FINALIZER in self.finalizers

    @property
    def orphaning(self) -> bool:
        return self.being_deleted and ORPHAN_FINALIZER in self.finalizers

    @classmethod
    def of(cls, storage_key: StorageKey, obj: JsonObject) -> _Node:
        metadata = _meta(obj)
        owners = tuple(
            _OwnerLink(
                uid=str(ref.get("uid", "")),
                api_version=str(ref.get("apiVersion", "")),
                kind=str(ref.get("kind", "")),
                name=str(ref.get("name", "")),
                controller=bool(ref.get("controller")),
                block_owner_deletion=bool(ref.get("blockOwnerDeletion")),
            )
            for ref in metadata.get("ownerReferences") or []
        )
        return cls(
            storage_key=storage_key,
            namespace=str(metadata.get("namespace") or ""),
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            owners=owners,
            being_deleted=bool(metadata.get("deletionTimestamp")),
            finalizers=tuple(metadata.get("finalizers") or ()),
        )


class GarbageCollector:
    """The garbage collector: a graph of ownerReferences and the attemptToDelete / attemptToOrphan steps.

    Work items: ("gc", uid) runs attemptToDelete on an object; ("orphan", uid) orphans the dependents
    of an owner being deleted with the `orphan` finalizer.
    """

    def __init__(self, ctx: _Context) -> None:
        self._ctx = ctx
        self._nodes: dict[str, _Node] = {}
        # owner uid -> dependent uids; kept while the dependents still name the owner (even a missing one).
        self._dependents: dict[str, set[str]] = {}
        self._absent: dict[str, None] = {}

    # ------------------------------------------------------------------ graph

    def reset(self) -> None:
        self._nodes.clear()
        self._dependents.clear()

    def node(self, uid: str) -> _Node | None:
        return self._nodes.get(uid)

    def dependents(self, owner_uid: str) -> list[_Node]:
        return [self._nodes[uid] for uid in self._dependents.get(owner_uid, ()) if uid in self._nodes]

    def controlled(self, owner_uid: str, storage_key: StorageKey) -> list[_Node]:
        """Live dependents of one kind whose controller reference is `owner_uid`."""
        return sorted(
            (
                node
                for node in self.dependents(owner_uid)
                if node.storage_key == storage_key
                and any(link.uid == owner_uid and link.controller for link in node.owners)
            ),
            key=lambda node: node.name,
        )

    def observe(self, change: Change) -> None:
        uid = _meta(change.object).get("uid")
        if not uid:
            return
        queue = self._ctx.queue
        if change.type == DELETED:
            gone = self._nodes.pop(uid, None) or _Node.of(change.storage_key, change.object)
            self._remember_absent(uid)
            for link in gone.owners:
                self._unlink(link.uid, uid)
                owner = self._nodes.get(link.uid)
                if owner is not None and owner.deleting_dependents:
                    queue.add(("gc", owner.uid))
            for dependent in self._dependents.get(uid, ()):
                queue.add(("gc", dependent))
            return
        new = _Node.of(change.storage_key, change.object)
        old = self._nodes.get(uid)
        self._nodes[uid] = new
        old_owners = old.owners if old is not None else ()
        if old_owners != new.owners:
            new_owner_uids = {link.uid for link in new.owners}
            for link in old_owners:
                if link.uid not in new_owner_uids:
                    self._unlink(link.uid, uid)
                owner = self._nodes.get(link.uid)
                if owner is not None and owner.deleting_dependents:
                    queue.add(("gc", owner.uid))  # a blocking dependent may have let go
            for link in new.owners:
                self._dependents.setdefault(link.uid, set()).add(uid)
            if new.owners:
                queue.add(("gc", uid))  # its owners may be missing already
        if new.deleting_dependents and (old is None or not old.deleting_dependents):
            queue.add(("gc", uid))
            for dependent in self._dependents.get(uid, ()):
                queue.add(("gc", dependent))
        if new.orphaning and (old is None or not old.orphaning):
            queue.add(("orphan", uid))

    def _unlink(self, owner_uid: str, dependent_uid: str) -> None:
        dependents = self._dependents.get(owner_uid)
        if dependents is not None:
            dependents.discard(dependent_uid)
            if not dependents:
                del self._dependents[owner_uid]

    def _remember_absent(self, uid: str) -> None:
        self._absent[uid] = None
        if len(self._absent) > _ABSENT_OWNERS_REMEMBERED:
            del self._absent[next(iter(self._absent))]

    def _live(self, node: _Node) -> JsonObject | None:
        obj = self._ctx.get(node.storage_key, node.namespace or None, node.name)
        if obj is None or _meta(obj).get("uid") != node.uid:
            return None
        return obj

    # ------------------------------------------------------------------ attemptToDelete

    def attempt_to_delete(self, uid: str) -> None:
        node = self._nodes.get(uid)
        if node is None:
            return
        obj = self._live(node)
        if obj is None:
            return
        if _being_deleted(obj):
            # Deletion is a one-way trip; only a foreground deletion still needs us.
            if FOREGROUND_FINALIZER in _finalizers(obj):
                self._process_deleting_dependents(node)
            return
        references = _meta(obj).get("ownerReferences") or []
        if not references:
            return
        solid: list[str] = []
        dangling: list[str] = []
        waiting: list[str] = []
        for reference in references:
            verdict = self._classify(reference, node)
            if verdict is None:
                return  # an owner that cannot be looked up: leave the object alone
            owner_uid = str(reference.get("uid"))
            if verdict == "solid":
                solid.append(owner_uid)
            elif verdict == "dangling":
                dangling.append(owner_uid)
            else:
                waiting.append(owner_uid)
        if solid:
            stale = set(dangling) | set(waiting)
            if stale:
                self._ctx.mutate(
                    node.storage_key,
                    node.namespace or None,
                    node.name,
                    _drop_owner_references(stale),
                    uid=uid,
                )
            return
        if waiting and self.dependents(uid):
            # An owner waits for us, and we have dependents ourselves: delete them first.
            self._ctx.delete(node.storage_key, node.namespace or None, node.name, "Foreground", uid)
            return
        finalizers = _finalizers(obj)
        if ORPHAN_FINALIZER in finalizers:
            policy = "Orphan"
        elif FOREGROUND_FINALIZER in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        self._ctx.delete(node.storage_key, node.namespace or None, node.name, policy, uid)

    def _classify(self, reference: JsonObject, node: _Node) -> str | None:
        """ "solid", "dangling" (owner missing) or "waiting" (owner deleting its dependents first).

        None when the owner cannot be looked up: its kind is not served, or a cluster-scoped object
        names a namespaced owner (the real collector gives up on such objects as well).
        """
        owner_uid = str(reference.get("uid", ""))
        if owner_uid in self._absent:
            return "dangling"
        rtype = self._ctx.resolve_kind(str(reference.get("apiVersion", "")), str(reference.get("kind", "")))
        if rtype is None or (rtype.namespaced and not node.namespace):
            return None
        owner = self._ctx.store.find(rtype, node.namespace if rtype.namespaced else None, str(reference.get("name")))
        if owner is None or _meta(owner).get("uid") != owner_uid:
            self._remember_absent(owner_uid)
            return "dangling"
        if _being_deleted(owner) and FOREGROUND_FINALIZER in _finalizers(owner):
            return "waiting"
        return "solid"

    def _process_deleting_dependents(self, node: _Node) -> None:
        dependents = self.dependents(node.uid)
        blocking = [
            dependent
            for dependent in dependents
            if any(link.uid == node.uid and link.block_owner_deletion for link in dependent.owners)
        ]
        if not blocking:
            self._ctx.mutate(
                node.storage_key,
                node.namespace or None,
                node.name,
                _drop_finalizer(FOREGROUND_FINALIZER),
                uid=node.uid,
            )
            return
        for dependent in dependents:
            if not dependent.deleting_dependents:
                self._ctx.queue.add(("gc", dependent.uid))

    # ------------------------------------------------------------------ attemptToOrphan

    def attempt_to_orphan(self, uid: str) -> None:
        node = self._nodes.get(uid)
        if node is None:
            return
        owner = self._live(node)
        if owner is None or not _being_deleted(owner) or ORPHAN_FINALIZER not in _finalizers(owner):
            return
        for dependent in self.dependents(uid):
            self._ctx.mutate(
                dependent.storage_key,
                dependent.namespace or None,
                dependent.name,
                _drop_owner_references({uid}),
                uid=dependent.uid,
            )
        self._ctx.mutate(
            node.storage_key, node.namespace or None, node.name, _drop_finalizer(ORPHAN_FINALIZER), uid=uid
        )


def _drop_owner_references(owner_uids: set[str]) -> Callable[[JsonObject], bool]:
    def change(obj: JsonObject) -> bool:
        metadata = _meta(obj)
        references = metadata.get("ownerReferences") or []
        kept = [ref for ref in references if ref.get("uid") not in owner_uids]
        if len(kept) == len(references):
            return False
        if kept:
            metadata["ownerReferences"] = kept
        else:
            metadata.pop("ownerReferences", None)
        return True

    return change


def _drop_finalizer(finalizer: str) -> Callable[[JsonObject], bool]:
    def change(obj: JsonObject) -> bool:
        finalizers = _finalizers(obj)
        if finalizer not in finalizers:
            return False
        obj["metadata"]["finalizers"] = [f for f in finalizers if f != finalizer]
        return True

    return change


# --------------------------------------------------------------------------------- namespace controller

# The condition types the namespace deleter maintains, in the order it writes them, with their "all is
# well" reason and message.
_NAMESPACE_CONDITIONS: tuple[tuple[str, str, str], ...] = (
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentRemoved", "All content successfully removed"),
)


def namespace_conditions(
    current: list[JsonObject], remaining: dict[StorageKey, int], finalizers: dict[str, int], now: str
) -> list[JsonObject]:
    """The namespace's status.conditions after a deletion pass (namespaceConditionUpdater.Update)."""
    problems: dict[str, tuple[str, str]] = {}
    if remaining:
        listed = sorted(
            f"{plural}.{group} has {count} resource instances" for (group, plural), count in remaining.items()
        )
        problems["NamespaceContentRemaining"] = (
            "SomeResourcesRemain",
            f"Some resources are remaining: {', '.join(listed)}",
        )
    if finalizers:
        listed = sorted(f"{finalizer} in {count} resource instances" for finalizer, count in finalizers.items())
        problems["NamespaceFinalizersRemaining"] = (
            "SomeFinalizerRemain",
            f"Some finalizers are remaining: {', '.join(listed)}",
        )
    conditions = copy.deepcopy(current)
    for condition_type, ok_reason, ok_message in _NAMESPACE_CONDITIONS:
        status = "True" if condition_type in problems else "False"
        reason, message = problems.get(condition_type, (ok_reason, ok_message))
        existing = _condition(conditions, condition_type)
        if existing is None:
            conditions.append(
                {
                    "type": condition_type,
                    "status": status,
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                }
            )
            continue
        if existing.get("status") != status:
            existing["lastTransitionTime"] = now
        existing.update(status=status, reason=reason, message=message)
    return conditions


class NamespaceController:
    """Empties a namespace being deleted, then finalizes it. Work item: ("namespace", name)."""

    def __init__(self, ctx: _Context) -> None:
        self._ctx = ctx

    def observe(self, change: Change) -> None:
        terminating = self._ctx.terminating_namespaces
        if change.storage_key == NAMESPACES:
            name = str(_meta(change.object).get("name", ""))
            if change.type == DELETED:
                terminating.discard(name)
            elif _being_deleted(change.object):
                terminating.add(name)
                self._ctx.queue.add(("namespace", name))
        elif change.namespace in terminating:
            self._ctx.queue.add(("namespace", change.namespace))

    def sync(self, name: str) -> None:
        namespace = self._ctx.get(NAMESPACES, None, name)
        if namespace is None or not _being_deleted(namespace):
            return
        if NAMESPACE_FINALIZER not in ((namespace.get("spec") or {}).get("finalizers") or []):
            return  # someone else's finalizers are all that is left
        remaining: dict[StorageKey, int] = {}
        finalizers: dict[str, int] = {}
        for storage_key in self._ctx.cluster.registry.namespaced_storage_keys():
            for obj in self._ctx.objects(storage_key, name):
                if not _being_deleted(obj):
                    self._ctx.delete(storage_key, name, _meta(obj)["name"], "Background", _meta(obj).get("uid"))
            left = self._ctx.objects(storage_key, name)
            if left:
                remaining[storage_key] = len(left)
            for obj in left:
                for finalizer in _finalizers(obj):
                    finalizers[finalizer] = finalizers.get(finalizer, 0) + 1

        def set_conditions(ns: JsonObject) -> bool:
            status = ns.setdefault("status", {})
            current = status.get("conditions") or []
            updated = namespace_conditions(current, remaining, finalizers, now_rfc3339())
            if _same_conditions(current, updated):
                return False
            status["conditions"] = updated
            return True

        self._ctx.mutate(NAMESPACES, None, name, set_conditions, subresource="status")
        if remaining:
            return  # the deletions of what is left will bring us back

        def finalize(ns: JsonObject) -> bool:
            spec = ns.setdefault("spec", {})
            spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != NAMESPACE_FINALIZER]
            return True

        self._ctx.mutate(NAMESPACES, None, name, finalize, subresource="finalize")


def _same_conditions(current: list[JsonObject], updated: list[JsonObject]) -> bool:
    """Equal but for lastTransitionTime (which only moves when a status flips)."""

    def strip(conditions: list[JsonObject]) -> list[JsonObject]:
        return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conditions]

    return strip(current) == strip(updated)


# ------------------------------------------------------- namespace defaults and the kubernetes Service

DEFAULT_SERVICE_ACCOUNT = "default"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
ROOT_CA_KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as "
    "the internal service IP or kubernetes.default.svc. "
    "No other usage is guaranteed across distributions of Kubernetes clusters."
)
KUBERNETES_SERVICE = "kubernetes"
KUBERNETES_SERVICE_NAMESPACE = "default"
KUBERNETES_SERVICE_IP = "10.96.0.1"
KUBERNETES_SERVICE_TARGET_PORT = 6443


def _namespace_active(namespace: JsonObject) -> bool:
    return (namespace.get("status") or {}).get("phase") == "Active"


class ServiceAccountController:
    """Gives every active namespace its ServiceAccount `default`. Work item: ("serviceaccount", namespace).

    Like kube-controller-manager's, it reacts to namespaces being added or updated and to service
    accounts being deleted; it never touches an existing `default`.
    """

    def __init__(self, ctx: _Context) -> None:
        self._ctx = ctx

    def observe(self, change: Change) -> None:
        if change.storage_key == NAMESPACES and change.type != DELETED:
            self._ctx.queue.add(("serviceaccount", str(_meta(change.object).get("name", ""))))
        elif change.storage_key == SERVICE_ACCOUNTS and change.type == DELETED:
            self._ctx.queue.add(("serviceaccount", change.namespace))

    def sync(self, namespace: str) -> None:
        found = self._ctx.get(NAMESPACES, None, namespace)
        if found is None or not _namespace_active(found):
            return
        if self._ctx.get(SERVICE_ACCOUNTS, namespace, DEFAULT_SERVICE_ACCOUNT) is None:
            account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT_SERVICE_ACCOUNT}}
            self._ctx.create(SERVICE_ACCOUNTS, namespace, account)


class RootCaPublisher:
    """Keeps the ConfigMap `kube-root-ca.crt` in every namespace. Work item: ("root-ca", namespace).

    As the real publisher: it re-creates the ConfigMap when deleted, rewrites its data when it differs and
    restores the description annotation when it is missing or empty (another non-empty value is left alone).
    Other fields (labels, other annotations, binaryData) are kept.
    """

    def __init__(self, ctx: _Context, ca_pem: str) -> None:
        self._ctx = ctx
        self._data = {ROOT_CA_KEY: ca_pem}

    def observe(self, change: Change) -> None:
        if change.storage_key == NAMESPACES:
            # namespaceAdded queues every namespace; namespaceUpdated only active ones.
            if change.type == ADDED or (change.type == MODIFIED and _namespace_active(change.object)):
                self._ctx.queue.add(("root-ca", str(_meta(change.object).get("name", ""))))
        elif (
            change.storage_key == CONFIGMAPS
            and change.type in (MODIFIED, DELETED)
            and _meta(change.object).get("name") == ROOT_CA_CONFIGMAP
        ):
            self._ctx.queue.add(("root-ca", change.namespace))

    def sync(self, namespace: str) -> None:
        current = self._ctx.get(CONFIGMAPS, namespace, ROOT_CA_CONFIGMAP)
        if current is None:
            # Refused in a missing or terminating namespace, which is the end of it (as for the real one).
            configmap = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": ROOT_CA_CONFIGMAP, "annotations": {DESCRIPTION_ANNOTATION: ROOT_CA_DESCRIPTION}},
                "data": dict(self._data),
            }
            self._ctx.create(CONFIGMAPS, namespace, configmap)
            return
        if current.get("data") == self._data and (_meta(current).get("annotations") or {}).get(DESCRIPTION_ANNOTATION):
            return

        def restore(obj: JsonObject) -> bool:
            obj["data"] = dict(self._data)
            metadata = obj.setdefault("metadata", {})
            metadata["annotations"] = {
                **(metadata.get("annotations") or {}),
                DESCRIPTION_ANNOTATION: ROOT_CA_DESCRIPTION,
            }
            return True

        self._ctx.mutate(CONFIGMAPS, namespace, ROOT_CA_CONFIGMAP, restore, uid=_meta(current).get("uid"))


def kubernetes_service() -> JsonObject:
    """The Service kube-apiserver creates for itself (kubernetesservice.Controller)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": KUBERNETES_SERVICE,
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": KUBERNETES_SERVICE_IP,
            "ipFamilyPolicy": "SingleStack",
            "sessionAffinity": "None",
            "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": KUBERNETES_SERVICE_TARGET_PORT}],
        },
    }


class KubernetesServiceController:
    """Keeps the Service `kubernetes` in `default`. Work item: ("kubernetes-service",).

    kube-apiserver re-creates it when missing (every 10 s; here as soon as it is deleted, or when the
    namespace `default` comes back) but, since 1.17, no longer resets an edited one.
    """

    def __init__(self, ctx: _Context) -> None:
        self._ctx = ctx

    def observe(self, change: Change) -> None:
        name = _meta(change.object).get("name")
        if change.storage_key == SERVICES:
            if (
                change.type == DELETED
                and change.namespace == KUBERNETES_SERVICE_NAMESPACE
                and name == KUBERNETES_SERVICE
            ):
                self._ctx.queue.add(("kubernetes-service",))
        elif change.storage_key == NAMESPACES and change.type == ADDED and name == KUBERNETES_SERVICE_NAMESPACE:
            self._ctx.queue.add(("kubernetes-service",))

    def sync(self) -> None:
        if self._ctx.get(SERVICES, KUBERNETES_SERVICE_NAMESPACE, KUBERNETES_SERVICE) is None:
            self._ctx.create(SERVICES, KUBERNETES_SERVICE_NAMESPACE, kubernetes_service())


# ------------------------------------------------------------------------------------- CRD controllers


def _set_crd_condition(conditions: list[JsonObject], new: JsonObject, now: str) -> None:
    """apihelpers.SetCRDCondition: update in place, moving lastTransitionTime only when status flips."""
    existing = _condition(conditions, str(new["type"]))
    if existing is None:
        conditions.append({**new, "lastTransitionTime": now})
        return
    if existing.get("status") != new["status"] or not existing.get("lastTransitionTime"):
        existing["lastTransitionTime"] = now
    existing.update(status=new["status"], reason=new["reason"], message=new["message"])


def crd_names_status(crd: JsonObject, group_crds: Iterable[JsonObject], now: str) -> JsonObject:
    """The status the naming and establishing controllers give a CRD.

    `group_crds` are the CRDs of the same group (this one included), whose accepted names are taken.
    """
    spec = crd.get("spec") or {}
    status = copy.deepcopy(crd.get("status") or {})
    requested: JsonObject = spec.get("names") or {}
    accepted: JsonObject = status.get("acceptedNames") or {}
    used_resources: set[str] = set()
    used_kinds: set[str] = set()
    for other in group_crds:
        names = (other.get("status") or {}).get("acceptedNames") or {}
        used_resources.update(str(n) for n in (names.get("plural"), names.get("singular")) if n)
        used_resources.update(str(n) for n in names.get("shortNames") or [])
        used_kinds.update(str(n) for n in (names.get("kind"), names.get("listKind")) if n)

    def conflict(requested_name: Any, accepted_name: Any, used: set[str]) -> str | None:
        if requested_name == accepted_name or requested_name not in used:
            return None
        return f'"{requested_name}" is already in use'

    new_names = dict(accepted)
    problem: tuple[str, str] | None = None
    for field_name, reason, used in (
        ("plural", "PluralConflict", used_resources),
        ("singular", "SingularConflict", used_resources),
    ):
        found = conflict(requested.get(field_name), accepted.get(field_name), used)
        if found:
            problem = (reason, found)
        elif requested.get(field_name) is not None:
            new_names[field_name] = requested[field_name]
    requested_short = list(requested.get("shortNames") or [])
    accepted_short = list(accepted.get("shortNames") or [])
    if requested_short != accepted_short:
        taken = [
            f'"{short}" is already in use'
            for short in requested_short
            if short not in accepted_short
            and short not in (accepted.get("plural"), accepted.get("singular"))
            and short in used_resources
        ]
        if taken:
            problem = ("ShortNamesConflict", taken[0] if len(taken) == 1 else "[" + ", ".join(taken) + "]")
        elif requested_short:
            new_names["shortNames"] = requested_short
        else:
            new_names.pop("shortNames", None)
    for field_name, reason in (("kind", "KindConflict"), ("listKind", "ListKindConflict")):
        found = conflict(requested.get(field_name), accepted.get(field_name), used_kinds)
        if found:
            problem = (reason, found)
        elif requested.get(field_name) is not None:
            new_names[field_name] = requested[field_name]
    if requested.get("categories"):
        new_names["categories"] = list(requested["categories"])
    else:
        new_names.pop("categories", None)

    conditions: list[JsonObject] = list(status.get("conditions") or [])
    status["conditions"] = conditions
    if problem is None:
        names_accepted = {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
        }
    else:
        names_accepted = {
            "type": "NamesAccepted",
            "status": "False",
            "reason": problem[0],
            "message": problem[1],
        }
    established = _condition(conditions, "Established")
    if problem is None and (established is None or established.get("status") != "True"):
        # The establishing controller's step, folded in: the names are served as soon as accepted.
        new_established: JsonObject | None = {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
        }
    elif established is None:
        new_established = {
            "type": "Established",
            "status": "False",
            "reason": "NotAccepted",
            "message": "not all names are accepted",
        }
    else:
        new_established = None  # once established, a CRD stays so even if a later rename conflicts
    _set_crd_condition(conditions, names_accepted, now)
    if new_established is not None:
        _set_crd_condition(conditions, new_established, now)
    status["acceptedNames"] = new_names
    storage = next((v.get("name") for v in spec.get("versions") or [] if v.get("storage")), None)
    stored_versions = list(status.get("storedVersions") or [])
    if storage and storage not in stored_versions:
        stored_versions.append(storage)
    status["storedVersions"] = stored_versions
    return status


class CrdController:
    """Names, establishes and finalizes CustomResourceDefinitions. Work item: ("crd", name)."""

    def __init__(self, ctx: _Context) -> None:
        self._ctx = ctx
        # Custom resources of CRDs being deleted: (group, plural) -> CRD name.
        self._terminating: dict[StorageKey, str] = {}

    def reset(self) -> None:
        self._terminating.clear()

    def observe(self, change: Change) -> None:
        if change.storage_key == CRD_KEY:
            crd = change.object
            name = str(_meta(crd).get("name", ""))
            spec = crd.get("spec") or {}
            storage_key = (str(spec.get("group", "")), str((spec.get("names") or {}).get("plural", "")))
            if change.type == DELETED:
                self._terminating.pop(storage_key, None)
                self._requeue_group(str(spec.get("group", "")), name)  # its names are free again
                return
            if _being_deleted(crd):
                self._terminating[storage_key] = name
            self._ctx.queue.add(("crd", name))
        elif change.storage_key in self._terminating:
            self._ctx.queue.add(("crd", self._terminating[change.storage_key]))

    def _requeue_group(self, group: str, except_name: str) -> None:
        for crd in self._ctx.objects(CRD_KEY):
            name = _meta(crd).get("name")
            if (crd.get("spec") or {}).get("group") == group and name != except_name:
                self._ctx.queue.add(("crd", str(name)))

    def sync(self, name: str) -> None:
        crd = self._ctx.get(CRD_KEY, None, name)
        if crd is None:
            return
        if _being_deleted(crd):
            if CRD_CLEANUP_FINALIZER in _finalizers(crd):
                self._finalize(crd)
            return
        group = (crd.get("spec") or {}).get("group")
        group_crds = [c for c in self._ctx.objects(CRD_KEY) if (c.get("spec") or {}).get("group") == group]
        desired = crd_names_status(crd, group_crds, now_rfc3339())
        if _same_crd_status(crd.get("status") or {}, desired):
            return
        crd["status"] = desired
        if self._ctx.update(CRD_KEY, crd, subresource="status") is not None:
            self._requeue_group(str(group), name)  # names we accepted may now conflict elsewhere

    def _finalize(self, crd: JsonObject) -> None:
        name = _meta(crd)["name"]
        spec = crd.get("spec") or {}
        storage_key = (str(spec.get("group", "")), str((spec.get("names") or {}).get("plural", "")))
        self._set_terminating(name, "True", "InstanceDeletionInProgress", "CustomResource deletion is in progress")
        instances = self._ctx.objects(storage_key)
        if not instances and not _condition_true(crd, "Established"):
            self._set_terminating(name, "False", "NeverEstablished", "resource was never established")
        else:
            for obj in instances:
                if not _being_deleted(obj):
                    metadata = _meta(obj)
                    self._ctx.delete(storage_key, metadata.get("namespace"), metadata["name"], uid=metadata.get("uid"))
            if self._ctx.objects(storage_key):
                return  # held by their finalizers; their removal brings us back
            self._set_terminating(name, "False", "InstanceDeletionCompleted", "removed all instances")
        self._ctx.mutate(CRD_KEY, None, name, _drop_finalizer(CRD_CLEANUP_FINALIZER))

    def _set_terminating(self, name: str, status: str, reason: str, message: str) -> None:
        wanted = {"type": "Terminating", "status": status, "reason": reason, "message": message}

        def change(crd: JsonObject) -> bool:
            conditions = (crd.setdefault("status", {}).get("conditions")) or []
            existing = _condition(conditions, "Terminating")
            if existing is not None and all(existing.get(k) == v for k, v in wanted.items()):
                return False
            _set_crd_condition(conditions, wanted, now_rfc3339())
            crd["status"]["conditions"] = conditions
            return True

        self._ctx.mutate(CRD_KEY, None, name, change, subresource="status")


def _same_crd_status(current: JsonObject, desired: JsonObject) -> bool:
    def strip(status: JsonObject) -> JsonObject:
        stripped = dict(status)
        stripped["conditions"] = [
            {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []
        ]
        return stripped

    return strip(current) == strip(desired)


# ------------------------------------------------------------------------------------ readiness policy


class ReadinessPolicy:
    """When workloads become ready: `workload_ready_after` seconds after their generation is observed.

    `set_workload_ready` overrides decide for one Deployment, for good (until overridden again).
    """

    def __init__(self, ready_after: float | None, queue: WorkQueue) -> None:
        self.ready_after = ready_after
        self._queue = queue
        self._overrides: dict[tuple[str, str], bool] = {}
        # (namespace, name) -> (uid, generation, loop time when that generation was first seen)
        self._generations: dict[tuple[str, str], tuple[str, int, float]] = {}
        self._pods_first_seen: dict[str, float] = {}

    def set_override(self, namespace: str, name: str, ready: bool) -> None:
        self._overrides[(namespace, name)] = ready

    def override(self, namespace: str, name: str) -> bool | None:
        return self._overrides.get((namespace, name))

    def observe_generation(self, deployment: JsonObject) -> None:
        metadata = _meta(deployment)
        key = (str(metadata.get("namespace", "")), str(metadata["name"]))
        uid, generation = str(metadata.get("uid")), int(metadata.get("generation") or 0)
        seen = self._generations.get(key)
        if seen is None or seen[:2] != (uid, generation):
            self._generations[key] = (uid, generation, self._queue.now())

    def forget(self, namespace: str, name: str) -> None:
        self._generations.pop((namespace, name), None)

    def deployment_due(self, namespace: str, name: str) -> tuple[bool, float | None]:
        """Whether the policy makes the Deployment's current generation ready; else when (loop time)."""
        seen = self._generations.get((namespace, name))
        return self._due(seen[2] if seen is not None else None)

    def pod_due(self, uid: str) -> tuple[bool, float | None]:
        """The policy for a pod no Deployment owns: counted from when the kubelet first saw it."""
        first_seen = self._pods_first_seen.setdefault(uid, self._queue.now())
        return self._due(first_seen)

    def forget_pod(self, uid: str) -> None:
        self._pods_first_seen.pop(uid, None)

    def _due(self, since: float | None) -> tuple[bool, float | None]:
        if self.ready_after is None or since is None:
            return False, None
        ready_at = since + self.ready_after
        return (True, None) if self._queue.now() >= ready_at else (False, ready_at)


# ----------------------------------------------------------------------------------------- deployments


def pod_template_hash(template: JsonObject, collision_count: int | None = None) -> str:
    """A stable name-safe hash of a pod template (controller.ComputeHash: FNV-32a, safe-encoded)."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += int(collision_count).to_bytes(4, "little")
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(char) % len(_SAFE_ALPHABET)] for char in str(value))


def _template_without_hash(template: JsonObject) -> JsonObject:
    stripped = copy.deepcopy(template)
    labels = (stripped.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(TEMPLATE_HASH_LABEL, None)
    return stripped


def _scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        try:
            percent = int(text[:-1])
        except ValueError:
            return 0
        scaled = percent * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    try:
        return int(text)
    except ValueError:
        return 0


def _fenceposts(deployment: JsonObject) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate Deployment, resolved against spec.replicas."""
    spec = deployment.get("spec") or {}
    strategy = spec.get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    rolling = strategy.get("rollingUpdate") or {}
    replicas = _replicas(deployment)
    surge = _scaled_value(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = _scaled_value(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # validation forbids both zero; the controller guards anyway
    return surge, unavailable


def _max_unavailable(deployment: JsonObject) -> int:
    replicas = _replicas(deployment)
    if replicas == 0:
        return 0
    return min(_fenceposts(deployment)[1], replicas)


def _progress_deadline(deployment: JsonObject) -> int | None:
    value = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    if not isinstance(value, int) or value == _NO_DEADLINE:
        return None
    return value


@dataclass(frozen=True)
class ReplicaSetView:
    """What the deployment status is computed from, for one (real or simulated) ReplicaSet."""

    name: str
    spec_replicas: int
    replicas: int
    ready: int
    available: int

    @classmethod
    def of(cls, replica_set: JsonObject) -> ReplicaSetView:
        status = replica_set.get("status") or {}
        return cls(
            name=str(_meta(replica_set)["name"]),
            spec_replicas=_replicas(replica_set),
            replicas=int(status.get("replicas") or 0),
            ready=int(status.get("readyReplicas") or 0),
            available=int(status.get("availableReplicas") or 0),
        )


def _deployment_condition(condition_type: str, status: str, reason: str, message: str, now: str) -> JsonObject:
    return {
        "type": condition_type,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _set_deployment_condition(conditions: list[JsonObject], condition: JsonObject) -> list[JsonObject]:
    """deploymentutil.SetDeploymentCondition: same status and reason is no change; else replace at the end."""
    current = _condition(conditions, condition["type"])
    if (
        current is not None
        and current.get("status") == condition["status"]
        and current.get("reason") == condition["reason"]
    ):
        return conditions
    if current is not None and current.get("status") == condition["status"]:
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    return [c for c in conditions if c.get("type") != condition["type"]] + [condition]


def deployment_status(
    deployment: JsonObject,
    replica_sets: list[ReplicaSetView],
    new_replica_set: str | None,
    *,
    created_new: bool,
    now: str,
    wall_clock: float,
) -> JsonObject:
    """The Deployment's next status (getNewReplicaSet's condition, checkPausedConditions, syncRolloutStatus).

    `created_new` says the new ReplicaSet was created in this sync.
    """
    spec = deployment.get("spec") or {}
    generation = int(_meta(deployment).get("generation") or 0)
    desired = _replicas(deployment)
    deadline = _progress_deadline(deployment)
    paused = bool(spec.get("paused"))
    base = copy.deepcopy(deployment.get("status") or {})
    conditions: list[JsonObject] = list(base.get("conditions") or [])
    if new_replica_set is not None and deadline is not None and not paused:
        if created_new:
            conditions = _set_deployment_condition(
                conditions,
                _deployment_condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    f'Created new replica set "{new_replica_set}"',
                    now,
                ),
            )
        elif _condition(conditions, "Progressing") is None:
            conditions = _set_deployment_condition(
                conditions,
                _deployment_condition(
                    "Progressing",
                    "True",
                    "FoundNewReplicaSet",
                    f'Found new replica set "{new_replica_set}"',
                    now,
                ),
            )
    if deadline is not None:
        progressing = _condition(conditions, "Progressing")
        if not (progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded"):
            paused_noted = progressing is not None and progressing.get("reason") == "DeploymentPaused"
            if paused and not paused_noted:
                conditions = _set_deployment_condition(
                    conditions,
                    _deployment_condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now),
                )
            elif not paused and paused_noted:
                conditions = _set_deployment_condition(
                    conditions,
                    _deployment_condition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now),
                )
    base["conditions"] = conditions

    new_view = next((view for view in replica_sets if view.name == new_replica_set), None)
    available = sum(view.available for view in replica_sets)
    total_desired = sum(view.spec_replicas for view in replica_sets)
    status: JsonObject = {}
    _set_or_drop(status, "observedGeneration", generation)
    _set_or_drop(status, "replicas", sum(view.replicas for view in replica_sets))
    _set_or_drop(status, "updatedReplicas", new_view.replicas if new_view is not None else 0)
    _set_or_drop(status, "readyReplicas", sum(view.ready for view in replica_sets))
    _set_or_drop(status, "availableReplicas", available)
    _set_or_drop(status, "unavailableReplicas", max(total_desired - available, 0))
    if base.get("collisionCount") is not None:
        status["collisionCount"] = base["collisionCount"]
    if available >= desired - _max_unavailable(deployment):
        availability = _deployment_condition(
            "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now
        )
    else:
        availability = _deployment_condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
        )
    conditions = _set_deployment_condition(conditions, availability)
    if paused:
        status["conditions"] = conditions
        return status

    if deadline is None:
        conditions = [c for c in conditions if c.get("type") != "Progressing"]
    current = _condition(base["conditions"], "Progressing")
    complete_before = (
        status.get("replicas", 0) == status.get("updatedReplicas", 0)
        and current is not None
        and current.get("reason") == "NewReplicaSetAvailable"
    )
    if deadline is not None and not complete_before:
        subject = f'ReplicaSet "{new_replica_set}"' if new_replica_set else f'Deployment "{_meta(deployment)["name"]}"'
        if (
            status.get("updatedReplicas", 0) == desired
            and status.get("replicas", 0) == desired
            and status.get("availableReplicas", 0) == desired
            and generation <= status.get("observedGeneration", 0)
        ):
            conditions = _set_deployment_condition(
                conditions,
                _deployment_condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f"{subject} has successfully progressed.",
                    now,
                ),
            )
        elif _made_progress(base, status):
            condition = _deployment_condition(
                "Progressing", "True", "ReplicaSetUpdated", f"{subject} is progressing.", now
            )
            if current is not None and current.get("status") == "True":
                condition["lastTransitionTime"] = current.get("lastTransitionTime")
            conditions = [c for c in conditions if c.get("type") != "Progressing"] + [condition]
        elif _timed_out(conditions, deadline, wall_clock):
            conditions = _set_deployment_condition(
                conditions,
                _deployment_condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f"{subject} has timed out progressing.",
                    now,
                ),
            )
    status["conditions"] = conditions
    return status


def _made_progress(old: JsonObject, new: JsonObject) -> bool:
    """deploymentutil.DeploymentProgressing."""

    def old_replicas(status: JsonObject) -> int:
        return int(status.get("replicas") or 0) - int(status.get("updatedReplicas") or 0)

    return (
        int(new.get("updatedReplicas") or 0) > int(old.get("updatedReplicas") or 0)
        or old_replicas(new) < old_replicas(old)
        or int(new.get("readyReplicas") or 0) > int(old.get("readyReplicas") or 0)
        or int(new.get("availableReplicas") or 0) > int(old.get("availableReplicas") or 0)
    )


def _timed_out(conditions: list[JsonObject], deadline: int, wall_clock: float) -> bool:
    progressing = _condition(conditions, "Progressing")
    if progressing is None or progressing.get("reason") == "NewReplicaSetAvailable":
        return False
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return True
    since = _parse_time(progressing.get("lastUpdateTime"))
    return since is not None and since + deadline < wall_clock


def _revision(obj: JsonObject) -> int:
    try:
        return int((_meta(obj).get("annotations") or {}).get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def _bump_collision_count(deployment: JsonObject) -> bool:
    status = deployment.setdefault("status", {})
    status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
    return True


@dataclass
class _SimulatedRollout:
    """A Deployment's rollout when no ReplicaSets or pods are simulated."""

    template_hash: str = ""
    revision: int = 0
    ready_hash: str = ""
    ready_count: int = 0


class DeploymentController:
    """The deployment controller. Work item: ("deployment", namespace, name)."""

    def __init__(self, ctx: _Context, graph: GarbageCollector, policy: ReadinessPolicy, simulate_pods: bool) -> None:
        self._ctx = ctx
        self._graph = graph
        self._policy = policy
        self._simulate_pods = simulate_pods
        self._simulated: dict[tuple[str, str], _SimulatedRollout] = {}

    def observe(self, change: Change) -> None:
        if change.storage_key == DEPLOYMENTS:
            self._ctx.queue.add(("deployment", change.namespace, str(_meta(change.object).get("name"))))
        elif change.storage_key == REPLICASETS and self._simulate_pods:
            for obj in (change.object, change.old):
                reference = _controller_ref(obj) if obj is not None else None
                if reference is not None and reference.get("kind") == "Deployment":
                    self._ctx.queue.add(("deployment", change.namespace, str(reference.get("name"))))

    def sync(self, namespace: str, name: str) -> None:
        deployment = self._ctx.get(DEPLOYMENTS, namespace, name)
        if deployment is None:
            self._policy.forget(namespace, name)
            self._simulated.pop((namespace, name), None)
            return
        self._policy.observe_generation(deployment)
        if self._simulate_pods:
            self._sync_with_replica_sets(deployment)
        else:
            self._sync_simulated(deployment)

    # ------------------------------------------------------------------ with ReplicaSets

    def _replica_sets(self, deployment: JsonObject) -> list[JsonObject]:
        """The ReplicaSets this Deployment controls, oldest first."""
        uid = _meta(deployment)["uid"]
        found = []
        for node in self._graph.controlled(uid, REPLICASETS):
            replica_set = self._ctx.get(REPLICASETS, node.namespace, node.name)
            if replica_set is not None and _controlled_by(replica_set, uid):
                found.append(replica_set)
        return sorted(found, key=lambda rs: (_meta(rs).get("creationTimestamp", ""), _meta(rs)["name"]))

    def _find_new(
        self, deployment: JsonObject, replica_sets: list[JsonObject], template_hash: str
    ) -> JsonObject | None:
        """deploymentutil.FindNewReplicaSet: the oldest whose template equals ours, ignoring the hash label.

        One labelled with our current hash counts too: server-side defaults may differ between the two
        templates, and the hash is ours alone.
        """
        template = _template_without_hash((deployment.get("spec") or {}).get("template") or {})
        for replica_set in replica_sets:
            if _template_without_hash((replica_set.get("spec") or {}).get("template") or {}) == template:
                return replica_set
        for replica_set in replica_sets:
            if (_meta(replica_set).get("labels") or {}).get(TEMPLATE_HASH_LABEL) == template_hash:
                return replica_set
        return None

    def _sync_with_replica_sets(self, deployment: JsonObject) -> None:
        metadata = _meta(deployment)
        namespace, name = metadata["namespace"], metadata["name"]
        spec = deployment.get("spec") or {}
        collision_count = (deployment.get("status") or {}).get("collisionCount")
        template_hash = pod_template_hash(spec.get("template") or {}, collision_count)
        replica_sets = self._replica_sets(deployment)
        new_rs = self._find_new(deployment, replica_sets, template_hash)
        created = False
        if not _being_deleted(deployment):
            desired = _replicas(deployment)
            olds = [rs for rs in replica_sets if rs is not new_rs]
            if spec.get("paused"):
                # Paused: no rollout, but scaling still reaches the active ReplicaSet.
                active = new_rs or next((rs for rs in reversed(olds) if _replicas(rs) > 0), None)
                if active is not None:
                    self._scale(deployment, active, desired)
            elif (spec.get("strategy") or {}).get("type") == "Recreate":
                for old in olds:
                    self._scale(deployment, old, 0)
                if all(int((old.get("status") or {}).get("replicas") or 0) == 0 for old in olds):
                    if new_rs is None:
                        new_rs = self._create_replica_set(deployment, olds, template_hash)
                        created = new_rs is not None
                    else:
                        self._sync_revision(deployment, new_rs, olds)
                        self._scale(deployment, new_rs, desired)
            else:
                if new_rs is None:
                    new_rs = self._create_replica_set(deployment, olds, template_hash)
                    created = new_rs is not None
                else:
                    self._sync_revision(deployment, new_rs, olds)
                    self._scale(deployment, new_rs, desired)
                # A rolling update collapsed into one step: the old pods go once the new ones all serve.
                if new_rs is not None and self._fully_available(new_rs, desired):
                    for old in olds:
                        self._scale(deployment, old, 0)
            if not spec.get("paused"):
                self._clean_up_history(deployment, [rs for rs in replica_sets if rs is not new_rs])
            replica_sets = self._replica_sets(deployment)
        fresh_deployment = self._ctx.get(DEPLOYMENTS, namespace, name)
        if fresh_deployment is None:
            return
        views = [ReplicaSetView.of(rs) for rs in replica_sets]
        new_name = _meta(new_rs)["name"] if new_rs is not None else None
        self._write_status(fresh_deployment, views, new_name, created)

    def _fully_available(self, replica_set: JsonObject, desired: int) -> bool:
        rs_meta = _meta(replica_set)
        fresh = self._ctx.get(REPLICASETS, rs_meta["namespace"], rs_meta["name"])
        return fresh is not None and int((fresh.get("status") or {}).get("availableReplicas") or 0) >= desired

    def _create_replica_set(
        self, deployment: JsonObject, olds: list[JsonObject], template_hash: str
    ) -> JsonObject | None:
        metadata = _meta(deployment)
        namespace, name = metadata["namespace"], metadata["name"]
        spec = deployment.get("spec") or {}
        rs_name = f"{name}-{template_hash}"
        existing = self._ctx.get(REPLICASETS, namespace, rs_name)
        if existing is not None:
            if _controlled_by(existing, metadata["uid"]):
                return existing
            # Someone else's ReplicaSet has our name: hash again with a bumped collisionCount.
            self._ctx.mutate(DEPLOYMENTS, namespace, name, _bump_collision_count, "status", uid=metadata["uid"])
            return None
        template = copy.deepcopy(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[TEMPLATE_HASH_LABEL] = template_hash
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[TEMPLATE_HASH_LABEL] = template_hash
        desired = _replicas(deployment)
        annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k not in _NOT_COPIED_ANNOTATIONS}
        revision = max((_revision(rs) for rs in olds), default=0) + 1
        annotations[REVISION_ANNOTATION] = str(revision)
        annotations[DESIRED_REPLICAS_ANNOTATION] = str(desired)
        annotations[MAX_REPLICAS_ANNOTATION] = str(desired + _fenceposts(deployment)[0])
        replica_set: JsonObject = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": namespace,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [_owner_reference(deployment)],
            },
            "spec": {
                "replicas": desired,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        created = self._ctx.create(REPLICASETS, namespace, replica_set)
        if created is None:
            return None
        self._ctx.event(
            deployment,
            "ScalingReplicaSet",
            f"Scaled up replica set {rs_name} from 0 to {desired}",
            "deployment-controller",
        )
        self._set_deployment_revision(deployment, str(revision))
        return created

    def _sync_revision(self, deployment: JsonObject, new_rs: JsonObject, olds: list[JsonObject]) -> None:
        """The new ReplicaSet has the highest revision (a rollback renumbers it); so has the Deployment."""
        wanted = max((_revision(rs) for rs in olds), default=0) + 1
        current = _revision(new_rs)
        if current < wanted:
            rs_meta = _meta(new_rs)

            def renumber(obj: JsonObject) -> bool:
                annotations = _meta(obj).setdefault("annotations", {})
                history = [r for r in str(annotations.get(REVISION_HISTORY_ANNOTATION, "")).split(",") if r]
                if current:
                    annotations[REVISION_HISTORY_ANNOTATION] = ",".join([*history, str(current)])
                annotations[REVISION_ANNOTATION] = str(wanted)
                return True

            self._ctx.mutate(REPLICASETS, rs_meta["namespace"], rs_meta["name"], renumber, uid=rs_meta["uid"])
            current = wanted
        self._set_deployment_revision(deployment, str(current))

    def _set_deployment_revision(self, deployment: JsonObject, revision: str) -> None:
        metadata = _meta(deployment)

        def annotate(obj: JsonObject) -> bool:
            annotations = _meta(obj).setdefault("annotations", {})
            if annotations.get(REVISION_ANNOTATION) == revision:
                return False
            annotations[REVISION_ANNOTATION] = revision
            return True

        self._ctx.mutate(DEPLOYMENTS, metadata["namespace"], metadata["name"], annotate, uid=metadata["uid"])

    def _scale(self, deployment: JsonObject, replica_set: JsonObject, replicas: int) -> None:
        rs_meta = _meta(replica_set)
        before = _replicas(replica_set)
        desired = str(_replicas(deployment))
        max_replicas = str(_replicas(deployment) + _fenceposts(deployment)[0])

        def scale(obj: JsonObject) -> bool:
            annotations = _meta(obj).setdefault("annotations", {})
            if (
                _replicas(obj) == replicas
                and annotations.get(DESIRED_REPLICAS_ANNOTATION) == desired
                and annotations.get(MAX_REPLICAS_ANNOTATION) == max_replicas
            ):
                return False
            obj.setdefault("spec", {})["replicas"] = replicas
            annotations[DESIRED_REPLICAS_ANNOTATION] = desired
            annotations[MAX_REPLICAS_ANNOTATION] = max_replicas
            return True

        scaled = self._ctx.mutate(REPLICASETS, rs_meta["namespace"], rs_meta["name"], scale, uid=rs_meta["uid"])
        if scaled is not None and before != replicas:
            direction = "up" if replicas > before else "down"
            self._ctx.event(
                deployment,
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs_meta['name']} from {before} to {replicas}",
                "deployment-controller",
            )

    def _clean_up_history(self, deployment: JsonObject, olds: list[JsonObject]) -> None:
        """Delete the oldest idle ReplicaSets beyond spec.revisionHistoryLimit."""
        limit = (deployment.get("spec") or {}).get("revisionHistoryLimit")
        if not isinstance(limit, int):
            return
        idle = [
            rs
            for rs in olds
            if _replicas(rs) == 0
            and int((rs.get("status") or {}).get("replicas") or 0) == 0
            and int((rs.get("status") or {}).get("observedGeneration") or 0) >= int(_meta(rs).get("generation") or 0)
            and not _being_deleted(rs)
        ]
        idle.sort(key=lambda rs: (_revision(rs), _meta(rs).get("creationTimestamp", "")))
        for replica_set in idle[: max(len(idle) - limit, 0)]:
            rs_meta = _meta(replica_set)
            self._ctx.delete(REPLICASETS, rs_meta["namespace"], rs_meta["name"], uid=rs_meta["uid"])

    # ------------------------------------------------------------------ without ReplicaSets

    def _sync_simulated(self, deployment: JsonObject) -> None:
        """Only the status, as if ReplicaSets and pods were there (EmulatorSettings.simulate_pods off)."""
        metadata = _meta(deployment)
        key = (metadata["namespace"], metadata["name"])
        spec = deployment.get("spec") or {}
        template_hash = pod_template_hash(
            spec.get("template") or {}, (deployment.get("status") or {}).get("collisionCount")
        )
        rollout = self._simulated.setdefault(key, _SimulatedRollout())
        created = False
        if _being_deleted(deployment) or spec.get("paused"):
            template_hash = rollout.template_hash or template_hash
        elif rollout.template_hash != template_hash:
            rollout.template_hash = template_hash
            rollout.revision += 1
            created = True
        desired = _replicas(deployment)
        override = self._policy.override(*key)
        due, ready_at = self._policy.deployment_due(*key)
        if override is False:
            rollout.ready_hash, rollout.ready_count = "", 0
        elif override or due:
            rollout.ready_hash, rollout.ready_count = template_hash, desired
        elif ready_at is not None:
            self._ctx.queue.add_at(("deployment", *key), ready_at)
        new_name = f"{metadata['name']}-{template_hash}"
        if rollout.ready_hash == template_hash:
            ready = min(rollout.ready_count, desired)
            views = [ReplicaSetView(new_name, desired, desired, ready, ready)]
        else:
            views = [ReplicaSetView(new_name, desired, desired, 0, 0)]
            if rollout.ready_count:
                count = rollout.ready_count
                views.append(ReplicaSetView(f"{metadata['name']}-{rollout.ready_hash}", count, count, count, count))
        if rollout.revision:
            self._set_deployment_revision(deployment, str(rollout.revision))
        fresh = self._ctx.get(DEPLOYMENTS, *key)
        if fresh is not None:
            self._write_status(fresh, views, new_name, created)

    # ------------------------------------------------------------------ status

    def _write_status(
        self, deployment: JsonObject, views: list[ReplicaSetView], new_name: str | None, created: bool
    ) -> None:
        metadata = _meta(deployment)
        wall_clock = time.time()
        status = deployment_status(
            deployment, views, new_name, created_new=created, now=now_rfc3339(), wall_clock=wall_clock
        )
        if (deployment.get("status") or {}) != status:
            deployment["status"] = status
            self._ctx.update(DEPLOYMENTS, deployment, subresource="status")
        # Wake up when the progress deadline passes (requeueStuckDeployment).
        deadline = _progress_deadline(deployment)
        progressing = _condition(status.get("conditions") or [], "Progressing")
        if (
            deadline is not None
            and progressing is not None
            and progressing.get("reason") not in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded")
            and progressing.get("status") == "True"
        ):
            since = _parse_time(progressing.get("lastUpdateTime"))
            if since is not None:
                self._ctx.queue.add_after(
                    ("deployment", metadata["namespace"], metadata["name"]), since + deadline + 1 - wall_clock
                )


# ---------------------------------------------------------------------------------------- replica sets


def _pod_ready(pod: JsonObject) -> bool:
    return _condition_true(pod, "Ready")


def _pod_active(pod: JsonObject) -> bool:
    return not _being_deleted(pod) and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _deletion_rank(pod: JsonObject) -> tuple[int, int, int, float]:
    """Which pods a shrinking ReplicaSet deletes first (controller.ActivePods' order, simplified)."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(str((pod.get("status") or {}).get("phase")), 0)
    created = _parse_time(_meta(pod).get("creationTimestamp")) or 0.0
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        phase_rank,
        1 if _pod_ready(pod) else 0,
        -created,  # newer first
    )


class ReplicaSetController:
    """The replicaset controller. Work item: ("replicaset", namespace, name)."""

    def __init__(self, ctx: _Context, graph: GarbageCollector) -> None:
        self._ctx = ctx
        self._graph = graph

    def observe(self, change: Change) -> None:
        if change.storage_key == REPLICASETS:
            self._ctx.queue.add(("replicaset", change.namespace, str(_meta(change.object).get("name"))))
        elif change.storage_key == PODS:
            for obj in (change.object, change.old):
                reference = _controller_ref(obj) if obj is not None else None
                if reference is not None and reference.get("kind") == "ReplicaSet":
                    self._ctx.queue.add(("replicaset", change.namespace, str(reference.get("name"))))

    def _pods(self, replica_set: JsonObject) -> list[JsonObject]:
        uid = _meta(replica_set)["uid"]
        found = []
        for node in self._graph.controlled(uid, PODS):
            pod = self._ctx.get(PODS, node.namespace, node.name)
            if pod is not None and _controlled_by(pod, uid):
                found.append(pod)
        return found

    def sync(self, namespace: str, name: str) -> None:
        replica_set = self._ctx.get(REPLICASETS, namespace, name)
        if replica_set is None:
            return
        active = [pod for pod in self._pods(replica_set) if _pod_active(pod)]
        if not _being_deleted(replica_set):
            difference = len(active) - _replicas(replica_set)
            if difference < 0:
                for _ in range(min(-difference, _BURST_REPLICAS)):
                    pod = self._create_pod(replica_set)
                    if pod is None:
                        break
                    active.append(pod)
            elif difference > 0:
                doomed = sorted(active, key=_deletion_rank)[: min(difference, _BURST_REPLICAS)]
                for pod in doomed:
                    pod_meta = _meta(pod)
                    self._ctx.delete(PODS, namespace, pod_meta["name"], uid=pod_meta["uid"])
                    self._ctx.event(
                        replica_set,
                        "SuccessfulDelete",
                        f"Deleted pod: {pod_meta['name']}",
                        "replicaset-controller",
                    )
                active = [pod for pod in active if pod not in doomed]
        self._write_status(replica_set, active)

    def _create_pod(self, replica_set: JsonObject) -> JsonObject | None:
        rs_meta = _meta(replica_set)
        template = (replica_set.get("spec") or {}).get("template") or {}
        template_meta = template.get("metadata") or {}
        metadata: JsonObject = {
            "generateName": f"{rs_meta['name']}-",
            "namespace": rs_meta["namespace"],
            "labels": dict(template_meta.get("labels") or {}),
            "ownerReferences": [_owner_reference(replica_set)],
        }
        for optional in ("annotations", "finalizers"):
            if template_meta.get(optional):
                metadata[optional] = copy.deepcopy(template_meta[optional])
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        created = self._ctx.create(PODS, rs_meta["namespace"], pod)
        if created is None:
            return None
        self._ctx.event(
            replica_set, "SuccessfulCreate", f"Created pod: {_meta(created)['name']}", "replicaset-controller"
        )
        return created

    def _write_status(self, replica_set: JsonObject, active: list[JsonObject]) -> None:
        rs_meta = _meta(replica_set)
        spec = replica_set.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = time.time()
        ready = [pod for pod in active if _pod_ready(pod)]
        available = 0
        for pod in ready:
            since = _parse_time(
                (_condition((pod.get("status") or {}).get("conditions") or [], "Ready") or {}).get("lastTransitionTime")
            )
            if min_ready == 0 or (since is not None and since + min_ready <= now):
                available += 1
            elif since is not None:
                self._ctx.queue.add_after(
                    ("replicaset", rs_meta["namespace"], rs_meta["name"]), since + min_ready - now
                )
        labelled = sum(
            1 for pod in active if all((_meta(pod).get("labels") or {}).get(k) == v for k, v in template_labels.items())
        )

        def change(obj: JsonObject) -> bool:
            status = copy.deepcopy(obj.get("status") or {})
            status["replicas"] = len(active)
            _set_or_drop(status, "fullyLabeledReplicas", labelled)
            _set_or_drop(status, "readyReplicas", len(ready))
            _set_or_drop(status, "availableReplicas", available)
            _set_or_drop(status, "observedGeneration", int(_meta(obj).get("generation") or 0))
            if status == obj.get("status"):
                return False
            obj["status"] = status
            return True

        self._ctx.mutate(REPLICASETS, rs_meta["namespace"], rs_meta["name"], change, "status", uid=rs_meta["uid"])


# --------------------------------------------------------------------------------------------- kubelet


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _image_id(image: str) -> str:
    repository = image.split("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    if ":" in last:
        repository = repository[: len(repository) - len(last)] + last.split(":", 1)[0]
    if "/" not in repository:
        repository = f"docker.io/library/{repository}"
    return f"{repository}@sha256:{_digest('image', image)}"


def kubelet_status(pod: JsonObject, *, running: bool, ready: bool, pod_ip: str, now: str) -> JsonObject:
    """The status a kubelet reports for a pod it is starting (`running` False) or running."""
    old: JsonObject = pod.get("status") or {}
    spec = pod.get("spec") or {}
    uid = str(_meta(pod).get("uid", ""))
    containers = sorted(spec.get("containers") or [], key=lambda c: str(c.get("name", "")))
    init_containers = list(spec.get("initContainers") or [])
    old_conditions = old.get("conditions") or []

    def condition(condition_type: str, true: bool, reason: str = "", message: str = "") -> JsonObject:
        status = "True" if true else "False"
        previous = _condition(old_conditions, condition_type)
        since = previous.get("lastTransitionTime") if previous and previous.get("status") == status else now
        built: JsonObject = {
            "type": condition_type,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": since,
        }
        if not true and reason:
            built.update(reason=reason, message=message)
        return built

    unready = "[" + " ".join(str(c.get("name")) for c in containers) + "]"
    incomplete = "[" + " ".join(str(c.get("name")) for c in init_containers) + "]"
    conditions = [
        condition("PodReadyToStartContainers", running),
        condition(
            "Initialized",
            running or not init_containers,
            "ContainersNotInitialized",
            f"containers with incomplete status: {incomplete}",
        ),
        condition("Ready", ready, "ContainersNotReady", f"containers with unready status: {unready}"),
        condition("ContainersReady", ready, "ContainersNotReady", f"containers with unready status: {unready}"),
        condition("PodScheduled", True),
    ]
    # Containers keep the start time they were first reported running with.
    first_status: JsonObject = next(iter(old.get("containerStatuses") or []), {})
    started_at = ((first_status.get("state") or {}).get("running") or {}).get("startedAt") or now

    def container_status(container: JsonObject, init: bool) -> JsonObject:
        name, image = str(container.get("name", "")), str(container.get("image", ""))
        built: JsonObject = {
            "name": name,
            "image": image,
            "imageID": _image_id(image) if running else "",
            "lastState": {},
            "ready": ready if not init else running,
            "restartCount": 0,
            "started": running and not init,
        }
        if running:
            built["containerID"] = f"containerd://{_digest(uid, name)}"
            if init:
                built["state"] = {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": started_at,
                        "finishedAt": started_at,
                        "containerID": built["containerID"],
                    }
                }
            else:
                built["state"] = {"running": {"startedAt": started_at}}
        else:
            waiting = "PodInitializing" if init_containers else "ContainerCreating"
            built["state"] = {"waiting": {"reason": waiting}}
        return built

    status = copy.deepcopy(old)
    status.update(
        phase="Running" if running else "Pending",
        conditions=conditions,
        hostIP=HOST_IP,
        hostIPs=[{"ip": HOST_IP}],
        startTime=old.get("startTime") or now,
        containerStatuses=[container_status(c, init=False) for c in containers],
    )
    if init_containers:
        status["initContainerStatuses"] = [container_status(c, init=True) for c in init_containers]
    if running:
        status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    return status


class Kubelet:
    """The scheduler (binding pods to NODE_NAME) and the kubelet. Work item: ("pod", namespace, name)."""

    def __init__(self, ctx: _Context, policy: ReadinessPolicy) -> None:
        self._ctx = ctx
        self._policy = policy
        self._next_ip = 0

    def observe(self, change: Change) -> None:
        if change.storage_key != PODS:
            return
        if change.type == DELETED:
            self._policy.forget_pod(str(_meta(change.object).get("uid")))
            return
        self._ctx.queue.add(("pod", change.namespace, str(_meta(change.object).get("name"))))

    def sync(self, namespace: str, name: str) -> None:
        pod = self._ctx.get(PODS, namespace, name)
        if pod is None or _being_deleted(pod):
            return
        metadata = _meta(pod)
        uid = metadata["uid"]
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            pod = self._bind(pod)
            if pod is None:
                return
        elif node_name != NODE_NAME:
            return  # another (imaginary) node's pod
        ready, ready_at = self._decide(pod)
        old_status = pod.get("status") or {}
        running = old_status.get("phase") == "Running" or ready
        pod_ip = str(old_status.get("podIP") or (self._allocate_ip() if running else ""))
        status = kubelet_status(pod, running=running, ready=ready, pod_ip=pod_ip, now=now_rfc3339())
        if status != old_status:
            self._ctx.mutate(PODS, namespace, name, _replace_status(status), "status", uid=uid)
        if not ready and ready_at is not None:
            self._ctx.queue.add_at(("pod", namespace, name), ready_at)

    def _bind(self, pod: JsonObject) -> JsonObject | None:
        metadata = _meta(pod)

        def bind(obj: JsonObject) -> bool:
            obj.setdefault("spec", {})["nodeName"] = NODE_NAME
            return True

        bound = self._ctx.mutate(PODS, metadata["namespace"], metadata["name"], bind, uid=metadata["uid"])
        if bound is not None:
            self._ctx.event(
                bound,
                "Scheduled",
                f"Successfully assigned {metadata['namespace']}/{metadata['name']} to {NODE_NAME}",
                "default-scheduler",
            )
        return bound

    def _decide(self, pod: JsonObject) -> tuple[bool, float | None]:
        """Whether the pod is ready now; if not, when the policy makes it so (loop time)."""
        already = _pod_ready(pod)
        deployment = self._owning_deployment(pod)
        if deployment is not None:
            metadata = _meta(deployment)
            override = self._policy.override(metadata["namespace"], metadata["name"])
            if override is not None:
                return override, None
            # The kubelet may get here before the deployment controller after a restart.
            self._policy.observe_generation(deployment)
            due, ready_at = self._policy.deployment_due(metadata["namespace"], metadata["name"])
        else:
            due, ready_at = self._policy.pod_due(str(_meta(pod)["uid"]))
        return already or due, ready_at

    def _owning_deployment(self, pod: JsonObject) -> JsonObject | None:
        namespace = str(_meta(pod).get("namespace", ""))
        reference = _controller_ref(pod)
        if reference is None or reference.get("kind") != "ReplicaSet":
            return None
        replica_set = self._ctx.get(REPLICASETS, namespace, str(reference.get("name")))
        if replica_set is None or _meta(replica_set).get("uid") != reference.get("uid"):
            return None
        owner = _controller_ref(replica_set)
        if owner is None or owner.get("kind") != "Deployment":
            return None
        deployment = self._ctx.get(DEPLOYMENTS, namespace, str(owner.get("name")))
        if deployment is None or _meta(deployment).get("uid") != owner.get("uid"):
            return None
        return deployment

    def _allocate_ip(self) -> str:
        address = str(ipaddress.IPv4Address(_FIRST_POD_IP + self._next_ip % 65000))
        self._next_ip += 1
        return address


def _replace_status(status: JsonObject) -> Callable[[JsonObject], bool]:
    def change(obj: JsonObject) -> bool:
        obj["status"] = status
        return True

    return change


# ------------------------------------------------------------------------------------------ the facade


class Controllers:
    """Everything kube-controller-manager (and a kubelet) would do in the emulated cluster."""

    def __init__(self, cluster: Cluster, settings: EmulatorSettings, root_ca_pem: str | None = None) -> None:
        self.cluster = cluster
        self.settings = settings
        self._queue = WorkQueue()
        self._ctx = _Context(cluster, self._queue)
        self._policy = ReadinessPolicy(settings.workload_ready_after, self._queue)
        self.garbage_collector = GarbageCollector(self._ctx)
        self.namespaces = NamespaceController(self._ctx)
        # One CA per emulator, as a cluster has one (the API's, when it serves TLS); it outlives stop() and start().
        self.root_ca_pem = root_ca_pem or ClusterCa.create().cert_pem
        self.service_accounts = ServiceAccountController(self._ctx)
        self.root_ca = RootCaPublisher(self._ctx, self.root_ca_pem)
        self.kubernetes_service = KubernetesServiceController(self._ctx)
        self.crds = CrdController(self._ctx)
        self.deployments = DeploymentController(self._ctx, self.garbage_collector, self._policy, settings.simulate_pods)
        self.replica_sets = ReplicaSetController(self._ctx, self.garbage_collector)
        self.kubelet = Kubelet(self._ctx, self._policy)
        self._observers: list[Callable[[Change], None]] = [
            self.garbage_collector.observe,
            self.namespaces.observe,
            self.service_accounts.observe,
            self.root_ca.observe,
            self.kubernetes_service.observe,
            self.crds.observe,
            self.deployments.observe,
        ]
        if settings.simulate_pods:
            self._observers += [self.replica_sets.observe, self.kubelet.observe]
        self._handlers: dict[str, Callable[..., None]] = {
            "gc": self.garbage_collector.attempt_to_delete,
            "orphan": self.garbage_collector.attempt_to_orphan,
            "namespace": self.namespaces.sync,
            "serviceaccount": self.service_accounts.sync,
            "root-ca": self.root_ca.sync,
            "kubernetes-service": self.kubernetes_service.sync,
            "crd": self.crds.sync,
            "deployment": self.deployments.sync,
            "replicaset": self.replica_sets.sync,
            "pod": self.kubelet.sync,
        }
        cluster.store.subscribe(self._observe)

    def start(self) -> None:
        """Start the worker (call inside the running loop); everything already stored is reconciled first.

        What any running cluster has (the Service `kubernetes`, each namespace's ServiceAccount `default`
        and ConfigMap `kube-root-ca.crt`) is there when this returns.
        """
        if self._queue.running:
            return
        # Rebuilt from what is stored now: changes made while stopped were not observed.
        self.garbage_collector.reset()
        self.crds.reset()
        self._ctx.terminating_namespaces.clear()
        self._bootstrap()
        self._queue.start(self._handle)
        seen: set[StorageKey] = set()
        for rtype in self.cluster.registry:
            if rtype.storage_key in seen:
                continue
            seen.add(rtype.storage_key)
            for obj in self.cluster.store.all_objects(rtype.storage_key):
                namespace = str(_meta(obj).get("namespace") or "")
                rv = int(_meta(obj).get("resourceVersion") or 0)
                self._observe(Change(ADDED, rtype.storage_key, namespace, rv, obj))

    def _bootstrap(self) -> None:
        # Before the worker starts, so the observers see these objects once, with everything stored.
        self.kubernetes_service.sync()
        for namespace in self._ctx.objects(NAMESPACES):
            name = str(_meta(namespace)["name"])
            self.service_accounts.sync(name)
            self.root_ca.sync(name)

    async def stop(self) -> None:
        await self._queue.stop()

    async def wait_idle(self) -> None:
        """Wait until every queued reconcile step has run (delayed ones, like readiness timers, excepted)."""
        await self._queue.wait_idle()

    def set_workload_ready(self, namespace: str, name: str, ready: bool = True) -> None:
        """Decide a Deployment's readiness (and its pods'), overriding `workload_ready_after` for it.

        Call on the emulator's loop thread.
        """
        self._policy.set_override(namespace, name, ready)
        self._queue.add(("deployment", namespace, name))
        deployment = self._ctx.get(DEPLOYMENTS, namespace, name)
        if deployment is None or not self.settings.simulate_pods:
            return
        for replica_set in self.garbage_collector.controlled(_meta(deployment)["uid"], REPLICASETS):
            for pod in self.garbage_collector.controlled(replica_set.uid, PODS):
                self._queue.add(("pod", pod.namespace, pod.name))

    def _observe(self, change: Change) -> None:
        if not self._queue.running:
            return
        for observe in self._observers:
            observe(change)

    def _handle(self, item: WorkItem) -> None:
        self._handlers[item[0]](*item[1:])
