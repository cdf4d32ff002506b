"""`g`, the object every symbolic function receives: builds ONNX nodes into an onnx_ir graph.

It knows the target opset, the dtype and shape of the values it is given (from FX metadata),
and the FX node being translated, so errors can say where in the model they arose.

`g.op` also speaks the classic torch.onnx conventions, so symbolic functions written for
`torch.onnx.register_custom_op_symbolic` work unchanged: `g.op("mydomain::Foo", x)` for a
custom domain, `alpha_f=`/`axes_i=`/`mode_s=`/`value_t=` typed attributes and `outputs=N`.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import onnx_ir as ir
import torch
from onnx_ir.tensor_adapters import TorchTensor
from torch._prims_common import ELEMENTWISE_TYPE_PROMOTION_KIND, elementwise_dtypes

from aten2onnx.codegen.shared.onnx_schema import AttrType, attribute_type_name, schema_at
from aten2onnx.exporter.dtypes import from_torch_dtype, to_torch_dtype
from aten2onnx.exporter.emit.declared import Declaration, UndeclaredOpError, UndeclaredRefusalError
from aten2onnx.exporter.errors import ConstraintError, ModelLocation

_BOOL_OUTPUT = {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or",
                "Xor", "IsNaN", "IsInf"}
_INT64_OUTPUT = {"Shape", "Size", "ArgMax", "ArgMin", "NonZero", "NonMaxSuppression", "SequenceLength"}
# Ops whose output dtype is an attribute (with ONNX's default when it is absent).
_DTYPE_ATTRIBUTE = {"RandomNormal": ir.DataType.FLOAT, "RandomUniform": ir.DataType.FLOAT,
                    "Multinomial": ir.DataType.INT32, "EyeLike": None, "RandomNormalLike": None,
                    "RandomUniformLike": None, "Bernoulli": None}
_INT64_SECOND_OUTPUT = {"TopK", "MaxPool"}
# Ops whose every output has the shape of the first input (other inputs are scalars, or broadcast
# into it one way), and elementwise ops whose output is the broadcast of all inputs: their output
# shapes are known exactly from the inputs', so `g.rank`/`g.shape` work on intermediate values.
_SAME_SHAPE = {
    "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "BitwiseNot", "Cast", "CastLike", "Ceil", "Celu",
    "Clip", "Cos", "Cosh", "Dropout", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish", "Hardmax",
    "Identity", "IsInf", "IsNaN", "LeakyRelu", "Log", "LogSoftmax", "Mish", "Neg", "Not", "PRelu", "Reciprocal",
    "Relu", "Round", "Selu", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Softmax", "Softplus", "Softsign", "Sqrt",
    "Tan", "Tanh", "ThresholdedRelu",
}
_BROADCAST = {
    "Add", "And", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Div", "Equal", "Greater", "GreaterOrEqual",
    "Less", "LessOrEqual", "Max", "Mean", "Min", "Mod", "Mul", "Or", "Pow", "Sub", "Sum", "Where", "Xor",
}
# torch.onnx's typed attribute suffixes: `alpha_f=0.5` is a FLOAT attribute named `alpha`.
_SUFFIX_TYPES = {
    "_fs": AttrType.FLOATS, "_is": AttrType.INTS, "_ss": AttrType.STRINGS,
    "_f": AttrType.FLOAT, "_i": AttrType.INT, "_s": AttrType.STRING, "_t": AttrType.TENSOR,
}
_LIST_OF = {AttrType.FLOAT: AttrType.FLOATS, AttrType.INT: AttrType.INTS, AttrType.STRING: AttrType.STRINGS}
_STANDARD_DOMAINS = ("", "ai.onnx")
SCOPE_KEY = "aten2onnx.scope"      # node metadata: `AlexNet/Sequential[features]/Conv2d[0]`
SOURCE_KEY = "aten2onnx.source"    # node metadata: the user's source line
# node.meta (in memory, not saved): ((nn_module_stack key, path, class), ...) of the module calls the
# node came from, outermost first (export_modules_as_functions groups nodes by them)
MODULE_CALLS_KEY = "aten2onnx.module_calls"
_ATTR_COERCE: dict[AttrType, Callable[[Any], Any]] = {
    AttrType.FLOAT: float,
    AttrType.INT: int,
    AttrType.STRING: str,
    AttrType.INTS: lambda v: [int(x) for x in v],
    AttrType.FLOATS: lambda v: [float(x) for x in v],
}


class Registry(Protocol):
    """What a GraphBuilder asks the registry of mappings (exporter/translate/registry.py is one)."""

    def lookup(self, overload: str, opset: int) -> Any: ...

    def source_of(self, overload: str) -> str | None: ...


class GraphBuilder:
    """Collects nodes for one graph at one opset.

    `subgraph()` gives a builder for an If/Loop body: it collects its own nodes but shares
    value and node naming (names stay unique across nested graphs, as ONNX requires) and
    the set of custom domains with its parent.
    """

    def __init__(self, opset: int, registry: Registry | None = None):
        self.opset = opset
        # where a function finds another op's mapping (an in-place op's functional form, atan2 for
        # angle): handed in by the translator, so nothing in emit/ imports the registry above it
        self._registry = registry
        self.nodes: list[ir.Node] = []
        self.overload = ""
        self.location: ModelLocation | None = None
        self._scope = ""
        self._class_scope = ""
        self._module_calls: tuple[tuple[str, str, str], ...] = ()
        self._node_names: dict[str, int] = {}
        self._value_counter = itertools.count(1)
        self.domains: set[str] = set()  # custom domains the graph uses (for opset_imports)
        # what the generated function running now declares (exporter/emit/declared.py); None outside one
        self.declared: Declaration | None = None
        self.output_dtype: torch.dtype | None = None  # torch's dtype for the node being translated

    @property
    def registry(self) -> Registry:
        """The registry of mappings this builder was handed (GraphBuilder(opset, registry))."""
        if self._registry is None:
            raise RuntimeError("this GraphBuilder has no registry: build it with GraphBuilder(opset, registry) "
                               "(aten2onnx.exporter.translate.registry) to call mappings of other ops")
        return self._registry

    def subgraph(self) -> GraphBuilder:
        """A builder for a nested graph (If branch, Loop body) of this one."""
        child = GraphBuilder(self.opset, self._registry)
        child._node_names, child._value_counter, child.domains = self._node_names, self._value_counter, self.domains
        child.overload, child.location, child.output_dtype = self.overload, self.location, self.output_dtype
        child.declared = self.declared
        child._scope, child._class_scope, child._module_calls = self._scope, self._class_scope, self._module_calls
        return child

    # -- context ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def translating(self, overload: str, scope: str, location: ModelLocation | None,
                    class_scope: str = "", module_calls: tuple[tuple[str, str, str], ...] = ()) -> Iterator[None]:
        """Name nodes after `scope`, tag them with `class_scope` and `module_calls`, and attribute
        errors to `overload`."""
        saved = (self.overload, self._scope, self.location, self._class_scope, self._module_calls)
        self.overload, self._scope, self.location = overload, scope, location
        self._class_scope, self._module_calls = class_scope, module_calls
        try:
            yield
        finally:
            self.overload, self._scope, self.location, self._class_scope, self._module_calls = saved

    def constraint_error(self, message: str, spec_source: str) -> ConstraintError:
        return ConstraintError(self.overload, message, spec_source, self.location)

    def refuse(self, refusal: str, detail: str | None = None) -> ConstraintError:
        """The error for the spec constraint `refusal` (its `id:`), to raise: `raise g.refuse("id")`.

        The message and the constraint's line come from the spec of the op being translated;
        `detail` (what this model passes) is appended to the message.
        """
        declaration = self.declared
        if declaration is None or refusal not in declaration.refusals:
            where = f"the spec at {declaration.source}" if declaration is not None else "no spec (no generated function runs)"
            raise UndeclaredRefusalError(f"{self.overload}: Python refuses with constraint id '{refusal}', which "
                                         f"{where} does not declare; add a constraint with 'id: {refusal}' there")
        message, source = declaration.refusals[refusal]
        return ConstraintError(self.overload, message, source, self.location, detail)

    # -- nodes ----------------------------------------------------------------------------------
    def op(self, op_type: str, *inputs: Any, _outputs: int = 1, _domain: str = "", outputs: int | None = None,
           **attributes: Any) -> Any:
        """Append `op_type(inputs, attributes)`; returns its output, or a tuple of N outputs.

        `op_type` may carry a domain (`"com.example::Foo"`; `"onnx::Relu"` is the default
        domain); `outputs` is the classic spelling of `_outputs`.
        """
        domain, op_type = _split_domain(op_type, _domain)
        if self.declared is not None:
            self._check_declared(op_type if domain in _STANDARD_DOMAINS else f"{domain}::{op_type}")
        count = outputs if outputs is not None else _outputs
        values = [self._as_value(v) for v in inputs]
        while values and values[-1] is None:
            values.pop()  # trailing optional inputs that were not given
        node = ir.Node(
            domain, op_type, values,
            attributes=self._attributes(op_type, domain, attributes),
            num_outputs=count,
            name=self._node_name(op_type),
        )
        if domain not in _STANDARD_DOMAINS:
            self.domains.add(domain)
        self._tag(node)
        for index, output in enumerate(node.outputs):
            output.name = self._value_name()
            # onnx_ir's setter is typed DataType but takes None too (a TensorType of unknown dtype), which
            # is what an op whose output dtype is not known here gets
            output.dtype = self._output_dtype(node, index)  # type: ignore[assignment]
            output.shape = _output_shape(node)
        self.nodes.append(node)
        return node.outputs[0] if count == 1 else tuple(node.outputs)

    def _check_declared(self, op: str) -> None:
        declaration = self.declared
        assert declaration is not None
        if not declaration.allows(op, self.opset):
            elsewhere = declaration.opsets_of(op)
            declared = f"declares it only at opsets {elsewhere}" if elsewhere else "does not declare it"
            raise UndeclaredOpError(
                f"{self.overload} emitted ONNX '{op}' at opset {self.opset}, but its spec ({declaration.source}) "
                f"{declared} in 'emits:'; declare it there (codegen checks the list against the Python)")

    def constant(self, value: Any, dtype: torch.dtype | None = None) -> ir.Value:
        """A Constant node holding `value` (a number, a nested list or a tensor).

        A symbolic number (a 0-d value computed in the graph, such as a size of a dynamic
        dimension) is already a value: it is cast to `dtype` instead.
        """
        if isinstance(value, ir.Value):
            return value if dtype is None else self.cast(value, dtype)
        if isinstance(value, torch.Tensor):
            array = value.detach().cpu()
            array = array.to(dtype) if dtype is not None else array
            tensor = ir.tensor(array.numpy() if array.dtype != torch.bfloat16 else array.float().numpy())
            if array.dtype == torch.bfloat16:
                tensor = ir.tensor(array.float().numpy().astype(ir.DataType.BFLOAT16.numpy()))
        else:
            dtype = dtype or torch.tensor(value).dtype
            tensor = ir.tensor(_number_array(value, dtype))
        node = ir.Node("", "Constant", [], attributes=[ir.AttrTensor("value", tensor)],
                       name=self._node_name("Constant"))
        self._tag(node)
        out = node.outputs[0]
        out.name = self._value_name()
        out.dtype = tensor.dtype
        out.shape = ir.Shape(tensor.shape.numpy())
        self.nodes.append(node)
        return out

    def copy_node(self, node: ir.Node, inputs: Sequence[ir.Value | None]) -> list[ir.Value]:
        """A copy of `node` (same op, domain, attributes and number of outputs) reading `inputs`: what the
        rewrite passes (exporter/rewrite/node_rewrite.py) put between casts. Its outputs' dtypes are left to them."""
        copy = ir.Node(node.domain, node.op_type, list(inputs), attributes=list(node.attributes.values()),
                       num_outputs=len(node.outputs), name=self._node_name(node.op_type))
        self._tag(copy)
        for new, old in zip(copy.outputs, node.outputs):
            new.name = self._value_name()
            new.shape = old.shape
        self.nodes.append(copy)
        return list(copy.outputs)

    def cast(self, value: ir.Value, dtype: torch.dtype) -> ir.Value:
        """Cast unless the value already has that dtype."""
        if self.dtype(value) == dtype:
            return value
        out = self.op("Cast", value, to=int(from_torch_dtype(dtype)))
        if value.shape is not None:
            out.shape = value.shape
        return out

    # -- what is known of a value ---------------------------------------------------------------
    def dtype(self, value: ir.Value) -> torch.dtype | None:
        return to_torch_dtype(value.dtype) if value.dtype is not None else None

    def known_dtype(self, value: ir.Value) -> torch.dtype:
        """The dtype of a value the caller needs one of (to cast to it, to make a constant of it)."""
        if value.dtype is None:
            raise ValueError(f"dtype of '{value.name}' is not known while translating {self.overload}")
        return to_torch_dtype(value.dtype)

    def rank(self, value: ir.Value) -> int:
        if value.shape is None:
            raise ValueError(f"rank of '{value.name}' is not known while translating {self.overload}")
        return len(value.shape)

    def shape(self, value: ir.Value) -> list[int | str]:
        """The value's sizes: ints, and the names of symbolic ones as strings."""
        return [d if isinstance(d, int) else str(d) for d in self.dims(value)]

    def dims(self, value: ir.Value) -> ir.Shape:
        """The value's onnx_ir Shape (ints and ir.SymbolicDim, an unnamed one's value None), for a caller
        that needs it known: to copy it onto another value, or to read sizes that may be unnamed."""
        if value.shape is None:
            raise ValueError(f"shape of '{value.name}' is not known while translating {self.overload}")
        return value.shape

    # -- type promotion -------------------------------------------------------------------------
    def promote(self, values: Sequence[Any], kind: str) -> list[Any]:
        """Bring tensors and Python scalars to torch's promoted dtype (casts and constants)."""
        present = [v for v in values if v is not None]
        if not present:
            return list(values)
        samples = [self._meta_sample(v) for v in present]
        rounded = None
        if kind == "ALWAYS_BOOL":
            # comparisons return bool: both sides are rounded to the dtype torch promotes them to (a
            # float32 0-d tensor against float16 becomes float16), then compared in the compute dtype
            # (float32 for half types, exact, and what ONNX Runtime has kernels for)
            target, _ = elementwise_dtypes(*samples, type_promotion_kind=ELEMENTWISE_TYPE_PROMOTION_KIND[kind])
            _, rounded = elementwise_dtypes(*samples, type_promotion_kind=ELEMENTWISE_TYPE_PROMOTION_KIND["DEFAULT"])
            rounded = rounded if rounded != target else None
        else:
            _, target = elementwise_dtypes(*samples, type_promotion_kind=ELEMENTWISE_TYPE_PROMOTION_KIND[kind])
        out: list[Any] = []
        for v in values:
            if v is None:
                out.append(None)
            elif isinstance(v, ir.Value):
                out.append(self.cast(v if rounded is None else self.cast(v, rounded), target))
            else:
                out.append(self.cast(self.constant(v, rounded), target) if rounded is not None
                           else self.constant(v, target))
        return out

    def _meta_sample(self, value: Any) -> Any:
        if isinstance(value, ir.Value) and is_symbolic_scalar(value):
            # a SymInt/SymFloat/SymBool promotes like the Python number it stands for
            return _SCALAR_SAMPLES.get(value.dtype, 1)
        if isinstance(value, ir.Value):
            rank = len(value.shape) if value.shape is not None else 1
            return torch.empty([1] * rank, dtype=self.dtype(value), device="meta")
        return value

    # -- internals ------------------------------------------------------------------------------
    def _as_value(self, value: Any) -> ir.Value | None:
        if value is None or isinstance(value, ir.Value):
            return value
        if isinstance(value, (bool, int, float, torch.Tensor)):
            return self.constant(value)
        raise TypeError(f"{self.overload}: an ONNX input must be a value or a number, got {type(value).__name__}")

    def _attributes(self, op_type: str, domain: str, attributes: dict[str, Any]) -> list[ir.Attr]:
        schema = schema_at(op_type, self.opset, domain) if domain in _STANDARD_DOMAINS else None
        known = schema.attributes if schema is not None else {}
        converted = []
        for given_name, value in attributes.items():
            if value is None:
                continue
            if _holds_value(value):
                raise self.constraint_error(
                    f"a size or index computed at run time (a dynamic dimension) cannot be the attribute "
                    f"'{given_name}' of ONNX {op_type} at opset {self.opset}; export at a newer opset, where it "
                    f"is an input, or mark this dimension static", _mapping_source(self._registry, self.overload))
            name, attr_type = given_name, None
            if given_name not in known:  # generated code passes plain schema names: never stripped
                name, attr_type = _strip_suffix(given_name, value)
            if name in known:
                attr_type = known[name].type
            if attr_type in _ATTR_COERCE:
                value = _ATTR_COERCE[attr_type](value)
            if attr_type == AttrType.TENSOR or isinstance(value, torch.Tensor):
                value, attr_type = _attr_tensor(value), AttrType.TENSOR
            if isinstance(value, bool):
                value = int(value)
            converted.append(ir.convenience.convert_attribute(name, value, _ir_attr_type(attr_type)))
        return converted

    def _output_dtype(self, node: ir.Node, index: int) -> ir.DataType | None:
        op = node.op_type
        if op in _BOOL_OUTPUT:
            return ir.DataType.BOOL
        if op in _INT64_OUTPUT or (index == 1 and op in _INT64_SECOND_OUTPUT):
            return ir.DataType.INT64
        if op == "Cast":
            return ir.DataType(node.attributes["to"].as_int())
        if op == "ConstantOfShape":
            value = node.attributes.get("value")
            return value.as_tensor().dtype if value is not None else ir.DataType.FLOAT
        if op == "Constant" and "value" in node.attributes:  # g.op("Constant", value_t=...) from a symbolic
            return node.attributes["value"].as_tensor().dtype
        if op in _DTYPE_ATTRIBUTE:
            dtype = node.attributes.get("dtype")
            if dtype is not None:
                return ir.DataType(dtype.as_int())
            if _DTYPE_ATTRIBUTE[op] is not None:
                return _DTYPE_ATTRIBUTE[op]
        if op == "OneHot" and len(node.inputs) > 2 and node.inputs[2] is not None:
            return node.inputs[2].dtype
        if op in ("If", "Loop", "Scan"):  # the body's output (Loop and Scan bodies output a condition first)
            attribute = node.attributes.get("then_branch" if op == "If" else "body")
            outputs = list(attribute.as_graph().outputs) if attribute is not None else []
            position = index + (1 if op == "Loop" else 0)
            return outputs[position].dtype if position < len(outputs) else None
        if op == "Unique" and index > 0:
            return ir.DataType.INT64
        if op == "Dropout" and index == 1:
            return ir.DataType.BOOL  # the mask
        if op == "CastLike" or op == "Where":
            source = node.inputs[1] if len(node.inputs) > 1 else None
            return source.dtype if source is not None else None
        return next((v.dtype for v in node.inputs if v is not None and v.dtype is not None), None)

    def _tag(self, node: ir.Node) -> None:
        """Record where in the model the node comes from (printed by verbose, kept in the file)."""
        if self._class_scope:
            node.metadata_props[SCOPE_KEY] = self._class_scope
        if self._module_calls:
            node.meta[MODULE_CALLS_KEY] = self._module_calls
        if self.location is not None and self.location.source:
            node.metadata_props[SOURCE_KEY] = self.location.source

    def _node_name(self, op_type: str) -> str:
        base = f"{self._scope}/{op_type}" if self._scope else op_type
        count = self._node_names.get(base, 0)
        self._node_names[base] = count + 1
        return base if count == 0 else f"{base}_{count}"

    def _value_name(self) -> str:
        return f"{_GENERATED_PREFIX}{next(self._value_counter)}"

    def graph_input(self, dtype: torch.dtype, shape: Sequence[Any] | ir.Shape | None = None) -> ir.Value:
        """A fresh, uniquely named value to be an input of a graph built here (a Loop body's
        iteration number, condition and carried values); no node produces it."""
        return ir.Value(name=self._value_name(), type=ir.TensorType(from_torch_dtype(dtype)),
                        shape=None if shape is None else ir.Shape(list(shape)))


