"""Running a stack's handlers in-process as the Lambda runtime would: its context object, its
environment, a cold start, and Powertools' logs sent where the harness wants them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TextIO


@dataclass(frozen=True)
class LocalLambdaContext:
    """What Powertools reads from the Lambda context object."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@contextlib.contextmanager
def function_environment(environ: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in environ}
    os.environ.update(environ)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def cold_start(module: ModuleType) -> None:
    """A new container for the handler module: its settings, clients and plan are read again and
    nothing it drew before is reused (clients must follow this run's endpoint and stack)."""
    module.setup.reset()


@contextlib.contextmanager
def logs_into(stream: TextIO, *modules: Any) -> Iterator[None]:
    """Powertools binds a handler module's logger to the stdout of its import (the first one in
    this process): point each module's logger at `stream` for now, and back after."""
    handlers = [m.logger.registered_handler for m in modules]
    previous = [h.stream for h in handlers]

    def point(handler: Any, target: Any) -> None:
        # not setStream: it flushes the old stream, which may be an earlier demo's closed file
        with contextlib.ExitStack() as held:
            handler.acquire()
            held.callback(handler.release)
            handler.stream = target

    for h in handlers:
        point(h, stream)
    try:
        yield
    finally:
        for h, old in zip(handlers, previous, strict=True):
            point(h, old)
