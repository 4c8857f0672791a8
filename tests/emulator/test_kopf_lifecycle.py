"""A real kopf operator (`kopf run` in a subprocess) driving a custom resource through its whole life.

The operator is written by the test into tmp_path; everything it does is observed through the API:
finalizers, status patches, posted events, adopted children and their garbage collection. Each test has a
CRD group and a namespace of its own, both deleted afterwards, so the lifecycle test also runs against a
real cluster (K8S_MANAGER_TEST_KUBECONFIG).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import requests
from kube_emulator.threaded import ThreadedEmulator
from kubernetes.client.exceptions import ApiException

# kubernetes>=37 types every model field as Optional; these tests check the values at run time, so they
# use the client untyped.
KubeApi = Any
client: Any = kubernetes.client
config: Any = kubernetes.config

PLURAL = "widgets"
KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
DEADLINE = 20.0

OPERATOR_SOURCE = '''
"""A small operator for the emulator's kopf lifecycle tests."""
import logging
import os

import kopf
import kubernetes

GROUP, VERSION, PLURAL = os.environ["WIDGET_GROUP"], "v1", "widgets"
TAG = os.environ["OPERATOR_TAG"]
TICKS = {"count": 0}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.networking.error_backoffs = [0.1, 0.2, 0.5, 1.0]
    settings.watching.reconnect_backoff = 0.1
    settings.watching.server_timeout = 30
    settings.batching.idle_timeout = 0.5
    settings.batching.batch_window = 0.05
    settings.posting.level = logging.INFO
    settings.posting.loggers = True  # kopf >= 1.45 posts its log lines as events only when asked to
    kubernetes.config.load_kube_config()


@kopf.on.create(GROUP, VERSION, PLURAL)
def created(spec, name, namespace, body, logger, **_):
    child = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-child"},
             "data": {"size": str(spec.get("size"))}}
    kopf.adopt(child, owner=body)
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, child)
    logger.info(f"created the child of {name}")
    kopf.info(body, reason="ChildCreated", message=f"{name}-child")
    return {"size": spec.get("size"), "by": TAG}


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def updated(new, patch, **_):
    patch.status["seenSize"] = new.get("size")


@kopf.on.resume(GROUP, VERSION, PLURAL)
def resumed(patch, **_):
    patch.status["resumedBy"] = TAG


@kopf.on.delete(GROUP, VERSION, PLURAL)
def deleted(name, namespace, **_):
    marker = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-deleted"},
              "data": {"by": TAG}}
    try:
        kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, marker)
    except kubernetes.client.ApiException as error:
        # Idempotent: kopf runs the handler again if it could not release the object the first
        # time (e.g. while a timer it must stop first is still retrying a request).
        if error.status != 409:
            raise


@kopf.timer(GROUP, VERSION, PLURAL, interval=0.3)
def tick(patch, **_):
    TICKS["count"] += 1
    patch.status["ticks"] = TICKS["count"]
