"""The model's own line in a stack: where a size was fixed, where a capture failed.

torch records the place of every shape decision it makes while capturing (a guard, a size
replaced by a constant) as the first frame outside a short list of its own files; for most
decisions that is a torch file (`_prims_common`, `_decomp`, `nn/modules`). While capturing,
`shape_decisions_at_model_lines()` makes it the first frame outside torch, the exporter and
the standard library: the line of the model (or of the library the model comes from, such as
transformers) that asked for it.
"""

from __future__ import annotations

import contextlib
import inspect
import linecache
import os
import sysconfig
import traceback
import types
from collections.abc import Iterator
from typing import Any

import torch

# torch's folder and aten2onnx's (three folders up from exporter/capture/model_frames.py, as
# imported: through the aten2onnx/ links in a checkout, the package itself when installed)
_FRAMEWORK_DIRS = (os.path.dirname(os.path.abspath(torch.__file__)) + os.sep,
                   os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep)
_STDLIB_DIR = os.path.abspath(sysconfig.get_paths()["stdlib"]) + os.sep


def is_model_file(filename: str) -> bool:
    """A file of the model's code, not of torch, the exporter or Python itself."""
    if filename.startswith("<"):  # <string>, <frozen ...>
        return not filename.startswith("<frozen")
    path = os.path.abspath(filename)
    if path.startswith(_STDLIB_DIR):
        return "site-packages" in path[len(_STDLIB_DIR):]
    return not path.startswith(_FRAMEWORK_DIRS)


def describe(filename: str, lineno: int, function: str) -> str:
    """`model.py:12 in forward: y.reshape(3, 8)`."""
    code = linecache.getline(filename, lineno).strip()
    return f"{filename}:{lineno} in {function}" + (f": {code}" if code else "")


def traceback_line(error: BaseException) -> str | None:
    """The innermost model frame of an exception (or of the exceptions it was raised from)."""
    seen: BaseException | None = error
    while seen is not None:
        frames = [f for f in traceback.extract_tb(seen.__traceback__) if is_model_file(f.filename)]
        if frames:
            return describe(frames[-1].filename, frames[-1].lineno or 0, frames[-1].name)
        seen = seen.__cause__ or seen.__context__
    return None


def _model_frame(self: Any) -> types.FrameType | None:
    frame = inspect.currentframe()
    while frame is not None:
        if is_model_file(frame.f_code.co_filename):
            return frame
        frame = frame.f_back
    return None


@contextlib.contextmanager
def shape_decisions_at_model_lines() -> Iterator[None]:
    """Within: torch's shape environment records the model's line for each guard and each size
    it fixes (`ShapeEnv.replacements_slocs`). Nothing changes where torch lays this out differently."""
    try:
        from torch.fx.experimental.symbolic_shapes import ShapeEnv
    except ImportError:
        yield
        return
    original = getattr(ShapeEnv, "_get_user_frame", None)
    if original is None:
        yield
        return
    ShapeEnv._get_user_frame = _model_frame  # type: ignore[method-assign]
    try:
        yield
    finally:
        ShapeEnv._get_user_frame = original  # type: ignore[method-assign]


def fixed_at(shape_env: Any, symbol: Any) -> str | None:
    """Where the shape environment replaced `symbol` by a constant, as `describe` writes it."""
    sloc = getattr(shape_env, "replacements_slocs", {}).get(symbol)
    frame = getattr(sloc, "framework_loc", None)
    if isinstance(frame, traceback.FrameSummary) and is_model_file(frame.filename):
        return describe(frame.filename, frame.lineno or 0, frame.name)
    return None
