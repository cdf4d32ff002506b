"""Capture with torch.export, then decompose only the ops that have no mapping at the opset."""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import operator
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, OutputKind
from torch.overrides import TorchFunctionMode

from aten2onnx.codegen.shared.torch_schema import overload_names, resolve_overload
from aten2onnx.exporter.capture import recurrent as rnn_capture
from aten2onnx.exporter.capture import tensor_sizes, whole_ops
from aten2onnx.exporter.capture.model_frames import shape_decisions_at_model_lines
from aten2onnx.exporter.emit import symint_ops
from aten2onnx.exporter.errors import CaptureError, OnnxExporterError
from aten2onnx.exporter.options import TrainingMode
from aten2onnx.exporter.translate import registry

# torch logs a traceback of its own when a meta kernel fails; the CaptureError says it better.
_NOISY_LOGGERS = ("torch._subclasses.fake_tensor", "torch.export", "torch._export", "torch.fx.experimental")
_MAX_DETAIL_LINES = 8


@contextlib.contextmanager
def model_mode(model: Any, training: TrainingMode) -> Iterator[None]:
    """train()/eval() as TrainingMode asks while capturing; the model's own mode is restored."""
    if not isinstance(model, torch.nn.Module) or training == TrainingMode.PRESERVE or not hasattr(model, "training"):
        yield  # a frozen ScriptModule has no mode left to set
        return
    # each module's own mode: train(flag) sets every submodule, so restoring the root's alone would
    # turn an eval() submodule of a training model (or a model inside a fresh wrapper) to training
    modes = [(module, module.training) for module in model.modules()]
    model.train(training == TrainingMode.TRAINING)
    try:
        yield
    finally:
        for module, was_training in modes:
            module.training = was_training


@contextlib.contextmanager
def _quiet_torch_logs() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _torch_stream_handlers() -> list[logging.StreamHandler[Any]]:
    """The handlers torch's logging set up on the process's stderr (torch's loggers do not propagate)."""
    found: list[logging.StreamHandler[Any]] = []
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not (name == "torch" or name.startswith("torch.")) or not isinstance(logger, logging.Logger):
            continue
        found.extend(h for h in logger.handlers if type(h) is logging.StreamHandler
                     and h.stream in (sys.stderr, sys.__stderr__))
    return found


@contextlib.contextmanager
def _torch_output_held(held: list[str]) -> Iterator[None]:
    """What torch writes to stderr while capturing, appended to `held` instead of printed: a failed
    torch.export prints the partial graph it traced (several times over for one error) and logs
    through handlers of its own; a failure must show aten2onnx's one error, with this text kept in
    the error and the report."""
    buffer = io.StringIO()
    handlers = _torch_stream_handlers()
    streams = [h.setStream(buffer) for h in handlers]
    try:
        with contextlib.redirect_stderr(buffer):
            yield
    finally:
        for handler, stream in zip(handlers, streams):
            if stream is not None:
                handler.setStream(stream)
        held.append(buffer.getvalue())


def _export_holding_output(held: list[str], *args: Any, **kwargs: Any) -> ExportedProgram:
    """torch.export.export, printing what torch wrote only if it succeeded (its warnings)."""
    with _torch_output_held(held):
        program = torch.export.export(*args, **kwargs)
    if held[-1]:
        sys.stderr.write(held[-1])
    return program


def _is_index_tensor(item: Any) -> bool:
    """A 0-d integer tensor used as an index (`data[i] = v` with `i = torch.tensor(2)`)."""
    return (isinstance(item, torch.Tensor) and item.dim() == 0 and not item.is_floating_point()
            and not item.is_complex() and item.dtype != torch.bool)


def _assign(target: torch.Tensor, items: Sequence[Any], value: Any) -> None:
    """`target[items] = value` where some items are 0-d integer tensors, without reading them.

    Ints and partial slices select a view of `target`; the 0-d tensors (and full slices)
    become an index_put_ on that view: a 0-d index adds no dimension, so the indexed shape,
    and how `value` broadcasts to it, is what `target[items]` would have.
    """
    items = list(items)
    if any(item is Ellipsis for item in items):
        at = next(n for n, item in enumerate(items) if item is Ellipsis)
        used = sum(1 for item in items if item is not Ellipsis)
        items[at:at + 1] = [slice(None)] * (target.dim() - used)
    view, indices = target, list[torch.Tensor | None]()
    for item in items:
        if isinstance(item, slice):
            if item != slice(None):
                view = view[(slice(None),) * len(indices) + (item,)]
            indices.append(None)
        elif isinstance(item, torch.Tensor):
            indices.append(item)
        else:  # an int
            view = view.select(len(indices), item)
    while indices and indices[-1] is None:
        indices.pop()
    if not isinstance(value, torch.Tensor):
        value = torch.full((), value, dtype=target.dtype, device=target.device)
    rank = view.dim() - sum(1 for i in indices if i is not None)  # each 0-d index takes a dim away
    while value.dim() > rank and value.shape[0] == 1:  # setitem drops a value's leading 1s
        value = value[0]
    torch.ops.aten.index_put_.default(view, indices, value.to(target.dtype))


