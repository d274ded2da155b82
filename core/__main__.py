"""Command line: ``python -m core <command>``; each command lives with the module it drives."""

from __future__ import annotations

import argparse
import logging
import sys

from core.cli import engine as engine_cli
from core.cli import features as features_cli
from core.cli import opendata as opendata_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="Tactical-state engine: extract features, train beta-VAE runs, export.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # The metavar lists the public commands; the internal `job-worker` stays unlisted.
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{features,opendata,train,export,demo,jobs,warmup}"
    )
    features_cli.register(sub)
    opendata_cli.register(sub)
    engine_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
