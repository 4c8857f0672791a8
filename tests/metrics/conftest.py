"""Fixtures: a real Prometheus on loopback over the standard scenario's backfilled data (see prometheus.py).

- `prometheus_data`: the scenario, backfilled once per session (per xdist worker) into a template directory.
- `prometheus`: one server for the session; tests must not stop it.
- `fresh_prometheus`: a server of its own for one test, over a fresh copy of the same data; the test may stop it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .prometheus import PROMETHEUS_BINARY, PROMTOOL_BINARY, PrometheusData, RunningPrometheus, standard_scenario


@pytest.fixture(scope="session")
def prometheus_data(tmp_path_factory: pytest.TempPathFactory) -> PrometheusData:
    missing = [binary for binary in (PROMETHEUS_BINARY, PROMTOOL_BINARY) if not os.access(binary, os.X_OK)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (Debian: apt-get install prometheus; .ci/run does)")
    return PrometheusData.create(standard_scenario(), tmp_path_factory.mktemp("prometheus"))


@pytest.fixture(scope="session")
def prometheus(prometheus_data: PrometheusData) -> Iterator[RunningPrometheus]:
    with prometheus_data.server() as running:
        yield running


@pytest.fixture
def fresh_prometheus(prometheus_data: PrometheusData) -> Iterator[RunningPrometheus]:
    with prometheus_data.server() as running:
        yield running
