"""Fault injection through the control API (/_emulator/faults) and the Python API (emulator.faults)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import requests
import urllib3
from kube_emulator import Fault
from kube_emulator.threaded import ThreadedEmulator
from kubernetes.client.exceptions import ApiException

# kubernetes>=37 types every model field as Optional; these tests check the values at run time, so they
# use the client untyped.
KubeApi = Any
client: Any = kubernetes.client
config: Any = kubernetes.config
watch: Any = kubernetes.watch

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
ROOT_CA = "kube-root-ca.crt"  # the ConfigMap the cluster puts in every namespace


@pytest.fixture
def core(kubeconfig: Path) -> Iterator[KubeApi]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        yield client.CoreV1Api(api_client)


@pytest.fixture
def base(emulator: ThreadedEmulator) -> str:
    return emulator.url


@pytest.fixture
def http(emulator: ThreadedEmulator) -> Iterator[requests.Session]:
    """`requests` as the cluster admin: the API wants a bearer token (the /_emulator/ routes take none)."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {emulator.admin_token}"
        yield session


def add_fault(base: str, **rule: Any) -> dict[str, Any]:
    answer = requests.post(f"{base}/_emulator/faults", json=rule, timeout=5)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def list_faults(base: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = requests.get(f"{base}/_emulator/faults", timeout=5).json()
    return listed


def configmap_names(core: KubeApi) -> list[str]:
    return [cm.metadata.name for cm in core.list_namespaced_config_map("default").items]


def api_error(call: Any) -> tuple[ApiException, dict[str, Any]]:
    with pytest.raises(ApiException) as caught:
        call()
    return caught.value, json.loads(caught.value.body or "")


def configmap(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {"k": "v"}}


def test_injected_500s_are_answered_instead_of_the_request(core: KubeApi, base: str) -> None:
    rule = add_fault(base, method="POST", path="/configmaps$", status=500, times=2, message="boom")
    assert rule["id"] > 0
    assert (rule["hits"], rule["times"]) == (0, 2)

    for _ in range(2):
        error, body = api_error(lambda: core.create_namespaced_config_map("default", configmap("cm")))
        assert error.status == 500
        assert body == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "boom",
            "reason": "InternalError",
            "code": 500,
        }
        # The failed create was not applied.
        assert configmap_names(core) == [ROOT_CA]

    # The burst is over: the third attempt goes through.
    assert core.create_namespaced_config_map("default", configmap("cm")).metadata.name == "cm"
    assert [f["hits"] for f in list_faults(base)] == [2]

    # Other methods and paths were never affected.
    assert core.read_namespaced_config_map("cm", "default").data == {"k": "v"}


def test_injected_errors_on_writes_change_nothing(core: KubeApi, base: str) -> None:
    created = core.create_namespaced_config_map("default", configmap("cm"))
    add_fault(base, method="PATCH", path=f"{CONFIGMAPS}/cm$", status=503)
    add_fault(base, method="DELETE", path=f"{CONFIGMAPS}/cm$", status=500)
    add_fault(base, method="PUT", path=f"{CONFIGMAPS}/cm$", status=409, message="injected conflict")

    error, body = api_error(lambda: core.patch_namespaced_config_map("cm", "default", {"data": {"k": "x"}}))
    assert (error.status, body["reason"]) == (503, "ServiceUnavailable")
    error, body = api_error(lambda: core.delete_namespaced_config_map("cm", "default"))
    assert (error.status, body["reason"]) == (500, "InternalError")
    error, body = api_error(lambda: core.replace_namespaced_config_map("cm", "default", created))
    assert (error.status, body["reason"]) == (409, "Conflict")

    current = core.read_namespaced_config_map("cm", "default")
    assert current.data == {"k": "v"}
    assert current.metadata.resource_version == created.metadata.resource_version


def test_too_many_requests_with_retry_after(core: KubeApi, base: str, http: requests.Session) -> None:
    add_fault(base, method="GET", path=CONFIGMAPS, status=429, retry_after=3, message="slow down")
    answer = http.get(base + CONFIGMAPS, timeout=5)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "3"
    body = answer.json()
    assert body["reason"] == "TooManyRequests"
    assert body["details"] == {"retryAfterSeconds": 3}

    # Used up: the client now gets through.
    assert configmap_names(core) == [ROOT_CA]


def test_skip_and_times(base: str, http: requests.Session) -> None:
    add_fault(base, method="GET", path="/api/v1/namespaces$", status=500, skip=1, times=2)
    codes = [http.get(f"{base}/api/v1/namespaces", timeout=5).status_code for _ in range(5)]
    assert codes == [200, 500, 500, 200, 200]
    rule = list_faults(base)[0]
    assert (rule["seen"], rule["hits"]) == (3, 2)


