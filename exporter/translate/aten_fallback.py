"""OperatorExportTypes.ONNX_ATEN_FALLBACK: an op with no mapping becomes an `ATen` node.

As in torch.onnx, the node lives in domain `org.pytorch.aten` and names the ATen op in its
`operator` attribute (`erfinv`; `mylib::foo` outside the aten namespace) and the overload in
`overload_name` (empty for `default`, as torch.onnx and ONNX Runtime's ATen op expect);
tensor arguments are its inputs and every other argument an attribute of the same name. A
runtime with an ATen operator (ONNX Runtime's training build, for one) can run it.
"""

from __future__ import annotations

from typing import Any

import torch

from aten2onnx.codegen.shared.torch_schema import python_name, schema_of
from aten2onnx.exporter.dtypes import from_torch_dtype
from aten2onnx.exporter.emit.graph_builder import GraphBuilder

ATEN_DOMAIN = "org.pytorch.aten"
ATEN_DOMAIN_VERSION = 1


def can_fall_back(target: Any) -> bool:
    """Whether `target` can become an ATen node: an OpOverload returning only tensors."""
    if not isinstance(target, torch._ops.OpOverload):
        return False
    return all(str(r.type) == "Tensor" for r in target._schema.returns) and bool(target._schema.returns)


def _attribute(value: Any) -> Any:
    if isinstance(value, torch.dtype):
        return int(from_torch_dtype(value))
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float)) for v in value):
        return list(value)
    return str(value)  # device, layout, memory format: recorded for the reader


def symbolic(g: GraphBuilder, **arguments: Any) -> Any:
    """The ATen node for the op being translated (`g.overload`), with the given arguments."""
    schema = schema_of(g.overload)
    assert schema is not None
    namespace_op, _, overload = g.overload.rpartition(".")
    inputs: list[Any] = []
    attributes: dict[str, Any] = {}
    for arg in schema.arguments:
        value = arguments.get(python_name(arg.name))
        if arg.is_tensor:
            inputs.append(value)
        elif arg.is_tensor_list:
            inputs.extend(value or [])
        elif value is not None:
            attributes[arg.name] = _attribute(value)
    namespace, _, op_name = namespace_op.partition("::")
    return g.op(
        "ATen", *inputs, _domain=ATEN_DOMAIN, _outputs=len(schema.returns),
        operator=op_name if namespace == "aten" else namespace_op,  # torch.onnx names aten ops bare
        overload_name="" if overload == "default" else overload,
        **attributes,
    )
