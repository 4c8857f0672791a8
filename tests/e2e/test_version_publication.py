"""Moving the entrypoint between versions, with the reconciles of two versions interleaved.

The operator's version reconciler in this process (as the cluster admin), against the emulator or a real cluster:
publishing greeter-v2 displaces greeter-v1 (its `published` becomes false) and moves the `active-entrypoint`
Service. A reconcile of greeter-v1 that read it before it was displaced, and gets to the Service after, must
leave the Service with greeter-v2: the real control plane showed the Service taken back, and greeter-v2
displaced in turn, right after the Admin API's Publish of greeter-v2 had answered.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_manager import dev
from k8s_manager_api.kube import KubeApi
from k8s_manager_api.names import RUNTIME_VERSIONS, SERVICES, Resource
from k8s_manager_operator.version.desired import ENTRYPOINT_SERVICE, VersionConfig
from k8s_manager_operator.version.reconcile import VersionReconciler

from .system import ROOT

SAMPLE = ROOT / "crds" / "examples" / "runtimeversion.yaml"


class StaleReadApi(KubeApi):
    """Answers the next read of one version with a copy taken earlier, as a reconcile that began back then saw it."""

    stale: dict[str, Any] | None = None

    async def find(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        stale = self.stale
        if stale is not None and res == RUNTIME_VERSIONS and name == stale["metadata"]["name"]:
            self.stale = None
            return copy.deepcopy(stale)
        return await super().find(res, name, namespace)


@pytest.fixture
async def api(kubeconfig: Path) -> AsyncIterator[StaleReadApi]:
    connected = await StaleReadApi.connect(str(kubeconfig))
    assert isinstance(connected, StaleReadApi)
    try:
        await asyncio.wait_for(dev.apply_crds(connected, dev.load_crds(dev.default_crds_dir())), 60)
        yield connected
    finally:
        await connected.close()


def published_version(name: str, namespace: str) -> dict[str, Any]:
    version: dict[str, Any] = yaml.safe_load(SAMPLE.read_text())
    version["metadata"] = {"name": name, "namespace": namespace}
    version["spec"]["published"] = True
    return version


async def selected(api: KubeApi, namespace: str) -> str | None:
    service = await api.find(SERVICES, ENTRYPOINT_SERVICE, namespace)
    return None if service is None else service["spec"]["selector"]["version-name"]


async def is_published(api: KubeApi, name: str, namespace: str) -> bool:
    return bool((await api.get(RUNTIME_VERSIONS, name, namespace))["spec"]["published"])


@pytest.mark.cluster
async def test_a_reconcile_begun_before_its_version_was_displaced_leaves_the_entrypoint_alone(
    api: StaleReadApi, namespace: str
) -> None:
    reconciler = VersionReconciler(api, VersionConfig())
    await api.create(RUNTIME_VERSIONS, published_version("greeter-v1", namespace), namespace)
    await reconciler.reconcile(namespace, "greeter-v1")
    assert await selected(api, namespace) == "greeter-v1"
    before_displacement = await api.get(RUNTIME_VERSIONS, "greeter-v1", namespace)

    await api.create(RUNTIME_VERSIONS, published_version("greeter-v2", namespace), namespace)
    await reconciler.reconcile(namespace, "greeter-v2")
    assert await selected(api, namespace) == "greeter-v2"
    assert await is_published(api, "greeter-v1", namespace) is False

    api.stale = before_displacement  # greeter-v1's next reconcile began before greeter-v2's
    await reconciler.reconcile(namespace, "greeter-v1")

    assert await selected(api, namespace) == "greeter-v2"
    assert await is_published(api, "greeter-v2", namespace) is True
    assert await is_published(api, "greeter-v1", namespace) is False
