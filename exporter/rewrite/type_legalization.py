"""The `onnx-type-legalization` pass: compute an op in a wider dtype where ONNX does not take its own.

Many ONNX ops leave out narrow types at some opsets: Add, Sub, Mul and Div take int8, uint8
and int16 only from 14, Neg never takes uint8, trigonometric ops take bfloat16 only from 22. A
spec states what torch computes (`Neg(self)`), and this pass, after translation, makes the
model valid at its opset: the inputs of such a dtype are cast to one that holds every value
(int32 for narrow integers, float32 for half floats), the op runs there, and its result is
cast back. The cast back wraps narrow integers as torch's own narrow arithmetic does (two's
complement), so integer results are exact; half floats are rounded once, as torch rounds them.
Standard ONNX, for every runtime: this pass always runs. A dtype not even Cast takes at the opset
(bfloat16 before 13) cannot be widened: `refuse_untyped` names the first node that uses it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import onnx
import onnx_ir as ir

from aten2onnx.codegen.shared.onnx_schema import schema_at
from aten2onnx.exporter.dtypes import to_torch_dtype
from aten2onnx.exporter.emit.graph_builder import SCOPE_KEY, SOURCE_KEY, GraphBuilder
from aten2onnx.exporter.errors import DtypeOpsetError
from aten2onnx.exporter.rewrite.node_rewrite import Build, Rule

NAME = "onnx-type-legalization"

_D = ir.DataType
# dtype -> the dtype that holds every value of it, and its name in onnx.defs type strings
_HOLDERS = {_D.INT8: _D.INT32, _D.UINT8: _D.INT32, _D.INT16: _D.INT32, _D.UINT16: _D.INT32,
            _D.BFLOAT16: _D.FLOAT, _D.FLOAT16: _D.FLOAT}
_TYPE_NAMES = {_D.INT8: "int8", _D.UINT8: "uint8", _D.INT16: "int16", _D.UINT16: "uint16", _D.INT32: "int32",
               _D.BFLOAT16: "bfloat16", _D.FLOAT16: "float16", _D.FLOAT: "float"}


@functools.cache
def _input_types(op_type: str, opset: int, domain: str) -> tuple[frozenset[str], ...] | None:
    """The type strings each formal input of the op's schema at `opset` takes (None: no schema)."""
    schema = schema_at(op_type, opset, domain)
    if schema is None or not schema.inputs:
        return None
    allowed = {c.type_param_str: frozenset(c.allowed_type_strs) for c in schema.type_constraints}
    return tuple(allowed.get(i.type_str, frozenset({i.type_str})) for i in schema.inputs)


def unsupported_dtype(node: ir.Node, opset: int) -> ir.DataType | None:
    """The one narrow dtype among `node`'s inputs that its ONNX schema at `opset` does not take
    where it takes the holder dtype instead; None when the node is valid as it is."""
    dtypes = [v.dtype if v is not None else None for v in node.inputs]
    narrow = {d for d in dtypes if d in _HOLDERS}
    if len(narrow) != 1 or node.domain not in ("", "ai.onnx") or len(node.outputs) != 1:
        return None
    formals = _input_types(node.op_type, opset, node.domain)
    if formals is None:
        return None
    (dtype,) = narrow
    holder = f"tensor({_TYPE_NAMES[_HOLDERS[dtype]]})"
    for index, given in enumerate(dtypes):
        if given != dtype:
            continue
        types = formals[min(index, len(formals) - 1)]
        if f"tensor({_TYPE_NAMES[dtype]})" in types or holder not in types:
            return None
    return dtype


def widen(node: ir.Node, opset: int) -> Build | None:
    """A node_rewrite.Rule: the node in the holder dtype, between casts."""
    dtype = unsupported_dtype(node, opset)
    if dtype is None:
        return None
    holder = _HOLDERS[dtype]

    def build(g: GraphBuilder) -> Sequence[ir.Value]:
        inputs = [g.cast(v, to_torch_dtype(holder)) if v is not None and v.dtype == dtype else v for v in node.inputs]
        (result,) = g.copy_node(node, inputs)
        if node.outputs[0].dtype == dtype:
            result.dtype = holder
            return [g.cast(result, to_torch_dtype(dtype))]
        if node.outputs[0].dtype is not None:
            result.dtype = node.outputs[0].dtype
        return [result]
    return build


def _castable(dtype: ir.DataType, opset: int) -> bool:
    formals = _input_types("Cast", opset, "")
    return formals is not None and f"tensor({_TYPE_NAMES[dtype]})" in formals[0]


def refuse_untyped(model: ir.Model, opset: int) -> None:
    """Raise DtypeOpsetError at the first node reading or making a value of a dtype that not even
    Cast takes at `opset`: no op of the model could compute it, nor cast it to a wider one."""
    missing = {d for d in _HOLDERS if not _castable(d, opset)}
    if not missing:
        return
    for node in ir.traversal.RecursiveGraphIterator(model.graph):
        if node.op_type == "Constant":
            continue  # named by the node computing with it
        dtype = next((v.dtype for v in [*node.inputs, *node.outputs] if v is not None and v.dtype in missing), None)
        if dtype is None:
            continue
        since = next((o for o in range(opset + 1, onnx.defs.onnx_opset_version() + 1) if _castable(dtype, o)), None)
        name = _TYPE_NAMES[dtype]
        scope, source = node.metadata_props.get(SCOPE_KEY), node.metadata_props.get(SOURCE_KEY)
        where = ", ".join(w for w in (scope, source) if w) or "the model"
        raise DtypeOpsetError(
            f"{node.op_type} at {where} computes in {name}, which ONNX ops (Cast included) take only from "
            f"opset {since}, so at opset {opset} it can neither run in {name} nor be cast to a wider dtype: "
            f"export with opset_version={since} or later, or convert the model from {name} (model.float()) first")


def rules() -> list[tuple[str, Rule]]:
    return [(NAME, widen)]
