"""torch.onnx's legacy `dynamic_axes` and string axis names, as torch.export's dynamic_shapes.

`dynamic_axes={"x": {0: "batch"}, "y": [0, 1], "out": {0: "batch"}}` names axes of inputs
(by input_names or forward() parameter names) and of outputs (by output_names). Input axes
are hints, as in the classic exporter: `Dim.AUTO` for torch.export (lenient: sizes torch proves
equal share one symbol; an axis the model fixes is exported with its size and a warning, see
aten2onnx.exporter.capture.dynamic_hints) and keep their names; output axes are named after translation.
Unnamed axes get the classic exporter's names, `x_dynamic_axes_1`, ... A key naming no input
or output is ignored with a warning, as the classic exporter did.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx_ir as ir
import torch
from torch.export import Dim
from torch.export.dynamic_shapes import _DimHint, _DimHintType

from aten2onnx.exporter.capture.model_inputs import TensorLeaf, named_inputs, tensor_leaves
from aten2onnx.exporter.errors import ExportArgumentError


class DynamicAxisWarning(UserWarning):
    """An axis asked dynamic is exported with a fixed size, or a dynamic_axes key is ignored."""


AxisNames = dict[int, str]


@dataclass(frozen=True)
class DynamicAxes:
    """dynamic_axes split into what torch.export needs and what is named after translation."""

    dynamic_shapes: dict[str, Any] | None          # input axes, names as strings (see `to_torch`)
    output_axes: dict[int, AxisNames] = field(default_factory=dict)  # output index -> axis names
    ignored: tuple[str, ...] = ()                  # keys naming neither an input nor an output


def _axis_names(key: str, axes: Any) -> AxisNames:
    if isinstance(axes, Mapping):
        if not all(isinstance(a, int) and not isinstance(a, bool) and isinstance(n, str) and n for a, n in axes.items()):
            raise ExportArgumentError(f"dynamic_axes['{key}'] must map axis numbers to names, got {dict(axes)!r}")
        return dict(axes)
    if isinstance(axes, Sequence) and not isinstance(axes, str):
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise ExportArgumentError(f"dynamic_axes['{key}'] must list axis numbers, got {list(axes)!r}")
        return {axis: f"{key}_dynamic_axes_{i + 1}" for i, axis in enumerate(axes)}
    raise ExportArgumentError(
        f"dynamic_axes['{key}'] must be a list of axes ([0, 2]) or a dict of axis names ({{0: 'batch'}}), got {axes!r}"
    )


def _normalized(axes: AxisNames, rank: int, key: str) -> AxisNames:
    out = {}
    for axis, name in axes.items():
        if not -rank <= axis < rank:
            raise ExportArgumentError(f"dynamic_axes['{key}'] names axis {axis}, but '{key}' has rank {rank}")
        out[axis % rank] = name
    return out


def _spec_for(value: Any, leaves: dict[int, AxisNames], leaf_ids: dict[int, int]) -> Any:
    """The dynamic_shapes entry for one input, shaped like the input itself."""
    if isinstance(value, torch.Tensor):
        return leaves.get(leaf_ids[id(value)])
    if isinstance(value, (list, tuple)):
        items = [_spec_for(v, leaves, leaf_ids) for v in value]
        return None if all(s is None for s in items) else type(value)(items)
    if isinstance(value, dict):
        entries = {k: _spec_for(v, leaves, leaf_ids) for k, v in value.items()}
        return None if all(s is None for s in entries.values()) else entries
    return None


def from_dynamic_axes(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], dynamic_axes: Any,
                      input_names: Sequence[str] | None, output_names: Sequence[str] | None) -> DynamicAxes:
    """Translate the legacy dict; every key must name an input or an output."""
    if not isinstance(dynamic_axes, Mapping) or not all(isinstance(k, str) for k in dynamic_axes):
        raise ExportArgumentError(f"dynamic_axes must be a dict keyed by input or output names, got {dynamic_axes!r}")
    leaves: list[TensorLeaf] = tensor_leaves(model, args, kwargs)
    names = list(input_names or ())
    by_name: dict[str, int] = {}
    for index, leaf in enumerate(leaves):
        by_name.setdefault(leaf.default_name, index)
        if index < len(names):
            by_name[names[index]] = index
    outputs = {name: index for index, name in enumerate(output_names or ())}
    input_axes: dict[int, AxisNames] = {}
    output_axes: dict[int, AxisNames] = {}
    ignored: list[str] = []
    for key, axes in dynamic_axes.items():
        named = _axis_names(key, axes)
        if key in by_name:
            index = by_name[key]
            input_axes[index] = _normalized(named, leaves[index].tensor.dim(), key)
        elif key in outputs:
            output_axes[outputs[key]] = named
        else:  # the classic exporter warned and went on (an input not given, a name of an older model)
            known = sorted(by_name) + sorted(outputs)
            ignored.append(f"dynamic_axes['{key}'] names neither an input nor an output (known names: "
                           f"{', '.join(known) or 'none'}; outputs are named by output_names): ignored")
            warnings.warn(ignored[-1], DynamicAxisWarning, stacklevel=4)
    if not input_axes:
        return DynamicAxes(None, output_axes, tuple(ignored))
    leaf_ids = {id(leaf.tensor): index for index, leaf in enumerate(leaves)}
    shapes = {name: _spec_for(value, input_axes, leaf_ids) for name, value in named_inputs(model, args, kwargs)}
    return DynamicAxes(shapes, output_axes, tuple(ignored))


def to_torch(dynamic_shapes: Any) -> Any:
    """Axis names given as strings, and Dim.DYNAMIC, as Dim.AUTO: torch.export takes no strings, and
    the axes the model fixes are then exported with their example size and a warning (see
    aten2onnx.exporter.capture.dynamic_hints) where Dim.DYNAMIC would fail the capture. Named Dims stay."""
    if isinstance(dynamic_shapes, str):
        return Dim.AUTO
    if isinstance(dynamic_shapes, _DimHint) and dynamic_shapes.type == _DimHintType.DYNAMIC:
        return _DimHint(_DimHintType.AUTO, min=dynamic_shapes.min, max=dynamic_shapes.max)
    if isinstance(dynamic_shapes, dict):
        return {k: to_torch(v) for k, v in dynamic_shapes.items()}
    if isinstance(dynamic_shapes, (list, tuple)):
        return type(dynamic_shapes)(to_torch(v) for v in dynamic_shapes)
    return dynamic_shapes


def name_output_axes(model: ir.Model, output_axes: dict[int, AxisNames], fixed: Collection[str] = ()) -> None:
    """Give outputs' axes the names dynamic_axes asked for (as the classic exporter did), except
    the `fixed` names: axes the model fixed are exported static, in and out."""
    outputs = list(model.graph.outputs)
    for index, axes in output_axes.items():
        value = outputs[index]
        if value.shape is None:
            continue
        dims: list[int | str | ir.SymbolicDim | None] = list(value.shape)
        for axis, name in axes.items():
            if not -len(dims) <= axis < len(dims):
                raise ExportArgumentError(
                    f"dynamic_axes['{value.name}'] names axis {axis}, but output '{value.name}' has rank {len(dims)}"
                )
            if name in fixed and isinstance(dims[axis], int):
                continue
            dims[axis] = name
        value.shape = ir.Shape(dims)
