"""The TorchScript entry: trace an nn.Module (or take a ScriptModule/ScriptFunction as it is) and
read back one inlined graph.

Scripted functions and submodules a traced model calls stay scripted: the trace records a call,
which inlining replaces by the scripted body (its loops and branches included). A model that does
not trace is scripted; one that does neither gets one CaptureError naming both failures, the module
and the source line. Tracing runs the model once: every place where a tensor's value decided Python
control flow (`if x.sum() > 0`, `range(n)` over a 0-d tensor, `int(t)`) is recorded as a
`TracedValueWarning` naming its line, since the graph keeps the value seen while tracing.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import sys
import traceback
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from aten2onnx.exporter.capture.autograd_symbolic import quiet_forwards_while_tracing
from aten2onnx.exporter.capture.torch_export import model_mode
from aten2onnx.exporter.errors import CaptureError
from aten2onnx.exporter.options import TrainingMode
from aten2onnx.exporter.torchscript.locations import is_internal_file
from aten2onnx.exporter.torchscript.module_calls import ModuleCalls, inline_tagging_module_calls

TRACE = "torch.jit.trace"
SCRIPT = "torch.jit.script"


class TracedValueWarning(torch.jit.TracerWarning):
    """A tensor's value decided Python code while tracing: the exported graph keeps that value."""


@dataclass(frozen=True)
class BakedValue:
    """One place where tracing fixed a value that depends on the inputs."""

    source: str        # `model.py:12`
    module_path: str   # the module whose forward was running ('' for the model itself)
    what: str          # what happened, in words

    def __str__(self) -> str:
        where = f"{self.source}" + (f" (in module '{self.module_path}')" if self.module_path else "")
        return f"{where}: {self.what}"


