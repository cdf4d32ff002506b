"""Differential tests: every spec, at each variant's first opset and at the newest, against torch.

Arguments are drawn from the schema and the spec's `test:` hints. A drawn case that
violates a spec constraint must raise that constraint's documented error; every other
case must match eager PyTorch in dtype, shape and values (for `random:` specs, dtype, shape
and distribution: tests/op_runner.py, assert_same_random). Replay one op with
`pytest tests/test_ops.py -k "relu"`; a failure prints the minimal example and a
@reproduce_failure blob.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import hypothesis_profiles
import pytest
from hypothesis import find, given, note, settings
from hypothesis.errors import NoSuchExample
from op_inputs import op_arguments
from op_runner import assert_same, assert_same_random, build_one_op_model, flatten_outputs, run_eager, run_onnx
from op_tally import Tally, run_counted

from aten2onnx.codegen.load import load_specs
from aten2onnx.codegen.model import MAX_OPSET, OpSpec
from aten2onnx.codegen.shared.torch_schema import schema_of
from aten2onnx.exporter.errors import ConstraintError
from aten2onnx.exporter.rewrite import runtime_versions

ROOT = Path(__file__).resolve().parent.parent
SPECS = load_specs(ROOT / "opspecs", ROOT)


# The installed onnxruntime runs opsets up to RUNTIME_MAX_OPSET (exporter/rewrite/runtime_versions.py):
# newer ones are skipped, and that opset itself is tested in their place.
RUNTIME_VERSION = runtime_versions.installed_version() or "not installed"
RUNTIME_MAX_OPSET = min(MAX_OPSET, runtime_versions.max_opset(RUNTIME_VERSION)) if RUNTIME_VERSION[0].isdigit() else 0
_TOO_NEW = pytest.mark.skip(reason=f"onnxruntime {RUNTIME_VERSION} runs opsets up to {RUNTIME_MAX_OPSET}")


def opsets_to_test(spec: OpSpec) -> list[int]:
    """Each variant's first opset, the newest (and the newest the installed onnxruntime runs, when
    that is older), and any the spec's `test.opsets` adds."""
    firsts = {spec.variant_range(i)[0] for i in range(len(spec.variants)) if spec.variant_range(i)[0] <= MAX_OPSET}
    newest = {MAX_OPSET} | ({RUNTIME_MAX_OPSET} if RUNTIME_MAX_OPSET >= min(firsts, default=MAX_OPSET) else set())
    return sorted(firsts | newest | set(spec.test.opsets))


def _runtime_marks(opset: int) -> list[pytest.MarkDecorator]:
    return [_TOO_NEW] if opset > RUNTIME_MAX_OPSET else []


def _cases(edges: bool = False) -> list[object]:
    """(spec, opset) params with the spec's xfails; for the edge-shape suite (tests/test_ops_edges.py)
    its xfails are not strict (few examples may miss the case) and `no_edges` skips the spec."""
    cases = []
    for spec in SPECS:
        for opset in opsets_to_test(spec):
            marks = [pytest.mark.xfail(reason=reason, strict=not edges)
                     for first, last, reason in spec.test.xfail if first <= opset <= last]
            marks += [pytest.mark.skip(reason=spec.test.no_edges)] if edges and spec.test.no_edges else []
            cases.append(pytest.param(spec, opset, id=f"{spec.aten}@{opset}", marks=marks + _runtime_marks(opset)))
    return cases


def _describe(arguments: dict[str, object]) -> str:
    parts = []
    for name, value in arguments.items():
        if hasattr(value, "shape"):
            parts.append(f"{name}=tensor{tuple(value.shape)}:{value.dtype}")
        elif isinstance(value, list) and any(hasattr(v, "shape") for v in value):
            items = (f"tensor{tuple(v.shape)}:{v.dtype}" if hasattr(v, "shape") else repr(v) for v in value)
            parts.append(f"{name}=[{', '.join(items)}]")
        else:
            parts.append(f"{name}={value!r}")
    return ", ".join(parts)


def graph_inputs(spec: OpSpec) -> frozenset[str]:
    """Arguments the one-op model takes at run time although they are not tensors (hint `as_input`)."""
    return frozenset(name for name, hint in spec.test.args.items() if getattr(hint, "as_input", None))


