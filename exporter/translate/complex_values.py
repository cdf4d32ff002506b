"""Complex tensors in translation: which mapping handles a node that takes or makes one.

ONNX Runtime has no complex tensors, so a complex torch value is exported as a real tensor of
its component dtype with a trailing axis of 2 (real, imag) (graph_builder.mark_complex).
A mapping written for real tensors would misread that axis, so a node with a complex input
or output goes through `symbolic_for`, which follows the spec's `complex:` key:

- `native`: the mapping reads the (real, imag) pairs itself (opspecs/fft.yaml, abs, ...);
- `parts`: the op moves, selects or adds elements without mixing the real and imaginary parts
  (permute, reshape, slice, cat, sum, add, ...): its mapping runs on the real parts and on the
  imaginary parts, and the two results are paired again (`_on_parts`);
- `{impl: ...}`: a mapping of its own for complex inputs (mul, _to_copy);
- no `complex:`: an error that names the op and says what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit.graph_builder import GraphBuilder, is_complex, is_symbolic_scalar
from aten2onnx.exporter.emit.lib import fft_ops
from aten2onnx.exporter.translate import registry

Symbolic = Callable[..., Any]


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def involves_complex(arguments: dict[str, Any], meta: Any) -> bool:
    """True when an argument is a complex pair tensor or torch says an output is complex."""
    if any(is_complex(v) for v in _leaves(list(arguments.values()))):
        return True
    return any(isinstance(t, torch.Tensor) and t.is_complex() for t in _leaves(meta))


def symbolic_for(overload: str, function: Symbolic, arguments: dict[str, Any], meta: Any,
                 opset: int = registry.MAX_OPSET) -> Symbolic:
    """The function that translates this node, given that complex values may be involved."""
    if not involves_complex(arguments, meta):
        return function
    handling = registry.complex_handling(overload, opset)
    if handling == "native":
        return function
    if handling == "parts" and not any(isinstance(v, complex) for v in _leaves(list(arguments.values()))):
        return _on_parts(function)  # (a complex Python number would mix the parts)
    if callable(handling):
        return handling
    return _unsupported(overload)


def _unsupported(overload: str) -> Symbolic:
    def raise_error(g: GraphBuilder, **arguments: Any) -> Any:
        raise g.constraint_error(
            f"{overload} on complex tensors has no ONNX mapping (complex values are exported as (real, imag) "
            "pairs, which only the ops whose spec says `complex:` take: the FFTs, abs, mul, _to_copy and ops that "
            "move or add elements; SUPPORT.md lists them); apply torch.view_as_real(...) or .abs() before this op",
            "exporter/translate/complex_values.py",
        )
    return raise_error


def _on_parts(function: Symbolic) -> Symbolic:
    """Run `function` on the real parts, then on the imaginary parts, and pair the results."""
    def run(g: GraphBuilder, **arguments: Any) -> Any:
        real = function(g, **{k: _part_of(g, v, 0) for k, v in arguments.items()})
        imag = function(g, **{k: _part_of(g, v, 1) for k, v in arguments.items()})
        return _pair(g, real, imag)
    return run


def _part_of(g: GraphBuilder, value: Any, index: int) -> Any:
    if isinstance(value, (list, tuple)):
        return type(value)(_part_of(g, v, index) for v in value)
    if is_complex(value):
        return fft_ops.part(g, value, index)
    if (index == 1 and isinstance(value, ir.Value) and not is_symbolic_scalar(value)
            and value.dtype is not None and g.known_dtype(value).is_floating_point):
        return fft_ops.zeros_like(g, value)  # a real operand's imaginary part
    return value


def _pair(g: GraphBuilder, real: Any, imag: Any) -> Any:
    if isinstance(real, (list, tuple)):
        return type(real)(_pair(g, r, i) for r, i in zip(real, imag))
    if isinstance(real, ir.Value):
        return fft_ops.pack(g, real, imag)
    return real
