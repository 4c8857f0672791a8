"""kube_emulator: an in-memory Kubernetes API server for development and tests.

emulator = Emulator()
url = await emulator.start()            # http://127.0.0.1:<port>
emulator.write_kubeconfig("kubeconfig")
...
await emulator.stop()
"""

from __future__ import annotations

from .emulator import Emulator, EmulatorSettings
from .faults import Fault

__all__ = ["Emulator", "EmulatorSettings", "Fault"]
