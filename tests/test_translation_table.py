"""custom_translation_table: onnxscript functions translate ops in place of specs, checked in ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import onnx
import onnxscript
import pytest
import torch
from onnxscript import DOUBLE, FLOAT, INT64
from onnxscript import opset13 as op13
from onnxscript import opset18 as op
from torch import nn

import aten2onnx


@torch.library.custom_op("a2o_table::scaled_sin", mutates_args=())
def _scaled_sin(x: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
    return torch.sin(x) * scale


@_scaled_sin.register_fake
def _(x: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("a2o_table::row_mean", mutates_args=())
def _row_mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=-1, keepdim=True)


@_row_mean.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return x.new_empty((*x.shape[:-1], 1))


CUSTOM = onnxscript.values.Opset("com.example.a2o", 2)


@onnxscript.script(CUSTOM)
def scaled_sin_script(x: FLOAT, scale: float = 2.0) -> FLOAT:
    return op.Sin(x) * scale


def scaled_sin_traced(x, scale: float = 2.0):
    return op.Mul(op.Sin(x), scale)


class SinModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.a2o_table.scaled_sin(self.fc(x), 3.0) + 1


def _eager(model: nn.Module, *args: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(*args)


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def _op_types(program: aten2onnx.ONNXProgram) -> list[str]:
    return [n.op_type for n in program.model.graph]


# -- a torch.library op ----------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [18, 20])
def test_script_function_translates_a_library_op_as_a_local_function(opset: int, tmp_path: Path) -> None:
    model, x = SinModel().eval(), torch.randn(3, 4)
    program = aten2onnx.export(model, (x,), tmp_path / "m.onnx", opset_version=opset,
                              custom_translation_table={torch.ops.a2o_table.scaled_sin.default: scaled_sin_script})
    (call,) = [n for n in program.model.graph if n.op_type == "scaled_sin_script"]
    assert call.domain == "com.example.a2o" and call.attributes["scale"].value == 3.0  # the op's argument
    assert ("com.example.a2o", "scaled_sin_script", "") in program.model.functions
    assert program.model.opset_imports["com.example.a2o"] == 2  # the Opset's version
    function = program.model.functions[("com.example.a2o", "scaled_sin_script", "")]
    assert function.opset_imports[""] == opset  # its ops are the same at the model's opset
    onnx.checker.check_model(program.model_proto, full_check=True)
    _close(program(x)[0], _eager(model, x))
    loaded = aten2onnx.ONNXProgram(onnx_ir_load(tmp_path / "m.onnx"))
    _close(loaded(x)[0], _eager(model, x))


def onnx_ir_load(path: Path) -> object:
    import onnx_ir as ir

    return ir.load(path)


def test_traced_function_is_inlined_and_the_report_lists_it(tmp_path: Path) -> None:
    model, x = SinModel().eval(), torch.randn(3, 4)
    program = aten2onnx.export(model, (x,), report=True, artifacts_dir=tmp_path,
                              custom_translation_table={torch.ops.a2o_table.scaled_sin: scaled_sin_traced})  # a packet
    assert _op_types(program)[:3] == ["Gemm", "Sin", "Constant"] and "Mul" in _op_types(program)
    assert not program.model.functions
    _close(program(x)[0], _eager(model, x))
    report = program.report_path.read_text()
    assert "## custom_translation_table" in report
    assert "| `a2o_table::scaled_sin.default` | scaled_sin_traced (" in report and "test_translation_table.py:" in report
    assert "| `a2o_table::scaled_sin.default` | 1 | custom_translation_table: scaled_sin_traced" in report


def test_a_library_op_without_a_fitting_function_names_why() -> None:
    # CastLike (what `* scale` compiles to) exists from opset 15: the function does not fit opset 13
    with pytest.raises(aten2onnx.TranslationError) as info:
        aten2onnx.export(SinModel().eval(), (torch.randn(3, 4),), opset_version=13,
                        custom_translation_table={torch.ops.a2o_table.scaled_sin.default: scaled_sin_script})
    message = str(info.value)
    assert "custom_translation_table[a2o_table::scaled_sin.default] has no function" in message
    assert "scaled_sin_script (" in message and "ONNX CastLike does not exist at opset 13" in message
    assert "a2o_table::scaled_sin.default" not in aten2onnx.supported_ops(20)  # nothing stays installed


# -- overriding a built-in op -----------------------------------------------------------------------------
def relu_as_max(self):
    return op.Max(self, op.Sub(self, self))


class ReluModel(nn.Module):
    def forward(self, x: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.relu(x) * 2, torch.relu(n)


def test_table_overrides_a_builtin_op() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU()).eval()
    x = torch.randn(3, 4)
    assert "Relu" in _op_types(aten2onnx.export(model, (x,)))
    program = aten2onnx.export(model, (x,), custom_translation_table={torch.ops.aten.relu.default: relu_as_max})
    assert _op_types(program) == ["Gemm", "Sub", "Max"]
    _close(program(x)[0], _eager(model, x))
    assert "Relu" in _op_types(aten2onnx.export(model, (x,)))  # for that export only


def relu_float_only(self: FLOAT) -> FLOAT:
    return op.Max(self, op.Sub(self, self))


def test_a_builtin_op_falls_back_to_its_spec_where_no_function_fits(tmp_path: Path) -> None:
    x, n = torch.randn(3, 4), torch.randint(-5, 5, (3, 4))
    program = aten2onnx.export(ReluModel(), (x, n), report=True, artifacts_dir=tmp_path,
                              custom_translation_table={torch.ops.aten.relu.default: relu_float_only})
    assert _op_types(program).count("Max") == 1  # float: the function; int64: the spec
    for got, want in zip(program(x, n), ReluModel()(x, n)):
        torch.testing.assert_close(got, want)
    report = program.report_path.read_text()
    assert "| `aten::relu.default` | relu_float_only (" in report
    assert "| `aten::relu.default` | its own mapping (opspecs/activation.yaml:" in report


# -- a list: by dtype and by opset ----------------------------------------------------------------------
def double_float(x: FLOAT, scale: float = 2.0) -> FLOAT:
    return op.Add(op.Sin(x), op.Sin(x))


def double_double(x: DOUBLE, scale: float = 2.0) -> DOUBLE:
    return op.Mul(op.Sin(x), op.CastLike(scale, x))


class TwoDtypes(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ops.a2o_table.scaled_sin(x), torch.ops.a2o_table.scaled_sin(y, 3.0)


def test_a_list_chooses_the_function_by_dtype() -> None:
    x, y = torch.randn(3, 4), torch.randn(2, 5, dtype=torch.float64)
    program = aten2onnx.export(TwoDtypes(), (x, y), do_constant_folding=False, custom_translation_table={
        torch.ops.a2o_table.scaled_sin.default: [double_double, double_float]})
    assert _op_types(program) == ["Sin", "Sin", "Add", "Sin", "Constant", "CastLike", "Mul"]
    got_x, got_y = program(x, y)
    assert got_y.dtype == torch.float64
    _close(got_x, torch.sin(x) * 2)
    torch.testing.assert_close(got_y, torch.sin(y) * 3.0)


def row_mean_18(x: FLOAT) -> FLOAT:
    return op.ReduceMean(x, op.Constant(value_ints=[-1]), keepdims=1)  # axes became an input at opset 18


def row_mean_13(x: FLOAT) -> FLOAT:
    return op13.ReduceMean(x, axes=[-1], keepdims=1)


class RowMean(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.a2o_table.row_mean(x) * 2


@pytest.mark.parametrize(("opset", "uses_axes_input"), [(13, False), (17, False), (18, True), (20, True)])
def test_a_list_chooses_the_function_written_for_the_opset(opset: int, uses_axes_input: bool) -> None:
    x = torch.randn(3, 6)
    program = aten2onnx.export(RowMean(), (x,), opset_version=opset, custom_translation_table={
        torch.ops.a2o_table.row_mean.default: [row_mean_18, row_mean_13]})
    (reduce,) = [n for n in program.model.graph if n.op_type == "ReduceMean"]
    assert (len(reduce.inputs) == 2) == uses_axes_input and ("axes" in reduce.attributes) != uses_axes_input
    onnx.checker.check_model(program.model_proto, full_check=True)
    _close(program(x)[0], RowMean()(x))


# -- what a function receives ----------------------------------------------------------------------------
class Softmaxes(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=1, dtype=torch.float64)


def test_functions_get_the_recorded_arguments_dtypes_as_onnx_types() -> None:
    seen = []

    def softmax(self, dim: int, dtype: int = -1):
        seen.append((dim, dtype))
        return op.Softmax(op.Cast(self, to=dtype), axis=dim)

    x = torch.randn(2, 5)
    program = aten2onnx.export(Softmaxes(), (x,), custom_translation_table={torch.ops.aten.softmax.int: softmax})
    assert seen == [(1, 11)]  # torch.float64 arrives as ONNX DOUBLE (11), as in torch.onnx
    assert _op_types(program) == ["Cast", "Softmax"]
    torch.testing.assert_close(program(x)[0], torch.softmax(x, dim=1, dtype=torch.float64))


def int_only(x: INT64, scale: float = 2.0):
    return op.Identity(x)


def test_bad_functions_are_clear_errors() -> None:
    def returns_nothing(x, scale: float = 2.0):
        op.Sin(x)

    def raises(x, scale: float = 2.0):
        raise KeyError("oops")

    def gives_a_string(x, scale: float = 2.0):
        return op.Add(x, "one")

    model, x = SinModel().eval(), torch.randn(3, 4)
    key = torch.ops.a2o_table.scaled_sin.default
    with pytest.raises(aten2onnx.TranslationError, match=r"returns_nothing \(.*\) returned None for "
                                                        r"a2o_table::scaled_sin.default"):
        aten2onnx.export(model, (x,), custom_translation_table={key: returns_nothing})
    with pytest.raises(aten2onnx.TranslationError, match=r"(?s)raises \(.*\) failed on a2o_table::scaled_sin.default "
                                                        r"at .*KeyError"):
        aten2onnx.export(model, (x,), custom_translation_table={key: raises})
    with pytest.raises(aten2onnx.TranslationError, match=r"gives_a_string \(.*\) on a2o_table::scaled_sin.default at "
                                                        r".*: an ONNX input cannot be str \('one'\)$") as caught:
        aten2onnx.export(model, (x,), custom_translation_table={key: gives_a_string})
    assert caught.value.__cause__ is None  # raised where it is found, not a re-wrapped TypeError
    with pytest.raises(aten2onnx.TranslationError, match="'x' is FLOAT, the function takes INT64"):
        aten2onnx.export(model, (x,), custom_translation_table={key: int_only})
    with pytest.raises(aten2onnx.ExportArgumentError, match=r"key 'relu' is not a torch operator"):
        aten2onnx.export(model, (x,), custom_translation_table={"relu": relu_as_max})
    with pytest.raises(aten2onnx.ExportArgumentError, match=r"must be an onnxscript function \(or a list of them\)"):
        aten2onnx.export(model, (x,), custom_translation_table={key: []})


@onnxscript.script(CUSTOM)
def scaled_sin_branchy(x: FLOAT, scale: float = 2.0) -> FLOAT:
    if op.ReduceSum(x) > 0.0:
        y = op.Sin(x) * scale
    else:
        y = op.Neg(op.Neg(op.Sin(x))) * scale
    return y


def test_script_function_with_control_flow_is_kept_whole() -> None:
    model = SinModel().eval()
    program = aten2onnx.export(model, (torch.randn(3, 4),),
                              custom_translation_table={torch.ops.a2o_table.scaled_sin.default: scaled_sin_branchy})
    function = program.model.functions[("com.example.a2o", "scaled_sin_branchy", "")]
    assert "If" in [n.op_type for n in function]
    onnx.checker.check_model(program.model_proto, full_check=True)
    for x in (torch.randn(3, 4), torch.randn(3, 4) * 10 - 5, torch.randn(3, 4) * 10 + 5):
        _close(program(x)[0], _eager(model, x))


# -- the TorchScript path (dynamo=False, scripted models) ----------------------------------------------
def _all_op_types(graph: object) -> list[str]:
    found = []
    for node in graph:
        found.append(node.op_type)
        for attribute in node.attributes.values():
            if attribute.type.name == "GRAPH":
                found += _all_op_types(attribute.as_graph())
    return found


def test_the_table_translates_traced_models_library_ops_as_local_functions(tmp_path: Path) -> None:
    model, x = SinModel().eval(), torch.randn(3, 4)
    program = aten2onnx.export(model, (x,), tmp_path / "m.onnx", dynamo=False, report=True, artifacts_dir=tmp_path,
                              custom_translation_table={torch.ops.a2o_table.scaled_sin.default: scaled_sin_script})
    assert program.capture_method == "torch.jit.trace"
    (call,) = [n for n in program.model.graph if n.op_type == "scaled_sin_script"]
    assert call.domain == "com.example.a2o" and call.attributes["scale"].value == 3.0
    assert ("com.example.a2o", "scaled_sin_script", "") in program.model.functions
    onnx.checker.check_model(program.model_proto, full_check=True)
    for sample in (x, torch.randn(3, 4) * 4):
        _close(program(sample)[0], _eager(model, sample))
    _close(aten2onnx.ONNXProgram(onnx_ir_load(tmp_path / "m.onnx"))(x)[0], _eager(model, x))
    report = program.report_path.read_text()
    assert "| `a2o_table::scaled_sin.default` | scaled_sin_script (" in report


class InPlaceRelu(nn.Module):
    """In-place forms TorchScript keeps (torch.export would have functionalized them)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * 2
        y.relu_()
        return torch.nn.functional.relu(y - 1, inplace=True) + 1


