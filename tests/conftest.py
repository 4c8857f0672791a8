"""Shared fixtures: an emulator on loopback (in a background thread) and a kubectl bound to it."""

from __future__ import annotations

import json
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


@dataclass
class Kubectl:
    kubeconfig: Path
    cache_dir: Path

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
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
    with ThreadedEmulator(EmulatorSettings(workload_ready_after=0.2, bookmark_interval=0.5)) as running:
        yield running


@pytest.fixture
def kubeconfig(emulator: ThreadedEmulator, tmp_path: Path) -> Path:
    return emulator.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    if KUBECTL is None:
        pytest.fail("kubectl is not installed: the kubectl path is part of the contract")
    return Kubectl(kubeconfig, tmp_path / "kubectl-cache")
