"""Parts of `k8s-manager dev`: reading crds/, a cluster's kubeconfig and the flags, the children's environment and
logs, stopping children, the folder lock and the ports, readiness."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

import grpc
import psutil
import pytest
import yaml
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from k8s_manager import cli
from k8s_manager.dev import (
    LOCK_NAME,
    REPLACE_ATTEMPTS,
    Child,
    ClusterEntry,
    DevError,
    DevOptions,
    DevSession,
    FolderLock,
    UsageError,
    _wait_established,
    check_ports,
    child_environment,
    cluster_of,
    create_or_replace,
    default_crds_dir,
    facade_not_ready,
    identity_kubeconfig_document,
    load_crds,
    operator_not_ready,
    options_from_args,
    port_taken,
    relay_line,
    stop_children,
)
from k8s_manager_api.errors import AlreadyExists, Conflict, NotFound

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


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "k8s_manager.dev" and r.levelno >= logging.WARNING]


async def test_children_that_ignore_sigterm_are_killed_after_the_grace_period(caplog: pytest.LogCaptureFixture):
    polite = await start_python_child("polite", POLITE_CHILD)
    stubborn = await start_python_child("stubborn", STUBBORN_CHILD)
    started = time.monotonic()

    await stop_children([polite, stubborn], grace=0.5, force=asyncio.Event())

    assert polite.exit_description == "killed by SIGTERM"
    assert stubborn.exit_description == "killed by SIGKILL"
    assert 0.5 <= time.monotonic() - started < 5
    assert warnings_of(caplog) == ["killing stubborn: still running 0.5s after SIGTERM (--stop-timeout)"]


async def test_a_forced_stop_kills_and_names_only_the_children_still_running(caplog: pytest.LogCaptureFixture):
    polite = await start_python_child("polite", POLITE_CHILD)  # ends at once on SIGTERM
    stubborn = await start_python_child("stubborn", STUBBORN_CHILD)
    force = asyncio.Event()

    async def second_signal_once_polite_ended() -> None:
        await polite.process.wait()
        force.set()

    second_signal = asyncio.create_task(second_signal_once_polite_ended())
    await stop_children([polite, stubborn], grace=30, force=force)
    await second_signal

    assert polite.exit_description == "killed by SIGTERM"
    assert stubborn.exit_description == "killed by SIGKILL"
    assert warnings_of(caplog) == ["killing stubborn: still stopping at the second signal"]


async def test_a_child_that_ended_counts_as_exited_before_asyncio_has_processed_its_exit():
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    child = Child("quick", process)
    target = psutil.Process(process.pid)

    def ended() -> bool:
        try:
            return bool(target.status() == psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:  # reaped by asyncio's watcher thread, not yet processed by the loop
            return True

    # Polled without awaiting: the event loop is blocked, so asyncio cannot process the exit meanwhile.
    deadline = time.monotonic() + 30
    while not ended():
        assert time.monotonic() < deadline, "the child did not end"
        time.sleep(0.01)  # noqa: ASYNC251 - blocking the loop is the point; psutil's wait would reap the child

    assert process.returncode is None  # what the dev mode used to go by: "still running"
    assert child.exited
    assert await process.wait() == 0


async def test_a_second_signal_after_the_children_stopped_kills_nothing(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="k8s_manager.dev")
    session = DevSession(DevOptions(), io.StringIO(), io.StringIO())
    ended = await start_python_child("operator", "print('up', flush=True)")
    await ended.process.wait()
    session.children = [ended]

    session._on_signal(signal.SIGINT)
    session._on_signal(signal.SIGINT)

    assert [r.getMessage() for r in caplog.records if r.name == "k8s_manager.dev"] == [
        "received SIGINT: stopping",
        "received SIGINT again: the children have stopped already",
    ]
    assert session.force_stop.is_set()


async def test_a_forced_stop_kills_without_waiting_for_the_grace_period():
    stubborn = await start_python_child("stubborn", STUBBORN_CHILD)
    force = asyncio.Event()
    force.set()
    started = time.monotonic()

    await stop_children([stubborn], grace=30, force=force)

    assert stubborn.exit_description == "killed by SIGKILL"
    assert time.monotonic() - started < 5


def kubeconfig_with(tmp_path: Path, cluster: Mapping[str, object]) -> Path:
    """A kind-like kubeconfig (client certificates) whose current context is on `cluster`."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "other", "cluster": {"server": "https://10.9.9.9"}},
            {"name": "kind-a", "cluster": cluster},
        ],
        "users": [{"name": "kind-a", "user": {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"}}],
        "contexts": [
            {"name": "other", "context": {"cluster": "other", "user": "kind-a"}},
            {"name": "kind-a", "context": {"cluster": "kind-a", "user": "kind-a", "namespace": "mine"}},
        ],
        "current-context": "kind-a",
    }
    path = tmp_path / "config" / "kubeconfig"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_cluster_is_the_current_contexts_with_its_ca_file_inlined(tmp_path: Path):
    (tmp_path / "config" / "pki").mkdir(parents=True)
    (tmp_path / "config" / "pki" / "ca.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    settings = {"tls-server-name": "kubernetes", "proxy-url": "http://proxy:3128"}
    kubeconfig = kubeconfig_with(
        tmp_path, {"server": "https://127.0.0.1:6443", "certificate-authority": "pki/ca.crt", **settings}
    )

    entry = cluster_of(kubeconfig)

    assert entry == ClusterEntry(
        "kind-a",
        {
            "server": "https://127.0.0.1:6443",
            **settings,
            "certificate-authority-data": base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode(),
        },
    )


def test_an_absolute_ca_file_is_read_where_it_is(tmp_path: Path):
    (tmp_path / "ca.pem").write_bytes(b"CA")
    kubeconfig = kubeconfig_with(tmp_path, {"server": "https://k", "certificate-authority": str(tmp_path / "ca.pem")})

    assert cluster_of(kubeconfig).cluster == {"server": "https://k", "certificate-authority-data": "Q0E="}


def test_ca_data_wins_over_a_ca_file_as_in_client_go(tmp_path: Path):
    cluster = {"server": "https://k", "certificate-authority-data": "REFUQQ==", "certificate-authority": "missing.pem"}

    assert cluster_of(kubeconfig_with(tmp_path, cluster)).cluster == {
        "server": "https://k",
        "certificate-authority-data": "REFUQQ==",
    }


def test_the_identity_kubeconfig_keeps_the_cluster_and_only_the_token(tmp_path: Path):
    entry = ClusterEntry("kind-a", {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="})

    document = identity_kubeconfig_document(entry, "k8s-manager-facade", "the-token")

    assert document["clusters"] == [{"name": "kind-a", "cluster": entry.cluster}]
    assert document["users"] == [{"name": "k8s-manager-facade", "user": {"token": "the-token"}}]
    assert document["contexts"] == [
        {"name": "k8s-manager-facade", "context": {"cluster": "kind-a", "user": "k8s-manager-facade"}}
    ]
    assert document["current-context"] == "k8s-manager-facade"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"current-context": ""}, "has no current-context"),
        ({"current-context": "gone"}, "no entry 'gone' in contexts"),
        (
            {"contexts": [{"name": "kind-a", "context": {"cluster": "gone", "user": "kind-a"}}]},
            "no entry 'gone' in clusters",
        ),
        (
            {"clusters": [{"name": "kind-a", "cluster": {"certificate-authority-data": "Q0E="}}]},
            "'kind-a' has no server",
        ),
        (
            {"clusters": [{"name": "kind-a", "cluster": {"server": "https://k", "certificate-authority": "no.pem"}}]},
            "cannot read the certificate-authority of 'kind-a'",
        ),
    ],
)
def test_a_kubeconfig_that_names_no_usable_cluster_is_an_error(tmp_path: Path, change: dict[str, object], message: str):
    kubeconfig = kubeconfig_with(tmp_path, {"server": "https://k"})
    kubeconfig.write_text(yaml.safe_dump({**yaml.safe_load(kubeconfig.read_text()), **change}))

    with pytest.raises(DevError, match=message):
        cluster_of(kubeconfig)


@pytest.mark.parametrize("text", ["", "- a list\n", "kind: [unclosed\n"])
def test_a_file_that_is_no_kubeconfig_is_an_error(tmp_path: Path, text: str):
    (tmp_path / "kubeconfig").write_text(text)

    with pytest.raises(DevError, match="kubeconfig"):
        cluster_of(tmp_path / "kubeconfig")


def dev_args(*argv: str) -> DevOptions:
    return options_from_args(cli.build_parser().parse_args(["dev", *argv]))


def test_the_emulator_flags_apply_without_a_kubeconfig():
    assert dev_args("--api-port", "6443", "--ready-after", "2") == DevOptions(api_port=6443, ready_after=2.0)
    assert dev_args("--kubeconfig", "kc") == DevOptions(kubeconfig=Path("kc"))


def test_no_operator_is_an_option_on_the_emulator_and_on_a_cluster():
    assert dev_args().operator
    assert dev_args("--no-operator") == DevOptions(operator=False)
    assert dev_args("--no-operator", "--kubeconfig", "kc") == DevOptions(operator=False, kubeconfig=Path("kc"))


@pytest.mark.parametrize("command", ["dev", "operator", "facade"])
def test_a_wrong_flag_under_a_command_prints_that_commands_usage(command: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--bogus"])

    error = capsys.readouterr().err
    assert exited.value.code == 2
    assert error.startswith(f"usage: k8s-manager {command} ")
    assert error.endswith(f"k8s-manager {command}: error: unrecognized arguments: --bogus\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--bogus", "dev"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_the_top_level_names_an_unknown_option_before_a_missing_command(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)

    error = capsys.readouterr().err
    assert exited.value.code == 2
    assert error.startswith("usage: k8s-manager [-h]")
    assert error.endswith(f"k8s-manager: error: {message}\n")


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--api-port", "0"], "--api-port configures"),  # given explicitly, even with the default value
        (["--ready-after", "0.5"], "--ready-after configures"),
        (["--api-port", "6443", "--ready-after", "1"], "--api-port and --ready-after configure"),
    ],
)
def test_the_emulator_flags_are_refused_with_a_kubeconfig(
    flags: list[str], named: str, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(UsageError, match=named):
        dev_args("--kubeconfig", "kc", *flags)
    with pytest.raises(SystemExit) as exited:
        cli.main(["dev", "--kubeconfig", "kc", *flags])

    assert exited.value.code == 2
    assert (
        f"k8s-manager dev: error: {named} the embedded emulator, which --kubeconfig replaces" in capsys.readouterr().err
    )


class RacingApi:
    """A KubeApi stand-in where another writer changes (or deletes) the object between our read and our replace."""

    def __init__(self, interruptions: list[type[Exception]]) -> None:
        self.interruptions = interruptions
        self.stored: dict[str, Any] | None = {"metadata": {"name": "x", "resourceVersion": "1"}, "data": "theirs"}
        self.replaced: list[dict[str, Any]] = []

    async def create(self, resource: object, obj: dict[str, Any]) -> dict[str, Any]:
        if self.stored is not None:
            raise AlreadyExists(409, "AlreadyExists", "exists")
        self.stored = {**obj, "metadata": {**obj["metadata"], "resourceVersion": "10"}}
        return self.stored

    async def get(self, resource: object, name: str, namespace: str | None = None) -> dict[str, Any]:
        assert self.stored is not None
        return self.stored

    async def replace(self, resource: object, name: str, obj: dict[str, Any], namespace: str | None = None) -> None:
        if self.interruptions:
            interruption = self.interruptions.pop(0)
            if interruption is NotFound:
                self.stored = None
            else:
                assert self.stored is not None
                version = int(self.stored["metadata"]["resourceVersion"]) + 1
                self.stored = {**self.stored, "metadata": {**self.stored["metadata"], "resourceVersion": str(version)}}
            raise interruption(409 if interruption is Conflict else 404, interruption.__name__, "raced")
        assert self.stored is not None
        assert obj["metadata"]["resourceVersion"] == self.stored["metadata"]["resourceVersion"]
        self.replaced.append(obj)
        self.stored = obj


@pytest.mark.parametrize(
    "interruptions",
    [[Conflict], [Conflict, Conflict], [NotFound], [Conflict, NotFound]],
    ids=["conflict", "two-conflicts", "deleted", "conflict-then-deleted"],
)
async def test_create_or_replace_retries_when_another_writer_races_it(interruptions: list[type[Exception]]):
    api = RacingApi(list(interruptions))
    obj = {"metadata": {"name": "x"}, "data": "ours"}
    await create_or_replace(cast(Any, api), cast(Any, None), obj)
    assert api.stored is not None
    assert api.stored["data"] == "ours"
    assert not api.interruptions


async def test_create_or_replace_gives_up_after_repeated_conflicts():
    api = RacingApi([Conflict] * REPLACE_ATTEMPTS)
    with pytest.raises(Conflict):
        await create_or_replace(cast(Any, api), cast(Any, None), {"metadata": {"name": "x"}, "data": "ours"})


# --- The folder lock and the ports ------------------------------------------------------------------


def test_a_locked_folder_is_refused_naming_the_holder_and_is_free_again_once_released(tmp_path: Path):
    folder = tmp_path / "out"
    lock = FolderLock.acquire(folder)
    (folder / "kubeconfig").write_text("the first one's")

    with pytest.raises(DevError) as refused:
        FolderLock.acquire(folder)  # another open file: flock refuses it even within one process
    (folder / "kubeconfig").unlink()
    lock.release()
    again = FolderLock.acquire(folder)
    again_pid = (folder / LOCK_NAME).read_text()
    again.release()

    assert str(refused.value).startswith(
        f"another k8s-manager dev (pid {os.getpid()}) is running with its kubeconfigs in"
    )
    assert again_pid == f"{os.getpid()}\n"
    assert not folder.exists()  # created by the lock, empty at release: removed


def test_a_released_lock_leaves_a_folder_it_did_not_create_or_one_with_files(tmp_path: Path):
    existing = tmp_path / "existing"
    existing.mkdir()
    FolderLock.acquire(existing).release()
    created = tmp_path / "created"
    lock = FolderLock.acquire(created)
    (created / "notes.txt").write_text("mine")
    lock.release()

    assert list(existing.iterdir()) == []
    assert [path.name for path in created.iterdir()] == ["notes.txt"]


def test_a_port_asked_for_twice_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        cli.main(["dev", "--grpc-port", "6000", "--api-port", "6000"])

    assert exited.value.code == 2
    assert (
        "k8s-manager dev: error: --grpc-port and --api-port are both 6000: give them different ports"
        in capsys.readouterr().err
    )
    assert dev_args("--grpc-port", "0", "--api-port", "0") == DevOptions(grpc_port=0, api_port=0)  # two free ports


def test_a_listening_port_is_named_with_its_flag():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(DevError, match=rf"--api-port {port}: 127\.0\.0\.1:{port} is in use \("):
            check_ports({"--grpc-port": 0, "--api-port": port})


def test_a_port_left_in_time_wait_by_a_previous_run_is_free():
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC and aiohttp set it
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server side closes first: its end of the connection stays in TIME_WAIT
            client.recv(1)
    # The premise: without SO_REUSEADDR the port is still taken.
    with socket.socket() as plain, pytest.raises(OSError, match="Address already in use"):
        plain.bind(("127.0.0.1", port))

    assert port_taken(port) is None


# --- Readiness --------------------------------------------------------------------------------------


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[health.aio.HealthServicer, int]]:
    servicer = health.aio.HealthServicer()
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, port
    await server.stop(None)


@pytest.fixture
async def liveness() -> AsyncIterator[tuple[list[int], str]]:
    """A liveness endpoint answering the status at the head of the list."""
    statuses = [503]

    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=statuses[0], text="{}")

    app = web.Application()
    app.router.add_get("/healthz", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield statuses, f"http://127.0.0.1:{port}/healthz"
    await runner.cleanup()


async def test_the_facade_is_ready_once_serving_and_else_says_what_it_answers(health_server):
    servicer, port = health_server
    nobody = free_port()

    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    not_serving = await facade_not_ready(f"127.0.0.1:{port}")
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    serving = await facade_not_ready(f"127.0.0.1:{port}")
    silent = await facade_not_ready(f"127.0.0.1:{nobody}")

    assert not_serving == f"the facade's health check at 127.0.0.1:{port} (answers NOT_SERVING, not SERVING)"
    assert serving is None
    assert silent == f"the facade's health check at 127.0.0.1:{nobody} (no answer: UNAVAILABLE)"


async def test_the_operator_is_ready_once_alive_and_else_says_what_it_answers(liveness):
    import aiohttp

    statuses, url = liveness
    nowhere = f"http://127.0.0.1:{free_port()}/healthz"
    async with aiohttp.ClientSession() as session:
        unavailable = await operator_not_ready(session, url)
        statuses[0] = 200
        alive = await operator_not_ready(session, url)
        silent = await operator_not_ready(session, nowhere)

    assert unavailable == f"the operator's liveness endpoint {url} (answers HTTP 503, not 200)"
    assert alive is None
    assert silent is not None
    assert silent.startswith(f"the operator's liveness endpoint {nowhere} (no answer: ")


@pytest.mark.parametrize("operator", [True, False], ids=["operator", "no-operator"])
async def test_waiting_for_readiness_names_every_component_not_ready(health_server, liveness, operator: bool):
    import aiohttp

    servicer, port = health_server
    _, url = liveness  # answers 503
    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    session = DevSession(DevOptions(grpc_port=port, operator=operator), io.StringIO(), io.StringIO())

    async with aiohttp.ClientSession() as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await session._wait_until_ready(client, url)

    facade = f"the facade's health check at 127.0.0.1:{port} (answers NOT_SERVING, not SERVING)"
    operator_part = f" and the operator's liveness endpoint {url} (answers HTTP 503, not 200)" if operator else ""
    assert session.stage == f"waiting for {facade}{operator_part}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_new_crd_with_null_conditions_is_awaited_until_established():
    """kube-apiserver answers `status.conditions: null` for a CRD it has just created."""
    answers: list[dict[str, Any]] = [
        {"status": None},
        {"status": {"conditions": None}},
        {"status": {"conditions": [{"type": "Established", "status": "True"}]}},
    ]

    class Api:
        async def find(self, resource: object, name: str) -> dict[str, Any]:
            return answers.pop(0)

    await _wait_established(cast(Any, Api()), "runtimes.kre.konstellation.io")
    assert answers == []