@dataclass
class Captured:
    """The graph to translate and what it refers to."""

    graph: torch._C.Graph                # inlined; a module's graph takes `self` first
    owner: Any                           # the ScriptModule whose attributes GetAttr reads (None for a function)
    method: str                          # TRACE or SCRIPT
    baked: list[BakedValue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    module_calls: ModuleCalls = field(default_factory=ModuleCalls)  # node -> its calls

    @property
    def takes_self(self) -> bool:
        return self.owner is not None


# -- values baked in while tracing -------------------------------------------------------------------
_CONVERSIONS = {
    "__bool__": "a Python bool", "__int__": "a Python int", "__index__": "a Python int (an index or a range() bound)",
    "__float__": "a Python float", "item": "a Python number (.item())", "tolist": "a Python list (.tolist())",
}


# Files a tensor conversion passes through on its way from the caller to the spy.
_DISPATCH_FILES = (os.path.join("torch", "overrides.py"), os.path.join("torch", "_tensor.py"),
                   os.path.join("torch", "utils", "_device.py"))


def _caller_frame() -> tuple[str, int, Any] | None:
    """(file, line, the nn.Module whose code runs there) of the code that read a tensor as a value;
    None when that code is torch's own (an nn.GRU checking its arguments is no user control flow)."""
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None and (frame.f_code.co_filename == __file__
                                 or frame.f_code.co_filename.endswith(_DISPATCH_FILES)):
        frame = frame.f_back
    if frame is None or is_internal_file(frame.f_code.co_filename):
        return None
    owner = frame.f_locals.get("self")
    return frame.f_code.co_filename, frame.f_lineno, owner if isinstance(owner, torch.nn.Module) else None


class _BakedValueSpy(TorchFunctionMode):
    """Records every tensor read as a Python value (bool, int, float, index, item, tolist) by the user's
    code while tracing. torch's tracer warns for some of these, not for `range(t)` or `t.__index__()`."""

    def __init__(self, paths: dict[int, str]) -> None:
        super().__init__()
        self.paths = paths
        self.found: list[BakedValue] = []
        self.paused = 0  # inside the forward of an autograd.Function that exports through its symbolic

    def pause(self, on: bool) -> None:
        self.paused += 1 if on else -1

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        result = func(*args, **(kwargs or {}))
        kind = _CONVERSIONS.get(getattr(func, "__name__", ""))
        if kind is not None and not self.paused and args and isinstance(args[0], torch.Tensor):
            frame = _caller_frame()
            if frame is not None:
                file, line, owner = frame
                shown = result if not isinstance(result, list) or len(result) <= 4 else f"{result[:4]}..."
                self.found.append(BakedValue(f"{file}:{line}", self.paths.get(id(owner), ""),
                                             f"a tensor was read as {kind} while tracing (value {shown}); the "
                                             "graph keeps this value for every input"))
        return result


def _dedupe(found: list[BakedValue]) -> list[BakedValue]:
    seen: dict[tuple[str, str], BakedValue] = {}
    for item in found:
        seen.setdefault((item.source, item.what.split(" (value")[0]), item)
    return list(seen.values())


@contextlib.contextmanager
def _quiet_jit() -> Iterator[list[warnings.WarningMessage]]:
    """torch.jit's own warnings (deprecation, tracer warnings) are collected, not printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def _tracer_warnings(caught: list[warnings.WarningMessage], paths: dict[int, str]) -> list[BakedValue]:
    """torch's TracerWarnings about values (numpy conversions, iterating a tensor) as BakedValues."""
    found = []
    for item in caught:
        if not issubclass(item.category, torch.jit.TracerWarning) or issubclass(item.category, TracedValueWarning):
            continue
        text = str(item.message)
        if text.startswith("Converting a tensor to a Python"):
            continue  # the spy records these with the value
        found.append(BakedValue(f"{item.filename}:{item.lineno}", "", text.split(". ")[0].rstrip(".")))
    return found


# -- errors --------------------------------------------------------------------------------------------
def _module_at(model: Any, file: str, line: int) -> str:
    """` in module 'inner' (Inner)` for the submodule whose forward() holds file:line ('' if none does)."""
    if not isinstance(model, torch.nn.Module):
        return ""
    for path, module in model.named_modules():
        try:
            lines, first = inspect.getsourcelines(type(module).forward)
            source = inspect.getsourcefile(type(module).forward)
        except (OSError, TypeError):
            continue
        if source and os.path.abspath(source) == os.path.abspath(file) and first <= line < first + len(lines):
            return f" in module '{path}' ({type(module).__name__})" if path else f" in {type(module).__name__}.forward"
    return ""


def _failure_site(error: BaseException, model: Any) -> str:
    """` in module 'features.0' (Conv2d) at model.py:42`: where the model's own code failed."""
    paths = {id(m): name for name, m in model.named_modules()} if isinstance(model, torch.nn.Module) else {}
    where = ""
    for frame, line in traceback.walk_tb(error.__traceback__):  # the innermost frame of the model's code wins
        owner = frame.f_locals.get("self")
        if isinstance(owner, torch.nn.Module) and id(owner) in paths and not is_internal_file(frame.f_code.co_filename):
            path = paths[id(owner)]
            module = f" in module '{path}' ({type(owner).__name__})" if path else f" in {type(owner).__name__}.forward"
            where = f"{module} at {frame.f_code.co_filename}:{line}"
    if where:
        return where
    found = re.search(r'File "([^"]+)", line (\d+)', str(error))  # TorchScript's compiler names the line
    if found:
        file, line = found.group(1), int(found.group(2))
        return f"{_module_at(model, file, line)} at {file}:{line}"
    if isinstance(model, torch.nn.Module):
        try:
            file = inspect.getsourcefile(type(model).forward)
            line = inspect.getsourcelines(type(model).forward)[1]
            return f" in {type(model).__name__}.forward at {file}:{line}"
        except (OSError, TypeError):
            pass
    return ""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _hints(trace_error: BaseException | None, script_error: BaseException | None) -> list[str]:
    hints = []
    text = f"{trace_error} {script_error}"
    if "output" in text and ("Only tensors" in text or "cannot infer type of output" in text.lower()):
        hints.append("forward() must return tensors, or tuples/lists/dicts of tensors, to be traced")
    if "method's arguments" in str(trace_error):
        hints.append("torch.jit.trace passes inputs by position: make keyword-only arguments of forward() "
                     "positional, or export with dynamo=True")
    if script_error is not None and ("not supported" in str(script_error) or "Unknown type" in str(script_error)):
        hints.append("TorchScript does not support some Python in the model: keep it out of scripted code "
                     "(@torch.jit.ignore, or script only the function that has the loop)")
    hints.append("check that model(*args) runs eagerly with these example inputs")
    hints.append("or export with dynamo=True (torch.export), which captures Python control flow written "
                 "with torch.cond/while_loop")
    return hints


def _trace(model: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any],
           paths: dict[int, str]) -> tuple[Any, list[BakedValue]]:
    spy = _BakedValueSpy(paths)
    with _quiet_jit() as caught:
        with spy, quiet_forwards_while_tracing(spy.pause):
            if kwargs:
                bound = inspect.signature(model.forward).bind(*args, **kwargs)
                traced = torch.jit.trace(model, example_kwarg_inputs=dict(bound.arguments), check_trace=False,
                                         strict=False)
            else:
                traced = torch.jit.trace(model, args, check_trace=False, strict=False)
    return traced, _dedupe(spy.found + _tracer_warnings(caught, paths))


