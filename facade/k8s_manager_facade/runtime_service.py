"""`runtime.RuntimeService`: Create and RuntimeStatus, thin over runtime_requests, status_hub and errors.

Create writes a Runtime and returns; the operator does the rest. RuntimeStatus waits, on the shared watch, until
the operator reports the Runtime Ready. Every failure is a gRPC status with a message naming what went wrong and
never a credential value.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from k8s_manager_api.errors import AlreadyExists, KubeError, NotFound
from k8s_manager_api.kube import DELETED, KubeApi
from k8s_manager_api.names import RUNTIMES

from .config import FacadeConfig
from .errors import GrpcError, grpc_error
from .generated import runtime_pb2, runtime_pb2_grpc
from .log_fields import rpc_fields
from .runtime_requests import (
    InvalidRequestError,
    build_runtime,
    differing_fields,
    validate_create,
    validate_status,
)
from .status_hub import Assessment, HubStoppedError, RuntimeStatusHub, Verdict, assess

log = logging.getLogger(__name__)

STARTED = "STARTED"  # the original's only RuntimeStatus reply
# A Runtime deleted between a create's AlreadyExists and the read that follows is created again, this often.
CREATE_ATTEMPTS = 3
# RuntimeStatus answers DEADLINE_EXCEEDED itself this long before the client's deadline (at most a tenth of the
# time it has), so that the client gets the reason rather than a bare deadline.
DEADLINE_MARGIN = 1.0


class RpcFailedError(Exception):
    """Ends a call with this gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def from_kube(cls, error: KubeError, action: str) -> RpcFailedError:
        mapped: GrpcError = grpc_error(error, action)
        return cls(mapped.code, mapped.message)


@dataclass(frozen=True)
class WaitBudget:
    seconds: float
    server_limited: bool  # the server's maximum, not the client's deadline, is what ends the wait


def wait_budget(client_remaining: float | None, server_maximum: float) -> WaitBudget:
    """How long RuntimeStatus may wait: the client's deadline less a margin, at most the server's maximum."""
    if client_remaining is None:
        return WaitBudget(server_maximum, server_limited=True)
    client_budget = max(client_remaining - min(DEADLINE_MARGIN, client_remaining / 10), 0.0)
    if client_budget >= server_maximum:
        return WaitBudget(server_maximum, server_limited=True)
    return WaitBudget(client_budget, server_limited=False)


