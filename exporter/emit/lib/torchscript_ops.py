"""The mapping of `x.size()` in TorchScript graphs: a list of values, one per dimension, which
an emit (with no loops) cannot build."""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit.graph_builder import GraphBuilder


def size(g: GraphBuilder, self: ir.Value) -> list[Any]:
    """aten::size.default (`x.size()`): one 0-d value per dimension (the frontend keeps the static ones as
    numbers, from the metadata, and only the dynamic ones read the shape at run time)."""
    shape = g.op("Shape", self)
    return [g.op("Gather", shape, g.constant(axis, torch.int64), axis=0) for axis in range(g.rank(self))]

