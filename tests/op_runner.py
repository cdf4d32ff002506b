"""Run one ATen op eagerly and as a one-op ONNX model in ONNX Runtime; compare the results.

The ONNX model is built straight from the generated symbolic function (no torch.export),
with the same GraphBuilder and the same post-translation legalization passes the exporter
uses (aten2onnx.exporter.rewrite.passes.legalize), so thousands of examples run in minutes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
import onnxruntime
import torch
from hypothesis import assume

from aten2onnx.codegen.shared.torch_schema import TorchSchema, python_name, resolve_overload
from aten2onnx.exporter.api.program import _to_numpy
from aten2onnx.exporter.dtypes import from_torch_dtype
from aten2onnx.exporter.emit.graph_builder import STRIDED_VIEW_KEY, GraphBuilder, mark_complex, mark_symbolic_scalar
from aten2onnx.exporter.rewrite import passes, runtime_versions
from aten2onnx.exporter.translate import complex_values
from aten2onnx.exporter.translate import registry as mappings
from aten2onnx.exporter.translate.empty_results import empty_result, is_empty_result
from aten2onnx.exporter.translate.translator import _view_layout
from aten2onnx.generated import registry

_SESSION_OPTIONS = onnxruntime.SessionOptions()
_SESSION_OPTIONS.log_severity_level = 3
_SESSION_OPTIONS.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL


def run_eager(overload: str, schema: TorchSchema, arguments: dict[str, Any]) -> Any:
    """The op in eager torch; arguments it writes (in-place ops, list edits) are copied first, so the
    drawn values stay as they were for the ONNX model."""
    op = _LIST_OPS.get(overload) or resolve_overload(overload)
    assert op is not None
    given = {a.name: _copy(arguments[a.name]) if a.mutated else arguments[a.name] for a in schema.arguments}
    positional = [given[a.name] for a in schema.arguments if not a.kwarg_only]
    keywords = {a.name: given[a.name] for a in schema.arguments if a.kwarg_only}
    return op(*positional, **keywords)


def _set_item(items: list[Any], idx: int, el: Any) -> list[Any]:
    items[idx] = el
    return items


# TorchScript's generic list ops take a `t[]` that torch.ops cannot build from a Python list of tensors
# ("Expected a value of type 'List[t]'"); what they compute is Python's list operation itself.
_LIST_OPS: dict[str, Any] = {
    "aten::len.t": len,
    "aten::__getitem__.t": lambda items, idx: items[idx],
    "aten::append.t": lambda items, el: [*items, el],
    "aten::_set_item.t": _set_item,
}


def _copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    return list(value) if isinstance(value, list) else value


# A Python number an op returns (TorchScript's aten::add.int, aten::size.int) is compared as the 0-d
# value the exporter computes for it: int64 for ints, float64 for floats, bool for bools.
_NUMBER_DTYPES = {bool: torch.bool, int: torch.int64, float: torch.float64}


def flatten_outputs(result: Any) -> list[torch.Tensor]:
    """The op's results in order; none for an op that returns nothing (checks such as _assert_async)."""
    if result is None:
        return []
    if isinstance(result, torch.Tensor):
        return [result]
    if type(result) in _NUMBER_DTYPES:
        return [torch.tensor(result, dtype=_NUMBER_DTYPES[type(result)])]
    return [t for item in result for t in flatten_outputs(item)]


@dataclass
class OneOpModel:
    model: ir.Model
    feeds: dict[str, np.ndarray]


