"""Where an FX node came from in the user's model: module path, class, source line."""

from __future__ import annotations

import re

import torch.fx

from exporter.errors import ModelLocation

_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
# torch tags nodes its own passes insert (shape asserts, sym_size) with this pseudo module
_TORCH_PSEUDO_MODULE = "_empty_nn_module_stack"


def _module_stack(node: torch.fx.Node) -> list[tuple[str, object]]:
    """(path, class) from outermost to innermost; torch's placeholder entries are dropped."""
    stack = node.meta.get("nn_module_stack") or {}
    return [(path, cls) for path, cls in stack.values() if path and not path.startswith(_TORCH_PSEUDO_MODULE)]


def module_path(node: torch.fx.Node) -> tuple[str, str]:
    """(`layer1.0.conv1`, `Conv2d`) of the innermost module, or ('', '') at top level."""
    stack = _module_stack(node)
    if not stack:
        return "", ""
    path, cls = stack[-1]
    cls_name = cls.rsplit(".", 1)[-1] if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
    return path, cls_name


def source_line(node: torch.fx.Node) -> str:
    """`model.py:42` of the innermost user frame (outside torch), else the innermost frame."""
    frames = _FRAME.findall(node.meta.get("stack_trace") or "")
    if not frames:
        return ""
    user = [f for f in frames if "/torch/" not in f[0]]
    file, line = (user or frames)[-1]
    return f"{file}:{line}"


def locate(node: torch.fx.Node) -> ModelLocation:
    path, cls = module_path(node)
    return ModelLocation(path, cls, source_line(node))


def classic_scope(node: torch.fx.Node, root: str) -> str:
    """torch.onnx's scope string: `AlexNet/Sequential[features]/Conv2d[0]` (root class first)."""
    parts = [root] if root else []
    parent = ""
    for path, cls in _module_stack(node):
        cls_name = cls.rsplit(".", 1)[-1] if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
        attribute = path[len(parent) + 1:] if parent and path.startswith(parent + ".") else path
        parts.append(f"{cls_name}[{attribute}]")
        parent = path
    return "/".join(parts)
