"""The operator's operations settings: metrics endpoint and peering lifetime, from flags and environment."""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

import kopf
import pytest
from k8s_manager.cli import build_parser
from k8s_manager_operator import main, operations
from k8s_manager_operator.config import ConfigError
from k8s_manager_operator.operations_config import OperationsConfig
from k8s_manager_operator.queue import ReconcileQueue


def test_defaults_serve_no_metrics_and_keep_kopfs_peering_lifetime() -> None:
    config = OperationsConfig.from_env({})

    assert config == OperationsConfig(metrics_port=0, metrics_host="0.0.0.0", peering_lifetime=60)
    assert kopf.OperatorSettings().peering.lifetime == config.peering_lifetime


def test_settings_come_from_the_environment_and_blank_means_unset() -> None:
    env = {
        "KRE_OPERATOR_METRICS_PORT": "9090",
        "KRE_OPERATOR_METRICS_HOST": "127.0.0.1",
        "KRE_OPERATOR_PEERING_LIFETIME": " 15 ",
    }

    assert OperationsConfig.from_env(env) == OperationsConfig(9090, "127.0.0.1", 15)
    assert OperationsConfig.from_env(dict.fromkeys(env, " ")) == OperationsConfig()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("KRE_OPERATOR_METRICS_PORT", "http", "not a port number"),
        ("KRE_OPERATOR_METRICS_PORT", "65536", "out of range"),
        ("KRE_OPERATOR_METRICS_PORT", "-1", "out of range"),
        ("KRE_OPERATOR_METRICS_HOST", "local host", "not a host name or address"),
        ("KRE_OPERATOR_PEERING_LIFETIME", "0", "at least 1 second"),
        ("KRE_OPERATOR_PEERING_LIFETIME", "1.5", "whole number of seconds"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}: .*{expected}"):
        OperationsConfig.from_env({variable: value})


def test_the_peering_lifetime_reaches_kopf_and_keep_alives_are_not_logged() -> None:
    settings = kopf.OperatorSettings()

    operations.configure_peering(settings, OperationsConfig(peering_lifetime=7))

    assert settings.peering.lifetime == 7
    assert settings.peering.stealth is True


def operator_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["operator", *argv])


def test_flags_are_parsed_and_checked_like_the_variables(capsys: pytest.CaptureFixture[str]) -> None:
    args = operator_args("--metrics-port", "9090", "--metrics-host", "127.0.0.1", "--peering-lifetime", "10")
    assert (args.metrics_port, args.metrics_host, args.peering_lifetime) == (9090, "127.0.0.1", 10)
    assert operator_args().metrics_port is None  # absent: the environment decides

    with pytest.raises(SystemExit) as exited:
        operator_args("--metrics-port", "70000")
    assert exited.value.code == 2
    assert "argument --metrics-port: '70000' is out of range" in capsys.readouterr().err


def test_the_command_refuses_a_bad_variable_before_starting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KRE_OPERATOR_PEERING_LIFETIME", "never")

    assert main.run_from_args(operator_args()) == 2
    assert "KRE_OPERATOR_PEERING_LIFETIME: 'never' is not a whole number of seconds" in capsys.readouterr().err


def test_flags_given_override_the_environment_the_handlers_read() -> None:
    env = {"KRE_OPERATOR_METRICS_PORT": "9090", "KRE_OPERATOR_PEERING_LIFETIME": "bad"}

    main.set_operations_environment(operator_args("--peering-lifetime", "5", "--metrics-host", "127.0.0.1"), env)

    assert OperationsConfig.from_env(env) == OperationsConfig(9090, "127.0.0.1", 5)


def idle_queues() -> tuple[ReconcileQueue[str], ReconcileQueue[tuple[str, str]]]:
    async def reconcile(key: Any) -> None:
        raise AssertionError(f"nothing is reconciled here: {key}")

    return ReconcileQueue(reconcile, workers=1), ReconcileQueue(reconcile, workers=1)


async def test_start_serves_the_metrics_configured_and_stop_closes_them() -> None:
    port = free_port()
    env = {"KRE_OPERATOR_METRICS_PORT": str(port), "KRE_OPERATOR_METRICS_HOST": "127.0.0.1"}

    started = await operations.start(kopf.OperatorSettings(), env, *idle_queues())
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
    finally:
        await started.stop()

    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_bad_setting_or_a_busy_port_stops_the_operator_with_a_clear_error() -> None:
    with pytest.raises(kopf.PermanentError, match="KRE_OPERATOR_METRICS_PORT: 'x' is not a port number"):
        await operations.start(kopf.OperatorSettings(), {"KRE_OPERATOR_METRICS_PORT": "x"}, *idle_queues())

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {"KRE_OPERATOR_METRICS_PORT": str(port), "KRE_OPERATOR_METRICS_HOST": "127.0.0.1"}
        with pytest.raises(kopf.PermanentError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            await operations.start(kopf.OperatorSettings(), env, *idle_queues())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_replicas_with_peering_and_no_priority_draw_distinct_priorities() -> None:
    drawn = {main.peering_priority("k8s-manager", None) or 0 for _ in range(50)}

    assert len(drawn) > 45  # random, not one shared value: kopf pauses every replica on a tie
    assert all(1 <= priority <= main.PRIORITY_RANGE for priority in drawn)


def test_a_given_priority_is_kept_and_standalone_needs_none() -> None:
    assert main.peering_priority("k8s-manager", 7) == 7
    assert main.peering_priority(None, None) is None
