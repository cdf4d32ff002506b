"""ONNX operator schemas per opset, from onnx.defs (the ONNX standard's own definitions)."""

from __future__ import annotations

from functools import cache

import onnx
import onnx.defs

AttrType = onnx.defs.OpSchema.AttrType


@cache
def schema_at(op_type: str, opset: int, domain: str = "") -> onnx.defs.OpSchema | None:
    """The schema in force at `opset`, or None if the op does not exist there."""
    try:
        return onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return None


@cache
def first_opset(op_type: str, domain: str = "") -> int | None:
    """The first opset in which the op exists (its oldest since_version)."""
    newest = schema_at(op_type, onnx.defs.onnx_opset_version(), domain)
    if newest is None:
        return None
    for opset in range(1, newest.since_version + 1):
        if schema_at(op_type, opset, domain) is not None:
            return opset
    return newest.since_version


def attribute_type_name(attr_type: AttrType) -> str:
    """FLOAT, INTS, ...: the pybind enum has `.name` at run time, which onnx's stubs leave out."""
    return str(attr_type.name)  # type: ignore[attr-defined]
