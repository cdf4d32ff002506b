"""Differential tests at the edges of every spec's shapes: empty tensors and zero-size dimensions.

The same comparison as tests/test_ops.py, with the spec's own hints, except that each size the hints
draw from a range starting at 1 may also be 0 (op_inputs' `edges`); 0-d tensors come from the default
rank range. Torch refuses some of these calls (they do not count); every call it accepts must match
in ONNX Runtime or raise the spec's documented constraint, so a mapping that builds a Reshape ONNX
Runtime rejects next to a 0, or divides by a zero count, is drawn here rather than found in a model.
Each spec runs at the opsets tests/test_ops.py tests it at, with fewer examples; a spec whose test hints
say `no_edges: <reason>` is skipped with that reason. An op whose every output torch recorded as empty
with a static shape is a constant in the exporter (translate/empty_results.py) and here alike.
"""

from __future__ import annotations

import pytest
from test_ops import _cases, _run_example, check_examples

from aten2onnx.codegen.model import OpSpec

_EXAMPLES = 6  # per spec and opset: the edges are few, and test_ops draws the rest


@pytest.mark.parametrize(("spec", "opset"), _cases(edges=True))
def test_edges_match_torch(spec: OpSpec, opset: int) -> None:
    """Fails on a mismatch, and unless at least one example was compared (op_tally)."""
    examples = min(spec.test.max_examples or _EXAMPLES, _EXAMPLES)
    check_examples(spec, opset, examples, 1, "with edge shapes", _run_example, edges=True)
