"""Parts of `k8s-manager dev`: reading crds/, the children's environment and logs, stopping children."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from k8s_manager.dev import (
    Child,
    DevError,
    child_environment,
    default_crds_dir,
    load_crds,
    relay_line,
    stop_children,
)

CRD_A = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: runtimes.kre.konstellation.io
spec: {}
"""
CRD_B = """
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: runtimeversions.kre.konstellation.io
spec: {}
---
"""


def test_crds_are_read_from_every_yaml_document_in_file_name_order(tmp_path: Path):
    (tmp_path / "b.yml").write_text(CRD_A)
    (tmp_path / "a.yaml").write_text(CRD_B)
    (tmp_path / "notes.md").write_text("not a manifest")

    names = [crd["metadata"]["name"] for crd in load_crds(tmp_path)]

    assert names == ["runtimeversions.kre.konstellation.io", "runtimes.kre.konstellation.io"]


def test_an_empty_crd_directory_installs_nothing(tmp_path: Path):
    assert load_crds(tmp_path) == []


def test_a_missing_crd_directory_is_an_error(tmp_path: Path):
    with pytest.raises(DevError, match="does not exist; pass --crds DIR"):
        load_crds(tmp_path / "missing")


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        "apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\nmetadata: {name: x}\n",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {}\n",
    ],
)
def test_anything_but_a_named_v1_crd_is_refused(tmp_path: Path, text: str):
    (tmp_path / "bad.yaml").write_text(text)

    with pytest.raises(DevError, match=r"bad\.yaml: every document must be a named"):
        load_crds(tmp_path)


def test_invalid_yaml_names_the_file(tmp_path: Path):
    (tmp_path / "broken.yaml").write_text("kind: [unclosed\n")

    with pytest.raises(DevError, match=r"broken\.yaml: not valid YAML"):
        load_crds(tmp_path)


def test_the_default_crd_directory_is_the_projects():
    assert default_crds_dir() == Path(__file__).resolve().parents[2] / "crds"


def test_children_use_the_emulator_kubeconfig_even_inside_a_pod(tmp_path: Path):
    parent = {
        "PATH": "/usr/bin",
        "KUBECONFIG": "/home/me/.kube/config",
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_PORT": "tcp://10.0.0.1:443",
    }

    env = child_environment(parent, tmp_path / "kubeconfig")

    assert env == {"PATH": "/usr/bin", "KUBECONFIG": str(tmp_path / "kubeconfig"), "PYTHONUNBUFFERED": "1"}


def test_text_log_lines_are_prefixed_with_the_process_name():
    assert relay_line("operator", "[2026-01-01] kopf started", "text") == "operator | [2026-01-01] kopf started"


def test_json_log_lines_stay_json_and_gain_the_process_name():
    tagged = json.loads(relay_line("facade", '{"message": "listening", "level": "INFO"}', "json"))
    wrapped = json.loads(relay_line("facade", "E1127 grpc core says something", "json"))

    assert tagged == {"process": "facade", "message": "listening", "level": "INFO"}
    assert wrapped == {"process": "facade", "message": "E1127 grpc core says something"}


POLITE_CHILD = "import time; print('up', flush=True); time.sleep(60)"
STUBBORN_CHILD = f"import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); {POLITE_CHILD}"


async def start_python_child(name: str, code: str) -> Child:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    assert await process.stdout.readline() == b"up\n"  # its signal disposition is in place
    stdout = process.stdout

    async def drain() -> None:
        await stdout.read()

    child = Child(name, process)
    child.relay = asyncio.create_task(drain())
    return child


async def test_children_that_ignore_sigterm_are_killed_after_the_grace_period():
    polite = await start_python_child("polite", POLITE_CHILD)
    stubborn = await start_python_child("stubborn", STUBBORN_CHILD)
    started = time.monotonic()

    await stop_children([polite, stubborn], grace=0.5, force=asyncio.Event())

    assert polite.exit_description == "killed by SIGTERM"
    assert stubborn.exit_description == "killed by SIGKILL"
    assert 0.5 <= time.monotonic() - started < 5


async def test_a_forced_stop_kills_without_waiting_for_the_grace_period():
    stubborn = await start_python_child("stubborn", STUBBORN_CHILD)
    force = asyncio.Event()
    force.set()
    started = time.monotonic()

    await stop_children([stubborn], grace=30, force=force)

    assert stubborn.exit_description == "killed by SIGKILL"
    assert time.monotonic() - started < 5
