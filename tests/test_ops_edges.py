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
from hypothesis import given, note, settings
from op_inputs import op_arguments
from op_tally import Tally, run_counted
from test_ops import _TOO_NEW, RUNTIME_MAX_OPSET, SPECS, _describe, _run_example, opsets_to_test

from aten2onnx.codegen.model import OpSpec
from aten2onnx.codegen.shared.torch_schema import schema_of

_EXAMPLES = 6  # per spec and opset: the edges are few, and test_ops draws the rest


def _cases() -> list[object]:
    cases = []
    for spec in SPECS:
        for opset in opsets_to_test(spec):
            marks = [pytest.mark.xfail(reason=reason, strict=False)
                     for first, last, reason in spec.test.xfail if first <= opset <= last]
            marks += [_TOO_NEW] if opset > RUNTIME_MAX_OPSET else []
            marks += [pytest.mark.skip(reason=spec.test.no_edges)] if spec.test.no_edges else []
            cases.append(pytest.param(spec, opset, id=f"{spec.aten}@{opset}", marks=marks))
    return cases


@pytest.mark.parametrize(("spec", "opset"), _cases())
def test_edges_match_torch(spec: OpSpec, opset: int) -> None:
    """Fails on a mismatch, and unless at least one example was compared (op_tally)."""
    schema = schema_of(spec.aten)
    examples = min(spec.test.max_examples or _EXAMPLES, _EXAMPLES)
    tally = Tally()

    @settings(max_examples=examples)
    @given(op_arguments(spec, schema, edges=True))
    def check(arguments: dict[str, object]) -> None:
        note(f"{spec.aten} at opset {opset} ({spec.location}), edges: {_describe(arguments)}")
        _run_example(spec, opset, arguments, tally)

    run_counted(check, tally, 1, f"{spec.aten} at opset {opset} ({spec.location}), edge shapes")
