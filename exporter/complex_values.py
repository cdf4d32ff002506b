"""Complex tensors in translation: which mapping handles a node that takes or makes one.

ONNX Runtime has no complex tensors, so a complex torch value is exported as a real tensor of
its component dtype with a trailing axis of 2 (real, imag) (graph_builder.mark_complex).
A mapping written for real tensors would misread that axis, so a node with a complex input
or output goes through `symbolic_for`:

- specs written for complex values (every entry of opspecs/fft.yaml, and abs) run as they are;
- ops that move, select or add elements without mixing the real and imaginary parts (permute,
  reshape, slice, cat, sum, add, ...) run their own mapping twice, on the real parts and on the
  imaginary parts, and the two results are paired again (`_on_parts`);
- a few ops need a complex formula of their own (`_COMPLEX_FORMS`: mul, _to_copy);
- any other op raises an error that names the op and says what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import onnx_ir as ir
import torch

from exporter import registry
from exporter.graph_builder import is_complex, is_symbolic_scalar
from exporter.lib import fft_ops

Symbolic = Callable[..., Any]

# Specs that read the complex flag themselves: every entry of opspecs/fft.yaml, and abs.
COMPLEX_SPEC_FILE = "opspecs/fft.yaml"
COMPLEX_SPECS = frozenset({"aten::abs.default"})

# Linear in their data with real coefficients: f(re + i im) = f(re) + i f(im). Real float
# tensors among their data (add, cat) are complex values with zero imaginary parts; integer
# and bool tensors (indices) and Python numbers are passed to both halves unchanged.
PART_WISE = frozenset({
    "aten::permute.default", "aten::transpose.int", "aten::t.default", "aten::view.default",
    "aten::_unsafe_view.default", "aten::reshape.default", "aten::clone.default", "aten::alias.default",
    "aten::detach.default", "aten::lift_fresh_copy.default", "aten::unsqueeze.default",
    "aten::squeeze.dim", "aten::squeeze.dims", "aten::squeeze.default", "aten::slice.Tensor",
    "aten::select.int", "aten::narrow.default", "aten::expand.default", "aten::cat.default",
    "aten::stack.default", "aten::flip.default", "aten::roll.default", "aten::index.Tensor",
    "aten::split.Tensor", "aten::split_with_sizes.default", "aten::unbind.int", "aten::chunk.default",
    "aten::unfold.default", "aten::neg.default", "aten::add.Tensor", "aten::sub.Tensor",
    "aten::mul.Scalar", "aten::div.Scalar", "aten::sum.dim_IntList", "aten::mean.dim",
})

_COMPLEX_FORMS: dict[str, Symbolic] = {
    "aten::mul.Tensor": fft_ops.complex_mul,
    "aten::_to_copy.default": fft_ops.to_copy,
}


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def involves_complex(arguments: dict[str, Any], meta: Any) -> bool:
    """True when an argument is a complex pair tensor or torch says an output is complex."""
    if any(is_complex(v) for v in _leaves(list(arguments.values()))):
        return True
    return any(isinstance(t, torch.Tensor) and t.is_complex() for t in _leaves(meta))


def symbolic_for(overload: str, function: Symbolic, arguments: dict[str, Any], meta: Any) -> Symbolic:
    """The function that translates this node, given that complex values may be involved."""
    if not involves_complex(arguments, meta) or overload in COMPLEX_SPECS:
        return function
    if (registry.source_of(overload) or "").startswith(COMPLEX_SPEC_FILE):
        return function
    if overload in _COMPLEX_FORMS:
        return _COMPLEX_FORMS[overload]
    if overload in PART_WISE and not any(isinstance(v, complex) for v in _leaves(list(arguments.values()))):
        return _on_parts(function)  # (a complex Python number would mix the parts)
    return _unsupported(overload)


def _unsupported(overload: str) -> Symbolic:
    def raise_error(g: Any, **arguments: Any) -> Any:
        raise g.constraint_error(
            f"{overload} on complex tensors has no ONNX mapping (complex values are exported as (real, imag) "
            "pairs and only the ops of opspecs/fft.yaml, abs, mul, _to_copy and ops that move or add elements "
            "take them); apply torch.view_as_real(...) or .abs() before this op",
            "exporter/complex_values.py",
        )
    return raise_error


def _on_parts(function: Symbolic) -> Symbolic:
    """Run `function` on the real parts, then on the imaginary parts, and pair the results."""
    def run(g: Any, **arguments: Any) -> Any:
        real = function(g, **{k: _part_of(g, v, 0) for k, v in arguments.items()})
        imag = function(g, **{k: _part_of(g, v, 1) for k, v in arguments.items()})
        return _pair(g, real, imag)
    return run


def _part_of(g: Any, value: Any, index: int) -> Any:
    if isinstance(value, (list, tuple)):
        return type(value)(_part_of(g, v, index) for v in value)
    if is_complex(value):
        return fft_ops.part(g, value, index)
    if (index == 1 and isinstance(value, ir.Value) and not is_symbolic_scalar(value)
            and value.dtype is not None and g.dtype(value).is_floating_point):
        return fft_ops.zeros_like(g, value)  # a real operand's imaginary part
    return value


def _pair(g: Any, real: Any, imag: Any) -> Any:
    if isinstance(real, (list, tuple)):
        return type(real)(_pair(g, r, i) for r, i in zip(real, imag))
    if isinstance(real, ir.Value):
        return fft_ops.pack(g, real, imag)
    return real
