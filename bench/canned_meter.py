"""What the canned AWS clients share: the meter of calls and time spent answering them, and
responses and errors shaped as botocore returns them."""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AwsMeter:
    """Calls per (service, operation) and the wall and CPU seconds spent answering them."""

    calls: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def count(self, prefix: str) -> int:
        return sum(n for op, n in self.calls.items() if op.startswith(prefix))

    def reset(self) -> None:
        self.calls.clear()
        self.seconds = 0.0
        self.cpu_seconds = 0.0


def metered(operation: str) -> Callable[[F], F]:
    def wrap(method: F) -> F:
        @functools.wraps(method)
        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return method(self, *args, **kwargs)
            finally:
                self.meter.calls[operation] += 1
                self.meter.seconds += time.perf_counter() - wall
                self.meter.cpu_seconds += time.process_time() - cpu

        return timed  # type: ignore[return-value]

    return wrap


def response_metadata() -> dict[str, Any]:
    return {"RequestId": "00000000-0000-0000-0000-000000000000", "HTTPStatusCode": 200, "RetryAttempts": 0}


def client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)