def _script(model: Any) -> Any:
    with _quiet_jit():
        try:
            return torch.jit.script(model)
        except Exception:
            # TorchScript keeps the half-compiled types of a failed script, and scripting the same class
            # again then fails with "Can't redefine method" instead of the real error: forget them
            torch.jit._recursive.concrete_type_store = torch.jit._recursive.ConcreteTypeStore()
            raise


def is_scripted(model: Any) -> bool:
    return isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction))


def _graph_of(scripted: Any, root: Any = None) -> tuple[torch._C.Graph, ModuleCalls]:
    """The inlined graph, each node tagged with its module calls (`root`: the user's nn.Module, for classes)."""
    graph = (scripted.graph if isinstance(scripted, torch.jit.ScriptFunction) else scripted.forward.graph).copy()
    calls = inline_tagging_module_calls(graph, scripted, root)
    try:
        torch._C._jit_pass_lower_all_tuples(graph)  # tuples in block outputs and loop-carried values
    except RuntimeError:
        pass  # a tuple inside a list or dict: the translator reads it as it is
    torch._C._jit_pass_constant_propagation_immutable_types(graph)  # type: ignore[attr-defined]  # not in torch's stubs
    torch._C._jit_pass_dce(graph)
    return graph, calls


def capture_torchscript(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                        training: TrainingMode = TrainingMode.EVAL) -> Captured:
    """Trace (nn.Module) or take as scripted (ScriptModule/ScriptFunction); script when tracing fails."""
    name = type(model).__name__
    if is_scripted(model):
        with model_mode(model, training):
            graph, calls = _graph_of(model, model)
        method = TRACE if isinstance(model, torch.jit.TracedModule) else SCRIPT
        return Captured(graph, model if isinstance(model, torch.jit.ScriptModule) else None, method,
                        module_calls=calls)
    paths = {id(m): path for path, m in model.named_modules()}
    with model_mode(model, training):
        try:
            traced, baked = _trace(model, args, kwargs, paths)
        except Exception as trace_error:  # torch raises many types; all mean "did not trace"
            failure = trace_error
        else:
            for item in baked:
                warnings.warn(f"aten2onnx: {name}: {item}", TracedValueWarning, stacklevel=4)
            graph, calls = _graph_of(traced, model)
            return Captured(graph, traced, TRACE, baked, module_calls=calls)
        try:
            scripted = _script(model)
        except Exception as script_error:
            error = CaptureError(
                f"aten2onnx could not capture {name} with TorchScript (dynamo=False):\n"
                f"  tracing failed{_failure_site(failure, model)}: {_first_line(failure)}\n"
                f"  scripting failed{_failure_site(script_error, model)}: {_first_line(script_error)}\n"
                "Hint: " + "; ".join(_hints(failure, script_error)) + ". The scripting error is chained below; "
                "the tracing error is the CaptureError's `trace_error`."
            )
            error.trace_error = failure  # type: ignore[attr-defined]
            raise error from script_error
        graph, calls = _graph_of(scripted, model)
    note = f"tracing failed{_failure_site(failure, model)} ({_first_line(failure)}); the model was scripted instead"
    return Captured(graph, scripted, SCRIPT, notes=[note], module_calls=calls)
