"""Dynamic axes as hints, as torch.onnx users know them: an axis asked dynamic is exported dynamic
where the model allows it, and with its example size (and a warning naming the line of the model
that fixed it) where the model does not.

torch.export refuses both cases: it fixes an example size of 0 or 1 (it traces those sizes
apart from the others), and it fails when the model fixes a size asked dynamic. Here:

- Axes asked dynamic by name (dynamic_axes, strings) or as Dim.DYNAMIC go to torch.export as
  Dim.AUTO (see dynamic_axes.to_torch), which lets it fix an axis the model fixes; such axes are
  found after capture, with the line that fixed each read from torch's shape environment. A named
  Dim the model fixes makes torch.export fail: the capture is retried with those Dims as Dim.AUTO.
- An axis whose example size is 0 or 1 is captured with a larger example: the input repeated
  (size 1) or zeros (size 0) along it, one size per axis name (7, 11, 13, ...), so torch traces the
  general case. The captured program is then run at the original example and compared with
  eager PyTorch: a model that computes differently at that size (a branch on
  `x.shape[0] == 1`, `squeeze()`), or cannot run at the larger size at all (`x.view(1, -1)`), is
  captured again with the axis fixed at its example size, and the warning says why.

Every fixed axis is listed in the report; the ONNX input shows its size, not a name.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.export import ExportedProgram
from torch.export.dynamic_shapes import _DimHint, _DimHintType

from aten2onnx.exporter.capture.dim_names import static_size
from aten2onnx.exporter.capture.legacy_dynamic_axes import DynamicAxisWarning, to_torch
from aten2onnx.exporter.capture.model_frames import fixed_at, traceback_line
from aten2onnx.exporter.capture.model_inputs import forward_of, named_inputs
from aten2onnx.exporter.capture.torch_export import capture, model_mode
from aten2onnx.exporter.errors import CaptureError
from aten2onnx.exporter.options import TrainingMode

# Example sizes a 0/1 axis is captured at, one per axis name: primes, so that no two axes (nor an
# axis and a layer's size) are equal by accident and torch ties nothing it should not.
WIDE_SIZES = (7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47)
_SPECIALIZED = re.compile(r"You marked (\S+) as dynamic but your code specialized it to be a constant")


@dataclass(frozen=True)
class Axis:
    """One axis asked dynamic: which input leaf, where, its spec and its example size."""

    input: int              # index among the top-level inputs (args, then kwargs)
    leaf: int               # index among all tensor inputs, as torch.export lists them
    path: tuple[Any, ...]   # inside the input: (1, 'a') for pair[1]['a']
    axis: int
    spec: Any               # a name (str), a Dim, or a hint (Dim.AUTO / Dim.DYNAMIC)
    size: int               # the example's size
    where: str              # `x.shape[0]`
    source: str             # torch's name for the size: `L['x'].size()[0]`

    @property
    def name(self) -> str | None:
        if isinstance(self.spec, str):
            return self.spec
        name = getattr(self.spec, "__name__", None)
        return name if isinstance(name, str) and not isinstance(self.spec, _DimHint) else None

    def describe(self) -> str:
        return f"{self.where} ('{self.name}')" if self.name else self.where


@dataclass(frozen=True)
class FixedAxis:
    """An axis asked dynamic that the export fixes at `size`, and why."""

    where: str
    name: str | None
    size: int
    reason: str

    def __str__(self) -> str:
        return f"{self.where} is exported with the fixed size {self.size}: {self.reason}"


@dataclass
class DynamicOutcome:
    """What became of the dynamic axes asked for: for the warnings and the report."""

    notes: list[str] = field(default_factory=list)       # ignored keys, axes captured at another size
    fixed: list[FixedAxis] = field(default_factory=list)
    bound: dict[str, Any] = field(default_factory=dict)  # Python values bound to forward() before capture

    @property
    def fixed_names(self) -> set[str]:
        return {f.name for f in self.fixed if f.name}

    def lines(self) -> list[str]:
        return [*self.notes, *(str(f) for f in self.fixed)]


def _is_dynamic(spec: Any) -> bool:
    if spec is None or isinstance(spec, int):
        return False
    return not (isinstance(spec, _DimHint) and spec.type == _DimHintType.STATIC)


def _axis_items(spec: Any) -> Iterator[tuple[int, Any]]:
    if isinstance(spec, dict):
        yield from spec.items()
    elif isinstance(spec, (list, tuple)):
        yield from enumerate(spec)


def _path_text(parameter: str, path: tuple[Any, ...]) -> tuple[str, str]:
    """(`pair[1]['a']`, `L['pair'][1]['a']`)."""
    inner = "".join(f"[{p!r}]" for p in path)
    return f"{parameter}{inner}", f"L[{parameter!r}]{inner}"


def _walk(value: Any, spec: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], torch.Tensor, Any]]:
    """(path, tensor, spec) for every tensor leaf of an input, in torch.export's order."""
    if isinstance(value, torch.Tensor):
        yield path, value, spec
    elif isinstance(value, (list, tuple)):
        specs = spec if isinstance(spec, (list, tuple)) else [None] * len(value)
        for index, item in enumerate(value):
            yield from _walk(item, specs[index] if index < len(specs) else None, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, spec.get(key) if isinstance(spec, dict) else None, (*path, key))


