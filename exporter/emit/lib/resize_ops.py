"""torch's interpolation sampling, computed at export time for opspecs/resize.yaml.

torch's sampling positions depend on float rounding in its own kernels (and on whether a scale
factor was passed, which torch then uses instead of in/out). Rather than re-deriving them, per
spatial axis the `.default` overload runs on a small probe that resizes only that axis (the
others 1 -> 1, an identity in every mode) with torch's output size and scale for it, which
yields the source index of every output position (nearest: an arange probe) or the [out, in]
interpolation matrix (linear, cubic: a batch of one-hot probes). The `ort_*`/`legacy_*`
functions compute how ONNX Runtime's Upsample/Resize sample, so that the emit helpers
(`nearest_plan`, `interpolation_plan` in exporter/emit/helpers.py) pick Resize only where it
samples as torch does. Nothing here emits ONNX: the ops are written in the specs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

aten = torch.ops.aten

# Dtypes ONNX Runtime's Upsample/Resize kernels take (others use the Gather/MatMul forms).
_RESIZE_DTYPES = (torch.float32, torch.uint8, torch.int8, torch.int32)


def _probe_dtype(dtype: torch.dtype, largest: int) -> torch.dtype:
    """A dtype torch's kernel accepts that holds the probe values exactly."""
    if dtype in (torch.float32, torch.float64):
        return dtype
    if dtype == torch.uint8 and largest < 256:
        return dtype
    return torch.float32


_NEAREST = {False: {1: aten.upsample_nearest1d.default, 2: aten.upsample_nearest2d.default,
                    3: aten.upsample_nearest3d.default},
            True: {1: aten._upsample_nearest_exact1d.default, 2: aten._upsample_nearest_exact2d.default,
                   3: aten._upsample_nearest_exact3d.default}}
_INTERPOLATE = {("linear", 1): aten.upsample_linear1d.default, ("linear", 2): aten.upsample_bilinear2d.default,
                ("linear", 3): aten.upsample_trilinear3d.default, ("cubic", 2): aten.upsample_bicubic2d.default,
                ("antialias_linear", 2): aten._upsample_bilinear2d_aa.default,
                ("antialias_cubic", 2): aten._upsample_bicubic2d_aa.default}


def _one_axis(op: Any, probe: torch.Tensor, axis: int, out: int, scale: Any, *middle: Any) -> torch.Tensor:
    """The `.default` overload resizing only `axis` (the others are 1 -> 1, an identity in every mode),
    with torch's scale for that axis: per axis, torch's kernels sample exactly as in the full op."""
    n = probe.dim() - 2
    output_size, scales = [1] * n, [None] * n
    output_size[axis], scales[axis] = out, scale
    return op(probe, output_size, *middle, *scales)


def _nearest_indices(exact: bool, dtype: torch.dtype, sizes: list[int], outs: list[int],
                     scales: list[Any]) -> list[list[int]]:
    """Per axis, the source index torch reads for each output position."""
    n = len(sizes)
    indices = []
    for axis in range(n):
        view = [1, 1] + [1] * n
        view[axis + 2] = sizes[axis]
        probe = torch.arange(sizes[axis], dtype=_probe_dtype(dtype, sizes[axis])).reshape(view)
        out = _one_axis(_NEAREST[exact][n], probe, axis, outs[axis], scales[axis])
        indices.append([int(v) for v in out.reshape(-1).to(torch.int64).tolist()])
    return indices


def _weights(mode: str, align_corners: bool, dtype: torch.dtype, sizes: list[int], outs: list[int],
             scales: list[Any]) -> list[np.ndarray]:
    """Per axis, torch's [out, in] matrix of interpolation weights (a batch of one-hot probes)."""
    n = len(sizes)
    matrices = []
    for axis in range(n):
        view = [sizes[axis], 1] + [1] * n
        view[axis + 2] = sizes[axis]
        probe = torch.eye(sizes[axis], dtype=dtype).reshape(view)
        out = _one_axis(_INTERPOLATE[mode, n], probe, axis, outs[axis], scales[axis], align_corners)
        matrices.append(out.reshape(sizes[axis], outs[axis]).transpose(0, 1).numpy())
    return matrices


def _vec_sizes(op: Any, sizes: list[int], *args: Any) -> list[int]:
    """The output sizes a `.vec` overload computes (run on a meta tensor)."""
    return list(op(torch.empty([1, 1, *sizes], device="meta"), *args).shape[2:])


