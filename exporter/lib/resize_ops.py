"""Interpolation mappings (opspecs/resize.yaml): upsample_nearest/linear/bilinear/bicubic/trilinear
and _upsample_nearest_exact, in their `.vec` and `.default` overloads.

torch's sampling positions depend on float rounding in its own kernels (and on whether a scale
factor was passed, which torch then uses instead of in/out). Rather than re-deriving them, each
mapping asks torch: per spatial axis it runs the `.default` overload on a small probe that
resizes only that axis (the others 1 -> 1, an identity in every mode) with torch's output size
and scale for it, which yields the source index of every output position (nearest: an arange
probe) or the [out, in] interpolation matrix (linear, cubic: a batch of one-hot probes). Then:

- ONNX Upsample (opset 9) / Resize (10) / Resize with coordinate_transformation_mode (11+) is
  used when its sampling, computed the way ONNX Runtime computes it, is torch's: nearest
  (asymmetric + floor; nearest-exact: half_pixel + round_prefer_ceil), linear and cubic
  (align_corners, or half_pixel with torch's scale; cubic_coeff_a -0.75 as torch).
- Otherwise the probe's result is applied directly: Gather of the static source indices per axis
  (nearest, exact for every dtype), or MatMul with the static interpolation matrix per axis
  (linear/cubic before opset 11, where Upsample/Resize only know the asymmetric transform, or
  when torch's scale cannot be expressed).

Probing needs static sizes. A dynamic spatial size (or an output size computed at run time)
takes `_dynamic_resample` instead: per axis, torch's own sampling arithmetic (its kernels'
scale, source index and weight formulas, in their compute dtype) evaluated in the graph, then
Gather of the source indices (nearest) or of the 2 / 4 neighbours weighted (linear / cubic).
It needs no probe and no Resize kernel, so it serves every opset: every dtype for nearest,
float dtypes for linear/cubic (torch's integer kernels use fixed-point weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx_ir as ir
import torch

from exporter import emit_helpers as h
from exporter.lib import common as c
from exporter.lib import shape_ops

aten = torch.ops.aten

# Dtypes ONNX Runtime's Upsample/Resize kernels take (others use the Gather/MatMul forms).
_RESIZE_DTYPES = (torch.float32, torch.uint8, torch.int8, torch.int32)


def _spatial_sizes(g: Any, x: ir.Value, n: int, why: str) -> list[int]:
    dims = g.shape(x)[-n:]
    if not all(isinstance(d, int) for d in dims):
        raise g.constraint_error(f"{why} needs static spatial sizes, but '{x.name}' has shape {g.shape(x)} (known "
                                 "only at run time): drop those axes from dynamic_shapes/dynamic_axes",
                                 "exporter/lib/resize_ops.py")
    return [int(d) for d in dims]


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
                ("linear", 3): aten.upsample_trilinear3d.default, ("cubic", 2): aten.upsample_bicubic2d.default}


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


def _resize(g: Any, x: ir.Value, mode: str, sizes: list[int] | None = None, scales: list[float] | None = None,
            **attributes: Any) -> ir.Value:
    """Resize 11+ over the spatial axes (N and C kept) from `sizes` or `scales`."""
    lead = g.rank(x) - len(sizes or scales or [])
    if g.opset >= 13:
        roi = None
    else:
        roi = g.constant(torch.zeros(0, dtype=torch.float32))
    if sizes is not None:
        scale_input = None if g.opset >= 13 else g.constant(torch.zeros(0, dtype=torch.float32))
        size_input = g.op("Concat", _slice_shape(g, x, lead), h.ints(g, sizes), axis=0)
        return g.op("Resize", x, roi, scale_input, size_input, mode=mode, **attributes)
    assert scales is not None
    return g.op("Resize", x, roi, g.constant([1.0] * lead + list(scales), torch.float32), mode=mode, **attributes)


def _slice_shape(g: Any, x: ir.Value, count: int) -> ir.Value:
    dims = g.shape(x)[:count]
    if all(isinstance(d, int) for d in dims):
        return h.ints(g, dims)
    return g.op("Slice", g.op("Shape", x), h.ints(g, [0]), h.ints(g, [count]), h.ints(g, [0]))


def _gather_axes(g: Any, x: ir.Value, sizes: list[int], indices: list[list[int]]) -> ir.Value:
    lead = g.rank(x) - len(sizes)
    for k, picked in enumerate(indices):
        if picked != list(range(sizes[k])):
            x = g.op("Gather", x, g.constant(picked, torch.int64), axis=lead + k)
    return x


def _matmul_axes(g: Any, x: ir.Value, matrices: list[np.ndarray]) -> ir.Value:
    """Each spatial axis contracted with its [out, in] matrix (moved last for MatMul)."""
    r = g.rank(x)
    lead = r - len(matrices)
    for k, matrix in enumerate(matrices):
        if matrix.shape[0] == matrix.shape[1] and np.array_equal(matrix, np.eye(matrix.shape[0])):
            continue
        axis = lead + k
        weights = g.constant(torch.from_numpy(np.ascontiguousarray(matrix.T)), g.dtype(x))
        if axis == r - 1:
            x = g.op("MatMul", x, weights)
        else:
            perm = list(range(r))
            perm[axis], perm[r - 1] = r - 1, axis
            x = g.op("Transpose", g.op("MatMul", g.op("Transpose", x, perm=perm), weights), perm=perm)
    return x


# -- the two families ------------------------------------------------------------------------------
def _nearest(g: Any, x: ir.Value, exact: bool, output_size: Any, scales: Sequence[Any]) -> ir.Value:
    """`output_size` as torch computed it (None: from `scales` with the `.vec` overload's rule)."""
    n = len(scales)
    if _is_dynamic(g, x, output_size):
        return _dynamic_resample(g, x, "nearest-exact" if exact else "nearest", False, output_size, scales)
    sizes = _spatial_sizes(g, x, n, "nearest upsampling")
    outs = list(output_size)
    indices = _nearest_indices(exact, g.dtype(x), sizes, outs, list(scales))
    if g.dtype(x) in _RESIZE_DTYPES and all(o > 0 for o in outs):
        if g.opset >= 11:
            if all(_ort_nearest(s, o, exact) == i for s, o, i in zip(sizes, outs, indices)):
                if exact:
                    return _resize(g, x, "nearest", sizes=outs, coordinate_transformation_mode="half_pixel",
                                   nearest_mode="round_prefer_ceil")
                return _resize(g, x, "nearest", sizes=outs, coordinate_transformation_mode="asymmetric",
                               nearest_mode="floor")
        elif not exact:
            factors = [_legacy_scale(s, o) for s, o in zip(sizes, outs)]
            shrinks = any(f is not None and f < 1 for f in factors)  # Upsample-9 refuses scales < 1
            if not (g.opset < 10 and shrinks) and all(
                    f is not None and _legacy_nearest(size, f) == i for f, size, i in zip(factors, sizes, indices)):
                lead = g.rank(x) - n
                constant = g.constant([1.0] * lead + [float(f) for f in factors], torch.float32)
                return g.op("Upsample" if g.opset < 10 else "Resize", x, constant, mode="nearest")
    return _gather_axes(g, x, sizes, indices)


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


def _interpolate(g: Any, x: ir.Value, mode: str, align_corners: bool, output_size: Any,
                 scales: Sequence[Any]) -> ir.Value:
    """mode 'linear' or 'cubic'; `scales` as torch received them (None entries: torch uses in/out)."""
    n = len(scales)
    if _is_dynamic(g, x, output_size):
        return _dynamic_resample(g, x, mode, align_corners, output_size, scales)
    sizes = _spatial_sizes(g, x, n, f"{mode} upsampling")
    outs = list(output_size)
    matrices = _weights(mode, align_corners, g.dtype(x), sizes, outs, list(scales))
    if g.opset >= 11 and g.dtype(x) in _RESIZE_DTYPES and all(o > 0 for o in outs):
        attributes = {"cubic_coeff_a": -0.75} if mode == "cubic" else {}
        transform = "align_corners" if align_corners else "half_pixel"
        # Per axis, a scale with which Resize samples as torch did: out/in, or torch's scale factor.
        factors = []
        for size, out, scale, matrix in zip(sizes, outs, scales, matrices):
            candidates = [out / size] + ([float(scale)] if scale is not None and scale > 0 else [])
            factors.append(next((f for f in candidates if np.allclose(
                _ort_weights(size, out, mode, align_corners, f), matrix, rtol=0, atol=1e-5)), None))
        if all(f == o / size for f, size, o in zip(factors, sizes, outs)):
            return _resize(g, x, mode, sizes=outs, coordinate_transformation_mode=transform, **attributes)
        if all(f is not None and int(np.float32(f) * np.float32(size)) == o for f, size, o in zip(factors, sizes, outs)):
            return _resize(g, x, mode, scales=factors, coordinate_transformation_mode=transform, **attributes)
    return _matmul_axes(g, x, matrices)


def _vec(g: Any, x: ir.Value, op: Any, output_size: Any, scale_factors: Any, *middle: Any) -> tuple[list[int], list[Any]]:
    """A `.vec` call's output sizes and per-axis scales (torch samples with the factors when given)."""
    n = len(output_size if output_size is not None else scale_factors)
    scales = list(scale_factors) if scale_factors is not None else [None] * n
    if _is_dynamic(g, x, output_size or []):
        if output_size is not None:
            return list(output_size), scales
        # torch: int(input_size * scale_factor), in double
        return [_times(g, c.dim_size(g, x, g.rank(x) - n + k), float(f)) for k, f in enumerate(scale_factors)], scales
    sizes = _spatial_sizes(g, x, n, "upsampling")
    outs = _vec_sizes(op, sizes, output_size, *middle, scale_factors)
    return outs, scales


# -- nearest ---------------------------------------------------------------------------------------
def upsample_nearest1d_vec(g: Any, input: ir.Value, output_size: Any, scale_factors: Any) -> ir.Value:
    return _nearest(g, input, False, *_vec(g, input, aten.upsample_nearest1d.vec, output_size, scale_factors))


def upsample_nearest2d_vec(g: Any, input: ir.Value, output_size: Any, scale_factors: Any) -> ir.Value:
    return _nearest(g, input, False, *_vec(g, input, aten.upsample_nearest2d.vec, output_size, scale_factors))


def upsample_nearest3d_vec(g: Any, input: ir.Value, output_size: Any, scale_factors: Any) -> ir.Value:
    return _nearest(g, input, False, *_vec(g, input, aten.upsample_nearest3d.vec, output_size, scale_factors))


def upsample_nearest1d(g: Any, self: ir.Value, output_size: Any, scales: Any) -> ir.Value:
    return _nearest(g, self, False, output_size, [scales])


def upsample_nearest2d(g: Any, self: ir.Value, output_size: Any, scales_h: Any, scales_w: Any) -> ir.Value:
    return _nearest(g, self, False, output_size, [scales_h, scales_w])


def upsample_nearest3d(g: Any, self: ir.Value, output_size: Any, scales_d: Any, scales_h: Any,
                       scales_w: Any) -> ir.Value:
    return _nearest(g, self, False, output_size, [scales_d, scales_h, scales_w])


def upsample_nearest_exact1d_vec(g: Any, input: ir.Value, output_size: Any, scale_factors: Any) -> ir.Value:
    return _nearest(g, input, True, *_vec(g, input, aten._upsample_nearest_exact1d.vec, output_size, scale_factors))


def upsample_nearest_exact2d_vec(g: Any, input: ir.Value, output_size: Any, scale_factors: Any) -> ir.Value:
    return _nearest(g, input, True, *_vec(g, input, aten._upsample_nearest_exact2d.vec, output_size, scale_factors))


def upsample_nearest_exact3d_vec(g: Any, input: ir.Value, output_size: Any, scale_factors: Any) -> ir.Value:
    return _nearest(g, input, True, *_vec(g, input, aten._upsample_nearest_exact3d.vec, output_size, scale_factors))


def upsample_nearest_exact1d(g: Any, self: ir.Value, output_size: Any, scales: Any) -> ir.Value:
    return _nearest(g, self, True, output_size, [scales])


def upsample_nearest_exact2d(g: Any, self: ir.Value, output_size: Any, scales_h: Any, scales_w: Any) -> ir.Value:
    return _nearest(g, self, True, output_size, [scales_h, scales_w])


def upsample_nearest_exact3d(g: Any, self: ir.Value, output_size: Any, scales_d: Any, scales_h: Any,
                             scales_w: Any) -> ir.Value:
    return _nearest(g, self, True, output_size, [scales_d, scales_h, scales_w])


# -- linear and cubic ------------------------------------------------------------------------------
def upsample_linear1d_vec(g: Any, input: ir.Value, output_size: Any, align_corners: bool,
                          scale_factors: Any) -> ir.Value:
    outs, scales = _vec(g, input, aten.upsample_linear1d.vec, output_size, scale_factors, align_corners)
    return _interpolate(g, input, "linear", align_corners, outs, scales)


def upsample_bilinear2d_vec(g: Any, input: ir.Value, output_size: Any, align_corners: bool,
                            scale_factors: Any) -> ir.Value:
    outs, scales = _vec(g, input, aten.upsample_bilinear2d.vec, output_size, scale_factors, align_corners)
    return _interpolate(g, input, "linear", align_corners, outs, scales)


def upsample_trilinear3d_vec(g: Any, input: ir.Value, output_size: Any, align_corners: bool,
                             scale_factors: Any) -> ir.Value:
    outs, scales = _vec(g, input, aten.upsample_trilinear3d.vec, output_size, scale_factors, align_corners)
    return _interpolate(g, input, "linear", align_corners, outs, scales)


def upsample_bicubic2d_vec(g: Any, input: ir.Value, output_size: Any, align_corners: bool,
                           scale_factors: Any) -> ir.Value:
    outs, scales = _vec(g, input, aten.upsample_bicubic2d.vec, output_size, scale_factors, align_corners)
    return _interpolate(g, input, "cubic", align_corners, outs, scales)


def upsample_linear1d(g: Any, self: ir.Value, output_size: Any, align_corners: bool, scales: Any) -> ir.Value:
    return _interpolate(g, self, "linear", align_corners, output_size, [scales])


def upsample_bilinear2d(g: Any, self: ir.Value, output_size: Any, align_corners: bool, scales_h: Any,
                        scales_w: Any) -> ir.Value:
    return _interpolate(g, self, "linear", align_corners, output_size, [scales_h, scales_w])


def upsample_trilinear3d(g: Any, self: ir.Value, output_size: Any, align_corners: bool, scales_d: Any,
                         scales_h: Any, scales_w: Any) -> ir.Value:
    return _interpolate(g, self, "linear", align_corners, output_size, [scales_d, scales_h, scales_w])


def upsample_bicubic2d(g: Any, self: ir.Value, output_size: Any, align_corners: bool, scales_h: Any,
                       scales_w: Any) -> ir.Value:
    return _interpolate(g, self, "cubic", align_corners, output_size, [scales_h, scales_w])


# -- dynamic sizes: torch's sampling arithmetic in the graph ------------------------------------------
def _is_dynamic(g: Any, x: ir.Value, output_size: Sequence[Any]) -> bool:
    """A spatial size of x or an output size is only known at run time."""
    spatial = g.shape(x)[g.rank(x) - len(output_size):] if output_size else g.shape(x)[2:]
    return any(not isinstance(d, int) for d in spatial) or any(isinstance(o, ir.Value) for o in output_size)


def _times(g: Any, size: int | ir.Value, factor: float) -> int | ir.Value:
    """int(size * factor) as torch computes an output size from a scale factor (in double)."""
    if isinstance(size, int):
        return int(size * factor)
    return g.cast(g.op("Mul", g.cast(size, torch.float64), g.constant(factor, torch.float64)), torch.int64)


def _number(g: Any, value: int | ir.Value, dtype: torch.dtype) -> ir.Value:
    return g.cast(value, dtype) if isinstance(value, ir.Value) else g.constant(value, dtype)


def _scale(g: Any, size: int | ir.Value, out: int | ir.Value, scale: Any, align_corners: bool,
           dtype: torch.dtype) -> ir.Value:
    """torch's area_pixel_compute_scale: (in-1)/(out-1) with align_corners (0 for out 1), else
    1/scale when a scale was given, else in/out."""
    if align_corners:
        out_i = _number(g, out, torch.int64)
        denominator = g.op("Sub", out_i, h.scalar(g, 1, "int64"))
        many = g.op("Greater", denominator, h.scalar(g, 0, "int64"))
        safe = g.op("Where", many, denominator, h.scalar(g, 1, "int64"))
        ratio = g.op("Div", g.cast(g.op("Sub", _number(g, size, torch.int64), h.scalar(g, 1, "int64")), dtype),
                     g.cast(safe, dtype))
        return g.op("Where", many, ratio, g.constant(0.0, dtype))
    if scale is not None and scale > 0:
        return g.constant(1.0 / scale, dtype)  # in double, then rounded to the compute dtype
    return g.op("Div", _number(g, size, dtype), _number(g, out, dtype))


def _along_axis(g: Any, values: ir.Value, axis: int, rank: int) -> ir.Value:
    """A 1-D value laid along `axis` of a rank-`rank` tensor (for broadcasting)."""
    view = [1] * rank
    view[axis] = -1
    return g.op("Reshape", values, h.ints(g, view))


def _cubic_weights(g: Any, t: ir.Value, dtype: torch.dtype) -> list[ir.Value]:
    """torch's get_cubic_upsample_coefficients (A = -0.75) for the 4 taps at offsets -1, 0, 1, 2."""
    a = -0.75

    def c(value: float) -> ir.Value:
        return g.constant(value, dtype)

    def near(x: ir.Value) -> ir.Value:  # ((A + 2) x - (A + 3)) x x + 1
        return g.op("Add", g.op("Mul", g.op("Mul", g.op("Sub", g.op("Mul", c(a + 2), x), c(a + 3)), x), x), c(1.0))

    def far(x: ir.Value) -> ir.Value:  # ((A x - 5A) x + 8A) x - 4A
        inner = g.op("Add", g.op("Mul", g.op("Sub", g.op("Mul", c(a), x), c(5 * a)), x), c(8 * a))
        return g.op("Sub", g.op("Mul", inner, x), c(4 * a))

    rest = g.op("Sub", c(1.0), t)
    return [far(g.op("Add", t, c(1.0))), near(t), near(rest), far(g.op("Add", rest, c(1.0)))]


def _dynamic_resample(g: Any, x: ir.Value, kind: str, align_corners: bool, output_size: Sequence[Any],
                      scales: Sequence[Any]) -> ir.Value:
    """Each spatial axis resampled as torch's CPU kernels do (kind: nearest, nearest-exact,
    linear, cubic); linear and cubic are separable, so axis by axis is their full result."""
    r = g.rank(x)
    n = len(output_size)
    dtype = g.dtype(x)
    if not kind.startswith("nearest") and not dtype.is_floating_point:
        raise g.constraint_error(
            f"{kind} interpolation of {dtype} images with dynamic sizes: torch's integer kernels use "
            "fixed-point weights (and renormalized borders for cubic) that the graph cannot reproduce "
            "exactly; interpolate a float copy (x.float()) and convert back", "exporter/lib/resize_ops.py")
    # torch computes nearest indices in float32 and weights in the input's opmath type
    weight_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    index_dtype = torch.float32 if kind.startswith("nearest") else weight_dtype
    out_value = x
    for k in range(n):
        axis = r - n + k
        size, out = c.dim_size(g, x, axis), output_size[k]
        last = g.op("Sub", _number(g, size, torch.int64), h.scalar(g, 1, "int64"))
        scale = _scale(g, size, out, scales[k], align_corners and not kind.startswith("nearest"), index_dtype)
        dst = g.cast(shape_ops.arange(g, out if isinstance(out, ir.Value) else int(out)), index_dtype)
        if kind.startswith("nearest"):
            if kind == "nearest-exact":
                dst = g.op("Add", dst, g.constant(0.5, index_dtype))
            source = g.cast(g.op("Floor", g.op("Mul", dst, scale)), torch.int64)
            source = g.op("Where", g.op("Less", last, source), last, source)
            out_value = g.op("Gather", out_value, source, axis=axis)
            continue
        if align_corners:
            real = g.op("Mul", dst, scale)
        else:
            half = g.constant(0.5, index_dtype)
            real = g.op("Sub", g.op("Mul", scale, g.op("Add", dst, half)), half)
            if kind == "linear":  # torch clamps negative source positions for linear only
                real = g.op("Where", g.op("Less", real, g.constant(0.0, index_dtype)), g.constant(0.0, index_dtype), real)
        # guard_index_and_lambda: index = min(floor(real), in-1), t = clamp(real - index, 0, 1)
        index = g.cast(g.op("Floor", real), torch.int64)
        index = g.op("Where", g.op("Less", last, index), last, index)
        t = g.op("Sub", real, g.cast(index, index_dtype))
        t = g.op("Where", g.op("Less", t, g.constant(0.0, index_dtype)), g.constant(0.0, index_dtype), t)
        t = g.op("Where", g.op("Less", g.constant(1.0, index_dtype), t), g.constant(1.0, index_dtype), t)
        if kind == "linear":
            offsets, weights = (0, 1), [g.op("Sub", g.constant(1.0, index_dtype), t), t]
        else:
            offsets, weights = (-1, 0, 1, 2), _cubic_weights(g, t, index_dtype)
        source = g.cast(out_value, weight_dtype)
        total = None
        for offset, weight in zip(offsets, weights):
            tap = g.op("Add", index, h.scalar(g, offset, "int64")) if offset else index
            tap = g.op("Where", g.op("Less", tap, h.scalar(g, 0, "int64")), h.scalar(g, 0, "int64"), tap)
            tap = g.op("Where", g.op("Less", last, tap), last, tap)
            term = g.op("Mul", g.op("Gather", source, tap, axis=axis), _along_axis(g, weight, axis, r))
            total = term if total is None else g.op("Add", total, term)
        out_value = g.cast(total, dtype) if weight_dtype != dtype else total
    return out_value
