"""`k8s-manager operator`: run the kopf operator with k8s-manager's handlers.

Equivalent to `kopf run --standalone --all-namespaces -m k8s_manager_operator.handlers`, with the
same options spelled for this command. The Kubernetes credentials come from the pod's service
account inside a cluster, otherwise from KUBECONFIG (or ~/.kube/config).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Callable, MutableMapping, Sequence
from typing import TypeVar

from . import logformat
from .config import ConfigError
from .operations_config import (
    METRICS_HOST_VARIABLE,
    METRICS_PORT_VARIABLE,
    PEERING_LIFETIME_VARIABLE,
    OperationsConfig,
    parse_host,
    parse_lifetime,
    parse_port,
)

LOG_FORMATS = ("text", "json")
# Random peering priorities are drawn from 1..PRIORITY_RANGE: two replicas tie with odds of one in a million.
PRIORITY_RANGE = 1_000_000
T = TypeVar("T")


def _flag_value(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse `type` reporting the parser's own message."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n",
        "--namespace",
        dest="namespaces",
        action="append",
        default=[],
        metavar="NAMESPACE",
        help="watch only this namespace (repeatable; glob patterns allowed); default: all namespaces",
    )
    parser.add_argument(
        "--peering",
        metavar="NAME",
        default=None,
        help="coordinate with other replicas through this ClusterKopfPeering object (KopfPeering with --namespace; "
        "its CRD must be installed); default: standalone, a single replica",
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority; the highest-priority replica is active (default with --peering: a random one, so "
        "replicas of one Deployment never tie: kopf pauses every replica on a tie)",
    )
    parser.add_argument(
        "--peering-lifetime",
        type=_flag_value(parse_lifetime),
        metavar="SECONDS",
        default=None,
        help=f"seconds after which a silent replica is presumed gone and another takes over "
        f"(sets {PEERING_LIFETIME_VARIABLE}; default 60)",
    )
    parser.add_argument(
        "--metrics-port",
        type=_flag_value(parse_port),
        metavar="PORT",
        default=None,
        help=f"serve Prometheus metrics at http://HOST:PORT/metrics (sets {METRICS_PORT_VARIABLE}); default: off",
    )
    parser.add_argument(
        "--metrics-host",
        type=_flag_value(parse_host),
        metavar="HOST",
        default=None,
        help=f"address the metrics endpoint listens on (sets {METRICS_HOST_VARIABLE}); default 0.0.0.0",
    )
    parser.add_argument(
        "-L",
        "--liveness",
        dest="liveness_endpoint",
        metavar="URL",
        default=None,
        help="serve the liveness probe at this URL, e.g. http://0.0.0.0:8080/healthz",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text", help="log line format (default text)")


def set_operations_environment(args: argparse.Namespace, env: MutableMapping[str, str]) -> None:
    """Put the operations flags given into `env`: the handlers read them from there, as under `kopf run`."""
    for variable, value in (
        (METRICS_PORT_VARIABLE, args.metrics_port),
        (METRICS_HOST_VARIABLE, args.metrics_host),
        (PEERING_LIFETIME_VARIABLE, args.peering_lifetime),
    ):
        if value is not None:
            env[variable] = str(value)


def peering_priority(peering: str | None, priority: int | None) -> int | None:
    """The priority given, else with peering a random one: equal priorities make kopf pause every replica."""
    if priority is not None or peering is None:
        return priority
    return secrets.randbelow(PRIORITY_RANGE) + 1


def run_from_args(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT (kopf handles both gracefully); returns the process exit code."""
    set_operations_environment(args, os.environ)
    try:
        OperationsConfig.from_env(os.environ)
    except ConfigError as error:
        sys.stderr.write(f"k8s-manager operator: error: {error}\n")
        return 2

    # Imported here, not at the top: building the command line must not pay for importing kopf.
    import kopf

    from . import handlers  # noqa: F401  (registers the handlers with kopf's default registry)

    log_format = kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(verbose=args.verbose, quiet=args.quiet, log_format=log_format)
    if args.log_format == "text":
        logformat.use_text_format()
    if not args.verbose:  # otherwise every liveness probe logs a line
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    namespaces: list[str] = list(args.namespaces)
    kopf.run(
        standalone=args.peering is None,
        peering_name=args.peering,
        priority=peering_priority(args.peering, args.priority),
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=args.liveness_endpoint,
    )
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="k8s-manager operator", description=__doc__)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
