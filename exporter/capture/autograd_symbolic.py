"""autograd.Function subclasses that define `symbolic(g, ...)` export through it, on both capture paths.

The classic torch.onnx convention (the seeds' "Non-ATen operators"): `symbolic(g, *inputs)` receives
the graph and the Function's arguments (tensors as graph values, other arguments as Python values)
and returns the ONNX value(s) of its outputs. `g` is aten2onnx's GraphBuilder, which speaks
torch.onnx's `g.op("Foo", x, alpha_f=0.5)`; `torch.onnx.symbolic_helper.parse_args` decorated
functions work as they do with register_custom_op_symbolic.

- TorchScript (dynamo=False): the trace records such a call as one `prim::PythonOp` node; it is
  translated by the symbolic (or, without one, by the forward the trace recorded inside it).
- torch.export: while capturing, `Function.apply` of such a class calls one custom op,
  `aten2onnx_fn::apply(tensors, key)`, so the forward is never traced (a numpy kernel, an extension
  torch.export cannot see into). The op's fake kernel runs the forward on fake tensors to learn the
  output shapes; when it cannot (the forward reads data), the model is run once eagerly first and
  the shapes it gave are used. Translation calls the symbolic with the recorded arguments.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.errors import OnnxExporterError, TranslationError
from aten2onnx.exporter.translate import registry

if TYPE_CHECKING:
    from aten2onnx.exporter.torchscript.translator import Translator

_ORIGINAL_APPLY = torch.autograd.Function.__dict__["apply"]


def symbolic_of(function: Any) -> Callable[..., Any] | None:
    """The `symbolic` staticmethod a Function subclass defines (None if it has none)."""
    if not isinstance(function, type) or not issubclass(function, torch.autograd.Function):
        return None
    symbolic = getattr(function, "symbolic", None)
    return symbolic if callable(symbolic) else None


def _call_symbolic(function: type, g: GraphBuilder, args: list[Any]) -> list[Any]:
    symbolic = symbolic_of(function)
    assert symbolic is not None
    try:
        result = symbolic(g, *args)
    except OnnxExporterError:
        raise
    except Exception as exc:
        raise TranslationError(f"{function.__qualname__}.symbolic failed: {type(exc).__name__}: {exc}; the "
                               "original error is chained below") from exc
    results = list(result) if isinstance(result, (tuple, list)) else [result]
    if any(r is None for r in results):
        raise TranslationError(f"{function.__qualname__}.symbolic returned None for an output; it must return "
                               "the ONNX value of every output of forward()")
    return results


# -- TorchScript: prim::PythonOp ----------------------------------------------------------------------
class _PythonOpNode(Protocol):
    """What a prim::PythonOp node has besides torch._C.Node's methods (torch's stubs leave these out)."""

    def pyobj(self) -> Any: ...
    def pyname(self) -> str: ...
    def scalar_args(self) -> list[Any]: ...
    def cconv(self) -> str: ...


def translate_python_op(t: Translator, node: torch._C.Node) -> None:
    """A traced autograd.Function call: its symbolic, else the forward the trace recorded inside it."""
    python_op = cast(_PythonOpNode, node)  # a prim::PythonOp (the translator dispatches by kind)
    function = getattr(python_op.pyobj(), "__self__", None)
    inputs = [t.get(v) for v in node.inputs()]
    metas = [t.meta_of(v) for v in node.inputs()]
    outs = list(node.outputs())
    first = outs[0].type() if len(outs) == 1 else None
    packed = isinstance(first, torch._C.TupleType)  # one tuple, or one value each
    types = first.elements() if isinstance(first, torch._C.TupleType) else [o.type() for o in outs]
    out_metas = [t._type_meta(ts_type, metas) for ts_type in types]
    symbolic = symbolic_of(function)
    if symbolic is None and "Subgraph" not in node.attributeNames():
        t.record_unsupported(f"autograd.Function {python_op.pyname()}", node)
        for out in outs:
            t.set(out, None, None)
        return
    if symbolic is None:
        pairs = _inline(t, node.g("Subgraph"), inputs, metas)
    else:
        assert isinstance(function, type)  # symbolic_of found the symbolic on this Function subclass
        scalars, tensors = iter(python_op.scalar_args()), iter(inputs)
        args = [t.onnx(next(tensors)) if kind == "d" else next(scalars) for kind in python_op.cconv()]
        with t.translating(node, f"{function.__qualname__}.symbolic"):
            results = _call_symbolic(function, t.g, args)
        if len(results) != len(types):
            raise TranslationError(f"{function.__qualname__}.symbolic at {t.location(node)} returned "
                                   f"{len(results)} value(s); forward() returns {len(types)}")
        pairs = [(t._bind_one(outs[0], r, m, python_op.pyname()), m) for r, m in zip(results, out_metas)]
    if packed:
        t.set(outs[0], tuple(v for v, _ in pairs), tuple(m for _, m in pairs))
    else:
        for out, (value, meta) in zip(outs, pairs):
            t.set(out, value, meta)


def _inline(t: Translator, graph: torch._C.Graph, inputs: list[Any], metas: list[Any]) -> list[tuple[Any, Any]]:
    """Translate the forward recorded inside a PythonOp; its values live apart from the outer graph's."""
    saved = t.values, t.metas
    t.values, t.metas = {}, {}
    try:
        for value, onnx_value, meta in zip(graph.inputs(), inputs, metas):
            t.set(value, onnx_value, meta)
        return t.run_block(graph.block())
    finally:
        t.values, t.metas = saved


