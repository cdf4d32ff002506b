"""`aten2onnx export file.py:factory`: load the user's model and example inputs from the shell.

The factory returns a module, or (module, example args); `--input 1x3x224x224:float32`
makes random example inputs instead. `--dynamic 0=batch` names axis 0 of every input
`batch`; `--dynamic x:1=seq` (or `1:1=seq`) names an axis of one input.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aten2onnx.exporter.dtypes import parse_dtype


class UsageError(Exception):
    """A command-line mistake: exit code 2."""


@dataclass(frozen=True)
class InputSpec:
    shape: tuple[int, ...]
    dtype: torch.dtype

    def example(self) -> torch.Tensor:
        if self.dtype.is_floating_point:
            return torch.randn(self.shape, dtype=self.dtype)
        if self.dtype == torch.bool:
            return torch.randint(0, 2, self.shape).bool()
        return torch.randint(0, 10, self.shape, dtype=self.dtype)


def input_spec(text: str) -> InputSpec:
    """`1x3x224x224:float32` (dtype optional, float32 by default; `:int64` alone is a scalar)."""
    shape_text, _, dtype_text = text.partition(":")
    try:
        shape = tuple(int(d) for d in shape_text.replace(",", "x").split("x") if d.strip()) if shape_text else ()
        if any(d < 0 for d in shape):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': the shape must be sizes joined by x, like 1x3x224x224") from None
    try:
        dtype = parse_dtype(dtype_text or "float32")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}': {exc}") from None
    return InputSpec(shape, dtype)


@dataclass(frozen=True)
class DynamicAxis:
    input: str | None  # an input index or name; None means every input with that axis
    axis: int
    name: str


def dynamic_axis(text: str) -> DynamicAxis:
    """`0=batch`, `x:1=seq` or `1:1=seq`."""
    where, _, name = text.partition("=")
    target, _, axis = where.rpartition(":")
    try:
        axis_number = int(axis)
    except ValueError:
        axis_number = None
    if not name or axis_number is None or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"'{text}': write AXIS=NAME (all inputs) or INPUT:AXIS=NAME, like 0=batch")
    return DynamicAxis(target or None, axis_number, name)


def load_factory(target: str) -> Any:
    """The function `factory` of `path/to/file.py:factory`, imported from its file."""
    path_text, sep, name = target.rpartition(":")
    if not sep or not path_text.endswith(".py") or not name.isidentifier():
        raise UsageError(f"'{target}': give the model as path/to/file.py:factory")
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"'{path}': no such file")
    spec = importlib.util.spec_from_file_location(f"aten2onnx_user_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise RuntimeError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(path.resolve().parent))
    factory = getattr(module, name, None)
    if not callable(factory):
        found = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__)
        raise UsageError(f"{path} has no function '{name}'; its functions: {', '.join(found) or 'none'}")
    return factory


def model_and_args(target: str, inputs: list[InputSpec] | None) -> tuple[torch.nn.Module, tuple[Any, ...]]:
    """Call the factory; `--input` specs, when given, replace the example args it returns."""
    factory = load_factory(target)
    try:
        made = factory()
    except Exception as exc:
        raise RuntimeError(f"{target}() raised {type(exc).__name__}: {exc}") from exc
    model, args = (made[0], made[1]) if isinstance(made, tuple) and len(made) == 2 else (made, None)
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"{target}() must return a torch.nn.Module or (module, example args), "
                         f"got {type(made).__name__}")
    if inputs:
        args = tuple(spec.example() for spec in inputs)
    if args is None:
        raise UsageError(f"{target}() returned no example inputs: pass --input SHAPE:DTYPE for each model input "
                         "(for example --input 1x3x224x224:float32) or return (module, args)")
    return model, (args,) if isinstance(args, torch.Tensor) else tuple(args)


def dynamic_shapes(axes: list[DynamicAxis], args: tuple[Any, ...], names: list[str]) -> tuple[Any, ...] | None:
    """--dynamic options as dynamic_shapes (one {axis: name} per input; names as strings)."""
    if not axes:
        return None
    shapes: list[dict[int, str] | None] = [None] * len(args)
    for axis in axes:
        if axis.input is None:
            targets = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.dim() > axis.axis]
        elif axis.input.isdigit() and int(axis.input) < len(args):
            targets = [int(axis.input)]
        elif axis.input in names:
            targets = [names.index(axis.input)]
        else:
            raise UsageError(f"--dynamic names input '{axis.input}'; the inputs are 0..{len(args) - 1}"
                             + (f" or {', '.join(names)}" if names else ""))
        if not targets:
            raise UsageError(f"--dynamic {axis.axis}={axis.name}: no input has an axis {axis.axis}")
        for index in targets:
            shapes[index] = {**(shapes[index] or {}), axis.axis: axis.name}
    return tuple(shapes)
