"""Dropout that needs Python: native_dropout's cases.

Referenced from opspecs/random.yaml as `impl: aten2onnx.exporter.emit.lib.creation_ops.native_dropout`; arange,
the random factories and the samplers are data
(opspecs/random.yaml, their spec helpers in opspecs/helpers.yaml); dropout's uniform-sample
mask uses exporter/emit/helpers.py's random_uniform (Dropout's random mask from opset 22, where ONNX Runtime
(1.31) has no kernels for the random ops).
"""

from __future__ import annotations

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder

_SOURCE = "exporter/emit/lib/creation_ops.py"


# -- dropout ---------------------------------------------------------------------------------------
def native_dropout(g: GraphBuilder, input: ir.Value, p: float, train: bool | None) -> tuple[ir.Value, ir.Value]:
    """(output, mask). train=False: the input and an all-True mask. Otherwise each element is kept
    with probability 1 - p and scaled by 1 / (1 - p): ONNX Dropout in training mode from opset 12
    (float types, p < 1), else a uniform-sample mask as torch builds it. p == 1 drops everything
    (torch's scale is then 0, ONNX Dropout refuses the ratio).
    """
    dtype = g.known_dtype(input)
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
