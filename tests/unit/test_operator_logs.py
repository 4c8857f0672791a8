"""The operator's log lines: a reconcile's lines name their Runtime, never its credentials, in kopf's JSON format and
in the operator's text format; kopf's per-event success lines show only at DEBUG.

The Runtime is reconciled as the operator does it (its reconcile queue, observed as on start-up) against the
emulator, and its records are formatted by the formatter `--log-format json` installs, or the operator's text one.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import pytest
from k8s_manager import dev
from k8s_manager.logs import TextFormatter as CommandLineTextFormatter
from k8s_manager_api import names
from k8s_manager_api.kube import KubeApi
from k8s_manager_operator import logformat, operations
from k8s_manager_operator.config import OperatorConfig
from k8s_manager_operator.queue import ReconcileQueue
from k8s_manager_operator.runtime import credentials
from k8s_manager_operator.runtime.reconcile import RuntimeReconciler, reconcile_safely
from kube_emulator import Fault

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


async def reconcile_the_runtime(
    kubeconfig: Path, caplog: pytest.LogCaptureFixture, formatter: logging.Formatter
) -> None:
    """Create the Runtime and reconcile it once, as the operator does, its records formatted by `formatter`."""
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
        caplog.handler.setFormatter(formatter)
        caplog.set_level(logging.INFO)
        # Only the reconcile's lines: what the set-up logged ("CRD ... applied") was captured, in another format,
        # whenever an earlier test in this process had left the root logger at INFO.
        caplog.clear()
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


async def test_a_reconciles_json_lines_name_the_runtime_and_show_no_credential(
    emulator: Any, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = credentials.inline_credentials(RUNTIME["spec"])
    assert secrets is not None

    await reconcile_the_runtime(kubeconfig, caplog, kopf_json_formatter())

    lines = [json.loads(line) for line in caplog.text.splitlines() if line.strip()]
    moved = [line for line in lines if "credentials moved" in line["message"]]
    assert moved, caplog.text
    assert moved[0]["object"] == {"apiVersion": "kre.konstellation.io/v1alpha1", "kind": "Runtime", "name": NAME}
    assert all(line.get("object", {}).get("name") == NAME for line in lines if NAME in line["message"])
    for value in secrets.values():
        assert value not in caplog.text


# ------------------------------------------------------------------------------------------- text lines

# k8s-manager's line format (k8s_manager_api.logformat), the facade's and the dev mode's too.
TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: (?P<message>.*)"
)


async def test_a_reconciles_text_lines_name_the_runtime_once_in_the_command_lines_format(
    emulator: Any, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An API error the client retries: its warning, logged by the API adapter, does not name the Runtime itself.
    faults = emulator.emulator.faults
    emulator.run_sync(lambda: faults.add(Fault(method="POST", path=r"/serviceaccounts$", status=503, retry_after=0)))

    await reconcile_the_runtime(kubeconfig, caplog, logformat.TextFormatter())

    lines = caplog.text.splitlines()
    matched = [TEXT_LINE.fullmatch(line) for line in lines]
    messages = [match["message"] for match in matched if match is not None]
    about_it = [line for line, record in zip(lines, caplog.records, strict=True) if hasattr(record, "k8s_ref")]
    retried = [line for line in about_it if "503" in line]
    assert lines, caplog.text
    assert len(messages) == len(lines), caplog.text
    assert about_it, caplog.text
    assert all(f": runtime {NAME}: " in line for line in about_it), caplog.text
    assert not any(f"runtime {NAME}: runtime {NAME}:" in line for line in lines)
    assert retried, caplog.text
    assert retried[0].split(": ", 1)[1].startswith(f"runtime {NAME}: POST /api/v1/namespaces/{NAME}/")
    assert f"runtime {NAME}: credentials moved into Secret kre-runtime-credentials" in messages


def test_the_operators_text_lines_have_the_facades_and_the_dev_modes_format() -> None:
    record = logging.LogRecord("k8s_manager_operator.apply", logging.INFO, __file__, 1, "created %s", ("x",), None)
    record.created = 1767323045.678  # 2026-01-02T03:04:05.678Z

    line = logformat.TextFormatter().format(record)

    assert line == CommandLineTextFormatter().format(record)
    assert line == "2026-01-02T03:04:05.678Z INFO k8s_manager_operator.apply: created x"


@pytest.fixture
def kopf_lines() -> Iterator[tuple[logging.Logger, list[str]]]:
    """The root logger (its level as the test sets it) writing through the operator's text format into a list."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    root, kopf_objects = logging.getLogger(), logging.getLogger(logformat.KOPF_OBJECT_LOGGER)
    saved = root.handlers[:], root.level, kopf_objects.filters[:]
    root.handlers[:] = [Collect()]
    logformat.use_text_format()
    try:
        yield root, lines
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        kopf_objects.filters[:] = saved[2]


def log_as_kopf(body: dict[str, Any]) -> None:
    """What kopf logs for a watch event handled by `runtime_changed`, and for a handler that failed."""
    raw: Any = body  # kopf.Body takes kopf's RawBody, a TypedDict
    logger = kopf.LocalObjectLogger(body=kopf.Body(raw), settings=kopf.OperatorSettings())
    logger.info("Handler 'runtime_changed' succeeded.")
    logger.info("Timer 'runtime_resync' succeeded.")
    logger.error("Handler 'runtime_changed' failed with an exception. Will retry.")


def test_kopfs_per_event_success_lines_are_left_out_by_default(kopf_lines: tuple[logging.Logger, list[str]]) -> None:
    root, lines = kopf_lines
    root.setLevel(logging.INFO)

    log_as_kopf(RUNTIME)

    assert [TEXT_LINE.fullmatch(line)["message"] for line in lines] == [  # type: ignore[index]
        f"runtime {NAME}: Handler 'runtime_changed' failed with an exception. Will retry."
    ]


def test_kopfs_per_event_success_lines_show_at_debug_naming_the_object(
    kopf_lines: tuple[logging.Logger, list[str]],
) -> None:
    root, lines = kopf_lines
    root.setLevel(logging.DEBUG)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kre-nats-0", "namespace": NAME}}

    log_as_kopf(RUNTIME)
    log_as_kopf(pod)

    assert [line.split(" ", 1)[1] for line in lines] == [
        f"DEBUG kopf.objects: runtime {NAME}: Handler 'runtime_changed' succeeded.",
        f"DEBUG kopf.objects: runtime {NAME}: Timer 'runtime_resync' succeeded.",
        f"ERROR kopf.objects: runtime {NAME}: Handler 'runtime_changed' failed with an exception. Will retry.",
        f"DEBUG kopf.objects: pod {NAME}/kre-nats-0: Handler 'runtime_changed' succeeded.",
        f"DEBUG kopf.objects: pod {NAME}/kre-nats-0: Timer 'runtime_resync' succeeded.",
        f"ERROR kopf.objects: pod {NAME}/kre-nats-0: Handler 'runtime_changed' failed with an exception. Will retry.",
    ]