# -- ONNX Runtime's sampling, to check it against torch's ------------------------------------------
def _ort_nearest(size: int, out: int, exact: bool) -> list[int]:
    """Resize 11+ with `sizes`: nearest_mode floor + asymmetric, or round_prefer_ceil + half_pixel."""
    scale = np.float32(out) / np.float32(size)
    picked = []
    for x in range(out):
        if exact:
            original = (np.float32(x) + np.float32(0.5)) / scale - np.float32(0.5)
            index = int(np.ceil(original)) if original == np.floor(original) + np.float32(0.5) else int(np.round(original))
        else:
            index = int(np.floor(np.float32(x) / scale))
        picked.append(min(max(index, 0), size - 1))
    return picked


def _legacy_scale(size: int, out: int) -> float | None:
    """A float32 scale with which Upsample-9/Resize-10 produce `out` from `size` (None: none does)."""
    scale = np.float32(out / size)
    for candidate in (scale, np.nextafter(scale, np.float32(np.inf))):
        if int(candidate * np.float32(size)) == out:
            return float(candidate)
    return None


def _legacy_nearest(size: int, scale: float) -> list[int]:
    """Upsample-9 / Resize-10 nearest in ONNX Runtime: x / scale, truncated (rounded up when shrinking)."""
    s = np.float32(scale)
    out = int(s * np.float32(size))
    picked = []
    for x in range(out):
        original = np.float32(x) / s
        index = int(np.ceil(original)) if s < 1 else int(original)
        picked.append(min(max(index, 0), size - 1))
    return picked


def _ort_weights(size: int, out: int, mode: str, align_corners: bool, scale: float) -> np.ndarray:
    """Resize 11+ linear/cubic as ONNX Runtime samples: the [out, in] weights (float64)."""
    matrix = np.zeros((out, size))
    for x in range(out):
        if align_corners:
            original = x * (size - 1) / (out - 1) if out > 1 else 0.0
        else:
            original = (x + 0.5) / scale - 0.5
        if mode == "linear":
            original = min(max(original, 0.0), size - 1.0)
            low = int(np.floor(original))
            high, t = min(low + 1, size - 1), original - low
            matrix[x, low] += 1 - t
            matrix[x, high] += t
            continue
        low = int(np.floor(original))
        t = original - low
        a = -0.75
        for offset, d in zip((-1, 0, 1, 2), (1 + t, t, 1 - t, 2 - t)):
            w = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a if d > 1 else ((a + 2) * d - (a + 3)) * d * d + 1
            matrix[x, min(max(low + offset, 0), size - 1)] += w
    return matrix


# -- what to emit --------------------------------------------------------------------------------
def nearest_plan(exact: bool, dtype: torch.dtype, opset: int, sizes: list[int], outs: list[int],
                 scales: list[Any]) -> tuple[str, list[float] | None, list[list[int] | None] | None]:
    """How to emit nearest resampling of static `sizes` to `outs`: ('sizes', None, None) for Resize
    11+ with sizes (asymmetric + floor, or half_pixel + round_prefer_ceil for nearest-exact);
    ('scales', factors, None) for Upsample-9 / Resize-10 with those per-axis factors; else
    ('gather', None, picks): per axis torch's source indices (None where it is the identity)."""
    indices = _nearest_indices(exact, dtype, sizes, outs, scales)
    if dtype in _RESIZE_DTYPES and all(o > 0 for o in outs):
        if opset >= 11:
            if all(_ort_nearest(s, o, exact) == i for s, o, i in zip(sizes, outs, indices)):
                return "sizes", None, None
        elif not exact:
            factors = [_legacy_scale(s, o) for s, o in zip(sizes, outs)]
            shrinks = any(f is not None and f < 1 for f in factors)  # Upsample-9 refuses scales < 1
            if not (opset < 10 and shrinks) and all(
                    f is not None and _legacy_nearest(size, f) == i for f, size, i in zip(factors, sizes, indices)):
                return "scales", [float(f) for f in factors if f is not None], None  # (all are: checked above)
    return "gather", None, [None if picked == list(range(size)) else picked for picked, size in zip(indices, sizes)]


