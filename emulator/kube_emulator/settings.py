"""How an emulator behaves where a real cluster's behaviour depends on its nodes and configuration."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EmulatorSettings:
    # Seconds after which a Deployment (and its pods) becomes available; None = only when told so
    # (tests decide through Emulator.controllers or the control API).
    workload_ready_after: float | None = 0.5
    # Create ReplicaSets and Pods for Deployments, as kube-controller-manager and a kubelet would.
    simulate_pods: bool = True
    bookmark_interval: float = 5.0
    history_size: int = 20000
