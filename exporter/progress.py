"""Progress lines for long stages (capture, translation, verification), off unless enabled.

The CLI turns them on; the Python API stays quiet so library users are not spammed.
"""

from __future__ import annotations

import contextlib
import sys
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

