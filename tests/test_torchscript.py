"""The TorchScript frontend end to end: export(..., dynamo=False), scripted models, fallback=True.

Every model is exported, checked, and run in ONNX Runtime against eager PyTorch on inputs that take
other branches, trip counts and sizes than the example.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx
import pytest
import torch
from models import torchscript_models as ts
from models.seed_examples import LoopModel, LoopModel2
from torch import nn
from torch.utils._pytree import tree_leaves

import aten2onnx
from aten2onnx.exporter import progress
from aten2onnx.exporter.torchscript import TracedValueWarning

SEED_OPSETS = [9, 13, 17, 18, 26]


def _op_types(graph: Any) -> list[str]:
    """Every node's op type, those inside subgraphs included."""
    found = []
    for node in graph:
        found.append(node.op_type)
        for attribute in node.attributes.values():
            if attribute.type.name == "GRAPH":
                found += _op_types(attribute.as_graph())
    return found


def _compare(program: aten2onnx.ONNXProgram, model: Any, runs: Sequence[tuple[Any, ...]], atol: float = 1e-5) -> None:
    for args in runs:
        with torch.no_grad():
            expected = [t for t in tree_leaves(model(*args)) if isinstance(t, torch.Tensor)]
        actual = program(*args)
        assert len(actual) == len(expected) > 0
        for got, want in zip(actual, expected):
            assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape, got.dtype, want.dtype)
            torch.testing.assert_close(got, want, atol=atol, rtol=1e-5)


def _export(model: Any, args: tuple[Any, ...], **options: Any) -> aten2onnx.ONNXProgram:
    program = aten2onnx.export(model, args, dynamo=False, **options)
    onnx.checker.check_model(program.model_proto, full_check=True)
    return program


# -- the seed's "Tracing vs Scripting" ------------------------------------------------------------------
@pytest.mark.parametrize("opset", SEED_OPSETS)
def test_loop_model_traced_is_unrolled_and_warns(opset: int) -> None:
    x, count = torch.ones(2, 3, dtype=torch.long), torch.tensor(5)
    with pytest.warns(TracedValueWarning, match=r"seed_examples\.py:\d+: a tensor was read as a Python int"):
        program = _export(LoopModel(), (x, count), opset_version=opset)
    assert program.capture_method == "torch.jit.trace"
    types = _op_types(program.model.graph)
    assert "Loop" not in types and types.count("Add") == 5  # unrolled: i = 0..4
    _compare(program, LoopModel(), [(x, count), (x * 3, count)])
    (baked,) = program(x, torch.tensor(9))  # the count was baked in: still five additions
    assert torch.equal(baked, LoopModel()(x, torch.tensor(5)))


@pytest.mark.parametrize("opset", SEED_OPSETS)
def test_loop_model2_scripted_loop_is_one_onnx_loop(opset: int) -> None:
    x, count = torch.ones(2, 3, dtype=torch.long), torch.tensor(5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TracedValueWarning)  # nothing is baked: the loop is scripted
        program = _export(LoopModel2(), (x, count), opset_version=opset, input_names=["input_data", "loop_range"])
    assert [n.op_type for n in program.model.graph].count("Loop") == 1
    assert [v.name for v in program.model.graph.inputs] == ["input_data", "loop_range"]
    (out,) = program(x, torch.tensor(9))
    assert out.dtype == torch.int64 and torch.equal(out, torch.full((2, 3), 37))  # the seed's [[37, 37, 37], ...]
    _compare(program, LoopModel2(), [(x, torch.tensor(c)) for c in (0, 1, 5)] + [(torch.randint(0, 9, (2, 3)),
                                                                                     torch.tensor(3))])


def test_scripted_function_exports_as_it_is() -> None:
    from models.seed_examples import loop

    program = aten2onnx.export(loop, (torch.ones(2, 3, dtype=torch.long), torch.tensor(5)))  # dynamo default
    assert program.capture_method == "torch.jit.script"
    assert [n.op_type for n in program.model.graph].count("Loop") == 1
    (out,) = program(torch.ones(2, 3, dtype=torch.long), torch.tensor(9))
    assert torch.equal(out, torch.full((2, 3), 37))


