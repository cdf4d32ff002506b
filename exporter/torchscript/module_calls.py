"""Which module call each TorchScript node comes from: export_modules_as_functions on this path.

A traced or scripted module's graph calls its submodules with `prim::CallMethod` (a traced module
called twice has `forward` and `forward1`). torch's inliner keeps only a node's module path
(`getModuleHierarchy`), not which call of a module it came from, so the calls are inlined here one
at a time: each call's graph is copied, its own calls inlined first, and every node it brings is
tagged with an int attribute naming its call. A call is (key, path, class) as on the torch.export
path (graph_builder.MODULE_CALLS_KEY): the key tells two calls of one module apart (`shared@1`),
the class is the module's Python class (`pkg.module.Class`). The translator hands each node's
calls to the GraphBuilder, so module_functions works on both paths alike.

As torch.export's nn_module_stack, only a module's forward is a call: a helper method (`self.sub.
encode(x)`) belongs to its caller. Scripted functions (`prim::CallFunction`) are inlined by torch.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from aten2onnx.exporter.errors import ExportArgumentError
from aten2onnx.exporter.torchscript.locations import source_line

CALL_ATTRIBUTE = "aten2onnx_module_call"  # int node attribute: the index of the node's call in ModuleCalls.stacks
_MANGLE = re.compile(r"___torch_mangle_\d+\.")
_FORWARD = re.compile(r"forward\d*")  # a traced module's later calls are forward1, forward2, ...
_FUNCTION_FRAME = re.compile(r"\.?UNKNOWN_INSTANCE\(UNKNOWN_TYPE\)")

Call = tuple[str, str, str]  # (key, module path, class)


@dataclass
class ModuleCalls:
    """The module calls of one inlined graph, and what could not be attributed to one."""

    stacks: list[tuple[Call, ...]] = field(default_factory=list)  # per call: the calls from the outermost down
    unresolved: list[str] = field(default_factory=list)          # calls whose module is not known statically

    def of(self, node: torch._C.Node) -> tuple[Call, ...]:
        """The module calls `node` ran in, outermost first; () at the model's top level."""
        return self.stacks[node.i(CALL_ATTRIBUTE)] if node.hasAttribute(CALL_ATTRIBUTE) else ()

    def check_complete(self, model_name: str, graph: torch._C.Graph) -> None:
        """export_modules_as_functions needs every node of `graph` to know its module call: say which do not."""
        if self.unresolved:
            raise ExportArgumentError(
                f"export_modules_as_functions: {model_name} calls modules that TorchScript does not name statically "
                f"({'; '.join(self.unresolved[:3])}): a module behind an interface type or picked at run time "
                "cannot become an ONNX function here. Call submodules as attributes (self.block(x)), or export "
                "with dynamo=True")
        found: dict[str, None] = {}
        _inlined_before(graph.block(), found)
        if found:
            raise ExportArgumentError(
                f"export_modules_as_functions: {model_name}'s submodules ({', '.join(list(found)[:3])}) were "
                "already inlined into its graph (a frozen or optimized ScriptModule), so their calls cannot be told "
                "apart; export the module before torch.jit.freeze, or the nn.Module itself")


def _script_type(value: torch._C.Value) -> str:
    return _MANGLE.sub("", str(value.type())).removeprefix("__torch__.")


def script_class_name(module: torch.jit.ScriptModule) -> str:
    """`pkg.module.Class` of a ScriptModule: its Python class when it was scripted in this process,
    else TorchScript's qualified name without `__torch__.` and mangling."""
    original = getattr(getattr(module, "_concrete_type", None), "py_class", None)
    if isinstance(original, type) and issubclass(original, torch.nn.Module) and "<locals>.QualnameWrapper" not in \
            original.__qualname__:
        return f"{original.__module__}.{original.__qualname__}"
    name = _MANGLE.sub("", module._c._type().qualified_name())
    return name.removeprefix("__torch__.")


def submodule(module: Any, path: str) -> Any:
    """The submodule at a dotted path (ScriptModules refuse get_submodule); AttributeError if absent."""
    for name in path.split(".") if path else ():
        module = getattr(module, name)
    return module


def class_finder(root: Any, owner: Any) -> Callable[[str], str]:
    """path -> class name, from the user's nn.Module where it has the path (a traced model's submodules
    are its own), else from the ScriptModule."""
    def class_of(path: str) -> str:
        for source in (root, owner):
            if not isinstance(source, torch.nn.Module):
                continue
            try:
                module = submodule(source, path)
            except AttributeError:
                continue
            if isinstance(module, torch.jit.ScriptModule):
                return script_class_name(module)
            return f"{type(module).__module__}.{type(module).__qualname__}"
        return "torch.nn.Module"
    return class_of


