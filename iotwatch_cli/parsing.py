"""What the commands' parsers share: a command that is only a group of subcommands, and the
`--dimension NAME=VALUE` options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def command_group(commands: Any, name: str, help_text: str) -> Any:
    """Adds `name` to the top-level subparsers; returns its subparsers (one of them is required,
    its name in `args.<name>_command`)."""
    group = commands.add_parser(name, help=help_text)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="SUBCOMMAND")


def dimension_options(
    items: Sequence[str], *, error: type[Exception], one_value_per: str
) -> tuple[tuple[str, str], ...]:
    """['Protocol=MQTT', ...] -> (('Protocol', 'MQTT'), ...) sorted by name, as `expand_series`
    orders them; the same pair twice is one, two values for one name raise `error`."""
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise error(f"--dimension {item!r}: use NAME=VALUE, e.g. --dimension Protocol=MQTT")
        if found.get(key, value) != value:
            raise error(f"--dimension {key} is given twice; {one_value_per}")
        found[key] = value
    return tuple(sorted(found.items()))
