"""The `k8s-manager` command: `facade`, `operator` and `dev` subcommands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Sequence

from k8s_manager_facade import config as facade_config
from k8s_manager_facade import server as facade_server
from k8s_manager_operator import main as operator_main

from . import __version__, dev
from .logs import LOG_FORMATS, configure_logging


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: an unknown argument is reported with this command's usage, not the top level's.

    argparse hands a subcommand's unknown arguments back to the top-level parser, which reports them under its own
    usage (`k8s-manager dev --bogus` would print `k8s-manager`'s)."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def _logging_options() -> _CommandParser:
    options = _CommandParser(add_help=False)
    verbosity = options.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    options.add_argument("--log-format", choices=LOG_FORMATS, default="text", help="log line format (default text)")
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k8s-manager",
        description="Kubernetes runtime manager for ML engines: a kopf operator plus a thin gRPC facade.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Not `required`: argparse would then report a missing command before an unknown option (`k8s-manager --bogus`
    # would say COMMAND is required, not name --bogus); main() checks both, unknown options first.
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)

    facade = commands.add_parser(
        "facade",
        parents=[_logging_options()],
        help="run the gRPC facade",
        description="Run the gRPC facade. Flags override the KRE_* environment variables.",
    )
    facade_config.add_arguments(facade)

    operator = commands.add_parser(
        "operator",
        help="run the operator (kopf)",
        description=operator_main.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    operator_main.add_arguments(operator)

    dev_mode = commands.add_parser(
        "dev",
        parents=[_logging_options()],
        help="run everything on an in-memory Kubernetes API emulator, or on a cluster (--kubeconfig)",
        description=dev.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dev.add_arguments(dev_mode)
    return parser


def _log_level(args: argparse.Namespace) -> int:
    return logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    if args.command is None:
        parser.error("the following arguments are required: COMMAND")
    if args.command == "operator":
        return operator_main.run_from_args(args)

    configure_logging(args.log_format, _log_level(args))
    if args.command == "facade":
        try:
            config = facade_config.config_from_args(args, os.environ)
        except facade_config.ConfigError as error:
            parser.exit(2, f"k8s-manager facade: error: {error}\n")
        return facade_server.run(config)
    try:
        options = dev.options_from_args(args)
    except dev.UsageError as error:
        parser.exit(2, f"k8s-manager dev: error: {error}\n")
    return asyncio.run(dev.run_dev(options))