class _Hints:
    """The user's dynamic_shapes laid out along the model's inputs."""

    def __init__(self, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], dynamic_shapes: Any,
                 notes: list[str]):
        self.model, self.positional, self.keywords = model, len(args), list(kwargs)
        self.inputs = named_inputs(model, args, kwargs)
        self.as_dict = isinstance(dynamic_shapes, dict)
        self.container = type(dynamic_shapes) if isinstance(dynamic_shapes, (list, tuple)) else tuple
        names = [name for name, _ in self.inputs]
        if isinstance(dynamic_shapes, dict):
            for key, spec in dynamic_shapes.items():
                if key not in names and spec is not None:
                    notes.append(f"dynamic_shapes['{key}'] names no input given to the model: ignored")
                    warnings.warn(notes[-1], DynamicAxisWarning, stacklevel=6)
            self.specs = [dynamic_shapes.get(name) for name in names]
        else:
            given = list(dynamic_shapes)
            if any(spec is not None for spec in given[len(names):]):
                notes.append(f"dynamic_shapes has {len(given)} entries for {len(names)} inputs given to the "
                             "model: the extra entries are ignored")
                warnings.warn(notes[-1], DynamicAxisWarning, stacklevel=6)
            self.specs = given[:len(names)] + [None] * (len(names) - len(given))
        self.axes = list(self._axes())

    def _axes(self) -> Iterator[Axis]:
        leaf = 0
        for index, ((name, value), spec) in enumerate(zip(self.inputs, self.specs)):
            for path, tensor, tensor_spec in _walk(value, spec, ()):
                for axis, axis_spec in _axis_items(tensor_spec):
                    if _is_dynamic(axis_spec) and -tensor.dim() <= axis < tensor.dim():
                        where, source = _path_text(name, path)
                        axis = axis % tensor.dim()
                        yield Axis(index, leaf, path, axis, axis_spec, int(tensor.shape[axis]),
                                   f"{where}.shape[{axis}]", f"{source}.size()[{axis}]")
                leaf += 1

    def shapes(self, static: set[tuple[int, tuple[Any, ...], int]] = frozenset(),  # type: ignore[assignment]
               auto: set[str] = frozenset()) -> Any:  # type: ignore[assignment]
        """dynamic_shapes for torch.export in the user's form: the axes in `static` fixed, the named
        Dims in `auto` made Dim.AUTO, names and Dim.DYNAMIC as Dim.AUTO."""
        specs = [self._spec(value, spec, index, (), static, auto)
                 for index, ((_, value), spec) in enumerate(zip(self.inputs, self.specs))]
        if self.as_dict:
            return self._by_parameter(specs)
        return self.container(specs)

    def _by_parameter(self, specs: list[Any]) -> dict[str, Any]:
        """torch.export's dict form: keyed by forward()'s parameters, the keywords a `**kwargs`
        takes gathered under its name, the values a `*args` takes as a tuple."""
        by_input = {name: spec for (name, _), spec in zip(self.inputs, specs)}
        try:
            parameters = inspect.signature(forward_of(self.model)).parameters
        except (TypeError, ValueError):
            return by_input
        names = list(parameters)
        out: dict[str, Any] = {}
        for index in range(self.positional):
            parameter = parameters[names[min(index, len(names) - 1)]] if names else None
            if parameter is not None and parameter.kind == inspect.Parameter.VAR_POSITIONAL:
                out[parameter.name] = (*out.get(parameter.name, ()), specs[index])
            else:
                out[self.inputs[index][0]] = specs[index]
        extra = next((p.name for p in parameters.values() if p.kind == inspect.Parameter.VAR_KEYWORD), None)
        for key in self.keywords:
            if key in parameters and parameters[key].kind != inspect.Parameter.VAR_KEYWORD or extra is None:
                out[key] = by_input[key]
            else:
                out.setdefault(extra, {})[key] = by_input[key]
        return out

    def _spec(self, value: Any, spec: Any, index: int, path: tuple[Any, ...], static: set[Any], auto: set[str]) -> Any:
        if isinstance(value, torch.Tensor):
            if not isinstance(spec, (dict, list, tuple)):
                return to_torch(spec)
            items = {axis: (None if (index, path, axis % max(value.dim(), 1)) in static
                            else _as_auto(s) if getattr(s, "__name__", None) in auto else to_torch(s))
                     for axis, s in _axis_items(spec)}
            if isinstance(spec, dict):
                return {axis: s for axis, s in items.items() if s is not None}
            return type(spec)(items[axis] for axis in range(len(spec)))
        if isinstance(value, (list, tuple)) and isinstance(spec, (list, tuple)):
            return type(spec)(self._spec(v, s, index, (*path, i), static, auto) for i, (v, s) in enumerate(zip(value, spec)))
        if isinstance(value, dict) and isinstance(spec, dict):
            return {k: self._spec(value[k], s, index, (*path, k), static, auto) if k in value else s
                    for k, s in spec.items()}
        return to_torch(spec)