class _ExportFriendlyIndexing(TorchFunctionMode):
    """`data[i] = value` with a 0-d integer tensor `i`, as torch.export can capture it.

    torch turns such an index into a Python int (a guard on the data, which torch.export
    refuses). The assignment becomes an index_put_ with `i` as a tensor index (see `_assign`),
    which needs no guard. Reading `data[i]` is already rewritten by torch.export (a select of
    `i.item()`). Other indices are untouched.
    """

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.Tensor.__setitem__ and len(args) == 3 and not kwargs:
            target, index, value = args
            items = index if isinstance(index, tuple) else (index,)
            simple = all(_is_index_tensor(i) or i is Ellipsis or isinstance(i, (int, torch.SymInt, slice))
                         for i in items)
            if simple and any(_is_index_tensor(i) for i in items):
                _assign(target, items, value)
                return None
        return func(*args, **kwargs)


# torch's constraint-violation text names sizes as L['x'].size()[0] (or L['args'][0][1]...)
_SOURCE = re.compile(r"L\[['\"]?([^\]'\"]+)['\"]?\]((?:\[[^\]]+\])*)\.size\(\)\[(\d+)\]")


def _readable(text: str) -> str:
    """`L['x'].size()[0]` -> `x.shape[0]`; `L['args'][0][1].size()[2]` -> `args[0][1].shape[2]`."""
    return _SOURCE.sub(lambda m: f"{m.group(1)}{m.group(2)}.shape[{m.group(3)}]", text)


def _dim_sources(model: Any, dynamic_shapes: Any) -> dict[str, str]:
    """Dim name -> where it is used (`x.shape[0]`), for the Dims a dynamic_shapes dict/tuple names."""
    sources: dict[str, str] = {}
    if isinstance(dynamic_shapes, dict):
        entries = list(dynamic_shapes.items())
    elif isinstance(dynamic_shapes, (list, tuple)):
        try:
            names = list(inspect.signature(model.forward).parameters)
        except (TypeError, ValueError, AttributeError):
            names = []
        entries = [(names[i] if i < len(names) else f"args[{i}]", spec) for i, spec in enumerate(dynamic_shapes)]
    else:
        return sources
    for input_name, spec in entries:
        axes = spec.items() if isinstance(spec, dict) else enumerate(spec) if isinstance(spec, (list, tuple)) else ()
        for axis, dim in axes:
            name = getattr(dim, "__name__", None)
            if isinstance(axis, int) and isinstance(name, str) and type(dim).__name__ != "_DimHint":
                sources.setdefault(name, f"{input_name}.shape[{axis}]")
    return sources


def _constraint_violation(text: str, sources: dict[str, str] | None = None) -> str | None:
    """torch's 'Constraints violated' report, shortened: each dimension's constraint and the fix.

    torch lists every violated guard as `- <message>` and then `Suggested fixes:` (Dim lines).
    `sources` (Dim name -> `x.shape[0]`) says where a Dim torch names only by name is used.
    """
    if "Constraints violated" not in text:
        return None
    lines = text.splitlines()
    found = [_readable(line.strip()[2:]) for line in lines if line.strip().startswith("- ")]
    found = [re.sub(r" If you're using (mark_dynamic|Dim\.DYNAMIC).*$", "", f) for f in found]
    for name, source in (sources or {}).items():
        found = [f.replace(f"marked {name} as dynamic", f"marked {name} ({source}) as dynamic") for f in found]
    fixes: list[str] = []
    if "Suggested fixes:" in lines:
        for line in lines[lines.index("Suggested fixes:") + 1:]:
            if not line.startswith("  ") or not line.strip():
                break
            fixes.append(_readable(line.strip()))
    shown = found[:_MAX_DETAIL_LINES] + ([f"... and {len(found) - _MAX_DETAIL_LINES} more"]
                                         if len(found) > _MAX_DETAIL_LINES else [])
    message = "dynamic dimension constraints do not hold:\n" + "\n".join(f"  - {f}" for f in shown)
    if fixes:
        message += "\ntorch suggests these dynamic_shapes: " + "; ".join(fixes)
    return message


