"""What each TorchScript value is (dtype, shape with symbolic sizes, or a Python number), computed the
way torch.export computes its node metadata: by running every ATen op on fake tensors.

A traced graph records sizes as they were in the example, and a scripted one records no sizes at
all. Translation needs more: which dimensions are dynamic (so `x.size(0)` stays a graph value on a
`dynamic_axes` axis and becomes a constant elsewhere), each value's dtype and rank for the specs.
So the graph inputs become fake tensors whose dynamic axes are symbols (named after the user's
axis names), constants and weights fake tensors of static shape, and each op's metadata is the
result of its own kernel on those, as in torch.export. Python numbers stay numbers: plain ones are
known while exporting, SymInts depend on input sizes, and numbers read from tensor data
(`int(t)`) are unbacked symbols. A 0-d tensor made from a size (`prim::NumToTensor`, the trace's
form of `x.size(0) * 2`) remembers the number it holds, so `aten::Int` gives that size back.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import sympy
import torch
from torch._decomp import decomposition_table
from torch._dynamo.source import ConstantSource
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext

# c10::ScalarType numbers (TorchScript passes dtypes as ints), and the other int-coded enums.
SCALAR_TYPES = {0: torch.uint8, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.int64, 5: torch.float16,
                6: torch.float32, 7: torch.float64, 8: torch.complex32, 9: torch.complex64, 10: torch.complex128,
                11: torch.bool, 15: torch.bfloat16}
SCALAR_TYPE_NUMBERS = {dtype: number for number, dtype in SCALAR_TYPES.items()}
LAYOUTS = {0: torch.strided, 1: torch.sparse_coo}
MEMORY_FORMATS = {0: torch.contiguous_format, 1: torch.preserve_format, 2: torch.channels_last,
                  3: torch.channels_last_3d}
_MIN_DYNAMIC_HINT = 2  # a dynamic axis seen at size 0 or 1 is traced at 2, as torch.export asks

Symbolic = (torch.SymInt, torch.SymFloat, torch.SymBool)


def torch_value(type_text: str, value: Any) -> Any:
    """A TorchScript argument as torch's Python API takes it (ScalarType 6 -> torch.float32)."""
    base = type_text[len("Optional["):-1] if type_text.startswith("Optional[") else type_text
    if isinstance(value, int) and not isinstance(value, bool):
        tables: dict[str, dict[int, Any]] = {"ScalarType": SCALAR_TYPES, "Layout": LAYOUTS,
                                             "MemoryFormat": MEMORY_FORMATS}
        table = tables.get(base)
        if table is not None:
            return table.get(value, value)
    if base == "Device" and isinstance(value, str):
        return torch.device(value)
    return value


def is_concrete(meta: Any) -> bool:
    """A value known while exporting: no tensor, no symbol (lists and tuples of such too)."""
    if isinstance(meta, (list, tuple)):
        return all(is_concrete(m) for m in meta)
    return not isinstance(meta, (torch.Tensor, *Symbolic, SequenceMeta))


class SequenceMeta:
    """A list that exists only at run time (an ONNX sequence): the metadata of its elements."""

    def __init__(self, element: Any) -> None:
        self.element = element

    def __repr__(self) -> str:
        return f"SequenceMeta({self.element!r})"


