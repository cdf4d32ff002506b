"""Capture with torch.export, then decompose only the ops that have no spec at the opset."""

from __future__ import annotations

from typing import Any

import torch
from torch.export import ExportedProgram

from codegen.torch_schema import resolve_overload
from exporter.errors import CaptureError
from generated import registry


def capture(model: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any] | None,
            dynamic_shapes: Any) -> ExportedProgram:
    """torch.export.export(strict=False), with its failure turned into a CaptureError."""
    try:
        return torch.export.export(model, args, kwargs=kwargs, dynamic_shapes=dynamic_shapes, strict=False)
    except Exception as exc:  # torch raises many types here; all mean "could not capture"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CaptureError(
            f"torch.export could not capture {type(model).__name__}: {type(exc).__name__}: {first_line}\n"
            "Make forward() traceable by torch.export: replace data-dependent Python control flow with "
            "torch.cond, avoid .item()/.tolist() on tensors that decide shapes, and check that the example "
            "inputs match forward()'s signature. The full torch error is chained below."
        ) from exc


def decomposition_table(opset: int) -> dict[Any, Any]:
    """torch's default decompositions minus every op that has a spec at `opset` (kept whole)."""
    table = torch.export.default_decompositions()
    for name in registry.supported_ops(opset):
        op = resolve_overload(name)
        if op is not None and op in table:
            table.pop(op)
    return table


def decompose(program: ExportedProgram, opset: int) -> ExportedProgram:
    return program.run_decompositions(decomposition_table(opset))
