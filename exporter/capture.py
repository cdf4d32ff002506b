"""Capture with torch.export, then decompose only the ops that have no mapping at the opset."""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.export import ExportedProgram
from torch.overrides import TorchFunctionMode

from codegen.torch_schema import overload_names, resolve_overload
from exporter import registry
from exporter.errors import CaptureError
from exporter.options import TrainingMode

# torch logs a traceback of its own when a meta kernel fails; the CaptureError says it better.
_NOISY_LOGGERS = ("torch._subclasses.fake_tensor", "torch.export", "torch._export", "torch.fx.experimental")
_MAX_DETAIL_LINES = 8


@contextlib.contextmanager
def model_mode(model: Any, training: TrainingMode) -> Iterator[None]:
    """train()/eval() as TrainingMode asks while capturing; the model's own mode is restored."""
    if not isinstance(model, torch.nn.Module) or training == TrainingMode.PRESERVE:
        yield
        return
    was_training = model.training
    model.train(training == TrainingMode.TRAINING)
    try:
        yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _quiet_torch_logs() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _is_index_tensor(item: Any) -> bool:
    """A 0-d integer tensor used as an index (`data[i] = v` with `i = torch.tensor(2)`)."""
    return (isinstance(item, torch.Tensor) and item.dim() == 0 and not item.is_floating_point()
            and not item.is_complex() and item.dtype != torch.bool)


def _assign(target: torch.Tensor, items: Sequence[Any], value: Any) -> None:
    """`target[items] = value` where some items are 0-d integer tensors, without reading them.

    Ints and partial slices select a view of `target`; the 0-d tensors (and full slices)
    become an index_put_ on that view: a 0-d index adds no dimension, so the indexed shape,
    and how `value` broadcasts to it, is what `target[items]` would have.
    """
    items = list(items)
    if any(item is Ellipsis for item in items):
        at = next(n for n, item in enumerate(items) if item is Ellipsis)
        used = sum(1 for item in items if item is not Ellipsis)
        items[at:at + 1] = [slice(None)] * (target.dim() - used)
    view, indices = target, []
    for item in items:
        if isinstance(item, slice):
            if item != slice(None):
                view = view[(slice(None),) * len(indices) + (item,)]
            indices.append(None)
        elif isinstance(item, torch.Tensor):
            indices.append(item)
        else:  # an int
            view = view.select(len(indices), item)
    while indices and indices[-1] is None:
        indices.pop()
    if not isinstance(value, torch.Tensor):
        value = torch.full((), value, dtype=target.dtype, device=target.device)
    rank = view.dim() - sum(1 for i in indices if i is not None)  # each 0-d index takes a dim away
    while value.dim() > rank and value.shape[0] == 1:  # setitem drops a value's leading 1s
        value = value[0]
    torch.ops.aten.index_put_.default(view, indices, value.to(target.dtype))


class _ExportFriendlyIndexing(TorchFunctionMode):
    """`data[i] = value` with a 0-d integer tensor `i`, as torch.export can capture it.

    torch turns such an index into a Python int (a guard on the data, which torch.export
    refuses). The assignment becomes an index_put_ with `i` as a tensor index (see `_assign`),
    which needs no guard. Reading `data[i]` is already rewritten by torch.export (a select of
    `i.item()`). Other indices are untouched.
    """

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.Tensor.__setitem__ and len(args) == 3 and not kwargs:
            target, index, value = args
            items = index if isinstance(index, tuple) else (index,)
            simple = all(_is_index_tensor(i) or i is Ellipsis or isinstance(i, (int, torch.SymInt, slice))
                         for i in items)
            if simple and any(_is_index_tensor(i) for i in items):
                _assign(target, items, value)
                return None
        return func(*args, **kwargs)


# torch's constraint-violation text names sizes as L['x'].size()[0] (or L['args'][0][1]...)
_SOURCE = re.compile(r"L\[['\"]?([^\]'\"]+)['\"]?\]((?:\[[^\]]+\])*)\.size\(\)\[(\d+)\]")


def _readable(text: str) -> str:
    """`L['x'].size()[0]` -> `x.shape[0]`; `L['args'][0][1].size()[2]` -> `args[0][1].shape[2]`."""
    return _SOURCE.sub(lambda m: f"{m.group(1)}{m.group(2)}.shape[{m.group(3)}]", text)


def _dim_sources(model: Any, dynamic_shapes: Any) -> dict[str, str]:
    """Dim name -> where it is used (`x.shape[0]`), for the Dims a dynamic_shapes dict/tuple names."""
    sources: dict[str, str] = {}
    if isinstance(dynamic_shapes, dict):
        entries = list(dynamic_shapes.items())
    elif isinstance(dynamic_shapes, (list, tuple)):
        try:
            names = list(inspect.signature(model.forward).parameters)
        except (TypeError, ValueError, AttributeError):
            names = []
        entries = [(names[i] if i < len(names) else f"args[{i}]", spec) for i, spec in enumerate(dynamic_shapes)]
    else:
        return sources
    for input_name, spec in entries:
        axes = spec.items() if isinstance(spec, dict) else enumerate(spec) if isinstance(spec, (list, tuple)) else ()
        for axis, dim in axes:
            name = getattr(dim, "__name__", None)
            if isinstance(axis, int) and isinstance(name, str) and type(dim).__name__ != "_DimHint":
                sources.setdefault(name, f"{input_name}.shape[{axis}]")
    return sources


