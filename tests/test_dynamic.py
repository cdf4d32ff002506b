"""Dynamic shapes end to end: exported once, run in ONNX Runtime at many sizes, compared with eager.

Covers symbolic sizes (sym_size and Python arithmetic on them), data-dependent output sizes
(nonzero, masked_select, x[mask], unique, repeat_interleave, .item() as a size), in-place ops
and index assignment (select/slice_scatter with symbolic indices and bounds), ops along dynamic
axes (padding, interpolation, roll, col2im), and the capture error for dynamic shapes a model
does not allow. Where torch.export records a minimum size (a range constraint), runs start there.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime
import pytest
import torch
from torch import nn
from torch.export import Dim
from torch.utils._pytree import tree_leaves

import aten2onnx
from aten2onnx.exporter.api.input_checks import InputSizeWarning
from aten2onnx.exporter.emit import symint_ops
from aten2onnx.exporter.emit.graph_builder import GraphBuilder

DYNAMIC = Dim.DYNAMIC


class Fn(nn.Module):
    """A module around a function, its forward() parameters named x, y, z."""

    def __init__(self, fn: Callable[..., object]):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, z: torch.Tensor | None = None) -> object:
        args = [a for a in (x, y, z) if a is not None]
        return self.fn(*args)


def _run(program: aten2onnx.ONNXProgram, model: nn.Module, runs: Sequence[tuple[object, ...]]) -> None:
    for args in runs:
        with torch.no_grad():  # on copies: some models modify their inputs
            result = model(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
        expected = [t if isinstance(t, torch.Tensor) else torch.tensor(t) for t in tree_leaves(result)]
        actual = program(*args)
        assert len(actual) == len(expected)
        for got, want in zip(actual, expected):
            assert got.shape == want.shape, (got.shape, want.shape)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def _check(fn: Callable[..., object], example: tuple[object, ...], runs: Sequence[tuple[object, ...]],
           dynamic_shapes: object = None, opset: int = 18) -> aten2onnx.ONNXProgram:
    model = Fn(fn)
    program = aten2onnx.export(model, example, opset_version=opset, dynamic_shapes=dynamic_shapes)
    onnx.checker.check_model(program.model_proto)
    _run(program, model, runs)
    return program


# -- symbolic sizes ----------------------------------------------------------------------------------
class SizeArithmetic(nn.Module):
    """Shapes built from sizes: view/reshape, arange, expand, slicing, new_zeros, full, numel."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        rows, cols = x.shape
        flat = x.reshape(rows * cols)
        swapped = flat.view(cols, rows) + torch.arange(rows).float()
        grid = x[:, :1].expand(rows, cols * 2 - 1)
        return (swapped, x.new_zeros(rows // 2 + 1, cols), torch.full((rows,), cols), x[: rows // 2],
                grid, x.sum() + x.numel())


@pytest.mark.parametrize("opset", [11, 26])
def test_sizes_are_computed_in_the_graph_and_keep_user_names(opset: int) -> None:
    model = SizeArithmetic()
    program = aten2onnx.export(model, (torch.randn(4, 6),), opset_version=opset,
                              dynamic_shapes={"x": {0: "rows", 1: "cols"}})
    graph = program.model.graph
    assert [str(d) for d in graph.inputs[0].shape] == ["rows", "cols"]
    assert [str(d) for d in graph.outputs[0].shape] == ["cols", "rows"]
    assert [str(d) for d in graph.outputs[3].shape] == ["(rows//2)", "cols"]
    _run(program, model, [(torch.randn(r, c),) for r, c in ((1, 1), (4, 6), (3, 5), (12, 2))])


def _python_arithmetic(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    n = x.shape[0]
    shifted = n - 7  # negative for small inputs: // and % must round towards -inf as in Python
    return (x.sum() * (shifted // 3) + shifted % 3, x * (n / 2), x.new_zeros(torch.sym_max(n, 3)),
            x[: torch.sym_min(n, 3)], x * torch.sym_float(n) - torch.sym_int(n / 3), x.sum() * (-n) * (n ** 2))


@pytest.mark.parametrize("opset", [9, 18])
def test_python_arithmetic_on_sizes(opset: int) -> None:
    if opset == 9:  # a slice bound computed at run time needs Slice's inputs (opset 10)
        fn: Callable[..., object] = lambda x: [v for i, v in enumerate(_python_arithmetic(x)) if i != 3]  # noqa: E731
    else:
        fn = _python_arithmetic
    _check(fn, (torch.randn(4, 2),), [(torch.randn(n, 2),) for n in (1, 2, 5, 9, 13)], ({0: DYNAMIC},), opset)


@pytest.mark.parametrize("opset", [9, 10, 18])
def test_symint_ops_follow_python_semantics(opset: int) -> None:
    """Every operator on a grid of signed operands, one graph per opset, against Python."""
    g = GraphBuilder(opset)
    a = ir.Value(name="a", type=ir.TensorType(ir.DataType.INT64), shape=ir.Shape([]))
    b = ir.Value(name="b", type=ir.TensorType(ir.DataType.INT64), shape=ir.Shape([]))
    targets = [operator.add, operator.sub, operator.mul, operator.floordiv, operator.mod, operator.truediv,
               operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge, torch.sym_max,
               torch.sym_min]
    outputs = []
    for index, target in enumerate(targets):
        out = g.op("Identity", symint_ops.translate(g, target, [a, b]))
        out.name, out.shape = f"out_{index}", ir.Shape([])
        out.dtype = out.producer().inputs[0].dtype
        outputs.append(out)
    neg = g.op("Identity", symint_ops.translate(g, operator.neg, [a]))
    neg.name, neg.shape, neg.dtype = "neg", ir.Shape([]), ir.DataType.INT64
    graph = ir.Graph([a, b], [*outputs, neg], nodes=g.nodes, opset_imports={"": opset})
    proto = ir.serde.serialize_model(ir.Model(graph, ir_version=8))
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for x in (-7, -6, -1, 0, 5, 6, 7):
        for y in (-3, -2, 2, 3, 7):
            results = session.run(None, {"a": np.array(x), "b": np.array(y)})
            for target, got in zip(targets, results):
                assert got.item() == pytest.approx(target(x, y)), (target, x, y)
            assert results[-1].item() == -x
    assert symint_ops.translate(g, operator.floordiv, [-7, 2]) == -4  # plain numbers: computed in Python


def test_bitwise_of_symbolic_ints_before_opset_18_is_a_constraint_error() -> None:
    """BitwiseAnd/Or/Xor came at opset 18: before it the export refuses with the project's error."""
    g = GraphBuilder(17)
    a = ir.Value(name="a", type=ir.TensorType(ir.DataType.INT64), shape=ir.Shape([]))
    with pytest.raises(aten2onnx.ConstraintError, match=r"bitwise BitwiseAnd of symbolic integers needs opset 18 or "
                                                       r"newer; export with opset_version=18"):
        symint_ops.translate(g, operator.and_, [a, a])


def test_legacy_dynamic_axes_with_sizes_used_in_the_model() -> None:
    def fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x.view(x.shape[0], -1) @ y.t()).softmax(-1) * x.shape[1]

    model = Fn(fn)
    program = aten2onnx.export(model, (torch.randn(3, 4), torch.randn(5, 4)), input_names=["left", "right"],
                              output_names=["scores"],
                              dynamic_axes={"left": {0: "batch"}, "right": {0: "keys"}, "scores": {0: "batch", 1: "keys"}})
    graph = program.model.graph
    assert [str(d) for d in graph.outputs[0].shape] == ["batch", "keys"]
    _run(program, model, [(torch.randn(1, 4), torch.randn(1, 4)), (torch.randn(8, 4), torch.randn(11, 4))])


def test_dim_auto() -> None:
    _check(lambda x: x.flatten() * x.shape[1], (torch.randn(3, 4),), [(torch.randn(1, 1),), (torch.randn(6, 9),)],
           ({0: Dim.AUTO, 1: Dim.AUTO},))


# -- data-dependent output sizes -------------------------------------------------------------------
_ROWS = ({0: DYNAMIC},)


_MASKS: dict[str, Callable[..., object]] = {
    "nonzero": lambda x: torch.nonzero(x > 0),
    "masked_select": lambda x: torch.masked_select(x, x > 0),
    "bool_mask": lambda x: x[x > 0],
    "bool_mask_rows": lambda x: x[x[:, 0] > 0] * 2,
    "size_of_selection": lambda x: x[x > 0].sum() / x[x > 0].shape[0],
}


@pytest.mark.parametrize("name", list(_MASKS))
def test_masks_and_nonzero(name: str) -> None:
    fn = _MASKS[name]
    torch.manual_seed(0)
    runs = [(torch.randn(rows, 3),) for rows in (1, 4, 9)] + [(-torch.ones(2, 3),)]
    if name == "size_of_selection":
        runs = runs[:-1]  # 0 / 0
    _check(fn, (torch.randn(4, 3),), runs, _ROWS)


_VALUES = [(torch.tensor([5]),), (torch.tensor([4, 4, 1, 0, 9, 9, 1]),), (torch.tensor([2, 2, 2]),)]


_DATA_SIZED: dict[str, Callable[..., object]] = {
    "unique": lambda x: torch.unique(x, return_inverse=True, return_counts=True),
    "unique_values_only": lambda x: torch.unique(x) * 2,
    "unique_consecutive": lambda x: torch.unique_consecutive(x, return_inverse=True, return_counts=True),
    "repeat_interleave": lambda r: torch.repeat_interleave(r.clamp(min=0)),
}


@pytest.mark.parametrize("name", list(_DATA_SIZED))
def test_unique_and_repeat_interleave(name: str) -> None:
    _check(_DATA_SIZED[name], (torch.tensor([3, 1, 2, 3, 1]),), _VALUES, _ROWS)


def test_unique_along_a_dim() -> None:
    runs = [(torch.tensor([[5, 1]]),), (torch.tensor([[1, 2], [0, 3], [1, 2], [0, 1]]),)]
    _check(lambda x: torch.unique(x, dim=0, return_inverse=True, return_counts=True),
           (torch.tensor([[1, 2], [1, 2], [0, 1]]),), runs, _ROWS)


def test_repeat_interleave_with_tensor_repeats() -> None:
    runs = [(torch.randn(1, 2), torch.tensor([3])), (torch.randn(5, 2), torch.tensor([0, 1, 3, 0, 2]))]
    _check(lambda x, r: torch.repeat_interleave(x, r, dim=0), (torch.randn(4, 2), torch.tensor([1, 2, 0, 3])),
           runs, ({0: DYNAMIC}, {0: DYNAMIC}))


_ITEM_SIZED: dict[str, Callable[..., object]] = {
    "zeros": lambda x, n: torch.zeros(n.item()) + x.sum(),
    "slice": lambda x, n: x[: n.item()],
    "repeat_interleave": lambda x, n: torch.repeat_interleave(x, n.item(), dim=0),
    "arange": lambda x, n: torch.arange(n.item()) * x.shape[0],
}


@pytest.mark.parametrize("name", list(_ITEM_SIZED))
def test_item_used_as_a_size(name: str) -> None:
    """`.item()` gives an unbacked symbol; torch inserts runtime checks (translated to nothing)."""
    runs = [(torch.randn(6, 2), torch.tensor(k)) for k in (0, 1, 5)] + [(torch.randn(1, 2), torch.tensor(1)),
                                                                         (torch.randn(11, 2), torch.tensor(9))]
    _check(_ITEM_SIZED[name], (torch.randn(6, 2), torch.tensor(3)), runs, ({0: DYNAMIC}, None))


# -- in-place ops and index assignment -----------------------------------------------------------------
def _assign_tensor_index(d: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
    d = d.clone()
    d[i] = 0.5
    return d


def _assign_slice(d: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    d = d.clone()
    d[1:3] = v  # torch.export then requires at least 3 rows (the range constraint it records)
    return d


def _assign_mask(d: torch.Tensor) -> torch.Tensor:
    d = d.clone()
    d[d > 0] = 0.0
    return d


def _assign_mask_rows(d: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    d = d.clone()
    d[d[:, 0] > 0] = v
    return d


def _assign_0d_index(d: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
    d = d.clone()
    d[i] = d[i] * 2 + 1
    return d


def _add_at_0d_index_of_a_column(d: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
    d = d.clone()
    d[:, i] += 10
    return d


def _index_put_accumulate(d: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
    return d.clone().index_put_((i,), torch.ones(i.shape[0], d.shape[1]), accumulate=True)


def _masked_fill_(d: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return d.clone().masked_fill_(m, -1.0)


def _views_modified_in_place(d: torch.Tensor) -> torch.Tensor:
    d = d.clone()
    column = d[:, 1]
    column.mul_(2)
    d[0].add_(1)
    d.t()[2].sub_(3)
    return d


def _slice_add(d: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    d = d.clone()
    d[:, 1:] += v
    return d


def _assign_slice_of_symbolic_bounds(cache: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """A cache update: the slice's end is a size of another input."""
    cache = cache.clone()
    cache[:, 1:1 + new.shape[1]] = new
    return cache


def _input_mutated(d: torch.Tensor) -> torch.Tensor:
    d.add_(1)
    return d * 2


_INPLACE = [
    ("tensor_index", _assign_tensor_index, (torch.randn(5, 3), torch.tensor([0, 2])),
     [(torch.randn(6, 3), torch.tensor([4, 1, -1])), (torch.randn(1, 3), torch.tensor([0]))], ({0: DYNAMIC}, {0: DYNAMIC}), ()),
    ("slice", _assign_slice, (torch.randn(5, 3), torch.randn(2, 3)),
     [(torch.randn(rows, 3), torch.randn(2, 3)) for rows in (3, 6, 11)], ({0: DYNAMIC}, None), ()),
    ("bool_mask", _assign_mask, (torch.randn(5, 3),), [(torch.randn(1, 3),), (torch.randn(8, 3),)], _ROWS, ()),
    ("bool_mask_rows", _assign_mask_rows, (torch.randn(5, 3), torch.randn(3)),
     [(torch.randn(1, 3), torch.randn(3)), (torch.randn(8, 3), torch.randn(3))], ({0: DYNAMIC}, None), ()),
    ("0d_index", _assign_0d_index, (torch.randn(5, 3), torch.tensor(2)),
     [(torch.randn(5, 3), torch.tensor(k)) for k in (0, 4, -1)] + [(torch.randn(2, 3), torch.tensor(1)),
      (torch.randn(1, 3), torch.tensor(0)), (torch.randn(8, 3), torch.tensor(-8))],
     ({0: DYNAMIC}, None), ()),
    ("0d_index_of_a_column", _add_at_0d_index_of_a_column, (torch.randn(5, 3), torch.tensor(2)),
     [(torch.randn(rows, 3), torch.tensor(k)) for rows, k in ((5, 0), (5, 1), (5, -1), (1, 2), (9, -3))],
     ({0: DYNAMIC}, None), ()),
    ("index_put_accumulate", _index_put_accumulate, (torch.randn(5, 3), torch.tensor([0, 2, 0])),
     [(torch.randn(6, 3), torch.tensor([1, 1, 1, 5])), (torch.randn(1, 3), torch.tensor([0]))],
     ({0: DYNAMIC}, {0: DYNAMIC}), ()),
    ("masked_fill_", _masked_fill_, (torch.randn(5, 3), torch.randn(5, 3) > 0),
     [(torch.randn(rows, 3), torch.randn(rows, 3) > 0) for rows in (1, 2, 8)], ({0: DYNAMIC}, {0: DYNAMIC}), ()),
    ("views_in_place", _views_modified_in_place, (torch.randn(5, 3),), [(torch.randn(1, 3),), (torch.randn(7, 3),)],
     _ROWS, ()),
    ("slice_add", _slice_add, (torch.randn(5, 3), torch.randn(5, 2)),
     [(torch.randn(rows, 3), torch.randn(rows, 2)) for rows in (1, 7)],
     ({0: DYNAMIC}, {0: DYNAMIC}), ()),
    ("slice_of_symbolic_bounds", _assign_slice_of_symbolic_bounds, (torch.randn(2, 6, 3), torch.randn(2, 2, 3)),
     [(torch.randn(2, 9, 3), torch.randn(2, 4, 3)), (torch.randn(1, 2, 3), torch.randn(1, 1, 3))],
     ({0: DYNAMIC, 1: DYNAMIC}, {0: DYNAMIC, 1: DYNAMIC}), ()),
    ("input_mutated", _input_mutated, (torch.randn(5, 3),), [(torch.randn(rows, 3),) for rows in (1, 2, 8)], _ROWS, ()),
]


@pytest.mark.parametrize(("fn", "example", "runs", "dynamic_shapes"), [
    pytest.param(fn, example, runs, dynamic, id=f"{name}-dynamic", marks=marks)
    for name, fn, example, runs, dynamic, marks in _INPLACE
])
def test_in_place_dynamic(fn: Callable[..., object], example: tuple[torch.Tensor, ...],
                          runs: list[tuple[torch.Tensor, ...]], dynamic_shapes: object) -> None:
    _check(fn, example, runs, dynamic_shapes)


@pytest.mark.parametrize(("fn", "example"), [
    pytest.param(fn, example, id=f"{name}-static", marks=marks)
    for name, fn, example, _, _, marks in _INPLACE
])
def test_in_place_static(fn: Callable[..., object], example: tuple[torch.Tensor, ...]) -> None:
    """The same patterns with static shapes (new values, same sizes)."""
    torch.manual_seed(1)
    runs = [tuple(torch.randn_like(a) if a.is_floating_point() else a.clone() for a in example)]
    _check(fn, example, runs)


_SCATTERS: dict[str, Callable[..., object]] = {
    "slice_scatter_step": lambda x, y: x.slice_scatter(x[1::2] * 10, 0, 1, None, 2),
    "slice_scatter_negative_start": lambda x, y: x.slice_scatter(x[-1:] + 1, 0, -1),
    "slice_scatter_negative_symbolic": lambda x, y: x.slice_scatter(x[-x.shape[0] // 2:] + 1, 0, -x.shape[0] // 2),
    "slice_scatter_symbolic_start": lambda x, y: x.slice_scatter(x[y.shape[0]:] * 2, 0, y.shape[0]),
    "slice_scatter_symbolic_bounds_step": lambda x, y: x.slice_scatter(
        x[y.shape[0] - 1:x.shape[0] - 1:2] - 5, 0, y.shape[0] - 1, x.shape[0] - 1, 2),
    "select_scatter_negative": lambda x, y: x.select_scatter(x[-1] * 3, 0, -1),
    "select_scatter_symbolic": lambda x, y: x.select_scatter(y[0] * 0 + 7, 0, y.shape[0] - 1),
}


@pytest.mark.parametrize("opset", [9, 10, 18])
@pytest.mark.parametrize("name", list(_SCATTERS))
def test_scatters_along_a_dynamic_axis(name: str, opset: int) -> None:
    """Bounds and indices computed in the graph from sizes, wrapped and clamped as in Python."""
    runs = [(torch.randn(rows, 2), torch.randn(k, 2)) for rows, k in ((1, 1), (2, 1), (5, 3), (9, 2), (11, 11))]
    _check(_SCATTERS[name], (torch.randn(6, 2), torch.randn(2, 2)), runs, ({0: DYNAMIC}, {0: DYNAMIC}), opset)


# -- ops along dynamic axes: padding, interpolation, roll, col2im ------------------------------------
F = nn.functional
def test_integer_interpolation_with_dynamic_sizes_is_refused_clearly() -> None:
    model = Fn(lambda x: F.interpolate(x, scale_factor=2.0, mode="bilinear"))
    with pytest.raises(aten2onnx.ConstraintError,
                       match=r"upsample_bilinear2d.*interpolation of an integer image with sizes known only at run "
                             r"time.*\(x\.float\(\)\).* \(constraint in opspecs/resize.yaml:\d+\)"):
        aten2onnx.export(model, (torch.zeros(1, 1, 4, 4, dtype=torch.uint8),), dynamic_shapes=({2: DYNAMIC},))


_PADDINGS: dict[str, Callable[..., object]] = {
    "constant": lambda x: F.pad(x, (1, 2, 0, 3), value=1.5),
    "constant_crop": lambda x: F.pad(x, (-1, 2, 1, 0)),
    "constant_int": lambda x: F.pad(x.long(), (2, 1, 1, 1), value=3),
    "constant_to_a_multiple": lambda x: F.pad(x, (0, (-x.shape[-1]) % 4, x.shape[-2] // 2, 1)),
    "reflect": lambda x: F.pad(x, (1, 0, 0, 1), mode="reflect"),
    "reflect_int": lambda x: F.pad(x.long(), (0, 1, 1, 0), mode="reflect"),
    "replicate": lambda x: F.pad(x, (2, 1, 3, 0), mode="replicate"),
    "replicate_int": lambda x: F.pad(x.long(), (2, 1, 3, 0), mode="replicate"),
    "replicate_symbolic": lambda x: F.pad(x, (x.shape[-1], 0, 0, x.shape[-2] % 3), mode="replicate"),
    "circular": lambda x: F.pad(x, (1, 2, 1, 0), mode="circular"),
    "reflect_3d": lambda x: F.pad(x.unsqueeze(2), (1, 1, 0, 1, 0, 0), mode="reflect"),
}


@pytest.mark.parametrize("opset", [9, 11, 18])
@pytest.mark.parametrize("name", list(_PADDINGS))
def test_padding_along_dynamic_axes(name: str, opset: int) -> None:
    torch.manual_seed(0)
    runs = [(torch.randn(1, 2, h, w),) for h, w in ((2, 2), (3, 5), (8, 11))]
    if "reflect" not in name and "circular" not in name:
        runs.append((torch.randn(1, 2, 1, 1),))  # reflect and circular need sizes above the padding
    _check(_PADDINGS[name], (torch.randn(1, 2, 4, 6),), runs, ({2: DYNAMIC, 3: DYNAMIC},), opset)


_INTERPOLATIONS: dict[str, Callable[..., object]] = {
    "nearest_scale": lambda x, y: F.interpolate(x, scale_factor=2.0, mode="nearest"),
    "nearest_size_of_y": lambda x, y: F.interpolate(x, size=y.shape[-2:], mode="nearest"),
    "nearest_exact_scale": lambda x, y: F.interpolate(x, scale_factor=1.5, mode="nearest-exact"),
    "bilinear_size_of_y": lambda x, y: F.interpolate(x, size=y.shape[-2:], mode="bilinear"),
    "bilinear_align_corners": lambda x, y: F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True),
    "bilinear_scale": lambda x, y: F.interpolate(x, scale_factor=(1.5, 2.5), mode="bilinear"),
    "bicubic_size_of_y": lambda x, y: F.interpolate(x, size=y.shape[-2:], mode="bicubic"),
    "bicubic_align_corners_scale": lambda x, y: F.interpolate(x, scale_factor=2.0, mode="bicubic", align_corners=True),
    "linear_1d": lambda x, y: F.interpolate(x[:, :, 0], scale_factor=3.0, mode="linear"),
}


@pytest.mark.parametrize("opset", [9, 13])
@pytest.mark.parametrize("name", list(_INTERPOLATIONS))
def test_interpolate_along_dynamic_axes(name: str, opset: int) -> None:
    torch.manual_seed(0)
    runs = [(torch.randn(1, 2, h, w), torch.randn(1, 1, oh, ow))
            for h, w, oh, ow in ((1, 1, 1, 1), (3, 5, 7, 2), (6, 4, 6, 8), (9, 13, 20, 5))]
    spatial = {2: DYNAMIC, 3: DYNAMIC}
    _check(_INTERPOLATIONS[name], (torch.randn(1, 2, 4, 6), torch.randn(1, 1, 5, 9)), runs, (spatial, spatial), opset)


_ROLLS: dict[str, Callable[..., object]] = {
    "roll_dims": lambda x: torch.roll(x, 2, 0) + torch.roll(x, (-1, 7), (1, 0)),
    "roll_symbolic_shift": lambda x: torch.roll(x, (x.shape[1] // 2 + 1, -x.shape[0]), (0, 1)),
    "roll_flattened": lambda x: torch.roll(x, 3),
}


@pytest.mark.parametrize("opset", [9, 10, 18])
@pytest.mark.parametrize("name", list(_ROLLS))
def test_roll_along_dynamic_axes(name: str, opset: int) -> None:
    """The shift is taken modulo the size in the graph (Python's %, so negative shifts too)."""
    runs = [(torch.randn(h, w),) for h, w in ((1, 1), (2, 5), (4, 3), (9, 4))]
    _check(_ROLLS[name], (torch.randn(4, 3),), runs, ({0: DYNAMIC, 1: DYNAMIC},), opset)


@pytest.mark.parametrize("opset", [9, 18])
def test_windows_of_a_dynamic_length(opset: int) -> None:
    """Tensor.unfold (audio framing): the window count is computed in the graph. torch.export
    wants at least 2 windows (5 samples) on a dynamic length."""
    runs = [(torch.randn(1, length),) for length in (5, 6, 10, 31)] + [(torch.randn(4, 7),)]
    _check(lambda x: x.unfold(-1, 3, 2) * 2, (torch.randn(2, 8),), runs,
           ({0: DYNAMIC, 1: Dim("length", min=5)},), opset)


@pytest.mark.parametrize("opset", [9, 18])
def test_unfold_and_fold_images_of_any_size(opset: int) -> None:
    """F.unfold (im2col) of a dynamic image and F.fold (col2im) back to its size."""
    def fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        columns = F.unfold(x, kernel_size=(2, 3), dilation=(1, 2), padding=(1, 0), stride=(2, 1))
        return columns, F.fold(F.unfold(x, 2, padding=1), x.shape[-2:], 2, padding=1)

    runs = [(torch.randn(n, 2, h, w),) for n, h, w in ((1, 1, 5), (2, 4, 7), (1, 9, 12))]
    _check(fn, (torch.randn(2, 2, 5, 8),), runs, ({0: DYNAMIC, 2: DYNAMIC, 3: DYNAMIC},), opset)


def _columns(height: int) -> torch.Tensor:
    """Columns for a 2x2 kernel, padding 1, stride 2 over a height x 4 image of 3 channels."""
    return torch.randn(1, 3 * 4, (height // 2 + 1) * 3)


@pytest.mark.parametrize("opset", [9, 11, 17, 18])
def test_col2im_with_an_output_size_computed_at_run_time(opset: int) -> None:
    """F.fold to a height read from another input (Col2Im from 18; before, a scatter per kernel offset)."""
    def fn(columns: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.fold(columns, output_size=(like.shape[0], 4), kernel_size=(2, 2), padding=1, stride=2)

    runs = [(_columns(h), torch.randn(h, 1)) for h in (1, 2, 5, 9)]
    _check(fn, (_columns(4), torch.randn(4, 1)), runs, ({2: Dim.AUTO}, {0: Dim.AUTO}), opset)


# -- capture errors ------------------------------------------------------------------------------------
class Pair(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class HalfRows(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, 2, 6)


@pytest.mark.parametrize(("model", "args", "shapes", "expected"), [
    (Pair(), (torch.randn(4, 6), torch.randn(4, 6)), ({0: Dim("a")}, {0: Dim("b")}),
     ["b = y.shape[0] and a = x.shape[0] must always be equal", "b = a", "same Dim"]),
    (HalfRows(), (torch.randn(4, 6),), ({0: Dim("b")},),
     ["b = x.shape[0]", "generated guard", "b = 2*_b", "declare the Dim as torch suggests"]),
])
def test_dynamic_shape_the_model_does_not_allow_is_explained(model: nn.Module, args: tuple[torch.Tensor, ...],
                                                              shapes: object, expected: list[str]) -> None:
    """Named Dims the model ties or restricts stay errors; a size the model fixes is a warning
    (tests/test_pattern_dynamic_axes.py)."""
    with pytest.raises(aten2onnx.CaptureError) as info:
        aten2onnx.export(model, args, dynamic_shapes=shapes)
    message = str(info.value)
    assert message.startswith(f"torch.export could not capture {type(model).__name__} with these dynamic shapes")
    for text in expected:
        assert text in message, message
    assert "Traceback" not in message and "L['" not in message and len(message.splitlines()) < 15
    assert info.value.__cause__ is not None


class _Add(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class _NeedsThreeRows(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x[:3] + y


def test_input_sizes_are_checked_against_what_torch_export_proved() -> None:
    """ONNX has no assertion op: the program checks ranks, static sizes and ranges itself (a size
    outside a range warns: torch's ranges are often cautious), and writes the ranges into the
    model's metadata for other runtimes."""
    n = Dim("n", min=3)
    program = aten2onnx.export(_NeedsThreeRows(), (torch.randn(5, 4), torch.randn(3, 4)),
                              dynamic_shapes=({0: n}, None))
    assert program.model.metadata_props["aten2onnx.size_rules"] == "x.shape[0] = n in [3, inf]"
    x, y = torch.randn(8, 4), torch.randn(3, 4)
    torch.testing.assert_close(program(x, y)[0], x[:3] + y)
    with pytest.warns(InputSizeWarning, match=r"x.shape\[0\] is 2, outside \[3, inf\].*dimension n"):
        with pytest.raises(Exception):  # noqa: B017 - ONNX Runtime's own shape error: 2 rows + 3 rows
            program(torch.randn(2, 4), y)
    with pytest.raises(aten2onnx.ModelInputError, match=r"x.shape\[1\] is 5, the model was exported for 4 only"):
        program(torch.randn(5, 5), y)
    with pytest.raises(aten2onnx.ModelInputError, match="x has 3 dimensions, the model was exported for 2"):
        program(torch.randn(5, 4, 1), y)


def test_dims_that_must_be_equal_are_checked() -> None:
    batch = Dim("batch")
    program = aten2onnx.export(_Add(), (torch.randn(5, 4), torch.randn(5, 4)),
                              dynamic_shapes=({0: batch}, {0: batch}))
    with pytest.raises(aten2onnx.ModelInputError, match=r"y.shape\[0\] is 3 but x.shape\[0\] is 2: the model needs them equal"):
        program(torch.randn(2, 4), torch.randn(3, 4))
