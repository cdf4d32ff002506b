"""Sizes read from tensors (`torch.arange(start, end, step)` with tensor bounds, `n.item()` as a
count, distributions with tensor parameters), captured with the size computed in the graph.

torch.export handles most of these itself: `.item()` gives an unbacked symbol, and the ops that
take it as a size (zeros, arange, slicing) become ONNX ops over a value read at run time. A few
of torch's own kernels and checks ask a yes/no question of such a value and fail with
GuardOnDataDependentSymNode:

- the sign of a step read from a tensor (`torch.arange(a, b, s)`), and the count of
  `linspace`/`logspace`, `one_hot`'s class count and `tril_indices`/`triu_indices`' sizes when
  they are read from tensors: `SizesFromTensors` (a TorchFunctionMode installed to retry such a
  failed capture) rewrites those calls into ops torch.export captures, with the same values;
- torch.distributions' argument checks (`validate_args`, on by default: is every scale > 0?):
  an ONNX graph cannot refuse its inputs anyway, so they are off while capturing
  (`distribution_checks_off`), as in a model built with `validate_args=False`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


@contextlib.contextmanager
def distribution_checks_off() -> Iterator[None]:
    distribution = torch.distributions.Distribution
    saved = distribution._validate_args
    distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        distribution.set_default_validate_args(saved)


def _data_dependent(value: Any) -> bool:
    """A 0-d tensor, or a symbolic int that is not an input size (read from a tensor's data)."""
    if isinstance(value, torch.Tensor):
        return value.dim() == 0
    if isinstance(value, torch.SymInt):
        return bool(value.node.expr.free_symbols) and not value.node.has_hint()
    return False


def _float64(value: Any) -> torch.Tensor:
    """A bound as a 0-d float64 tensor: a tensor, a number, or a symbolic number read from one."""
    if isinstance(value, torch.Tensor):
        return value.to(torch.float64)
    return torch.full((), value, dtype=torch.float64)


def _count(value: Any) -> Any:
    """A size from a 0-d tensor or a symbolic int, marked as a size for torch.export."""
    count = value.item() if isinstance(value, torch.Tensor) else value
    torch._check_is_size(count)
    return count


def _arange(start: Any, end: Any, step: Any, dtype: torch.dtype | None, device: Any) -> torch.Tensor:
    """torch.arange(start, end, step) with a step read from a tensor: ceil((end - start) / step)
    values start + i * step (0 when the step points away from end)."""
    values = (start, end, step)
    integral = not any(v.is_floating_point() if isinstance(v, torch.Tensor) else isinstance(v, (float, torch.SymFloat))
                       for v in values)
    out_dtype = dtype or (torch.int64 if integral else torch.get_default_dtype())
    start_, end_, step_ = (_float64(v) for v in values)
    length = torch.ceil((end_ - start_) / step_).clamp(min=0).to(torch.int64)
    count = _count(length)
    positions = torch.arange(count, device=device, dtype=torch.float64)
    return (start_ + positions * step_).to(out_dtype)


def _linspace(start: Any, end: Any, steps: Any, dtype: torch.dtype | None, device: Any) -> torch.Tensor:
    """torch.linspace with a count read from a tensor, computed as torch's kernel does: from the
    start for the first half, from the end for the second."""
    count = _count(steps)
    out_dtype = dtype or torch.get_default_dtype()
    start_, end_ = (_float64(v) for v in (start, end))
    positions = torch.arange(count, device=device, dtype=torch.float64)
    step = (end_ - start_) / torch.sym_max(count - 1, 1)
    halfway = torch.sym_max(count // 2, 1)  # a single value is the start
    values = torch.where(positions < halfway, start_ + positions * step, end_ - (count - 1 - positions) * step)
    return values.to(out_dtype)


def _indices(row: Any, col: Any, offset: int, lower: bool, dtype: torch.dtype | None, device: Any) -> torch.Tensor:
    """tril_indices / triu_indices: the (i, j) pairs of the triangle, row by row."""
    rows = torch.arange(_count(row), device=device).unsqueeze(1)
    cols = torch.arange(_count(col), device=device).unsqueeze(0)
    inside = cols - rows <= offset if lower else cols - rows >= offset
    return inside.nonzero().t().to(dtype or torch.int64)


class SizesFromTensors(TorchFunctionMode):
    """Rewrites the calls whose size or step is read from a tensor (module docstring)."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.arange:
            bounds = list(args) + [None] * (3 - len(args))
            start, end, step = (bounds if len(args) > 1 else [0, bounds[0], 1])
            step = kwargs.pop("step", step if step is not None else 1)
            if _data_dependent(step):
                return _arange(start, end, step, kwargs.get("dtype"), kwargs.get("device"))
        elif func in (torch.linspace, torch.logspace) and len(args) > 2 and _data_dependent(args[2]):
            values = _linspace(args[0], args[1], args[2], kwargs.get("dtype"), kwargs.get("device"))
            if func is torch.logspace:
                base = args[3] if len(args) > 3 else kwargs.get("base", 10.0)
                values = torch.pow(torch.as_tensor(base, dtype=torch.float64), values.double()).to(values.dtype)
            return values
        elif func is F.one_hot and _data_dependent(args[1] if len(args) > 1 else kwargs.get("num_classes")):
            classes = _count(args[1] if len(args) > 1 else kwargs["num_classes"])
            return (args[0].unsqueeze(-1) == torch.arange(classes, device=args[0].device)).to(torch.int64)
        elif func in (torch.tril_indices, torch.triu_indices) and any(_data_dependent(a) for a in args[:2]):
            offset = args[2] if len(args) > 2 else kwargs.get("offset", 0)
            return _indices(args[0], args[1], offset, func is torch.tril_indices, kwargs.get("dtype"),
                            kwargs.get("device"))
        return func(*args, **kwargs)

