"""The classic exporter's capture: TorchScript tracing and scripting, translated through the same specs.

`export(model, args, dynamo=False)` traces an nn.Module with torch.jit.trace (scripted functions and
submodules it calls stay scripted), or takes a ScriptModule/ScriptFunction as it is. The graph is
inlined and read node by node: `aten::` nodes call the registry entry of their overload (the same
generated symbolic functions and GraphBuilder as the torch.export path), `prim::` constructs are
read here (capture.py, prim_ops.py, list_ops.py), `prim::If`/`prim::Loop` become ONNX If/Loop
(control_flow.py), and every value's type comes from fake tensors with symbolic sizes (meta.py).

A layer above translate and capture, whose translator and capture it reuses; below api.
"""

from aten2onnx.exporter.torchscript.capture import SCRIPT, TRACE, TracedValueWarning, is_scripted
from aten2onnx.exporter.torchscript.export import export_torchscript

__all__ = ["SCRIPT", "TRACE", "TracedValueWarning", "export_torchscript", "is_scripted"]