def _as_auto(dim: Any) -> _DimHint:
    return _DimHint(_DimHintType.AUTO, min=getattr(dim, "min", None), max=getattr(dim, "max", None))


def _group(axis: Axis) -> Any:
    """Axes sharing a name are one dimension; unnamed axes share one per position."""
    return axis.name or ("axis", axis.axis)


def _wide_size(axis: Axis, size: int) -> int | None:
    """`size` within the Dim's range; None when the range has no room for a size of 2 or more, or
    for a derived Dim (2*b), which follows its root."""
    if type(axis.spec).__name__ == "_DerivedDim":
        return None
    low, high = getattr(axis.spec, "min", None), getattr(axis.spec, "max", None)
    low = max(low if isinstance(low, int) else 2, 2)
    if isinstance(high, int) and high < low:
        return None
    size = max(size, low)
    return min(size, high) if isinstance(high, int) else size


def _widened(value: Any, widths: dict[int, dict[int, int]]) -> Any:
    """The input with each tensor in `widths` (id -> {axis: size}) grown along those axes: a size-1
    axis repeats its slice, a size-0 axis gets zeros."""
    if isinstance(value, torch.Tensor):
        grown = value
        for axis, size in widths.get(id(value), {}).items():
            shape = list(grown.shape)
            shape[axis] = size
            grown = grown.expand(shape).clone() if grown.shape[axis] == 1 else grown.new_zeros(shape)
        return grown
    if isinstance(value, (list, tuple)):
        items = [_widened(v, widths) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return type(value)((k, _widened(v, widths)) for k, v in value.items())
    return value


def _clone(value: Any) -> Any:
    return torch.utils._pytree.tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) else t, value)


def _random(program: ExportedProgram) -> bool:
    return any(isinstance(n.target, torch._ops.OpOverload) and torch.Tag.nondeterministic_seeded in n.target.tags
               for n in program.graph.nodes if n.op == "call_function")


