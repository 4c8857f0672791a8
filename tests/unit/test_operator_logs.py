"""The operator's log lines in kopf's JSON format: a reconcile's lines name their Runtime, never its credentials.

The Runtime is reconciled as the operator does it (its reconcile queue, observed as on start-up) against the
emulator, and its records are formatted by the formatter `--log-format json` installs.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from pathlib import Path
from typing import Any

import kopf
import pytest
from k8s_manager import dev
from k8s_manager_api import names
from k8s_manager_api.kube import KubeApi
from k8s_manager_operator import operations
from k8s_manager_operator.config import OperatorConfig
from k8s_manager_operator.queue import ReconcileQueue
from k8s_manager_operator.runtime import credentials
from k8s_manager_operator.runtime.reconcile import RuntimeReconciler, reconcile_safely

NAME = "kre-logged"
RUNTIME: dict[str, Any] = {
    "apiVersion": "kre.konstellation.io/v1alpha1",
    "kind": "Runtime",
    "metadata": {"name": NAME},
    "spec": {
        "displayName": "Logged",
        "entrypoint": {"host": "logged.local"},
        "mongo": {"credentials": {"username": "admin", "password": "pAsSw0rdQ7x", "sharedKey": "c2hhcmVkS2V5"}},
        "minio": {"credentials": {"accessKey": "accessKeyV3", "secretKey": "s3cr3tK3yM9"}},
    },
}


def kopf_json_formatter() -> logging.Formatter:
    """The formatter `kopf.configure(log_format=JSON)` installs; the logging configuration is left as it was."""
    root, asyncio_logger = logging.getLogger(), logging.getLogger("asyncio")
    saved = (root.handlers[:], root.level, asyncio_logger.handlers[:], asyncio_logger.propagate)
    kopf.configure(log_format=kopf.LogFormat.JSON)
    added = [handler for handler in root.handlers if handler not in saved[0]]
    root.handlers[:], asyncio_logger.handlers[:] = saved[0], saved[2]
    root.setLevel(saved[1])
    asyncio_logger.propagate = saved[3]
    [handler] = added
    assert handler.formatter is not None
    return handler.formatter


async def test_a_reconciles_json_lines_name_the_runtime_and_show_no_credential(
    emulator: Any, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = credentials.inline_credentials(RUNTIME["spec"])
    assert secrets is not None
    api = await KubeApi.connect(str(kubeconfig))
    try:
        await asyncio.wait_for(dev.apply_crds(api, dev.load_crds(dev.default_crds_dir())), 30)
        await api.create(names.RUNTIMES, RUNTIME)

        async def unused(key: tuple[str, str]) -> None:
            raise AssertionError(f"no version is reconciled here: {key}")

        reconciler = RuntimeReconciler(api, OperatorConfig())
        runtimes = ReconcileQueue(functools.partial(reconcile_safely, reconciler), workers=1)
        versions = ReconcileQueue(unused, workers=1)
        await operations.start(kopf.OperatorSettings(), {}, runtimes, versions)
        caplog.handler.setFormatter(kopf_json_formatter())
        caplog.set_level(logging.INFO)
        runtimes.start()
        try:
            runtimes.request(NAME)
            for _ in range(500):
                if "credentials moved" in caplog.text and not runtimes.pending():
                    break
                await asyncio.sleep(0.02)
        finally:
            await runtimes.stop()
    finally:
        await api.close()

    lines = [json.loads(line) for line in caplog.text.splitlines() if line.strip()]
    moved = [line for line in lines if "credentials moved" in line["message"]]
    assert moved, caplog.text
    assert moved[0]["object"] == {"apiVersion": "kre.konstellation.io/v1alpha1", "kind": "Runtime", "name": NAME}
    assert all(line.get("object", {}).get("name") == NAME for line in lines if NAME in line["message"])
    for value in secrets.values():
        assert value not in caplog.text
