"""The facade's configuration: KRE_* environment variables, flags overriding them, clear errors."""

from __future__ import annotations

import pytest
from k8s_manager.cli import main
from k8s_manager_facade.config import ConfigError, FacadeConfig, load_config


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
