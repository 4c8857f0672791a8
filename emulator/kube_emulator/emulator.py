"""The assembled emulator: cluster, controllers and the HTTP API on loopback."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from . import control
from .authn import MASTERS, Identities
from .authz import Authorizer, install_bootstrap_policy
from .cluster import Cluster
from .controllers import Controllers
from .faults import FaultInjector
from .kubeconfig import write_kubeconfig
from .server import ApiServer
from .settings import EmulatorSettings
from .tls import ClusterCa

__all__ = ["ADMIN_USER", "Emulator", "EmulatorSettings"]

ADMIN_USER = "kubernetes-admin"


class Emulator:
    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.cluster = Cluster(history_size=self.settings.history_size)
        self.identities = Identities()
        # The identity kubeadm's admin.conf has: allowed everything, through system:masters.
        self.admin_token = self.identities.add(ADMIN_USER, [MASTERS])
        self.authorizer = Authorizer(self.cluster)
        install_bootstrap_policy(self.cluster)
        self.faults = FaultInjector()
        self._ca = ClusterCa.create()
        self.controllers = Controllers(self.cluster, self.settings, self._ca.cert_pem)
        self.server = ApiServer(
            self.cluster,
            self.identities,
            self.authorizer,
            self.faults,
            bookmark_interval=self.settings.bookmark_interval,
            extra_routes=lambda app: control.add_routes(app, self),
        )

    @property
    def url(self) -> str:
        """The plain-HTTP URL (raw clients send `Authorization: Bearer <admin_token>`)."""
        return self.server.url

    @property
    def secure_url(self) -> str:
        """The HTTPS URL kubeconfigs point at."""
        return self.server.secure_url

    async def start(self, host: str = "127.0.0.1", port: int = 0, secure_port: int = 0) -> str:
        """Serve HTTP on `port` and HTTPS on `secure_port` (0: free ports); returns the HTTP URL."""
        self.controllers.start()
        return await self.server.start(host, port, self._ca.serving_context(host), secure_port)

    async def stop(self) -> None:
        await self.controllers.stop()
        await self.server.stop()

    def add_identity(self, username: str, groups: Sequence[str] = ()) -> str:
        """A new bearer token for `username` in `groups` (and system:authenticated)."""
        return self.identities.add(username, groups)

    def service_account_token(self, namespace: str, name: str) -> str:
        """A new bearer token for the ServiceAccount NAMESPACE/NAME (which need not exist)."""
        return self.identities.add_service_account(namespace, name)

    def write_kubeconfig(self, path: str | os.PathLike[str], token: str | None = None) -> Path:
        """A kubeconfig (mode 0600) for the user of `token`, the admin's by default, over HTTPS (kubectl ignores a
        kubeconfig's credentials over plain HTTP)."""
        return write_kubeconfig(path, self.secure_url, token or self.admin_token, self._ca.cert_pem)

    def rbac_usage(self) -> list[dict[str, str]]:
        """The RBAC rules used since start or the last reset: see :meth:`Authorizer.usage`."""
        return self.authorizer.usage()

    def reset_rbac_usage(self) -> None:
        self.authorizer.reset_usage()
