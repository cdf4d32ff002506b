"""export()'s torch.onnx options, each checked for its effect on the ONNX model and its numbers."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import onnx
import onnx_ir as ir
import pytest
import torch
from torch import nn

import aten2onnx
from aten2onnx.exporter.tools.models import AlexNet


@torch.library.custom_op("a2o_api::twice", mutates_args=())
def _twice(x: torch.Tensor, bias: float = 0.0) -> torch.Tensor:
    return x * 2 + bias


@_twice.register_fake
def _(x: torch.Tensor, bias: float = 0.0) -> torch.Tensor:
    return torch.empty_like(x)


class Small(nn.Module):
    """Linear + ReLU, with a weight used transposed (constant-foldable) and a non-persistent buffer."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)
        self.proj = nn.Parameter(torch.randn(5, 3))
        self.register_buffer("offset", torch.tensor(0.25), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x)) @ self.proj.t() + self.offset


class Nested(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor, *, scale: torch.Tensor) -> tuple[object, ...]:
        return x + y, [x * scale, y - 1], {"z": (x * y).relu()}


class ModeDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if self.training else x + 1


class Pair(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) * y + 1


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- names and nesting ---------------------------------------------------------------------------------
def test_names_kwargs_and_nested_outputs_flattened_in_order() -> None:
    x, y, scale = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3)
    program = aten2onnx.export(Nested(), (x, y), kwargs={"scale": scale}, input_names=["a", "b", "s"],
                              output_names=["sum", "scaled", "shifted", "z"])
    graph = program.model.graph
    assert [v.name for v in graph.inputs] == ["a", "b", "s"]
    assert [v.name for v in graph.outputs] == ["sum", "scaled", "shifted", "z"]
    want = [x + y, x * scale, y - 1, (x * y).relu()]
    got = program(x, y, scale=scale)
    for g, w in zip(got, want):
        _close(g, w)


def test_trailing_dict_in_args_is_kwargs_as_in_torch_onnx() -> None:
    x, y, scale = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3)
    program = aten2onnx.export(Nested(), (x, y, {"scale": scale}))
    assert [v.name for v in program.model.graph.inputs] == ["x", "y", "scale"]
    _close(program(x, y, scale)[1], x * scale)


def test_too_many_output_names_is_an_error() -> None:
    with pytest.raises(aten2onnx.ExportArgumentError, match="output_names has 2 names .* 1 output"):
        aten2onnx.export(ModeDependent(), (torch.randn(2),), output_names=["a", "b"])


def test_extra_input_names_name_the_weights_in_state_dict_order() -> None:
    # the classic AlexNet example: input_names = ["actual_input_1"] + ["learned_%d" % i ...], one per weight
    model, x = Small().eval(), torch.randn(2, 4)
    names = ["actual_input_1", "learned_0", "learned_1", "learned_2"]
    program = aten2onnx.export(model, (x,), input_names=names, do_constant_folding=False)
    graph = program.model.graph
    assert list(model.state_dict()) == ["proj", "fc.weight", "fc.bias"]
    assert graph.inputs[0].name == "actual_input_1"
    assert set(graph.initializers) == {"learned_0", "learned_1", "learned_2", "offset"}
    assert graph.initializers["learned_0"].shape == ir.Shape([5, 3])
    assert graph.initializers["learned_1"].shape == ir.Shape([3, 4])
    _close(program(x)[0], model(x))
    # weights that are graph inputs can be named in part, as any input can
    program = aten2onnx.export(model, (x,), input_names=names[:3], keep_initializers_as_inputs=True,
                              do_constant_folding=False)
    assert [v.name for v in program.model.graph.inputs][:4] == ["actual_input_1", "learned_0", "learned_1", "fc.bias"]


