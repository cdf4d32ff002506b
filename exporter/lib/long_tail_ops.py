"""Mappings of issue 13's long tail of operators that are algorithms rather than a few ops:
a list of outputs whose count comes from a static size."""

from __future__ import annotations

from typing import Any

import onnx_ir as ir
import torch

from exporter.lib import common as c


def unbind_copy(g: Any, self: ir.Value, dim: int) -> list[ir.Value]:
    """torch.unbind_copy: one Gather per index along dim (needs the static size along dim)."""
    axis = dim % g.rank(self)
    size = c.dim_size(g, self, axis)
    if not isinstance(size, int):
        raise g.refuse("dynamic_sizes", detail=f"'{self.name}' has shape {g.shape(self)}")
    return [g.op("Gather", self, g.constant(i, torch.int64), axis=axis) for i in range(size)]
