"""The Runtime reconciler: read, compute the desired objects, apply, write status.

Level-based: every call looks at the Runtime and its children as they are now and converges them, so it is
safe to run at any time, any number of times, and after the operator was killed at any point. Everything
Runtime-specific is computed by the pure modules next to this one; this module only does the I/O.

`queue.ReconcileQueue` stands between the watch events and the reconciler, as client-go's workqueue does: a
burst of events about one Runtime costs one or two reconciles instead of one each (benchmarks/runtimes.py).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from k8s_manager_api import names
from k8s_manager_api.errors import Conflict, KubeError, NotFound
from k8s_manager_api.kube import KubeApi

from ..apply import ensure, write_status
from ..config import OperatorConfig
from ..locks import KeyedLocks
from . import credentials, desired, status
from .validation import validate_runtime

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
# What the reconciler found or made of each child (by kind) while applying; None: not there.
Seen = dict[str, JsonObject | None]


def _now() -> str:
    return status.format_timestamp(datetime.datetime.now(datetime.UTC))


class RuntimeReconciler:
    """Converges Runtimes by name; calls for the same name run one at a time."""

    def __init__(self, api: KubeApi, config: OperatorConfig, now: Callable[[], str] = _now) -> None:
        self._api = api
        self._config = config
        self._now = now
        self._locks: KeyedLocks[str] = KeyedLocks()

    async def reconcile(self, name: str) -> None:
        async with self._locks(name):
            runtime = await self._api.find(names.RUNTIMES, name)
            if runtime is None or runtime["metadata"].get("deletionTimestamp"):
                return  # deletion is the garbage collector's work: every child is owned by the Runtime
            seen: Seen = {}
            if not validate_runtime(runtime):
                runtime = await self._move_inline_credentials(runtime)
                seen = await self._apply_children(runtime)
            await self._write_status(runtime, seen)

    # ------------------------------------------------------------------ credentials

    async def _move_inline_credentials(self, runtime: JsonObject) -> JsonObject:
        """Copy inline credentials into the runtime's Secret, then swap them for a secretRef in the spec."""
        values = credentials.inline_credentials(runtime.get("spec") or {})
        if values is None:
            return runtime
        namespace = await self._ensure_namespace(runtime)
        if namespace is None or status.ownership(namespace, runtime) != "this":
            return runtime  # the status reports why the namespace cannot be used
        await self._ensure(runtime, credentials.credentials_secret(runtime, values))
        patch = credentials.secret_ref_patch(runtime["metadata"]["resourceVersion"])
        scrubbed = credentials.scrub_last_applied(runtime["metadata"].get("annotations"))
        if scrubbed is not None:
            patch["metadata"]["annotations"] = scrubbed
        try:
            moved: JsonObject = await self._api.patch(names.RUNTIMES, desired.runtime_name(runtime), patch)
        except Conflict:
            # Changed since we read it (perhaps new credentials): the next reconcile copies the new values.
            return runtime
        log.info(
            "runtime %s: credentials moved into Secret %s",
            moved["metadata"]["name"],
            credentials.CREDENTIALS_SECRET_NAME,
        )
        return moved

    # ------------------------------------------------------------------ children

    async def _apply_children(self, runtime: JsonObject) -> Seen:
        """Apply the children in creation order; what each is now, as the API answered (read, created or
        patched), for the status to use without reading them again."""
        seen: Seen = {}
        for wanted in desired.desired_objects(runtime, self._config):
            is_namespace = wanted["kind"] == "Namespace"
            actual = seen[wanted["kind"]] = await (
                self._ensure_namespace(runtime) if is_namespace else self._ensure(runtime, wanted)
            )
            if is_namespace and (
                actual is None
                or status.ownership(actual, runtime) != "this"
                or actual["metadata"].get("deletionTimestamp")
            ):
                break  # nothing can go into a namespace that is not (yet) ours
        return seen

    async def _ensure_namespace(self, runtime: JsonObject) -> JsonObject | None:
        """The Namespace and, once it is this Runtime's, the operator's own access to it (before anything else
        goes in: the operator's Secret access and what it grants the runtime operator come from that binding)."""
        namespace = await self._ensure(runtime, desired.namespace(runtime))
        access = desired.operator_access_binding(runtime, self._config)
        if (
            namespace is not None
            and access is not None
            and status.ownership(namespace, runtime) == "this"
            and not namespace["metadata"].get("deletionTimestamp")
        ):
            await self._ensure(runtime, access)
        return namespace

    async def _ensure(self, runtime: JsonObject, wanted: JsonObject) -> JsonObject | None:
        """Create `wanted`, or patch the fields that drifted; never take over someone else's namespace."""

        def may_change(actual: JsonObject) -> bool:
            return wanted["kind"] != "Namespace" or status.ownership(actual, runtime) != "foreign"

        return await ensure(
            self._api,
            desired.resource_of(wanted),
            wanted,
            owner=f"runtime {desired.runtime_name(runtime)}",
            may_change=may_change,
        )

    # ------------------------------------------------------------------ status

    async def _observe(self, runtime: JsonObject, seen: Seen) -> tuple[status.ObservedChildren, list[JsonObject]]:
        """The children (those in `seen` as they were just found or made, the others read), the referenced
        Secrets and the namespace's pods."""
        wanted = {obj["kind"]: obj for obj in desired.desired_objects(runtime, self._config)}

        async def find(kind: str) -> JsonObject | None:
            if kind in seen:
                return seen[kind]
            obj = wanted[kind]
            found: JsonObject | None = await self._api.find(
                desired.resource_of(obj), obj["metadata"]["name"], obj["metadata"].get("namespace")
            )
            return found

        namespace_name = desired.runtime_name(runtime)
        namespace = await find("Namespace")
        usable = namespace is not None and status.ownership(namespace, runtime) == "this"
        secrets: dict[str, JsonObject | None] = {}
        pods: list[JsonObject] = []
        if usable:
            for secret_name in set(credentials.referenced_secrets(runtime.get("spec") or {}).values()):
                secrets[secret_name] = await self._api.find(names.SECRETS, secret_name, namespace_name)
            pods, _ = await self._api.list(names.PODS, namespace_name)
        observed = status.ObservedChildren(
            namespace=namespace,
            service_account=await find("ServiceAccount") if usable else None,
            role=await find("Role") if usable else None,
            role_binding=await find("RoleBinding") if usable else None,
            cluster_role=await find("ClusterRole"),
            cluster_role_binding=await find("ClusterRoleBinding"),
            deployment=await find("Deployment") if usable else None,
            secrets=secrets,
        )
        return observed, pods

    async def _write_status(self, runtime: JsonObject, seen: Seen) -> None:
        observed, pods = await self._observe(runtime, seen)
        new_status = status.compute_status(runtime, observed, pods, self._config, now=self._now())
        if new_status == runtime.get("status"):
            return
        try:
            await write_status(self._api, names.RUNTIMES, desired.runtime_name(runtime), new_status)
        except NotFound:
            return  # deleted meanwhile
        ready = status.find_condition(new_status, status.READY) or {}
        log.info("runtime %s: Ready=%s (%s)", desired.runtime_name(runtime), ready.get("status"), ready.get("reason"))


async def reconcile_safely(reconciler: RuntimeReconciler, name: str) -> bool:
    """Reconcile, logging API errors by their safe message (never object values) instead of raising them;
    False after such an error (the queue's metrics count it as a failure)."""
    try:
        await reconciler.reconcile(name)
    except KubeError as error:
        log.warning("runtime %s: reconcile failed, will retry: %s", name, error.safe_message)
        return False
    return True
