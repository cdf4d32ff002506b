"""`aten2onnx demo`: export the built-in model, run it in ONNX Runtime, compare with PyTorch."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import onnx_ir as ir
import torch

from aten2onnx.exporter.api.export import DEFAULT_OPSET, export
from aten2onnx.exporter.tools.models import default_model


def run_demo(output: Path = Path("model.onnx"), opset: int = DEFAULT_OPSET) -> float:
    """Export, save, verify; prints a summary and returns the max absolute error."""
    model, args = default_model()
    start = time.perf_counter()
    program = export(model, args, output, opset_version=opset, input_names=["image"], output_names=["logits"])
    export_seconds = time.perf_counter() - start
    with torch.no_grad():
        expected = model(*args)
    start = time.perf_counter()
    (actual,) = program(*args)
    run_seconds = time.perf_counter() - start
    error = float((actual - expected).abs().max())
    graph = program.model.graph
    ops = sorted({node.op_type for node in graph})

    def describe(values: Iterable[ir.Value]) -> str:
        return ", ".join(f"{v.name} {v.dtype.name.lower() if v.dtype else '?'}{list(v.shape) if v.shape else '?'}"
                         for v in values)

    print(f"aten2onnx demo: {type(model).__name__} (quarter width, random weights) -> {output}")
    print(f"  opset          {opset}")
    print(f"  nodes          {len(graph)} ({', '.join(ops)})")
    print(f"  inputs         {describe(graph.inputs)}")
    print(f"  outputs        {describe(graph.outputs)}")
    print(f"  weights        {len(graph.initializers)} tensors, {output.stat().st_size / 1e6:.1f} MB file")
    print(f"  max abs error  {error:.2e} (ONNX Runtime vs eager PyTorch)")
    print(f"  time           export {export_seconds:.2f} s, ONNX Runtime run {run_seconds * 1000:.1f} ms")
    if error > 1e-4:
        raise SystemExit(f"aten2onnx demo: ONNX Runtime differs from PyTorch by {error:.2e} (> 1e-4)")
    return error
