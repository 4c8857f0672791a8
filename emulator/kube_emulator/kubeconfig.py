"""Kubeconfig files pointing clients at the emulator."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

CONTEXT = "kube-emulator"


def kubeconfig_document(url: str, token: str | None = None, ca_pem: str | None = None) -> dict[str, Any]:
    """A kubeconfig for the server at `url`, trusting `ca_pem` for https, sending `token` as a bearer token."""
    user: dict[str, object] = {"token": token} if token else {}
    cluster: dict[str, object] = {"server": url}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": CONTEXT, "user": user}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(
    path: str | os.PathLike[str], url: str, token: str | None = None, ca_pem: str | None = None
) -> Path:
    """The kubeconfig of :func:`kubeconfig_document`, readable by its owner only (it holds a credential)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch(mode=0o600)
    target.chmod(0o600)
    target.write_text(yaml.safe_dump(kubeconfig_document(url, token, ca_pem), sort_keys=False))
    return target
