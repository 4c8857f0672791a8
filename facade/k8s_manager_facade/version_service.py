"""`version.VersionService`: Start, Stop, Publish, Unpublish, UpdateConfig, thin over version_requests and the hub.

Every call validates its request, checks that the runtime exists, writes the desired state into the RuntimeVersion
(read, decide, write conditionally on what was read; a conflict reads again, a bounded number of times) and then
waits, on the shared watch of RuntimeVersions, until the operator's status shows the change applied. The wait ends
a moment before the client's deadline (or after a server maximum) with DEADLINE_EXCEEDED saying what is missing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from k8s_manager_api.errors import AlreadyExists, Conflict, KubeError, NotFound
from k8s_manager_api.kube import DELETED, KubeApi
from k8s_manager_api.names import RUNTIME_VERSIONS, RUNTIMES

from .generated import version_pb2, version_pb2_grpc
from .log_fields import rpc_fields
from .runtime_requests import InvalidRequestError
from .runtime_service import RpcFailedError, WaitBudget, abort, wait_budget
from .status_hub import Assessment, HubStoppedError, Subscription, Verdict, VersionStatusHub
from .version_requests import (
    Create,
    PreconditionFailedError,
    Rpc,
    VersionChange,
    assess_version,
    plan_write,
    validate,
)

log = logging.getLogger(__name__)

# The longest a call without a deadline waits (the Admin API's longest deadline, Unpublish's, is 5 min).
VERSION_WAIT_MAXIMUM = 600.0
# A write that keeps conflicting with other writers (the operator's status, kubectl) is read and tried again
# this often before the call gives up with ABORTED.
WRITE_ATTEMPTS = 5


class VersionServicer(version_pb2_grpc.VersionServiceServicer):
    def __init__(self, kube: KubeApi, hub: VersionStatusHub, wait_maximum: float | None = None) -> None:
        """`wait_maximum`: the longest wait of a call without a deadline; default VERSION_WAIT_MAXIMUM."""
        self._kube = kube
        self._hub = hub
        self._wait_maximum = wait_maximum

    async def Start(self, request: version_pb2.Request, context: Any) -> version_pb2.Response:  # noqa: N802
        return await self._serve(Rpc.START, request, context)

    async def Stop(self, request: version_pb2.Request, context: Any) -> version_pb2.Response:  # noqa: N802
        return await self._serve(Rpc.STOP, request, context)

    async def Publish(self, request: version_pb2.Request, context: Any) -> version_pb2.Response:  # noqa: N802
        return await self._serve(Rpc.PUBLISH, request, context)

    async def Unpublish(self, request: version_pb2.Request, context: Any) -> version_pb2.Response:  # noqa: N802
        return await self._serve(Rpc.UNPUBLISH, request, context)

    async def UpdateConfig(self, request: version_pb2.Request, context: Any) -> version_pb2.Response:  # noqa: N802
        return await self._serve(Rpc.UPDATE_CONFIG, request, context)

    async def _serve(self, rpc: Rpc, request: version_pb2.Request, context: Any) -> version_pb2.Response:
        try:
            try:
                change = validate(rpc, request)
            except InvalidRequestError as error:
                raise RpcFailedError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
            maximum = VERSION_WAIT_MAXIMUM if self._wait_maximum is None else self._wait_maximum
            await self._apply(change, wait_budget(context.time_remaining(), maximum))
        except RpcFailedError as failure:
            await abort(context, rpc.value, failure, runtime=request.version.namespace, version=request.version.name)
        return version_pb2.Response(message=change.reply)

    async def _apply(self, change: VersionChange, budget: WaitBudget) -> None:
        """Write the change and wait until the operator reports it applied, all within `budget`."""
        last = Assessment(Verdict.WAITING, "the RuntimeVersion has not been written yet")
        try:
            async with asyncio.timeout(budget.seconds):
                await self._check_runtime(change.namespace)
                # Subscribed before the write: no status written after it can be missed.
                async with self._hub.subscribe(change.name, change.namespace) as changes:
                    written = await self._write(change)
                    metadata = written.get("metadata") or {}
                    generation, uid = int(metadata.get("generation") or 0), str(metadata.get("uid") or "")
                    version = written
                    while True:
                        last = assess_version(version, generation, change.goal)
                        if last.verdict is Verdict.READY:
                            log.info(
                                "%s of version %r in %r: generation %d %s",
                                change.rpc.value,
                                change.name,
                                change.namespace,
                                generation,
                                last.detail,
                                extra=rpc_fields(
                                    change.rpc.value, grpc.StatusCode.OK, runtime=change.namespace, version=change.name
                                ),
                            )
                            return
                        if last.verdict is Verdict.FAILED:
                            raise RpcFailedError(
                                grpc.StatusCode.FAILED_PRECONDITION,
                                f"Version {change.name!r} cannot be {change.goal.value}: {last.detail}",
                            )
                        version = await self._next_state(changes, uid, change)
        except HubStoppedError:
            raise RpcFailedError(
                grpc.StatusCode.UNAVAILABLE, f"the facade is shutting down; version {change.name!r}: {last.detail}"
            ) from None
        except TimeoutError:
            limit = " (the server's limit for calls without a deadline)" if budget.server_limited else ""
            raise RpcFailedError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"{change.rpc.value} of version {change.name!r} in namespace {change.namespace!r} is not "
                f"{change.goal.value} after {budget.seconds:.1f} s{limit}: {last.detail}",
            ) from None

    async def _check_runtime(self, namespace: str) -> None:
        """A version lives in its runtime's namespace, named like the Runtime."""
        try:
            await self._kube.get(RUNTIMES, namespace)
        except NotFound:
            raise RpcFailedError(
                grpc.StatusCode.NOT_FOUND,
                f"version.namespace: there is no runtime with the namespace {namespace!r} (no Runtime {namespace!r})",
            ) from None
        except KubeError as error:
            raise RpcFailedError.from_kube(error, f"cannot read Runtime {namespace!r}") from None

    async def _write(self, change: VersionChange) -> dict[str, Any]:
        """Read, decide, write conditionally on what was read; the RuntimeVersion as written (or as it was)."""
        name, namespace = change.name, change.namespace
        action = f"cannot write RuntimeVersion {name!r} in namespace {namespace!r}"
        for _ in range(WRITE_ATTEMPTS):
            try:
                existing = await self._kube.find(RUNTIME_VERSIONS, name, namespace)
            except KubeError as error:
                raise RpcFailedError.from_kube(error, f"cannot read RuntimeVersion {name!r}") from None
            try:
                plan = plan_write(change, existing)
            except PreconditionFailedError as error:
                raise RpcFailedError(grpc.StatusCode.FAILED_PRECONDITION, str(error)) from None
            if plan is None:
                assert existing is not None
                return existing
            try:
                if isinstance(plan, Create):
                    return await self._kube.create(RUNTIME_VERSIONS, plan.body, namespace)
                return await self._kube.patch(RUNTIME_VERSIONS, name, plan.body, namespace)
            except (AlreadyExists, Conflict):
                continue  # someone else wrote it in between: read it again
            except NotFound as error:
                if isinstance(plan, Create):  # the namespace is missing
                    raise RpcFailedError.from_kube(error, action) from None
                continue  # deleted in between: read again
            except KubeError as error:
                raise RpcFailedError.from_kube(error, action) from None
        raise RpcFailedError(
            grpc.StatusCode.ABORTED,
            f"{action}: it kept changing while being written ({WRITE_ATTEMPTS} attempts); retry",
        )

    @staticmethod
    async def _next_state(changes: Subscription, uid: str, change: VersionChange) -> dict[str, Any]:
        """The next state of the RuntimeVersion that was written (events of other incarnations are skipped)."""
        while True:
            event = await changes.next()
            if str((event.object.get("metadata") or {}).get("uid") or "") != uid:
                continue
            if event.type == DELETED:
                raise RpcFailedError(
                    grpc.StatusCode.NOT_FOUND,
                    f"RuntimeVersion {change.name!r} in namespace {change.namespace!r} was deleted while waiting",
                )
            return event.object
