"""Dtypes ONNX allows for an op but ONNX Runtime's CPU provider has no kernel for: data.

The `ort-kernel-gaps` pass (exporter/rewrite/kernel_gap_pass.py) rewrites, after translation, every
node this table names; specs and exporter/lib state ONNX semantics only and never work around
one runtime's kernels. Two kinds of entry:

- `ExactForm`: an exact float64 expansion of the op into ops ONNX Runtime runs in double
  (Elu, Selu, Celu, LeakyRelu, PRelu, ThresholdedRelu, HardSigmoid, HardSwish, Softplus,
  Softsign, Mish, Tan, Asin), emitted instead of the op;
- `KernelGap`: otherwise, the inputs of the missing dtype are cast to a dtype it has and the
  results cast back (every output of the node: LayerNormalization's statistics too).

A third kind, `NodeForm` (at the end), rewrites a node whose attributes or input shapes a release
refuses or computes wrongly, whatever the dtype: found by the op suite, not by the probes.

Every entry was found by running a one-node model in ONNX Runtime 1.31 and 1.32 at opsets
9..26 (a "Could not find an implementation" or "data type is not supported" error). Each entry
holds the ONNX opsets and the onnxruntime versions it applies to (`VersionRange`; open ends by
default, for every version measured), so knowledge of a fixed or a new gap is one more row.

Exact entries hold every value of the missing dtype in the compute dtype and give the same
result after the cast back. Entries marked lossy compute float64 in float32 (no double kernel,
and no exact float64 form is reasonable); SUPPORT.md lists them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c

_D = ir.DataType
RUNTIME = "onnxruntime"


def parse_version(text: str) -> tuple[int, ...]:
    """'1.31.0' -> (1, 31, 0); a suffix such as '+cpu' or 'rc1' is ignored."""
    parts = []
    for piece in text.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@dataclass(frozen=True)
class VersionRange:
    """onnxruntime versions from `first` to `last` inclusive ('1.31'); None leaves that end open.

    A version compares on the parts both name: '1.31' contains 1.31.0 and 1.31.1.
    """

    first: str | None = None
    last: str | None = None

    def __contains__(self, version: str | None) -> bool:
        if version is None:  # the target version is not known: every known gap applies
            return True
        have = parse_version(version)
        if self.first is not None and have[:len(parse_version(self.first))] < parse_version(self.first):
            return False
        return not (self.last is not None and have[:len(parse_version(self.last))] > parse_version(self.last))


EVERY_VERSION = VersionRange()
EVERY_OPSET = (1, None)


def _in_opsets(opsets: tuple[int, int | None], opset: int) -> bool:
    return opsets[0] <= opset and (opsets[1] is None or opset <= opsets[1])


@dataclass(frozen=True)
class KernelGap:
    """No kernel for `op_type` with an input of a dtype in `compute`: computed in the mapped dtype."""

    op_type: str
    compute: Mapping[ir.DataType, ir.DataType]  # missing dtype -> dtype to compute in
    reductions: frozenset[str] | None = None    # only with these `reduction` attributes
    opsets: tuple[int, int | None] = EVERY_OPSET  # ONNX opsets (first, last) where the gap is
    versions: VersionRange = EVERY_VERSION      # onnxruntime versions that have the gap
    lossy: bool = False                         # float64 computed in float32


@dataclass(frozen=True)
class ExactForm:
    """No float64 kernel for `op_type`: `expand(g, *inputs, **attributes)` computes it exactly."""

    op_type: str
    expand: Callable[..., ir.Value]
    opsets: tuple[int, int | None] = EVERY_OPSET
    versions: VersionRange = EVERY_VERSION


_SCATTER_REDUCE = frozenset({"add", "mul", "max", "min"})
_WIDEN_HALF = {_D.FLOAT16: _D.FLOAT, _D.BFLOAT16: _D.FLOAT}
_DOUBLE_IN_FLOAT = {_D.DOUBLE: _D.FLOAT}
_WIDEN_BFLOAT16 = {_D.BFLOAT16: _D.FLOAT}

GAPS: tuple[KernelGap, ...] = (
    # Scatter with a reduction has no float16/bfloat16 kernel (ScatterElements float16 max/min
    # does run; computing them in float32 too is exact). float32 holds every half value, and
    # the one rounding back is at least as close to torch as a half accumulation.
    KernelGap("ScatterElements", _WIDEN_HALF, reductions=_SCATTER_REDUCE),
    KernelGap("ScatterND", _WIDEN_HALF, reductions=_SCATTER_REDUCE),
    # ... nor bool max/min (or/and): uint8 0/1 max/min is exactly that.
    KernelGap("ScatterElements", {_D.BOOL: _D.UINT8}, reductions=frozenset({"max", "min"})),
    KernelGap("ScatterND", {_D.BOOL: _D.UINT8}, reductions=frozenset({"max", "min"})),
    # Trilu only zeroes elements: any dtype that holds the values gives the same result.
    KernelGap("Trilu", {_D.INT8: _D.INT32, _D.UINT8: _D.INT32, _D.INT16: _D.INT32, _D.BFLOAT16: _D.FLOAT}),
    # NonZero only asks x != 0, which Cast to bool answers exactly (a float64 too small for
    # float32 stays nonzero; NaN is nonzero in both).
    KernelGap("NonZero", {_D.DOUBLE: _D.BOOL, _D.INT8: _D.BOOL, _D.INT16: _D.BOOL, _D.BFLOAT16: _D.BOOL}),
    # No int16 (int8 with uint8 promotes to int16) or bfloat16 kernels: selecting and comparing
    # in a wider dtype is exact.
    KernelGap("Max", {_D.INT16: _D.INT32, _D.BFLOAT16: _D.FLOAT}),
    KernelGap("Min", {_D.INT16: _D.INT32, _D.BFLOAT16: _D.FLOAT}),
    KernelGap("Where", {_D.INT16: _D.INT32, _D.BFLOAT16: _D.FLOAT, _D.BOOL: _D.UINT8}),  # bool: 1.26 to 1.32
    # float32 kernels only (float64 of Tan and Asin has an exact form below): half inputs are
    # computed in float32 and rounded once, as torch does (ONNX Runtime would insert the same
    # casts for float16 itself; it has no bfloat16 kernels at all).
    *(KernelGap(op, _WIDEN_HALF) for op in ("Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Acosh", "Asinh",
                                           "Atanh", "Erf")),
    # Lossy: no double kernels for these, and no exact float64 decomposition worth its cost.
    *(KernelGap(op, _DOUBLE_IN_FLOAT, lossy=True) for op in ("Acos", "Atan", "Sinh", "Cosh", "Acosh", "Asinh",
                                                             "Atanh", "Erf")),
    KernelGap("Conv", _DOUBLE_IN_FLOAT, lossy=True),
    KernelGap("ConvTranspose", _DOUBLE_IN_FLOAT, lossy=True),
    KernelGap("AveragePool", _DOUBLE_IN_FLOAT, lossy=True),
    KernelGap("GlobalAveragePool", _DOUBLE_IN_FLOAT, lossy=True),
    KernelGap("GridSample", _DOUBLE_IN_FLOAT, opsets=(1, 19), lossy=True),
    # bfloat16: the CPU provider (1.26 to 1.32) runs it only in data movement (Gather, Slice, Concat,
    # Reshape, Transpose, ...), Cast, Clip and Sign. Every other op the specs emit is computed in
    # float32 and rounded once, which is what torch's CPU kernels do for bfloat16 (they compute in
    # float32); a data-movement op is exact in any dtype that holds the values. Found by
    # scripts/probe_ort_kernels.py (one bfloat16 node per op at each opset where its schema changes).
    *(KernelGap(op, _WIDEN_BFLOAT16) for op in (
        "Abs", "Neg", "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Reciprocal", "Sqrt", "Exp", "Log", "Sin", "Cos",
        "Tanh", "Sigmoid", "Ceil", "Floor", "Round", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "HardSigmoid",
        "HardSwish", "Softplus", "Mish", "Gelu",
        "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
        "ArgMax", "ArgMin", "ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd", "ReduceSum", "CumSum", "TopK",
        "Softmax", "LogSoftmax",
        "MatMul", "Gemm", "Conv", "ConvTranspose", "AveragePool", "GlobalAveragePool", "MaxPool",
        "BatchNormalization", "InstanceNormalization", "Dropout", "Resize", "GridSample", "DFT", "RNN", "GRU", "LSTM",
        "Expand", "Tile", "DepthToSpace", "SpaceToDepth", "Size")),
    KernelGap("IsNaN", _WIDEN_BFLOAT16, opsets=(1, 19)),  # a bfloat16 kernel from opset 20
    KernelGap("Pad", _WIDEN_BFLOAT16, opsets=(1, 20)),    # from 21: the row below
    # -- gaps that later releases closed (scripts/probe_ort_kernels.py, every release 1.17-1.32) --
    # Data movement only, so any dtype holding the values is exact (float32 holds every uint8).
    KernelGap("SpaceToDepth", {_D.UINT8: _D.FLOAT}, versions=VersionRange(last="1.27")),
    KernelGap("Pad", {_D.BFLOAT16: _D.FLOAT}, opsets=(21, None), versions=VersionRange(last="1.31")),
    # Selecting in a wider dtype is exact; Trilu int32 itself arrived in 1.29 (int8 -> int32 -> int64).
    KernelGap("Trilu", {_D.INT32: _D.INT64}, versions=VersionRange(last="1.28")),
    KernelGap("Where", {_D.INT8: _D.INT32}, versions=VersionRange(last="1.30")),
    # bfloat16 layer norm in float32, rounded once: what torch computes.
    KernelGap("LayerNormalization", {_D.BFLOAT16: _D.FLOAT}, versions=VersionRange(last="1.29")),
)


def _standard(domain: str) -> bool:
    return domain in ("", "ai.onnx")


def compute_dtype(op_type: str, domain: str, opset: int, dtypes: Sequence[ir.DataType | None],
                  reduction: str | None, version: str | None = None) -> tuple[ir.DataType, ir.DataType] | None:
    """(missing dtype, compute dtype) when ONNX Runtime `version` lacks `op_type` for an input's dtype."""
    if not _standard(domain):
        return None
    for gap in GAPS:
        if gap.op_type != op_type or not _in_opsets(gap.opsets, opset) or version not in gap.versions:
            continue
        if gap.reductions is not None and (reduction or "none") not in gap.reductions:
            continue
        for dtype in dtypes:
            if dtype is not None and dtype in gap.compute:
                return dtype, gap.compute[dtype]
    return None


