"""Run an Emulator on its own event loop in a background thread.

For synchronous callers — tests that drive it with kubectl or the `kubernetes` client, or any program
that is not asyncio-based — while the emulator keeps serving in the background.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

from .emulator import Emulator, EmulatorSettings

T = TypeVar("T")


class ThreadedEmulator:
    def __init__(self, settings: EmulatorSettings | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self._settings = settings
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kube-emulator", daemon=True)
        self.emulator: Emulator
        self.url = ""  # plain HTTP
        self.secure_url = ""  # HTTPS, which kubeconfigs point at (see Emulator.write_kubeconfig)
        self.admin_token = ""  # the bearer token of the admin (system:masters), for raw HTTP clients

    def start(self) -> str:
        self._thread.start()

        async def boot() -> str:
            self.emulator = Emulator(self._settings)
            return await self.emulator.start(self._host, self._port)

        self.url = self.call(boot)
        self.secure_url = self.emulator.secure_url
        self.admin_token = self.emulator.admin_token
        return self.url

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run `fn()` on the emulator's loop and return its result."""

        async def run() -> T:
            return await fn()

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout)

    def run_sync(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run a plain function on the emulator's loop (the store is not thread-safe)."""

        async def run() -> T:
            return fn()

        return self.call(run, timeout)

    def write_kubeconfig(self, path: str | os.PathLike[str], token: str | None = None) -> Path:
        """A kubeconfig for the user of `token`; the admin's by default."""
        return self.emulator.write_kubeconfig(path, token)

    def add_identity(self, username: str, groups: Sequence[str] = ()) -> str:
        """A new bearer token for `username` in `groups` (and system:authenticated)."""
        return self.run_sync(lambda: self.emulator.add_identity(username, groups))

    def service_account_token(self, namespace: str, name: str) -> str:
        """A new bearer token for the ServiceAccount NAMESPACE/NAME."""
        return self.run_sync(lambda: self.emulator.service_account_token(namespace, name))

    def rbac_usage(self) -> list[dict[str, str]]:
        """The RBAC rules used since start or the last reset (Emulator.rbac_usage)."""
        return self.run_sync(self.emulator.rbac_usage)

    def reset_rbac_usage(self) -> None:
        self.run_sync(self.emulator.reset_rbac_usage)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self.call(self.emulator.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> ThreadedEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
