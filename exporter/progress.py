"""Progress lines for long stages (capture, translation, verification, saving), off unless enabled.

The CLI turns them on; the Python API stays quiet so library users are not spammed.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

_stream: TextIO | None = None


def enable(stream: TextIO | None = None) -> None:
    """Print stage lines to `stream` (stderr by default); `disable()` turns them off."""
    global _stream
    _stream = stream or sys.stderr


def disable() -> None:
    global _stream
    _stream = None


@contextlib.contextmanager
def stage(message: str) -> Iterator[None]:
    """`message ...` when the stage starts and `done in 1.2 s` when it ends (when enabled)."""
    stream = _stream
    if stream is None:
        yield
        return
    print(f"aten2onnx: {message} ...", file=stream, flush=True)
    start = time.perf_counter()
    yield
    print(f"aten2onnx: {message}: done in {time.perf_counter() - start:.1f} s", file=stream, flush=True)



def size_text(count: float) -> str:
    """`4.4 GB`, `12.0 MB`, `512 B` (decimal units, as disks and downloads count)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{int(count)} B"


class Meter:
    """Bytes written so far and the rate, a line at most every `every` seconds, a last line when done.

    `advance` may be called from any thread (the writer's background thread calls it)."""

    def __init__(self, label: str, total: int, stream: TextIO, every: float = 2.0):
        self.label, self.total, self.stream, self.every = label, total, stream, every
        self.done = 0
        self.start = self.last = time.perf_counter()
        self.lock = threading.Lock()
        self.printed = False

    def advance(self, count: int) -> None:
        with self.lock:
            self.done += count
            now = time.perf_counter()
            if now - self.last < self.every or self.done >= self.total:
                return
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            print(f"aten2onnx: {self.label}: {size_text(self.done)} of {size_text(self.total)} "
                  f"({size_text(rate)}/s)", file=self.stream, flush=True)
            self.printed = True

    def close(self) -> None:
        if not self.printed:
            return  # a save short enough to need no progress needs no summary either
        seconds = time.perf_counter() - self.start
        print(f"aten2onnx: {self.label}: {size_text(self.done)} in {seconds:.1f} s "
              f"({size_text(self.done / max(seconds, 1e-9))}/s)", file=self.stream, flush=True)


# Writes smaller than this finish before a progress line would be due.
METER_MIN_BYTES = 256 * 2**20


def meter(label: str, total: int) -> Meter | None:
    """A Meter when progress is enabled and `total` bytes take long enough to write, else None."""
    if _stream is None or total < METER_MIN_BYTES:
        return None
    return Meter(label, total, _stream)