class _Inliner:
    def __init__(self, owner: torch.jit.ScriptModule, class_of: Callable[[str], str]):
        self.owner = owner
        self.class_of = class_of
        self.calls = ModuleCalls()
        self.count: Counter[str] = Counter()

    def block(self, graph: torch._C.Graph, block: torch._C.Block, paths: dict[int, str], self_path: str,
              stack: tuple[Call, ...], index: int | None) -> bool:
        """Inline the block's module calls and tag its own nodes with `index` (the call it belongs to);
        whether calls are left for torch's inliner (scripted functions, unresolved calls)."""
        left = False
        for node in list(block.nodes()):  # nodes inserted for a call are not in this list: tagged already
            kind = node.kind()
            if kind == "prim::CallMethod":
                left = self.call(graph, node, paths, self_path, stack, index) or left
                continue
            if kind == "prim::GetAttr" and node.input().unique() in paths:
                parent = paths[node.input().unique()]
                paths[node.output().unique()] = f"{parent}.{node.s('name')}" if parent else node.s("name")
            elif kind == "prim::CallFunction":
                left = True
            if index is not None and kind != "prim::Constant":
                node.i_(CALL_ATTRIBUTE, index)
            for inner in node.blocks():
                left = self.block(graph, inner, paths, self_path, stack, index) or left
        return left

    def call(self, graph: torch._C.Graph, node: torch._C.Node, paths: dict[int, str], self_path: str,
             stack: tuple[Call, ...], index: int | None) -> bool:
        method = node.s("name")
        path = paths.get(node.inputsAt(0).unique())
        if path is None:
            self.calls.unresolved.append(f"{method}() of {_script_type(node.inputsAt(0))} at "
                                         f"{source_line(node) or 'an unknown line'}")
            if index is not None:
                node.i_(CALL_ATTRIBUTE, index)
            return True  # torch's inliner takes it, when it can
        callee = submodule(self.owner, path)._c._get_method(method).graph.copy()
        if path != self_path and _FORWARD.fullmatch(method):  # a module's call; a helper method is its caller's
            count = self.count[path]
            self.count[path] += 1
            index = len(self.calls.stacks)
            stack = (*stack, (path if count == 0 else f"{path}@{count}", path, self.class_of(path)))
            self.calls.stacks.append(stack)
        if self.block(callee, callee.block(), {next(callee.inputs()).unique(): path}, path, stack, index):
            torch._C._jit_pass_inline(callee)  # scripted functions it calls, and calls left unresolved
            if index is not None:
                _tag(callee.block(), index)
        graph.setInsertPoint(node)
        outputs = graph.insertGraph(callee, list(node.inputs()))
        graph.setInsertPoint(graph.block())  # the graph's end, as it was: the call node goes away
        for old, new in zip(node.outputs(), outputs):
            old.replaceAllUsesWith(new)
        node.destroy()
        return False


def _tag(block: torch._C.Block, index: int) -> None:
    """Tag the block's nodes not yet tagged (those of inner calls are); constants stay untagged, as
    TorchScript reads a constant without attributes as None."""
    for node in block.nodes():
        if node.kind() != "prim::Constant" and not node.hasAttribute(CALL_ATTRIBUTE):
            node.i_(CALL_ATTRIBUTE, index)
        for inner in node.blocks():
            _tag(inner, index)


def _inlined_before(block: torch._C.Block, found: dict[str, None]) -> None:
    """Module paths of nodes torch inlined before this module saw the graph (a frozen module's)."""
    for node in block.nodes():
        if not node.hasAttribute(CALL_ATTRIBUTE) and node.kind() != "prim::Constant":
            # `a(Block).fc(Linear)`; a scripted function's frame shows as UNKNOWN_INSTANCE(UNKNOWN_TYPE)
            hierarchy = _FUNCTION_FRAME.sub("", node.getModuleHierarchy())
            path = re.sub(r"\([^)]*\)", "", hierarchy).strip(".")
            if path:
                found.setdefault(path, None)
        for inner in node.blocks():
            _inlined_before(inner, found)


def inline_tagging_module_calls(graph: torch._C.Graph, owner: Any, root: Any) -> ModuleCalls:
    """Inline every call of `graph` (the forward graph of `owner`, a ScriptModule, or of a function),
    tagging each node with its module calls; `root` is the user's nn.Module, for class names."""
    if not isinstance(owner, torch.jit.ScriptModule):
        torch._C._jit_pass_inline(graph)
        return ModuleCalls()
    inliner = _Inliner(owner, class_finder(root, owner))
    if inliner.block(graph, graph.block(), {next(graph.inputs()).unique(): ""}, "", (), None):
        torch._C._jit_pass_inline(graph)
    return inliner.calls
