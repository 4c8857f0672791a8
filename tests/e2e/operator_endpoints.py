"""Reading a running operator from outside, as Kubernetes and Prometheus do: its liveness and metrics endpoints."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .system import free_port


@dataclass(frozen=True)
class Endpoints:
    """Where one operator process serves its liveness probe and its metrics (both on loopback)."""

    health_port: int
    metrics_port: int

    @classmethod
    def pick(cls) -> Endpoints:
        return cls(free_port(), free_port())

    @property
    def liveness_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}/healthz"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def args(self) -> list[str]:
        """`k8s-manager operator` flags serving both endpoints."""
        return [
            f"--liveness={self.liveness_url}",
            f"--metrics-port={self.metrics_port}",
            "--metrics-host=127.0.0.1",
        ]

    def liveness(self) -> dict[str, Any] | None:
        """The probe's answer when it is 200, None while nothing listens (still starting)."""
        try:
            with urllib.request.urlopen(self.liveness_url, timeout=5) as response:
                assert response.status == 200
                return dict(json.load(response))
        except (urllib.error.URLError, ConnectionError):
            return None

    def metrics(self) -> dict[tuple[str, str], float] | None:
        """Every sample by (name, kind label), None while nothing listens."""
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                text = response.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return None
        return {
            (sample.name, sample.labels.get("kind", "")): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if "le" not in sample.labels  # histogram buckets: their count and sum are enough here
        }

    def reconciles(self, kind: str = "Runtime") -> float | None:
        found = self.metrics()
        return None if found is None else found[("k8s_manager_operator_reconciles_total", kind)]
