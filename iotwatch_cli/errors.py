"""Errors the CLI reports as a message and an exit code, never a traceback."""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class CliError(Exception):
    """Something the user can fix (or cannot reach); the message says what, `code` how to exit."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code
