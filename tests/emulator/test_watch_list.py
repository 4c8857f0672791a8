"""Streaming lists (`sendInitialEvents`): what client-go's WatchList and kubectl 1.35+ (`kubectl wait`) ask for.

A watch with sendInitialEvents=true and resourceVersionMatch=NotOlderThan starts with the current objects as ADDED
events and, when bookmarks are allowed, a BOOKMARK annotated `k8s.io/initial-events-end: "true"`; then the changes.
A client waiting for that bookmark hangs forever on a server that never sends it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

client: Any = kubernetes.client
config: Any = kubernetes.config

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@pytest.fixture
def core(kubeconfig: Path) -> Iterator[Any]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        yield client.CoreV1Api(api_client)


def _events(core: Any, namespace: str, **options: Any) -> Iterator[dict[str, Any]]:
    response = core.list_namespaced_config_map(namespace, watch=True, _preload_content=False, **options)
    try:
        for line in response:
            for part in line.splitlines():
                if part.strip():
                    yield json.loads(part)
    finally:
        response.release_conn()


@pytest.mark.cluster
def test_a_streaming_list_sends_the_state_then_the_end_bookmark_then_changes(core: Any, namespace: str) -> None:
    for name in ("a", "b"):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name}})
    expected = {item.metadata.name for item in core.list_namespaced_config_map(namespace).items}
    assert {"a", "b"} <= expected

    stream = _events(
        core,
        namespace,
        send_initial_events=True,
        allow_watch_bookmarks=True,
        resource_version_match="NotOlderThan",
        timeout_seconds=20,
    )
    initial: set[str] = set()
    for event in stream:
        if event["type"] == "BOOKMARK":
            assert event["object"]["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
            assert int(event["object"]["metadata"]["resourceVersion"]) > 0
            break
        assert event["type"] == "ADDED"
        initial.add(event["object"]["metadata"]["name"])
    assert initial == expected

    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}})
    for event in stream:
        if event["type"] == "BOOKMARK":
            assert INITIAL_EVENTS_END not in (event["object"]["metadata"].get("annotations") or {})
            continue
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "c")
        break


@pytest.mark.cluster
def test_a_streaming_list_without_bookmarks_sends_no_end_bookmark(core: Any, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "a"}})
    events = list(
        _events(core, namespace, send_initial_events=True, resource_version_match="NotOlderThan", timeout_seconds=2)
    )
    assert events
    assert {event["type"] for event in events} == {"ADDED"}


@pytest.mark.cluster
def test_a_streaming_list_needs_resource_version_match_not_older_than(core: Any, namespace: str) -> None:
    with pytest.raises(ApiException) as raised:
        next(_events(core, namespace, send_initial_events=True, allow_watch_bookmarks=True, timeout_seconds=2))
    assert raised.value.status == 422
    status = json.loads(raised.value.body or "{}")
    assert status["reason"] == "Invalid"
    assert status["message"] == (
        'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueForbidden",
            "message": "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            "field": "resourceVersionMatch",
        }
    ]