# Fresh values are named val_1, val_2, ...: a name of the builder's, which binding an FX node's or a
# TorchScript value's result replaces by the model's name, and weight folding by the weight's.
_GENERATED_PREFIX = "val_"
_GENERATED_NAME = re.compile(rf"{_GENERATED_PREFIX}(\d+)")


def is_generated_name(name: str | None) -> bool:
    """True for a name a GraphBuilder gave a fresh value (`val_12`, or a copy of one that a pass made
    unique as `val_12_1`), not one taken from the model."""
    return name is not None and name.startswith(_GENERATED_PREFIX)


def generated_number(name: str | None) -> int | None:
    """N of a name `val_N` a GraphBuilder gave, else None: a builder made later continues after the largest."""
    match = _GENERATED_NAME.fullmatch(name or "")
    return int(match.group(1)) if match else None


SYMBOLIC_KEY = "aten2onnx.symbolic"  # value metadata: a 0-d value standing for a SymInt/SymFloat/SymBool
_SCALAR_SAMPLES: dict[ir.DataType | None, Any] = {ir.DataType.INT64: 1, ir.DataType.DOUBLE: 1.0, ir.DataType.FLOAT: 1.0,
                                                   ir.DataType.BOOL: True}


def mark_symbolic_scalar(value: ir.Value) -> None:
    """Record that `value` is a Python number of the model (a size, `.item()`), not a tensor."""
    value.meta[SYMBOLIC_KEY] = True


