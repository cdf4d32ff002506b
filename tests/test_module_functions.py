"""export_modules_as_functions: one ONNX local function per module class, same numbers as the flat export."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import onnx
import onnx_ir as ir
import pytest
import torch
from torch import nn

import aten2onnx


class Inner(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) + 1


class Block(nn.Module):
    """Linear, an activation whose slope differs per instance, a nested module, a scale baked in."""

    def __init__(self, width: int, slope: float, scale: float) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.act = nn.LeakyReLU(slope)
        self.inner = Inner(width)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(self.act(self.fc(x))) * self.scale + x


class Gated(nn.Module):
    """A class whose instances differ in structure (with or without the gate)."""

    def __init__(self, width: int, gate: bool) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return y * torch.sigmoid(x) if self.gate else y


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.blocks = nn.ModuleList([Block(8, 0.1, 0.5), Block(8, 0.2, 2.0), Block(8, 0.3, 0.5)])
        self.shared = Block(8, 0.05, 1.5)
        self.gates = nn.Sequential(Gated(8, True), Gated(8, False), Gated(8, True))
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for block in self.blocks:
            x = block(x)
        x = self.shared(self.shared(x))  # one module called twice
        return self.head(self.gates(x)), x


def _functions(program: aten2onnx.ONNXProgram) -> dict[str, ir.Function]:
    return {f"{f.domain}::{f.name}": f for f in program.model.functions.values()}


def _calls(program: aten2onnx.ONNXProgram) -> Counter[str]:
    return Counter(f"{n.domain}::{n.op_type}" for n in program.model.graph if n.domain)


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b) > 0
    for got, want in zip(a, b):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def net() -> tuple[Net, torch.Tensor, list[torch.Tensor]]:
    model, x = Net().eval(), torch.randn(4, 8)
    flat = aten2onnx.export(model, (x,))
    with torch.no_grad():
        eager = list(model(x))
    _same(flat(x), eager)
    return model, x, flat(x)


def test_every_module_class_becomes_one_function(net: tuple[Net, torch.Tensor, list[torch.Tensor]],
                                                 tmp_path: Path) -> None:
    model, x, flat = net
    program = aten2onnx.export(model, (x,), tmp_path / "net.onnx", export_modules_as_functions=True)
    name = f"{__name__}"
    functions = _functions(program)
    assert set(functions) == {
        f"{name}::Block", f"{name}::Inner", f"{name}::Gated", f"{name}::Gated.1",  # two structures of Gated
        "torch.nn.modules.linear::Linear", "torch.nn.modules.activation::LeakyReLU",
        "torch.nn.modules.normalization::LayerNorm", "torch.nn.modules.container::Sequential",
    }
    # the top level calls what the model calls at its top level: 5 blocks (one of them twice), the gates, the head
    assert _calls(program) == {f"{name}::Block": 5, "torch.nn.modules.container::Sequential": 1,
                               "torch.nn.modules.linear::Linear": 1}
    block = functions[f"{name}::Block"]
    assert Counter(n.op_type for n in block) == {"Linear": 1, "LeakyReLU": 1, "Inner": 1, "Constant": 1, "Mul": 1,
                                                 "Add": 1}
    # what differs between the blocks is an attribute of the function; weights are inputs of each call
    assert sorted(block.attributes) == ["Constant_value", "act_LeakyRelu_alpha"]
    assert list(functions["torch.nn.modules.activation::LeakyReLU"].attributes) == ["LeakyRelu_alpha"]
    calls = [n for n in program.model.graph if n.op_type == "Block"]
    assert [c.name for c in calls] == ["blocks.0", "blocks.1", "blocks.2", "shared", "shared@1"]
    assert [round(c.attributes["act_LeakyRelu_alpha"].value, 3) for c in calls] == [0.1, 0.2, 0.3, 0.05, 0.05]
    assert [v.name for v in calls[1].inputs[1:]] == ["blocks.1.fc.weight", "blocks.1.fc.bias",
                                                    "blocks.1.inner.norm.weight", "blocks.1.inner.norm.bias"]
    assert calls[3].inputs[1:] == calls[4].inputs[1:]  # a module called twice passes the same weights
    onnx.checker.check_model(program.model_proto, full_check=True)
    _same(program(x), flat)
    saved = aten2onnx.ONNXProgram(ir.load(tmp_path / "net.onnx"))
    _same(saved(x), flat)


def test_a_set_of_classes_becomes_functions_and_the_rest_stays_flat(
        net: tuple[Net, torch.Tensor, list[torch.Tensor]], tmp_path: Path) -> None:
    model, x, flat = net
    program = aten2onnx.export(model, (x,), export_modules_as_functions={Block, Inner}, report=True,
                              artifacts_dir=tmp_path)
    name = f"{__name__}"
    functions = _functions(program)
    assert set(functions) == {f"{name}::Block", f"{name}::Inner"}
    assert _calls(program) == {f"{name}::Block": 5}
    assert "Gemm" in [n.op_type for n in functions[f"{name}::Block"]]  # Linear is not selected: inline
    assert "LayerNormalization" in [n.op_type for n in functions[f"{name}::Inner"]]
    assert [n.op_type for n in program.model.graph].count("Gemm") == 4  # the gates and the head
    _same(program(x), flat)
    report = program.report_path.read_text()
    assert f"| `{name}::Block` | 6 | act_LeakyRelu_alpha, Constant_value |" in report


def test_functions_at_an_old_opset_with_dynamic_axes_and_weights_as_inputs() -> None:
    model, x = Net().eval(), torch.randn(4, 8)
    program = aten2onnx.export(model, (x,), opset_version=13, input_names=["x"],
                              dynamic_axes={"x": {0: "batch"}}, export_params=False,
                              export_modules_as_functions={Block})
    assert _calls(program) == {f"{__name__}::Block": 5}
    assert program.model.graph.inputs[1].name == "blocks.0.fc.weight" and not program.model.graph.initializers
    onnx.checker.check_model(program.model_proto, full_check=True)
    for batch in (1, 4, 7):
        xb = torch.randn(batch, 8)
        with torch.no_grad():
            _same(program(xb), list(model(xb)))


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


def test_a_model_without_selected_modules_is_unchanged() -> None:
    x = torch.randn(2, 4)
    program = aten2onnx.export(Twice().eval(), (x,), export_modules_as_functions={Block})
    assert not program.model.functions and [n.op_type for n in program.model.graph] == ["Gemm", "Relu", "Gemm"]


class Branchy(nn.Module):
    """torch.cond inside the module, with a constant that differs per instance in a branch."""

    def __init__(self, k: float) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.fc.weight
        return torch.cond(x.sum() > 0, lambda a: a @ weight * self.k, lambda a: a - self.k, (x,))


class InBranch(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.relu() * 3


class BranchyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.blocks = nn.ModuleList([Branchy(1.0), Branchy(2.0)])
        self.in_branch = InBranch()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return torch.cond(x.mean() > 0, lambda a: self.in_branch(a), lambda a: a + 1, (x,))


def test_modules_with_control_flow() -> None:
    model = BranchyNet().eval()
    program = aten2onnx.export(model, (torch.randn(3, 4),), export_modules_as_functions=True)
    (function,) = program.model.functions.values()  # InBranch runs inside a branch: it stays inline
    # the constants inside both branches (k) are the function's attributes
    assert function.name == "Branchy" and sorted(function.attributes) == ["mul_Constant_value", "sub_Constant_value"]
    assert [n.op_type for n in program.model.graph][:2] == ["Branchy", "Branchy"]
    onnx.checker.check_model(program.model_proto, full_check=True)
    for x in (torch.randn(3, 4), torch.randn(3, 4) * 10 - 5, torch.randn(3, 4) * 10 + 5):
        with torch.no_grad():
            _same(program(x), [model(x)])


# -- the TorchScript path (dynamo=False, scripted models) -------------------------------------------------
def _shape(program: aten2onnx.ONNXProgram) -> tuple[set[str], Counter[str], dict[str, list[str]]]:
    """What a module-functions export made: its functions, the top level's calls, each function's attributes."""
    functions = _functions(program)
    return set(functions), _calls(program), {k: sorted(f.attributes) for k, f in functions.items()}


@pytest.mark.parametrize("how", ["traced", "scripted"])
@pytest.mark.parametrize("selection", ["every class", "a set"])
def test_the_torchscript_path_makes_the_same_functions_as_torch_export(
        net: tuple[Net, torch.Tensor, list[torch.Tensor]], how: str, selection: str) -> None:
    model, x, flat = net
    chosen = True if selection == "every class" else {Block, Inner}
    reference = aten2onnx.export(model, (x,), export_modules_as_functions=chosen)
    exported = torch.jit.script(model) if how == "scripted" else model
    program = aten2onnx.export(exported, (x,), dynamo=False, export_modules_as_functions=chosen)
    assert program.capture_method == f"torch.jit.{'script' if how == 'scripted' else 'trace'}"
    assert _shape(program) == _shape(reference)  # one function per class (and structure), called alike
    calls = [n for n in program.model.graph if n.op_type == "Block"]
    assert [c.name for c in calls] == ["blocks.0", "blocks.1", "blocks.2", "shared", "shared@1"]
    assert [round(c.attributes["act_LeakyRelu_alpha"].value, 3) for c in calls] == [0.1, 0.2, 0.3, 0.05, 0.05]
    onnx.checker.check_model(program.model_proto, full_check=True)
    _same(program(x), flat)
    other = torch.randn(4, 8)
    _same(program(other), aten2onnx.export(model, (x,), dynamo=False)(other))


@torch.jit.script
def _shift(y: torch.Tensor) -> torch.Tensor:
    return y - y.mean()


class Decides(nn.Module):
    """Scripted control flow inside a module: an `if` on a tensor (its threshold differs per instance),
    a loop over the rows, and a scripted function."""

    def __init__(self, width: int, threshold: float) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        if y.sum() > self.threshold:
            y = y * 2
        else:
            y = _shift(y)
        total = torch.zeros_like(y[0])
        for i in range(y.size(0)):
            total = total + y[i]
        return y + total


class Decisions(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first, self.second = Decides(4, 0.0), Decides(4, 1.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x).relu())


def test_scripted_modules_with_control_flow_become_functions() -> None:
    model = Decisions().eval()
    scripted = torch.jit.script(model)
    program = aten2onnx.export(scripted, (torch.randn(3, 4),), export_modules_as_functions={Decides},
                              input_names=["x"], dynamic_axes={"x": {0: "rows"}})
    (function,) = program.model.functions.values()
    assert (function.domain, function.name) == (__name__, "Decides")
    types = [n.op_type for n in function]
    assert "If" in types and "Loop" in types and "Gemm" in types
    assert len(function.attributes) == 1  # the threshold, set by each call
    assert [n.op_type for n in program.model.graph] == ["Decides", "Relu", "Decides"]
    onnx.checker.check_model(program.model_proto, full_check=True)
    for x in (torch.randn(3, 4), torch.randn(1, 4) * 5 - 3, torch.randn(6, 4) * 5 + 3):
        with torch.no_grad():
            _same(program(x), [model(x)])


@torch.jit.interface
class _Op(nn.Module):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        pass


class Pick(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ops = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Tanh()})

    def forward(self, x: torch.Tensor, key: str) -> torch.Tensor:
        op: _Op = self.ops[key]  # picked at run time: no module path
        return op.forward(x)


def test_a_traced_model_calling_scripted_modules_and_functions() -> None:
    """Scripted functions inlined at the top level belong to no module; a scripted submodule of a traced
    model is a function like any other."""
    from models import torchscript_models as ts
    from models.seed_examples import LoopModel2

    x, count = torch.ones(2, 3, dtype=torch.long), torch.tensor(5)
    program = aten2onnx.export(LoopModel2(), (x, count), dynamo=False, export_modules_as_functions=True)
    assert not program.model.functions and "Loop" in [n.op_type for n in program.model.graph]
    torch.manual_seed(0)
    model = ts.TracedWithScriptedParts().eval()
    program = aten2onnx.export(model, (torch.randn(2, 3), torch.tensor(3)), dynamo=False,
                              export_modules_as_functions=True)
    assert set(_functions(program)) == {"torch.nn.modules.linear::Linear", "models.torchscript_models::ScriptedBlock"}
    onnx.checker.check_model(program.model_proto, full_check=True)
    for rows, steps in ((2, 4), (2, 1)):
        x = torch.randn(rows, 3)
        with torch.no_grad():
            _same(program(x, torch.tensor(steps)), [model(x, torch.tensor(steps))])


def test_calls_torchscript_cannot_attribute_are_errors() -> None:
    x = torch.randn(2, 4)
    with pytest.raises(aten2onnx.ExportArgumentError, match=r"Pick calls modules that TorchScript does not name "
                                                           r"statically \(forward\(\) of .*_Op at .*test_module_functions"):
        aten2onnx.export(torch.jit.script(Pick()), (x, "a"), export_modules_as_functions=True)
    frozen = torch.jit.freeze(torch.jit.script(Twice().eval()))
    with pytest.raises(aten2onnx.ExportArgumentError, match=r"Twice's submodules \(a, b\) were already inlined"):
        aten2onnx.export(frozen, (x,), export_modules_as_functions=True)
    with pytest.raises(aten2onnx.ExportArgumentError, match="_shift is a scripted function, which calls no modules"):
        aten2onnx.export(_shift, (x,), export_modules_as_functions=True)
    plain = aten2onnx.export(frozen, (x,))  # without the option a frozen module exports as it always did
    with torch.no_grad():
        _same(plain(x), [frozen(x)])
