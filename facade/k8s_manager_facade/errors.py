"""Kubernetes API errors as gRPC status codes (architecture §4).

Transient errors (429, 5xx, no answer) reach this mapping only once the API adapter's own retries are spent.

Messages are built from `KubeError.safe_message` only (status, reason, resource, name, field paths), never from
the API's own message, which may quote an object's values (credentials included).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from k8s_manager_api import errors as kube

_CODES: tuple[tuple[type[kube.KubeError], grpc.StatusCode], ...] = (
    (kube.NotFound, grpc.StatusCode.NOT_FOUND),
    (kube.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (kube.Conflict, grpc.StatusCode.ABORTED),
    (kube.Gone, grpc.StatusCode.ABORTED),
    (kube.Invalid, grpc.StatusCode.INVALID_ARGUMENT),
    (kube.Forbidden, grpc.StatusCode.PERMISSION_DENIED),
    # The facade's own credentials were refused; gRPC's analogue of HTTP 401.
    (kube.Unauthorized, grpc.StatusCode.UNAUTHENTICATED),
    (kube.TooManyRequests, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (kube.ServerError, grpc.StatusCode.UNAVAILABLE),
    (kube.Unreachable, grpc.StatusCode.UNAVAILABLE),
)


@dataclass(frozen=True)
class GrpcError:
    code: grpc.StatusCode
    message: str


def status_code(error: kube.KubeError) -> grpc.StatusCode:
    """The gRPC code for a Kubernetes error; an answer the facade did not expect (400, 405, 415) is INTERNAL."""
    for error_type, code in _CODES:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.INTERNAL


def grpc_error(error: kube.KubeError, action: str) -> GrpcError:
    """`action` says what the facade was doing (`cannot create Runtime "kre-demo"`); no value of any object."""
    message = f"{action}: {error.safe_message}"
    if isinstance(error, kube.Unreachable):
        message = f"{action}: the Kubernetes API is unreachable ({error.safe_message})"
    elif isinstance(error, kube.Forbidden | kube.Unauthorized):
        message += " (check the facade's service account and its RBAC)"
    return GrpcError(status_code(error), message)
