"""The facade's configuration: the original k8s-manager's `KRE_*` environment variables, overridable by flags.

Precedence: command-line flag, then environment variable, then default. An empty environment variable
counts as unset. Every value is validated here, so a bad setting stops the process before it serves.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Kubernetes quantities as used for storage sizes: a number with an optional binary or decimal suffix.
STORAGE_QUANTITY = re.compile(r"^(\d+(\.\d+)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
# Docker image tag grammar (distribution/reference).
# Go's strconv.ParseBool, which the original's envconfig used, plus yes/no.
TRUE_WORDS = frozenset({"1", "t", "true", "yes", "y", "on"})
FALSE_WORDS = frozenset({"0", "f", "false", "no", "n", "off"})
# Message sizes: bytes, optionally with a binary suffix.
BYTE_SIZE = re.compile(r"^(\d+)(Ki|Mi|Gi)?$")
BYTE_UNITS = {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
# gRPC's channel arguments are C ints: sizes in bytes and durations in milliseconds stop at 2^31 - 1.
GRPC_INT_MAX = (1 << 31) - 1
MIB = 1 << 20


class ConfigError(ValueError):
    """A setting has an invalid value; the message names the setting and says what is expected."""


@dataclass(frozen=True)
class FacadeConfig:
    host: str = "0.0.0.0"
    port: int = 50051
    prometheus_url: str = "http://localhost:9090"
    # Each Prometheus query (connecting, then waiting for the answer); Prometheus is told the same limit.
    prometheus_timeout: float = 10.0
    # WatchVersion sends a message this often (the original's refreshInterval).
    metrics_refresh_interval: float = 5.0
    base_domain_name: str = "local"
    development_mode: bool = False
    shared_storage_class: str = "standard"
    shared_storage_size: str = "1Gi"
    shutdown_grace_period: float = 10.0
    # Kubeconfig file(s) of the cluster; None: in the cluster, its service account, else ~/.kube/config.
    kubeconfig: str | None = None
    # The longest a RuntimeStatus call waits for its runtime, whatever the client's deadline.
    runtime_status_timeout: float = 600.0
    # Prometheus exposition of the server's own metrics (/metrics); no port: no endpoint. No host: `host`.
    metrics_host: str | None = None
    metrics_port: int | None = None
    # HTTP/2 keepalive (seconds): the server pings an idle connection after keepalive_time and drops it when the
    # ping is not answered within keepalive_timeout; client pings without data closer than min_ping_interval
    # are "too many pings". A connection without calls for max_connection_idle is closed (None: never).
    keepalive_time: float = 60.0
    keepalive_timeout: float = 20.0
    min_ping_interval: float = 10.0
    keepalive_permit_without_calls: bool = True
    max_connection_idle: float | None = None
    # Largest message the server accepts and sends (bytes); larger ones end the call with RESOURCE_EXHAUSTED.
    max_receive_message_size: int = 4 * MIB
    max_send_message_size: int = 16 * MIB
    # TLS from PEM files: certificate chain and key together or not at all; a client CA requires client
    # certificates signed by it (mTLS).
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None

    def __post_init__(self) -> None:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigError(
                "KRE_TLS_CERT_FILE (--tls-cert-file) and KRE_TLS_KEY_FILE (--tls-key-file) go together: "
                "set both for TLS, or neither"
            )
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ConfigError(
                "KRE_TLS_CLIENT_CA_FILE (--tls-client-ca-file) needs TLS: set KRE_TLS_CERT_FILE and KRE_TLS_KEY_FILE"
            )

    @property
    def address(self) -> str:
        """host:port as gRPC expects it (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None


def parse_port(text: str) -> int:
    try:
        port = int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a port number: expected an integer from 0 to 65535") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is out of range: expected an integer from 0 to 65535")
    return port


def parse_host(text: str) -> str:
    host = text.strip().removeprefix("[").removesuffix("]")
    if not host or any(char.isspace() or char == "/" for char in host):
        raise ValueError(f"{text!r} is not a host name or IP address")
    return host


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{text!r} is not a boolean: expected true or false")


def parse_http_url(text: str) -> str:
    url = text.strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} is not an http(s) URL such as http://prometheus-operated:9090")
    return url.rstrip("/")


