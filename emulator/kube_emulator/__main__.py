"""Run the emulator on its own: `python -m kube_emulator --port 8001 --kubeconfig-out PATH`.

The kubeconfig is the cluster admin's (system:masters), pointing at the HTTPS listener.

Prints the API server's URL on stdout once it serves, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from . import Emulator, EmulatorSettings


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a non-negative number")
    return value


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is out of range: expected 0 to 65535")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kube_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=0, help="plain-HTTP port (default 0: a free port)")
    parser.add_argument(
        "--secure-port",
        type=_port,
        default=0,
        help="HTTPS port, which the kubeconfig points at (default 0: a free port)",
    )
    parser.add_argument("--kubeconfig-out", type=Path, metavar="PATH", help="write a kubeconfig for kubectl here")
    parser.add_argument(
        "--ready-after",
        type=_non_negative_float,
        default=0.5,
        metavar="SECONDS",
        help="simulated Deployments become available this long after they appear (default 0.5)",
    )
    parser.add_argument("--no-pods", action="store_true", help="do not simulate ReplicaSets and Pods for Deployments")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    return parser


async def serve(args: argparse.Namespace) -> None:
    settings = EmulatorSettings(workload_ready_after=args.ready_after, simulate_pods=not args.no_pods)
    emulator = Emulator(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    url = await emulator.start(args.host, args.port, args.secure_port)
    try:
        log = logging.getLogger("kube_emulator")
        log.info("serving HTTPS at %s", emulator.secure_url)
        if args.kubeconfig_out is not None:
            path = emulator.write_kubeconfig(args.kubeconfig_out).resolve()
            log.info("kubeconfig (cluster admin) written to %s", path)
        print(url, flush=True)
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(args))
    except OSError as error:
        print(f"python -m kube_emulator: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
