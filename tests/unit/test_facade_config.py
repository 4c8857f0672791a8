"""The facade's configuration: KRE_* environment variables, flags overriding them, clear errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from k8s_manager.cli import main
from k8s_manager_facade.config import ConfigError, FacadeConfig, load_config
from k8s_manager_facade.transport import server_options


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`main()` points the root logger at this test's captured stderr, which is closed after it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_defaults_without_environment():
    config = load_config({})

    assert config == FacadeConfig()
    assert config.address == "0.0.0.0:50051"
    assert config.prometheus_url == "http://localhost:9090"
    assert config.shared_storage_size == "1Gi"


def test_original_environment_variables_are_read():
    env = {
        "KRE_PORT": "6000",
        "KRE_PROMETHEUS_URL": "http://prometheus-operated:9090/",
        "KRE_BASE_DOMAIN_NAME": "kre.example.com",
        "KRE_DEVELOPMENT_MODE": "true",
        "KRE_SHARED_STORAGECLASS": "nfs-client",
        "KRE_SHARED_STORAGE_SIZE": "2Gi",
    }

    config = load_config(env)

    assert config.port == 6000
    assert config.prometheus_url == "http://prometheus-operated:9090"
    assert config.base_domain_name == "kre.example.com"
    assert config.development_mode is True
    assert config.shared_storage_class == "nfs-client"
    assert config.shared_storage_size == "2Gi"


def test_flags_override_environment_and_unset_flags_keep_it():
    env = {"KRE_PORT": "6000", "KRE_BASE_DOMAIN_NAME": "from.env", "KRE_DEVELOPMENT_MODE": "1"}

    config = load_config(env, {"port": "7000", "development_mode": False, "base_domain_name": None})

    assert config.port == 7000
    assert config.development_mode is False
    assert config.base_domain_name == "from.env"


def test_empty_environment_variable_counts_as_unset():
    assert load_config({"KRE_PORT": "", "KRE_SHARED_STORAGECLASS": "  "}) == FacadeConfig()


def test_ipv6_host_is_bracketed_in_the_address():
    assert load_config({"KRE_HOST": "::1", "KRE_PORT": "5"}).address == "[::1]:5"


@pytest.mark.parametrize(
    ("env", "flags", "expected"),
    [
        ({"KRE_PORT": "abc"}, {}, "KRE_PORT: 'abc' is not a port number"),
        ({"KRE_PORT": "70000"}, {}, "KRE_PORT: 70000 is out of range"),
        ({"KRE_PORT": "50051"}, {"port": "-1"}, "--port: -1 is out of range"),
        ({"KRE_DEVELOPMENT_MODE": "maybe"}, {}, "KRE_DEVELOPMENT_MODE: 'maybe' is not a boolean"),
        (
            {"KRE_PROMETHEUS_URL": "prometheus:9090"},
            {},
            "KRE_PROMETHEUS_URL: 'prometheus:9090' is not an http(s) URL",
        ),
        (
            {"KRE_SHARED_STORAGE_SIZE": "lots"},
            {},
            "KRE_SHARED_STORAGE_SIZE: 'lots' is not a storage quantity",
        ),
        (
            {"KRE_BASE_DOMAIN_NAME": "Not_A_Domain"},
            {},
            "KRE_BASE_DOMAIN_NAME: 'Not_A_Domain' is not a DNS-1123",
        ),
        ({"KRE_METRICS_PORT": "metrics"}, {}, "KRE_METRICS_PORT: 'metrics' is not a port number"),
        ({"KRE_GRPC_KEEPALIVE_TIME": "0"}, {}, "KRE_GRPC_KEEPALIVE_TIME: 0 is out of range"),
        ({"KRE_GRPC_KEEPALIVE_TIMEOUT": "soon"}, {}, "KRE_GRPC_KEEPALIVE_TIMEOUT: 'soon' is not a number of seconds"),
        ({}, {"min_ping_interval": "1e10"}, "--grpc-min-ping-interval: 1e+10 is out of range"),
        ({"KRE_GRPC_MAX_CONNECTION_IDLE": "-5"}, {}, "KRE_GRPC_MAX_CONNECTION_IDLE: -5.0 is out of range"),
        (
            {"KRE_GRPC_KEEPALIVE_PERMIT_WITHOUT_CALLS": "sometimes"},
            {},
            "KRE_GRPC_KEEPALIVE_PERMIT_WITHOUT_CALLS: 'sometimes' is not a boolean",
        ),
        (
            {"KRE_GRPC_MAX_RECEIVE_MESSAGE_SIZE": "4MB"},
            {},
            "KRE_GRPC_MAX_RECEIVE_MESSAGE_SIZE: '4MB' is not a size in bytes",
        ),
        ({"KRE_GRPC_MAX_RECEIVE_MESSAGE_SIZE": "0"}, {}, "KRE_GRPC_MAX_RECEIVE_MESSAGE_SIZE: 0 is out of range"),
        ({}, {"max_send_message_size": "2Gi"}, "--grpc-max-send-message-size: 2Gi is out of range"),
        ({"KRE_TLS_CERT_FILE": "/tls/tls.crt"}, {}, "KRE_TLS_CERT_FILE (--tls-cert-file) and KRE_TLS_KEY_FILE"),
        ({}, {"tls_key_file": "/tls/tls.key"}, "KRE_TLS_CERT_FILE (--tls-cert-file) and KRE_TLS_KEY_FILE"),
        ({"KRE_TLS_CLIENT_CA_FILE": "/tls/ca.crt"}, {}, "KRE_TLS_CLIENT_CA_FILE (--tls-client-ca-file) needs TLS"),
    ],
)
def test_invalid_values_name_the_setting(env, flags, expected):
    with pytest.raises(ConfigError) as caught:
        load_config(env, flags)

    assert str(caught.value).startswith(expected)


def test_command_line_rejects_an_invalid_port_with_a_clear_message(capsys, monkeypatch):
    monkeypatch.delenv("KRE_PORT", raising=False)

    with pytest.raises(SystemExit) as caught:
        main(["facade", "--port", "http"])

    assert caught.value.code == 2
    assert "k8s-manager facade: error: --port: 'http' is not a port number" in capsys.readouterr().err


def test_command_line_rejects_an_invalid_environment_port(capsys, monkeypatch):
    monkeypatch.setenv("KRE_PORT", "99999")

    with pytest.raises(SystemExit) as caught:
        main(["facade"])

    assert caught.value.code == 2
    assert "KRE_PORT: 99999 is out of range" in capsys.readouterr().err


def test_production_settings_are_read_from_the_environment():
    env = {
        "KRE_METRICS_PORT": "9091",
        "KRE_METRICS_HOST": "::",
        "KRE_GRPC_KEEPALIVE_TIME": "30",
        "KRE_GRPC_KEEPALIVE_TIMEOUT": "5.5",
        "KRE_GRPC_MIN_PING_INTERVAL": "2",
        "KRE_GRPC_KEEPALIVE_PERMIT_WITHOUT_CALLS": "false",
        "KRE_GRPC_MAX_CONNECTION_IDLE": "300",
        "KRE_GRPC_MAX_RECEIVE_MESSAGE_SIZE": "8Mi",
        "KRE_GRPC_MAX_SEND_MESSAGE_SIZE": "1048576",
        "KRE_TLS_CERT_FILE": "/tls/tls.crt",
        "KRE_TLS_KEY_FILE": "/tls/tls.key",
        "KRE_TLS_CLIENT_CA_FILE": "/tls/ca.crt",
    }

    config = load_config(env)

    assert (config.metrics_port, config.metrics_host) == (9091, "::")
    assert (config.keepalive_time, config.keepalive_timeout, config.min_ping_interval) == (30, 5.5, 2)
    assert config.keepalive_permit_without_calls is False
    assert config.max_connection_idle == 300
    assert (config.max_receive_message_size, config.max_send_message_size) == (8 << 20, 1 << 20)
    assert (config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file) == (
        "/tls/tls.crt",
        "/tls/tls.key",
        "/tls/ca.crt",
    )
    assert config.tls


def test_defaults_disable_metrics_and_tls_and_limit_messages():
    config = FacadeConfig()

    assert (config.metrics_port, config.tls, config.max_connection_idle) == (None, False, None)
    assert (config.max_receive_message_size, config.max_send_message_size) == (4 << 20, 16 << 20)


def test_server_options_carry_keepalive_in_milliseconds_and_the_message_limits():
    defaults = dict(server_options(FacadeConfig()))
    idle = dict(server_options(FacadeConfig(max_connection_idle=0.25, keepalive_permit_without_calls=False)))

    assert defaults == {
        "grpc.so_reuseport": 0,
        "grpc.keepalive_time_ms": 60_000,
        "grpc.keepalive_timeout_ms": 20_000,
        "grpc.http2.min_ping_interval_without_data_ms": 10_000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.max_receive_message_length": 4 << 20,
        "grpc.max_send_message_length": 16 << 20,
    }
    assert idle["grpc.max_connection_idle_ms"] == 250
    assert idle["grpc.keepalive_permit_without_calls"] == 0


def test_command_line_rejects_half_a_tls_configuration(capsys, monkeypatch):
    monkeypatch.delenv("KRE_TLS_KEY_FILE", raising=False)

    with pytest.raises(SystemExit) as caught:
        main(["facade", "--tls-cert-file", "/tls/tls.crt"])

    assert caught.value.code == 2
    assert "KRE_TLS_CERT_FILE (--tls-cert-file) and KRE_TLS_KEY_FILE (--tls-key-file) go together" in (
        capsys.readouterr().err
    )