def is_symbolic_scalar(value: ir.Value) -> bool:
    return bool(value.meta.get(SYMBOLIC_KEY, False))


# ONNX Runtime has no complex tensors: a complex torch value is a real tensor of its component
# dtype with a trailing dimension of 2 (real, imaginary), the layout DFT takes and returns.
COMPLEX_KEY = "aten2onnx.complex"  # value metadata: this value holds (real, imag) pairs
# value.meta key: (stride, storage_offset) of a value that torch holds as a strided view of another
# tensor's storage (translate.set_type_from_meta); ONNX values are always dense.
STRIDED_VIEW_KEY = "aten2onnx.strided_view"

def mark_complex(value: ir.Value) -> None:
    """Record that `value` is a complex tensor stored as (real, imag) pairs on a trailing axis."""
    value.meta[COMPLEX_KEY] = True


def is_complex(value: Any) -> bool:
    return isinstance(value, ir.Value) and bool(value.meta.get(COMPLEX_KEY, False))


def complex_parts_dtype(dtype: torch.dtype) -> torch.dtype:
    """complex64 -> float32, complex128 -> float64 (complex32 -> float16); a real dtype stays."""
    return dtype.to_real() if dtype.is_complex else dtype


def _number_array(value: Any, dtype: torch.dtype) -> np.ndarray:
    """A number (or nested list) as an array of `dtype`. An int outside an integer dtype's range
    wraps modulo 2**bits, as torch's C cast of a Python scalar operand does (`x_uint8 + (-1)`
    adds 255, `x_int8 & (2**63 - 1)` ands with -1); numpy would raise instead."""
    np_dtype = ir.DataType(from_torch_dtype(dtype)).numpy()
    try:
        return np.array(value, dtype=np_dtype)
    except OverflowError:
        return np.array(value, dtype=np.int64).astype(np_dtype)


