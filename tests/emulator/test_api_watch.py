"""Lists and watches: selectors, pagination, resourceVersion semantics, bookmarks, expiry and timeouts.

The tests marked `cluster` work in a namespace of their own (the `namespace` fixture) and talk raw HTTP with the
kubeconfig's credentials (tests/raw_api.py), so they hold against a real cluster too; the others need the emulator
(compaction, closing watches, its bookmark interval, its global resourceVersion counter alone).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import requests
from kube_emulator.threaded import ThreadedEmulator
from kubernetes.client.exceptions import ApiException

from tests.raw_api import RawApi, raw_api

# kubernetes>=37 types every model field as Optional; these tests check the values at run time, so they
# use the client untyped.
KubeApi = Any
client: Any = kubernetes.client
config: Any = kubernetes.config
watch: Any = kubernetes.watch

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
ROOT_CA = "kube-root-ca.crt"  # the ConfigMap the cluster puts in every namespace
CREATED_BY = {"app.kubernetes.io/created-by": "k8s-manager-tests"}  # as tests/conftest.py labels its namespaces


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


@pytest.fixture
def raw(kubeconfig: Path) -> Iterator[RawApi]:
    """Raw HTTP to the cluster under test, as the kubeconfig's user."""
    with raw_api(kubeconfig) as api:
        yield api


def configmaps(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps"


@pytest.fixture
def other_namespace(core: KubeApi, namespace: str) -> Iterator[str]:
    """A second namespace of the test's own, deleted afterwards."""
    name = f"{namespace}-other"
    core.create_namespace({"metadata": {"name": name, "labels": CREATED_BY}})
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


def make(core: KubeApi, name: str, namespace: str = "default", **labels: str) -> str:
    """Create a ConfigMap; returns its resourceVersion."""
    body = {"metadata": {"name": name, "labels": labels}, "data": {}}
    return str(core.create_namespaced_config_map(namespace, body).metadata.resource_version)


def relabel(core: KubeApi, name: str, namespace: str, **labels: str | None) -> str:
    patched = core.patch_namespaced_config_map(name, namespace, {"metadata": {"labels": labels}})
    return str(patched.metadata.resource_version)


def names(items: list[Any]) -> list[str]:
    return [item.metadata.name for item in items]


def eventually(check: Callable[[], bool], what: str, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)


def raw_watch(
    http: requests.Session | RawApi,
    base: str,
    path: str,
    params: dict[str, str],
    max_events: int | None = None,
) -> tuple[list[dict[str, Any]], float]:
    """Read a watch stream until it ends (or `max_events` arrived); returns the events and the seconds taken."""
    started = time.monotonic()
    events: list[dict[str, Any]] = []
    session = http.session if isinstance(http, RawApi) else http
    with session.get(base + path, params={"watch": "true", **params}, stream=True, timeout=15) as answer:
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "application/json"
        for line in answer.iter_lines():
            if not line:
                continue
            events.append(json.loads(line))
            if max_events is not None and len(events) >= max_events:
                break
    return events, time.monotonic() - started


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events if e["type"] != "BOOKMARK"]


# ---------------------------------------------------------------------------------------------- lists


@pytest.mark.cluster
def test_label_selectors_equality_and_set_based(core: KubeApi, raw: RawApi, namespace: str) -> None:
    make(core, "web-front", namespace, app="web", tier="front")
    make(core, "web-back", namespace, app="web", tier="back")
    make(core, "db", namespace, app="db")
    make(core, "plain", namespace)

    def selected(selector: str) -> list[str]:
        return sorted(names(core.list_namespaced_config_map(namespace, label_selector=selector).items))

    assert selected("app=web") == ["web-back", "web-front"]
    assert selected("app==web") == ["web-back", "web-front"]
    assert selected("app!=web") == ["db", ROOT_CA, "plain"]  # != also matches objects without the label
    assert selected("app in (web,db)") == ["db", "web-back", "web-front"]
    assert selected("app notin (web)") == ["db", ROOT_CA, "plain"]
    assert selected("tier") == ["web-back", "web-front"]
    assert selected("!tier") == ["db", ROOT_CA, "plain"]
    assert selected("app=web,tier=front") == ["web-front"]
    assert selected("app in (web),tier notin (front)") == ["web-back"]
    assert selected("app=nothing") == []

    invalid = raw.get(configmaps(namespace), params={"labelSelector": "app in web"})
    assert invalid.status_code == 400
    assert invalid.json()["reason"] == "BadRequest"
    assert invalid.json()["message"] == "unable to parse requirement: found 'web' expected: '('"