def _run_example(spec: OpSpec, opset: int, arguments: dict[str, object], tally: Tally) -> None:
    schema = schema_of(spec.aten)
    tally.draw()
    try:
        expected = flatten_outputs(run_eager(spec.aten, schema, arguments))
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        note(f"torch refuses these arguments: {exc}")
        tally.rejected_by_torch(exc)  # not a valid call: nothing to compare
    documented = {str(c.location): c.message for c in (*spec.constraints, *(c for v in spec.variants
                                                                            for c in v.constraints))}
    try:
        model = build_one_op_model(spec.aten, schema, arguments, opset, expected, graph_inputs(spec))
    except ConstraintError as error:  # a documented refusal: the spec's constraint, word for word
        assert documented.get(error.spec_source) == error.constraint_message, f"undocumented refusal: {error}"
        tally.refused_by_spec()
    if not expected:  # an op that returns nothing (a check ONNX drops): the mapping must return nothing too
        assert not model.model.graph.outputs, f"{spec.aten} returns nothing in torch, the mapping returns values"
        tally.compare()
        return
    actual = run_onnx(model)
    if spec.test.random is not None:  # random or undefined values: compare distributions
        assert_same_random(actual, expected, spec.test.random, arguments)
    else:
        assert_same(actual, expected, spec.test.atol, spec.test.rtol, spec.test.signed_zeros)
    tally.compare()


def check_examples(spec: OpSpec, opset: int, examples: int, minimum: int, what: str,
                   run: Callable[[OpSpec, int, dict[str, object], Tally], None], edges: bool = False) -> None:
    """Draw up to `examples` argument sets from the spec's hints (`edges`: sizes may be 0), run each
    with `run`, and fail unless `minimum` were compared (op_tally); `what` names the suite's case."""
    tally = Tally()

    @settings(max_examples=examples)
    @given(op_arguments(spec, schema_of(spec.aten), edges=edges))
    def check(arguments: dict[str, object]) -> None:
        note(f"{spec.aten} {what} at opset {opset} ({spec.location}): {_describe(arguments)}")
        run(spec, opset, arguments, tally)

    run_counted(check, tally, minimum, f"{spec.aten} {what} at opset {opset} ({spec.location})")


@pytest.mark.parametrize(("spec", "opset"), _cases())
def test_matches_torch(spec: OpSpec, opset: int) -> None:
    """Fails on a mismatch, and unless the profile's minimum of examples was compared (op_tally)."""
    examples = spec.test.max_examples or settings.default.max_examples
    minimum = min(hypothesis_profiles.current().min_compared, examples)
    check_examples(spec, opset, examples, minimum, "drawn", _run_example)


def _constraint_cases() -> list[object]:
    """Entry constraints at the newest opset; a variant's own constraints at its first opset; a
    constraint's `test: {opset: N}` at N."""
    cases = []
    for spec in SPECS:
        newest = max(opsets_to_test(spec))
        found = [(c, newest) for c in spec.constraints]
        found += [(c, spec.variant_range(i)[0]) for i, v in enumerate(spec.variants) for c in v.constraints]
        for constraint, default in found:
            opset = constraint.test_opset or default
            cases.append(pytest.param(spec, constraint, opset, id=f"{spec.aten}:{constraint.location.line}@{opset}"))
    return cases


@pytest.mark.builds_only
@pytest.mark.parametrize(("spec", "constraint", "opset"), _constraint_cases())
def test_constraint_is_reachable(spec: OpSpec, constraint: object, opset: int) -> None:
    """The hints must be able to draw a case that violates each constraint, and it must raise: for a
    `require:` the generated check, for an `id:` its Python (with the arguments the constraint's
    `test: {dynamic: [...]}` names known only at run time)."""
    schema = schema_of(spec.aten)

    def raises_this_constraint(arguments: dict[str, object]) -> bool:
        try:
            if constraint.test_eager_refuses:  # eager refuses what export records (lstm.data over no
                expected = []                      # steps even crashes): the check runs before any output
            else:
                expected = flatten_outputs(run_eager(spec.aten, schema, arguments))
            build_one_op_model(spec.aten, schema, arguments, opset, expected, graph_inputs(spec),
                               dynamic=constraint.test_dynamic)
        except ConstraintError as error:
            return error.spec_source == str(constraint.location) and error.constraint_message == constraint.message
        except (RuntimeError, ValueError, IndexError, TypeError):
            return False
        except AssertionError:  # eager_refuses: a case the constraint lets through has no outputs to match
            if not constraint.test_eager_refuses:
                raise
            return False
        return False

    searched = spec
    if constraint.test_hints:  # hints for this search only (the differential test keeps the entry's)
        shapes = {**spec.test.shapes, **constraint.test_hints.get("shapes", {})}
        hints = {k: v for k, v in constraint.test_hints.items() if k != "shapes"}
        searched = dataclasses.replace(spec, test=dataclasses.replace(spec.test, args={**spec.test.args, **hints},
                                                                        shapes=shapes))
    try:
        find(op_arguments(searched, schema), raises_this_constraint,
             settings=settings(max_examples=300, database=None))
    except NoSuchExample:
        where = f" with {', '.join(constraint.test_dynamic)} dynamic" if constraint.test_dynamic else ""
        pytest.fail(f"{spec.aten}: no drawn case at opset {opset}{where} violates '{constraint.message}' "
                    f"({constraint.location}); add values that violate it to the spec's test hints, or say in the "
                    "constraint's 'test: {opset: N, dynamic: [arg]}' where it is reached")

