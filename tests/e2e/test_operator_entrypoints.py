"""The operator starts both ways the README documents and stops cleanly on SIGTERM.

Against the emulator, or a real cluster when K8S_MANAGER_TEST_KUBECONFIG is set: there the operator runs for a few
seconds and may start reconciling whatever Runtimes the cluster holds, while no other end-to-end test runs
(tests/e2e/conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.identities import OPERATOR, identity_kubeconfig, install_rbac

IN_CLUSTER_VARIABLES = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBERNETES_PORT")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_liveness(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the operator exited while starting"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return dict(json.load(response))
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"no liveness answer at {url}")


@pytest.mark.cluster
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(
            [
                sys.executable,
                "-m",
                "kopf",
                "run",
                "--standalone",
                "--all-namespaces",
                "-m",
                "k8s_manager_operator.handlers",
            ],
            id="kopf-run",
        ),
        pytest.param([sys.executable, "-m", "k8s_manager", "operator"], id="k8s-manager-operator"),
    ],
)
def test_operator_serves_liveness_and_stops_on_sigterm(command: list[str], kubeconfig: Path, tmp_path: Path):
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    env = {key: value for key, value in os.environ.items() if key not in IN_CLUSTER_VARIABLES}
    install_rbac(kubeconfig)  # as the manifests' operator identity, with its RBAC
    env["KUBECONFIG"] = str(identity_kubeconfig(OPERATOR, kubeconfig, tmp_path / "operator-kubeconfig"))
    env.update(OPERATOR.operator_environment)
    log_path = tmp_path / "operator.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*command, "--liveness", liveness],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        probe = read_liveness(liveness, process)

        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    log = log_path.read_text(errors="replace")
    assert "started_at" in probe, log
    assert code == 0, log
    assert "Traceback" not in log