def interpolation_plan(mode: str, align_corners: bool, dtype: torch.dtype, opset: int, sizes: list[int],
                       outs: list[int], scales: list[Any]) -> tuple[str, list[float] | None, list[np.ndarray | None] | None]:
    """How to emit linear/cubic resampling: ('sizes', None, None) for Resize 11+ with sizes,
    ('scales', factors, None) with torch's scale factors (align_corners, or half_pixel;
    cubic_coeff_a -0.75), else ('matmul', None, matrices): per axis torch's [in, out] weights (None
    where it is the identity)."""
    matrices = _weights(mode, align_corners, dtype, sizes, outs, scales)
    if opset >= 11 and dtype in _RESIZE_DTYPES and all(o > 0 for o in outs):
        # Per axis, a scale with which Resize samples as torch did: out/in, or torch's scale factor.
        factors = []
        for size, out, scale, matrix in zip(sizes, outs, scales, matrices):
            candidates = [out / size] + ([float(scale)] if scale is not None and scale > 0 else [])
            factors.append(next((f for f in candidates if np.allclose(
                _ort_weights(size, out, mode, align_corners, f), matrix, rtol=0, atol=1e-5)), None))
        if all(f == o / size for f, size, o in zip(factors, sizes, outs)):
            return "sizes", None, None
        if all(f is not None and int(np.float32(f) * np.float32(size)) == o for f, size, o in zip(factors, sizes, outs)):
            return "scales", [float(f) for f in factors if f is not None], None  # (all are: checked above)
    identity = [m.shape[0] == m.shape[1] and np.array_equal(m, np.eye(m.shape[0])) for m in matrices]
    return "matmul", None, [None if same else np.ascontiguousarray(m.T) for m, same in zip(matrices, identity)]


def vec_sizes(op: Any, sizes: list[int], output_size: Any, scale_factors: Any, align_corners: bool | None) -> list[int]:
    """The output sizes a `.vec` overload computes for static input sizes (run on a meta tensor)."""
    middle = [] if align_corners is None else [align_corners]
    return _vec_sizes(op, sizes, output_size, *middle, scale_factors)


def antialias_matrices(mode: str, align_corners: bool, dtype: torch.dtype, sizes: list[int], outs: list[int],
                       scales: list[Any]) -> list[np.ndarray | None]:
    """Per axis, torch's [in, out] antialiased weights ('antialias_linear'/'antialias_cubic'; None
    where it is the identity). ONNX Resize's antialias filter differs from torch's (PIL's) when
    shrinking, so these always become MatMuls. The probe keeps the other axis 2 -> 2 (an identity):
    torch's kernel with an output width of 1 does not apply its filter (the specs refuse that)."""
    matrices = []
    for axis in range(2):
        output_size, given = [2, 2], [None, None]
        output_size[axis], given[axis] = outs[axis], scales[axis]
        shape = [sizes[axis], 1, 2, 2]
        shape[axis + 2] = sizes[axis]
        probe = torch.eye(sizes[axis], dtype=dtype).reshape([sizes[axis], 1] + [sizes[axis] if a == axis else 1
                                                                                 for a in range(2)]).expand(shape)
        out = _INTERPOLATE[mode, 2](probe.contiguous(), output_size, align_corners, *given)
        out = out[:, :, :, 0] if axis == 0 else out[:, :, 0, :]
        matrices.append(out.reshape(sizes[axis], outs[axis]).transpose(0, 1).numpy())
    return [None if m.shape[0] == m.shape[1] and np.array_equal(m, np.eye(m.shape[0])) else np.ascontiguousarray(m.T)
            for m in matrices]


def antialias_window_empty(mode: str, align_corners: bool, dtype: torch.dtype, sizes: list[int], outs: list[int],
                           scales: list[Any]) -> bool:
    """Whether torch's antialiased kernel finds no source pixel for some output position.

    With a given scale that contradicts the sizes (e.g. 8 -> 10 pixels with scales_h=0.3), torch
    centres output i at (i + 0.5) / scale, past the input's end; its kernel then leaves that output
    unwritten (uninitialised memory, so no mapping can match). Without align_corners torch uses the
    given scale, and skips an axis whose size does not change; computed as torch does (aten/src/ATen/native/cpu/UpSampleKernel.cpp), in the
    input's precision."""
    if align_corners:
        return False
    real = np.float32 if dtype == torch.float32 else np.float64
    taps = 2 if mode == "antialias_linear" else 4
    for size, out, given in zip(sizes, outs, scales):
        if size == out:
            continue  # torch skips an axis that keeps its size
        scale = real(1.0) / real(given) if given is not None and given > 0 else real(size) / real(out)
        support = real(taps * 0.5) * scale if scale >= 1.0 else real(taps * 0.5)
        for i in range(out):
            center = scale * real(i + 0.5)
            first = max(int(center - support + real(0.5)), 0)
            if min(int(center + support + real(0.5)), size) - first <= 0:
                return True
    return False