def parse_dns_subdomain(text: str) -> str:
    name = text.strip()
    if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        raise ValueError(
            f"{text!r} is not a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return name


def parse_storage_size(text: str) -> str:
    size = text.strip()
    if not STORAGE_QUANTITY.match(size):
        raise ValueError(f"{text!r} is not a storage quantity such as 1Gi or 500Mi")
    return size


def parse_seconds(text: str) -> float:
    try:
        seconds = float(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"{seconds} is out of range: expected a non-negative number of seconds")
    return seconds


def parse_positive_seconds(text: str) -> float:
    seconds = parse_seconds(text)
    if seconds == 0:
        raise ValueError("0 is out of range: expected a positive number of seconds")
    return seconds


def parse_grpc_seconds(text: str) -> float:
    """A positive duration that gRPC can take in milliseconds."""
    seconds = parse_positive_seconds(text)
    if seconds * 1000 > GRPC_INT_MAX:
        raise ValueError(f"{seconds:g} is out of range: expected at most {GRPC_INT_MAX // 1000} seconds")
    return seconds


def parse_byte_size(text: str) -> int:
    match = BYTE_SIZE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a size in bytes such as 4194304 or 4Mi (suffixes Ki, Mi, Gi)")
    size = int(match[1]) * BYTE_UNITS[match[2]]
    if not 0 < size <= GRPC_INT_MAX:
        raise ValueError(f"{text.strip()} is out of range: expected 1 byte to {GRPC_INT_MAX} bytes (2Gi - 1)")
    return size


def parse_path(text: str) -> str:
    path = text.strip()
    if not path:
        raise ValueError("expected a file path")
    return path


@dataclass(frozen=True)
class Setting:
    field: str
    env: str
    flag: str
    parse: Callable[[str], object]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "KRE_HOST", "--host", parse_host, "address to listen on"),
    Setting("port", "KRE_PORT", "--port", parse_port, "gRPC port (0 picks a free one)"),
    Setting("prometheus_url", "KRE_PROMETHEUS_URL", "--prometheus-url", parse_http_url, "Prometheus base URL"),
    Setting(
        "prometheus_timeout",
        "KRE_PROMETHEUS_TIMEOUT",
        "--prometheus-timeout",
        parse_positive_seconds,
        "seconds a Prometheus query may take before the metrics call answers UNAVAILABLE",
    ),
    Setting(
        "metrics_refresh_interval",
        "KRE_METRICS_REFRESH_INTERVAL",
        "--metrics-refresh-interval",
        parse_positive_seconds,
        "seconds between two messages of a WatchVersion stream",
    ),
    Setting(
        "base_domain_name",
        "KRE_BASE_DOMAIN_NAME",
        "--base-domain-name",
        parse_dns_subdomain,
        "runtime entrypoints are served at <runtime>.<base domain>",
    ),
    Setting(
        "development_mode",
        "KRE_DEVELOPMENT_MODE",
        "--development-mode",
        parse_bool,
        "create runtimes in development mode",
    ),
    Setting(
        "shared_storage_class",
        "KRE_SHARED_STORAGECLASS",
        "--shared-storage-class",
        parse_dns_subdomain,
        "StorageClass of the runtimes' shared volume",
    ),
    Setting(
        "shared_storage_size",
        "KRE_SHARED_STORAGE_SIZE",
        "--shared-storage-size",
        parse_storage_size,
        "size of the runtimes' shared volume",
    ),
    Setting(
        "shutdown_grace_period",
        "KRE_SHUTDOWN_GRACE_PERIOD",
        "--shutdown-grace-period",
        parse_seconds,
        "seconds in-flight calls get to finish on SIGTERM/SIGINT",
    ),
    Setting(
        "kubeconfig",
        "KUBECONFIG",
        "--kubeconfig",
        parse_path,
        "kubeconfig of the cluster; unset: the pod's service account in a cluster, else ~/.kube/config",
    ),
    Setting(
        "runtime_status_timeout",
        "KRE_RUNTIME_STATUS_TIMEOUT",
        "--runtime-status-timeout",
        parse_positive_seconds,
        "longest wait of a RuntimeStatus call for its runtime to be ready, whatever the client's deadline",
    ),
    Setting(
        "metrics_host",
        "KRE_METRICS_HOST",
        "--metrics-host",
        parse_host,
        "address the Prometheus metrics endpoint listens on; unset: the gRPC address (KRE_HOST)",
    ),
    Setting(
        "metrics_port",
        "KRE_METRICS_PORT",
        "--metrics-port",
        parse_port,
        "port of the Prometheus metrics endpoint (GET /metrics); unset: no endpoint; 0 picks a free one",
    ),
    Setting(
        "keepalive_time",
        "KRE_GRPC_KEEPALIVE_TIME",
        "--grpc-keepalive-time",
        parse_grpc_seconds,
        "seconds without activity on a connection after which the server pings the client",
    ),
    Setting(
        "keepalive_timeout",
        "KRE_GRPC_KEEPALIVE_TIMEOUT",
        "--grpc-keepalive-timeout",
        parse_grpc_seconds,
        "seconds the server waits for the answer to its ping before it closes the connection",
    ),
    Setting(
        "min_ping_interval",
        "KRE_GRPC_MIN_PING_INTERVAL",
        "--grpc-min-ping-interval",
        parse_grpc_seconds,
        "shortest interval between client pings without data; clients pinging more often are disconnected",
    ),
    Setting(
        "keepalive_permit_without_calls",
        "KRE_GRPC_KEEPALIVE_PERMIT_WITHOUT_CALLS",
        "--grpc-keepalive-permit-without-calls",
        parse_bool,
        "keepalive pings on connections without calls are allowed",
    ),
    Setting(
        "max_connection_idle",
        "KRE_GRPC_MAX_CONNECTION_IDLE",
        "--grpc-max-connection-idle",
        parse_grpc_seconds,
        "seconds a connection without calls stays open; unset: no limit",
    ),
    Setting(
        "max_receive_message_size",
        "KRE_GRPC_MAX_RECEIVE_MESSAGE_SIZE",
        "--grpc-max-receive-message-size",
        parse_byte_size,
        "largest request message in bytes (suffixes Ki, Mi, Gi); larger ones are RESOURCE_EXHAUSTED",
    ),
    Setting(
        "max_send_message_size",
        "KRE_GRPC_MAX_SEND_MESSAGE_SIZE",
        "--grpc-max-send-message-size",
        parse_byte_size,
        "largest response message in bytes (suffixes Ki, Mi, Gi)",
    ),
    Setting(
        "tls_cert_file",
        "KRE_TLS_CERT_FILE",
        "--tls-cert-file",
        parse_path,
        "PEM certificate chain of the server; with KRE_TLS_KEY_FILE, the server speaks TLS only",
    ),
    Setting("tls_key_file", "KRE_TLS_KEY_FILE", "--tls-key-file", parse_path, "PEM private key of the certificate"),
    Setting(
        "tls_client_ca_file",
        "KRE_TLS_CLIENT_CA_FILE",
        "--tls-client-ca-file",
        parse_path,
        "PEM CA certificate(s): clients must present a certificate signed by one of them (mTLS)",
    ),
)