@pytest.mark.parametrize(("model", "names", "extra"), [
    (Small(), ["x", "mask"], "'mask'"),                      # a typo would have renamed the weight `proj`
    (Pair(), ["left", "right", "bias"], "'bias'"),           # no weights at all
    (Small(), ["x"] + [f"w{i}" for i in range(5)], "'w0', 'w1', 'w2', 'w3', 'w4'"),
])
def test_more_input_names_than_inputs_is_an_error_naming_them(model: nn.Module, names: list[str],
                                                              extra: str) -> None:
    args = (torch.randn(2, 4),) if isinstance(model, Small) else (torch.randn(2, 3), torch.randn(2, 3))
    real = "x" if isinstance(model, Small) else "left, right"
    with pytest.raises(aten2onnx.ExportArgumentError) as info:
        aten2onnx.export(model, args, input_names=names)
    message = str(info.value)
    assert f"has {len(names)} names but the model has {len(args)} input(s) ({real}): {extra} name no input" in message
    assert "fewer names than inputs is fine" in message and "keep_initializers_as_inputs=True" in message


def test_fewer_input_names_than_inputs_name_the_first_ones() -> None:
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    program = aten2onnx.export(Pair(), (x, y), input_names=["left"])
    assert [v.name for v in program.model.graph.inputs] == ["left", "y"]
    _close(program(x, y)[0], torch.relu(x) * y + 1)


# -- dynamic axes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["names", "indices", "dynamic_shapes_strings"])
def test_dynamic_axes_become_named_dims_and_run_at_other_sizes(form: str) -> None:
    args = (torch.randn(2, 3), torch.randn(2, 3))
    if form == "names":
        program = aten2onnx.export(Pair(), args, input_names=["left", "right"], output_names=["out"],
                                  dynamic_axes={"left": {0: "batch", 1: "seq"}, "right": {0: "batch", 1: "seq"},
                                                "out": {0: "batch", 1: "seq"}})
        expected = ["batch", "seq"]
    elif form == "indices":  # keyed by forward()'s parameter names, classic automatic names
        program = aten2onnx.export(Pair(), args, dynamic_axes={"x": [0, 1], "y": [0, 1]})
        expected = ["x_dynamic_axes_1", "x_dynamic_axes_2"]
    else:
        program = aten2onnx.export(Pair(), args, dynamic_shapes={"x": {0: "batch"}, "y": {0: "batch"}})
        expected = ["batch", "3"]
    graph = program.model.graph
    assert [str(d) for d in graph.inputs[0].shape] == expected
    assert [str(d) for d in graph.outputs[0].shape] == expected
    for rows, cols in [(1, 3), (7, 3)] + ([(5, 11)] if form != "dynamic_shapes_strings" else []):
        x, y = torch.randn(rows, cols), torch.randn(rows, cols)
        _close(program(x, y)[0], torch.relu(x) * y + 1)


@pytest.mark.parametrize(("dynamic_axes", "message"), [
    ({"x": {5: "batch"}}, "names axis 5, but 'x' has rank 2"),
    ({"x": "batch"}, "must be a list of axes"),
    ({"x": {0: 3}}, "must map axis numbers to names"),
    (["x"], "must be a dict"),
])
def test_bad_dynamic_axes(dynamic_axes: object, message: str, tmp_path: Path) -> None:
    with pytest.raises(aten2onnx.ExportArgumentError, match=re.escape(message)):
        aten2onnx.export(Pair(), (torch.randn(2, 3), torch.randn(2, 3)), tmp_path / "m.onnx",
                        dynamic_axes=dynamic_axes)
    assert _files(tmp_path) == []


def test_dynamic_axes_and_dynamic_shapes_together_is_an_error() -> None:
    with pytest.raises(aten2onnx.ExportArgumentError, match="either dynamic_axes .* or dynamic_shapes"):
        aten2onnx.export(Pair(), (torch.randn(2, 3), torch.randn(2, 3)), dynamic_axes={"x": [0]},
                        dynamic_shapes={"x": {0: "b"}, "y": None})