def _output_shape(node: ir.Node) -> ir.Shape | None:
    """The output shape of an elementwise op, from its inputs' shapes; None when not known exactly."""
    if node.domain not in _STANDARD_DOMAINS or not node.inputs:
        return None
    if node.op_type in _SAME_SHAPE:
        sources = node.inputs[:1]
    elif node.op_type in _BROADCAST:
        sources = node.inputs
    else:
        return None
    shapes = [list(v.shape) for v in sources if v is not None and v.shape is not None]
    if len(shapes) != len(sources):
        return None
    rank = max(len(shape) for shape in shapes)
    dims = []
    for axis in range(rank):
        dim = _broadcast_dim([shape[axis - rank + len(shape)] for shape in shapes if axis - rank + len(shape) >= 0])
        if dim is None:
            return None
        dims.append(dim)
    return ir.Shape(dims)


def _broadcast_dim(dims: list[Any]) -> int | str | None:
    """One axis of a numpy-style broadcast: a size other than 1 wins (a symbolic size there must
    equal it or be 1), then a symbolic size; None when unknown (two different symbolic names,
    an unnamed dimension, or sizes that do not broadcast)."""
    sizes = {d for d in dims if isinstance(d, int)}
    names = {d.value for d in dims if not isinstance(d, int)}
    if None in names or len(sizes - {1}) > 1:
        return None
    if sizes - {1}:
        return (sizes - {1}).pop()
    if len(names) > 1:
        return None
    return names.pop() if names else 1


