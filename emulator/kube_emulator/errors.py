"""Kubernetes `Status` errors, shaped exactly as kube-apiserver sends them."""

from __future__ import annotations

from typing import Any

from .resources import JsonObject

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error the API answers with a `Status` body."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: JsonObject | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> JsonObject:
        body: JsonObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(name: str, group: str, plural: str, causes: list[JsonObject] | None = None) -> JsonObject:
    details: JsonObject = {"kind": plural}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if causes:
        details["causes"] = causes
    return details


def _resource(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiError:
    return ApiError(404, f'{_resource(group, plural)} "{name}" not found', "NotFound", _details(name, group, plural))


def already_exists(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        409, f'{_resource(group, plural)} "{name}" already exists', "AlreadyExists", _details(name, group, plural)
    )


def conflict(group: str, plural: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {_resource(group, plural)} "{name}": {why}',
        "Conflict",
        _details(name, group, plural),
    )


def invalid(kind: str, group: str, plural: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """`causes` are (reason, field path, message), e.g. ("FieldValueRequired", "spec.x", "Required value")."""
    rendered = ", ".join(f"{path}: {message}" for _, path, message in causes)
    details = _details(name, group, kind, [{"reason": r, "field": f, "message": m} for r, f, m in causes])
    details["kind"] = kind
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(422, f'{qualified} "{name}" is invalid: {rendered}', "Invalid", details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")


def forbidden(message: str, group: str = "", plural: str = "", name: str = "") -> ApiError:
    return ApiError(403, message, "Forbidden", _details(name, group, plural) if plural else None)


def gone(message: str) -> ApiError:
    return ApiError(410, message, "Expired")


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, message, "MethodNotAllowed")


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, f"the body of the request was in an unknown format - accepted media types include: "
                    f"application/json-patch+json, application/merge-patch+json, "
                    f"application/strategic-merge-patch+json (got {content_type!r})", "UnsupportedMediaType")


def status_success(details: Any = None) -> JsonObject:
    body: JsonObject = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details is not None:
        body["details"] = details
    return body