@pytest.mark.cluster
def test_field_selectors_on_name_and_namespace(
    core: KubeApi, raw: RawApi, namespace: str, other_namespace: str
) -> None:
    other = other_namespace
    make(core, "a", namespace)
    make(core, "b", namespace)
    make(core, "a", namespace=other)
    # The cluster publishes its CA bundle in the new namespace a moment after creating it.
    eventually(lambda: ROOT_CA in names(core.list_namespaced_config_map(other).items), "the CA bundle in other")

    by_name = core.list_namespaced_config_map(namespace, field_selector="metadata.name=a").items
    assert [(i.metadata.namespace, i.metadata.name) for i in by_name] == [(namespace, "a")]
    assert names(core.list_namespaced_config_map(namespace, field_selector="metadata.name!=a").items) == [
        "b",
        ROOT_CA,
    ]

    # (Other namespaces of a real cluster may hold an "a" too: only the test's own count.)
    everywhere = core.list_config_map_for_all_namespaces(field_selector="metadata.name=a").items
    assert sorted(i.metadata.namespace for i in everywhere if i.metadata.namespace in (namespace, other)) == sorted(
        [namespace, other]
    )
    assert all(i.metadata.name == "a" for i in everywhere)
    in_other = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={other}").items
    assert [(i.metadata.namespace, i.metadata.name) for i in in_other] == [(other, "a"), (other, ROOT_CA)]
    both = core.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={namespace},metadata.name=b")
    assert names(both.items) == ["b"]

    unknown = raw.get(configmaps(namespace), params={"fieldSelector": "data.key=x"})
    assert unknown.status_code == 400
    assert unknown.json()["reason"] == "BadRequest"
    assert unknown.json()["message"] == (
        '"data.key" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


# Emulator only: on a real cluster other writers (leases, controllers) move the global resourceVersion as well.
def test_list_resource_version_is_the_global_one(core: KubeApi) -> None:
    rv = int(make(core, "cm"))
    assert int(core.list_namespaced_config_map("default").metadata.resource_version) == rv
    # A write to another kind moves every list's resourceVersion.
    secret_rv = int(core.create_namespaced_secret("default", {"metadata": {"name": "s"}}).metadata.resource_version)
    assert secret_rv > rv
    assert int(core.list_namespaced_config_map("default").metadata.resource_version) == secret_rv
    # Items keep their own resourceVersions.
    assert core.list_namespaced_config_map("default").items[0].metadata.resource_version == str(rv)


@pytest.mark.cluster
def test_pagination_with_limit_and_continue(core: KubeApi, raw: RawApi, namespace: str) -> None:
    for index in range(4):  # five ConfigMaps with the CA bundle, which sorts last
        make(core, f"cm-{index}", namespace)

    first = core.list_namespaced_config_map(namespace, limit=2)
    assert names(first.items) == ["cm-0", "cm-1"]
    assert first.metadata.remaining_item_count == 3
    assert first.metadata._continue

    second = core.list_namespaced_config_map(namespace, limit=2, _continue=first.metadata._continue)
    assert names(second.items) == ["cm-2", "cm-3"]
    assert second.metadata.remaining_item_count == 1

    last = core.list_namespaced_config_map(namespace, limit=2, _continue=second.metadata._continue)
    assert names(last.items) == [ROOT_CA]
    assert last.metadata._continue is None
    assert last.metadata.remaining_item_count is None

    everything = core.list_namespaced_config_map(namespace, limit=10)
    assert len(everything.items) == 5
    assert everything.metadata._continue is None

    # The token is unpadded base64url of JSON: "not-a-token" decodes, to bytes that are no JSON.
    broken = raw.get(configmaps(namespace), params={"limit": "2", "continue": "not-a-token"})
    assert broken.status_code == 400
    assert broken.json()["reason"] == "BadRequest"
    assert broken.json()["message"] == (
        "invalid continue token: continue key is not valid: invalid character '\\u009e' looking for beginning of value"
    )

    padded = base64.urlsafe_b64encode(b"[]").decode()
    forged = raw.get(configmaps(namespace), params={"continue": padded})
    assert forged.status_code == 400
    assert forged.json()["message"] == (
        "invalid continue token: continue key is not valid: illegal base64 data at input byte 3"
    )
    not_a_token = base64.urlsafe_b64encode(b"[]").decode().rstrip("=")
    assert raw.get(configmaps(namespace), params={"continue": not_a_token}).json()["message"] == (
        "invalid continue token: continue key is not valid: "
        "json: cannot unmarshal array into Go value of type storage.continueToken"
    )
    pinned = raw.get(configmaps(namespace), params={"continue": first.metadata._continue, "resourceVersion": "5"})
    assert (pinned.status_code, pinned.json()["message"]) == (
        400,
        "specifying resource version is not allowed when using continue",
    )


# ---------------------------------------------------------------------------------------------- watches


@pytest.mark.cluster
def test_watch_from_a_resource_version_replays_exactly_the_later_events(core: KubeApi, namespace: str) -> None:
    make(core, "before", namespace)
    start = make(core, "a", namespace)
    relabel(core, "a", namespace, x="1")
    make(core, "b", namespace)
    core.delete_namespaced_config_map("a", namespace)
    core.create_namespaced_secret(namespace, {"metadata": {"name": "not-a-configmap"}})

    watcher = watch.Watch()
    events = list(watcher.stream(core.list_namespaced_config_map, namespace, resource_version=start, timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("MODIFIED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions)
    assert versions[0] > int(start)
    assert events[0]["object"].metadata.labels == {"x": "1"}


@pytest.mark.cluster
def test_watch_without_resource_version_starts_with_added_events(core: KubeApi, raw: RawApi, namespace: str) -> None:
    make(core, "one", namespace)
    make(core, "two", namespace)
    events, _ = raw_watch(raw, raw.base, configmaps(namespace), {"timeoutSeconds": "1"})
    assert summary(events) == [("ADDED", ROOT_CA), ("ADDED", "one"), ("ADDED", "two")]
    assert all(e["object"]["kind"] == "ConfigMap" and e["object"]["apiVersion"] == "v1" for e in events)

    # resourceVersion=0 means "any": the same synthetic ADDED events.
    zero, _ = raw_watch(raw, raw.base, configmaps(namespace), {"timeoutSeconds": "1", "resourceVersion": "0"})
    assert summary(zero) == [("ADDED", ROOT_CA), ("ADDED", "one"), ("ADDED", "two")]


@pytest.mark.cluster
def test_watch_sees_live_changes_and_only_its_namespace(core: KubeApi, namespace: str) -> None:
    elsewhere = f"{namespace}-elsewhere"
    core.create_namespace(
        {"metadata": {"name": elsewhere, "labels": {"app.kubernetes.io/created-by": "k8s-manager-tests"}}}
    )
    try:
        start = core.list_namespaced_config_map(namespace).metadata.resource_version
        watcher = watch.Watch()
        stream = watcher.stream(core.list_namespaced_config_map, namespace, resource_version=start, timeout_seconds=5)
        make(core, "elsewhere-cm", elsewhere)
        make(core, "here", namespace)
        first = next(stream)
        watcher.stop()
    finally:
        core.delete_namespace(elsewhere)
    assert (first["type"], first["object"].metadata.name) == ("ADDED", "here")


def test_expired_resource_version_through_the_client(emulator: ThreadedEmulator, core: KubeApi) -> None:
    old = make(core, "old")
    make(core, "new")
    emulator.run_sync(emulator.emulator.cluster.store.compact)

    watcher = watch.Watch()
    with pytest.raises(ApiException) as caught:
        list(watcher.stream(core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=2))
    assert caught.value.status == 410
    assert caught.value.reason.startswith(f"Expired: too old resource version: {old} (")

    # A watch from the current resourceVersion is fine after compaction.
    current = core.list_namespaced_config_map("default").metadata.resource_version
    assert (
        list(watcher.stream(core.list_namespaced_config_map, "default", resource_version=current, timeout_seconds=1))
        == []
    )


def test_expired_resource_version_raw(core: KubeApi, base: str, http: requests.Session) -> None:
    old = make(core, "old")
    make(core, "new")
    compacted = requests.post(base + "/_emulator/compact", timeout=5).json()["compactedResourceVersion"]
    assert int(compacted) > int(old)

    events, _ = raw_watch(http, base, CONFIGMAPS, {"resourceVersion": old, "timeoutSeconds": "5"})
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["status"], status["code"], status["reason"]) == ("Status", "Failure", 410, "Expired")
    assert status["message"] == f"too old resource version: {old} ({compacted})"


# Emulator only: its bookmark interval (0.5 s here) makes one come within a second; kube-apiserver sends them
# about once a minute.
def test_bookmarks_when_allowed(core: KubeApi, base: str, http: requests.Session) -> None:
    rv = make(core, "cm")
    events, _ = raw_watch(
        http, base, CONFIGMAPS, {"resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "1"}
    )
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks, events
    assert bookmarks[0]["object"]["kind"] == "ConfigMap"
    assert bookmarks[0]["object"]["apiVersion"] == "v1"
    assert int(bookmarks[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)
    assert [e for e in events if e["type"] != "BOOKMARK"] == []

    without, _ = raw_watch(http, base, CONFIGMAPS, {"resourceVersion": rv, "timeoutSeconds": "1"})
    assert without == []

    # The client takes the bookmark's resourceVersion as its own.
    watcher = watch.Watch()
    seen = []
    for event in watcher.stream(
        core.list_namespaced_config_map, "default", resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=2
    ):
        seen.append(event["type"])
        watcher.stop()
    assert seen == ["BOOKMARK"]
    assert int(watcher.resource_version) >= int(rv)


@pytest.mark.cluster
def test_timeout_seconds_ends_the_stream_on_time(core: KubeApi, raw: RawApi, namespace: str) -> None:
    now = core.list_namespaced_config_map(namespace).metadata.resource_version
    events, took = raw_watch(raw, raw.base, configmaps(namespace), {"timeoutSeconds": "1", "resourceVersion": now})
    assert events == []
    assert 0.8 <= took < 3.0

    # Bookmarks keep an idle stream alive, but do not stretch it past its timeout.
    with_bookmarks, took = raw_watch(
        raw,
        raw.base,
        configmaps(namespace),
        {"timeoutSeconds": "1", "allowWatchBookmarks": "true", "resourceVersion": now},
    )
    assert 0.8 <= took < 3.0
    assert summary(with_bookmarks) == []


@pytest.mark.cluster
def test_label_changes_move_objects_in_and_out_of_a_watched_selection(core: KubeApi, namespace: str) -> None:
    make(core, "cm", namespace, app="other")
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    relabel(core, "cm", namespace, app="web")  # enters the selection
    core.patch_namespaced_config_map("cm", namespace, {"data": {"k": "v"}})  # changes inside it
    relabel(core, "cm", namespace, app="other")  # leaves it
    core.patch_namespaced_config_map("cm", namespace, {"data": {"k": "w"}})  # changes outside: unseen
    relabel(core, "cm", namespace, app="web")  # enters again
    core.delete_namespaced_config_map("cm", namespace)

    watcher = watch.Watch()
    events = list(
        watcher.stream(
            core.list_namespaced_config_map,
            namespace,
            label_selector="app=web",
            resource_version=start,
            timeout_seconds=1,
        )
    )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED", "ADDED", "DELETED"]
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(set(versions))
    # Leaving the selection: as the watch cache does, the last content the watcher could see (still
    # matching), at the resourceVersion of the change that moved it out.
    assert events[2]["object"].metadata.labels == {"app": "web"}
    assert events[2]["object"].data == {"k": "v"}
    assert events[3]["object"].metadata.labels == {"app": "web"}
    assert events[3]["object"].data == {"k": "w"}


@pytest.mark.cluster
def test_field_selector_watch(core: KubeApi, raw: RawApi, namespace: str) -> None:
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    make(core, "wanted", namespace)
    make(core, "unwanted", namespace)
    events, _ = raw_watch(
        raw,
        raw.base,
        configmaps(namespace),
        {"resourceVersion": start, "fieldSelector": "metadata.name=wanted", "timeoutSeconds": "1"},
    )
    assert summary(events) == [("ADDED", "wanted")]


@pytest.mark.cluster
def test_all_namespaces_watch_of_a_cluster_scoped_kind(core: KubeApi, raw: RawApi, namespace: str) -> None:
    start = core.list_namespace().metadata.resource_version
    fresh = f"{namespace}-fresh"
    core.create_namespace({"metadata": {"name": fresh, "labels": CREATED_BY}})
    try:
        events, _ = raw_watch(raw, raw.base, "/api/v1/namespaces", {"resourceVersion": start, "timeoutSeconds": "1"})
    finally:
        core.delete_namespace(fresh)
    # A real cluster's other namespaces come and go meanwhile: the first event about ours is its creation.
    ours = [event for event in events if event["object"]["metadata"]["name"] == fresh]
    assert ours[0]["type"] == "ADDED"
    assert ours[0]["object"]["kind"] == "Namespace"
    assert ours[0]["object"]["status"]["phase"] == "Active"


def test_closing_watches_ends_open_streams(core: KubeApi, base: str, http: requests.Session) -> None:
    start = core.list_namespaced_config_map("default").metadata.resource_version
    began = time.monotonic()
    with http.get(
        base + CONFIGMAPS,
        params={"watch": "1", "resourceVersion": start, "timeoutSeconds": "30"},
        stream=True,
        timeout=15,
    ) as answer:
        make(core, "seen")
        lines = answer.iter_lines()
        assert json.loads(next(lines))["type"] == "ADDED"
        requests.post(base + "/_emulator/watches/close", timeout=5)
        assert [line for line in lines if line] == []  # the stream ends, well before its 30 s timeout
    assert time.monotonic() - began < 10
