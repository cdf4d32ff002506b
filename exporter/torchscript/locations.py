"""Where a TorchScript node came from: module path (from the trace's scope), class, user source line."""

from __future__ import annotations

import os
import re
from typing import Any

import torch

from aten2onnx.exporter.errors import ModelLocation

# A traced node's source range is its Python stack, innermost first: `path/file.py(42): forward`.
_TRACED_FRAME = re.compile(r"^(.+?\.py)\((\d+)\): ", re.MULTILINE)
# A scripted node's source range reads like a traceback entry: `File "path/file.py", line 42`.
_SCRIPTED_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
# aten2onnx's own frames (the tracing spy, autograd.Function wrappers) are not the user's either
_EXPORTER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_SCOPE_PREFIX = "__module."


def is_internal_file(path: str) -> bool:
    """torch's files and aten2onnx's: frames there are never where the user's model code is."""
    full = os.path.abspath(path)
    return full.startswith(_TORCH_DIR) or full.startswith(_EXPORTER_DIR)


def frames(node: torch._C.Node) -> list[tuple[str, int]]:
    """(file, line) of the node's source, innermost first."""
    try:
        text = str(node.sourceRange())  # a str at run time; torch's stubs say SourceRange
    except RuntimeError:
        return []
    found = _TRACED_FRAME.findall(text) or _SCRIPTED_FRAME.findall(text)
    return [(path, int(line)) for path, line in found]


def source_line(node: torch._C.Node) -> str:
    """`model.py:42`: the innermost frame outside torch, else the innermost frame."""
    found = frames(node)
    user = [f for f in found if not is_internal_file(f[0])]
    chosen = user[0] if user else found[0] if found else None
    return f"{chosen[0]}:{chosen[1]}" if chosen else ""


def module_path(node: torch._C.Node) -> str:
    """`features.0` from the trace's scope `__module.features/__module.features.0` ('' at top level)."""
    scope = node.scopeName()
    last = scope.rsplit("/", 1)[-1] if scope else ""
    return last[len(_SCOPE_PREFIX):] if last.startswith(_SCOPE_PREFIX) else ""


def _class_name(root: Any, path: str) -> str:
    if root is None or not isinstance(root, torch.nn.Module):
        return ""
    try:
        module = root.get_submodule(path) if path else root
    except AttributeError:
        return ""
    original = getattr(module, "original_name", None)  # a traced/scripted module names its source class
    return original if isinstance(original, str) and original else type(module).__name__


def locate(node: torch._C.Node, root: Any) -> ModelLocation:
    path = module_path(node)
    return ModelLocation(path, _class_name(root, path) if path else "", source_line(node))


def classic_scope(node: torch._C.Node, root: Any, model_name: str) -> str:
    """torch.onnx's scope string: `AlexNet/Sequential[features]/Conv2d[0]`."""
    parts = [model_name] if model_name else []
    path = module_path(node)
    if not path:
        return "/".join(parts)
    prefix = ""
    for name in path.split("."):
        prefix = f"{prefix}.{name}" if prefix else name
        parts.append(f"{_class_name(root, prefix) or 'Module'}[{name}]")
    return "/".join(parts)


def scope_name(node: torch._C.Node) -> str:
    """Node names are prefixed with the module path, as on the torch.export path (`features.0/Conv`)."""
    return module_path(node)