class RuntimeServicer(runtime_pb2_grpc.RuntimeServiceServicer):
    def __init__(self, kube: KubeApi, hub: RuntimeStatusHub, config: FacadeConfig) -> None:
        self._kube = kube
        self._hub = hub
        self._config = config

    async def Create(self, request: runtime_pb2.Request, context: Any) -> runtime_pb2.Response:  # noqa: N802
        try:
            await self._create(request)
        except RpcFailedError as failure:
            await abort(context, "Create", failure, runtime=request.runtime.namespace)
        return runtime_pb2.Response(message=f"Runtime '{request.runtime.name}' created")

    async def RuntimeStatus(  # noqa: N802
        self, request: runtime_pb2.Request, context: Any
    ) -> runtime_pb2.RuntimeStatusResponse:
        try:
            await self._wait_until_ready(
                request, wait_budget(context.time_remaining(), self._config.runtime_status_timeout)
            )
        except RpcFailedError as failure:
            await abort(context, "RuntimeStatus", failure, runtime=request.runtime.namespace)
        return runtime_pb2.RuntimeStatusResponse(Status=STARTED)

    # ------------------------------------------------------------------------------------------ Create

    async def _create(self, request: runtime_pb2.Request) -> None:
        """Create the Runtime, or confirm that the same one exists (idempotent, as a retried call needs)."""
        try:
            desired = build_runtime(validate_create(request), self._config)
        except InvalidRequestError as error:
            raise RpcFailedError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
        name = desired["metadata"]["name"]
        action = f"cannot create Runtime {name!r}"
        for _ in range(CREATE_ATTEMPTS):
            try:
                await self._kube.create(RUNTIMES, desired)
                log.info(
                    "Runtime %r created (display name %r)",
                    name,
                    desired["spec"]["displayName"],
                    extra=rpc_fields("Create", grpc.StatusCode.OK, runtime=name),
                )
                return
            except AlreadyExists:
                pass
            except KubeError as error:
                raise RpcFailedError.from_kube(error, action) from None
            try:
                existing = await self._kube.get(RUNTIMES, name)
            except NotFound:
                continue  # deleted in between: create it again
            except KubeError as error:
                raise RpcFailedError.from_kube(error, action) from None
            self._confirm_same(existing, desired)
            log.info(
                "Runtime %r already exists as requested",
                name,
                extra=rpc_fields("Create", grpc.StatusCode.OK, runtime=name),
            )
            return
        raise RpcFailedError(grpc.StatusCode.ABORTED, f"{action}: it keeps being deleted and created again; retry")

    @staticmethod
    def _confirm_same(existing: dict[str, Any], desired: dict[str, Any]) -> None:
        name = desired["metadata"]["name"]
        if (existing.get("metadata") or {}).get("deletionTimestamp"):
            raise RpcFailedError(
                grpc.StatusCode.ALREADY_EXISTS,
                f"Runtime {name!r} already exists and is being deleted; create it again once it is gone",
            )
        differences = differing_fields(existing, desired)
        if differences:
            raise RpcFailedError(
                grpc.StatusCode.ALREADY_EXISTS,
                f"Runtime {name!r} already exists with a different spec (differs in {', '.join(differences)})",
            )

    # ------------------------------------------------------------------------------------ RuntimeStatus

    async def _wait_until_ready(self, request: runtime_pb2.Request, budget: WaitBudget) -> None:
        try:
            name = validate_status(request)
        except InvalidRequestError as error:
            raise RpcFailedError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
        last = Assessment(Verdict.WAITING, "its state has not been read yet")
        try:
            async with asyncio.timeout(budget.seconds), self._hub.subscribe(name) as changes:
                # Subscribed first, read second: no change after the read can be missed.
                runtime = changes.current or await self._read(name)
                while True:
                    last = assess(runtime)
                    if last.verdict is Verdict.READY:
                        return
                    if last.verdict is Verdict.FAILED:
                        raise RpcFailedError(
                            grpc.StatusCode.FAILED_PRECONDITION, f"Runtime {name!r} cannot become ready: {last.detail}"
                        )
                    event = await changes.next()
                    if event.type == DELETED:
                        raise RpcFailedError(
                            grpc.StatusCode.NOT_FOUND, f"Runtime {name!r} was deleted while waiting for it"
                        )
                    runtime = event.object
        except HubStoppedError:
            raise RpcFailedError(
                grpc.StatusCode.UNAVAILABLE, f"the facade is shutting down; Runtime {name!r}: {last.detail}"
            ) from None
        except TimeoutError:
            limit = " (the server's limit, KRE_RUNTIME_STATUS_TIMEOUT)" if budget.server_limited else ""
            raise RpcFailedError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"Runtime {name!r} is not ready after {budget.seconds:.1f} s{limit}: {last.detail}",
            ) from None

    async def _read(self, name: str) -> dict[str, Any]:
        try:
            return await self._kube.get(RUNTIMES, name)
        except NotFound:
            raise RpcFailedError(grpc.StatusCode.NOT_FOUND, f"Runtime {name!r} does not exist") from None
        except KubeError as error:
            raise RpcFailedError.from_kube(error, f"cannot read Runtime {name!r}") from None


async def abort(
    context: Any, method: str, failure: RpcFailedError, *, runtime: str | None = None, version: str | None = None
) -> NoReturn:
    """Log the failure (one line, naming the runtime and version it concerns) and end the call with it."""
    fields = rpc_fields(method, failure.code, runtime=runtime, version=version)
    log.info("%s failed: %s %s", method, failure.code.name, failure.message, extra=fields)
    await context.abort(failure.code, failure.message)
    raise AssertionError("context.abort returned")  # it raises; this keeps the type checker honest