class MetaContext:
    """Fake tensors and symbols for one export; `dim_names` maps symbols to the user's axis names."""

    def __init__(self) -> None:
        self.shape_env = ShapeEnv(specialize_zero_one=False, duck_shape=False)
        self.mode = FakeTensorMode(shape_env=self.shape_env, allow_non_fake_inputs=True)
        self.dim_names: dict[sympy.Symbol, sympy.Symbol] = {}
        self.input_symbols: dict[sympy.Symbol, str] = {}  # symbol -> `x.shape[0]`, to report specialization
        self.held: dict[int, Any] = {}  # id(0-d fake tensor) -> the number it holds (NumToTensor)
        self._keep: list[Any] = []      # tensors whose id() is a key of `held`

    # -- making fake values ---------------------------------------------------------------------
    def input(self, tensor: torch.Tensor, axes: dict[int, str], where: str) -> torch.Tensor:
        """A graph input; the axes in `axes` are symbols named as given."""
        if not axes:
            return self.constant(tensor)
        shape = [max(s, _MIN_DYNAMIC_HINT) if i in axes else s for i, s in enumerate(tensor.shape)]
        sample = tensor.detach() if list(tensor.shape) == shape else torch.empty(shape, dtype=tensor.dtype)
        context: StatelessSymbolicContext[..., Any] = StatelessSymbolicContext(
            dynamic_sizes=[DimDynamic.DYNAMIC if i in axes else DimDynamic.STATIC for i in range(tensor.dim())])
        fake = self.mode.from_tensor(sample, source=ConstantSource(where), symbolic_context=context)
        for axis, name in axes.items():
            size = fake.shape[axis]
            if isinstance(size, torch.SymInt) and isinstance(size.node.expr, sympy.Symbol):
                self.dim_names.setdefault(size.node.expr, sympy.Symbol(name))
                self.input_symbols.setdefault(size.node.expr, f"{where}.shape[{axis}]")
        return fake

    def constant(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.mode.from_tensor(tensor.detach(), static_shapes=True)

    def empty(self, shape: Sequence[Any], dtype: torch.dtype) -> torch.Tensor:
        with self.mode:
            return torch.empty(list(shape), dtype=dtype)

    def unknown_number(self, kind: type) -> Any:
        """A number read from tensor data: an unbacked symbol of that kind."""
        if kind is bool:
            return self.shape_env.create_unbacked_symbool()
        if kind is float:
            return self.shape_env.create_unbacked_symfloat()
        return self.shape_env.create_unbacked_symint()

    def number_tensor(self, number: Any) -> torch.Tensor:
        """prim::NumToTensor: a 0-d tensor that remembers the number it holds."""
        dtype = torch.bool if isinstance(number, (bool, torch.SymBool)) else (
            torch.float64 if isinstance(number, (float, torch.SymFloat)) else torch.int64)
        fake = self.empty([], dtype)
        self.hold(fake, number)
        return fake

    def hold(self, fake: Any, number: Any) -> None:
        self.held[id(fake)] = number
        self._keep.append(fake)

    def number_of(self, fake: Any) -> Any:
        return self.held.get(id(fake))

    def specialized(self) -> dict[str, int]:
        """`x.shape[0]` -> the size it was fixed to, for each dynamic input axis the graph made static."""
        fixed = {}
        for symbol, where in self.input_symbols.items():
            value = self.shape_env.replacements.get(symbol)
            if value is not None and getattr(value, "is_Integer", False):
                fixed[where] = int(value)
        return fixed

    # -- running ops ----------------------------------------------------------------------------
    def call(self, op: torch._ops.OpOverload, arguments: Sequence[Any]) -> Any:
        """The op's result on fake arguments (given in schema order, kwarg-only ones included)."""
        args, kwargs = [], {}
        for spec, value in zip(op._schema.arguments, arguments):
            value = torch_value(str(spec.real_type), value)
            if spec.kwarg_only:
                kwargs[spec.name] = value
            else:
                args.append(value)
        with self.mode:
            return _kernel(op)(*args, **kwargs)


def _kernel(op: torch._ops.OpOverload) -> Callable[..., Any]:
    """The op, or for a CompositeImplicitAutograd op torch's Python decomposition of it: the C++ composite
    kernels read sizes as ints (nn.GRU's would fix a dynamic batch), the Python ones keep symbols."""
    if op in decomposition_table and torch._C._dispatch_has_kernel_for_dispatch_key(
            op.name(), "CompositeImplicitAutograd"):
        return decomposition_table[op]
    return op


# -- Python arithmetic on numbers (TorchScript's aten::add.int and kin) --------------------------------
def _int_of(value: Any) -> Any:
    """int(value) without reading a symbol's value (which would fix it)."""
    if isinstance(value, torch.SymInt):
        return value
    return torch.sym_int(value) if isinstance(value, (torch.SymFloat, torch.SymBool)) else int(value)


def _float_of(value: Any) -> Any:
    if isinstance(value, torch.SymFloat):
        return value
    return torch.sym_float(value) if isinstance(value, (torch.SymInt, torch.SymBool)) else float(value)


def _ceil_of(value: Any) -> Any:
    if not isinstance(value, torch.SymFloat):
        return math.ceil(value)
    # torch installs SymFloat's __neg__ at import time; its stubs do not declare it
    return -torch.sym_int(-value // 1)  # type: ignore[operator]


def _true_div(a: Any, b: Any) -> Any:
    return _float_of(a) / _float_of(b)


_NUMBER_OPS: dict[str, Callable[..., Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "floordiv": operator.floordiv,
    "remainder": operator.mod, "div": _true_div, "neg": operator.neg, "pow": operator.pow,
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
    "__and__": operator.and_, "__or__": operator.or_, "__xor__": operator.xor, "__not__": torch.sym_not,
    "min": torch.sym_min, "max": torch.sym_max, "abs": abs, "Int": _int_of, "Float": _float_of, "Bool": bool,
    "ScalarImplicit": lambda v: v, "IntImplicit": _int_of, "FloatImplicit": _float_of,
    "floor": lambda v: math.floor(v) if not isinstance(v, torch.SymFloat) else torch.sym_int(v // 1),
    "ceil": _ceil_of,
}


def number_op(name: str, arguments: Sequence[Any]) -> Any:
    """The result of a TorchScript number op (`aten::floordiv.int`) on numbers or symbols; None when unknown."""
    function = _NUMBER_OPS.get(name)
    if function is None:
        return None
    try:
        return function(*arguments)
    except Exception:  # a symbol torch cannot compute with this way: unknown, not an error
        return None


def returns_kind(type_text: str) -> type | None:
    """int/float/bool for a number return type (`int`, `SymInt`, `Scalar` -> float), else None."""
    return {"int": int, "SymInt": int, "float": float, "SymFloat": float, "bool": bool, "SymBool": bool,
            "Scalar": float, "number": float}.get(type_text)


# -- ops torch has no fake kernel for, whose result sizes follow from the arguments ------------------
def histogram_meta(meta: MetaContext, name: str, metas: Sequence[Any]) -> Any:
    """The (hist, bin_edges) of torch.histogram and torch.histogramdd: sizes from the bin counts or the
    edge tensors, dtype the input's. None for another op, or a bin count known only at run time."""
    base = name.split("::", 1)[-1].removesuffix(".default")
    if not base.startswith("histogram") or not metas or not isinstance(metas[0], torch.Tensor):
        return None
    x, bins = metas[0], metas[1]
    if base == "histogram.bins_tensor" and isinstance(bins, torch.Tensor) and bins.dim() == 1:
        return meta.empty([bins.shape[0] - 1], x.dtype), meta.empty(list(bins.shape), x.dtype)
    if base == "histogramdd.TensorList_bins" and isinstance(bins, (list, tuple)) and all(
            isinstance(b, torch.Tensor) and b.dim() == 1 for b in bins):
        return (meta.empty([b.shape[0] - 1 for b in bins], x.dtype),
                [meta.empty(list(b.shape), x.dtype) for b in bins])
    if not is_concrete(bins) or x.dim() == 0:
        return None
    if base == "histogram.bin_ct":
        return meta.empty([bins], x.dtype), meta.empty([bins + 1], x.dtype)
    counts = [bins] * x.shape[-1] if base == "histogramdd.int_bins" and isinstance(x.shape[-1], int) else bins
    if base not in ("histogramdd", "histogramdd.int_bins") or not isinstance(counts, (list, tuple)):
        return None
    return meta.empty(list(counts), x.dtype), [meta.empty([b + 1], x.dtype) for b in counts]