def _first_difference(got: Any, want: Any, values: bool) -> str | None:
    got_leaves = [t for t in torch.utils._pytree.tree_leaves(got) if isinstance(t, torch.Tensor)]
    want_leaves = [t for t in torch.utils._pytree.tree_leaves(want) if isinstance(t, torch.Tensor)]
    if len(got_leaves) != len(want_leaves):
        return f"{len(got_leaves)} outputs instead of {len(want_leaves)}"
    for index, (a, b) in enumerate(zip(got_leaves, want_leaves)):
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"output {index} is {str(a.dtype).removeprefix('torch.')}{list(a.shape)} in the general graph, " \
                   f"{str(b.dtype).removeprefix('torch.')}{list(b.shape)} in eager PyTorch"
        if values and not torch.allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True):
            return f"output {index} has other values"
    return None


def _differs_at_example(program: ExportedProgram, model: torch.nn.Module, args: tuple[Any, ...],
                        kwargs: dict[str, Any], training: TrainingMode) -> str | None:
    """How the program captured at other sizes differs from eager PyTorch at the example; None if
    it does not. Buffers the model updates (batch norm in training) are put back afterwards."""
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        module = program.module(check_guards=False)
    except TypeError:  # a torch without that argument
        module = program.module()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            state = torch.random.get_rng_state()
            with model_mode(model, training):
                want = model(*_clone(args), **_clone(kwargs))
            torch.random.set_rng_state(state)
            got = module(*_clone(args), **_clone(kwargs))
    except Exception as exc:  # the general graph cannot run at this size
        return f"the graph captured at other sizes fails at this size: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
    return _first_difference(got, want, values=not _random(program))


def _fixed_in(program: ExportedProgram, axes: list[Axis]) -> list[FixedAxis]:
    """The axes asked dynamic that torch.export fixed, each with the model line that fixed it."""
    user = set(program.graph_signature.user_inputs)
    tensors = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in user
               and isinstance(n.meta.get("val"), torch.Tensor)]
    fixed = []
    for axis in axes:
        if axis.leaf >= len(tensors):
            continue
        fake = tensors[axis.leaf].meta["val"]
        size = static_size(fake.shape[axis.axis])
        if size is None:
            continue
        shape_env = getattr(getattr(fake, "fake_mode", None), "shape_env", None)
        line = None
        for symbol, sources in (getattr(shape_env, "var_to_sources", None) or {}).items():
            names = [s.name() if callable(s.name) else s.name for s in sources]
            if axis.source in names:
                line = fixed_at(shape_env, symbol)
                break
        reason = f"fixed by {line}" if line else "torch.export fixed it (no line of the model recorded)"
        fixed.append(FixedAxis(axis.describe(), axis.name, size, reason))
    return fixed


def _specialized_dims(error: CaptureError) -> set[str]:
    """Names of the Dims torch.export says the model fixed (its constraint-violation text)."""
    text = str(error.__cause__ or error)
    return {name for name in _SPECIALIZED.findall(text) if not name.startswith("L[")}


def _capture_hinted(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], hints: _Hints,
                    static: set[Any], training: TrainingMode) -> ExportedProgram:
    """Capture with the hints as Dim.AUTO; named Dims the model fixes are retried as Dim.AUTO."""
    try:
        return capture(model, args, kwargs, hints.shapes(static), training)
    except CaptureError as error:
        names = _specialized_dims(error)
        if not names:
            raise
    return capture(model, args, kwargs, hints.shapes(static, auto=names), training)


def _capture_wide(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], hints: _Hints, small: list[Axis],
                  training: TrainingMode, outcome: DynamicOutcome) -> tuple[ExportedProgram | None, str]:
    """Capture with the 0/1 axes at larger sizes, checked at the example; (None, why) when the model
    cannot be captured so or computes differently at the example's size."""
    groups: dict[Any, int] = {}
    for shared in (False, True):  # distinct sizes per name first; one shared size if the model ties them
        widths: dict[int, dict[int, int]] = {}
        for axis in small:
            size = WIDE_SIZES[0] if shared else WIDE_SIZES[groups.setdefault(_group(axis), len(groups)) % len(WIDE_SIZES)]
            tensor = _leaf(hints, axis)
            widths.setdefault(id(tensor), {})[axis.axis] = _wide_size(axis, size)  # type: ignore[assignment]
        wide = [_widened(value, widths) for _, value in hints.inputs]
        wide_args, wide_kwargs = tuple(wide[:len(args)]), dict(zip(kwargs, wide[len(args):]))
        try:
            program = _capture_hinted(model, wide_args, wide_kwargs, hints, set(), training)
        except CaptureError as error:
            line = traceback_line(error)
            detail = str(error.__cause__ or error).strip().splitlines()
            why = f"the model fails at other sizes ({detail[0] if detail else type(error).__name__})" + \
                  (f" at {line}" if line else "")
            if len({_group(a) for a in small}) > 1 and not shared:
                continue
            return None, why
        difference = _differs_at_example(program, model, args, kwargs, training) \
            if isinstance(model, torch.nn.Module) else None
        if difference is not None:
            return None, (f"the model computes differently at this size than at others ({difference}); a branch "
                          "on the size or squeeze() does that")
        for axis in small:
            outcome.notes.append(f"{axis.describe()} has the example size {axis.size}, which torch.export fixes: "
                                 f"captured at size {widths[id(_leaf(hints, axis))][axis.axis]} instead and checked "
                                 f"against eager PyTorch at {axis.size}")
        return program, ""
    return None, "the model cannot be captured at other sizes"


