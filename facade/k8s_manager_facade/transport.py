"""How the gRPC server listens: channel options from the configuration, TLS credentials from PEM files.

Files are read and checked at start, so that a bad one stops the process with a message naming the file (and
the setting); no message quotes a file's contents.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from .config import FacadeConfig

# grpc enables SO_REUSEPORT by default, which would let a second server share a busy port silently.
BASE_OPTIONS: tuple[tuple[str, int], ...] = (("grpc.so_reuseport", 0),)


class TlsFileError(Exception):
    """A TLS file cannot be read or is not what it should be; the message names the file, never its contents."""


def milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def server_options(config: FacadeConfig) -> tuple[tuple[str, int], ...]:
    """The grpc.aio server's channel arguments for keepalive and message sizes."""
    options = [
        *BASE_OPTIONS,
        ("grpc.keepalive_time_ms", milliseconds(config.keepalive_time)),
        ("grpc.keepalive_timeout_ms", milliseconds(config.keepalive_timeout)),
        ("grpc.http2.min_ping_interval_without_data_ms", milliseconds(config.min_ping_interval)),
        ("grpc.keepalive_permit_without_calls", int(config.keepalive_permit_without_calls)),
        ("grpc.max_receive_message_length", config.max_receive_message_size),
        ("grpc.max_send_message_length", config.max_send_message_size),
    ]
    if config.max_connection_idle is not None:
        options.append(("grpc.max_connection_idle_ms", milliseconds(config.max_connection_idle)))
    return tuple(options)


@dataclass(frozen=True)
class TlsFiles:
    """The PEM contents of the configured files."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None


def read_tls_files(config: FacadeConfig) -> TlsFiles | None:
    """The configured TLS files, read and checked; None without TLS."""
    if config.tls_cert_file is None or config.tls_key_file is None:
        return None
    cert_file, key_file, ca_file = config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file
    chain = _read("KRE_TLS_CERT_FILE", cert_file)
    key = _read("KRE_TLS_KEY_FILE", key_file)
    client_ca = None if ca_file is None else _read("KRE_TLS_CLIENT_CA_FILE", ca_file)
    # The ssl module checks what grpc would only report as "failed to bind": PEM syntax, and a key that fits.
    _check_certificates("KRE_TLS_CERT_FILE", cert_file)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file, password=_no_password)
    except (ssl.SSLError, ValueError) as error:
        raise TlsFileError(
            f"KRE_TLS_KEY_FILE {key_file}: not the unencrypted PEM private key of the certificate in {cert_file} "
            f"({_reason(error)})"
        ) from None
    if ca_file is not None:
        _check_certificates("KRE_TLS_CLIENT_CA_FILE", ca_file)
    return TlsFiles(chain, key, client_ca)


def server_credentials(files: TlsFiles) -> Any:
    """grpc server credentials; with a client CA, clients must present a certificate it signed."""
    return grpc.ssl_server_credentials(
        [(files.private_key, files.certificate_chain)],
        root_certificates=files.client_ca,
        require_client_auth=files.client_ca is not None,
    )


def _read(setting: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise TlsFileError(f"{setting}: cannot read {path}: {error.strerror or error}") from None


def _check_certificates(setting: str, path: str) -> None:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=path)
    except ssl.SSLError as error:
        raise TlsFileError(f"{setting} {path}: no PEM certificate in it ({_reason(error)})") from None


def _no_password() -> bytes:
    # An encrypted key fails to load instead of prompting on the terminal (grpc cannot use one either).
    raise ValueError("the private key is encrypted")


def _reason(error: Exception) -> str:
    """OpenSSL's reason code (or our own message): never file contents."""
    if isinstance(error, ssl.SSLError):
        return error.reason.replace("_", " ").lower() if error.reason else "not valid PEM"
    return str(error)
