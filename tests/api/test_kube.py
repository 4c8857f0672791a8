"""The Kubernetes API adapter (k8s_manager_api.kube) against the emulator, over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from k8s_manager_api import kube
from k8s_manager_api.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    NotFound,
    ServerError,
    TooManyRequests,
    Unauthorized,
    Unreachable,
    from_response,
)
from k8s_manager_api.kube import KubeApi, WatchEvent
from k8s_manager_api.names import CLUSTER_ROLES, CONFIG_MAPS, NAMESPACES, RUNTIMES, SECRETS, Resource
from kube_emulator import Fault
from kube_emulator.threaded import ThreadedEmulator

REPO = Path(__file__).resolve().parents[2]
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
ROOT_CA = "kube-root-ca.crt"  # the ConfigMap the cluster puts in every namespace
TEST_LABEL = {"app.kubernetes.io/created-by": "k8s-manager-tests"}


@pytest.fixture
async def api(kubeconfig: Path) -> AsyncIterator[KubeApi]:
    connected = await KubeApi.connect(str(kubeconfig), request_timeout=10.0, retries=5)
    yield connected
    await connected.close()


def add_fault(emulator: ThreadedEmulator, fault: Fault) -> Fault:
    return emulator.run_sync(lambda: emulator.emulator.faults.add(fault))


def counter(emulator: ThreadedEmulator, method: str, path: str, watch: bool | None = False) -> Fault:
    """A rule that changes nothing: it only counts the matching requests (in `.hits`)."""
    return add_fault(emulator, Fault(method=method, path=path, watch=watch, times=None))


def open_watches(emulator: ThreadedEmulator) -> int:
    store = emulator.emulator.cluster.store
    return emulator.run_sync(lambda: sum(len(watches) for watches in store._watches.values()))


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def configmaps_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps$"


def summary(events: list[WatchEvent]) -> list[tuple[str, str]]:
    return [(event.type, event.object["metadata"]["name"]) for event in events]


async def next_events(events: AsyncIterator[WatchEvent], count: int, within: float = 10.0) -> list[WatchEvent]:
    async with asyncio.timeout(within):
        return [await anext(events) for _ in range(count)]


async def collect(events: AsyncIterator[WatchEvent], into: list[WatchEvent]) -> None:
    async for event in events:
        into.append(event)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 10.0) -> None:
    end = time.monotonic() + within
    while not await check():
        if time.monotonic() > end:
            raise AssertionError(f"{what} did not happen within {within} s")
        await asyncio.sleep(0.05)


async def catch(call: Awaitable[Any], expected: type[KubeError]) -> KubeError:
    with pytest.raises(expected) as caught:
        await call
    return caught.value


# ---------------------------------------------------------------------- CRUD


async def test_crud_on_a_namespaced_kind(api: KubeApi, namespace: str) -> None:
    created = await api.create(CONFIG_MAPS, configmap("settings", a="1"), namespace)
    assert created["metadata"]["namespace"] == namespace
    assert created["data"] == {"a": "1"}

    assert (await api.get(CONFIG_MAPS, "settings", namespace))["metadata"]["uid"] == created["metadata"]["uid"]
    found = await api.find(CONFIG_MAPS, "settings", namespace)
    assert found is not None
    assert found["data"] == {"a": "1"}
    assert await api.find(CONFIG_MAPS, "nothing", namespace) is None

    replaced = await api.replace(CONFIG_MAPS, "settings", {**created, "data": {"a": "2"}}, namespace)
    assert replaced["data"] == {"a": "2"}
    assert int(replaced["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])

    merged = await api.patch(CONFIG_MAPS, "settings", {"data": {"b": "3"}}, namespace)
    assert merged["data"] == {"a": "2", "b": "3"}
    operations = [{"op": "remove", "path": "/data/a"}]
    assert (await api.patch(CONFIG_MAPS, "settings", operations, namespace, patch_type="json"))["data"] == {"b": "3"}
    strategic = await api.patch(
        CONFIG_MAPS, "settings", {"metadata": {"labels": {"tier": "x"}}}, namespace, patch_type="strategic"
    )
    assert strategic["metadata"]["labels"] == {"tier": "x"}

    items, version = await api.list(CONFIG_MAPS, namespace)
    assert sorted(item["metadata"]["name"] for item in items) == [ROOT_CA, "settings"]
    # The adapter fills in what the API leaves out of list items.
    assert {(item["apiVersion"], item["kind"]) for item in items} == {("v1", "ConfigMap")}
    assert int(version) >= int(strategic["metadata"]["resourceVersion"])
    selected, _ = await api.list(CONFIG_MAPS, namespace, labels="tier=x", fields="metadata.name=settings")
    assert [item["metadata"]["name"] for item in selected] == ["settings"]
    assert (await api.list(CONFIG_MAPS, namespace, labels="tier=y"))[0] == []

    assert await api.delete(CONFIG_MAPS, "settings", namespace) is True
    assert await api.delete(CONFIG_MAPS, "settings", namespace) is False
    assert await api.find(CONFIG_MAPS, "settings", namespace) is None


async def test_crud_on_cluster_scoped_kinds(api: KubeApi) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "kube-api-test-reader", "labels": TEST_LABEL},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    created = await api.create(CLUSTER_ROLES, role)
    assert "namespace" not in created["metadata"]
    patched = await api.patch(
        CLUSTER_ROLES,
        "kube-api-test-reader",
        {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]},
    )
    assert patched["rules"][0]["verbs"] == ["list"]
    selected, _ = await api.list(CLUSTER_ROLES, labels="app.kubernetes.io/created-by=k8s-manager-tests")
    assert [item["metadata"]["name"] for item in selected] == ["kube-api-test-reader"]
    assert await api.delete(CLUSTER_ROLES, "kube-api-test-reader") is True
    await catch(api.get(CLUSTER_ROLES, "kube-api-test-reader"), NotFound)

    namespaces, _ = await api.list(NAMESPACES)
    assert {"default", "kube-system"} <= {item["metadata"]["name"] for item in namespaces}


async def test_custom_resources_with_status_subresource(api: KubeApi) -> None:
    crd = yaml.safe_load((REPO / "crds" / "runtimes.kre.konstellation.io.yaml").read_text())
    await api.create(CRDS, crd)

    async def established() -> bool:
        status = (await api.get(CRDS, crd["metadata"]["name"])).get("status") or {}
        return any(c["type"] == "Established" and c["status"] == "True" for c in status.get("conditions") or [])

    await eventually(established, "the Runtime CRD to become Established")
    runtime = yaml.safe_load((REPO / "crds" / "examples" / "runtime.yaml").read_text())
    created = await api.create(RUNTIMES, runtime)
    name = created["metadata"]["name"]

    status = await api.patch(RUNTIMES, name, {"status": {"observedGeneration": 1}}, subresource="status")
    assert status["status"] == {"observedGeneration": 1}
    assert status["metadata"]["generation"] == created["metadata"]["generation"]  # the spec did not change
    current = await api.get(RUNTIMES, name)
    current["status"] = {"observedGeneration": 2}
    assert (await api.replace(RUNTIMES, name, current, subresource="status"))["status"]["observedGeneration"] == 2

    # Custom resources have no strategic merge patch: the API answers 415.
    error = await catch(api.patch(RUNTIMES, name, {"spec": {}}, patch_type="strategic"), KubeError)
    assert (error.status, error.reason) == (415, "UnsupportedMediaType")

    assert await api.delete(RUNTIMES, name, uid=created["metadata"]["uid"]) is True


async def test_create_takes_the_namespace_from_the_body(api: KubeApi, namespace: str) -> None:
    body = {"metadata": {"name": "from-body", "namespace": namespace}, "data": {}}
    assert (await api.create(CONFIG_MAPS, body))["metadata"]["namespace"] == namespace


async def test_paths_are_checked_before_anything_is_sent(api: KubeApi) -> None:
    with pytest.raises(ValueError, match="namespaced"):
        await api.get(CONFIG_MAPS, "x")
    with pytest.raises(ValueError, match="cluster-scoped"):
        await api.get(NAMESPACES, "x", "default")
    with pytest.raises(ValueError, match="not a name"):
        await api.get(CONFIG_MAPS, "..", "default")
    with pytest.raises(ValueError, match="not a name"):
        await api.delete(NAMESPACES, "")
    with pytest.raises(ValueError, match="JSON patch"):
        await api.patch(CONFIG_MAPS, "x", {"data": {}}, "default", patch_type="json")


async def test_delete_with_a_uid_precondition(api: KubeApi, namespace: str) -> None:
    created = await api.create(CONFIG_MAPS, configmap("guarded"), namespace)
    error = await catch(api.delete(CONFIG_MAPS, "guarded", namespace, uid="another-uid"), Conflict)
    assert "the UID in the precondition (another-uid) does not match the UID in record" in error.message
    assert await api.delete(CONFIG_MAPS, "guarded", namespace, uid=created["metadata"]["uid"]) is True


async def test_list_reads_every_page(
    api: KubeApi, namespace: str, emulator: ThreadedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(4):
        await api.create(CONFIG_MAPS, configmap(f"cm-{index}"), namespace)
    monkeypatch.setattr(kube, "LIST_PAGE_SIZE", 2)
    lists = counter(emulator, "GET", configmaps_path(namespace))
    items, version = await api.list(CONFIG_MAPS, namespace)
    assert [item["metadata"]["name"] for item in items] == [f"cm-{index}" for index in range(4)] + [ROOT_CA]
    assert lists.hits == 3  # 5 objects in pages of 2
    assert version == (await api.list(CONFIG_MAPS, namespace))[1]


async def test_list_starts_over_when_the_continue_token_expires(
    api: KubeApi, namespace: str, emulator: ThreadedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(3):
        await api.create(CONFIG_MAPS, configmap(f"cm-{index}"), namespace)
    monkeypatch.setattr(kube, "LIST_PAGE_SIZE", 2)
    expired = add_fault(
        emulator, Fault(method="GET", path=configmaps_path(namespace), status=410, skip=1, message="too old")
    )
    lists = counter(emulator, "GET", configmaps_path(namespace))
    items, _ = await api.list(CONFIG_MAPS, namespace)
    assert sorted(item["metadata"]["name"] for item in items) == sorted([ROOT_CA, "cm-0", "cm-1", "cm-2"])
    assert expired.hits == 1
    assert lists.hits == 2  # the first page, then everything at once (the 410 was answered by the first rule)


# ---------------------------------------------------------------------- errors


async def test_not_found_and_already_exists(api: KubeApi, namespace: str) -> None:
    missing = await catch(api.get(CONFIG_MAPS, "missing", namespace), NotFound)
    assert (missing.status, missing.reason, missing.kind, missing.name) == (404, "NotFound", "configmaps", "missing")
    assert str(missing) == 'configmaps "missing" not found'
    assert missing.safe_message == '404 NotFound on configmaps "missing"'

    await api.create(CONFIG_MAPS, configmap("twice"), namespace)
    taken = await catch(api.create(CONFIG_MAPS, configmap("twice"), namespace), AlreadyExists)
    assert (taken.status, taken.reason) == (409, "AlreadyExists")
    assert not isinstance(taken, Conflict)
    assert str(taken) == 'configmaps "twice" already exists'


async def test_conflict_on_a_stale_resource_version(api: KubeApi, namespace: str) -> None:
    created = await api.create(CONFIG_MAPS, configmap("stale", a="1"), namespace)
    await api.patch(CONFIG_MAPS, "stale", {"data": {"a": "2"}}, namespace)
    error = await catch(api.replace(CONFIG_MAPS, "stale", {**created, "data": {"a": "3"}}, namespace), Conflict)
    assert (error.status, error.reason) == (409, "Conflict")
    assert error.message.startswith('Operation cannot be fulfilled on configmaps "stale"')


async def test_invalid_keeps_causes_and_its_safe_message_keeps_values_out(api: KubeApi, namespace: str) -> None:
    secret = {
        "metadata": {"name": "credentials", "labels": {"password": "hunter2 is secret!"}},
        "stringData": {"password": "hunter2"},
    }
    error = await catch(api.create(SECRETS, secret, namespace), Invalid)
    assert (error.status, error.reason, error.kind, error.name) == (422, "Invalid", "Secret", "credentials")
    assert error.causes[0]["field"] == "metadata.labels"
    assert error.causes[0]["reason"] == "FieldValueInvalid"
    assert "hunter2 is secret!" in str(error)  # the API's own message quotes the value...
    assert "hunter2" not in error.safe_message  # ...the safe one does not
    assert error.safe_message == '422 Invalid on Secret "credentials" (fields: metadata.labels)'


async def test_forbidden(api: KubeApi) -> None:
    error = await catch(api.delete(NAMESPACES, "default"), Forbidden)
    assert (error.status, error.reason) == (403, "Forbidden")
    assert error.message == 'namespaces "default" is forbidden: this namespace may not be deleted'


async def test_error_answers_are_not_retried(api: KubeApi, emulator: ThreadedEmulator) -> None:
    reads = counter(emulator, "GET", "/configmaps/missing$")
    await catch(api.get(CONFIG_MAPS, "missing", "default"), NotFound)
    assert reads.hits == 1

    add_fault(emulator, Fault(method="GET", path="/namespaces$", status=401, message="Unauthorized"))
    unauthorized = await catch(api.list(NAMESPACES), Unauthorized)
    assert (unauthorized.status, unauthorized.reason) == (401, "Unauthorized")

    add_fault(emulator, Fault(method="GET", path="/configmaps$", status=410, message="too old resource version: 1 (2)"))
    gone = await catch(api.list(CONFIG_MAPS, "default"), Gone)
    assert (gone.status, gone.reason, gone.message) == (410, "Expired", "too old resource version: 1 (2)")


async def test_retries_through_bursts_of_server_errors(
    api: KubeApi, namespace: str, emulator: ThreadedEmulator
) -> None:
    burst = add_fault(emulator, Fault(method="POST", path=configmaps_path(namespace), status=503, times=3))
    created = await api.create(CONFIG_MAPS, configmap("persistent"), namespace)
    assert created["metadata"]["name"] == "persistent"
    assert burst.hits == 3

    for verb in ("GET", "PUT", "PATCH", "DELETE"):
        add_fault(emulator, Fault(method=verb, path="/configmaps/persistent$", status=500, times=2))
    assert (await api.get(CONFIG_MAPS, "persistent", namespace))["metadata"]["uid"] == created["metadata"]["uid"]
    replaced = await api.replace(CONFIG_MAPS, "persistent", {**created, "data": {"a": "1"}}, namespace)
    assert replaced["data"] == {"a": "1"}
    assert (await api.patch(CONFIG_MAPS, "persistent", {"data": {"a": "2"}}, namespace))["data"] == {"a": "2"}
    assert await api.delete(CONFIG_MAPS, "persistent", namespace) is True
    assert [fault.hits for fault in emulator.emulator.faults.list()[1:]] == [2, 2, 2, 2]


async def test_too_many_requests_waits_as_told(api: KubeApi, emulator: ThreadedEmulator) -> None:
    throttle = add_fault(emulator, Fault(method="GET", path="/namespaces$", status=429, retry_after=1))
    started = time.monotonic()
    items, _ = await api.list(NAMESPACES)
    assert time.monotonic() - started >= 1.0
    assert "default" in {item["metadata"]["name"] for item in items}
    assert throttle.hits == 1


async def test_gives_up_after_the_retries(kubeconfig: Path, emulator: ThreadedEmulator) -> None:
    always = add_fault(emulator, Fault(method="GET", path="/namespaces$", status=503, times=None, message="down"))
    api = await KubeApi.connect(str(kubeconfig), request_timeout=10.0, retries=2)
    try:
        error = await catch(api.list(NAMESPACES), ServerError)
    finally:
        await api.close()
    assert (error.status, error.reason, error.message) == (503, "ServiceUnavailable", "down")
    assert always.hits == 3  # the call and two retries


async def test_gives_up_when_the_time_is_up(kubeconfig: Path, emulator: ThreadedEmulator) -> None:
    throttle = add_fault(emulator, Fault(method="GET", path="/namespaces$", status=429, retry_after=30, times=None))
    api = await KubeApi.connect(str(kubeconfig), request_timeout=2.0, retries=5)
    try:
        started = time.monotonic()
        error = await catch(api.list(NAMESPACES), TooManyRequests)
        # The API asks for 30 s (capped to 10): more than the 2 s the call has, so no point in waiting.
        assert time.monotonic() - started < 1.0
        assert error.retry_after == 30.0
        assert throttle.hits == 1

        add_fault(emulator, Fault(method="GET", path="/configmaps$", delay=5.0))
        started = time.monotonic()
        slow = await catch(api.list(CONFIG_MAPS, "default"), Unreachable)
        assert (slow.status, slow.reason) == (0, "Timeout")
        assert 1.9 <= time.monotonic() - started < 3.0
    finally:
        await api.close()


async def test_unreachable_when_nothing_listens(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on (taken, then freed)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "nowhere", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "nobody", "user": {"token": "s3cr3t-token"}}],
                "contexts": [{"name": "nowhere", "context": {"cluster": "nowhere", "user": "nobody"}}],
                "current-context": "nowhere",
            }
        )
    )
    api = await KubeApi.connect(str(path), request_timeout=5.0, retries=2)
    try:
        started = time.monotonic()
        error = await catch(api.get(NAMESPACES, "default"), Unreachable)
    finally:
        await api.close()
    assert (error.status, error.reason) == (0, "Unreachable")
    assert f"127.0.0.1:{port}" in error.safe_message
    assert "s3cr3t" not in error.safe_message
    assert time.monotonic() - started < 2.0  # two quick retries, then the error


def test_retry_delays() -> None:
    assert kube._retry_delay(0, 3.0) == 3.0
    assert kube._retry_delay(0, 600.0) == kube.MAX_RETRY_AFTER
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (3, 0.8), (20, kube.MAX_BACKOFF)]:
        delays = [kube._retry_delay(attempt, None) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered


def test_errors_from_bodies_that_are_not_statuses() -> None:
    error = from_response(502, b"<html>Bad Gateway</html>", "7")
    assert isinstance(error, ServerError)
    assert (error.status, error.reason, error.retry_after) == (502, "", 7.0)
    assert error.message == "<html>Bad Gateway</html>"
    assert error.safe_message == "502"
    empty = from_response(429, b"")
    assert isinstance(empty, TooManyRequests)
    assert empty.message == "HTTP 429 TooManyRequests"


# ---------------------------------------------------------------------- the HTTP requests themselves


async def test_requests_carry_the_token_and_the_patch_content_types(tmp_path: Path) -> None:
    seen: list[tuple[str, str, str, str]] = []
    bodies: list[Any] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(
            (
                request.method,
                request.raw_path,
                request.headers.get("Authorization", ""),
                request.headers.get("Content-Type", "") if request.body_exists else "",
            )
        )
        bodies.append(await request.json() if request.body_exists else None)
        return web.json_response({"kind": "ConfigMap", "metadata": {"name": "x"}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "abc123"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    api = await KubeApi.connect(str(path))
    try:
        await api.patch(CONFIG_MAPS, "x", {"data": {}}, "ns")
        await api.patch(CONFIG_MAPS, "x", [], "ns", patch_type="json")
        await api.patch(CONFIG_MAPS, "x", {}, "ns", patch_type="strategic")
        await api.create(RUNTIMES, {"metadata": {"name": "x"}})
        await api.delete(RUNTIMES, "x", propagation="Foreground", uid="u-1")
        await api.get(CONFIG_MAPS, "a/b c", "ns")
        await api.list(CONFIG_MAPS, labels="a in (b,c)")
    finally:
        await api.close()
        await runner.cleanup()
    base = "/api/v1/namespaces/ns/configmaps/x"
    bearer = "Bearer abc123"
    assert seen == [
        ("PATCH", base, bearer, "application/merge-patch+json"),
        ("PATCH", base, bearer, "application/json-patch+json"),
        ("PATCH", base, bearer, "application/strategic-merge-patch+json"),
        ("POST", "/apis/kre.konstellation.io/v1alpha1/runtimes", bearer, "application/json"),
        ("DELETE", "/apis/kre.konstellation.io/v1alpha1/runtimes/x", bearer, "application/json"),
        # A name is one path segment, whatever it holds.
        ("GET", "/api/v1/namespaces/ns/configmaps/a%2Fb%20c", bearer, ""),
        ("GET", "/api/v1/configmaps?labelSelector=a+in+(b,c)&limit=500", bearer, ""),
    ]
    assert bodies[4] == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": "Foreground",
        "preconditions": {"uid": "u-1"},
    }


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "kube-api-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_tls_with_the_kubeconfig_certificate_authority(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cert_path, key_path = self_signed_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_path, key_path)
    answers = 0

    async def answer(request: web.Request) -> web.Response:
        nonlocal answers
        answers += 1
        return web.json_response({"kind": "Namespace", "metadata": {"name": "default"}})

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/default", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls).start()
    port = runner.addresses[0][1]

    def kubeconfig_trusting(ca: bytes, name: str) -> str:
        path = tmp_path / name
        cluster = {"server": f"https://127.0.0.1:{port}", "certificate-authority-data": base64.b64encode(ca).decode()}
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": cluster}],
                    "users": [{"name": "u", "user": {"token": "t"}}],
                    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                    "current-context": "c",
                }
            )
        )
        return str(path)

    (tmp_path / "other").mkdir()
    other_ca, _ = self_signed_certificate(tmp_path / "other")
    trusting = await KubeApi.connect(kubeconfig_trusting(cert_path.read_bytes(), "good"))
    distrusting = await KubeApi.connect(kubeconfig_trusting(other_ca.read_bytes(), "bad"), retries=3)
    try:
        assert (await trusting.get(NAMESPACES, "default"))["metadata"]["name"] == "default"
        error = await catch(distrusting.get(NAMESPACES, "default"), Unreachable)
        # A certificate that does not verify is not retried.
        assert error.reason == "TLSError"
        assert "certificate verify failed" in error.message
        assert answers == 1
        assert not [record for record in caplog.records if "retry" in record.getMessage()]
    finally:
        await trusting.close()
        await distrusting.close()
        await runner.cleanup()


async def test_connect_reads_kubeconfig_from_the_environment(
    kubeconfig: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}:{kubeconfig}")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    api = await KubeApi.connect()
    try:
        assert (await api.get(NAMESPACES, "default"))["metadata"]["name"] == "default"
    finally:
        await api.close()


# ---------------------------------------------------------------------- watch


async def test_watch_streams_changes_without_bookmarks(api: KubeApi, namespace: str) -> None:
    _, version = await api.list(CONFIG_MAPS, namespace)
    events = api.watch(CONFIG_MAPS, namespace, resource_version=version, timeout_seconds=3)
    async with contextlib.aclosing(events):
        await api.create(CONFIG_MAPS, configmap("watched"), namespace)
        await api.patch(CONFIG_MAPS, "watched", {"data": {"a": "1"}}, namespace)
        await api.delete(CONFIG_MAPS, "watched", namespace)
        received = await next_events(events, 3)
        assert summary(received) == [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")]
        assert received[1].object["data"] == {"a": "1"}
        # The emulator sends a BOOKMARK every 0.5 s; none comes through, and the stream ends on its timeout.
        async with asyncio.timeout(10):
            rest = [event async for event in events]
    assert rest == []


async def test_watch_without_a_version_starts_with_what_is_there(api: KubeApi, namespace: str) -> None:
    events = api.watch(CONFIG_MAPS, namespace, labels="", fields=f"metadata.name={ROOT_CA}", timeout_seconds=5)
    async with contextlib.aclosing(events):
        assert summary(await next_events(events, 1)) == [("ADDED", ROOT_CA)]


async def test_opening_a_watch_is_retried_like_any_call(
    api: KubeApi, namespace: str, emulator: ThreadedEmulator
) -> None:
    refusals = add_fault(
        emulator, Fault(method="GET", path=configmaps_path(namespace), watch=True, status=503, times=2)
    )
    events = api.watch(CONFIG_MAPS, namespace, timeout_seconds=5)
    async with contextlib.aclosing(events):
        assert summary(await next_events(events, 1)) == [("ADDED", ROOT_CA)]
    assert refusals.hits == 2


async def test_watch_raises_gone_after_compaction(api: KubeApi, namespace: str, emulator: ThreadedEmulator) -> None:
    _, version = await api.list(CONFIG_MAPS, namespace)
    await api.create(CONFIG_MAPS, configmap("later"), namespace)
    emulator.run_sync(emulator.emulator.cluster.store.compact)
    with pytest.raises(Gone) as caught:
        await collect(api.watch(CONFIG_MAPS, namespace, resource_version=version), [])
    assert (caught.value.status, caught.value.reason) == (410, "Expired")
    assert caught.value.message.startswith(f"too old resource version: {version}")


async def test_watch_raises_unreachable_when_the_stream_breaks(
    api: KubeApi, namespace: str, emulator: ThreadedEmulator
) -> None:
    add_fault(emulator, Fault(method="GET", path=configmaps_path(namespace), watch=True, break_watch_after=1))
    received: list[WatchEvent] = []
    with pytest.raises(Unreachable, match="broke"):
        await collect(api.watch(CONFIG_MAPS, namespace), received)
    assert summary(received) == [("ADDED", ROOT_CA)]


# ---------------------------------------------------------------------- observe


async def test_observe_lists_then_follows(api: KubeApi, namespace: str, emulator: ThreadedEmulator) -> None:
    await api.create(CONFIG_MAPS, configmap("before"), namespace)
    events = api.observe(CONFIG_MAPS, namespace)
    async with contextlib.aclosing(events):
        assert sorted(summary(await next_events(events, 2))) == [("ADDED", "before"), ("ADDED", ROOT_CA)]
        await api.create(CONFIG_MAPS, configmap("after"), namespace)
        await api.delete(CONFIG_MAPS, "before", namespace)
        assert summary(await next_events(events, 2)) == [("ADDED", "after"), ("DELETED", "before")]


async def test_observe_survives_broken_streams(api: KubeApi, namespace: str, emulator: ThreadedEmulator) -> None:
    breaker = add_fault(
        emulator, Fault(method="GET", path=configmaps_path(namespace), watch=True, break_watch_after=1, times=2)
    )
    later_watches = counter(emulator, "GET", configmaps_path(namespace), watch=True)  # once the breaker is used up
    events = api.observe(CONFIG_MAPS, namespace)
    async with contextlib.aclosing(events):
        assert summary(await next_events(events, 1)) == [("ADDED", ROOT_CA)]
        for index in range(4):
            await api.create(CONFIG_MAPS, configmap(f"cm-{index}"), namespace)
        # Two streams break after one event each; nothing is lost and nothing comes twice.
        assert summary(await next_events(events, 4)) == [("ADDED", f"cm-{index}") for index in range(4)]
        assert (breaker.hits, later_watches.hits) == (2, 1)
        await api.create(CONFIG_MAPS, configmap("last"), namespace)
        assert summary(await next_events(events, 1)) == [("ADDED", "last")]


async def test_observe_lists_again_after_compaction(api: KubeApi, namespace: str, emulator: ThreadedEmulator) -> None:
    for name in ("kept", "changed", "removed"):
        await api.create(CONFIG_MAPS, configmap(name), namespace)
    breaker = add_fault(emulator, Fault(method="GET", path=configmaps_path(namespace), watch=True, break_watch_after=1))
    events = api.observe(CONFIG_MAPS, namespace)
    async with contextlib.aclosing(events):
        assert len(await next_events(events, 4)) == 4  # the listed objects
        await api.create(CONFIG_MAPS, configmap("trigger"), namespace)
        assert summary(await next_events(events, 1)) == [("ADDED", "trigger")]
        # The stream broke after that event. While the observer is away: changes, then the history is forgotten.
        assert breaker.hits == 1
        await api.delete(CONFIG_MAPS, "removed", namespace)
        await api.patch(CONFIG_MAPS, "changed", {"data": {"a": "1"}}, namespace)
        await api.create(CONFIG_MAPS, configmap("new"), namespace)
        emulator.run_sync(emulator.emulator.cluster.store.compact)
        caught_up = await next_events(events, 3)
        assert sorted(summary(caught_up)) == [("ADDED", "new"), ("DELETED", "removed"), ("MODIFIED", "changed")]
        assert next(e for e in caught_up if e.type == "MODIFIED").object["data"] == {"a": "1"}
        # And it follows on from the new list.
        await api.delete(CONFIG_MAPS, "kept", namespace)
        assert summary(await next_events(events, 1)) == [("DELETED", "kept")]


async def test_observe_sees_an_object_created_again_as_deleted_then_added(
    api: KubeApi, namespace: str, emulator: ThreadedEmulator
) -> None:
    first = await api.create(CONFIG_MAPS, configmap("phoenix"), namespace)
    events = api.observe(CONFIG_MAPS, namespace, fields="metadata.name=phoenix")
    async with contextlib.aclosing(events):
        assert summary(await next_events(events, 1)) == [("ADDED", "phoenix")]
        # Compacted before the observer opens its watch: it must list again.
        await api.delete(CONFIG_MAPS, "phoenix", namespace)
        second = await api.create(CONFIG_MAPS, configmap("phoenix"), namespace)
        emulator.run_sync(emulator.emulator.cluster.store.compact)
        deleted, added = await next_events(events, 2)
    assert (deleted.type, deleted.object["metadata"]["uid"]) == ("DELETED", first["metadata"]["uid"])
    assert (added.type, added.object["metadata"]["uid"]) == ("ADDED", second["metadata"]["uid"])


async def test_observe_keeps_trying_through_errors(
    kubeconfig: Path, namespace: str, emulator: ThreadedEmulator
) -> None:
    api = await KubeApi.connect(str(kubeconfig), request_timeout=5.0, retries=0)
    failing = add_fault(
        emulator, Fault(method="GET", path=configmaps_path(namespace), watch=False, status=500, times=3)
    )
    try:
        events = api.observe(CONFIG_MAPS, namespace)
        async with contextlib.aclosing(events):
            assert summary(await next_events(events, 1)) == [("ADDED", ROOT_CA)]
        assert failing.hits == 3
    finally:
        await api.close()


async def test_observe_ends_cleanly_on_aclose(api: KubeApi, namespace: str, emulator: ThreadedEmulator) -> None:
    events = api.observe(CONFIG_MAPS, namespace)
    assert summary(await next_events(events, 1)) == [("ADDED", ROOT_CA)]
    await api.create(CONFIG_MAPS, configmap("x"), namespace)
    assert summary(await next_events(events, 1)) == [("ADDED", "x")]  # now the watch is open
    assert open_watches(emulator) == 1

    await events.aclose()

    # A stream left to the garbage collector would be closed by a task scheduled now: give it its chance.
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == {asyncio.current_task()}

    async def no_open_watch() -> bool:
        return open_watches(emulator) == 0

    # The emulator notices the closed connection when it next writes (a bookmark, every 0.5 s).
    await eventually(no_open_watch, "the emulator's watch to end", within=5.0)