'''


def widget_crd(group: str) -> dict[str, Any]:
    open_object = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                                "status": open_object,
                            },
                        }
                    },
                }
            ],
        },
    }


@dataclass
class Operator:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@dataclass
class Cluster:
    """The API as the tests see it: widgets of the test's own CRD group, in the test's own namespace."""

    core: KubeApi
    custom: KubeApi
    group: str
    namespace: str
    start_operator: Callable[[str], Operator]
    operators: list[Operator]

    def widget(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.custom.get_namespaced_custom_object(
                self.group, "v1", self.namespace, PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return found

    def patch_widget(self, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(self.group, "v1", self.namespace, PLURAL, name, patch)

    def delete_widget(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(self.group, "v1", self.namespace, PLURAL, name)

    def configmap(self, name: str) -> Any:
        try:
            return self.core.read_namespaced_config_map(name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def eventually(self, check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
        end = time.monotonic() + deadline
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > end:
                logs = "\n".join(f"--- operator log {i}:\n{op.log()[-6000:]}" for i, op in enumerate(self.operators))
                raise AssertionError(f"timed out waiting for: {what}\n{logs}")
            time.sleep(0.1)


def expire_watches(emulator: ThreadedEmulator, namespace: str) -> None:
    """Move the resourceVersion on, compact the history and end every watch, all in one step.

    Atomic on the emulator's loop, so no event or bookmark can reach a watcher in between: every
    watcher's last resourceVersion is then older than the compacted one, and re-watching gets 410.
    """

    def expire() -> None:
        cluster = emulator.emulator.cluster
        configmaps = cluster.rtype("", "v1", "configmaps")
        cluster.store.create(configmaps, namespace, {"metadata": {"generateName": "bump-"}})
        cluster.store.compact()
        cluster.store.end_watches()

    emulator.run_sync(expire)


def served(custom: KubeApi, group: str) -> bool:
    try:
        return PLURAL in {resource.name for resource in custom.get_api_resources(group, "v1").resources}
    except ApiException as error:
        if error.status == 404:
            return False
        raise


def remove_widgets_and_their_crd(cluster: Cluster, extensions: KubeApi) -> None:
    """Whatever a failed test left: kopf's finalizers would hold the widgets, and so the CRD, forever."""
    for item in cluster.custom.list_namespaced_custom_object(cluster.group, "v1", cluster.namespace, PLURAL)["items"]:
        if item["metadata"].get("finalizers"):
            try:
                cluster.patch_widget(item["metadata"]["name"], {"metadata": {"finalizers": None}})
            except ApiException as error:
                if error.status != 404:
                    raise
    try:
        extensions.delete_custom_resource_definition(f"{PLURAL}.{cluster.group}")
    except ApiException as error:
        if error.status != 404:
            raise


@pytest.fixture
def cluster(kubeconfig: Path, namespace: str, tmp_path: Path) -> Iterator[Cluster]:
    group = f"kopf-{uuid.uuid4().hex[:8]}.example.com"
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    operator_file = tmp_path / "operator.py"
    operator_file.write_text(OPERATOR_SOURCE)
    operators: list[Operator] = []

    def start_operator(tag: str) -> Operator:
        log_path = tmp_path / f"operator-{tag}.log"
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "OPERATOR_TAG": tag,
            "WIDGET_GROUP": group,
            "PYTHONUNBUFFERED": "1",
        }
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "kopf",
                    "run",
                    "--standalone",
                    "--all-namespaces",
                    "--verbose",
                    str(operator_file),
                ],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        operator = Operator(process, log_path)
        operators.append(operator)
        return operator

    with client.ApiClient(configuration) as api_client:
        extensions = client.ApiextensionsV1Api(api_client)
        custom = client.CustomObjectsApi(api_client)
        extensions.create_custom_resource_definition(widget_crd(group))
        running = Cluster(client.CoreV1Api(api_client), custom, group, namespace, start_operator, operators)
        try:
            running.eventually(lambda: served(custom, group), "the CRD to be served")
            yield running
        finally:
            for operator in operators:
                operator.stop()
            remove_widgets_and_their_crd(running, extensions)


def create_widget(cluster: Cluster, name: str, size: int) -> dict[str, Any]:
    body = {"apiVersion": f"{cluster.group}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": size}}
    created: dict[str, Any] = cluster.custom.create_namespaced_custom_object(
        cluster.group, "v1", cluster.namespace, PLURAL, body
    )
    return created


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    found = cluster.widget(name) or {}
    return dict(found.get("status") or {})


def handled(cluster: Cluster, name: str) -> dict[str, Any] | None:
    """The widget once kopf has put its finalizer on it and the create handler has reported back."""
    found = cluster.widget(name)
    if found and KOPF_FINALIZER in found["metadata"].get("finalizers", []) and "created" in found.get("status", {}):
        return found
    return None


@pytest.mark.cluster
def test_kopf_drives_a_custom_resource_through_its_life(cluster: Cluster) -> None:
    first = cluster.start_operator("first")
    created = create_widget(cluster, "w1", size=1)

    # Create: finalizer added (kopf adds it with a JSON patch guarded by a resourceVersion test),
    # the handler's result in status, and an adopted child.
    body = cluster.eventually(lambda: handled(cluster, "w1"), "the create handler")
    assert body["status"]["created"] == {"size": 1, "by": "first"}
    assert body["metadata"]["generation"] == 1
    child = cluster.eventually(lambda: cluster.configmap("w1-child"), "the adopted child")
    owner = child.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid) == ("Widget", "w1", created["metadata"]["uid"])
    assert owner.controller is True
    assert owner.block_owner_deletion is True

    # kopf posts core v1 events about the object (its logging and handler outcomes).
    def events() -> list[Any]:
        listed = cluster.core.list_namespaced_event(cluster.namespace, field_selector="involvedObject.name=w1").items
        return [e for e in listed if e.involved_object.kind == "Widget"]

    explicit = cluster.eventually(lambda: [e for e in events() if e.reason == "ChildCreated"], "kopf.info's event")
    assert explicit[0].message == "w1-child"
    assert explicit[0].type == "Normal"
    assert explicit[0].involved_object.uid == created["metadata"]["uid"]
    assert explicit[0].involved_object.api_version == f"{cluster.group}/v1"
    assert explicit[0].source.component == "kopf"
    assert explicit[0].metadata.name.startswith("kopf-event-")
    logged = cluster.eventually(
        lambda: [e for e in events() if e.reason == "Logging" and "created the child of w1" in (e.message or "")],
        "a logged line as an event",
    )
    assert logged[0].involved_object.name == "w1"
    cluster.eventually(
        lambda: any("Handler 'created' succeeded" in (e.message or "") for e in events()), "a handler success event"
    )

    # A timer fires repeatedly.
    cluster.eventually(lambda: status(cluster, "w1").get("ticks", 0) >= 2, "the timer")

    # Update: a spec change reaches the update handler; generation follows the spec.
    cluster.patch_widget("w1", {"spec": {"size": 2}})
    cluster.eventually(lambda: status(cluster, "w1").get("seenSize") == 2, "the update handler")
    assert (cluster.widget("w1") or {})["metadata"]["generation"] == 2

    # Restart: the next operator resumes the existing object.
    first.stop()
    assert first.process.returncode is not None
    cluster.start_operator("second")
    cluster.eventually(lambda: status(cluster, "w1").get("resumedBy") == "second", "the resume handler")

    # Delete: the delete handler runs, kopf removes its finalizer, the object goes, the child is collected.
    cluster.delete_widget("w1")
    cluster.eventually(lambda: cluster.widget("w1") is None, "the widget to be deleted")
    marker = cluster.configmap("w1-deleted")
    assert marker is not None
    assert marker.data == {"by": "second"}
    cluster.eventually(lambda: cluster.configmap("w1-child") is None, "the child to be garbage-collected")


def test_kopf_retries_through_injected_faults_and_converges(cluster: Cluster, emulator: ThreadedEmulator) -> None:
    faults_url = f"{emulator.url}/_emulator/faults"
    group, namespace = cluster.group, cluster.namespace
    widget_path = f"/apis/{group}/v1/namespaces/{namespace}/{PLURAL}/w2$"
    rules = [
        {"method": "GET", "path": f"/apis/{group}/v1/{PLURAL}$", "watch": False, "status": 503, "times": 1},
        {"method": "GET", "path": f"/apis/{group}/v1/{PLURAL}$", "watch": True, "status": 500, "times": 1},
        {"method": "PATCH", "path": widget_path, "status": 500, "times": 2},
        {"method": "PATCH", "path": f"{widget_path[:-1]}/status$", "status": 429, "retry_after": 1, "times": 1},
        {"method": "POST", "path": f"/api/v1/namespaces/{namespace}/events$", "status": 500, "times": 1},
    ]
    for rule in rules:
        assert requests.post(faults_url, json=rule, timeout=5).status_code == 201

    operator = cluster.start_operator("faulty")
    create_widget(cluster, "w2", size=3)
    body = cluster.eventually(lambda: handled(cluster, "w2"), "convergence despite the faults", deadline=30)
    assert body["status"]["created"] == {"size": 3, "by": "faulty"}
    assert cluster.configmap("w2-child") is not None

    hits = [rule["hits"] for rule in requests.get(faults_url, timeout=5).json()]
    assert all(hit >= 1 for hit in hits), hits  # every fault was actually met, and survived

    # A watch stream cut mid-way: kopf watches again and still sees later changes.
    cut = {"path": f"/apis/{group}/v1/{PLURAL}$", "watch": True, "break_watch_after": 1, "times": 1}
    assert requests.post(faults_url, json=cut, timeout=5).status_code == 201
    requests.post(f"{emulator.url}/_emulator/watches/close", timeout=5)  # makes kopf open a new, faulty watch
    cluster.patch_widget("w2", {"spec": {"size": 4}})
    cluster.eventually(lambda: status(cluster, "w2").get("seenSize") == 4, "the update after a broken watch")
    cluster.patch_widget("w2", {"spec": {"size": 5}})
    cluster.eventually(lambda: status(cluster, "w2").get("seenSize") == 5, "the update after re-watching")
    assert requests.get(faults_url, timeout=5).json()[-1]["hits"] == 1

    # History compacted under it: kopf's next watch gets 410 Gone, lists again and carries on.
    expire_watches(emulator, namespace)
    cluster.patch_widget("w2", {"spec": {"size": 6}})
    cluster.eventually(lambda: status(cluster, "w2").get("seenSize") == 6, "the update after 410 Gone")
    assert f"Restarting the watch-stream for widgets.v1.{group}" in operator.log()  # kopf's 410 path

    cluster.delete_widget("w2")
    cluster.eventually(lambda: cluster.widget("w2") is None, "the widget to be deleted")
    cluster.eventually(lambda: cluster.configmap("w2-child") is None, "the child to be garbage-collected")
