"""Checkpoints for ONNXProgram.apply_weights: what each holds, read without loading it.

A checkpoint is a state dict (name -> tensor), a `.safetensors` file, a folder of sharded files
with its index (`model.safetensors.index.json`, `pytorch_model.bin.index.json`) or a torch.save
file. Each gives an `Entry` per tensor (name, dtype, shape, and how to open it), so every name,
dtype and shape can be checked before a byte is read.

Safetensors files are read through their header: a tensor is a view of a private memory map of
the file (nothing is read until it is used, and its pages can be given back after saving) and
knows its byte range in the file, so a saved model can point at it. torch.save files are loaded
with mmap=True; the byte range of each tensor is found from the process's memory map.
"""

from __future__ import annotations

import functools
import json
import mmap
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aten2onnx.exporter.errors import ExportArgumentError
from aten2onnx.exporter.write.weight_sources import FileRange, is_data_less

# safetensors' dtype names (https://github.com/huggingface/safetensors, format description).
_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "U16": torch.uint16, "U32": torch.uint32, "U64": torch.uint64, "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2, "C64": torch.complex64,
}
_HEADER_LIMIT = 100 * 2**20  # safetensors' own limit on the JSON header


@dataclass(frozen=True)
class Opened:
    """A checkpoint tensor ready to use: the tensor, its bytes' range in a file when it is those bytes
    as stored, and how to give the file's pages back once it is written (None: nothing to give)."""

    tensor: torch.Tensor
    file_range: FileRange | None = None
    release: Callable[[], None] | None = None


@dataclass(frozen=True)
class Entry:
    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    where: str                    # the file it is in, for messages
    open: Callable[[], Opened]


@dataclass(frozen=True)
class Checkpoint:
    description: str              # `'ckpt/model.safetensors'`, `a state dict of 291 tensors`
    entries: dict[str, Entry]


def _shape_text(dtype: torch.dtype, shape: tuple[int, ...]) -> str:
    return f"{str(dtype).removeprefix('torch.')} {list(shape)}"


def describe_entry(entry: Entry) -> str:
    return f"{entry.name} ({_shape_text(entry.dtype, entry.shape)}, in {entry.where})"


# -- safetensors ------------------------------------------------------------------------------------------
class _MappedFile:
    """One private (copy-on-write, never written) memory map of a checkpoint file, made on first use."""

    def __init__(self, path: Path):
        self.path = path
        self._map: mmap.mmap | None = None

    def tensor(self, offset: int, length: int, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
        if length == 0:
            return torch.empty(shape, dtype=dtype)
        if self._map is None:
            with open(self.path, "rb") as file:
                self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY)
        raw = torch.frombuffer(self._map, dtype=torch.uint8, count=length, offset=offset)
        if offset % dtype.itemsize:  # a file whose tensors are not aligned: this one is copied
            raw = raw.clone()
        return raw.view(dtype).reshape(shape)

    def release(self, offset: int, length: int) -> None:
        """Drop the pages of [offset, offset + length) from this process (read again if used again)."""
        if self._map is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        start = offset - offset % mmap.PAGESIZE
        self._map.madvise(mmap.MADV_DONTNEED, start, min(offset + length, len(self._map)) - start)


