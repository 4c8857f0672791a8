"""Fields of the facade's log lines about RPCs; `k8s-manager --log-format json` writes them as JSON fields.

One line per call that changes something or fails, with what it concerns: `rpc`, `code` and the `runtime`
(the Runtime's name, which is the runtime's namespace) and `version` names. Never a credential or a config value.
"""

from __future__ import annotations

import grpc

# Names come from requests, including invalid ones: a log line carries at most a DNS subdomain's length of each.
MAX_NAME_LENGTH = 253


def rpc_fields(
    rpc: str, code: grpc.StatusCode, *, runtime: str | None = None, version: str | None = None
) -> dict[str, str]:
    """`extra` for a log call about one RPC; empty names are left out."""
    fields = {"rpc": rpc, "code": code.name}
    for key, name in (("runtime", runtime), ("version", version)):
        if name:
            fields[key] = name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH] + "…"
    return fields