def _leaf(hints: _Hints, axis: Axis) -> torch.Tensor:
    value = hints.inputs[axis.input][1]
    for step in axis.path:
        value = value[step]
    return value


@contextlib.contextmanager
def _extra_keywords_bound(model: Any, kwargs: dict[str, Any], bound: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Python values among the keywords a `**kwargs` of forward() takes (transformers'
    `output_attentions=False`), bound to forward() while capturing; yields the other keywords.

    torch.export 2.13 cannot match dynamic_shapes to inputs when a `**kwargs` takes some: it
    checks them grouped under the parameter's name and then matches them one by one. They are
    constants of the export either way."""
    parameters: Mapping[str, inspect.Parameter]
    try:
        parameters = inspect.signature(forward_of(model)).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_extra = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    extra = {k: v for k, v in kwargs.items() if k not in parameters and not any(
        isinstance(leaf, torch.Tensor) for leaf in torch.utils._pytree.tree_leaves(v))} if takes_extra else {}
    if not extra or not isinstance(model, torch.nn.Module) or "forward" in vars(model):
        yield kwargs
        return
    bound.update(extra)
    model.forward = functools.partial(type(model).forward.__get__(model), **extra)
    try:
        yield {k: v for k, v in kwargs.items() if k not in extra}
    finally:
        del model.forward


def capture_with_hints(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], dynamic_shapes: Any,
                       training: TrainingMode = TrainingMode.EVAL,
                       outcome: DynamicOutcome | None = None) -> tuple[ExportedProgram, DynamicOutcome]:
    """Capture `model` with `dynamic_shapes` as hints (see the module docstring); warns once per
    axis exported with a fixed size."""
    outcome = outcome if outcome is not None else DynamicOutcome()
    if dynamic_shapes is None:
        return capture(model, args, kwargs, None, training), outcome
    with _extra_keywords_bound(model, kwargs, outcome.bound) as kwargs:
        return _capture_with_hints(model, args, kwargs, dynamic_shapes, training, outcome), outcome


def _capture_with_hints(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any], dynamic_shapes: Any,
                        training: TrainingMode, outcome: DynamicOutcome) -> ExportedProgram:
    hints = _Hints(model, args, kwargs, dynamic_shapes, outcome.notes)
    small = [a for a in hints.axes if a.size <= 1 and _wide_size(a, WIDE_SIZES[0]) is not None]
    static: set[Any] = set()
    fixed_small: list[FixedAxis] = []
    program = None
    if small:
        program, why = _capture_wide(model, args, kwargs, hints, small, training, outcome)
        if program is None:
            static = {(a.input, a.path, a.axis) for a in small}
            fixed_small = [FixedAxis(a.describe(), a.name, a.size, why) for a in small]
    if program is None:
        program = _capture_hinted(model, args, kwargs, hints, static, training)
    others = [a for a in hints.axes if (a.input, a.path, a.axis) not in static]
    outcome.fixed.extend(fixed_small + _fixed_in(program, others))
    for fixed in outcome.fixed:
        warnings.warn(f"{fixed}. The ONNX input has that size; export with another example (or change the "
                      "model) to make it dynamic", DynamicAxisWarning, stacklevel=5)
    return program

