"""The ONNX graph both frontends fill: the torch.export translator (translate/translator.py) and the
TorchScript one (torchscript/translator.py) are GraphParts.

A GraphParts holds the GraphBuilder the nodes go into, the graph's inputs and initializers and the
value names in use; `output` makes a graph output of a translated value and `model` the ir.Model of
it all (opset imports, IR version, legalization for the target runtime), the same way for both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import onnx
import onnx_ir as ir
import onnx_ir.passes.common
import torch

from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.names import unique_name
from aten2onnx.exporter.rewrite import passes
from aten2onnx.exporter.translate import aten_fallback, registry

REWRITES_KEY = "aten2onnx.rewrites"  # model.meta: the nodes passes.legalize rewrote, `pass: Op(dtypes)`

# the dtype of a Python number a model returns (a static size, a flag), as torch.export records it
_NUMBER_DTYPES: dict[type, torch.dtype] = {bool: torch.bool, int: torch.int64, float: torch.float64}


class GraphParts:
    """The graph being translated. A subgraph's parts may share the initializers and the names in use
    with its parent's (`initializers`, `used_names`), so that names stay unique across the model."""

    def __init__(self, opset: int, g: GraphBuilder | None = None, initializers: list[ir.Value] | None = None,
                 used_names: set[str] | None = None):
        self.opset = opset
        self.g = g or GraphBuilder(opset, registry)
        self.inputs: list[ir.Value] = []
        self.initializers: list[ir.Value] = initializers if initializers is not None else []
        self.used_names: set[str] = used_names if used_names is not None else set()

    def unique(self, name: str) -> str:
        return unique_name(name, self.used_names)

    def output(self, value: Any, wanted: str | None, fallback: str, earlier: Sequence[ir.Value]) -> ir.Value:
        """`value` (a translated value, or a Python number the model returns) as a graph output after
        `earlier`, named `wanted` when given. A number becomes a constant, and an input, initializer or
        earlier output an Identity of it (ONNX gives each output its own value); these are named
        `fallback` when nothing is wanted."""
        if not isinstance(value, ir.Value):
            constant = self.g.constant(value, _NUMBER_DTYPES.get(type(value)))
            constant.name = self.unique(wanted or fallback)
            return constant
        is_input = value in self.inputs or value in self.initializers or value in earlier
        if is_input or wanted and wanted != value.name and wanted in self.used_names:
            copy = self.g.op("Identity", value)
            if value.dtype is not None:
                copy.dtype = value.dtype
            copy.shape = value.shape
            copy.name = self.unique(wanted or fallback)
            return copy
        if wanted:
            if value.name is not None:
                self.used_names.discard(value.name)
            value.name = self.unique(wanted)
        return value

    def model(self, outputs: Sequence[ir.Value], custom_opsets: Mapping[str, int] | None,
              target_runtime: str | None, runtime_version: str | None, *, prune: bool = False) -> ir.Model:
        """The ONNX model of the graph: the standard domain at the opset, every other domain the nodes
        use at version 1 unless `custom_opsets` says otherwise (the ATen fallback's at its own), the
        lowest IR version the opset allows (8 at least); `prune` first drops the nodes no output
        reads. Then passes.legalize for `target_runtime` at `runtime_version`, whose rewrites are
        listed in `model.meta[REWRITES_KEY]`."""
        imports = {"": self.opset, **dict.fromkeys(sorted(self.g.domains), 1), **(custom_opsets or {})}
        if aten_fallback.ATEN_DOMAIN in self.g.domains:
            imports.setdefault(aten_fallback.ATEN_DOMAIN, aten_fallback.ATEN_DOMAIN_VERSION)
        graph = ir.Graph(self.inputs, outputs, nodes=self.g.nodes, initializers=self.initializers,
                         opset_imports=imports, name="main_graph")
        ir_version = onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", self.opset)])
        model = ir.Model(graph, ir_version=max(ir_version, 8), producer_name="aten2onnx")
        if prune:
            ir.passes.common.RemoveUnusedNodesPass()(model)
        model.meta[REWRITES_KEY] = passes.legalize(model, target_runtime, runtime_version)
        return model