# -- scripted control flow ---------------------------------------------------------------------------
_SCRIPTED = {
    "if_on_values": (ts.branch_on_values, [(torch.ones(2, 3), torch.randn(2, 3)), (-torch.ones(2, 3), torch.randn(2, 3))],
                     "If", 9),
    "while": (ts.count_while, [(torch.ones(2, 3), torch.tensor(4)), (torch.ones(2, 3), torch.tensor(0)),
                               (torch.ones(2, 3), torch.tensor(7))], "Loop", 9),
    "early_return": (ts.early_return, [(torch.ones(2, 3),), (-torch.ones(2, 3),)], "If", 9),
    "grow_and_stack": (ts.grow_and_stack, [(torch.randn(2, 3), torch.tensor(3)), (torch.randn(2, 3), torch.tensor(6))],
                       "Loop", 9),  # a scan output (test_torchscript_scan_lists.py)
    "grow_and_cat": (ts.grow_and_cat, [(torch.randn(2, 3), torch.tensor(3)), (torch.randn(2, 3), torch.tensor(0))],
                     "Loop", 9),
    "nested_loops": (ts.nested_loops, [(torch.zeros(2), torch.tensor(3), torch.tensor(4)),
                                       (torch.zeros(2), torch.tensor(2), torch.tensor(0))], "Loop", 9),
    "write_rows_in_a_loop": (ts.double_rows, [(torch.randn(4, 3), torch.tensor(2)), (torch.randn(4, 3), torch.tensor(4))],
                             "Loop", 11),
    "stepped_range": (ts.stepped_range, [(torch.ones(2), torch.tensor(6)), (torch.ones(2), torch.tensor(1)),
                                         (torch.ones(2), torch.tensor(9))], "Loop", 10),
}


@pytest.mark.parametrize("name", sorted(_SCRIPTED))
@pytest.mark.parametrize("newest", [False, True], ids=["first", "newest"])
def test_scripted_control_flow_matches_eager(name: str, newest: bool) -> None:
    function, runs, op_type, first = _SCRIPTED[name]
    program = _export(function, runs[0], opset_version=26 if newest else first)
    assert op_type in _op_types(program.model.graph)
    _compare(program, function, runs)


def test_loop_over_a_dynamic_size_with_rows_written_in_place() -> None:
    program = _export(ts.running_sums, (torch.randn(4, 3),), input_names=["x"], dynamic_axes={"x": {0: "rows"}})
    assert str(program.model.graph.inputs[0].shape[0]) == "rows"
    assert _op_types(program.model.graph).count("Loop") == 1
    _compare(program, ts.running_sums, [(torch.randn(r, 3),) for r in (1, 4, 7)])


def test_traced_model_keeps_its_scripted_parts_and_weight_names() -> None:
    torch.manual_seed(0)
    model = ts.TracedWithScriptedParts().eval()
    x = torch.randn(2, 3)
    program = _export(model, (x, torch.tensor(3)), opset_version=18)
    assert set(program.model.graph.initializers) == {"fc.weight", "fc.bias", "block.fc.weight", "block.fc.bias"}
    assert "Loop" in _op_types(program.model.graph)
    _compare(program, model, [(x, torch.tensor(c)) for c in (1, 3, 6)])


# -- options on this path ------------------------------------------------------------------------------
def test_sizes_read_in_a_traced_model_stay_symbolic_with_dynamic_axes() -> None:
    torch.manual_seed(0)
    model = ts.FlattenBySize().eval()
    x = torch.randn(2, 2, 5, 5)
    program = _export(model, (x,), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    graph = program.model.graph
    assert [str(d) for d in graph.inputs[0].shape] == ["batch", "2", "5", "5"]
    assert str(graph.outputs[0].shape[0]) == "batch" and graph.outputs[0].name == "logits"
    assert "Shape" in [n.op_type for n in graph]  # x.size(0) is read at run time
    _compare(program, model, [(torch.randn(b, 2, 5, 5),) for b in (1, 2, 5)])
    static = _export(model, (x,))
    assert "Shape" not in [n.op_type for n in static.model.graph]  # a static size is a number


def test_weights_as_inputs_and_names() -> None:
    torch.manual_seed(0)
    model = ts.FlattenBySize().eval()
    x = torch.randn(2, 2, 5, 5)
    program = _export(model, (x,), export_params=False, input_names=["image", "w0"])
    assert [v.name for v in program.model.graph.inputs] == ["image", "w0", "conv.bias", "fc.weight", "fc.bias"]
    assert not set(program.model.graph.initializers) & set(model.state_dict())
    _compare(program, model, [(x,)])
    kept = _export(model, (x,), keep_initializers_as_inputs=True, do_constant_folding=False)
    assert [v.name for v in kept.model.graph.inputs][1:] == list(model.state_dict())
    assert set(model.state_dict()) <= set(kept.model.graph.initializers)


def test_training_mode_keeps_dropout_and_batch_norm_statistics() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.0))
    x = torch.randn(6, 4)
    program = _export(model, (x,), training=aten2onnx.TrainingMode.TRAINING)
    assert model.training is True  # restored
    model.train()
    with torch.no_grad():
        want = model(x)
    torch.testing.assert_close(program(x)[0], want, atol=1e-5, rtol=1e-4)  # batch statistics, not running ones