def test_unknown_dynamic_axes_key_is_ignored_with_a_warning_as_the_classic_exporter_did(tmp_path: Path) -> None:
    with pytest.warns(aten2onnx.DynamicAxisWarning, match=r"dynamic_axes\[.seq_lengths.\] names neither .*known names: x, y;"):
        program = aten2onnx.export(Pair(), (torch.randn(2, 3), torch.randn(2, 3)), dynamic_axes={
            "x": {0: "batch"}, "y": {0: "batch"}, "seq_lengths": {0: "batch"}}, report=True, artifacts_dir=tmp_path)
    assert [str(d) for d in program.model.graph.inputs[0].shape] == ["batch", "3"]
    assert "seq_lengths" in program.report_path.read_text()
    x, y = torch.randn(5, 3), torch.randn(5, 3)
    _close(program(x, y)[0], torch.relu(x) * y + 1)


# -- weights -------------------------------------------------------------------------------------------
def test_export_params_false_makes_weights_inputs_in_state_dict_order(tmp_path: Path) -> None:
    model, x = Small().eval(), torch.randn(2, 4)
    program = aten2onnx.export(model, (x,), tmp_path / "m.onnx", export_params=False)
    graph = program.model.graph
    assert [v.name for v in graph.inputs] == ["x", "proj", "fc.weight", "fc.bias"]  # state_dict order
    assert list(graph.initializers) == ["offset"]  # not in the state_dict: stays a constant
    saved = onnx.load(str(tmp_path / "m.onnx"))
    assert [i.name for i in saved.graph.initializer] == ["offset"]
    # other weights fed at run time give what the model gives with those weights
    other = Small().eval()
    with torch.no_grad():
        for p in other.parameters():
            p.normal_()
    weights = list(other.state_dict().values())
    _close(program(x, *weights)[0], other(x).detach())
    _close(program(x)[0], model(x).detach())  # the model's own weights by default


def test_wrong_input_count_is_a_model_input_error() -> None:
    """Too few or too many inputs to an exported model: aten2onnx's ModelInputError (a ValueError, as
    Python's own refusals of a call are) naming the inputs the model takes."""
    model, x = Small().eval(), torch.randn(2, 4)
    program = aten2onnx.export(model, (x,))
    with pytest.raises(aten2onnx.ModelInputError, match=r"takes 1 tensor input\(s\) \(x\), got 2") as caught:
        program(x, x)
    assert isinstance(caught.value, ValueError) and len(caught.value.problems) == 1
    with pytest.raises(aten2onnx.ModelInputError, match=r"\(x\), got 0"):
        program()
    feeds = aten2onnx.export(model, (x,), export_params=False)
    weights = list(model.state_dict().values())
    with pytest.raises(aten2onnx.ModelInputError, match=r"\(x, then optionally its 3 weight\(s\)\), got 5"):
        feeds(x, *weights, x)


def test_keep_initializers_as_inputs_lets_a_runtime_override_them() -> None:
    model, x = Small().eval(), torch.randn(2, 4)
    plain = aten2onnx.export(model, (x,))
    assert [v.name for v in plain.model.graph.inputs] == ["x"]
    program = aten2onnx.export(model, (x,), keep_initializers_as_inputs=True)
    graph = program.model.graph
    assert [v.name for v in graph.inputs][:4] == ["x", "proj", "fc.weight", "fc.bias"]
    assert {"fc.weight", "fc.bias", "proj"} <= set(graph.initializers)
    assert "Transpose" in [n.op_type for n in graph]  # an input can change: proj.t() is not folded
    import onnxruntime

    session = onnxruntime.InferenceSession(program.model_proto.SerializeToString())
    new_bias = torch.full((3,), 5.0)
    (got,) = session.run(None, {"x": x.numpy(), "fc.bias": new_bias.numpy()})
    with torch.no_grad():
        model.fc.bias.copy_(new_bias)
        _close(torch.from_numpy(got), model(x))