def test_the_table_overrides_a_builtin_op_on_the_torchscript_path_in_place_forms_too() -> None:
    x = torch.randn(3, 4)
    table = {torch.ops.aten.relu.default: relu_as_max}
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU()).eval()
    assert _op_types(aten2onnx.export(model, (x,), dynamo=False, custom_translation_table=table)) == ["Gemm", "Sub",
                                                                                                    "Max"]
    program = aten2onnx.export(InPlaceRelu(), (x,), dynamo=False, custom_translation_table=table)
    assert "Relu" not in _op_types(program) and _op_types(program).count("Max") == 2  # relu_ through relu's entry
    _close(program(x)[0], _eager(InPlaceRelu(), x))
    ints = torch.randint(-5, 5, (3, 4))
    program = aten2onnx.export(ReluModel(), (x, ints), dynamo=False,
                              custom_translation_table={torch.ops.aten.relu.default: relu_float_only})
    assert _op_types(program).count("Max") == 1  # float: the function; int64: the spec
    for got, want in zip(program(x, ints), ReluModel()(x, ints)):
        torch.testing.assert_close(got, want)
    assert "Relu" in _op_types(aten2onnx.export(model, (x,), dynamo=False))  # for that export only


@torch.jit.script
def _loop_with_table_ops(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    for _ in range(int(n)):
        x = torch.relu(x - 0.5) + torch.ops.a2o_table.scaled_sin(x, 0.5)
    return x


def test_the_table_translates_ops_inside_a_scripted_loop() -> None:
    x = torch.randn(3, 4)
    program = aten2onnx.export(_loop_with_table_ops, (x, torch.tensor(3)), custom_translation_table={
        torch.ops.aten.relu.default: relu_as_max, torch.ops.a2o_table.scaled_sin.default: scaled_sin_script})
    assert program.capture_method == "torch.jit.script"
    types = _all_op_types(program.model.graph)
    assert "Loop" in types and "scaled_sin_script" in types and "Max" in types and "Relu" not in types
    onnx.checker.check_model(program.model_proto, full_check=True)
    for count in (0, 2, 5):
        _close(program(x, torch.tensor(count))[0], _loop_with_table_ops(x, torch.tensor(count)))