class _ReadsRunningStats(nn.Module):
    """Reads its batch norm's running statistics after the training-mode call updated them."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x) + self.bn.running_mean


@pytest.mark.parametrize("scripted", [False, True])
def test_training_batch_norm_whose_updated_statistics_are_read_is_refused(scripted: bool) -> None:
    """The TorchScript graph reads the buffer as an attribute (a trace hoists that read above the op),
    so it would see the statistics from before the update: refused, naming the module and the way out.
    The torch.export frontend carries the update."""
    x = torch.randn(4, 3)
    model: Any = torch.jit.script(_ReadsRunningStats().train()) if scripted else _ReadsRunningStats().train()
    with pytest.raises(aten2onnx.TranslationError, match=r"aten::batch_norm.default at module 'bn' \(BatchNorm1d\).* "
                       r"updates 'bn.running_mean' in place, and the model reads 'bn.running_mean' afterwards.*"
                       r"model.eval\(\).*dynamo=True"):
        aten2onnx.export(model, (x,), dynamo=False, training=aten2onnx.TrainingMode.PRESERVE)
    eager = _ReadsRunningStats().train()
    program = aten2onnx.export(_ReadsRunningStats().train(), (x,), dynamo=True, training=aten2onnx.TrainingMode.PRESERVE)
    x2 = torch.randn(4, 3) * 3 + 1
    with torch.no_grad():
        torch.testing.assert_close(program(x2)[0], eager(x2), atol=1e-5, rtol=1e-4)
    evaluated = _ReadsRunningStats().eval()  # eval mode reads the statistics it was given: exported as they are
    with torch.no_grad():
        torch.testing.assert_close(_export(evaluated, (x,))(x2)[0], evaluated(x2), atol=1e-5, rtol=1e-4)

def test_verbose_verify_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x, count = torch.ones(2, 3, dtype=torch.long), torch.tensor(5)
    with pytest.warns(TracedValueWarning):
        program = aten2onnx.export(LoopModel(), (x, count), dynamo=False, verbose=True, verify=True, report=True,
                                  artifacts_dir=tmp_path)
    out = capsys.readouterr()
    assert "onnx::Add" in out.out and "verified" in out.err
    assert program.verification and all(c.passed for c in program.verification)
    report = Path(program.report_path).read_text()
    assert "## Capture (torch.jit.trace)" in report
    assert "seed_examples.py:" in report and "read as a Python int" in report


def test_aten_fallback_and_custom_symbolic_on_this_path() -> None:
    @torch.library.custom_op("a2o_ts::twice", mutates_args=())
    def twice(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @twice.register_fake
    def _(x: torch.Tensor) -> torch.Tensor:
        return torch.empty_like(x)

    class UsesCustom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ops.a2o_ts.twice(x) + 1

    x = torch.randn(3)
    with pytest.raises(aten2onnx.UnsupportedOpsError, match=r"a2o_ts::twice.default x1 at UsesCustom\.forward|"
                                                           r"a2o_ts::twice.default x1 at the model's forward"):
        aten2onnx.export(UsesCustom(), (x,), dynamo=False)
    fallback = aten2onnx.export(UsesCustom(), (x,), dynamo=False,
                               operator_export_type=aten2onnx.OperatorExportTypes.ONNX_ATEN_FALLBACK)
    (node,) = [n for n in fallback.model.graph if n.op_type == "ATen"]
    assert node.domain == "org.pytorch.aten" and node.attributes["operator"].value == "a2o_ts::twice"
    aten2onnx.register_custom_op_symbolic("a2o_ts::twice", lambda g, x: g.op("Add", x, x), 9)
    try:
        program = _export(UsesCustom(), (x,))
        assert [n.op_type for n in program.model.graph][:1] == ["Add"]
        _compare(program, UsesCustom(), [(x,), (torch.randn(3),)])
    finally:
        aten2onnx.unregister_custom_op_symbolic("a2o_ts::twice", 9)


# -- fallback=True ---------------------------------------------------------------------------------------
def test_fallback_exports_what_torch_export_cannot_and_says_so(tmp_path: Path) -> None:
    stream = io.StringIO()
    progress.enable(stream)
    try:
        with pytest.warns(TracedValueWarning, match="read as a Python bool"):
            program = aten2onnx.export(ts.DataDependentBranch(), (torch.ones(3),), fallback=True, report=True,
                                      artifacts_dir=tmp_path)
    finally:
        progress.disable()
    assert program.capture_method == "torch.jit.trace"
    assert "fallback=True" in program.capture_notes[0]
    assert "torch.export failed (fallback=True): capturing DataDependentBranch with torch.jit.trace" in stream.getvalue()
    report = Path(program.report_path).read_text()
    assert "## Capture (torch.jit.trace)" in report and "fallback=True exported it with TorchScript" in report
    _compare(program, ts.DataDependentBranch(), [(torch.ones(3),)])
    with pytest.raises(aten2onnx.CaptureError):
        aten2onnx.export(ts.DataDependentBranch(), (torch.ones(3),))  # without fallback: torch.export's error
    assert aten2onnx.export(nn.ReLU(), (torch.randn(2),), fallback=True).capture_method == "torch.export"


# -- autograd.Function with a symbolic -------------------------------------------------------------------
@pytest.mark.parametrize("dynamo", [True, False], ids=["torch.export", "torchscript"])
def test_function_with_symbolic_exports_through_it_on_both_paths(dynamo: bool) -> None:
    torch.manual_seed(0)
    model = ts.UsesFunctions().eval()
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TracedValueWarning)  # the numpy forward is not traced into the graph
        program = aten2onnx.export(model, (x, y), dynamo=dynamo, input_names=["x", "y"],
                                  dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    types = [n.op_type for n in program.model.graph]
    assert "Sin" in types and "Sub" in types and "Exp" in types  # NumpySin/ScaleAndDiff symbolics; PlainFunction
    assert program.capture_method == ("torch.export" if dynamo else "torch.jit.trace")
    assert str(program.model.graph.outputs[0].shape[0]) == "n"
    _compare(program, model, [(x, y), (torch.randn(5, 3), torch.randn(5, 3))])


# -- bad input -------------------------------------------------------------------------------------------
def test_a_model_that_neither_traces_nor_scripts_gets_one_error() -> None:
    with pytest.raises(aten2onnx.CaptureError) as info:
        aten2onnx.export(ts.Wrapper(), (torch.randn(2),), dynamo=False)
    message = str(info.value)
    assert "could not capture Wrapper with TorchScript" in message
    assert "tracing failed in Wrapper.forward at" in message and "Only tensors" in message
    assert "scripting failed in module 'inner' (ReturnsAString) at" in message and "torchscript_models.py:" in message
    assert "Hint:" in message and "dynamo=True" in message


def test_in_place_write_into_a_view_read_afterwards_is_refused() -> None:
    class WritesThroughView(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x.clone()
            z = y.view(-1)
            z.add_(1)
            return y * 2

    with pytest.raises(aten2onnx.TranslationError, match=r"writes into a view .* ONNX has no views"):
        aten2onnx.export(WritesThroughView(), (torch.randn(2, 3),), dynamo=False)


def test_a_dynamic_axis_the_trace_fixes_is_reported() -> None:
    class FixedBatch(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.view(2, -1)  # the traced constant 2 ties the batch

    with pytest.warns(TracedValueWarning, match=r"dynamic axis x\.shape\[0\] was fixed to 2 by aten::view"):
        aten2onnx.export(FixedBatch(), (torch.randn(2, 3),), dynamo=False, input_names=["x"],
                        dynamic_axes={"x": {0: "batch"}})


def test_a_capture_failure_is_reported_under_the_torchscript_capture(tmp_path: Path) -> None:
    with pytest.raises(aten2onnx.CaptureError) as info:
        aten2onnx.export(ts.Wrapper(), (torch.randn(2),), dynamo=False, report=True, artifacts_dir=tmp_path)
    report = Path(info.value.report_path).read_text()
    assert "## Capture (torch.jit.trace)" in report and "scripting failed in module 'inner'" in report


def test_a_packed_sequence_of_length_0_is_refused() -> None:
    class PackedLSTM(nn.Module):  # scripted: nothing runs the model eagerly (torch's kernel crashes on it)
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(3, 4)

        def forward(self, data: torch.Tensor, batch_sizes: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> Any:
            return torch.lstm(data, batch_sizes, (h, c), self.lstm._flat_weights, True, 1, 0.0, False, False)[0]

    steps = (torch.zeros(0, 3), torch.zeros(0, dtype=torch.int64), torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))
    with pytest.raises(aten2onnx.OnnxExporterError, match="LSTM over a packed sequence of length 0"):
        aten2onnx.export(torch.jit.script(PackedLSTM()), steps, dynamo=False)
