"""`k8s-manager operator`: run the kopf operator with k8s-manager's handlers.

Equivalent to `kopf run --standalone --all-namespaces -m k8s_manager_operator.handlers`, with the
same options spelled for this command. The Kubernetes credentials come from the pod's service
account inside a cluster, otherwise from KUBECONFIG (or ~/.kube/config).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

LOG_FORMATS = ("text", "json")


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
        help="coordinate with other replicas through this KopfPeering object (its CRD must be installed); "
        "default: standalone, a single replica",
    )
    parser.add_argument(
        "--priority", type=int, default=None, help="peering priority; the highest-priority replica is active"
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


def run_from_args(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT (kopf handles both gracefully); returns the process exit code."""
    # Imported here, not at the top: building the command line must not pay for importing kopf.
    import kopf

    from . import handlers  # noqa: F401  (registers the handlers with kopf's default registry)

    log_format = kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(verbose=args.verbose, quiet=args.quiet, log_format=log_format)
    if not args.verbose:  # otherwise every liveness probe logs a line
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    namespaces: list[str] = list(args.namespaces)
    kopf.run(
        standalone=args.peering is None,
        peering_name=args.peering,
        priority=args.priority,
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=args.liveness_endpoint,
    )
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="k8s-manager operator", description=__doc__)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
