"""The classic torch.onnx `verbose=True` text of a graph, for any onnx_ir model.

    graph(%input : Float(10, 3, 224, 224),
          %features.0.weight : Float(64, 3, 11, 11)) {
      %conv2d : Float(10, 64, 55, 55) = onnx::Conv[kernel_shape=[11, 11], ...](%input, ...), scope: AlexNet/Sequential[features]/Conv2d[0]  # model.py:42
      return (%conv2d)
    }

Scopes and source lines come from the node metadata aten2onnx writes, so `aten2onnx show`
prints them for its own files too; other files print without them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx_ir as ir

from aten2onnx.exporter.emit.graph_builder import SCOPE_KEY, SOURCE_KEY

_TYPE_NAMES = {
    "FLOAT": "Float", "DOUBLE": "Double", "FLOAT16": "Half", "BFLOAT16": "BFloat16", "INT64": "Long",
    "INT32": "Int", "INT16": "Short", "INT8": "Char", "UINT8": "Byte", "BOOL": "Bool", "STRING": "String",
    "COMPLEX64": "ComplexFloat", "COMPLEX128": "ComplexDouble",
}
_MAX_TENSOR_ELEMENTS = 8


def type_text(value: ir.Value) -> str:
    """`Float(10, 64, 55, 55)`, `Long()` for a scalar, `Float(batch, 3)`, or `Tensor` if unknown."""
    if value.dtype is None:
        return "Tensor"
    name = _TYPE_NAMES.get(value.dtype.name, value.dtype.name.title())
    if value.shape is None:
        return f"{name}(*)"
    return f"{name}({', '.join(str(d) if d is not None else '*' for d in value.shape)})"


def _float(value: float) -> str:
    text = repr(float(value))
    return text[:-1] if text.endswith(".0") else text  # the classic `alpha=1.`


def _tensor_text(tensor: ir.TensorProtocol) -> str:
    if tensor.size > _MAX_TENSOR_ELEMENTS:
        dtype = _TYPE_NAMES.get(tensor.dtype.name, tensor.dtype.name)
        return f"<{dtype}({', '.join(str(d) for d in tensor.shape)})>"
    try:
        values = np.asarray(tensor.numpy()).reshape(-1).tolist()
    except Exception:  # external data that is not at hand: the type says enough
        return f"<{tensor.dtype.name}>"
    return "{" + ", ".join(_float(v) if isinstance(v, float) else str(v) for v in values) + "}"


def attribute_text(attr: ir.Attr) -> str:
    kind, value = attr.type, attr.value
    if kind == ir.AttributeType.FLOAT:
        return _float(value)
    if kind == ir.AttributeType.FLOATS:
        return "[" + ", ".join(_float(v) for v in value) + "]"
    if kind == ir.AttributeType.INTS:
        return "[" + ", ".join(str(v) for v in value) + "]"
    if kind == ir.AttributeType.STRING:
        return f'"{value}"'
    if kind == ir.AttributeType.STRINGS:
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    if kind == ir.AttributeType.TENSOR:
        return _tensor_text(value)
    if kind in (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS):
        return "<Graph>"
    return str(value)


def _values(values: Iterable[ir.Value | None]) -> str:
    return ", ".join(f"%{v.name}" if v is not None else "None" for v in values)


def node_text(node: ir.Node) -> str:
    """One classic statement: outputs and types, domain::op[attributes](inputs), scope, source."""
    outputs = ", ".join(f"%{v.name} : {type_text(v)}" for v in node.outputs)
    domain = node.domain if node.domain not in ("", "ai.onnx") else "onnx"
    attributes = sorted(node.attributes.values(), key=lambda a: a.name)
    attr_text = "[" + ", ".join(f"{a.name}={attribute_text(a)}" for a in attributes) + "]" if attributes else ""
    text = f"{outputs} = {domain}::{node.op_type}{attr_text}({_values(node.inputs)})"
    scope = node.metadata_props.get(SCOPE_KEY)
    source = node.metadata_props.get(SOURCE_KEY)
    if scope:
        text += f", scope: {scope}"
    if source:
        text += f"  # {source}"
    return text


def _graph_lines(graph: ir.Graph, indent: str) -> list[str]:
    lines = []
    for node in graph:
        lines.append(indent + node_text(node))
        for attr in node.attributes.values():
            subgraphs = [attr.value] if attr.type == ir.AttributeType.GRAPH else (
                list(attr.value) if attr.type == ir.AttributeType.GRAPHS else [])
            for index, sub in enumerate(subgraphs):
                header = ", ".join(f"%{v.name} : {type_text(v)}" for v in sub.inputs)
                lines.append(f"{indent}  {attr.name}{'' if len(subgraphs) == 1 else index}({header}):")
                lines.extend(_graph_lines(sub, indent + "    "))
                lines.append(f"{indent}    -> ({_values(sub.outputs)})")
    return lines


def graph_text(graph: ir.Graph) -> str:
    """The whole graph: inputs and weights in the header, one statement per node, the return."""
    header = list(graph.inputs) + [v for v in graph.initializers.values() if not v.is_graph_input()]
    params = (",\n" + " " * 6).join(f"%{v.name} : {type_text(v)}" for v in header)
    lines = [f"graph({params}) {{", *_graph_lines(graph, "  "), f"  return ({_values(graph.outputs)})", "}"]
    return "\n".join(lines)


def model_text(model: ir.Model) -> str:
    """A one-line summary of the model (IR version, opsets, producer), then the graph."""
    opsets = ", ".join(f"{d or 'ai.onnx'} {v}" for d, v in model.opset_imports.items())
    producer = f", producer {model.producer_name}" if model.producer_name else ""
    return f"# ir_version {model.ir_version}, opsets: {opsets}{producer}\n{graph_text(model.graph)}"
