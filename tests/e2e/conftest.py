"""End-to-end tests on a real cluster take turns: one at a time runs its processes there.

On the emulator every test has a cluster of its own. A real cluster (K8S_MANAGER_TEST_KUBECONFIG) is shared by the
whole pytest run, and an operator reconciles every Runtime and RuntimeVersion of the cluster and peers with every
other operator using the same peering object, so two of these tests at once would act on each other's objects.
Every test here marked `cluster` is therefore

- in the xdist group `real-cluster`: with `--dist loadgroup` they all run on one worker, one after the other;
- and, on a real cluster, run while holding an exclusive lock on a file named after the cluster's kubeconfig, so
  that with any other distribution (plain `-n 2`) they still take turns. The lock is taken around the whole test
  protocol, outside pytest-timeout's timer: waiting for one's turn does not count against a test's timeout.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REAL_CLUSTER_GROUP = "real-cluster"
KUBECONFIG_ENV = "K8S_MANAGER_TEST_KUBECONFIG"
HERE = Path(__file__).resolve().parent


def takes_turns(item: pytest.Item) -> bool:
    """A test of this directory marked `cluster`. (Both hooks below are called for every item of the session,
    not only for this directory's: xdist runs the protocol through the session's hook.)"""
    return HERE in item.path.resolve().parents and item.get_closest_marker("cluster") is not None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if takes_turns(item) and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(REAL_CLUSTER_GROUP))


def lock_path(kubeconfig: str) -> Path:
    key = hashlib.sha256(str(Path(kubeconfig).expanduser().resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"k8s-manager-tests-{key}.lock"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    kubeconfig = os.environ.get(KUBECONFIG_ENV, "")
    if not kubeconfig or not takes_turns(item):
        return (yield)
    with lock_path(kubeconfig).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return (yield)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
