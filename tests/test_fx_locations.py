"""Source locations of FX nodes (exporter/capture/fx_locations.py) as errors and ONNX metadata show them.

torch.export inserts the sym_size reads of dynamic dimensions itself: their stack trace names
torch's own runtime_assert.py, so their location is the code that consumes the size.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import torch
from torch.export import Dim

import aten2onnx
from aten2onnx.exporter.capture.fx_locations import locate
from aten2onnx.exporter.emit.graph_builder import SOURCE_KEY

THIS_FILE = Path(__file__).name


class ReadsASize(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = torch.nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        return self.inner(x).reshape(n * 2, -1)  # the line that reads the size


SIZE_LINE = next(i for i, text in enumerate(inspect.getsource(ReadsASize).splitlines(), inspect.getsourcelines(ReadsASize)[1])
                 if "the line that reads the size" in text)
DYNAMIC = {"x": {0: Dim("batch")}}


def _sym_size_nodes(program: torch.export.ExportedProgram) -> list[torch.fx.Node]:
    nodes = [n for n in program.graph.nodes if n.target is torch.ops.aten.sym_size.int]
    assert nodes, "the dynamic export reads no size: the test needs one"
    return nodes


def test_sym_size_is_located_at_the_user_code_that_consumes_it() -> None:
    program = torch.export.export(ReadsASize(), (torch.randn(4, 6),), dynamic_shapes=DYNAMIC)
    for node in _sym_size_nodes(program):
        assert "torch/" in node.meta["stack_trace"]  # what torch records: its own file
        location = locate(node)
        assert location.source.endswith(f"{THIS_FILE}:{SIZE_LINE}"), location
        assert location.module_path == ""  # the reshape is in the top-level forward


def test_error_while_translating_a_size_read_names_the_user_line() -> None:
    def broken(g, self, dim):  # a user's symbolic that fails on the size read
        raise RuntimeError("no sizes today")

    aten2onnx.register_custom_op_symbolic("aten::sym_size.int", broken, 9)
    try:
        with pytest.raises(aten2onnx.OnnxExporterError, match="no sizes today") as info:
            aten2onnx.export(ReadsASize(), (torch.randn(4, 6),), dynamic_shapes=DYNAMIC)
    finally:
        aten2onnx.unregister_custom_op_symbolic("aten::sym_size.int", 9)
    message = str(info.value)
    assert re.search(rf"{re.escape(THIS_FILE)}:{SIZE_LINE}\b", message), message
    assert "runtime_assert" not in message


def test_onnx_nodes_of_a_size_read_carry_the_user_line() -> None:
    program = aten2onnx.export(ReadsASize(), (torch.randn(4, 6),), dynamic_shapes=DYNAMIC)
    shapes = [n for n in program.model.graph if n.op_type == "Shape"]
    assert shapes
    for node in shapes:
        assert node.metadata_props[SOURCE_KEY].endswith(f"{THIS_FILE}:{SIZE_LINE}"), node.metadata_props