def build_one_op_model(overload: str, schema: TorchSchema, arguments: dict[str, Any], opset: int,
                       eager_outputs: list[torch.Tensor], graph_inputs: Collection[str] = (),
                       target_runtime: str | None = passes.DEFAULT_TARGET_RUNTIME,
                       dynamic: Collection[str] = ()) -> OneOpModel:
    """Graph inputs for every tensor argument; the symbolic function emits the rest, and the
    model goes through the same legalization passes as an export for `target_runtime` (the
    installed onnxruntime release, as export's default).

    Arguments named in `graph_inputs` (spec hint `as_input: true`) are fed at run time too: a number
    as a 0-d input standing for a symbolic one (int64, float64 or bool), a tensor list as an ONNX
    sequence, as the TorchScript frontend passes values computed in the graph.
    The arguments named in `dynamic` are known only at run time, as in an export with dynamic
    shapes: a tensor's sizes are symbolic, a number (or each number of a list) is a 0-d graph
    input standing for a SymInt/SymFloat (a constraint's `test: {dynamic: [...]}`).
    """
    g = GraphBuilder(opset, mappings)
    inputs, feeds, call_args = [], {}, {}
    # ONNX has bfloat16 from opset 13: below it such an example is no valid model to compare.
    if opset < 13 and any(t.dtype == torch.bfloat16 for t in _tensors(arguments)):
        assume(False)

    def graph_input(name: str, tensor: torch.Tensor, symbolic: bool = False) -> ir.Value:
        is_complex = tensor.is_complex()
        if is_complex:  # fed as (real, imag) pairs, as the exporter represents complex values
            tensor = torch.view_as_real(tensor.resolve_conj())
        dims = [f"{name}_{i}" for i in range(tensor.dim())] if symbolic else list(tensor.shape)
        value = ir.Value(name=name, type=ir.TensorType(from_torch_dtype(tensor.dtype)), shape=ir.Shape(dims))
        if is_complex:
            mark_complex(value)
        layout = _view_layout(tensor)
        if layout is not None:  # a strided view in eager, marked as export marks one (translate.py)
            value.meta[STRIDED_VIEW_KEY] = layout
        inputs.append(value)
        feeds[name] = _to_numpy(tensor)
        return value

    def number_input(name: str, number: Any) -> ir.Value:
        """A number of a TorchScript graph, computed at run time: int64, float64 or bool."""
        dtype = _NUMBER_DTYPES[type(number)]
        value = ir.Value(name=name, type=ir.TensorType(from_torch_dtype(dtype)), shape=ir.Shape([]))
        mark_symbolic_scalar(value)
        inputs.append(value)
        feeds[name] = np.array(number, dtype=torch.empty((), dtype=dtype).numpy().dtype)
        return value

    def sequence_input(name: str, tensors: list[torch.Tensor]) -> ir.Value:
        dtype = tensors[0].dtype if tensors else torch.float32
        value = ir.Value(name=name, type=ir.SequenceType(ir.TensorType(from_torch_dtype(dtype))))
        inputs.append(value)
        feeds[name] = [_to_numpy(t) for t in tensors]
        return value

    def symbolic_number(name: str, number: Any) -> ir.Value:
        value = graph_input(name, torch.tensor(number, dtype=torch.int64 if isinstance(number, int) else torch.float64))
        mark_symbolic_scalar(value)
        return value

    for arg in schema.arguments:
        value = arguments[arg.name]
        symbolic = arg.name in dynamic
        if arg.name in graph_inputs and type(value) in _NUMBER_DTYPES:
            value = number_input(arg.name, value)
        elif arg.name in graph_inputs and isinstance(value, list):
            value = sequence_input(arg.name, value)
        elif isinstance(value, torch.Tensor):
            value = graph_input(arg.name, value, symbolic)
        elif isinstance(value, list) and any(isinstance(v, torch.Tensor) for v in value):
            # Optional-tensor lists (index.Tensor's indices) may hold None between tensors.
            value = [graph_input(f"{arg.name}_{i}", t, symbolic) if isinstance(t, torch.Tensor) else t
                     for i, t in enumerate(value)]
        elif symbolic and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = symbolic_number(arg.name, value)
        elif symbolic and isinstance(value, list):
            value = [symbolic_number(f"{arg.name}_{i}", v) for i, v in enumerate(value)]
        call_args[python_name(arg.name)] = value

    function = registry.lookup(overload, opset)
    assert function is not None, f"{overload} has no mapping at opset {opset}"
    # a complex input or output takes the entry's `complex:` form, as translation does
    function = complex_values.symbolic_for(overload, function, call_args, eager_outputs, opset)
    if not dynamic and is_empty_result(tuple(eager_outputs)):  # as the translator does: torch recorded it
        result = empty_result(g, tuple(eager_outputs))
    else:
        with g.translating(overload, "", None):
            result = function(g, **call_args)
    results = [v if isinstance(v, ir.Value) else g.constant(v, _NUMBER_DTYPES.get(type(v)))
               for v in flatten_outputs_values(result)]
    sequences = [v for v in results if isinstance(v.type, ir.SequenceType)]
    if sequences:  # a list built at run time: one ONNX output holding every tensor torch returns
        if len(results) != 1:
            raise AssertionError(f"{overload}: the mapping returns a sequence among other outputs")
        output = g.op("Identity", results[0]) if results[0] in inputs else results[0]
        output.name, output.type = "output_0", results[0].type
        graph = ir.Graph(inputs, [output], nodes=g.nodes, opset_imports={"": opset}, name=overload)
        ir_version = onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)])
        model = ir.Model(graph, ir_version=max(ir_version, 8))
        passes.legalize(model, target_runtime)  # as export does after translation
        return OneOpModel(model, feeds)
    if len(results) != len(eager_outputs):
        raise AssertionError(f"{overload}: the mapping returns {len(results)} outputs, torch {len(eager_outputs)}")
    outputs = []
    for index, (value, expected) in enumerate(zip(results, eager_outputs)):
        if value in inputs or value in outputs:
            value = g.op("Identity", value)
        value.name = f"output_{index}"
        expected = torch.view_as_real(expected.resolve_conj()) if expected.is_complex() else expected  # (real, imag) pairs
        value.dtype = from_torch_dtype(expected.dtype)
        value.shape = ir.Shape(expected.shape)
        if expected.dtype == torch.bfloat16:  # numpy has no bfloat16: read it back as float32 (exactly)
            value.name = f"output_{index}_bfloat16"
            value = g.cast(value, torch.float32)
            value.name, value.dtype, value.shape = f"output_{index}", ir.DataType.FLOAT, ir.Shape(expected.shape)
        outputs.append(value)
    graph = ir.Graph(inputs, outputs, nodes=g.nodes, opset_imports={"": opset}, name=overload)
    ir_version = onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)])
    model = ir.Model(graph, ir_version=max(ir_version, 8))
    runtime_version = runtime_versions.installed_version() if target_runtime is not None else None
    passes.legalize(model, target_runtime, runtime_version)  # as export does after translation
    return OneOpModel(model, feeds)


