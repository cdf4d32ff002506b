"""Run one ATen op eagerly and as a one-op ONNX model in ONNX Runtime; compare the results.

The ONNX model is built straight from the generated symbolic function (no torch.export),
with the same GraphBuilder the exporter uses, so thousands of examples run in minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime
import torch

from codegen.torch_schema import TorchSchema, python_name, resolve_overload
from exporter.dtypes import from_torch_dtype
from exporter.graph_builder import GraphBuilder
from exporter.program import _to_numpy
from generated import registry

_SESSION_OPTIONS = onnxruntime.SessionOptions()
_SESSION_OPTIONS.log_severity_level = 3
_SESSION_OPTIONS.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL


def run_eager(overload: str, schema: TorchSchema, arguments: dict[str, Any]) -> Any:
    op = resolve_overload(overload)
    assert op is not None
    positional = [arguments[a.name] for a in schema.arguments if not a.kwarg_only]
    keywords = {a.name: arguments[a.name] for a in schema.arguments if a.kwarg_only}
    return op(*positional, **keywords)


def flatten_outputs(result: Any) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    return [t for item in result for t in flatten_outputs(item)]


@dataclass
class OneOpModel:
    model: ir.Model
    feeds: dict[str, np.ndarray]


def build_one_op_model(overload: str, schema: TorchSchema, arguments: dict[str, Any], opset: int,
                       eager_outputs: list[torch.Tensor]) -> OneOpModel:
    """Graph inputs for every tensor argument; the symbolic function emits the rest."""
    g = GraphBuilder(opset)
    inputs, feeds, call_args = [], {}, {}

    def graph_input(name: str, tensor: torch.Tensor) -> ir.Value:
        value = ir.Value(name=name, type=ir.TensorType(from_torch_dtype(tensor.dtype)), shape=ir.Shape(tensor.shape))
        inputs.append(value)
        feeds[name] = _to_numpy(tensor)
        return value

    for arg in schema.arguments:
        value = arguments[arg.name]
        if isinstance(value, torch.Tensor):
            value = graph_input(arg.name, value)
        elif isinstance(value, list) and value and all(isinstance(v, torch.Tensor) for v in value):
            value = [graph_input(f"{arg.name}_{i}", t) for i, t in enumerate(value)]
        call_args[python_name(arg.name)] = value

    function = registry.lookup(overload, opset)
    assert function is not None, f"{overload} has no mapping at opset {opset}"
    with g.translating(overload, "", None):
        result = function(g, **call_args)
    results = flatten_outputs_values(result)
    if len(results) != len(eager_outputs):
        raise AssertionError(f"{overload}: the mapping returns {len(results)} outputs, torch {len(eager_outputs)}")
    outputs = []
    for index, (value, expected) in enumerate(zip(results, eager_outputs)):
        if value in inputs or value in outputs:
            value = g.op("Identity", value)
        value.name = f"output_{index}"
        value.dtype = from_torch_dtype(expected.dtype)
        value.shape = ir.Shape(expected.shape)
        outputs.append(value)
    graph = ir.Graph(inputs, outputs, nodes=g.nodes, opset_imports={"": opset}, name=overload)
    ir_version = onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)])
    return OneOpModel(ir.Model(graph, ir_version=max(ir_version, 8)), feeds)


def flatten_outputs_values(result: Any) -> list[ir.Value]:
    if isinstance(result, ir.Value):
        return [result]
    return [v for item in result for v in flatten_outputs_values(item)]


def run_onnx(model: OneOpModel) -> list[torch.Tensor]:
    proto = ir.serde.serialize_model(model.model)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), _SESSION_OPTIONS,
                                           providers=["CPUExecutionProvider"])
    return [torch.from_numpy(np.array(out)) for out in session.run(None, model.feeds)]


def assert_same(actual: list[torch.Tensor], expected: list[torch.Tensor], atol: float, rtol: float) -> None:
    """dtype and shape must match exactly; values within tolerance (exactly for ints/bools)."""
    for index, (got, want) in enumerate(zip(actual, expected)):
        if got.dtype != want.dtype and not (want.dtype == torch.bfloat16 and got.dtype == torch.float32):
            raise AssertionError(f"output {index}: ONNX Runtime gives {got.dtype}, torch {want.dtype}")
        if tuple(got.shape) != tuple(want.shape):
            raise AssertionError(f"output {index}: ONNX Runtime gives shape {tuple(got.shape)}, torch {tuple(want.shape)}")
        exact = not want.dtype.is_floating_point
        torch.testing.assert_close(got.to(want.dtype), want, atol=0 if exact else atol, rtol=0 if exact else rtol,
                                   equal_nan=True, msg=lambda m, i=index: f"output {i}: {m}")
