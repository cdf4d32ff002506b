"""Results torch recorded as empty tensors of a static shape: constants instead of the op's mapping.

An ATen op whose every output has no elements computes nothing, but its ONNX mapping may still fail
on the empty input in ONNX Runtime: pooling kernels refuse a batch of 0, Reshape refuses a 0 beside
a -1, LayerNormalization refuses an empty normalized axis. torch.export recorded each output's shape
and dtype, so when they are all static and empty the result is known at export time.
"""

from __future__ import annotations

import math
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit.graph_builder import GraphBuilder


def _empty(meta: Any) -> bool:
    return (isinstance(meta, torch.Tensor) and not meta.dtype.is_complex
            and all(isinstance(d, int) for d in meta.shape) and math.prod(meta.shape) == 0)


def is_empty_result(meta: Any) -> bool:
    """Whether every output torch recorded (a tensor, or a tuple of tensors) is empty with a static shape."""
    if isinstance(meta, (list, tuple)):
        return bool(meta) and all(_empty(m) for m in meta)
    return _empty(meta)


def empty_result(g: GraphBuilder, meta: Any) -> ir.Value | tuple[ir.Value, ...]:
    """Constants with the recorded shapes and dtypes (is_empty_result(meta) holds)."""
    if isinstance(meta, (list, tuple)):
        return tuple(g.constant(torch.empty(tuple(m.shape), dtype=m.dtype)) for m in meta)
    return g.constant(torch.empty(tuple(meta.shape), dtype=meta.dtype))