def test_constant_folding_computes_constant_subgraphs_at_export() -> None:
    model, x = Small().eval(), torch.randn(2, 4)
    folded = aten2onnx.export(model, (x,))
    unfolded = aten2onnx.export(model, (x,), do_constant_folding=False)
    assert "Transpose" not in [n.op_type for n in folded.model.graph]
    initializers = folded.model.graph.initializers
    assert "proj" not in initializers and initializers["t"].shape == ir.Shape([3, 5])  # proj.t(), computed
    assert "Transpose" in [n.op_type for n in unfolded.model.graph]
    for program in (folded, unfolded):
        _close(program(x)[0], model(x).detach())


class Redundant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return (y * 1.0 + 0.0).relu() + y


def test_optimize_removes_redundant_ops_and_keeps_results() -> None:
    model, x = Redundant().eval(), torch.randn(3, 4)
    plain = aten2onnx.export(model, (x,))
    optimized = aten2onnx.export(model, (x,), optimize=True)
    assert {"Mul", "Add"} <= {n.op_type for n in plain.model.graph}
    assert [n.op_type for n in optimized.model.graph] == ["Gemm", "Relu", "Add"]
    _close(optimized(x)[0], model(x).detach())


def test_external_data_and_file_objects(tmp_path: Path) -> None:
    model, x = Small().eval(), torch.randn(2, 4)
    aten2onnx.export(model, (x,), tmp_path / "m.onnx", external_data=True)
    assert _files(tmp_path) == ["m.onnx", "m.onnx.data"]
    assert (tmp_path / "m.onnx.data").stat().st_size >= (3 * 4 + 3 + 5 * 3) * 4
    import onnxruntime

    (got,) = onnxruntime.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x.numpy()})
    _close(torch.from_numpy(got), model(x).detach())
    buffer = io.BytesIO()
    aten2onnx.export(model, (x,), buffer)
    loaded = onnx.load_from_string(buffer.getvalue())
    assert {i.name for i in loaded.graph.initializer} >= {"fc.weight", "fc.bias"}



def test_external_data_streams_folded_weights_and_overwrites(tmp_path: Path) -> None:
    """Linear on a 3-D input folds weight.T into a new (non-contiguous) array: streamed to the data
    file like the torch weights; saving again over the same files replaces both."""
    import onnxruntime

    x = torch.randn(2, 3, 4)
    for scale in (1.0, -2.0):  # the second export writes over the first one's files
        model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5)).eval()
        with torch.no_grad():
            model[0].weight.mul_(scale)
        aten2onnx.export(model, (x,), tmp_path / "m.onnx", external_data=True)
        assert _files(tmp_path) == ["m.onnx", "m.onnx.data"]
        (got,) = onnxruntime.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": x.numpy()})
        _close(torch.from_numpy(got), model(x).detach())

# -- modes and export types ------------------------------------------------------------------------------
@pytest.mark.parametrize(("training", "model_training", "expected"), [
    (aten2onnx.TrainingMode.EVAL, True, "plus_one"),
    (aten2onnx.TrainingMode.TRAINING, False, "times_two"),
    (aten2onnx.TrainingMode.PRESERVE, True, "times_two"),
    (aten2onnx.TrainingMode.PRESERVE, False, "plus_one"),
    (torch.onnx.TrainingMode.TRAINING, False, "times_two"),  # torch.onnx's own enum works
    (True, False, "times_two"),                                # and the classic bool
])
def test_training_mode_decides_the_graph_and_the_model_mode_is_restored(
        training: object, model_training: bool, expected: str) -> None:
    model, x = ModeDependent().train(model_training), torch.randn(3)
    program = aten2onnx.export(model, (x,), training=training)
    assert model.training is model_training
    want = x * 2 if expected == "times_two" else x + 1
    _close(program(x)[0], want)