def _safetensors_entries(path: Path) -> dict[str, Entry]:
    try:
        with open(path, "rb") as file:
            size = int.from_bytes(file.read(8), "little")
            if not 0 < size <= _HEADER_LIMIT:
                raise ValueError(f"its header length {size} is not that of a safetensors file")
            header = json.loads(file.read(size))
        status = os.stat(path)
    except (OSError, ValueError) as exc:
        raise ExportArgumentError(f"cannot read '{path}' as a safetensors file: {exc}") from exc
    data_start = 8 + size
    mapped = _MappedFile(path)
    resolved = os.path.realpath(path)
    entries: dict[str, Entry] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info.get("dtype"))
        begin, end = info.get("data_offsets", (0, -1))
        shape = tuple(int(d) for d in info.get("shape", ()))
        if dtype is None:
            raise ExportArgumentError(f"'{path}': tensor '{name}' has dtype {info.get('dtype')}, which torch cannot "
                                      f"hold (known: {', '.join(_SAFETENSORS_DTYPES)})")
        length = end - begin
        if length != dtype.itemsize * _numel(shape) or data_start + end > status.st_size:
            raise ExportArgumentError(f"'{path}' is damaged: tensor '{name}' ({_shape_text(dtype, shape)}) says its "
                                      f"bytes are [{begin}, {end}) of a data section of {status.st_size - data_start}")
        offset = data_start + begin
        where = FileRange(resolved, offset, length, status.st_size, status.st_mtime_ns)

        def opened(offset: int = offset, length: int = length, dtype: torch.dtype = dtype,
                   shape: tuple[int, ...] = shape, where: FileRange = where) -> Opened:
            tensor = mapped.tensor(offset, length, dtype, shape)
            return Opened(tensor, where, lambda: mapped.release(offset, length))

        entries[name] = Entry(name, dtype, shape, path.name, opened)
    return entries


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for d in shape:
        count *= d
    return count


# -- torch.save files --------------------------------------------------------------------------------------
def _state_dict_in(loaded: Any, path: Path) -> Mapping[str, Any]:
    """The state dict a torch.save file holds: itself, or under 'state_dict' / 'model' (training checkpoints)."""
    if isinstance(loaded, Mapping) and loaded and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return loaded
    for key in ("state_dict", "model", "model_state_dict", "module"):
        inner = loaded.get(key) if isinstance(loaded, Mapping) else None
        if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            return inner
    raise ExportArgumentError(f"'{path}' holds a {type(loaded).__name__}, not a state dict (name -> tensor, at the "
                              "top or under 'state_dict' or 'model')")


def _file_mappings(path: Path) -> list[tuple[int, int, int]]:
    """(start, end, file offset) of this process's memory mappings of `path` (Linux /proc/self/maps)."""
    target = os.path.realpath(path)
    found = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and parts[5].strip() == target:
                    start, end = (int(x, 16) for x in parts[0].split("-"))
                    found.append((start, end, int(parts[2], 16)))
    except OSError:
        return []
    return found


def _range_in_file(tensor: torch.Tensor, path: Path, mappings: list[tuple[int, int, int]],
                   status: os.stat_result) -> FileRange | None:
    """The byte range of a memory-mapped tensor in `path`, checked against the file's first bytes of it."""
    if not tensor.is_contiguous() or tensor.numel() == 0:
        return None
    address, length = tensor.data_ptr(), tensor.numel() * tensor.element_size()
    for start, end, file_offset in mappings:
        if start <= address and address + length <= end:
            offset = address - start + file_offset
            with open(path, "rb") as file:
                file.seek(offset)
                head = file.read(min(64, length))
            if head == tensor.reshape(-1).view(torch.uint8)[:len(head)].numpy().tobytes():
                return FileRange(os.path.realpath(path), offset, length, status.st_size, status.st_mtime_ns)
    return None


def _torch_entries(path: Path) -> dict[str, Entry]:
    try:
        try:
            loaded = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        except RuntimeError as exc:  # a file in torch's legacy (non-zip) format cannot be mapped
            if "mmap" not in str(exc) and "zip" not in str(exc):
                raise
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        raise ExportArgumentError(f"cannot read '{path}' with torch.load(mmap=True, weights_only=True): "
                                  f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
                                  ) from exc
    state = _state_dict_in(loaded, path)
    mappings = _file_mappings(path)
    status = os.stat(path)
    entries = {}
    for name, tensor in state.items():
        where = _range_in_file(tensor, path, mappings, status)
        entries[name] = Entry(name, tensor.dtype, tuple(tensor.shape), path.name,
                              functools.partial(Opened, tensor, where))
    return entries


