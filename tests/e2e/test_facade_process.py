"""`k8s-manager facade` as a process: SIGTERM's graceful shutdown, JSON log lines per RPC, start-up errors.

The cluster is the emulator or a real cluster, with the project's CRDs; no operator runs, so a RuntimeStatus call
keeps waiting.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from k8s_manager import dev
from k8s_manager_api.kube import KubeApi
from k8s_manager_facade.generated import runtime_pb2, runtime_pb2_grpc

from .test_runtime_service import delete_runtimes, on_real_cluster

RuntimeStub: Any = runtime_pb2_grpc.RuntimeServiceStub
PASSWORD, SHARED_KEY, SECRET_KEY = "Xq3vL9pa", "Tm7wQ2zk", "Hb5nR8cy"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def create_request(namespace: str, password: str = PASSWORD) -> runtime_pb2.Request:
    return runtime_pb2.Request(
        runtime=runtime_pb2.Runtime(
            name="Demo",
            namespace=namespace,
            mongo=runtime_pb2.Runtime.MongoConf(username="admin", password=password, sharedKey=SHARED_KEY),
            minio=runtime_pb2.Runtime.MinioConf(accessKey="admin", secretKey=SECRET_KEY),
        )
    )


def facade_process(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """`k8s-manager facade --log-format json` with only the flags' settings; its log goes to tmp_path/facade.log."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("KUBERNETES_", "KRE_"))}
    env.pop("KUBECONFIG", None)
    command = [sys.executable, "-m", "k8s_manager", "facade", "--log-format", "json", "--host", "127.0.0.1", *args]
    with (tmp_path / "facade.log").open("wb") as log:
        return subprocess.Popen(command, env=env, cwd=tmp_path, stderr=log)


def log_lines(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "facade.log").read_text().splitlines() if line.strip()]


@pytest.fixture
async def cluster(kubeconfig: Path) -> AsyncIterator[Path]:
    """The cluster's admin kubeconfig, with the CRDs installed; on a real cluster the Runtimes written are deleted."""
    api = await KubeApi.connect(str(kubeconfig))
    try:
        await asyncio.wait_for(dev.apply_crds(api, dev.load_crds(dev.default_crds_dir())), 30)
        if on_real_cluster():
            await delete_runtimes(api)
        yield kubeconfig
        if on_real_cluster():
            await delete_runtimes(api)
    finally:
        await api.close()


@pytest.fixture
def running(cluster: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    port, metrics_port = free_port(), free_port()
    process = facade_process(
        tmp_path,
        "--kubeconfig",
        str(cluster),
        "--port",
        str(port),
        "--metrics-port",
        str(metrics_port),
        "--shutdown-grace-period",
        "30",
    )
    yield process, port, metrics_port
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.cluster
async def test_sigterm_ends_waits_with_unavailable_and_every_rpc_is_one_json_line(running, tmp_path):
    process, port, metrics_port = running
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        await health.Check(
            health_pb2.HealthCheckRequest(service="grpc.health.v1.Health"), timeout=30, wait_for_ready=True
        )
        runtimes = RuntimeStub(channel)
        created = await runtimes.Create(create_request("kre-demo"), timeout=20)
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await runtimes.Create(create_request("kre-other", password=f"{PASSWORD}!"), timeout=20)
        status_request = runtime_pb2.Request(runtime=runtime_pb2.Runtime(namespace="kre-demo"))
        waiting = asyncio.ensure_future(runtimes.RuntimeStatus(status_request, timeout=60))
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{metrics_port}/metrics") as got:
            metrics = await got.text()

        process.send_signal(signal.SIGTERM)
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await waiting
    code = await asyncio.to_thread(process.wait, 30)
    lines = log_lines(tmp_path)

    assert created.message == "Runtime 'Demo' created"
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 'k8s_manager_facade_rpcs_handled_total{code="OK",method="Create"' in metrics
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert ended.value.details().startswith("the facade is shutting down; Runtime 'kre-demo'")
    assert code == 0
    per_rpc = [{key: line[key] for key in ("rpc", "code", "runtime") if key in line} for line in lines if "rpc" in line]
    assert per_rpc == [
        {"rpc": "Create", "code": "OK", "runtime": "kre-demo"},
        {"rpc": "Create", "code": "INVALID_ARGUMENT", "runtime": "kre-other"},
        {"rpc": "RuntimeStatus", "code": "UNAVAILABLE", "runtime": "kre-demo"},
    ]
    log_text = (tmp_path / "facade.log").read_text()
    for secret in (PASSWORD, SHARED_KEY, SECRET_KEY):
        assert secret not in log_text


def test_an_unreadable_tls_file_stops_the_facade_at_start_naming_it(cluster, tmp_path):
    missing = tmp_path / "tls.key"
    certificate = tmp_path / "tls.crt"
    certificate.write_text("not checked: both files are read before either is checked\n")
    process = facade_process(
        tmp_path,
        "--kubeconfig",
        str(cluster),
        "--port",
        "0",
        "--tls-cert-file",
        str(certificate),
        "--tls-key-file",
        str(missing),
    )

    code = process.wait(timeout=30)
    messages = [line["message"] for line in log_lines(tmp_path)]

    assert code == 1
    assert messages == [f"cannot use TLS: KRE_TLS_KEY_FILE: cannot read {missing}: No such file or directory"]