def _constraint_hints(text: str) -> list[str]:
    hints = []
    if re.search(r"specialized it to be a constant \([01]\)", text):
        hints.append("torch.export fixes a size of 1 (or 0): give the example input a size of at least 2 "
                     "on every axis you mark dynamic")
    elif "specialized" in text:
        hints.append("the model fixes the size of a dimension marked dynamic (a reshape to a constant, a "
                     "layer with a fixed size, a Python branch on the size): drop that axis from "
                     "dynamic_shapes/dynamic_axes, or use Dim.AUTO to let torch decide")
    if "must always be equal" in text:
        hints.append("the model needs two dimensions to be equal: give both the same Dim (or the same name)")
    if "satisfy the generated guard" in text:
        hints.append("the model only works for some sizes of a dimension: declare the Dim as torch suggests "
                     "(its range, or a multiple such as 2*_b), or use Dim.AUTO")
    return hints


def _hints(text: str) -> list[str]:
    hints = []
    if "0/1 specialized" in text or "specialized it to be a constant (1)" in text:
        hints.append("torch.export fixes a size of 1 (or 0): give the example input a size of at least 2 "
                     "on every axis you mark dynamic")
    elif "specialized" in text or "Constraints violated" in text:
        hints.append("an axis marked dynamic is fixed by the model (or tied to another axis): drop it from "
                     "dynamic_axes/dynamic_shapes, or name tied axes alike")
    if any(k in text for k in ("shapes cannot be multiplied", "must match the size", "same reduction dim",
                               "expected input", "size mismatch", "Expected size")):
        hints.append("the example inputs' shapes do not fit the model's layers: check each input's shape")
    if "data-dependent" in text.lower() or "GuardOnDataDependentSymNode" in text:
        hints.append("replace data-dependent Python control flow with torch.cond and avoid .item()/.tolist() "
                     "on tensors that decide shapes")
    return hints