def lossy_gaps() -> list[KernelGap]:
    """The entries that compute float64 in float32 (listed in SUPPORT.md)."""
    return [gap for gap in GAPS if gap.lossy]


# -- exact float64 forms ---------------------------------------------------------------------------
# ONNX Runtime runs these in double at few opsets (most only at 18; LeakyRelu and PRelu 16-18;
# Celu, Tan, Asin never). Each expansion follows the ONNX op's definition with
# ops that have double kernels from opset 9 (Exp, Log, Sqrt, Sin, Cos, Where, Less, Greater,
# Max, Min), written to keep float64 precision where the naive formula would lose it.


def _f(g: GraphBuilder, value: float) -> ir.Value:
    return g.constant(value, torch.float64)


def _expm1_nonpositive(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """exp(x) - 1 for x <= 0, accurate near 0: (u - 1) * x / log(u) with u = exp(x) (Kahan);
    x where u rounds to 1; plain u - 1 below -1, where there is no cancellation."""
    u = g.op("Exp", x)
    d = g.op("Sub", u, _f(g, 1.0))
    kahan = g.op("Div", g.op("Mul", d, x), g.op("Log", u))
    near_zero = g.op("Where", g.op("Less", u, _f(g, 1.0)), kahan, x)
    return g.op("Where", g.op("Less", x, _f(g, -1.0)), d, near_zero)


def _log1p_unit(g: GraphBuilder, u: ir.Value) -> ir.Value:
    """log(1 + u) for 0 <= u <= 1, accurate for small u: log(w) * u / (w - 1) with w = 1 + u."""
    w = g.op("Add", u, _f(g, 1.0))
    d = g.op("Sub", w, _f(g, 1.0))
    return g.op("Where", g.op("Greater", d, _f(g, 0.0)), g.op("Div", g.op("Mul", g.op("Log", w), u), d), u)


def _elu(g: GraphBuilder, x: ir.Value, alpha: float = 1.0) -> ir.Value:
    negative = g.op("Mul", _expm1_nonpositive(g, x), _f(g, alpha))
    return g.op("Where", g.op("Less", x, _f(g, 0.0)), negative, x)


def _selu(g: GraphBuilder, x: ir.Value, alpha: float = 1.67326319217681884765625,
          gamma: float = 1.05070102214813232421875) -> ir.Value:
    return g.op("Mul", _elu(g, x, alpha), _f(g, gamma))


def _leaky_relu(g: GraphBuilder, x: ir.Value, alpha: float = 0.01) -> ir.Value:
    return g.op("Where", g.op("Less", x, _f(g, 0.0)), g.op("Mul", x, _f(g, alpha)), x)


def _hard_sigmoid(g: GraphBuilder, x: ir.Value, alpha: float = 0.2, beta: float = 0.5) -> ir.Value:
    linear = g.op("Add", g.op("Mul", x, _f(g, alpha)), _f(g, beta))
    return g.op("Max", g.op("Min", linear, _f(g, 1.0)), _f(g, 0.0))


def _celu(g: GraphBuilder, x: ir.Value, alpha: float = 1.0) -> ir.Value:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)); ONNX requires alpha > 0."""
    negative = g.op("Mul", _expm1_nonpositive(g, g.op("Div", x, _f(g, alpha))), _f(g, alpha))
    return g.op("Where", g.op("Less", x, _f(g, 0.0)), negative, x)


def _prelu(g: GraphBuilder, x: ir.Value, slope: ir.Value) -> ir.Value:
    return g.op("Where", g.op("Less", x, _f(g, 0.0)), g.op("Mul", x, slope), x)


def _thresholded_relu(g: GraphBuilder, x: ir.Value, alpha: float = 1.0) -> ir.Value:
    return g.op("Where", g.op("Greater", x, _f(g, alpha)), x, _f(g, 0.0))


def _hard_swish(g: GraphBuilder, x: ir.Value) -> ir.Value:
    return g.op("Mul", x, _hard_sigmoid(g, x, 1 / 6, 0.5))


def _softsign(g: GraphBuilder, x: ir.Value) -> ir.Value:
    return g.op("Div", x, g.op("Add", g.op("Abs", x), _f(g, 1.0)))


def _mish(g: GraphBuilder, x: ir.Value) -> ir.Value:
    return g.op("Mul", x, g.op("Tanh", _softplus(g, x)))


def _softplus(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): no overflow, no cancellation."""
    tail = _log1p_unit(g, g.op("Exp", g.op("Neg", g.op("Abs", x))))
    return g.op("Add", g.op("Max", x, _f(g, 0.0)), tail)