def test_batch_norm_in_training_mode_uses_batch_statistics_or_names_the_missing_spec() -> None:
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)).eval(), torch.randn(4, 3) * 3 + 1
    try:
        program = aten2onnx.export(model, (x,), training=aten2onnx.TrainingMode.TRAINING)
    except aten2onnx.UnsupportedOpsError as error:  # until opspecs map BatchNorm's training form
        assert {u.overload for u in error.uses} == {"aten::_native_batch_norm_legit_functional.default"}
        return
    with torch.no_grad():
        _close(program(x)[0], model.train()(x))  # normalized with the batch's own mean and variance


class UsesCustomOp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.a2o_api.twice(self.inner(x), 0.5).sigmoid()


def test_aten_fallback_emits_an_aten_node_instead_of_failing() -> None:
    x = torch.randn(2, 3)
    with pytest.raises(aten2onnx.UnsupportedOpsError, match="a2o_api::twice.default"):
        aten2onnx.export(UsesCustomOp(), (x,))
    program = aten2onnx.export(UsesCustomOp(), (x,), operator_export_type=aten2onnx.OperatorExportTypes.ONNX_ATEN_FALLBACK)
    nodes = [n for n in program.model.graph if n.op_type == "ATen"]
    assert len(nodes) == 1
    node = nodes[0]
    assert node.domain == "org.pytorch.aten"
    assert node.attributes["operator"].value == "a2o_api::twice"
    assert node.attributes["overload_name"].value == ""
    assert node.attributes["bias"].value == pytest.approx(0.5)
    assert node.outputs[0].dtype == ir.DataType.FLOAT and list(node.outputs[0].shape) == [2, 3]
    assert program.model.opset_imports["org.pytorch.aten"] == 1
    onnx.checker.check_model(program.model_proto)


def test_aten_fallback_node_follows_torch_onnx_conventions() -> None:
    from aten2onnx.exporter.emit.graph_builder import GraphBuilder
    from aten2onnx.exporter.translate import aten_fallback

    g = GraphBuilder(18)
    x = ir.Value(name="x", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape([3]))
    with g.translating("aten::erfinv.default", "erfinv", None):
        node = aten_fallback.symbolic(g, self=x).producer()
    assert (node.domain, node.op_type) == ("org.pytorch.aten", "ATen")
    assert node.attributes["operator"].value == "erfinv" and node.attributes["overload_name"].value == ""
    with g.translating("aten::add.Tensor", "add", None):
        node = aten_fallback.symbolic(g, self=x, other=x, alpha=2).producer()
    assert node.attributes["overload_name"].value == "Tensor" and node.attributes["alpha"].value == 2
    assert list(node.inputs) == [x, x]


@pytest.mark.parametrize(("value", "message"), [
    (aten2onnx.OperatorExportTypes.ONNX_ATEN, "ONNX_ATEN is not supported"),
    ("RAW", "not a OperatorExportTypes"),
])
def test_unsupported_export_types(value: object, message: str) -> None:
    with pytest.raises(aten2onnx.ExportArgumentError, match=message):
        aten2onnx.export(ModeDependent(), (torch.randn(2),), operator_export_type=value)


def test_custom_opsets_land_in_opset_imports() -> None:
    program = aten2onnx.export(ModeDependent(), (torch.randn(2),), custom_opsets={"com.example": 3})
    assert program.model.opset_imports == {"": aten2onnx.DEFAULT_OPSET, "com.example": 3}
    onnx.checker.check_model(program.model_proto)
    for bad in ({"": 3}, {"com.example": 0}, ["com.example"]):
        with pytest.raises(aten2onnx.ExportArgumentError, match="custom_opsets"):
            aten2onnx.export(ModeDependent(), (torch.randn(2),), custom_opsets=bad)