# -- state dicts, files, folders ---------------------------------------------------------------------------
def _state_dict_entries(state_dict: Mapping[str, Any]) -> dict[str, Entry]:
    entries = {}
    bad = [f"{name} ({type(value).__name__})" for name, value in state_dict.items()
           if not isinstance(value, torch.Tensor) or is_data_less(value)]
    if bad:
        raise ExportArgumentError(f"apply_weights needs real tensors; these entries are not: {', '.join(bad[:10])}"
                                  + (f" and {len(bad) - 10} more" if len(bad) > 10 else ""))
    for name, tensor in state_dict.items():
        entries[name] = Entry(str(name), tensor.dtype, tuple(tensor.shape), "the state dict",
                              functools.partial(_opened_detached, tensor))
    return entries


def _opened_detached(tensor: torch.Tensor) -> Opened:
    return Opened(tensor.detach())


def _index_files(index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        files = sorted({str(f) for f in weight_map.values()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExportArgumentError(f"cannot read '{index}' as a checkpoint index (a JSON object with a "
                                  f"'weight_map' of tensor name -> file): {exc}") from exc
    paths = [index.parent / f for f in files]
    absent = [str(p.name) for p in paths if not p.is_file()]
    if absent:
        raise ExportArgumentError(f"'{index}' lists shard(s) that are not in {index.parent}: {', '.join(absent)}")
    return paths


def _folder_files(folder: Path) -> list[Path]:
    """The files of a checkpoint folder, as transformers lays them out (safetensors first)."""
    for pattern in ("model.safetensors.index.json", "*.safetensors.index.json"):
        indexes = sorted(folder.glob(pattern))
        if len(indexes) == 1:
            return _index_files(indexes[0])
    shards = sorted(folder.glob("*.safetensors"))
    if shards:
        return shards
    for pattern in ("pytorch_model.bin.index.json", "*.bin.index.json"):
        indexes = sorted(folder.glob(pattern))
        if len(indexes) == 1:
            return _index_files(indexes[0])
    saved = sorted([*folder.glob("*.bin"), *folder.glob("*.pt"), *folder.glob("*.pth")])
    if len(saved) == 1:
        return saved
    found = ", ".join(sorted(p.name for p in folder.iterdir())[:12]) or "nothing"
    raise ExportArgumentError(f"no checkpoint found in folder '{folder}': expected model.safetensors.index.json "
                              f"with its shards, .safetensors files, or one torch.save file (.bin/.pt); it holds "
                              f"{found}")


def open_checkpoint(weights: Mapping[str, Any] | str | os.PathLike[str]) -> Checkpoint:
    """The entries of a state dict, a .safetensors or torch.save file, an index JSON, or a checkpoint folder."""
    if isinstance(weights, Mapping):
        return Checkpoint(f"(a state dict of {len(weights)} tensors)", _state_dict_entries(weights))
    if not isinstance(weights, (str, os.PathLike)):
        raise ExportArgumentError(f"apply_weights takes a state dict (name -> tensor) or a path to a checkpoint, "
                                  f"got {type(weights).__name__}")
    path = Path(weights)
    if not path.exists():
        raise ExportArgumentError(f"no checkpoint at '{path}'")
    if path.is_dir():
        files = _folder_files(path)
    elif path.name.endswith(".index.json"):
        files = _index_files(path)
    else:
        files = [path]
    entries: dict[str, Entry] = {}
    for file in files:
        found = _safetensors_entries(file) if file.suffix == ".safetensors" else _torch_entries(file)
        for name, entry in found.items():
            if name in entries:
                raise ExportArgumentError(f"'{path}': tensor '{name}' is in both {entries[name].where} and "
                                          f"{entry.where}")
            entries[name] = entry
    return Checkpoint(f"'{path}'", entries)