FlagValue = str | bool | None


def load_config(env: Mapping[str, str], flags: Mapping[str, FlagValue] | None = None) -> FacadeConfig:
    """Build the configuration from environment variables and flag values (keyed by field name).

    A flag value of None means "not given". Raises ConfigError naming the offending flag or variable.
    """
    flags = flags or {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        flag_value = flags.get(setting.field)
        env_value = env.get(setting.env, "")
        if isinstance(flag_value, bool):
            values[setting.field] = flag_value
        elif flag_value is not None:
            values[setting.field] = _parse(setting, setting.flag, flag_value)
        elif env_value.strip():
            values[setting.field] = _parse(setting, setting.env, env_value)
    return dataclasses.replace(FacadeConfig(), **values)


def _parse(setting: Setting, source: str, text: str) -> object:
    try:
        return setting.parse(text)
    except ValueError as error:
        raise ConfigError(f"{source}: {error}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting; every flag defaults to None so that the environment applies."""
    defaults = FacadeConfig()
    for setting in SETTINGS:
        default = getattr(defaults, setting.field)
        shown_default = "unset" if default is None else default
        help_text = f"{setting.help} (env {setting.env}; default {shown_default})"
        if setting.parse is parse_bool:
            parser.add_argument(
                setting.flag,
                dest=setting.field,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            parser.add_argument(setting.flag, dest=setting.field, default=None, metavar="VALUE", help=help_text)


def config_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> FacadeConfig:
    flags: dict[str, FlagValue] = {setting.field: getattr(args, setting.field, None) for setting in SETTINGS}
    return load_config(env, flags)