def test_enums_match_torch_onnx() -> None:
    for ours, theirs in ((aten2onnx.TrainingMode, torch.onnx.TrainingMode),
                         (aten2onnx.OperatorExportTypes, torch.onnx.OperatorExportTypes)):
        assert {m.name: int(m) for m in ours} == {n: int(v) for n, v in theirs.__members__.items()}
    assert aten2onnx.OnnxExporterError.__name__ == torch.onnx.OnnxExporterError.__name__


# -- verbose, verify, report ------------------------------------------------------------------------------
def test_verbose_prints_the_classic_graph(capsys: pytest.CaptureFixture[str]) -> None:
    model = AlexNet(num_classes=10, width=0.125).eval()
    aten2onnx.export(model, (torch.randn(2, 3, 224, 224),), input_names=["input"], verbose=True, opset_version=18)
    out = capsys.readouterr().out
    assert out.startswith("graph(%input : Float(2, 3, 224, 224),\n      %features.0.weight : Float(8, 3, 11, 11),")
    conv = re.search(r"^  %conv2d : Float\(2, 8, 55, 55\) = onnx::Conv\[.*strides=\[4, 4\]\]"
                     r"\(%input, %features\.0\.weight, %features\.0\.bias\), "
                     r"scope: AlexNet/Sequential\[features\]/Conv2d\[0\]  # .*models\.py:\d+$", out, re.M)
    assert conv, out[:2000]
    assert re.search(r"= onnx::Relu\(%conv2d\), scope: AlexNet/Sequential\[features\]/ReLU\[1\]", out)
    assert re.search(r"scope: AlexNet/Sequential\[classifier\]/Linear\[6\]", out)
    assert out.rstrip().endswith("return (%linear_2)\n}")


