"""The differential op tests through the TorchScript frontend: each drawn example becomes a traced
one-op module, exported as TorchScript and run in ONNX Runtime against eager torch.

tests/test_ops.py calls every mapping directly; here the same mappings are reached the way a traced
model reaches them: a TorchScript `aten::` node, its overload resolved from the node's schema, its
arguments read from the graph (constants, lists, in-place writes rebound). The default run covers
the ops TorchScript graphs of the test tree's models use (`TORCHSCRIPT_OPS`, checked against the
traced graphs below) at their first and newest opsets; `-m slow` runs every spec whose inputs and
outputs are tensors. Ops that return Python numbers (aten::size.int, aten::add.int, ...) cannot be
traced on their own; test_torchscript.py exports them inside scripted models.
"""

from __future__ import annotations

import warnings
from typing import Any

import hypothesis_profiles
import pytest
import torch
from hypothesis import note, reject
from models.classic import CLASSIC_ZOO
from op_runner import assert_same, assert_same_random, flatten_outputs, run_eager
from op_tally import Tally
from test_ops import SPECS, check_examples, opsets_to_test
from torch.utils._pytree import tree_flatten, tree_unflatten

import aten2onnx
from aten2onnx.codegen.model import OpSpec
from aten2onnx.codegen.shared.torch_schema import resolve_overload, schema_of
from aten2onnx.exporter.errors import ConstraintError
from aten2onnx.exporter.translate import registry

# The overloads the traced and scripted models of the test tree translate through specs (the
# classic zoo, the seed's loops, packed sequences), and the TorchScript-only specs with tensor
# inputs and outputs. test_torchscript_ops_cover_the_models keeps this list honest.
TORCHSCRIPT_OPS = {
    "aten::_convolution.default", "aten::adaptive_avg_pool2d.default", "aten::add.Tensor", "aten::add.Scalar",
    "aten::avg_pool2d.default", "aten::batch_norm.default", "aten::cat.default", "aten::dropout.default",
    "aten::embedding.default", "aten::flatten.using_ints", "aten::gru.input", "aten::hardtanh_.default",
    "aten::leaky_relu_.default", "aten::linear.default", "aten::log_softmax.int", "aten::lstm.input",
    "aten::max_pool2d.default", "aten::pixel_shuffle.default", "aten::relu_.default", "aten::rnn_relu.input",
    "aten::rnn_tanh.input", "aten::sigmoid.default", "aten::squeeze.dim", "aten::tanh.default", "aten::view.default",
    "aten::relu.default", "aten::mul.Tensor", "aten::stack.default", "aten::select.int", "aten::slice.Tensor",
    "aten::index_select.default", "aten::sort.default", "aten::lstm.data", "aten::gru.data",
    "aten::_pack_padded_sequence.default", "aten::_pad_packed_sequence.default",
    "aten::add_.Tensor", "aten::add_.Scalar", "aten::sub_.Tensor", "aten::mul_.Tensor", "aten::mul_.Scalar",
    "aten::div_.Tensor", "aten::div_.Scalar", "aten::copy_.default", "aten::fill_.Scalar", "aten::zero_.default",
    "aten::masked_fill_.Scalar", "aten::dropout_.default",
}
# The models whose traced graphs TORCHSCRIPT_OPS must cover (the light ones the default run exports).
COVERED_MODELS = ["alexnet", "resnet18", "super_resolution", "dcgan_generator", "word_lm_lstm", "word_lm_gru"]
_MAX_EXAMPLES = 8  # each example traces and exports a module: fewer than test_ops' direct calls


class OneOp(torch.nn.Module):
    """Calls one overload; the tensors among its arguments are the module's inputs, the rest constants."""

    def __init__(self, overload: str, schema: Any, arguments: dict[str, Any]):
        super().__init__()
        self.op = resolve_overload(overload)
        self.schema = schema
        values = [arguments[a.name] for a in schema.arguments]
        flat, self.spec = tree_flatten(values)
        self.positions = [i for i, v in enumerate(flat) if isinstance(v, torch.Tensor)]
        self.flat = [None if i in self.positions else v for i, v in enumerate(flat)]
        self.tensors = tuple(flat[i] for i in self.positions)

    def forward(self, *tensors: torch.Tensor) -> Any:
        items = list(self.flat)
        for i, tensor in zip(self.positions, tensors):
            items[i] = tensor
        values = tree_unflatten(items, self.spec)
        positional = [v for a, v in zip(self.schema.arguments, values) if not a.kwarg_only]
        keywords = {a.name: v for a, v in zip(self.schema.arguments, values) if a.kwarg_only}
        return self.op(*positional, **keywords)


