"""Creation and dropout mappings that need Python: arange's length rule, native_dropout's cases.

Each public function takes `(g, <every schema argument in order>)` and is referenced from
opspecs/creation.yaml, opspecs/nn.yaml or opspecs/random.yaml as
`impl: exporter.lib.creation_ops.<name>`. The random factories and samplers are data
(opspecs/random.yaml, their spec helpers in opspecs/helpers.yaml); dropout's uniform-sample
mask uses emit_helpers.random_uniform (Dropout's random mask from opset 22, where ONNX Runtime
(1.31) has no kernels for the random ops).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from exporter import emit_helpers as h

_SOURCE = "exporter/lib/creation_ops.py"


def _is_static(values: Sequence[Any]) -> bool:
    return not any(isinstance(v, ir.Value) for v in values)


# -- arange -----------------------------------------------------------------------------------------
def arange(g: Any, start: Any, end: Any, step: Any, dtype: Any) -> ir.Value:
    """torch.arange (its overloads bind start=0 and step=1 in their specs)."""
    out_dtype = h.factory_dtype(g, dtype, start, end, step)
    if not _is_static([start, end, step]):
        return _arange_symbolic(g, start, end, step, out_dtype)
    # torch's own length (its CPU kernel truncates the bounds first for int64, not for other
    # dtypes; the meta kernel differs), from the eager op: the bounds are static here.
    length = torch.ops.aten.arange.start_step(start, end, step, dtype=out_dtype).shape[0]
    if out_dtype.is_floating_point:
        # torch's accumulation type: double for float32/64, float for float16/bfloat16.
        acc = torch.float64 if out_dtype in (torch.float32, torch.float64) else torch.float32
        first, delta = float(start), float(step)
    else:
        acc, first, delta = torch.int64, int(start), int(step)
    if g.opset >= 11:
        index = g.op("Range", g.constant(0, acc), g.constant(length, acc), g.constant(1, acc))
    else:
        index = g.constant(torch.arange(length, dtype=acc))
    values = index if delta == 1 else g.op("Mul", index, g.constant(delta, acc))
    values = values if first == 0 else g.op("Add", values, g.constant(first, acc))
    return g.cast(values, out_dtype)


def _arange_symbolic(g: Any, start: Any, end: Any, step: Any, out_dtype: torch.dtype) -> ir.Value:
    """Range over bounds known only at run time (sizes of dynamic axes), from opset 11."""
    if g.opset < 11:
        raise g.refuse("dynamic_bounds_before_11")
    acc = torch.float64 if out_dtype.is_floating_point else torch.int64
    bounds = [g.cast(v, acc) if isinstance(v, ir.Value) else g.constant(v, acc) for v in (start, end, step)]
    bounds = [g.op("Reshape", b, g.constant([], torch.int64)) for b in bounds]  # Range takes 0-d inputs
    return g.cast(g.op("Range", *bounds), out_dtype)


# -- dropout ---------------------------------------------------------------------------------------
def native_dropout(g: Any, input: ir.Value, p: float, train: bool | None) -> tuple[ir.Value, ir.Value]:
    """(output, mask). train=False: the input and an all-True mask. Otherwise each element is kept
    with probability 1 - p and scaled by 1 / (1 - p): ONNX Dropout in training mode from opset 12
    (float types, p < 1), else a uniform-sample mask as torch builds it. p == 1 drops everything
    (torch's scale is then 0, ONNX Dropout refuses the ratio).
    """
    dtype = g.dtype(input)
    shape = g.op("Shape", input)
    if train is False:
        return g.op("Identity", input), h.filled(g, shape, True, torch.bool)
    if input.shape is not None and any(d == 0 for d in input.shape):
        return g.op("Identity", input), h.filled(g, shape, 0, dtype)  # torch: empty_like(input)
    if p >= 1:
        return g.op("Mul", input, g.constant(0, dtype)), h.filled(g, shape, False, torch.bool)
    if g.opset >= 12 and dtype in (torch.float16, torch.float32, torch.float64):
        ratio, training = g.constant(float(p), torch.float32), g.constant(True, torch.bool)
        output, mask = g.op("Dropout", input, ratio, training, _outputs=2)
        mask.dtype = ir.DataType.BOOL
        return output, mask
    sample = h.sample_dtype(g, dtype)
    mask = g.op("Not", g.op("Less", h.random_uniform(g, input, sample), g.constant(float(p), sample)))
    kept = g.op("Mul", input, g.cast(mask, dtype))
    return g.op("Mul", kept, g.constant(1.0 / (1.0 - p), dtype)), mask


def dropout(g: Any, input: ir.Value, p: float, train: bool) -> ir.Value:
    """aten::dropout: identity in eval; in training (TrainingMode.TRAINING) native_dropout's output."""
    if not train or p == 0:
        return g.op("Identity", input)
    return native_dropout(g, input, p, True)[0]
