"""Kubeconfig files pointing clients at the emulator."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

CONTEXT = "kube-emulator"


def kubeconfig_document(url: str, token: str | None = None) -> dict[str, object]:
    user: dict[str, object] = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": user}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: str | os.PathLike[str], url: str, token: str | None = None) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig_document(url, token), sort_keys=False))
    target.chmod(0o600)
    return target
