"""TLS and mTLS of the facade: real clients over a real server, certificates made here with `cryptography`.

No cluster is needed: the server's own Health service answers SERVING as soon as it listens (the cluster check,
against a port nobody listens on, keeps failing in the background).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from k8s_manager_facade.config import FacadeConfig
from k8s_manager_facade.server import FacadeServer, StartupError

HEALTH_REQUEST = health_pb2.HealthCheckRequest(service="grpc.health.v1.Health")


@dataclass(frozen=True)
class Issued:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def issue(common_name: str, issuer: Issued | None = None, *, server: bool = False) -> Issued:
    """A certificate for `common_name` signed by `issuer` (none: a self-signed CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)  # cert and CRL signing
        builder = builder.add_extension(usage, critical=True)
    elif server:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    signer = issuer.key if issuer else key
    return Issued(key, builder.sign(signer, hashes.SHA256()))


@dataclass(frozen=True)
class Pki:
    ca: Issued
    server: Issued
    client: Issued
    stranger: Issued  # a client certificate from another CA
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = issue("k8s-manager test CA")
    server = issue("facade", ca, server=True)
    client = issue("admin-api", ca)
    stranger = issue("stranger", issue("another CA"))
    files = {"ca.crt": ca.certificate_pem, "tls.crt": server.certificate_pem, "tls.key": server.key_pem}
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return Pki(ca, server, client, stranger, directory / "ca.crt", directory / "tls.crt", directory / "tls.key")


@pytest.fixture
def base_config(tmp_path: Path) -> FacadeConfig:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        "clusters: [{name: dead, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: nobody}}]\n"
        "users: [{name: nobody, user: {token: not-a-secret}}]\n"
    )
    return FacadeConfig(host="127.0.0.1", port=0, shutdown_grace_period=0.2, kubeconfig=str(kubeconfig))


@pytest.fixture
async def tls_facade(base_config: FacadeConfig, pki: Pki) -> AsyncIterator[FacadeServer]:
    config = FacadeConfig(
        **{**base_config.__dict__, "tls_cert_file": str(pki.cert_file), "tls_key_file": str(pki.key_file)}
    )
    server = FacadeServer(config)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def mtls_facade(base_config: FacadeConfig, pki: Pki) -> AsyncIterator[FacadeServer]:
    config = FacadeConfig(
        **{
            **base_config.__dict__,
            "tls_cert_file": str(pki.cert_file),
            "tls_key_file": str(pki.key_file),
            "tls_client_ca_file": str(pki.ca_file),
        }
    )
    server = FacadeServer(config)
    await server.start()
    yield server
    await server.stop()


async def health_check(channel: grpc.aio.Channel) -> health_pb2.HealthCheckResponse:
    return await health_pb2_grpc.HealthStub(channel).Check(HEALTH_REQUEST, timeout=5)


async def check_over_tls(port: int | None, pki: Pki, client: Issued | None = None) -> health_pb2.HealthCheckResponse:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.certificate_pem,
        private_key=client.key_pem if client else None,
        certificate_chain=client.certificate_pem if client else None,
    )
    async with grpc.aio.secure_channel(f"localhost:{port}", credentials) as channel:
        return await health_check(channel)


async def test_a_tls_client_trusting_the_ca_is_served(tls_facade, pki):
    reply = await check_over_tls(tls_facade.port, pki)

    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_plaintext_client_is_refused_by_a_tls_server(tls_facade):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{tls_facade.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health_check(channel)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mtls_serves_a_client_with_a_certificate_of_the_ca(mtls_facade, pki):
    reply = await check_over_tls(mtls_facade.port, pki, pki.client)

    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_mtls_refuses_a_client_without_a_certificate(mtls_facade, pki):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await check_over_tls(mtls_facade.port, pki)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mtls_refuses_a_client_certificate_of_another_ca(mtls_facade, pki):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await check_over_tls(mtls_facade.port, pki, pki.stranger)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def start_error(config: FacadeConfig, **tls: str) -> str:
    server = FacadeServer(FacadeConfig(**{**config.__dict__, **tls}))
    with pytest.raises(StartupError) as failed:
        await server.start()
    return str(failed.value)


async def test_a_missing_certificate_file_is_a_start_up_error_naming_it(base_config, pki, tmp_path):
    missing = tmp_path / "missing.crt"

    message = await start_error(base_config, tls_cert_file=str(missing), tls_key_file=str(pki.key_file))

    assert message == f"cannot use TLS: KRE_TLS_CERT_FILE: cannot read {missing}: No such file or directory"


async def test_an_unreadable_client_ca_is_a_start_up_error_naming_it(base_config, pki, tmp_path):
    message = await start_error(
        base_config,
        tls_cert_file=str(pki.cert_file),
        tls_key_file=str(pki.key_file),
        tls_client_ca_file=str(tmp_path),  # a directory
    )

    assert message == f"cannot use TLS: KRE_TLS_CLIENT_CA_FILE: cannot read {tmp_path}: Is a directory"


async def test_a_bad_key_file_is_named_and_its_contents_never_shown(base_config, pki, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    not_a_key = tmp_path / "tls.key"
    not_a_key.write_text("hunter2-not-a-pem-key\n")
    other_key = tmp_path / "other.key"
    other_key.write_bytes(pki.client.key_pem)

    garbage = await start_error(base_config, tls_cert_file=str(pki.cert_file), tls_key_file=str(not_a_key))
    mismatch = await start_error(base_config, tls_cert_file=str(pki.cert_file), tls_key_file=str(other_key))

    assert garbage.startswith(f"cannot use TLS: KRE_TLS_KEY_FILE {not_a_key}: not the unencrypted PEM private key")
    assert mismatch.endswith("(key values mismatch)")
    secrets = ("hunter2", pki.client.key_pem.decode().splitlines()[1], pki.server.key_pem.decode().splitlines()[1])
    for text in (garbage, mismatch, caplog.text):
        for secret in secrets:
            assert secret not in text


async def test_a_certificate_file_without_a_certificate_is_named(base_config, pki):
    message = await start_error(base_config, tls_cert_file=str(pki.key_file), tls_key_file=str(pki.key_file))

    assert (
        message
        == f"cannot use TLS: KRE_TLS_CERT_FILE {pki.key_file}: no PEM certificate in it (no certificate or crl found)"
    )
