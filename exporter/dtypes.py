"""torch dtype <-> ONNX data type."""

from __future__ import annotations

import onnx_ir as ir
import torch
from onnx_ir.tensor_adapters import from_torch_dtype, to_torch_dtype

__all__ = ["from_torch_dtype", "to_torch_dtype", "parse_dtype"]


def parse_dtype(value: torch.dtype | ir.DataType | str) -> torch.dtype:
    """Accept torch.float32, ir.DataType.FLOAT or 'float32'."""
    if isinstance(value, torch.dtype):
        return value
    if isinstance(value, ir.DataType):
        return to_torch_dtype(value)
    found = getattr(torch, str(value), None)
    if not isinstance(found, torch.dtype):
        raise ValueError(f"unknown dtype '{value}'; use a torch dtype name such as float32 or int64")
    return found
