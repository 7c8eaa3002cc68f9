"""`iotwatch demo`: iotwatch end to end on a local AWS endpoint (iotwatch_local.demo)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from iotwatch.plan.loader import DEFAULT_PLAN_FILE


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotwatch_local.demo import run_demo  # the harness (moto) is imported only by the demo

    return run_demo(plan_path=args.plan, out_dir=args.out, stream=out)


def register(commands: Any) -> None:
    """Registers `demo` on the top-level subparsers."""
    demo = commands.add_parser("demo", help="run iotwatch end to end on a local AWS endpoint")
    demo.add_argument("--plan", default=DEFAULT_PLAN_FILE)
    demo.add_argument("--out", default="out/demo")
    demo.set_defaults(func=cmd_demo)
