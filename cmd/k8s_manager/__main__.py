"""`python -m k8s_manager` is the `k8s-manager` command."""

from __future__ import annotations

import sys

from k8s_manager.cli import main

if __name__ == "__main__":
    sys.exit(main())
