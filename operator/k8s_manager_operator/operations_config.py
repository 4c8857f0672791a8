"""Settings for running the operator in production: its metrics endpoint and its peering lifetime.

Read from environment variables, which the flags of `k8s-manager operator` set, so that `kopf run -m
k8s_manager_operator.handlers` is configured the same way. Kept apart from `operations` so that the command line
can check the flags without importing kopf.

| variable | flag | default | meaning |
|---|---|---|---|
| `KRE_OPERATOR_METRICS_PORT` | `--metrics-port` | `0` | serve metrics at `http://HOST:PORT/metrics` (0: off) |
| `KRE_OPERATOR_METRICS_HOST` | `--metrics-host` | `0.0.0.0` | address the metrics endpoint listens on |
| `KRE_OPERATOR_PEERING_LIFETIME` | `--peering-lifetime` | `60` | seconds a replica's peering record stays valid |

The metrics endpoint listens on every interface by default: it is off unless a port is given, and a port given in
a pod is meant for Prometheus, which scrapes the pod's address. It shows no object names and no credentials.

With peering, the replica with the highest priority reconciles and the others wait; a replica that stops renewing
its record (killed, frozen, cut off) is presumed gone once its lifetime has passed, and the next one takes over.
kopf renews the record every `lifetime` minus 5 to 10 seconds, but at least once a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .config import read_setting

METRICS_PORT_VARIABLE: Final = "KRE_OPERATOR_METRICS_PORT"
METRICS_HOST_VARIABLE: Final = "KRE_OPERATOR_METRICS_HOST"
PEERING_LIFETIME_VARIABLE: Final = "KRE_OPERATOR_PEERING_LIFETIME"
DEFAULT_METRICS_HOST: Final = "0.0.0.0"  # see the module's docstring
DEFAULT_PEERING_LIFETIME: Final = 60  # kopf's own default


def parse_port(text: str) -> int:
    try:
        port = int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r} is out of range: expected a port from 1 to 65535, or 0 for none")
    return port


def parse_host(text: str) -> str:
    host = text.strip()
    if not host or any(character.isspace() for character in host):
        raise ValueError(f"{text!r} is not a host name or address")
    return host


def parse_lifetime(text: str) -> int:
    try:
        seconds = int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number of seconds") from None
    if seconds < 1:
        raise ValueError(f"{text!r} is out of range: expected at least 1 second")
    return seconds


@dataclass(frozen=True)
class OperationsConfig:
    metrics_port: int = 0
    metrics_host: str = DEFAULT_METRICS_HOST
    peering_lifetime: int = DEFAULT_PEERING_LIFETIME

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OperationsConfig:
        """Read the settings; raises ConfigError (a ValueError) naming the variable at fault."""
        defaults = cls()
        port = read_setting(env, METRICS_PORT_VARIABLE, parse_port)
        lifetime = read_setting(env, PEERING_LIFETIME_VARIABLE, parse_lifetime)
        return cls(
            metrics_port=defaults.metrics_port if port is None else port,
            metrics_host=read_setting(env, METRICS_HOST_VARIABLE, parse_host) or defaults.metrics_host,
            peering_lifetime=defaults.peering_lifetime if lifetime is None else lifetime,
        )