def _tensors(arguments: dict[str, Any]) -> list[torch.Tensor]:
    values = [v for a in arguments.values() for v in (a if isinstance(a, (list, tuple)) else [a])]
    return [v for v in values if isinstance(v, torch.Tensor)]


def _ort_feed(array: np.ndarray) -> Any:
    """onnxruntime takes bfloat16 (which numpy lacks) only as an OrtValue of the raw bits."""
    if array.dtype.name == "bfloat16":
        return onnxruntime.OrtValue.ortvalue_from_numpy_with_onnx_type(array.view(np.uint16), onnx.TensorProto.BFLOAT16)
    return array


def flatten_outputs_values(result: Any) -> list[Any]:
    """The mapping's results in order: ONNX values, and Python numbers it computed at export time."""
    if isinstance(result, ir.Value) or type(result) in _NUMBER_DTYPES:
        return [result]
    if result is None:
        return []
    return [v for item in result for v in flatten_outputs_values(item)]


def run_onnx(model: OneOpModel) -> list[torch.Tensor]:
    proto = ir.serde.serialize_model(model.model)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), _SESSION_OPTIONS,
                                           providers=["CPUExecutionProvider"])
    feeds = {name: [_ort_feed(a) for a in array] if isinstance(array, list) else _ort_feed(array)
             for name, array in model.feeds.items()}
    outputs = []
    for out in session.run(None, feeds):  # a sequence output comes back as a list of arrays
        outputs += [torch.from_numpy(np.array(o)) for o in out] if isinstance(out, list) else [torch.from_numpy(np.array(out))]
    return outputs


def _assert_same_type(index: int, got: torch.Tensor, want: torch.Tensor) -> None:
    if got.dtype != want.dtype and not (want.dtype == torch.bfloat16 and got.dtype == torch.float32):
        raise AssertionError(f"output {index}: ONNX Runtime gives {got.dtype}, torch {want.dtype}")
    if tuple(got.shape) != tuple(want.shape):
        raise AssertionError(f"output {index}: ONNX Runtime gives shape {tuple(got.shape)}, torch {tuple(want.shape)}")


# (atol, rtol) floors for half-precision outputs: a few units in the last place, since ONNX Runtime
# rounds after every node of a composite emission where torch often rounds once (or accumulates in
# the half dtype). atol also scales with the output's magnitude: sums that cancel keep the rounding
# error of their terms.
_HALF_TOLERANCE = {torch.float16: (2e-3, 4e-3), torch.bfloat16: (2e-2, 3.2e-2)}