def traceable(spec: OpSpec) -> bool:
    """Tensor results only, and at least one tensor argument to trace from."""
    schema = schema_of(spec.aten)
    if schema is None or not schema.returns or any("Tensor" not in r for r in schema.returns):
        return False
    return any(a.is_tensor or a.is_tensor_list for a in schema.arguments)


def _cases() -> list[Any]:
    cases = []
    for spec in SPECS:
        if not traceable(spec):
            continue
        opsets = opsets_to_test(spec)
        for opset in sorted({opsets[0], opsets[-1]}):
            marks = [pytest.mark.xfail(reason=reason, strict=True)
                     for first, last, reason in spec.test.xfail if first <= opset <= last]
            if spec.test.untraceable:  # torch.jit.trace refuses every call: test_ops.py proves the mapping
                marks.append(pytest.mark.xfail(reason=spec.test.untraceable, strict=True))
            if spec.aten not in TORCHSCRIPT_OPS:
                marks.append(pytest.mark.slow)
            cases.append(pytest.param(spec, opset, id=f"{spec.aten}@{opset}", marks=marks))
    return cases


def _run_example(spec: OpSpec, opset: int, arguments: dict[str, Any], tally: Tally) -> None:
    schema = schema_of(spec.aten)
    tally.draw()
    try:
        expected = flatten_outputs(run_eager(spec.aten, schema, arguments))
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        note(f"torch refuses these arguments: {exc}")
        tally.rejected_by_torch(exc)
    module = OneOp(spec.aten, schema, arguments)
    if any(t.dtype == torch.bfloat16 for t in [*module.tensors, *expected]):
        # ONNX Runtime's Python API (ONNXProgram.__call__) takes and returns no bfloat16 arrays;
        # tests/test_ops.py proves the bfloat16 cases of every mapping
        reject()
    inputs = tuple(t.clone() for t in module.tensors)  # an in-place op writes into its inputs
    messages = {c.message for c in spec.constraints} | {c.message for v in spec.variants for c in v.constraints}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, inputs, check_trace=False)
    except RuntimeError as exc:  # torch's tracer refuses some calls (fill_ with a bool value)
        note(f"torch.jit.trace refuses this call: {exc}")
        tally.rejected_by_torch(exc)
    try:
        program = aten2onnx.export(traced, inputs, opset_version=opset, do_constant_folding=False)
    except ConstraintError as error:
        assert error.constraint_message in messages, f"undocumented constraint message: {error}"
        tally.refused_by_spec()
    actual = list(program(*(t.clone() for t in module.tensors)))
    if spec.test.random is not None:
        assert_same_random(actual, expected, spec.test.random, arguments)
    else:
        assert_same(actual, expected, spec.test.atol, spec.test.rtol, spec.test.signed_zeros)
    tally.compare()


@pytest.mark.parametrize(("spec", "opset"), _cases())
def test_traced_op_matches_torch(spec: OpSpec, opset: int) -> None:
    """Fails on a mismatch, and unless the profile's minimum of examples was compared (op_tally)."""
    examples = min(spec.test.max_examples or _MAX_EXAMPLES, _MAX_EXAMPLES)
    minimum = min(hypothesis_profiles.current().min_compared, examples)
    check_examples(spec, opset, examples, minimum, "traced", _run_example)


def _graph_overloads(block: torch._C.Block) -> set[str]:
    from aten2onnx.exporter.torchscript.translator import overload_of

    found = set()
    for node in block.nodes():
        if node.kind().startswith("aten::"):
            found.add(overload_of(node)[0])
        for inner in node.blocks():
            found |= _graph_overloads(inner)
    return found


@pytest.mark.parametrize("name", COVERED_MODELS)
def test_torchscript_ops_cover_the_models(name: str) -> None:
    """Every ATen op of the model's traced graph that reaches a spec is in TORCHSCRIPT_OPS (so the
    default run proves it through this frontend)."""
    from aten2onnx.exporter.torchscript.capture import capture_torchscript

    case = CLASSIC_ZOO[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        captured = capture_torchscript(case.model, case.args, {})
    used = {o for o in _graph_overloads(captured.graph.block()) if registry.lookup(o, 26) is not None}
    assert used, "the traced graph reaches no spec: nothing was checked"
    missing = sorted(used - TORCHSCRIPT_OPS)
    assert not missing, f"add to TORCHSCRIPT_OPS: {missing}"
