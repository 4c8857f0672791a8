"""`k8s-manager dev` as a real subprocess, for the dev-mode tests: its stdout lines, its log, its process tree."""

from __future__ import annotations

import queue
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

READY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class DevProcess:
    process: subprocess.Popen[str]
    log_path: Path
    stdout_lines: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def read_until_ready(self, timeout: float = READY_TIMEOUT) -> list[str]:
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.stdout_lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            lines.append(line)
            if line == "ready":
                return lines
        raise AssertionError(f"dev mode not ready; stdout {lines}; stderr:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def descendants(self) -> list[psutil.Process]:
        return list(psutil.Process(self.process.pid).children(recursive=True))


def processes_using(kubeconfig: Path) -> list[psutil.Process]:
    """Processes whose KUBECONFIG is this file: the dev mode's children, if any survived."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("KUBECONFIG") == str(kubeconfig.resolve()):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def start_dev(tmp_path: Path, *args: str, cwd: Path | None = None) -> DevProcess:
    """`k8s-manager dev ARGS` with `cwd` (default `tmp_path`) as its working directory, stderr to
    `tmp_path/dev.log`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / "dev.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "k8s_manager", "dev", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            cwd=cwd or tmp_path,
        )
    dev = DevProcess(process, log_path)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            dev.stdout_lines.put(line.rstrip("\n"))
        dev.stdout_lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return dev


def stop(dev: DevProcess) -> None:
    """Kill what is left of the process tree (a test that stops it cleanly has nothing left to kill)."""
    if dev.process.poll() is None:
        for child in dev.descendants():
            child.kill()
        dev.process.kill()
        dev.process.wait(timeout=10)
