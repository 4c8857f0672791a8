"""`k8s-manager operator`'s text log, as the process writes it while it reconciles a Runtime (on the emulator).

The operator runs as the manifests' identity; a Runtime is created and reconciled (its credentials moved, its
status written), then the operator gets SIGTERM. Its stream has one line format, the facade's and the dev mode's;
kopf's per-event success lines show only with `-v`, as DEBUG lines naming their object, as every line of kopf's
object logger does. In `k8s-manager dev`'s stream, which interleaves the operator's, the facade's and its own
lines, every line has that one format.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
from k8s_manager import dev
from k8s_manager_api import names
from k8s_manager_api.kube import KubeApi
from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc

from tests.identities import OPERATOR, identity_kubeconfig, install_rbac

from . import dev_process
from .test_operator_entrypoints import IN_CLUSTER_VARIABLES, free_port, read_liveness

RuntimeStub: Any = runtime_pb2_grpc.RuntimeServiceStub  # the generated stubs are untyped
NAME = "kre-logs"
CREDENTIALS = {"password": "pAsSw0rdL8g", "sharedKey": "c2hhcmVkTG9n", "secretKey": "s3cr3tL0gK9"}
RUNTIME: dict[str, Any] = {
    "apiVersion": "kre.konstellation.io/v1alpha1",
    "kind": "Runtime",
    "metadata": {"name": NAME},
    "spec": {
        "displayName": "Logs",
        "entrypoint": {"host": "logs.local"},
        "mongo": {
            "credentials": {
                "username": "admin",
                "password": CREDENTIALS["password"],
                "sharedKey": CREDENTIALS["sharedKey"],
            }
        },
        "minio": {"credentials": {"accessKey": "accessKeyL0g", "secretKey": CREDENTIALS["secretKey"]}},
    },
}
LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<logger>[\w.]+): "
    r"(?P<message>.*)"
)
SUCCEEDED = re.compile(r"(Handler|Timer) '[^']*' succeeded\.")
# How an object is named at the start of a line: `runtime kre-logs: `, `pod kre-logs/kre-nats-0: `.
NAMED = re.compile(r"(?P<word>[a-z]+) (?P<object>[\w.-]+(/[\w.-]+)?): (?P<rest>.*)")


def spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log_file:
        return subprocess.Popen(command, env=env, stderr=log_file, cwd=log_path.parent)


async def reconcile_logged(kubeconfig: Path, tmp_path: Path, *flags: str) -> str:
    """The operator's stderr while it reconciles the Runtime, with `flags`, until it stops on SIGTERM."""
    install_rbac(kubeconfig)
    api = await KubeApi.connect(str(kubeconfig))
    try:
        await asyncio.wait_for(dev.apply_crds(api, dev.load_crds(dev.default_crds_dir())), 30)
        env = {key: value for key, value in os.environ.items() if key not in IN_CLUSTER_VARIABLES}
        env["KUBECONFIG"] = str(identity_kubeconfig(OPERATOR, kubeconfig, tmp_path / "operator-kubeconfig"))
        env.update(OPERATOR.operator_environment)
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        log_path = tmp_path / "operator.log"
        command = [sys.executable, "-m", "k8s_manager", "operator", "--liveness", liveness, *flags]
        process = await asyncio.to_thread(spawn, command, env, log_path)
        try:
            await asyncio.to_thread(read_liveness, liveness, process)
            await api.create(names.RUNTIMES, RUNTIME)
            for _ in range(600):
                runtime = await api.get(names.RUNTIMES, NAME)
                moved = "secretRef" in runtime["spec"]["mongo"]["credentials"]
                if moved and (runtime.get("status") or {}).get("conditions"):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the Runtime was not reconciled:\n{log_path.read_text(errors='replace')}")
            process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(process.wait, 30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    finally:
        await api.close()
    log = log_path.read_text(errors="replace")
    assert code == 0, log
    return log


async def test_the_log_has_one_line_format_and_no_per_event_success_lines(emulator, kubeconfig, tmp_path):
    log = await reconcile_logged(kubeconfig, tmp_path)

    lines = log.splitlines()
    parsed = [LINE.fullmatch(line) for line in lines]
    messages = [match["message"] for match in parsed if match is not None]
    assert lines, log
    assert len(messages) == len(lines), log  # every line, kopf's included, in k8s-manager's format
    assert not [message for message in messages if SUCCEEDED.search(message)]
    assert f"runtime {NAME}: credentials moved into Secret kre-runtime-credentials" in messages
    assert [message for message in messages if message.startswith(f"runtime {NAME}: Ready=")], log
    for value in CREDENTIALS.values():
        assert value not in log


async def test_with_v_kopfs_success_lines_show_as_debug_lines_naming_their_object(emulator, kubeconfig, tmp_path):
    log = await reconcile_logged(kubeconfig, tmp_path, "-v")

    parsed = [LINE.fullmatch(line) for line in log.splitlines()]
    assert all(parsed), log
    lines = [match for match in parsed if match is not None]
    successes = [line for line in lines if SUCCEEDED.search(line["message"])]
    kopf_object_lines = [line for line in lines if line["logger"] == "kopf.objects"]
    unnamed = [line.string for line in kopf_object_lines if not NAMED.fullmatch(line["message"])]
    named = [NAMED.fullmatch(line["message"]) for line in successes]
    assert {line["level"] for line in successes} == {"DEBUG"}
    assert {line["logger"] for line in successes} == {"kopf.objects"}
    assert unnamed == []  # every line of kopf's object logger names its object
    assert ("runtime", NAME, "Handler 'runtime_changed' succeeded.") in [
        (match["word"], match["object"], match["rest"]) for match in named if match is not None
    ]
    assert ("namespace", NAME, "Handler 'owned_object_changed' succeeded.") in [
        (match["word"], match["object"], match["rest"]) for match in named if match is not None
    ]
    for value in CREDENTIALS.values():
        assert value not in log


def test_the_dev_modes_stream_has_one_line_format(tmp_path):
    port = dev_process.free_port()
    running = dev_process.start_dev(tmp_path, "--grpc-port", str(port))
    try:
        running.read_until_ready()
        request = runtime_pb2.Request(
            runtime=runtime_pb2.Runtime(
                name="Logs",
                namespace=NAME,
                mongo=runtime_pb2.Runtime.MongoConf(
                    username="admin", password=CREDENTIALS["password"], sharedKey=CREDENTIALS["sharedKey"]
                ),
                minio=runtime_pb2.Runtime.MinioConf(accessKey="accessKeyL0g", secretKey=CREDENTIALS["secretKey"]),
            )
        )
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            runtimes = RuntimeStub(channel)
            runtimes.Create(request, timeout=30)
            started = runtimes.RuntimeStatus(request, timeout=120)
        running.process.send_signal(signal.SIGTERM)
        code = running.process.wait(timeout=60)
    finally:
        dev_process.stop(running)
    log = running.log()

    lines = log.splitlines()
    children = [name for name in ("operator", "facade") if any(line.startswith(f"{name} | ") for line in lines)]
    own_lines = [line.removeprefix("operator | ").removeprefix("facade | ") for line in lines]
    assert started.Status == "STARTED"
    assert code == 0, log
    assert children == ["operator", "facade"], log
    assert [line for line in own_lines if not LINE.fullmatch(line)] == [], log
