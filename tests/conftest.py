"""Shared fixtures: the cluster under test and a kubectl bound to it.

By default the cluster is the embedded emulator on loopback (in a background thread). With
K8S_MANAGER_TEST_KUBECONFIG set, tests that only need a kubeconfig (`kubeconfig`, `kubectl`) run against
that real cluster instead, and tests that need the emulator itself (`emulator`: fault injection,
compaction, workload readiness control) are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kube_emulator import EmulatorSettings
from kube_emulator.threaded import ThreadedEmulator

KUBECTL = shutil.which("kubectl")
REAL_CLUSTER_KUBECONFIG = os.environ.get("K8S_MANAGER_TEST_KUBECONFIG", "")


@dataclass
class Kubectl:
    kubeconfig: Path
    cache_dir: Path

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None, "kubectl is not installed"
        command = [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        result = subprocess.run(command, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)


@pytest.fixture
def emulator() -> Iterator[ThreadedEmulator]:
    """A fresh emulator; workloads become ready 0.2 s after they are observed."""
    if REAL_CLUSTER_KUBECONFIG:
        pytest.skip("needs the emulator itself; K8S_MANAGER_TEST_KUBECONFIG points at a real cluster")
    with ThreadedEmulator(EmulatorSettings(workload_ready_after=0.2, bookmark_interval=0.5)) as running:
        yield running


@pytest.fixture
def kubeconfig(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A kubeconfig for the cluster under test (the emulator unless a real cluster is configured)."""
    if REAL_CLUSTER_KUBECONFIG:
        return Path(REAL_CLUSTER_KUBECONFIG)
    running: ThreadedEmulator = request.getfixturevalue("emulator")
    return running.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    if KUBECTL is None:
        pytest.fail("kubectl is not installed: the kubectl path is part of the contract")
    return Kubectl(kubeconfig, tmp_path / "kubectl-cache")
