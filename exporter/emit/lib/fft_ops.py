"""Python mappings for FFTs and the complex ops around them (opspecs/fft.yaml).

A complex tensor is exported as a real tensor of its component dtype with a trailing axis of
2 (real, imaginary): the layout ONNX DFT reads and writes (graph_builder.mark_complex). A
torch dim of a complex tensor is therefore the same ONNX axis of its pair tensor, and DFT
accepts every axis but that trailing one.

DFT transforms one axis: an FFT over several dims is one DFT per dim. ONNX's forward DFT is
unscaled and its inverse is scaled by 1/n; torch's `normalization` asks for 1 (0), 1/sqrt(n)
(1) or 1/n (2) in either direction, so the result is rescaled where the two differ. Signal
sizes of dynamic dims are read from the shape at run time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder, complex_parts_dtype, is_complex, mark_complex
from aten2onnx.exporter.emit.lib import common as c
from aten2onnx.exporter.emit.lib import indexing_ops

# torch's fft_norm_mode: the power of 1/n the result is scaled by
_NORM_POWER = {0: 0.0, 1: 0.5, 2: 1.0}


# -- building blocks ----------------------------------------------------------------------------------


def _with_shape(value: ir.Value, dims: Sequence[Any] | None) -> ir.Value:
    """Record a shape the helpers below read (rank, static sizes); None dims are unknown."""
    if dims is not None:
        value.shape = ir.Shape(list(dims))
    return value


def _dims_of(value: ir.Value) -> list[Any] | None:
    return list(value.shape) if value.shape is not None else None


def _last_axis(g: GraphBuilder, x: ir.Value) -> int:
    """-1, or x's rank before opset 11 (Concat takes negative axes from 11)."""
    return -1 if g.opset >= 11 else g.rank(x)


def _unsqueeze_last(g: GraphBuilder, x: ir.Value) -> ir.Value:
    dims = _dims_of(x)
    return _with_shape(c.unsqueeze(g, x, [-1]), None if dims is None else [*dims, 1])


def _squeeze_last(g: GraphBuilder, x: ir.Value) -> ir.Value:
    dims = _dims_of(x)
    return _with_shape(c.squeeze(g, x, [-1]), None if dims is None else dims[:-1])


def part(g: GraphBuilder, x: ir.Value, index: int) -> ir.Value:
    """The real (0) or imaginary (1) part of a complex pair tensor, of the complex tensor's shape."""
    dims = _dims_of(x)
    out = g.op("Gather", x, g.constant(index, torch.int64), axis=-1)
    return _with_shape(out, None if dims is None else dims[:-1])


def pack(g: GraphBuilder, real: ir.Value, imag: ir.Value) -> ir.Value:
    """The pair tensor of (real, imag): the complex value real + i * imag."""
    dims = _dims_of(real)
    out = g.op("Concat", _unsqueeze_last(g, real), _unsqueeze_last(g, imag), axis=_last_axis(g, real))
    mark_complex(out)
    return _with_shape(out, None if dims is None else [*dims, 2])


