"""The emulated cluster's CA and the API server's serving certificate.

client-go (kubectl) sends credentials only over https: against a plain-HTTP server it drops the kubeconfig's
token and every request is `system:anonymous`. So the emulator also serves TLS, with a certificate from a CA of
its own, and its kubeconfigs point there.
"""

from __future__ import annotations

import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The names a kube-apiserver's serving certificate carries, besides the address it listens on.
_SERVING_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
_VALIDITY = timedelta(days=3650)


@dataclass(frozen=True)
class ClusterCa:
    """A self-signed CA shaped as kubeadm's (ECDSA P-256, which is ten times quicker to make than RSA)."""

    cert_pem: str
    _key: Any  # cryptography's private key: kept in memory only

    @classmethod
    def create(cls) -> ClusterCa:
        """A fresh CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kube-emulator"),
                x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes"),
            ]
        )
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(_key_usage(x509, cert_sign=True), critical=True)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("kubernetes")]), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate.public_bytes(serialization.Encoding.PEM).decode(), key)

    def serving_context(self, host: str) -> ssl.SSLContext:
        """A server SSL context with a new certificate, signed by this CA, for `host` and the usual API names."""
        key = ec.generate_private_key(ec.SECP256R1())
        ca_certificate = x509.load_pem_x509_certificate(self.cert_pem.encode())
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(_key_usage(x509, cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(_alternative_names(x509, host)), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # The ssl module loads keys only from files: one in a private directory, removed at once.
        with tempfile.TemporaryDirectory(prefix="kube-emulator-tls-") as directory:
            cert_file, key_file = Path(directory, "tls.crt"), Path(directory, "tls.key")
            cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
            key_file.touch(mode=0o600)
            key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            context.load_cert_chain(cert_file, key_file)
        return context


def _key_usage(x509: Any, cert_sign: bool) -> Any:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _alternative_names(x509: Any, host: str) -> list[Any]:
    addresses = {ipaddress.ip_address("127.0.0.1")}
    names = list(_SERVING_NAMES)
    try:
        addresses.add(ipaddress.ip_address(host))
    except ValueError:
        if host not in names:
            names.append(host)
    return [x509.DNSName(name) for name in names] + [x509.IPAddress(address) for address in sorted(addresses, key=str)]
