"""Errors of the Kubernetes API, one class per kind of answer, built from the API's `Status` body.

`str(error)` is the Status message. The API builds some messages from the object's values (a 422 on a Secret
may quote the rejected value), so anything that may concern Secrets or credentials — logs, Events, gRPC
errors — uses `error.safe_message`: status, reason, kind/name and the names of the fields at fault, no values.
"""

# The classes are named as Kubernetes names the reasons (NotFound, Conflict…), not with an Error suffix.
# ruff: noqa: N818

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# A body that is not a Status (a proxy's error page) is cut to this many characters in the message.
_MAX_PLAIN_BODY = 500


class KubeError(Exception):
    """An error answer of the Kubernetes API (or no answer at all: `Unreachable`, status 0)."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        kind: str = "",
        group: str = "",
        name: str = "",
        causes: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.kind = kind  # details.kind: the resource (plural) for most errors, the Kind for 422
        self.group = group
        self.name = name
        self.causes: list[dict[str, Any]] = causes or []
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    @property
    def fields(self) -> list[str]:
        """The fields the causes name, each once, in order."""
        return list(dict.fromkeys(str(cause["field"]) for cause in self.causes if cause.get("field")))

    @property
    def safe_message(self) -> str:
        """What went wrong without any value of the object: fit for logs, Events and gRPC errors."""
        text = f"{self.status} {self.reason}" if self.reason else str(self.status)
        if self.kind:
            qualified = f"{self.kind}.{self.group}" if self.group else self.kind
            text += f" on {qualified}" + (f' "{self.name}"' if self.name else "")
        if self.fields:
            text += " (fields: " + ", ".join(self.fields) + ")"
        return text


class NotFound(KubeError):
    """404."""


class AlreadyExists(KubeError):
    """409 with reason AlreadyExists: a create found the name taken."""


class Conflict(KubeError):
    """409 otherwise: a stale resourceVersion, a failed precondition, an operation that cannot be fulfilled."""


class Invalid(KubeError):
    """422: the object was rejected; `causes` say which fields and why."""


class Forbidden(KubeError):
    """403: RBAC, or the API's own refusals (a terminating namespace, a protected object)."""


class Unauthorized(KubeError):
    """401: no valid credentials."""


class Gone(KubeError):
    """410: the resourceVersion (or continue token) is older than the API still remembers; list again."""


class TooManyRequests(KubeError):
    """429: throttled; `retry_after` says when to come back."""


class ServerError(KubeError):
    """5xx."""


class Unreachable(KubeError):
    """No answer: connection refused or reset, TLS failure, timeout. Status 0.

    The message is built here from the address and the transport's error, never from an object, so it is safe.
    """

    def __init__(self, message: str, *, reason: str = "Unreachable") -> None:
        super().__init__(0, reason, message)

    @property
    def safe_message(self) -> str:
        return self.message


def error_class(status: int, reason: str) -> type[KubeError]:
    """The class for an HTTP status (and, for 409, the Status reason)."""
    if status == 409:
        return AlreadyExists if reason == "AlreadyExists" else Conflict
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, KubeError)


_BY_STATUS: Mapping[int, type[KubeError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    410: Gone,
    422: Invalid,
    429: TooManyRequests,
}


def from_status(status: dict[str, Any], http_status: int = 0, retry_after: float | None = None) -> KubeError:
    """The error a `Status` object describes (from an error answer's body, or a watch's ERROR event).

    The Status' own `code` wins over the HTTP status (a watch's ERROR event comes in a 200 stream);
    `retry_after` (the Retry-After header) wins over `details.retryAfterSeconds`.
    """
    code = _int(status.get("code")) or http_status
    reason = str(status.get("reason") or "")
    details = status.get("details")
    if not isinstance(details, dict):
        details = {}
    raw_causes = details.get("causes")
    causes = [dict(cause) for cause in raw_causes if isinstance(cause, dict)] if isinstance(raw_causes, list) else []
    if retry_after is None and _int(details.get("retryAfterSeconds")):
        retry_after = float(details["retryAfterSeconds"])
    return error_class(code, reason)(
        code,
        reason,
        str(status.get("message") or reason or f"HTTP {code}"),
        kind=str(details.get("kind") or ""),
        group=str(details.get("group") or ""),
        name=str(details.get("name") or ""),
        causes=causes,
        retry_after=retry_after,
    )


def from_response(http_status: int, body: bytes, retry_after_header: str | None = None) -> KubeError:
    """The error an HTTP error answer carries; a body that is not a Status (a proxy's page) becomes the message."""
    retry_after = _seconds(retry_after_header)
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("kind") == "Status":
        return from_status(parsed, http_status, retry_after)
    text = body.decode("utf-8", "replace").strip()[:_MAX_PLAIN_BODY]
    reason = _PLAIN_REASONS.get(http_status, "")
    message = text or f"HTTP {http_status}" + (f" {reason}" if reason else "")
    return error_class(http_status, reason)(http_status, reason, message, retry_after=retry_after)


# Reasons kube-apiserver gives these codes, for answers that come without a Status (from a proxy, say).
_PLAIN_REASONS: Mapping[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _seconds(header: str | None) -> float | None:
    """Retry-After in seconds; the HTTP-date form is not used by kube-apiserver and is ignored."""
    if not header:
        return None
    try:
        seconds = float(header.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