def zeros_like(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """Zeros of x's shape and dtype (imaginary parts of a real tensor; x * 0 would turn inf into NaN)."""
    zero = ir.tensor(torch.zeros([1], dtype=g.known_dtype(x)).numpy())
    return _with_shape(g.op("ConstantOfShape", g.op("Shape", x), value=zero), _dims_of(x))


def _dft(g: GraphBuilder, x: ir.Value, axis: int, *, inverse: bool = False, onesided: bool = False,
         length: Any = None) -> ir.Value:
    """One ONNX DFT of a pair tensor (trailing 1: real, 2: complex) along a non-negative axis."""
    length_value = None
    if length is not None:
        length_value = length if isinstance(length, ir.Value) else g.constant(int(length), torch.int64)
        length_value = g.cast(length_value, torch.int64)
    attributes: dict[str, Any] = {"inverse": int(inverse), "onesided": int(onesided)}
    if g.opset >= 20:  # the axis became an input at 20
        out = g.op("DFT", x, length_value, g.constant(axis, torch.int64), **attributes)
    else:
        out = g.op("DFT", x, length_value, axis=axis, **attributes)
    dims = _dims_of(x)
    if dims is not None:
        size = length if isinstance(length, int) else None if length is not None else dims[axis]
        if onesided and not inverse and isinstance(size, int):
            size = size // 2 + 1
        dims[axis] = size if isinstance(size, int) else None
        dims[-1] = 1 if onesided and inverse else 2
    return _with_shape(out, dims)


def _axes(g: GraphBuilder, dims: Sequence[int], rank: int) -> list[int]:
    """torch dims (negative too) of a tensor of `rank` as non-negative axes."""
    rank = max(rank, 1)
    return [d + rank if d < 0 else d for d in dims]


def _signal_size(g: GraphBuilder, x: ir.Value, axes: Sequence[int]) -> int | ir.Value:
    """The number of elements over `axes` of x: an int when static, else read at run time."""
    dims = [x.shape[a] for a in axes] if x.shape is not None else None
    if dims is not None and c.is_static(dims):
        return math.prod(dims)
    if not axes:
        return 1
    sizes = g.op("Gather", g.op("Shape", x), g.constant(list(axes), torch.int64), axis=0)
    return g.op("ReduceProd", sizes, keepdims=0)


def _times(g: GraphBuilder, a: int | ir.Value, b: int | ir.Value) -> int | ir.Value:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    return g.op("Mul", g.cast(g.constant(a, torch.int64), torch.int64), g.cast(g.constant(b, torch.int64),
                                                                                   torch.int64))


def _normalize(g: GraphBuilder, y: ir.Value, n: int | ir.Value, normalization: int, inverse: bool) -> ir.Value:
    """Scale DFT's result as torch's normalization asks (ONNX already divided an inverse by n)."""
    exponent = (1.0 - _NORM_POWER[normalization]) if inverse else -_NORM_POWER[normalization]
    if exponent == 0.0:
        return y
    dtype = g.known_dtype(y)
    if isinstance(n, int):
        factor = g.constant(float(n) ** exponent, dtype)
    else:
        factor = g.op("Pow", g.cast(n, dtype), g.constant(exponent, dtype))
    out = g.op("Mul", y, factor)
    if is_complex(y):
        mark_complex(out)
    return _with_shape(out, _dims_of(y))


# -- FFTs -----------------------------------------------------------------------------------------------


def _int64(g: GraphBuilder, n: int | ir.Value) -> ir.Value:
    return g.constant(n, torch.int64) if isinstance(n, int) else g.cast(n, torch.int64)


def _real_bins(g: GraphBuilder, rank: int, axis: int, n: int | ir.Value, size: int | ir.Value) -> ir.Value:
    """bool [1, .., size, .., 1] (rank axes, size at `axis`): the bins k of a length-n DFT along the
    axis where a real signal's transform is real, k == 0 and, for an even n, k == n / 2."""
    shape = [1] * rank
    if isinstance(n, int) and isinstance(size, int):
        shape[axis] = size
        return g.constant(torch.tensor([k == 0 or 2 * k == n for k in range(size)]).reshape(shape))
    k = g.op("Range", g.constant(0, torch.int64), _int64(g, size), g.constant(1, torch.int64))
    real = g.op("Or", g.op("Equal", k, g.constant(0, torch.int64)),
                g.op("Equal", g.op("Mul", k, g.constant(2, torch.int64)), _int64(g, n)))
    shape[axis] = -1
    return g.op("Reshape", real, g.constant(shape, torch.int64))


def _exact_real_bins(g: GraphBuilder, y: ir.Value, axes: Sequence[int], lengths: Sequence[int | ir.Value],
                     sizes: Sequence[int | ir.Value] | None = None, rank: int | None = None) -> ir.Value:
    """y (the pair tensor of a real signal's DFT over `axes`, of those signal lengths; y's rank and
    sizes there read from y unless given) with an
    imaginary part of exactly +0.0 wherever every transformed bin is one where the transform is real
    (0, or n / 2 for an even n): pocketfft, torch's CPU FFT, makes those exact zeros, while ONNX
    Runtime's DFT leaves -0.0 or rounding noise there (its twiddle factors at pi are inexact)."""
    rank = g.rank(y) if rank is None else rank
    mask = g.constant(torch.tensor([False, True]).reshape([1] * (rank - 1) + [2]))
    for i, (axis, n) in enumerate(zip(axes, lengths)):
        size = sizes[i] if sizes is not None else _signal_length(g, y, axis)
        mask = g.op("And", mask, _real_bins(g, rank, axis, n, size))
    out = g.op("Where", mask, g.constant(0.0, g.known_dtype(y)), y)
    mark_complex(out)
    return _with_shape(out, _dims_of(y))


def fft_r2c(g: GraphBuilder, self: ir.Value, dim: Sequence[int], normalization: int, onesided: bool) -> ir.Value:
    """Real-to-complex FFT over `dim`; `onesided` keeps n // 2 + 1 bins of the last dim listed."""
    axes = _axes(g, dim, g.rank(self))
    n = _signal_size(g, self, axes)
    lengths = [_signal_length(g, self, axis) for axis in axes]
    y = _dft(g, _unsqueeze_last(g, self), axes[-1], onesided=onesided)  # a real signal: trailing 1
    for axis in axes[:-1]:
        y = _dft(g, y, axis)
    mark_complex(y)
    return _exact_real_bins(g, _normalize(g, y, n, normalization, inverse=False), axes, lengths)


def fft_c2r(g: GraphBuilder, self: ir.Value, dim: Sequence[int], normalization: int, last_dim_size: Any) -> ir.Value:
    """Inverse FFT of a Hermitian spectrum: complex inverses over all but the last dim listed, then
    DFT's one-sided inverse (IRFFT) giving `last_dim_size` real samples along the last."""
    axes = _axes(g, dim, g.rank(self) - 1)
    n = _times(g, _signal_size(g, self, axes[:-1]), last_dim_size)
    y = self
    for axis in axes[:-1]:
        y = _dft(g, y, axis, inverse=True)
    y = _dft(g, y, axes[-1], inverse=True, onesided=True, length=last_dim_size)
    return _normalize(g, _squeeze_last(g, y), n, normalization, inverse=True)


def fft_c2c(g: GraphBuilder, self: ir.Value, dim: Sequence[int], normalization: int, forward: bool) -> ir.Value:
    """Complex FFT (or its inverse) over `dim`, one DFT per dim."""
    axes = _axes(g, dim, g.rank(self) - 1)
    n = _signal_size(g, self, axes)
    y = self
    for axis in axes:
        y = _dft(g, y, axis, inverse=not forward)
    if y is self:  # no dim: torch still returns a new tensor
        y = g.op("Identity", self)
    mark_complex(y)
    return _normalize(g, y, n, normalization, inverse=not forward)


# -- complex <-> real -----------------------------------------------------------------------------------


def view_as_complex(g: GraphBuilder, self: ir.Value) -> ir.Value:
    """A real tensor whose last dim is 2 is already the pair tensor of the complex view."""
    out = g.op("Identity", self)
    mark_complex(out)
    return out


def complex_mul(g: GraphBuilder, self: Any, other: Any) -> ir.Value:
    """Complex products: (a + bi)(c + di) = (ac - bd) + (ad + bc)i; by a real tensor, both parts scale."""
    complex_self, complex_other = is_complex(self), is_complex(other)
    self, other = g.promote([self, other], "DEFAULT")  # the pairs' component dtypes, as torch promotes
    if complex_self and complex_other:
        a, b, c, d = part(g, self, 0), part(g, self, 1), part(g, other, 0), part(g, other, 1)
        real = g.op("Sub", g.op("Mul", a, c), g.op("Mul", b, d))
        imag = g.op("Add", g.op("Mul", a, d), g.op("Mul", b, c))
        return pack(g, real, imag)
    pairs, scale = (self, other) if complex_self else (other, self)
    out = g.op("Mul", pairs, _unsqueeze_last(g, scale))  # [..., 1] broadcasts over (real, imag)
    mark_complex(out)
    return out


def to_copy(g: GraphBuilder, self: ir.Value, dtype: torch.dtype | None = None, layout: Any = None, device: Any = None,
            pin_memory: Any = None, non_blocking: bool = False, memory_format: Any = None) -> ir.Value:
    """_to_copy (and to.dtype, ...) to or from a complex dtype: a real tensor gains zero imaginary
    parts; complex to real keeps the real part (as torch does, with its warning), except to bool:
    true where either part is nonzero (NaN too), as torch's cast reads the whole number."""
    if dtype is None:
        out = g.op("Identity", self)
    elif dtype.is_complex and is_complex(self):
        out = g.op("Identity", g.cast(self, complex_parts_dtype(dtype)))
    elif dtype.is_complex:
        real = g.cast(self, complex_parts_dtype(dtype))
        if real is self:
            real = g.op("Identity", self)
            real.dtype, real.shape = self.dtype, self.shape
        return pack(g, real, zeros_like(g, real))
    elif dtype == torch.bool:
        return g.op("Or", g.cast(part(g, self, 0), dtype), g.cast(part(g, self, 1), dtype))
    else:
        return g.cast(part(g, self, 0), dtype)
    if is_complex(self):
        mark_complex(out)
    return out


def to_like(g: GraphBuilder, self: ir.Value, other: ir.Value) -> ir.Value:
    """to.other / type_as where either tensor is complex: _to_copy to other's dtype."""
    dtype = g.known_dtype(other)
    return to_copy(g, self, dtype.to_complex() if is_complex(other) else dtype)


def constant_pad(g: GraphBuilder, self: ir.Value, pad: Sequence[int], value: Any = 0) -> ir.Value:
    """constant_pad_nd of a complex tensor (torch.fft's `s` larger than the signal zero-pads this
    way): each part padded on its own, the real part with the value's real part, the imaginary
    part with its imaginary part (0 for a real value)."""
    number = complex(value)
    real = indexing_ops.constant_pad_nd(g, part(g, self, 0), pad, number.real)
    imag = indexing_ops.constant_pad_nd(g, part(g, self, 1), pad, number.imag)
    for padded in (real, imag):  # pack needs the rank (the sizes may be known only at run time)
        if padded.shape is None:
            padded.shape = ir.Shape([None] * (g.rank(self) - 1))
    return pack(g, real, imag)


def complex_from_parts(g: GraphBuilder, real: ir.Value, imag: ir.Value) -> ir.Value:
    """torch.complex: real and imag broadcast to one shape (the shape of their sum), then paired."""
    if real.shape is None or imag.shape is None or list(real.shape) != list(imag.shape):
        shape = g.op("Shape", g.op("Add", real, imag))  # only the broadcast shape is read
        rank = max(g.rank(real), g.rank(imag))  # pack reads the rank
        real = _with_shape(g.op("Expand", real, shape), [None] * rank)
        imag = _with_shape(g.op("Expand", imag, shape), [None] * rank)
    return pack(g, real, imag)


def conj(g: GraphBuilder, self: ir.Value) -> ir.Value:
    """The conjugate: (real, imag) times (1, -1); a real tensor is returned as it is."""
    if not is_complex(self):
        return g.op("Identity", self)
    out = g.op("Mul", self, g.constant([1.0, -1.0], g.dtype(self)))
    mark_complex(out)
    return _with_shape(out, _dims_of(self))


def angle(g: GraphBuilder, self: ir.Value) -> ir.Value:
    """The argument of a complex number, atan2(imag, real) (atan2's own spec); for a real x, pi
    where x < 0 and 0 elsewhere (NaN stays NaN), in the default float dtype for integers."""
    if is_complex(self):
        atan2 = g.registry.lookup("aten::atan2.default", g.opset)
        return atan2(g, part(g, self, 1), part(g, self, 0))
    x = self if g.known_dtype(self).is_floating_point else g.cast(self, torch.get_default_dtype())
    dtype = g.known_dtype(x)
    turned = g.op("Where", g.op("Less", x, g.constant(0, dtype)), g.constant(math.pi, dtype), g.constant(0, dtype))
    if self is not x:  # integers hold no NaN
        return turned
    return g.op("Where", g.op("IsNaN", x), x, turned)


# -- STFT -----------------------------------------------------------------------------------------------


def _signal_length(g: GraphBuilder, x: ir.Value, axis: int) -> int | ir.Value:
    """The size of x along `axis`: an int when static, else a 0-d int64 read at run time."""
    known = x.shape[axis] if x.shape is not None else None
    if isinstance(known, int):
        return known
    size = g.op("Shape", x, start=axis, end=axis + 1)
    return g.op("Squeeze", size, h.ints(g, [0]))


def _frame_starts(g: GraphBuilder, length: int | ir.Value, span: int, hop: int, offset: int) -> ir.Value:
    """[frames, 1] int64 start indices offset + m * hop, m < 1 + (length - span) // hop (torch's
    count; torch has checked length >= span)."""
    if isinstance(length, int):
        frames = 1 + (length - span) // hop
        return g.constant([[offset + m * hop] for m in range(frames)], torch.int64)
    one = g.constant(1, torch.int64)
    frames = g.op("Add", g.op("Div", g.op("Sub", length, g.constant(span, torch.int64)),
                              g.constant(hop, torch.int64)), one)
    starts = g.op("Range", g.constant(0, torch.int64), frames, one)
    starts = g.op("Add", g.op("Mul", starts, g.constant(hop, torch.int64)), g.constant(offset, torch.int64))
    return g.op("Unsqueeze", starts, h.ints(g, [1]))


def _cast_parts(g: GraphBuilder, x: ir.Value, dtype: torch.dtype) -> ir.Value:
    """x (a pair tensor too) in another component dtype."""
    out = g.cast(x, dtype)
    if out is not x and is_complex(x):
        mark_complex(out)
    return out


def _times_window(g: GraphBuilder, frames: ir.Value, window: ir.Value) -> ir.Value:
    """frames [..., win_length] (pairs when complex) times a window [win_length], either complex."""
    frames_complex, window_complex = is_complex(frames), is_complex(window)
    if frames_complex and window_complex:
        a, b, c, d = part(g, frames, 0), part(g, frames, 1), part(g, window, 0), part(g, window, 1)
        return pack(g, g.op("Sub", g.op("Mul", a, c), g.op("Mul", b, d)),
                    g.op("Add", g.op("Mul", a, d), g.op("Mul", b, c)))
    if not (frames_complex or window_complex):
        return g.op("Mul", frames, window)
    if frames_complex:
        out = g.op("Mul", frames, _unsqueeze_last(g, window))  # both parts scale
    else:
        out = g.op("Mul", _unsqueeze_last(g, frames), window)
    mark_complex(out)
    return out


def stft(g: GraphBuilder, self: ir.Value, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
         window: ir.Value | None = None, normalized: bool = False, onesided: bool | None = None,
         return_complex: bool | None = None, align_to_window: bool | None = None) -> ir.Value:
    """torch.stft on an (already center-padded) signal [B?, L]: frames of n_fft every hop_length
    samples, times the window (zero-padded on both sides to n_fft), one DFT per frame; the result is
    [B?, freq, frames] pairs. Only the window's win_length samples of each frame are gathered (the
    rest are multiplied by zeros): from frame offset (n_fft - win_length) // 2, or, with
    align_to_window, at the frame start (torch then frames 1 + (L - win_length) // hop_length times
    and the window's zero padding extends past the signal)."""
    hop = hop_length if hop_length is not None else n_fft // 4
    width = win_length if win_length is not None else n_fft
    left = (n_fft - width) // 2
    signal_complex = is_complex(self)
    rank = g.rank(self) - (1 if signal_complex else 0)  # the torch rank: 1 or 2
    axis = rank - 1  # the signal axis (the same ONNX axis of a pair tensor)
    length = _signal_length(g, self, axis)
    starts = _frame_starts(g, length, width if align_to_window else n_fft, hop, 0 if align_to_window else left)
    indices = g.op("Add", starts, g.constant(list(range(width)), torch.int64))  # [frames, win_length]
    frames = g.op("Gather", self, indices, axis=axis)  # [B?, frames, win_length] (pairs: trailing 2)
    if signal_complex:
        mark_complex(frames)
    if window is not None:  # torch promotes the two (float32 signal, float64 window: complex128)
        parts = torch.promote_types(g.known_dtype(frames), g.known_dtype(window))
        frames, window = _cast_parts(g, frames, parts), _cast_parts(g, window, parts)
        frames = _times_window(g, frames, window)
    complex_frames = is_complex(frames)
    sample_axis = axis + 1
    data = frames if complex_frames else _unsqueeze_last(g, frames)  # DFT reads a trailing 1 or 2
    data.shape = None  # only the rank and sample axis matter below; _dft reads no stale sizes
    if width < n_fft:  # the window's zero padding: zero samples on both sides
        pads = [0] * (rank + 2) * 2
        pads[sample_axis], pads[rank + 2 + sample_axis] = left, n_fft - width - left
        data = g.op("Pad", data, g.constant(pads, torch.int64))
    one_sided = (not complex_frames) if onesided is None else bool(onesided)
    y = _dft(g, data, sample_axis, onesided=one_sided)  # [B?, frames, freq, 2]
    if not complex_frames:
        y = _exact_real_bins(g, y, [sample_axis], [n_fft], [n_fft // 2 + 1 if one_sided else n_fft], rank + 2)
    perm = list(range(rank + 2))
    perm[axis], perm[sample_axis] = sample_axis, axis
    y = g.op("Transpose", y, perm=perm)  # [B?, freq, frames, 2]
    if normalized:
        y = g.op("Mul", y, g.constant(float(n_fft) ** -0.5, g.dtype(y)))
    if return_complex is not False:  # False: torch's deprecated view_as_real form, a real tensor
        mark_complex(y)
    return y


# torch's pad modes as ONNX Pad modes; circular (ONNX's "wrap" only exists from 19) is a Concat
_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


def _center_pad(g: GraphBuilder, x: ir.Value, axis: int, amount: int, pad_mode: str) -> ir.Value:
    """x padded by `amount` samples on both sides of `axis` as torch.nn.functional.pad's mode does."""
    if pad_mode == "circular":
        head = h.slice_axes(g, x, [0], [amount], [axis])
        tail = h.slice_axes(g, x, [-amount], [2**62], [axis])
        out = g.op("Concat", tail, x, head, axis=axis)
    elif pad_mode in _PAD_MODES:
        rank = g.rank(x)
        pads = [0] * rank * 2
        pads[axis], pads[rank + axis] = amount, amount
        out = g.op("Pad", x, g.constant(pads, torch.int64), mode=_PAD_MODES[pad_mode])
    else:  # torch itself refuses any other mode
        raise AssertionError(f"stft pad_mode '{pad_mode}'")
    dims = _dims_of(x)
    if dims is not None:  # stft reads the rank; a static length keeps its frame grid a constant
        dims[axis] = dims[axis] + 2 * amount if isinstance(dims[axis], int) else None
    _with_shape(out, dims)
    if is_complex(x):
        mark_complex(out)
    return out


def stft_center(g: GraphBuilder, self: ir.Value, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
                window: ir.Value | None = None, center: bool = True, pad_mode: str = "reflect",
                normalized: bool = False, onesided: bool | None = None, return_complex: bool | None = None,
                align_to_window: bool | None = None) -> ir.Value:
    """stft.center: with `center`, the signal padded by n_fft // 2 on both sides first (as torch's
    Python torch.stft does before calling stft.default)."""
    signal = self
    if center and n_fft // 2 > 0:
        axis = g.rank(self) - (2 if is_complex(self) else 1)
        signal = _center_pad(g, self, axis, n_fft // 2, pad_mode)
    return stft(g, signal, n_fft, hop_length, win_length, window, normalized, onesided, return_complex,
                align_to_window)
