"""The assembled emulator: cluster, controllers and the HTTP API on loopback."""

from __future__ import annotations

import os
from pathlib import Path

from . import control
from .cluster import Cluster
from .controllers import Controllers
from .faults import FaultInjector
from .kubeconfig import write_kubeconfig
from .server import ApiServer
from .settings import EmulatorSettings

__all__ = ["Emulator", "EmulatorSettings"]


class Emulator:
    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.cluster = Cluster(history_size=self.settings.history_size)
        self.faults = FaultInjector()
        self.controllers = Controllers(self.cluster, self.settings)
        self.server = ApiServer(
            self.cluster,
            self.faults,
            bookmark_interval=self.settings.bookmark_interval,
            extra_routes=lambda app: control.add_routes(app, self),
        )

    @property
    def url(self) -> str:
        return self.server.url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self.controllers.start()
        return await self.server.start(host, port)

    async def stop(self) -> None:
        await self.controllers.stop()
        await self.server.stop()

    def write_kubeconfig(self, path: str | os.PathLike[str]) -> Path:
        return write_kubeconfig(path, self.url)
