"""Kubernetes `Status` errors, shaped exactly as kube-apiserver sends them."""

from __future__ import annotations

from collections.abc import Sequence

from .resources import JsonObject

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

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
        # An empty reason stays empty: kube-apiserver sends none for some plain errors.
        self.reason = _REASONS.get(code, "Unknown") if reason is None else reason
        self.details = details
        self.headers = headers or {}

    def status(self) -> JsonObject:
        """The Status body, its fields in metav1.Status's order (TypeMeta, ListMeta, status, message, reason,
        details, code), as Go's encoder writes them."""
        body: JsonObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = ordered_details(self.details)
        body["code"] = self.code
        return body


# metav1.StatusDetails and metav1.StatusCause fields, in their Go order.
_DETAILS_ORDER = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")
_CAUSE_ORDER = ("reason", "message", "field")


def ordered_details(details: JsonObject) -> JsonObject:
    """`details` with its fields, and those of its causes, in the order Go's encoder writes them."""

    def ordered(fields: JsonObject, order: tuple[str, ...]) -> JsonObject:
        known = {key: fields[key] for key in order if key in fields}
        return {**known, **{key: value for key, value in fields.items() if key not in known}}

    result = ordered(details, _DETAILS_ORDER)
    if isinstance(result.get("causes"), list):
        result["causes"] = [ordered(c, _CAUSE_ORDER) if isinstance(c, dict) else c for c in result["causes"]]
    return result


def _details(name: str, group: str, plural: str, causes: list[JsonObject] | None = None) -> JsonObject:
    details: JsonObject = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = plural
    if causes:
        details["causes"] = causes
    return details


def _resource(group: str, plural: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> ApiError:
    return ApiError(404, f'{_resource(group, plural)} "{name}" not found', "NotFound", _details(name, group, plural))


def already_exists(group: str, plural: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'{_resource(group, plural)} "{name}" already exists',
        "AlreadyExists",
        _details(name, group, plural),
    )


def conflict(group: str, plural: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {_resource(group, plural)} "{name}": {why}',
        "Conflict",
        _details(name, group, plural),
    )


def invalid(kind: str, group: str, plural: str, name: str, causes: Sequence[tuple[str, str, str]]) -> ApiError:
    """`causes` are (reason, field path, message), e.g. ("FieldValueRequired", "spec.x", "Required value").

    The message lists each distinct error once, bracketed when there are several, as the apiserver does.
    """
    distinct = list(dict.fromkeys(f"{path}: {message}" for _, path, message in causes))
    rendered = distinct[0] if len(distinct) == 1 else "[" + ", ".join(distinct) + "]"
    details = _details(name, group, kind, [{"reason": r, "message": m, "field": f} for r, f, m in causes])
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(422, f'{qualified} "{name}" is invalid: {rendered}', "Invalid", details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")


def forbidden(message: str, group: str = "", plural: str = "", name: str = "") -> ApiError:
    return ApiError(403, message, "Forbidden", _details(name, group, plural) if plural else None)


def gone(message: str) -> ApiError:
    return ApiError(410, message, "Expired")


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    return ApiError(405, message, "MethodNotAllowed")


def unsupported_media_type(custom_resource: bool, for_patch: bool = True) -> ApiError:
    """415 with the media types kube-apiserver lists for the request's kind."""
    if not for_patch:
        accepted = ["application/json", "application/yaml"]
    elif custom_resource:
        accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
    else:
        accepted = [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH]
    return ApiError(
        415,
        "the body of the request was in an unknown format - accepted media types include: " + ", ".join(accepted),
        "UnsupportedMediaType",
    )


def status_success(details: JsonObject | None = None) -> JsonObject:
    body: JsonObject = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details is not None:
        body["details"] = ordered_details(details)
    return body