def _constraint_violation(text: str, sources: dict[str, str] | None = None) -> str | None:
    """torch's 'Constraints violated' report, shortened: each dimension's constraint and the fix.

    torch lists every violated guard as `- <message>` and then `Suggested fixes:` (Dim lines).
    `sources` (Dim name -> `x.shape[0]`) says where a Dim torch names only by name is used.
    """
    if "Constraints violated" not in text:
        return None
    lines = text.splitlines()
    found = [_readable(line.strip()[2:]) for line in lines if line.strip().startswith("- ")]
    found = [re.sub(r" If you're using (mark_dynamic|Dim\.DYNAMIC).*$", "", f) for f in found]
    for name, source in (sources or {}).items():
        found = [f.replace(f"marked {name} as dynamic", f"marked {name} ({source}) as dynamic") for f in found]
    fixes: list[str] = []
    if "Suggested fixes:" in lines:
        for line in lines[lines.index("Suggested fixes:") + 1:]:
            if not line.startswith("  ") or not line.strip():
                break
            fixes.append(_readable(line.strip()))
    shown = found[:_MAX_DETAIL_LINES] + ([f"... and {len(found) - _MAX_DETAIL_LINES} more"]
                                         if len(found) > _MAX_DETAIL_LINES else [])
    message = "dynamic dimension constraints do not hold:\n" + "\n".join(f"  - {f}" for f in shown)
    if fixes:
        message += "\ntorch suggests these dynamic_shapes: " + "; ".join(fixes)
    return message


def _constraint_hints(text: str) -> list[str]:
    hints = []
    if re.search(r"specialized it to be a constant \([01]\)", text):
        hints.append("torch.export fixes a size of 1 (or 0): give the example input a size of at least 2 "
                     "on every axis you mark dynamic")
    elif "specialized" in text:
        hints.append("the model fixes the size of a dimension marked dynamic (a reshape to a constant, a "
                     "layer with a fixed size, a Python branch on the size): drop that axis from "
                     "dynamic_shapes/dynamic_axes, or use Dim.AUTO to let torch decide")
    if "must always be equal" in text:
        hints.append("the model needs two dimensions to be equal: give both the same Dim (or the same name)")
    if "satisfy the generated guard" in text:
        hints.append("the model only works for some sizes of a dimension: declare the Dim as torch suggests "
                     "(its range, or a multiple such as 2*_b), or use Dim.AUTO")
    return hints


def _hints(text: str) -> list[str]:
    hints = []
    if "0/1 specialized" in text or "specialized it to be a constant (1)" in text:
        hints.append("torch.export fixes a size of 1 (or 0): give the example input a size of at least 2 "
                     "on every axis you mark dynamic")
    elif "specialized" in text or "Constraints violated" in text:
        hints.append("an axis marked dynamic is fixed by the model (or tied to another axis): drop it from "
                     "dynamic_axes/dynamic_shapes, or name tied axes alike")
    if any(k in text for k in ("shapes cannot be multiplied", "must match the size", "same reduction dim",
                               "expected input", "size mismatch", "Expected size")):
        hints.append("the example inputs' shapes do not fit the model's layers: check each input's shape")
    if "data-dependent" in text.lower() or "GuardOnDataDependentSymNode" in text:
        hints.append("replace data-dependent Python control flow with torch.cond and avoid .item()/.tolist() "
                     "on tensors that decide shapes")
    return hints


def capture(model: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any] | None,
            dynamic_shapes: Any, training: TrainingMode = TrainingMode.EVAL) -> ExportedProgram:
    """torch.export.export(strict=False), with its failure turned into a CaptureError."""
    try:
        with model_mode(model, training), _quiet_torch_logs(), _ExportFriendlyIndexing():
            return torch.export.export(model, args, kwargs=kwargs, dynamic_shapes=dynamic_shapes, strict=False)
    except Exception as exc:  # torch raises many types here; all mean "could not capture"
        text = str(exc).strip()
        violation = _constraint_violation(text, _dim_sources(model, dynamic_shapes))
        if violation is not None:
            hints = _constraint_hints(text) or _hints(text)
            raise CaptureError(
                f"torch.export could not capture {type(model).__name__} with these dynamic shapes: {violation}"
                + "\nHint: " + "; ".join(hints) + ". The full torch error is chained below."
            ) from exc
        lines = [line for line in text.splitlines() if line.strip()][:_MAX_DETAIL_LINES] or [type(exc).__name__]
        hints = _hints(text) or ["make forward() traceable by torch.export: replace data-dependent Python control "
                                 "flow with torch.cond, avoid .item()/.tolist() on tensors that decide shapes, and "
                                 "check that the example inputs match forward()'s signature"]
        raise CaptureError(
            f"torch.export could not capture {type(model).__name__}: {type(exc).__name__}: " + "\n".join(lines)
            + "\nHint: " + "; ".join(hints) + ". The full torch error is chained below."
        ) from exc


def decomposition_table(opset: int) -> dict[Any, Any]:
    """torch's default decompositions minus every op that has a mapping at `opset` (kept whole)."""
    table = torch.export.default_decompositions()
    for name in registry.supported_ops(opset):
        # a custom symbolic may name a whole op (`aten::gelu`): keep every overload of it
        overloads = [name] if "." in name.split("::", 1)[-1] else [f"{name}.{o}" for o in overload_names(name)]
        for overload in overloads:
            op = resolve_overload(overload)
            if op is not None and op in table:
                table.pop(op)
    return table


def decompose(program: ExportedProgram, opset: int) -> ExportedProgram:
    return program.run_decompositions(decomposition_table(opset))
