"""Timing and peak memory of one call, the same way for every scale bench.

- wall and CPU time (`time.process_time`): on a shared machine the CPU time of this
  process is the steadier measure of our compute;
- peak RSS above the RSS before the call (Linux: the high-water mark is reset through
  /proc/self/clear_refs), the figure Lambda's "Max Memory Used" moves with; free to take,
  so every timed run has it;
- optionally the tracemalloc peak (Python allocations only), which slows allocation-heavy
  code several times over, so benches take it in one extra run where they can afford it.

Before the call the collector runs once and freezes what exists (the canned world is not
the Lambda's heap and should not be walked by the collections the call triggers), and
glibc returns what it can to the system, so freed memory of an earlier run does not hide
this run's growth.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass(frozen=True)
class Measurement:
    wall_seconds: float
    cpu_seconds: float
    rss_peak_bytes: int | None  # None where /proc cannot tell (not Linux)
    traced_peak_bytes: int | None  # only when asked for


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> int | None:
    """Resets the RSS high-water mark to the current RSS; returns that RSS in bytes."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return None
    kb = _status_kb("VmRSS")
    return None if kb is None else kb * 1024


def _trim() -> None:
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL(name).malloc_trim(0)


def measured(call: Callable[[], T], *, trace_memory: bool = False) -> tuple[T, Measurement]:
    gc.collect()
    gc.freeze()
    _trim()
    rss_before = _reset_peak_rss()
    if trace_memory:
        tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        result = call()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        traced = tracemalloc.get_traced_memory()[1] if trace_memory else None
    finally:
        if trace_memory:
            tracemalloc.stop()
        gc.unfreeze()
    hwm = _status_kb("VmHWM")
    rss = None if rss_before is None or hwm is None else max(0, hwm * 1024 - rss_before)
    return result, Measurement(wall, cpu, rss, traced)


def mb(value: int | None, digits: int = 1) -> float | None:
    return None if value is None else round(value / 2**20, digits)