def assert_same(actual: list[torch.Tensor], expected: list[torch.Tensor], atol: float, rtol: float,
                signed_zeros: bool = False) -> None:
    """dtype and shape must match exactly; values within tolerance (exactly for ints/bools); with
    `signed_zeros` (spec hint), floating values carry torch's sign bit wherever torch gives +-0."""
    for index, (got, want) in enumerate(zip(actual, expected)):
        want = torch.view_as_real(want.resolve_conj()) if want.is_complex() else want  # ONNX gives (real, imag) pairs
        _assert_same_type(index, got, want)
        exact = not want.dtype.is_floating_point
        floor_atol, floor_rtol = _HALF_TOLERANCE.get(want.dtype, (0.0, 0.0))
        if floor_rtol and want.numel():
            floor_atol = max(floor_atol, floor_rtol * float(want.float().nan_to_num(0, 0, 0).abs().max()))
        torch.testing.assert_close(got.to(want.dtype), want, atol=0 if exact else max(atol, floor_atol),
                                   rtol=0 if exact else max(rtol, floor_rtol),
                                   equal_nan=True, msg=lambda m, i=index: f"output {i}: {m}")
        if signed_zeros and want.dtype.is_floating_point:
            _assert_signs_of_zero(index, got.to(want.dtype), want)


def _assert_signs_of_zero(index: int, got: torch.Tensor, want: torch.Tensor) -> None:
    zero = want == 0
    wrong = zero & (torch.signbit(got) != torch.signbit(want))
    if wrong.any():
        where = wrong.nonzero()[0].tolist()
        raise AssertionError(f"output {index}: torch gives {want[tuple(where)].item()!r} at {where}, ONNX Runtime "
                             f"{got[tuple(where)].item()!r} ({int(wrong.sum())} of {int(zero.sum())} zeros differ in sign)")


# -- random ops (spec hint `random:`) ---------------------------------------------------------------
MIN_MOMENT_SAMPLES = 256  # smaller samples: no mean/variance comparison
_SIGMAS = 6.0             # a two-sample difference this many standard errors out fails


def assert_same_random(actual: list[torch.Tensor], expected: list[torch.Tensor], hint: dict[str, Any],
                       arguments: dict[str, Any]) -> None:
    """Random (or undefined) values: dtype and shape exactly, then what the hint asks for.

    `moments` (default true): each output's mean and variance agree with torch's own sample
    within _SIGMAS standard errors (from the samples' variances and fourth moments);
    `range: [lo, hi]`: every value in [lo, hi) for integer outputs, [lo, hi] for floats (numbers
    or argument names); `values`: every value is one of these; `check`: a RANDOM_CHECKS entry.
    """
    for index, (got, want) in enumerate(zip(actual, expected)):
        _assert_same_type(index, got, want)
    if "check" in hint:
        if hint["check"] not in RANDOM_CHECKS:
            raise AssertionError(f"unknown random check '{hint['check']}'; known: {', '.join(RANDOM_CHECKS)}")
        RANDOM_CHECKS[hint["check"]](actual, expected, arguments)
    for index, got in enumerate(actual):
        values = got.double()
        if "range" in hint:
            low, high = (arguments[b] if isinstance(b, str) else b for b in hint["range"])
            inside = (values >= low) & ((values < high) if not got.dtype.is_floating_point else (values <= high))
            if not bool(inside.all()):
                raise AssertionError(f"output {index}: values {values[~inside][:5].tolist()} outside [{low}, {high})")
        if "values" in hint:
            allowed = torch.isin(values, torch.tensor(hint["values"], dtype=torch.float64))
            if not bool(allowed.all()):
                raise AssertionError(f"output {index}: values {values[~allowed][:5].tolist()} not in {hint['values']}")
    if hint.get("moments", True):
        for index, (got, want) in enumerate(zip(actual, expected)):
            _assert_same_moments(index, got, want)


def _assert_same_moments(index: int, got: torch.Tensor, want: torch.Tensor) -> None:
    a, b = got.double().flatten(), want.double().flatten()
    if a.numel() < MIN_MOMENT_SAMPLES or not (a.isfinite().all() and b.isfinite().all()):
        return
    stats = []
    for x in (a, b):
        mean = x.mean()
        var = ((x - mean) ** 2).mean()
        fourth = ((x - mean) ** 4).mean()
        stats.append((float(mean), float(var), max(float(fourth - var * var), 0.0), x.numel()))
    (ma, va, ka, na), (mb, vb, kb, nb) = stats
    scale = max(abs(ma), abs(mb), va ** 0.5, vb ** 0.5, 1e-12)
    slack = 2e-3 * scale  # rounding of float16 samples
    mean_tol = _SIGMAS * (va / na + vb / nb) ** 0.5 + slack
    # the variance estimate's own spread, plus the bias of centring on the sample mean
    var_tol = _SIGMAS * (ka / na + kb / nb) ** 0.5 + _SIGMAS ** 2 * (va / na + vb / nb) + slack * scale
    if abs(ma - mb) > mean_tol:
        raise AssertionError(f"output {index}: mean {ma:.5g} (ONNX Runtime) vs {mb:.5g} (torch), tolerance {mean_tol:.3g}")
    if abs(va - vb) > var_tol:
        raise AssertionError(f"output {index}: variance {va:.5g} (ONNX Runtime) vs {vb:.5g} (torch), "
                             f"tolerance {var_tol:.3g}")


