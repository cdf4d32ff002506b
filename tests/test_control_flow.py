"""Control flow end to end: torch.cond -> If, while_loop -> Loop, scan/map/associative_scan -> Loop.

Each model is exported once and run in ONNX Runtime on inputs that take every branch (or
several trip counts, sequence lengths), compared with eager PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx
import pytest
import torch
from torch import nn
from torch._higher_order_ops.associative_scan import associative_scan_op
from torch._higher_order_ops.scan import scan
from torch._higher_order_ops.while_loop import while_loop
from torch.export import Dim
from torch.utils._pytree import tree_leaves

import aten2onnx


def _export_and_compare(model: nn.Module, example: tuple[object, ...], runs: Sequence[tuple[object, ...]],
                        opset: int = 18, dynamic_shapes: object = None) -> aten2onnx.ONNXProgram:
    """Export once, check the model, run every input set in ONNX Runtime against eager."""
    program = aten2onnx.export(model, example, opset_version=opset, dynamic_shapes=dynamic_shapes)
    onnx.checker.check_model(program.model_proto, full_check=True)
    for args in runs:
        with torch.no_grad():
            expected = [t for t in tree_leaves(model(*args)) if isinstance(t, torch.Tensor)]
        actual = program(*args)
        assert len(actual) == len(expected)
        for got, want in zip(actual, expected):
            assert got.shape == want.shape and got.dtype == want.dtype
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    return program


def _op_types(graph: object) -> list[str]:
    """Every node's op type, those inside subgraphs included."""
    found = []
    for node in graph:
        found.append(node.op_type)
        for attribute in node.attributes.values():
            if attribute.type.name == "GRAPH":
                found += _op_types(attribute.as_graph())
    return found


# -- torch.cond -> If ------------------------------------------------------------------------------
class BranchOnData(nn.Module):
    """Both branches read an outer weight (lifted by torch.export as an operand)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def positive(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.linear(x) + y, x.sum()

        def negative(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x - y, x.mean()

        return torch.cond(x.sum() > 0, positive, negative, (x, y))


@pytest.mark.parametrize("opset", [9, 18])
def test_cond_becomes_if_and_takes_both_branches(opset: int) -> None:
    runs = [(sign * torch.ones(rows, 3), torch.randn(rows, 3)) for rows in (1, 2, 7) for sign in (1, -1)]
    program = _export_and_compare(BranchOnData().eval(), (torch.randn(2, 3), torch.randn(2, 3)), runs, opset,
                                  dynamic_shapes=({0: Dim("rows")}, {0: Dim("rows")}))
    assert [n.op_type for n in program.model.graph].count("If") == 1


class BranchOnSize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cond(x.shape[0] > 4, lambda x: self.linear(x).relu(), lambda x: x.cos() * x.shape[0], (x,))


def test_cond_on_a_dynamic_size() -> None:
    """The predicate is a SymBool: computed from the input's shape at run time."""
    runs = [(torch.randn(rows, 3),) for rows in (1, 4, 5, 11)]
    program = _export_and_compare(BranchOnSize().eval(), (torch.randn(5, 3),), runs,
                                  dynamic_shapes={"x": {0: Dim("batch")}})
    assert str(program.model.graph.inputs[0].shape[0]) == "batch"