def test_verify_reports_numbers_and_raises_beyond_tolerance(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    model, x = Small().eval(), torch.randn(2, 4)
    program = aten2onnx.export(model, (x,), verify=True)
    (comparison,) = program.verification
    assert comparison.passed and comparison.max_abs_error < 1e-5 and comparison.shape == (2, 5)
    assert "max abs error" in capsys.readouterr().err

    def wrong(g: object, x: object, bias: float) -> object:  # forgets the bias
        return g.op("Add", x, x)

    aten2onnx.register_custom_op_symbolic("a2o_api::twice", wrong, 9)
    try:
        with pytest.raises(aten2onnx.VerificationError) as info:
            aten2onnx.export(UsesCustomOp(), (torch.randn(2, 3),), tmp_path / "m.onnx", verify=True)
    finally:
        aten2onnx.unregister_custom_op_symbolic("a2o_api::twice", 9)
    (failed,) = info.value.comparisons
    assert not failed.passed and failed.max_abs_error > 0.05
    assert "max abs error" in str(info.value) and "beyond tolerance" in str(info.value)
    assert _files(tmp_path) == []  # a model that does not verify is not written


def test_report_on_success_has_counts_and_verification(tmp_path: Path) -> None:
    program = aten2onnx.export(Small().eval(), (torch.randn(2, 4),), report=True, verify=True,
                              artifacts_dir=tmp_path, dump_exported_program=True)
    (path,) = tmp_path.glob("aten2onnx_report_Small_*_ok.md")
    assert "torch.ops.aten.linear.default" in (tmp_path / "Small_exported_program.txt").read_text()
    assert program.report_path == path
    text = path.read_text()
    assert "status: **succeeded**" in text and "## Capture (torch.export)" in text
    assert re.search(r"\| `aten::linear.default` \| 1 \| opspecs/nn\.yaml:\d+ \|", text)
    assert "| `Gemm` | 1 |" in text
    assert re.search(r"\| add \| float32 \| \[2, 5\] \| \S+ \| \S+ \| 0.0001 \| 0.001 \| ok \|", text)


def test_report_on_unsupported_op_has_a_spec_skeleton_that_loads_once_filled(tmp_path: Path) -> None:
    x = torch.randn(2, 3)
    with pytest.raises(aten2onnx.UnsupportedOpsError) as info:
        aten2onnx.export(UsesCustomOp(), (x,), tmp_path / "m.onnx", report=True, artifacts_dir=tmp_path)
    path = info.value.report_path
    assert path.name.endswith("_failed.md") and _files(tmp_path) == [path.name]  # no .onnx
    text = path.read_text()
    assert "| `a2o_api::twice.default` | 1 | (top level) | " in text and "test_api.py:" in text
    skeleton = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    assert "# a2o_api::twice(Tensor x, float bias=0.) -> Tensor" in skeleton
    assert "- aten: a2o_api::twice\n  emit: TODO(x)" in skeleton
    spec = tmp_path / "twice.yaml"
    spec.write_text(skeleton.replace("TODO(x)", "Add(Add(x, x), like(bias, x))"))
    aten2onnx.load_opspecs(spec)
    try:
        program = aten2onnx.export(UsesCustomOp(), (x,), verify=True)
    finally:
        aten2onnx.unload_opspecs(spec)
    assert "Add" in [n.op_type for n in program.model.graph]


class _ScaledElu(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten.elu(x, 1.0, 2.0)


class _DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.sum() > 0 else x


def test_report_on_constraint_and_capture_failures(tmp_path: Path) -> None:
    with pytest.raises(aten2onnx.ConstraintError):
        aten2onnx.export(_ScaledElu(), (torch.randn(3),), report=True, artifacts_dir=tmp_path)
    with pytest.raises(aten2onnx.CaptureError):
        aten2onnx.export(_DataDependent(), (torch.randn(3),), report=True, artifacts_dir=tmp_path)
    elu = next(tmp_path.glob("*_ScaledElu_*_failed.md")).read_text()
    assert "## Constraint violations" in elu and "opspecs/activation.yaml:" in elu and "scale" in elu
    capture = next(tmp_path.glob("*_DataDependent_*_failed.md")).read_text()
    assert "## Capture (torch.export)\n\nFailed:" in capture and "torch.cond" in capture
    # torch's full error and the partial graph it printed are in the report, not on the terminal
    assert "torch's error in full:" in capture and "GuardOnDataDependentSymNode" in capture
    assert "What torch printed while capturing" in capture and "def forward(" in capture


_FAILING_CAPTURE = """
import sys, torch, aten2onnx

class DataDependent(torch.nn.Module):
    def forward(self, x):
        return x * 2 if x.sum() > 0 else x

try:
    aten2onnx.export(DataDependent(), (torch.randn(3),))
except aten2onnx.CaptureError as error:
    assert "def forward(" in error.torch_output  # torch's partial graph, kept on the error
    open(sys.argv[1], "w").write(str(error))
    print(f"ERROR {error}", file=sys.stderr)
    raise
"""


def test_a_failed_capture_prints_nothing_but_the_error(tmp_path: Path) -> None:
    script = tmp_path / "fail.py"
    script.write_text(_FAILING_CAPTURE)
    # the script runs from tmp_path: PYTHONPATH makes it import this checkout's aten2onnx
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "message.txt")], capture_output=True,
                         text=True, timeout=600, env=env)
    message = (tmp_path / "message.txt").read_text()
    assert message.startswith("torch.export could not capture DataDependent: GuardOnDataDependentSymNode")
    assert run.returncode == 1 and run.stdout == ""
    # the error, then Python's traceback of it (torch's error chained in it): no graph dump before or within
    assert run.stderr.startswith(f"ERROR {message}\nTraceback (most recent call last):")
    assert "def forward(" not in run.stderr
    assert run.stderr.rstrip().endswith("The full torch error is chained below.")


# -- the rest of torch.onnx's surface ---------------------------------------------------------------------
def test_dynamo_export_is_a_deprecated_alias() -> None:
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    with pytest.warns(DeprecationWarning, match="dynamo_export is deprecated"):
        program = aten2onnx.dynamo_export(Pair(), x, y)
    _close(program(x, y)[0], torch.relu(x) * y + 1)


