"""Where an FX node came from in the user's model: module path, class, source line."""

from __future__ import annotations

import os
import re

import torch
import torch.fx

from aten2onnx.exporter.errors import ModelLocation

_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
# torch tags nodes its own passes insert (shape asserts, sym_size) with this pseudo module
_TORCH_PSEUDO_MODULE = "_empty_nn_module_stack"
# torch's own files: frames name them by absolute path, or relative to site-packages
# (`torch/fx/passes/runtime_assert.py` for the sym_size nodes torch.export inserts)
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
# how far along the consumers of a torch-inserted node to look for one the user wrote
_CONSUMER_SEARCH = 32


def _module_stack(node: torch.fx.Node) -> list[tuple[str, object]]:
    """(path, class) from outermost to innermost; torch's placeholder entries are dropped."""
    stack = node.meta.get("nn_module_stack") or {}
    return [(path, cls) for path, cls in stack.values() if path and not path.startswith(_TORCH_PSEUDO_MODULE)]


def module_calls(node: torch.fx.Node) -> tuple[tuple[str, str, str], ...]:
    """(stack key, path, class) of each module call the node ran in, outermost first; the key tells
    two calls of one module apart (`L__self__shared@1`)."""
    stack = node.meta.get("nn_module_stack") or {}
    return tuple((key, path, cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}")
                 for key, (path, cls) in stack.items() if path and not path.startswith(_TORCH_PSEUDO_MODULE))


def module_path(node: torch.fx.Node) -> tuple[str, str]:
    """(`layer1.0.conv1`, `Conv2d`) of the innermost module, or ('', '') at top level."""
    stack = _module_stack(node)
    if not stack:
        return "", ""
    path, cls = stack[-1]
    cls_name = cls.rsplit(".", 1)[-1] if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
    return path, cls_name


def _is_torch_file(file: str) -> bool:
    return file.startswith("torch/") or os.path.abspath(file).startswith(_TORCH_DIR)


def _user_frame(node: torch.fx.Node) -> tuple[str, str] | None:
    """(file, line) of the innermost frame of the node's stack trace outside torch, if any."""
    frames = [f for f in _FRAME.findall(node.meta.get("stack_trace") or "") if not _is_torch_file(f[0])]
    return frames[-1] if frames else None


def _origin(node: torch.fx.Node) -> torch.fx.Node:
    """The node itself, or for a node torch inserted (a sym_size read, a runtime assert) with no
    frame of the user's, its nearest consumer that has one: the code that needed the size."""
    if _user_frame(node) is not None:
        return node
    queue, seen = list(node.users), {node}
    while queue and len(seen) <= _CONSUMER_SEARCH:
        user = queue.pop(0)
        if user in seen:
            continue
        seen.add(user)
        if _user_frame(user) is not None:
            return user
        queue.extend(user.users)
    return node


def source_line(node: torch.fx.Node) -> str:
    """`model.py:42`: the innermost user frame (outside torch) of the node, else of its nearest
    consumer that has one, else the node's innermost frame."""
    frame = _user_frame(_origin(node))
    if frame is None:
        frames = _FRAME.findall(node.meta.get("stack_trace") or "")
        frame = frames[-1] if frames else None
    return f"{frame[0]}:{frame[1]}" if frame else ""


def locate(node: torch.fx.Node) -> ModelLocation:
    path, cls = module_path(node)
    if not path:  # a node torch inserted has no module of its own: its consumer's
        path, cls = module_path(_origin(node))
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