@contextlib.contextmanager
def quiet_forwards_while_tracing(paused: Callable[[bool], None]) -> Iterator[None]:
    """While tracing, a Function with a symbolic runs its forward with warnings and the baked-value spy off:
    the forward is not exported (its symbolic is), so what it reads is no concern of the trace."""
    def apply(cls: Any, *args: Any, **kwargs: Any) -> Any:
        if symbolic_of(cls) is None:
            return _ORIGINAL_APPLY.__func__(cls, *args, **kwargs)
        paused(True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return _ORIGINAL_APPLY.__func__(cls, *args, **kwargs)
        finally:
            paused(False)

    with _patched_apply(apply):
        yield


@contextlib.contextmanager
def _patched_apply(apply: Callable[..., Any]) -> Iterator[None]:
    torch.autograd.Function.apply = classmethod(apply)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        torch.autograd.Function.apply = _ORIGINAL_APPLY  # type: ignore[method-assign]


# -- torch.export: a custom op per call ---------------------------------------------------------------
@dataclass
class _Call:
    """One Function.apply during a capture: the class and its arguments with tensors taken out."""

    function: type
    flat: list[Any]                 # the flattened arguments, tensors replaced by None
    spec: Any                       # how to unflatten them
    positions: list[int]            # where the tensors go
    output_spec: Any = None         # the forward's output structure, learned by the fake kernel
    recorded: list[tuple[list[int], torch.dtype]] | None = None  # eager output shapes, when fake fails
    example_shapes: list[list[int]] = field(default_factory=list)  # the eager input shapes then

    def arguments(self, tensors: list[Any]) -> list[Any]:
        items = list(self.flat)
        for i, tensor in zip(self.positions, tensors):
            items[i] = tensor
        return tree_unflatten(items, self.spec)


_CALLS: list[_Call] = []            # key -> call; keys stay valid for programs captured earlier
_recording: list[Any] | None = None
_replay: list[Any] | None = None    # recorded outputs, consumed in call order during a capture
_op: Any = None


class _NeedsEagerShapes(RuntimeError):
    """A Function's forward cannot run on fake tensors: its output shapes come from an eager run."""


def _custom_op() -> Any:
    """aten2onnx_fn::apply, defined once, with the translation of its calls registered."""
    global _op
    if _op is not None:
        return _op

    @torch.library.custom_op("aten2onnx_fn::apply", mutates_args=())
    def apply(tensors: list[torch.Tensor], key: int) -> list[torch.Tensor]:
        call = _CALLS[key]
        with torch.no_grad():
            result = _ORIGINAL_APPLY.__func__(call.function, *call.arguments(list(tensors)))
        leaves, call.output_spec = tree_flatten(result)
        return [leaf.clone() for leaf in leaves]

    @apply.register_fake
    def _(tensors: list[torch.Tensor], key: int) -> list[torch.Tensor]:
        call = _CALLS[key]
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = _ORIGINAL_APPLY.__func__(call.function, *call.arguments(list(tensors)))
            leaves, call.output_spec = tree_flatten(result)
            if all(isinstance(leaf, torch.Tensor) for leaf in leaves):
                return [leaf.clone() for leaf in leaves]
        except Exception:  # the forward reads data or leaves torch: the shapes an eager run gave
            pass
        if call.recorded is None:
            raise _NeedsEagerShapes(call.function.__qualname__)
        return [_shaped_like(list(tensors), call.example_shapes, shape, dtype) for shape, dtype in call.recorded]

    def translate(g: GraphBuilder, tensors: list[Any], key: int) -> Any:
        call = _CALLS[key]
        return _call_symbolic(call.function, g, call.arguments(list(tensors)))

    registry.custom_symbolics.add("aten2onnx_fn::apply", registry.Entry(
        registry.MIN_OPSET, translate, "the symbolic() of the autograd.Function (exporter/capture/autograd_symbolic.py)"))
    _op = apply
    return _op


def _shaped_like(tensors: list[torch.Tensor], example_shapes: list[list[int]], shape: list[int],
                 dtype: torch.dtype) -> torch.Tensor:
    """An output of the eager shape; where it matches an input's eager shape, that input's (symbolic) sizes."""
    for tensor, example in zip(tensors, example_shapes):
        if example == shape:
            return tensor.new_empty(tensor.shape, dtype=dtype)
    return tensors[0].new_empty(shape, dtype=dtype) if tensors else torch.empty(shape, dtype=dtype)


def _leaf_apply(cls: Any, *args: Any, **kwargs: Any) -> Any:
    if symbolic_of(cls) is None or kwargs:
        return _ORIGINAL_APPLY.__func__(cls, *args, **kwargs)
    flat, spec = tree_flatten(list(args))
    positions = [i for i, item in enumerate(flat) if isinstance(item, torch.Tensor)]
    tensors = [flat[i] for i in positions]
    call = _Call(cls, [None if i in positions else item for i, item in enumerate(flat)], spec, positions)
    if _replay:
        call.recorded, call.example_shapes, call.output_spec = _replay.pop(0)
    _CALLS.append(call)
    outputs = _custom_op()(tensors, len(_CALLS) - 1)
    return tree_unflatten(list(outputs), call.output_spec)


def _recording_apply(cls: Any, *args: Any, **kwargs: Any) -> Any:
    result = _ORIGINAL_APPLY.__func__(cls, *args, **kwargs)
    if symbolic_of(cls) is not None and _recording is not None:
        leaves, output_spec = tree_flatten(result)
        shapes = [list(a.shape) for a in tree_flatten(list(args))[0] if isinstance(a, torch.Tensor)]
        _recording.append(([(list(leaf.shape), leaf.dtype) for leaf in leaves], shapes, output_spec))
    return result


def _needs_eager(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _NeedsEagerShapes) or type(seen).__name__ == "_NeedsEagerShapes" or \
                "_NeedsEagerShapes" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def capture_with_leaves(export: Callable[[], Any], run_eagerly: Callable[[], Any]) -> Any:
    """`export()` (a torch.export capture) with Functions that have a symbolic kept as leaves."""
    global _recording, _replay
    with _patched_apply(_leaf_apply):
        try:
            return export()
        except Exception as error:  # retried below, outside this handler, so errors do not chain
            if not _needs_eager(error):
                raise
    _recording = []
    try:
        with _patched_apply(_recording_apply), torch.no_grad():
            run_eagerly()
        recorded = _recording
    finally:
        _recording = None
    _replay = list(recorded)
    try:
        with _patched_apply(_leaf_apply):
            return export()
    finally:
        _replay = None
