"""Where an FX node came from in the user's model: module path, class, source line."""

from __future__ import annotations

import re

import torch.fx

from exporter.errors import ModelLocation

_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def module_path(node: torch.fx.Node) -> tuple[str, str]:
    """(`layer1.0.conv1`, `Conv2d`) of the innermost module, or ('', '') at top level."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, cls = list(stack.values())[-1]
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
