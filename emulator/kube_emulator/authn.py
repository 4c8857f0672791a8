"""Bearer-token authentication, as kube-apiserver does it with anonymous requests enabled (its default).

Tokens are secrets: they live only in the identity table and are never logged or put in an error.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
MASTERS = "system:masters"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]


ANONYMOUS = User("system:anonymous", (UNAUTHENTICATED,))


def service_account_username(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


class Identities:
    """Bearer token -> user, for the tokens this emulator handed out."""

    def __init__(self) -> None:
        self._users: dict[str, User] = {}

    def add(self, username: str, groups: Sequence[str] = ()) -> str:
        """A new token for `username`; like the apiserver, every authenticated user is in system:authenticated."""
        token = secrets.token_urlsafe(32)
        all_groups = tuple(groups) if AUTHENTICATED in groups else (*groups, AUTHENTICATED)
        self._users[token] = User(username, all_groups)
        return token

    def add_service_account(self, namespace: str, name: str) -> str:
        """A token for the ServiceAccount NAMESPACE/NAME, with the groups a projected token's user has."""
        groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")
        return self.add(service_account_username(namespace, name), groups)

    def authenticate(self, authorization: str | None) -> User | None:
        """The user behind an Authorization header; None for an unknown bearer token (401).

        As kube-apiserver's bearer token authenticator: no header, another scheme than `Bearer`, or an empty
        token is no credential at all, and the request goes on as `system:anonymous`.
        """
        header = (authorization or "").strip()
        if not header:
            return ANONYMOUS
        parts = header.split(" ", 2)
        if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
            return ANONYMOUS
        return self._users.get(parts[1])