def _check_permutation(actual: list[torch.Tensor], expected: list[torch.Tensor], arguments: dict[str, Any]) -> None:
    got = actual[0].double().sort().values
    if not torch.equal(got, torch.arange(got.numel(), dtype=torch.float64)):
        raise AssertionError(f"not a permutation of 0..{got.numel() - 1}: {actual[0][:10].tolist()}")


def _check_multinomial(actual: list[torch.Tensor], expected: list[torch.Tensor], arguments: dict[str, Any]) -> None:
    """Indices of categories with nonzero weight; without replacement, distinct in each row."""
    weights, drawn = arguments["self"], actual[0]
    rows_w, rows_d = (weights, drawn) if weights.dim() == 2 else (weights[None], drawn[None])
    if bool(((rows_d < 0) | (rows_d >= rows_w.shape[-1])).any()):
        raise AssertionError(f"category indices out of range: {drawn.tolist()}")
    if bool((rows_w.gather(1, rows_d) == 0).any()):
        raise AssertionError(f"a category of weight 0 was drawn: {drawn.tolist()}")
    if not arguments["replacement"] and any(len(set(r.tolist())) != len(r) for r in rows_d):
        raise AssertionError(f"without replacement, a row repeats a category: {drawn.tolist()}")


def _check_dropout(actual: list[torch.Tensor], expected: list[torch.Tensor], arguments: dict[str, Any]) -> None:
    """(output, mask): output is input / (1 - p) where the mask is set, 0 elsewhere (p = 1: all 0)."""
    (output, mask), source = actual, arguments["input"]
    if mask.dtype != torch.bool or source.numel() == 0:
        return
    if arguments["train"] is False:
        if not (bool(mask.all()) and torch.equal(output, source)):
            raise AssertionError("train=False must give the input and an all-True mask")
        return
    p = arguments["p"]
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    wanted = torch.where(mask, source.double() * scale, torch.zeros((), dtype=torch.float64))
    tol = 1e-2 if source.dtype == torch.float16 else 1e-5
    torch.testing.assert_close(output.double(), wanted, atol=tol, rtol=tol,
                               msg=lambda m: f"dropout output is not input * mask / (1 - p): {m}")


def _spectral_tolerance(dtype: torch.dtype) -> dict[str, float]:
    return {"atol": 1e-4, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 1e-9, "rtol": 1e-9}


def _check_eigh(actual: list[torch.Tensor], expected: list[torch.Tensor], arguments: dict[str, Any]) -> None:
    """(eigenvalues, eigenvectors): values as torch's; each eigenvector as torch's up to its sign
    (unique only up to sign), in well-separated spectra (the hints draw those)."""
    (values, vectors), (want_values, want_vectors) = actual, expected
    tolerance = _spectral_tolerance(values.dtype)
    torch.testing.assert_close(values, want_values, **tolerance, msg=lambda m: f"eigenvalues: {m}")
    if want_vectors.numel():
        signs = torch.sign((vectors * want_vectors).sum(-2, keepdim=True))
        torch.testing.assert_close(vectors * signs, want_vectors, **tolerance, msg=lambda m: f"eigenvectors: {m}")


def _check_svd(actual: list[torch.Tensor], expected: list[torch.Tensor], arguments: dict[str, Any]) -> None:
    """(U, S, Vh): S as torch's; each singular vector pair (U's column, Vh's row) as torch's up to one
    shared sign."""
    (u, s, vh), (want_u, want_s, want_vh) = actual, expected
    tolerance = _spectral_tolerance(s.dtype)
    torch.testing.assert_close(s, want_s, **tolerance, msg=lambda m: f"singular values: {m}")
    if want_u.numel():
        signs = torch.sign((u * want_u).sum(-2, keepdim=True))
        torch.testing.assert_close(u * signs, want_u, **tolerance, msg=lambda m: f"U: {m}")
        torch.testing.assert_close(vh * signs.mT, want_vh, **tolerance, msg=lambda m: f"Vh: {m}")


RANDOM_CHECKS = {"permutation": _check_permutation, "multinomial": _check_multinomial, "dropout": _check_dropout,
                 "eigh": _check_eigh, "svd": _check_svd}