def _mapping_source(registry: Registry | None, overload: str) -> str:
    return (registry.source_of(overload) if registry is not None else None) or "its mapping"


def _holds_value(value: Any) -> bool:
    if isinstance(value, ir.Value):
        return True
    return isinstance(value, (list, tuple)) and any(isinstance(v, ir.Value) for v in value)


def _split_domain(op_type: str, domain: str) -> tuple[str, str]:
    """`"com.example::Foo"` -> ("com.example", "Foo"); `"onnx::Relu"` is the default domain."""
    if "::" not in op_type:
        return domain, op_type
    prefix, _, name = op_type.rpartition("::")
    prefix = "" if prefix == "onnx" else prefix
    if domain and domain != prefix:
        raise ValueError(f"op '{op_type}' names domain '{prefix}' but _domain='{domain}' was also given")
    return prefix, name


def _strip_suffix(name: str, value: Any) -> tuple[str, AttrType | None]:
    """`alpha_f` -> ('alpha', FLOAT); a list given to `_f`/`_i`/`_s` is FLOATS/INTS/STRINGS."""
    for suffix, attr_type in _SUFFIX_TYPES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            if attr_type in _LIST_OF and isinstance(value, (list, tuple)):
                attr_type = _LIST_OF[attr_type]
            return name[: -len(suffix)], attr_type
    return name, None


def _attr_tensor(value: Any) -> ir.TensorProtocol:
    if isinstance(value, torch.Tensor):
        return TorchTensor(value.detach().cpu().contiguous())
    if isinstance(value, ir.TensorProtocol):
        return value
    return ir.tensor(np.asarray(value))


def _ir_attr_type(attr_type: AttrType | None) -> ir.AttributeType | None:
    if attr_type is None:
        return None
    name = attribute_type_name(attr_type)
    return ir.AttributeType[name] if name in ir.AttributeType.__members__ else None