class NestedBranches(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        def outer_true(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.cond(y.sum() > 0, lambda x, y: x + y, lambda x, y: x - y, (x, y))

        return torch.cond(x.mean() > 0, outer_true, lambda x, y: x * y, (x, y))


def test_nested_cond() -> None:
    runs = [(sx * torch.ones(2, 3), sy * torch.rand(2, 3)) for sx in (1, -1) for sy in (1, -1)]
    runs += [(torch.ones(1, 1), torch.rand(1, 1)), (-torch.ones(4, 5), torch.rand(4, 5))]
    program = _export_and_compare(NestedBranches(), (torch.randn(2, 3), torch.randn(2, 3)), runs,
                                  dynamic_shapes=({0: Dim("r"), 1: Dim("c")}, {0: Dim("r"), 1: Dim("c")}))
    assert _op_types(program.model.graph).count("If") == 2


class BranchesOfDifferentSizes(nn.Module):
    """The branches return different sizes: the If output's size is only known at run time."""

    def forward(self, x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        return torch.cond(x.sum() > 0, lambda x, n: x[:2] * n.item(), lambda x, n: x[:3].cos(), (x, n))


def test_cond_branches_of_different_sizes() -> None:
    # torch.export records rows >= 3 (x[:3] then has 3 rows): the smallest size it allows
    runs = [(sign * torch.ones(rows, 3), torch.tensor(4)) for rows in (3, 5, 9) for sign in (1, -1)]
    _export_and_compare(BranchesOfDifferentSizes(), (torch.randn(5, 3), torch.tensor(2)), runs,
                        dynamic_shapes=({0: Dim.DYNAMIC}, None))


# -- while_loop -> Loop ----------------------------------------------------------------------------
class ClassicLoop(nn.Module):
    """torch.onnx's documented loop (`for i in range(y): x = x + i`, the trip count a tensor
    input), written with while_loop so torch.export captures the loop instead of unrolling it."""

    def forward(self, x: torch.Tensor, loop_count: torch.Tensor) -> torch.Tensor:
        def condition(i: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return i < loop_count

        def body(i: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return i + 1, x + i

        return while_loop(condition, body, (torch.zeros((), dtype=torch.long), x))[1]


@pytest.mark.parametrize("opset", [9, 18])
def test_classic_loop_runs_any_trip_count_without_reexport(opset: int) -> None:
    example = (torch.ones(2, 3, dtype=torch.long), torch.tensor(5))
    runs = [(torch.ones(2, 3, dtype=torch.long), torch.tensor(count)) for count in (0, 1, 9)]
    runs.append((torch.full((1, 4), 3, dtype=torch.long), torch.tensor(4)))  # other input sizes too
    runs.append((torch.full((6, 5), -2, dtype=torch.long), torch.tensor(9)))
    program = _export_and_compare(ClassicLoop(), example, runs, opset,
                                  dynamic_shapes={"x": {0: Dim.DYNAMIC, 1: Dim.DYNAMIC}, "loop_count": None})
    assert [n.op_type for n in program.model.graph].count("Loop") == 1
    (eight,) = program(torch.zeros(1, 1, dtype=torch.long), torch.tensor(9))
    assert eight.item() == sum(range(9))


class LoopWithBranch(nn.Module):
    """A weight and an If inside the loop body."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.step = nn.Parameter(torch.randn(3))

    def forward(self, x: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def condition(i: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return i < n

        def body(i: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = torch.cond(i % 2 == 0, lambda x: x + self.step, lambda x: x * 0.5, (x,))
            return i + 1, x

        return while_loop(condition, body, (torch.zeros((), dtype=torch.long), x))


def test_while_loop_with_cond_and_weight_in_its_body() -> None:
    runs = [(torch.randn(rows, 3), torch.tensor(count)) for rows, count in ((2, 0), (1, 1), (2, 4), (6, 7))]
    program = _export_and_compare(LoopWithBranch(), (torch.randn(2, 3), torch.tensor(3)), runs,
                                  dynamic_shapes=({0: Dim.DYNAMIC}, None))
    assert _op_types(program.model.graph).count("If") == 1


class LoopOverRows(nn.Module):
    """The trip count is a dynamic size (a SymInt read inside the condition)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def condition(i: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return i < x.shape[0]

        def body(i: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return i + 1, torch.cat([x[1:], x[:1]]) + 1

        return while_loop(condition, body, (torch.zeros((), dtype=torch.long), x))


def test_while_loop_bounded_by_a_dynamic_size() -> None:
    _export_and_compare(LoopOverRows(), (torch.randn(3, 2),), [(torch.randn(rows, 2),) for rows in (1, 3, 6)],
                        dynamic_shapes=({0: Dim.DYNAMIC},))


# -- scan, map, associative_scan -> Loop -----------------------------------------------------------
class ScanRNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.cell = nn.Linear(6, 3)

    def forward(self, h: torch.Tensor, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def step(h: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = torch.tanh(self.cell(torch.cat([h, x], -1)))
            return h, h * 2

        return scan(step, h, xs)


@pytest.mark.parametrize("opset", [9, 18])
def test_scan_over_a_dynamic_sequence(opset: int) -> None:
    batch, steps = Dim("batch"), Dim("steps")
    runs = [(torch.zeros(b, 3), torch.randn(t, b, 3)) for t, b in ((1, 1), (4, 2), (9, 5))]
    program = _export_and_compare(ScanRNN().eval(), (torch.zeros(2, 3), torch.randn(5, 2, 3)), runs, opset,
                                  dynamic_shapes=({0: batch}, {0: steps, 1: batch}))
    assert [str(d) for d in program.model.graph.outputs[1].shape] == ["steps", "batch", "3"]


class ScanPairs(nn.Module):
    """Two carries, two sequences, and an outer tensor the body reads."""

    def forward(self, init: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, scale: torch.Tensor) -> object:
        def step(carry: tuple[torch.Tensor, torch.Tensor], inputs: tuple[torch.Tensor, torch.Tensor]) -> object:
            total, count = carry
            x, y = inputs
            total = total + x * y * scale
            return (total, count + 1), total.clone()

        return scan(step, (init, torch.zeros((), dtype=torch.long)), (xs, ys))


def test_scan_with_several_carries_and_sequences() -> None:
    example = (torch.zeros(3), torch.randn(4, 3), torch.randn(4, 3), torch.randn(3))
    runs = [(torch.randn(3), torch.randn(n, 3), torch.randn(n, 3), torch.randn(3)) for n in (1, 6)]
    _export_and_compare(ScanPairs(), example, runs,
                        dynamic_shapes=(None, {0: Dim("n")}, {0: Dim("n")}, None))


class MapRows(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3, 2)

    def forward(self, xs: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return torch._higher_order_ops.map(lambda x, b: self.linear(x + b), xs, bias)


@pytest.mark.parametrize("opset", [9, 18])
def test_map_runs_its_body_per_row(opset: int) -> None:
    runs = [(torch.randn(rows, 3), torch.randn(3)) for rows in (1, 7)]
    _export_and_compare(MapRows().eval(), (torch.randn(4, 3), torch.randn(3)), runs, opset,
                        dynamic_shapes=({0: Dim.DYNAMIC}, None))


class RunningMax(nn.Module):
    def forward(self, xs: torch.Tensor, offset: torch.Tensor) -> object:
        return associative_scan_op(lambda a, b, o: torch.maximum(a, b) + 0 * o, [xs], (offset,))


def test_associative_scan() -> None:
    runs = [(torch.randn(rows, 3), torch.randn(3)) for rows in (1, 5, 12)]
    _export_and_compare(RunningMax(), (torch.randn(5, 3), torch.randn(3)), runs, dynamic_shapes=({0: Dim.DYNAMIC}, None))
