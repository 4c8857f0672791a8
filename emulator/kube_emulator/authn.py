"""Bearer-token authentication, as kube-apiserver does it with anonymous requests enabled (its default), and the
user a request impersonates (Impersonate-User and Impersonate-Group headers).

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


@dataclass(frozen=True)
class Impersonation:
    """Who a request asks to act as, and the user it then runs as.

    `checks` are what the legacy `impersonate` verb must allow, as (resource, namespace, name) in the core group:
    the ServiceAccount or User, then each Group. `mode` is the constrained impersonation mode that applies
    ("user-info", "serviceaccount", or "" for none): its `impersonate:<mode>` verb on the same, in
    authentication.k8s.io, and `impersonate-on:<mode>:<verb>` on what the request does.
    """

    checks: tuple[tuple[str, str, str], ...]
    mode: str
    user: User


def impersonation(user_header: str | None, group_headers: Sequence[str]) -> Impersonation | None:
    """The impersonation the headers ask for (None: none), as kube-apiserver 1.36's impersonation filter reads them.

    Raises ValueError (a 400) for groups without a user. A ServiceAccount's username gets its groups unless some
    are asked for; every user but system:anonymous is then in system:authenticated.
    """
    name = (user_header or "").strip()
    groups = [g for g in group_headers if g]
    if not name:
        if groups:
            listed = ", ".join('"' + g.replace("\\", "\\\\").replace('"', '\\"') + '"' for g in groups)
            wanted = f'user.DefaultInfo{{Name:"", UID:"", Groups:[]string{{{listed}}}, Extra:map[string][]string(nil)}}'
            raise ValueError(f"requested &{wanted} without impersonating a user name")
        return None
    checks: list[tuple[str, str, str]] = []
    parts = name.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"] and parts[2] and parts[3]:
        checks.append(("serviceaccounts", parts[2], parts[3]))
        member = list(groups) or ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}"]
        mode = "" if groups else "serviceaccount"  # (the serviceaccount mode takes a bare username only)
    else:
        checks.append(("users", "", name))
        member = list(groups)
        mode = "" if name.startswith("system:node:") else "user-info"  # (no node modes here)
    checks.extend(("groups", "", group) for group in groups)
    if name == ANONYMOUS.name:
        if UNAUTHENTICATED not in member:
            member.append(UNAUTHENTICATED)
    elif AUTHENTICATED not in member and UNAUTHENTICATED not in member:
        member.append(AUTHENTICATED)
    return Impersonation(tuple(checks), mode, User(name, tuple(member)))
