"""What the commands' parsers share: a command that is only a group of subcommands."""

from __future__ import annotations

from typing import Any


def command_group(commands: Any, name: str, help_text: str) -> Any:
    """Adds `name` to the top-level subparsers; returns its subparsers (one of them is required,
    its name in `args.<name>_command`)."""
    group = commands.add_parser(name, help=help_text)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="SUBCOMMAND")
