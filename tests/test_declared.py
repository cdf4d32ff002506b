"""A generated function's declaration holds while it runs (exporter/emit/declared.py).

Every generated function carries `@declared(spec line, emits=..., refusals=...)`. While it runs,
GraphBuilder.op refuses an ONNX op the spec does not declare at the target opset, and
`g.refuse(id)` raises the spec's constraint with that id: an impl's `emits:` and its refusals
are proven by every export and every differential test, and a lie fails loudly, naming the spec.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import onnx_ir as ir
import pytest
import torch

import aten2onnx
from aten2onnx.exporter.api.user_specs import load_opspecs, unload_opspecs
from aten2onnx.exporter.emit.declared import UndeclaredOpError, UndeclaredRefusalError, declared
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.errors import ConstraintError, TranslationError
from aten2onnx.generated import registry

ROOT = Path(__file__).resolve().parent.parent


def _x() -> ir.Value:
    return ir.Value(name="x", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape([3]))


@declared("specs/mine.yaml:7", emits=("Relu", "Neg>=12", "Upsample<10"))
def _mapping(g: GraphBuilder, x: ir.Value, op: str) -> ir.Value:
    return g.op(op, x)


def test_declared_ops_run_at_their_opsets() -> None:
    assert _mapping(GraphBuilder(9), _x(), "Relu") is not None
    assert _mapping(GraphBuilder(12), _x(), "Neg") is not None
    assert _mapping(GraphBuilder(9), _x(), "Upsample") is not None


@pytest.mark.parametrize(("opset", "op", "why"), [
    (13, "Abs", "does not declare it"),
    (11, "Neg", "declares it only at opsets 12+"),
    (10, "Upsample", "declares it only at opsets up to 9"),
])
def test_an_undeclared_op_fails_naming_the_spec(opset: int, op: str, why: str) -> None:
    g = GraphBuilder(opset)
    with g.translating("aten::mine.default", "", None), pytest.raises(UndeclaredOpError) as info:
        _mapping(g, _x(), op)
    assert str(info.value).startswith(f"aten::mine.default emitted ONNX '{op}' at opset {opset}, but its spec "
                                      f"(specs/mine.yaml:7) {why} in 'emits:'")
    assert g.declared is None  # the declaration ends with the function


def test_outside_a_generated_function_nothing_is_checked() -> None:
    g = GraphBuilder(13)
    assert g.op("Abs", _x()) is not None  # custom symbolics, the ATen fallback, the passes


def test_subgraphs_inherit_the_declaration() -> None:
    @declared("specs/mine.yaml:9", emits=("Relu",))
    def body(g: GraphBuilder, x: ir.Value) -> ir.Value:
        inner = g.subgraph()
        inner.op("Relu", x)
        return inner.op("Abs", x)

    with pytest.raises(UndeclaredOpError, match="'Abs'"):
        body(GraphBuilder(13), _x())


def test_refusals_come_from_the_spec() -> None:
    @declared("specs/mine.yaml:4", emits=(), refusals={"static_sizes": ("needs static sizes", "specs/mine.yaml:6")})
    def refusing(g: GraphBuilder, which: str) -> None:
        raise g.refuse(which, detail="x has shape [s0, 3]")

    g = GraphBuilder(13)
    with g.translating("aten::mine.default", "", None):
        with pytest.raises(ConstraintError) as info:
            refusing(g, "static_sizes")
        assert (info.value.constraint_message, info.value.spec_source, info.value.detail) == (
            "needs static sizes", "specs/mine.yaml:6", "x has shape [s0, 3]")
        assert str(info.value) == ("aten::mine.default: needs static sizes (x has shape [s0, 3]) "
                                   "(constraint in specs/mine.yaml:6)")
        with pytest.raises(UndeclaredRefusalError, match="constraint id 'dynamic', which the spec at specs/mine.yaml:4"):
            refusing(g, "dynamic")


def test_every_generated_function_is_declared() -> None:
    functions = {f for variants in registry.VARIANTS.values() for _, f in variants}
    assert functions and all(hasattr(f, "declaration") for f in functions)
    sources = {f.declaration.source.split(":")[0] for f in functions}
    assert all(source.startswith("opspecs/") for source in sources)


_LIB = '''
def negate(g, self, threshold):
    """Neg from opset 12 (declared as such), and a Neg that slips through at 11: a wrong declaration."""
    if g.opset >= threshold:
        return g.op("Neg", self)
    return g.op("Abs", self)
'''


def test_a_wrong_declaration_fails_the_export(tmp_path: Path) -> None:
    """The static check sees Neg and Abs; only running proves when: here Neg also runs at 11."""
    module = ROOT / "exporter" / "emit" / "lib" / "_declared_test_impl.py"
    module.write_text(textwrap.dedent(_LIB), encoding="utf-8")
    spec = tmp_path / "neg.yaml"
    spec.write_text(textwrap.dedent("""\
        - aten: neg
          impl: aten2onnx.exporter.emit.lib._declared_test_impl.negate
          args: {threshold: 11}
          emits: [Abs, Neg>=12]
        """), encoding="utf-8")
    try:
        load_opspecs(spec)

        class Negate(torch.nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return -x

        x = torch.randn(3)
        assert aten2onnx.export(Negate(), (x,), opset_version=12) is not None
        with pytest.raises(TranslationError) as info:
            aten2onnx.export(Negate(), (x,), opset_version=11)
        assert isinstance(info.value.__cause__, UndeclaredOpError)
        assert f"its spec ({spec.as_posix()}:1) declares it only at opsets 12+" in str(info.value)
    finally:
        unload_opspecs(spec)
        module.unlink()