def test_unlimited_fault_until_removed(base: str, http: requests.Session) -> None:
    rule = add_fault(base, path="^/version$", status=503, times=None)
    assert [http.get(f"{base}/version", timeout=5).status_code for _ in range(3)] == [503, 503, 503]

    assert requests.delete(f"{base}/_emulator/faults/{rule['id']}", timeout=5).status_code == 200
    assert requests.delete(f"{base}/_emulator/faults/{rule['id']}", timeout=5).status_code == 404
    assert http.get(f"{base}/version", timeout=5).status_code == 200

    add_fault(base, path="^/version$", status=503, times=None)
    add_fault(base, path="^/api$", status=503, times=None)
    assert requests.delete(f"{base}/_emulator/faults", timeout=5).status_code == 200
    assert list_faults(base) == []
    assert http.get(f"{base}/api", timeout=5).status_code == 200


def test_rules_are_matched_in_order(base: str, http: requests.Session) -> None:
    add_fault(base, method="GET", path="/api/v1/namespaces", status=418, times=1)
    add_fault(base, method="GET", path="/api/v1/namespaces", status=500, times=1)
    codes = [http.get(f"{base}/api/v1/namespaces", timeout=5).status_code for _ in range(3)]
    assert codes == [418, 500, 200]


def test_invalid_rules_are_refused(base: str) -> None:
    answer = requests.post(f"{base}/_emulator/faults", json={"status": 500, "colour": "red"}, timeout=5)
    assert answer.status_code == 400
    assert "colour" in answer.json()["error"]
    assert list_faults(base) == []


def test_delay_then_normal_service(core: KubeApi, base: str) -> None:
    core.create_namespaced_config_map("default", configmap("cm"))
    add_fault(base, method="GET", path=f"{CONFIGMAPS}/cm$", delay=0.5)
    started = time.monotonic()
    assert core.read_namespaced_config_map("cm", "default").data == {"k": "v"}
    assert time.monotonic() - started >= 0.45
    started = time.monotonic()
    core.read_namespaced_config_map("cm", "default")
    assert time.monotonic() - started < 0.4


def test_python_api(emulator: ThreadedEmulator, core: KubeApi) -> None:
    faults = emulator.emulator.faults
    rule = emulator.run_sync(lambda: faults.add(Fault(method="POST", path="/secrets$", status=500, times=1)))
    error, _ = api_error(lambda: core.create_namespaced_secret("default", {"metadata": {"name": "s"}}))
    assert error.status == 500
    assert core.list_namespaced_secret("default").items == []
    assert emulator.run_sync(faults.list)[0].hits == 1
    assert rule.hits == 1
    core.create_namespaced_secret("default", {"metadata": {"name": "s"}})
    assert emulator.run_sync(lambda: faults.remove(rule.id))
    assert emulator.run_sync(faults.list) == []


def test_watch_only_faults_leave_lists_alone(core: KubeApi, base: str, http: requests.Session) -> None:
    add_fault(base, path=CONFIGMAPS, watch=True, status=500, times=None)
    assert configmap_names(core) == [ROOT_CA]
    watched = http.get(base + CONFIGMAPS, params={"watch": "true", "timeoutSeconds": "1"}, timeout=5)
    assert watched.status_code == 500
    assert watched.json()["reason"] == "InternalError"


def read_stream(http: requests.Session, base: str, params: dict[str, str], into: list[dict[str, Any]]) -> None:
    """Append the events of a raw watch to `into` until the stream ends (or breaks: then it raises)."""
    with http.get(base + CONFIGMAPS, params={"watch": "true", **params}, stream=True, timeout=10) as answer:
        into.extend(json.loads(line) for line in answer.iter_lines() if line)


def read_client_stream(core: KubeApi, resource_version: str, into: list[str]) -> None:
    for event in watch.Watch().stream(
        core.list_namespaced_config_map, "default", resource_version=resource_version, timeout_seconds=30
    ):
        into.append(event["object"].metadata.name)


def test_broken_watch_stream(core: KubeApi, base: str, http: requests.Session) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    for index in range(4):
        core.create_namespaced_config_map("default", configmap(f"cm-{index}"))
    add_fault(base, path=CONFIGMAPS, watch=True, break_watch_after=2)

    received: list[dict[str, Any]] = []
    began = time.monotonic()
    # Cut without the final chunk: the client cannot mistake it for a clean end of the stream.
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        read_stream(http, base, {"resourceVersion": start, "timeoutSeconds": "30"}, received)
    assert time.monotonic() - began < 5  # cut off, not ended by its 30 s timeout
    assert [e["object"]["metadata"]["name"] for e in received] == ["cm-0", "cm-1"]

    # A client resumes from the last resourceVersion it saw and gets exactly the rest.
    last_seen = received[-1]["object"]["metadata"]["resourceVersion"]
    rest = list(
        watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=last_seen, timeout_seconds=1)
    )
    assert [e["object"].metadata.name for e in rest] == ["cm-2", "cm-3"]


def test_broken_watch_through_the_client(core: KubeApi, base: str) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    for index in range(3):
        core.create_namespaced_config_map("default", configmap(f"cm-{index}"))
    add_fault(base, path=CONFIGMAPS, watch=True, break_watch_after=1)
    names: list[str] = []
    with pytest.raises(urllib3.exceptions.ProtocolError):
        read_client_stream(core, start, names)
    assert names == ["cm-0"]