class ExportAware(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if aten2onnx.is_in_onnx_export() and torch.onnx.is_in_onnx_export():
            return x + 100
        return x


def test_is_in_onnx_export_is_true_only_while_exporting() -> None:
    x = torch.randn(3)
    assert not aten2onnx.is_in_onnx_export()
    program = aten2onnx.export(ExportAware(), (x,))
    _close(program(x)[0], x + 100)
    assert not aten2onnx.is_in_onnx_export() and not torch.onnx.is_in_onnx_export()


def test_exported_program_is_accepted_as_model() -> None:
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    program = torch.export.export(Pair(), (x, y), strict=False)
    onnx_program = aten2onnx.export(program, (x, y), verify=True)
    _close(onnx_program(x, y)[0], torch.relu(x) * y + 1)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda f: aten2onnx.export(Pair(), (torch.randn(2, 3),), f), aten2onnx.ExportArgumentError,
     r"do not match Pair.forward\(x, y\)"),
    (lambda f: aten2onnx.export(Small(), (torch.randn(2, 7),), f), aten2onnx.CaptureError,
     "shapes do not fit"),
    (lambda f: aten2onnx.export(Pair(), (torch.randn(2, 3),) * 2, f, training="fast"), aten2onnx.ExportArgumentError,
     "training='fast' is not a TrainingMode; use one of TrainingMode.EVAL"),
    (lambda f: aten2onnx.export(Pair(), (torch.randn(2, 3),) * 2, f, input_names="x"), aten2onnx.ExportArgumentError,
     "input_names must be a list"),
    (lambda f: aten2onnx.export(Pair(), (torch.randn(2, 3),) * 2, f, export_params="no"), aten2onnx.ExportArgumentError,
     "export_params must be True or False"),
    (lambda f: aten2onnx.export(Pair(), (torch.randn(2, 3),) * 2, f, opset_version=30), aten2onnx.ExportArgumentError,
     "choose an integer from 9 to 26"),
    (lambda f: aten2onnx.export(Pair(), (torch.randn(2, 3),) * 2, f, custom_translation_table={1: 2}),
     aten2onnx.ExportArgumentError, "key 1 is not a torch operator; use an op overload such as"),
    (lambda f: aten2onnx.export(Pair(), (torch.randn(2, 3),) * 2, f,
                               custom_translation_table={torch.ops.aten.relu.default: "Relu"}),
     aten2onnx.ExportArgumentError, r"custom_translation_table\[aten::relu.default\] must be an onnxscript function"),
    (lambda f: aten2onnx.export(Pair(), (torch.randn(2, 3),) * 2, f, export_modules_as_functions={Pair, int}),
     aten2onnx.ExportArgumentError, "export_modules_as_functions: <class 'int'> is not a torch.nn.Module class"),
    (lambda f: aten2onnx.export(Pair(), (torch.randn(2, 3),) * 2, f, export_modules_as_functions="all"),
     aten2onnx.ExportArgumentError, "export_modules_as_functions must be True, False or a set"),
    (lambda f: aten2onnx.export(Pair(), (torch.randn(2, 3),) * 2, f.parent / "missing" / "m.onnx"),
     aten2onnx.ExportArgumentError, "folder '.*missing' does not exist"),
    (lambda f: aten2onnx.export(torch.export.export(Pair(), (torch.randn(2, 3),) * 2), (torch.randn(2, 3),) * 2, f,
                               dynamo=False), aten2onnx.ExportArgumentError, "already captured by torch.export"),
])
def test_bad_input_is_a_clear_error_and_leaves_no_file(call: object, error: type, message: str,
                                                        tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=message):
            call(tmp_path / "m.onnx")
    assert _files(tmp_path) == []