def _cos(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """1 - 2 sin(x / 2)**2: halving is exact, and the error stays within a few units of 1e-16."""
    s = g.op("Sin", g.op("Mul", x, _f(g, 0.5)))
    return g.op("Sub", _f(g, 1.0), g.op("Mul", g.op("Mul", s, s), _f(g, 2.0)))


def _tan(g: GraphBuilder, x: ir.Value) -> ir.Value:
    return g.op("Div", g.op("Sin", x), g.op("Cos", x))


def _asin(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """asin(|x|) from float32 Asin refined by two Newton steps on sin(y) = z in double, with
    z = |x| up to 0.5 and asin(|x|) = pi/2 - 2 asin(sqrt((1 - |x|) / 2)) above (where Newton
    near the flat top of sin would be ill-conditioned; 1 - |x| is exact there); then the sign."""
    a = g.op("Abs", x)
    small = g.op("Less", a, _f(g, 0.5))
    z = g.op("Where", small, a, g.op("Sqrt", g.op("Mul", g.op("Sub", _f(g, 1.0), a), _f(g, 0.5))))
    y = g.cast(g.op("Asin", g.cast(z, torch.float32)), torch.float64)
    for _ in range(2):  # each step squares the error: 1e-7 -> 1e-14 -> double rounding
        y = g.op("Sub", y, g.op("Div", g.op("Sub", g.op("Sin", y), z), g.op("Cos", y)))
    magnitude = g.op("Where", small, y, g.op("Sub", _f(g, math.pi / 2), g.op("Mul", y, _f(g, 2.0))))
    return g.op("Where", g.op("Less", x, _f(g, 0.0)), g.op("Neg", magnitude), magnitude)


FORMS: tuple[ExactForm, ...] = tuple(ExactForm(op, form) for op, form in (
    ("Elu", _elu), ("Selu", _selu), ("Celu", _celu), ("LeakyRelu", _leaky_relu), ("PRelu", _prelu),
    ("ThresholdedRelu", _thresholded_relu), ("HardSigmoid", _hard_sigmoid), ("HardSwish", _hard_swish),
    ("Softplus", _softplus), ("Softsign", _softsign), ("Mish", _mish), ("Tan", _tan), ("Asin", _asin),
)) + (
    # Cos had no double kernel up to 1.28 (Tan's and Asin's forms use it too: their Cos nodes are rewritten in turn).
    ExactForm("Cos", _cos, versions=VersionRange(last="1.28")),
)


def exact_form(op_type: str, domain: str, opset: int, dtypes: Sequence[ir.DataType | None],
               version: str | None = None) -> Callable[..., ir.Value] | None:
    """The exact float64 expansion of `op_type` when every input is float64; None otherwise.
    Call it as `form(g, *inputs, **attributes)` with the op's ONNX attributes (plain names)."""
    if not _standard(domain) or not dtypes or any(d != _D.DOUBLE for d in dtypes):
        return None
    for form in FORMS:
        if form.op_type == op_type and _in_opsets(form.opsets, opset) and version in form.versions:
            return form.expand
    return None


# -- forms for an attribute combination a release cannot run ---------------------------------------


@dataclass(frozen=True)
class NodeForm:
    """`op_type` with these attribute values or input shapes fails (or computes wrongly) in the listed
    releases, whatever the dtype: `applies(node)` picks the nodes, `expand(g, *inputs, **attributes)`
    computes the same."""

    op_type: str
    applies: Callable[[ir.Node], bool]
    expand: Callable[..., ir.Value]
    opsets: tuple[int, int | None] = EVERY_OPSET
    versions: VersionRange = EVERY_VERSION


def _int_attribute(node: ir.Node, name: str) -> int:
    attribute = node.attributes.get(name)
    return attribute.as_int() if attribute is not None else 0


def _static_int(value: ir.Value) -> int | None:
    """The integer a Constant node's output (or an initializer) holds; None when not known."""
    tensor = value.const_value
    producer = value.producer()
    if tensor is None and producer is not None and producer.op_type == "Constant" and "value" in producer.attributes:
        tensor = producer.attributes["value"].as_tensor()
    return int(tensor.numpy().reshape(-1)[0]) if tensor is not None and tensor.size == 1 else None


def _is_onesided_inverse(node: ir.Node) -> bool:
    """DFT's one-sided inverse (IRFFT) with its length and a static axis given."""
    has_length = len(node.inputs) > 1 and node.inputs[1] is not None
    static_axis = len(node.inputs) < 3 or node.inputs[2] is None or _static_int(node.inputs[2]) is not None
    return _int_attribute(node, "inverse") == 1 and _int_attribute(node, "onesided") == 1 and has_length \
        and static_axis


def _full_spectrum_inverse(g: GraphBuilder, x: ir.Value, length: ir.Value, axis_input: ir.Value | None = None, *,
                           axis: int = 1, inverse: int = 1, onesided: int = 1) -> ir.Value:
    """IRFFT as the real part of a complex inverse DFT of the whole Hermitian spectrum: bins
    m..n-1 are conj(X[n-m]), ..., conj(X[1]) for X's m bins and n = `length`. The real part is
    what the one-sided inverse gives (the imaginary parts of X[0] and of X[n/2] only ever reach
    the imaginary part)."""
    if axis_input is not None:
        static_axis = _static_int(axis_input)
        assert static_axis is not None, "_is_onesided_inverse admits a static axis only"
        axis = static_axis
    rank = len(x.shape) if x.shape is not None else None
    axis = axis + rank if axis < 0 and rank is not None else axis
    axes = g.constant([axis], torch.int64)
    n = g.op("Reshape", g.cast(length, torch.int64), g.constant([1], torch.int64))
    m = g.op("Gather", g.op("Shape", x), axes, axis=0)
    tail = g.op("Slice", x, g.op("Sub", n, m), g.constant([0], torch.int64), axes, g.constant([-1], torch.int64))
    conj = g.op("Mul", tail, g.cast(g.constant([1.0, -1.0]), g.known_dtype(x)))
    full = g.op("Concat", x, conj, axis=axis)
    inverse_inputs = [full, length] + ([axis_input] if axis_input is not None else [])
    attributes: dict[str, Any] = {"axis": axis} if axis_input is None else {}
    y = g.op("DFT", *inverse_inputs, inverse=1, onesided=0, **attributes)
    return g.op("Slice", y, g.constant([0], torch.int64), g.constant([1], torch.int64),
                g.constant([-1], torch.int64))


_ROWS_ZEROED = "aten2onnx.masked_rows_zeroed"  # node.meta: an Attention whose fully masked rows are zeroed


def _masks_rows(node: ir.Node) -> bool:
    """Attention with a boolean mask, not yet followed by the zeroing below."""
    mask = node.inputs[3] if len(node.inputs) > 3 else None
    return mask is not None and mask.dtype == _D.BOOL and len(node.outputs) == 1 and not node.meta.get(_ROWS_ZEROED)


def _attention_zeroing_masked_rows(g: GraphBuilder, *inputs: ir.Value | None, **attributes: Any) -> ir.Value:
    """Attention, then zeros where the boolean mask hides every key of a query (torch's result;
    the release gives that query the attention of an unmasked row instead)."""
    y = g.op("Attention", *inputs, **attributes)
    y.producer().meta[_ROWS_ZEROED] = True
    assert inputs[3] is not None  # only a boolean mask has rows to zero
    mask = g.cast(inputs[3], torch.float32)
    any_key = g.op("Greater", g.op("ReduceMax", mask, g.constant([-1], torch.int64), keepdims=1),
                   g.constant(0.0, torch.float32))
    return g.op("Where", any_key, y, g.cast(g.constant(0.0), g.known_dtype(y)))


def _causal_without_mask(node: ir.Node) -> bool:
    """Attention with is_causal and neither a mask nor a past key/value (what the exporter emits)."""
    extra = [v for v in node.inputs[3:] if v is not None]
    return _int_attribute(node, "is_causal") == 1 and not extra and len(node.outputs) == 1


def _sequence_length(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """x.shape[-2] as a 0-d int64 (Attention's 3-D and 4-D layouts both keep the sequence there)."""
    return c.squeeze(g, h.slice_axes(g, g.op("Shape", x), [-2], [-1], [0]), [0])


def _attention_with_causal_mask(g: GraphBuilder, q: ir.Value, k: ir.Value, v: ir.Value, *absent: None,
                                **attributes: Any) -> ir.Value:
    """Attention with is_causal as an explicit (L, S) mask, True where key <= query (the
    top-left alignment of ONNX and torch; 1.26 and 1.27 align one query with the last key).
    That mask hides no query's every key (key 0 stays), so the release's fully masked row
    (above) cannot arise: the node is marked as not needing that form."""
    zero, one = g.constant(0, torch.int64), g.constant(1, torch.int64)
    rows = c.unsqueeze(g, g.op("Range", zero, _sequence_length(g, q), one), [1])
    cols = c.unsqueeze(g, g.op("Range", zero, _sequence_length(g, k), one), [0])
    attributes["is_causal"] = 0
    y = g.op("Attention", q, k, v, g.op("LessOrEqual", cols, rows), **attributes)
    y.producer().meta[_ROWS_ZEROED] = True
    return y


def _known(dim: int | ir.SymbolicDim) -> int | None:
    return dim if isinstance(dim, int) else None


def _same(a: int | ir.SymbolicDim, b: int | ir.SymbolicDim) -> bool:
    """The two sizes are equal: the same int, or the same named symbol."""
    if isinstance(a, int) or isinstance(b, int):
        return a == b
    return a.value is not None and a.value == b.value


def _may_broadcast_empty_batch(node: ir.Node) -> bool:
    """MatMul whose batch dims may broadcast a 1 (or a missing dim) against a 0, e.g. (1, k) @ (0, k, n):
    ranks known, and not the (..., m, k) @ (k, n) form the releases run for every batch."""
    a, b = (v.shape if v is not None else None for v in node.inputs[:2])
    if a is None or b is None or len(b) == 2 or (len(a) <= 2 and len(b) <= 2):
        return False
    batch_a, batch_b = list(a)[:-2], list(b)[:-2]  # a 1-D operand has none
    width = max(len(batch_a), len(batch_b))
    pairs = zip([1] * (width - len(batch_a)) + batch_a, [1] * (width - len(batch_b)) + batch_b)

    def zero_against_one(x: int | ir.SymbolicDim, y: int | ir.SymbolicDim) -> bool:
        return _known(x) in (0, None) and _known(y) in (1, None)
    return any(not _same(x, y) and (zero_against_one(x, y) or zero_against_one(y, x)) for x, y in pairs)


def _matmul_full_batches(g: GraphBuilder, a: ir.Value, b: ir.Value) -> ir.Value:
    """MatMul with both operands expanded to the broadcast batch dims first (a 1-D operand made a
    matrix, and its axis dropped again after): the same product, with no batch dim to broadcast."""
    rank_a, rank_b = g.rank(a), g.rank(b)
    a2 = c.unsqueeze(g, a, [0]) if rank_a == 1 else a
    b2 = c.unsqueeze(g, b, [1]) if rank_b == 1 else b
    rank_a2, rank_b2 = max(rank_a, 2), max(rank_b, 2)
    unit = h.ints(g, [1, 1])

    def batch_of(x: ir.Value, rank: int) -> ir.Value:  # x's batch dims, then 1, 1: Expand's target for the other
        return g.op("Concat", h.slice_axes(g, g.op("Shape", x), [0], [rank - 2], [0]), unit, axis=0)
    full_a = g.op("Expand", a2, batch_of(b2, rank_b2)) if rank_b2 > 2 else a2
    full_b = g.op("Expand", b2, batch_of(a2, rank_a2)) if rank_a2 > 2 else b2
    y = g.op("MatMul", full_a, full_b)
    last = max(rank_a2, rank_b2) - 1
    if rank_a == 1:
        return c.squeeze(g, y, [last - 1])
    return c.squeeze(g, y, [last]) if rank_b == 1 else y


_FLOATS = frozenset({_D.FLOAT, _D.DOUBLE, _D.FLOAT16, _D.BFLOAT16})
_SIGNS_KEPT = "aten2onnx.where_signs_kept"  # node.meta: a Where the form below already wrote


def _constant_array(value: ir.Value | None) -> Any:
    """The numpy array a Constant node's output (or an initializer) holds, or for a ConstantOfShape
    its fill value (a scalar filled as torch.where(c, x, -inf) does); None when not known."""
    if value is None:
        return None
    tensor = value.const_value
    producer = value.producer()
    if tensor is None and producer is not None and producer.op_type in ("Constant", "ConstantOfShape"):
        if "value" in producer.attributes:
            tensor = producer.attributes["value"].as_tensor()
        elif producer.op_type == "ConstantOfShape":
            return np.zeros(1, np.float32)  # ONNX's default fill: +0.0
    return tensor.numpy() if tensor is not None else None


def _may_hold_negative_zero(value: ir.Value | None) -> bool:
    array = _constant_array(value)
    if array is None:
        return True
    return bool((np.signbit(array) & (array == 0)).any())


def _selects_negative_zero(node: ir.Node) -> bool:
    """A floating Where whose true branch (X) may hold -0.0, not yet written by the form below; or
    whose false branch may, under a condition computed by Not (the optimizer swaps the branches)."""
    if len(node.inputs) < 3 or node.meta.get(_SIGNS_KEPT):
        return False
    condition, x, y = node.inputs[0], node.inputs[1], node.inputs[2]
    if x is None or x.dtype not in _FLOATS:
        return False
    negated = condition is not None and _is_not(condition.producer())
    return _may_hold_negative_zero(y if negated else x)


def _is_not(node: ir.Node | None) -> bool:
    return node is not None and node.op_type == "Not" and _standard(node.domain)


def _where_keeping_signs(g: GraphBuilder, condition: ir.Value, x: ir.Value, y: ir.Value) -> ir.Value:
    """Where that keeps a -0.0 it selects from X. The release merges its two selections as
    `x_sel != 0 ? x_sel : y_sel` (y_sel = 0 where the condition holds), so a -0.0 from X comes
    out +0.0 while the Y branch keeps its sign. Multiplying by -1 exactly there restores it
    (times 1 elsewhere is exact for every value). Not by swapping the branches under a Not: the
    release's graph optimizer fuses Not into Where and swaps them back. Where Y cannot hold -0.0
    (a constant fill, as attention masks use), the branches swap under an Xor with true instead,
    which the optimizer leaves alone: X then keeps its signs as the second branch, in two nodes.
    A condition computed by Not is fused here as the optimizer would (branches swapped), so the
    repair sees the branch order that runs."""
    negated = condition.producer()
    if _is_not(negated):
        assert negated is not None and negated.inputs[0] is not None
        condition, x, y = negated.inputs[0], y, x
        if not _may_hold_negative_zero(x):
            plain = g.op("Where", condition, x, y)
            plain.producer().meta[_SIGNS_KEPT] = True
            return plain
    if not _may_hold_negative_zero(y):
        swapped = g.op("Where", g.op("Xor", condition, g.constant(True, torch.bool)), y, x)
        swapped.producer().meta[_SIGNS_KEPT] = True
        return swapped
    chosen = g.op("Where", condition, x, y)
    chosen.producer().meta[_SIGNS_KEPT] = True
    dtype = g.known_dtype(x)
    zero = g.constant(0.0, dtype)
    # x == -0.0: 1 / x < 0 (-inf) while x < 0 is false (no float Equal before opset 11)
    negative_zero = g.op("And", g.op("Less", g.op("Div", g.constant(1.0, dtype), x), zero),
                         g.op("Not", g.op("Less", x, zero)))
    flip = g.op("Where", g.op("And", condition, negative_zero), g.constant(-1.0, dtype), g.constant(1.0, dtype))
    flip.producer().meta[_SIGNS_KEPT] = True
    return g.op("Mul", chosen, flip)


NODE_FORMS: tuple[NodeForm, ...] = (
    # Every release (1.17-1.32, opsets 9-26) turns a -0.0 that Where selects from its X input into
    # +0.0 (the CPU kernel's merge tests `x_sel != 0`): torch.where, trunc, copysign and every
    # spec selecting a value lose signed zeros.
    NodeForm("Where", _selects_negative_zero, _where_keeping_signs),
    # Up to 1.27 a query whose boolean mask hides every key is not given zeros.
    NodeForm("Attention", _masks_rows, _attention_zeroing_masked_rows, versions=VersionRange(last="1.27")),
    # 1.26 and 1.27 align is_causal bottom-right for a single query (L = 1 < S): it sees every key.
    NodeForm("Attention", _causal_without_mask, _attention_with_causal_mask, versions=VersionRange(last="1.27")),
    # 1.25-1.27 run DFT with inverse and onesided both set but return the complex pairs instead of
    # the real signal (and shape inference refuses it up to 1.24).
    NodeForm("DFT", _is_onesided_inverse, _full_spectrum_inverse, versions=VersionRange(last="1.27")),
    # Up to 1.31 MatMul refuses to broadcast a batch dim of 1 against one of 0 ("cannot broadcast on
    # dim 0") where the other operand has batch dims too, as an empty batch of right-hand sides does.
    NodeForm("MatMul", _may_broadcast_empty_batch, _matmul_full_batches, versions=VersionRange(last="1.31")),
)


def node_form(node: ir.Node, opset: int, version: str | None = None) -> Callable[..., ir.Value] | None:
    """The form computing `node` where `version` cannot run it as it is; None otherwise."""
    if not _standard(node.domain):
        return None
    for form in NODE_FORMS:
        if form.op_type == node.op_type and _in_opsets(form.opsets, opset) and version in form.versions \
                and form.applies(node):
            return form.expand
    return None


def attribute_values(node: ir.Node) -> dict[str, Any]:
    """A node's attributes as plain Python values (what the forms take)."""
    return {name: attr.value for name, attr in node.attributes.items()}