def _data_dependent(error: BaseException) -> bool:
    """A guard on a tensor's data (GuardOnDataDependentSymNode), anywhere in the error's chain."""
    seen: BaseException | None = error
    while seen is not None:
        if type(seen).__name__ == "GuardOnDataDependentSymNode" or "data-dependent" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _own_error(error: BaseException) -> OnnxExporterError | None:
    """An aten2onnx error in the chain of a torch.export failure: it already says what to do."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OnnxExporterError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _export(held: list[str], model: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any] | None,
            dynamic_shapes: Any) -> ExportedProgram:
    """torch.export.export, with autograd.Functions that define `symbolic` kept whole (autograd_symbolic)."""
    from aten2onnx.exporter.capture import autograd_symbolic

    return autograd_symbolic.capture_with_leaves(
        lambda: _export_holding_output(held, model, args, kwargs=kwargs, dynamic_shapes=dynamic_shapes,
                                       strict=False),
        lambda: model(*args, **(kwargs or {})))


def _own_storage(tensor: torch.Tensor) -> torch.Tensor:
    """A copy of a view that is no view: same values, sizes and (where they do not overlap) strides."""
    with torch.no_grad():
        if torch._debug_has_internal_overlap(tensor) == 0:  # a slice or a transpose: keep its strides
            fresh = torch.empty_strided(tensor.size(), tensor.stride(), dtype=tensor.dtype, device=tensor.device)
            fresh.copy_(tensor)
        else:  # an expand: elements share memory, which a fresh tensor cannot
            fresh = tensor.clone(memory_format=torch.contiguous_format)
    return fresh.requires_grad_(tensor.requires_grad)


def independent_inputs(args: tuple[Any, ...], kwargs: dict[str, Any] | None) -> tuple[tuple[Any, ...], Any]:
    """The example inputs with none aliasing another: every view (`x[:, :4]`, `x.t()`) and every
    repeat of a tensor already given is replaced by a copy owning its storage.

    ONNX inputs never alias, but torch.export follows aliasing among its inputs: it records a view
    with its base (and with a dynamic axis guards on the base's sizes, `x._base.size()[0]`, which
    run_decompositions' retrace cannot check), and one tensor given twice becomes one graph input,
    the second ONNX input being ignored. Copies have the same values, sizes and (where they do not
    overlap) strides, so the graph computes the same; a model that writes into its input reads the
    written values afterwards either way, and the caller's tensors are left as they were (as
    torch.export leaves them).
    """
    leaves = [t for t in torch.utils._pytree.tree_leaves((args, kwargs)) if type(t) is torch.Tensor]
    if all(t._base is None for t in leaves) and len({id(t) for t in leaves}) == len(leaves):
        return args, kwargs
    seen: set[int] = set()

    def independent(tensor: torch.Tensor) -> torch.Tensor:
        if type(tensor) is not torch.Tensor:
            return tensor
        if tensor._base is not None or id(tensor) in seen:
            return _own_storage(tensor)
        seen.add(id(tensor))
        return tensor

    return torch.utils._pytree.tree_map_only(torch.Tensor, independent, (args, kwargs))


def capture(model: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any] | None,
            dynamic_shapes: Any, training: TrainingMode = TrainingMode.EVAL) -> ExportedProgram:
    """torch.export.export(strict=False), with its failure turned into a CaptureError.

    `_ExportFriendlyIndexing` costs every torch call of the trace a trip through Python (about 5%
    of a capture), so it is installed only to retry a capture that failed on a data-dependent guard
    (what `data[i] = v` with a 0-d tensor `i` raises without it), together with the rewrites of
    exporter/capture/tensor_sizes.py (sizes and steps read from tensors). The packed-sequence mode
    (exporter/capture/recurrent.py) is installed for models with recurrent layers, and to retry a capture
    that failed inside torch's packing code.
    """
    args, kwargs = independent_inputs(args, kwargs)
    packing = rnn_capture.has_rnn(model)
    held: list[str] = []  # what torch printed, per attempt
    try:
        with model_mode(model, training), _quiet_torch_logs(), shape_decisions_at_model_lines(), \
                rnn_capture.symbolic_rnn_shapes(), tensor_sizes.distribution_checks_off():
            retry = None
            try:
                with rnn_capture.packed_sequences(packing):
                    return _export(held, model, args, kwargs, dynamic_shapes)
            except Exception as first:  # retried below, outside this handler, so errors do not chain
                if not packing and rnn_capture.failed_in_packing(first):
                    retry = "packing"
                elif _data_dependent(first):
                    retry = "indexing"
                else:
                    raise
                _clean_dynamic_markers((args, kwargs))
            with rnn_capture.packed_sequences(packing or retry == "packing"), \
                    _ExportFriendlyIndexing() if retry == "indexing" else contextlib.nullcontext(), \
                    tensor_sizes.SizesFromTensors() if retry == "indexing" else contextlib.nullcontext():
                return _export(held, model, args, kwargs, dynamic_shapes)
    except Exception as exc:  # torch raises many types here; all mean "could not capture"
        own = _own_error(exc)
        if own is not None:  # raised by our code inside torch.export (an unsupported cache class)
            raise own from None
        text = str(exc).strip()
        violation = _constraint_violation(text, _dim_sources(model, dynamic_shapes))
        if violation is not None:
            hints = _constraint_hints(text) or _hints(text)
            raise CaptureError(
                f"torch.export could not capture {type(model).__name__} with these dynamic shapes: {violation}"
                + "\nHint: " + "; ".join(hints) + ". The full torch error is chained below.", torch_output="".join(held)
            ) from exc
        lines = [line for line in text.splitlines() if line.strip()][:_MAX_DETAIL_LINES] or [type(exc).__name__]
        hints = _hints(text) or ["make forward() traceable by torch.export: replace data-dependent Python control "
                                 "flow with torch.cond, avoid .item()/.tolist() on tensors that decide shapes, and "
                                 "check that the example inputs match forward()'s signature"]
        raise CaptureError(
            f"torch.export could not capture {type(model).__name__}: {type(exc).__name__}: " + "\n".join(lines)
            + "\nHint: " + "; ".join(hints) + ". The full torch error is chained below.", torch_output="".join(held)
        ) from exc
    finally:
        _clean_dynamic_markers((args, kwargs))


# What torch.export marks on the example tensors; a failed capture leaves them behind, and the
# next capture of the same tensors (a retry, another export) would take them as dynamic_shapes.
_DYNAMIC_MARKERS = ("_dynamo_weak_dynamic_indices", "_dynamo_dynamic_indices", "_dynamo_dynamic_range",
                    "_dynamo_static_indices", "_dynamo_unbacked_indices", "_dynamo_propagated_dynamic_indices",
                    "_has_dynamo_dim_marking", "_dynamo_hint_overrides", "_dynamo_shape_ids")


def _clean_dynamic_markers(inputs: Any) -> None:
    for leaf in torch.utils._pytree.tree_leaves(inputs):
        if isinstance(leaf, torch.Tensor):
            for attribute in _DYNAMIC_MARKERS:
                if attribute in leaf.__dict__:
                    delattr(leaf, attribute)


def _core_fallback(op: Any) -> Any:
    """torch._decomp's decomposition of a Core ATen op (None if it has none). Core ops are
    torch.export's floor and never decomposed by default; one without a mapping at the opset
    (grid_sampler_2d below GridSample-16) is better decomposed than unsupported."""
    from torch._decomp import decomposition_table as every_decomposition

    if not isinstance(op, torch._ops.OpOverload) or torch.Tag.core not in op.tags:
        return None
    return every_decomposition.get(op)


def decomposition_table(opset: int) -> dict[Any, Any]:
    """torch's default decompositions, plus those of Core ATen ops without a mapping at `opset`,
    minus every op that has a mapping at `opset` (kept whole)."""
    from torch._decomp import decomposition_table as every_decomposition

    table = torch.export.default_decompositions()
    for op in every_decomposition:
        # (_core_fallback takes OpOverloads only; the isinstance says so to the type checker)
        if (isinstance(op, torch._ops.OpOverload) and op not in table and _core_fallback(op) is not None
                and not _mapped(op, opset)):
            table[op] = every_decomposition[op]
    for name in registry.supported_ops(opset):
        # a custom symbolic may name a whole op (`aten::gelu`): keep every overload of it
        overloads = [name] if "." in name.split("::", 1)[-1] else [f"{name}.{o}" for o in overload_names(name)]
        for overload in overloads:
            resolved = resolve_overload(overload)
            if resolved is not None and resolved in table:
                table.pop(resolved)
    return table


# Placeholders translate knows; anything else (tokens, custom objects) goes through torch first.
_DIRECT_INPUTS = (InputKind.USER_INPUT, InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR)


def _mapped(op: torch._ops.OpOverload, opset: int) -> bool:
    return registry.lookup(f"{op._schema.name}.{op._overloadname}", opset) is not None


def _functional_variant(op: torch._ops.OpOverload) -> torch._ops.OpOverload | None:
    """`aten.relu.default` for `aten.relu_.default`: an in-place op that writes `self` only and
    returns it, and whose functional twin takes the same arguments; None for anything else."""
    schema = op._schema
    name = schema.name.split("::", 1)[-1]
    if not name.endswith("_") or name.startswith("_") or not schema.arguments or len(schema.returns) != 1:
        return None
    written = [a for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write]
    if written != [schema.arguments[0]]:
        return None
    packet = getattr(getattr(torch.ops, op.namespace), name[:-1], None)
    functional = getattr(packet, op._overloadname, None) if packet is not None else None
    if not isinstance(functional, torch._ops.OpOverload) or functional._schema.is_mutable:
        return None
    if [a.name for a in functional._schema.arguments] != [a.name for a in schema.arguments]:
        return None
    return functional


def _fresh(node: Any, retargeted: dict[torch.fx.Node, Any]) -> bool:
    """`node` is a tensor of its own (made by an op that returns no alias), so writing into it
    changes no input, weight or view."""
    while isinstance(node, torch.fx.Node) and node.op == "call_function":
        if node.target is operator.getitem or node in retargeted:
            node = node.args[0]  # an output of a multi-output op; an in-place op returns its self
            continue
        target = node.target
        return isinstance(target, torch._ops.OpOverload) and all(r.alias_info is None for r in target._schema.returns)
    return False


def _keeps_dtype(node: torch.fx.Node) -> bool:
    """The functional op would give the in-place op's dtype: every tensor operand has self's dtype and
    no Python scalar promotes it (an in-place result keeps self's dtype, a functional one promotes)."""
    self_meta = node.args[0].meta.get("val") if isinstance(node.args[0], torch.fx.Node) else None
    if not isinstance(self_meta, torch.Tensor):
        return False
    for arg in [*node.args[1:], *node.kwargs.values()]:
        for item in arg if isinstance(arg, (list, tuple)) else (arg,):
            meta = item.meta.get("val") if isinstance(item, torch.fx.Node) else item
            if isinstance(meta, torch.Tensor) and meta.dtype != self_meta.dtype:
                return False
            if isinstance(meta, (float, complex)) and not (self_meta.is_floating_point() or self_meta.is_complex()):
                return False
            if isinstance(meta, int) and not isinstance(meta, bool) and self_meta.dtype == torch.bool:
                return False
    return True


@dataclass(frozen=True)
class _Survey:
    """What `_survey` found in a graph it can translate as captured."""
    retargeted: dict[torch.fx.Node, Any]  # in-place node -> the functional op to run instead
    unmapped: list[torch.fx.Node]  # nodes whose op has no mapping: to decompose one by one


def _survey(program: ExportedProgram, opset: int) -> _Survey | None:
    """The in-place nodes to retarget and the nodes whose op has no mapping, when the captured graph
    can be translated as it is once those ops are decomposed; None when it needs run_decompositions
    as a whole.

    torch.export returns training IR: ops as the model called them, in-place ops and views included.
    Translating it directly is exact when nothing is mutated but fresh intermediates: an in-place
    op whose `self` was made by a non-aliasing op, is read by nothing else (so no view of it
    exists and no later reader sees the write), and whose functional twin has a mapping and gives
    the same dtype (`relu_` after a batch_norm). Then every view is as good as a copy. Inputs or
    weights written, views written and control flow go through run_decompositions.
    """
    signature = program.graph_signature
    if any(spec.kind not in _DIRECT_INPUTS for spec in signature.input_specs):
        return None
    if any(spec.kind != OutputKind.USER_OUTPUT for spec in signature.output_specs):
        return None
    retargeted: dict[torch.fx.Node, Any] = {}
    unmapped: list[torch.fx.Node] = []
    for node in program.graph_module.graph.nodes:
        if node.op != "call_function" or node.target is operator.getitem or symint_ops.handles(node.target):
            continue
        if not isinstance(node.target, torch._ops.OpOverload):
            return None  # control flow and other higher-order ops
        if _updates_running_stats(node):
            return None
        if not node.target._schema.is_mutable:
            if not _mapped(node.target, opset):
                unmapped.append(node)
            continue
        functional = _functional_variant(node.target)
        written = node.args[0] if node.args else None
        if (functional is None or not _mapped(functional, opset) or not isinstance(written, torch.fx.Node)
                or len(written.users) != 1 or not _fresh(written, retargeted) or not _keeps_dtype(node)):
            return None
        retargeted[node] = functional
    return _Survey(retargeted, unmapped)


# Batch norm's ops whose schemas declare no write, yet which update running_mean and running_var in
# place when training (instance_norm with use_input_stats): translated as captured, the update is
# lost. Decomposed by run_decompositions (even with a mapping), they are functionalized into
# _native_batch_norm_legit_functional, whose updated statistics become buffer mutations or the
# values later readers see.
_STAT_UPDATERS = ("aten::batch_norm", "aten::native_batch_norm", "aten::_batch_norm_impl_index",
                  "aten::instance_norm")


def _updates_running_stats(node: torch.fx.Node) -> bool:
    schema = node.target._schema  # type: ignore[union-attr]
    if schema.name not in _STAT_UPDATERS:
        return False
    names = [a.name for a in schema.arguments]
    bound = {**dict(zip(names, node.args)), **node.kwargs}
    training = bound.get("use_input_stats" if "use_input_stats" in bound else "training")
    return training is not False and bound.get("running_mean") is not None


def _symbolic_objects(items: Any) -> bool:
    return any(isinstance(i, (torch.SymInt, torch.SymFloat, torch.SymBool))
               for i in torch.utils._pytree.tree_leaves(items))


def _guard_count(fake_mode: Any) -> int:
    shape_env = getattr(fake_mode, "shape_env", None)
    if shape_env is None:
        return 0
    return len(shape_env.guards) + sum(len(a) for a in shape_env.deferred_runtime_asserts.values())


def _decompositions() -> Callable[[Any], Any]:
    """op -> torch.export's default decomposition of it (None when it keeps the op), without building
    default_decompositions() (about 0.5 s: it collects every CompositeImplicitAutograd op)."""
    try:
        from torch._decomp import _core_aten_decompositions_post_autograd
        from torch._export.utils import _get_decomp_for_cia
        from torch.export.decomp_utils import PRESERVED_ATEN_CIA_OPS
    except ImportError:  # torch moved its private helpers: the public table has the same entries
        table = torch.export.default_decompositions()
        return lambda op: table[op] if op in table else None
    core = _core_aten_decompositions_post_autograd()

    def find(op: Any) -> Any:
        if op in core:
            return core[op]
        implicit = torch._C._dispatch_has_kernel_for_dispatch_key(op.name(), "CompositeImplicitAutograd")
        if implicit and op not in PRESERVED_ATEN_CIA_OPS:
            return _get_decomp_for_cia(op)
        return _core_fallback(op)

    return find


def _trace_decomposition(node: torch.fx.Node, decomposition_of: Callable[[Any], Any], opset: int,
                         dynamic: bool = False) -> tuple[torch.fx.GraphModule, list[torch.fx.Node]] | None:
    """The decomposition of `node`'s op traced on its own fake example values, and the nodes its
    placeholders stand for, when every op it yields has a mapping and it returns one tensor;
    None otherwise. With symbolic sizes, a decomposition that computes with them or guards on
    them (which would specialize the program) is refused: run_decompositions tracks those."""
    from torch._guards import detect_fake_mode
    from torch.fx.experimental.proxy_tensor import make_fx

    decomposition = decomposition_of(node.target)
    if decomposition is None or not isinstance(node.meta.get("val"), torch.Tensor):
        return None
    flat, spec = torch.utils._pytree.tree_flatten((node.args, node.kwargs))
    positions = [i for i, item in enumerate(flat) if isinstance(item, torch.fx.Node)]
    examples = [flat[i].meta.get("val") for i in positions]
    if not all(isinstance(e, torch.Tensor) for e in examples) or _symbolic_objects(flat):
        return None
    # In a program with symbolic sizes, torch keeps some composite ops (stft) with metadata of the
    # example's sizes: an operand computed in the graph with a static shape may be such a stale value,
    # and the decomposition would bake it in. run_decompositions retraces those correctly.
    if dynamic and any(flat[i].op != "placeholder" and not _symbolic_objects(tuple(e.shape))
                       for i, e in zip(positions, examples)):
        return None
    fake_mode = detect_fake_mode(examples)
    if fake_mode is None:
        return None

    def body(*tensors: torch.Tensor) -> Any:
        items = list(flat)
        for i, tensor in zip(positions, tensors):
            items[i] = tensor
        args, kwargs = torch.utils._pytree.tree_unflatten(items, spec)
        return decomposition(*args, **kwargs)

    guards = _guard_count(fake_mode)
    try:
        with fake_mode:
            traced = make_fx(body, tracing_mode="real")(*examples)
    except Exception:  # torch could not trace it on its own: run_decompositions will
        return None
    if _guard_count(fake_mode) != guards:
        return None
    for sub in traced.graph.nodes:
        if _symbolic_objects((sub.args, sub.kwargs)):
            return None
        if sub.op == "output" and not isinstance(sub.args[0], torch.fx.Node):
            return None
        if sub.op == "get_attr" or sub.op == "call_function" and not (
                isinstance(sub.target, torch._ops.OpOverload) and not sub.target._schema.is_mutable
                and _mapped(sub.target, opset)):
            return None
    return traced, [flat[i] for i in positions]


def _decompose_locally(program: ExportedProgram, nodes: list[torch.fx.Node], opset: int) -> bool:
    """Replace each of `nodes` by its decomposition (ops with a mapping), in place; all or nothing.

    A few ops without a mapping (`aten.__and__.Tensor` in BERT) do not need run_decompositions'
    retrace of the whole program: each is traced alone on its fake example values and inlined.
    """
    decomposition_of = _decompositions()
    dynamic = any(_symbolic_objects(tuple(n.meta["val"].shape)) for n in program.graph_module.graph.nodes
                  if n.op == "placeholder" and isinstance(n.meta.get("val"), torch.Tensor))
    traced = [_trace_decomposition(node, decomposition_of, opset, dynamic) for node in nodes]
    if any(t is None for t in traced):
        return False
    graph = program.graph_module.graph
    replaced: dict[torch.fx.Node, torch.fx.Node] = {}  # an operand may itself be one of `nodes`
    for node, (sub, operands) in zip(nodes, traced):  # type: ignore[misc]
        placeholders = [n for n in sub.graph.nodes if n.op == "placeholder"]
        env = dict(zip(placeholders, (replaced.get(o, o) for o in operands)))
        kept_meta = {k: v for k, v in node.meta.items() if k not in ("val", "tensor_meta")}
        with graph.inserting_before(node):
            for sub_node in sub.graph.nodes:
                if sub_node.op == "call_function":
                    copy = graph.node_copy(sub_node, env.__getitem__)
                    copy.meta = {**kept_meta, "val": sub_node.meta.get("val")}
                    env[sub_node] = copy
                elif sub_node.op == "output":
                    replaced[node] = env[sub_node.args[0]]
                    node.replace_all_uses_with(replaced[node])
        graph.erase_node(node)
    program.graph_module.recompile()
    return True


def _grad_region(node: torch.fx.Node) -> torch.fx.GraphModule | None:
    """The body of a `with torch.no_grad()` region (wrap_with_set_grad_enabled) that can be inlined:
    plain ops only, its outputs read through getitem; None for any other node."""
    wrap = getattr(torch.ops.higher_order, "wrap_with_set_grad_enabled", None)
    if wrap is None or node.target is not wrap or len(node.args) < 2 or node.kwargs:
        return None
    holder = node.args[1]
    if not isinstance(holder, torch.fx.Node) or holder.op != "get_attr":
        return None
    body = getattr(node.graph.owning_module, str(holder.target), None)
    if not isinstance(body, torch.fx.GraphModule):
        return None
    if any(n.op not in ("placeholder", "call_function", "output") for n in body.graph.nodes):
        return None
    results = next(n for n in body.graph.nodes if n.op == "output").args[0]
    if not isinstance(results, (list, tuple)) or not all(isinstance(r, torch.fx.Node) for r in results):
        return None
    if not all(u.target is operator.getitem and isinstance(u.args[1], int) for u in node.users):
        return None
    if sum(1 for n in body.graph.nodes if n.op == "placeholder") != len(node.args) - 2:
        return None
    return body


def _inline_grad_regions(program: ExportedProgram) -> bool:
    """Inline every `torch.no_grad()` region (rotary embeddings in LLaMA-style models), in place; all
    or nothing. Grad mode changes no value an inference graph computes; run_decompositions would
    inline them too, retracing the whole program."""
    graph = program.graph_module.graph
    regions = [(n, _grad_region(n)) for n in graph.nodes if n.op == "call_function"
               and isinstance(n.target, torch._ops.HigherOrderOperator)]
    if not regions or any(body is None for _, body in regions):
        return False
    for node, body in regions:
        placeholders = [n for n in body.graph.nodes if n.op == "placeholder"]  # type: ignore[union-attr]
        env = dict(zip(placeholders, node.args[2:]))
        with graph.inserting_before(node):
            for inner in body.graph.nodes:  # type: ignore[union-attr]
                if inner.op == "call_function":
                    env[inner] = graph.node_copy(inner, env.__getitem__)
                elif inner.op == "output":
                    results = [env[r] for r in inner.args[0]]
        for user in list(node.users):
            user.replace_all_uses_with(results[user.args[1]])
            graph.erase_node(user)
        holder = node.args[1]
        graph.erase_node(node)
        if not holder.users:
            graph.erase_node(holder)
            delattr(program.graph_module, str(holder.target))
    program.graph_module.recompile()
    return True


def decompose(program: ExportedProgram, opset: int, owned: bool = True) -> ExportedProgram:
    """The program with only ops that have a mapping at `opset`, functional.

    run_decompositions retraces the whole program (about as long as capturing it), so it is
    skipped when `_survey` finds the captured graph translatable as it is, after decomposing
    the few ops without a mapping one by one and inlining `torch.no_grad()` regions. `owned`:
    the program is ours to edit (not a user's ExportedProgram), so nodes may be retargeted or
    replaced.
    """
    with rnn_capture.symbolic_rnn_shapes() if _has_rnn_nodes(program) else contextlib.nullcontext():
        return _decompose(program, opset, owned)


def _has_rnn_nodes(program: ExportedProgram) -> bool:
    """An RNN op whose shapes a retrace would compute with torch's time loop (see rnn_capture)."""
    return any(n.op == "call_function" and getattr(n.target, "__name__", "").split(".")[0]
               in ("lstm", "gru", "rnn_tanh", "rnn_relu") for n in program.graph_module.graph.nodes)


def _decompose(program: ExportedProgram, opset: int, owned: bool) -> ExportedProgram:
    if owned:
        _inline_grad_regions(program)
    survey = _survey(program, opset)
    if survey is not None and survey.unmapped and owned and _decompose_locally(program, survey.unmapped, opset):
        survey = _survey(program, opset)
    if survey is not None and not survey.unmapped and (owned or not survey.retargeted):
        for node, functional in survey.retargeted.items():
            node.target = functional
        if survey.retargeted:
            program.graph_module.recompile()
        return program
    table = decomposition_table(opset)
    decomposition_of = _decompositions()
    for node in program.graph_module.graph.nodes:  # decomposed even with a mapping: see _STAT_UPDATERS
        if node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload) \
                and _updates_running_stats(node) and decomposition_of(node.target) is not None:
            table[node.target] = decomposition_of(node.target)
    with whole_ops.kept_whole(opset):  # their fake rules: the retrace must not run torch's composite code
        return _without_effect_tokens(program.run_decompositions(table))


def _without_effect_tokens(program: ExportedProgram) -> ExportedProgram:
    """The program with its effect tokens removed: ops torch orders by a token (the
    `_linalg_check_errors` after `linalg.inv` and the other checking linalg functions, wrapped in
    `with_effects`) become plain calls, and the token input and output go."""
    if not any(spec.kind == InputKind.TOKEN for spec in program.graph_signature.input_specs):
        return program
    from torch.export._remove_effect_tokens_pass import _remove_effect_tokens

    return _remove_effect_tokens(program)
