"""The `iotwatch` command: builds the parser from the command modules and runs the one asked
for. Each module registers its command, options and help (`register(commands)`) and runs it
(`cmd_*(args, out, err) -> exit code`, iotwatch_cli.errors); how they write for people is
iotwatch_cli.formatting."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from iotwatch_cli import audit, backtest, baseline_show, demo, incident_feedback, plan, score, silence

# in the order `iotwatch --help` lists them; incident_feedback registers `incidents` with its
# `ack` and `mark` (the list and `show` are iotwatch_cli.incidents)
COMMANDS = (plan, score, baseline_show, backtest, silence, incident_feedback, audit, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iotwatch", description="Alerting for AWS IoT Core fleets from learned baselines."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args, out or sys.stdout, err or sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
