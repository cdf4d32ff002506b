"""End-to-end: torch.fft and torch.stft models through aten2onnx.export(), run in ONNX Runtime.

Complex outputs come out of ONNX as (real, imag) pairs on a trailing axis of 2, so they are
compared with torch.view_as_real of eager PyTorch's result.
"""

from __future__ import annotations

import warnings

import onnx
import onnx_ir as ir
import pytest
import torch
from op_runner import assert_same, build_one_op_model, flatten_outputs, run_eager, run_onnx
from torch.export import Dim

import aten2onnx
from aten2onnx.codegen.shared.torch_schema import schema_of
from aten2onnx.exporter.errors import ConstraintError, UnsupportedOpsError

OPSETS = [17, 18, 20, 26]  # DFT's axis is an attribute until 19, an input from 20
NORMS = ["backward", "ortho", "forward"]


def _as_real(t: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(t.resolve_conj()) if t.is_complex() else t


def _check(model: torch.nn.Module, args: tuple[torch.Tensor, ...], opset: int, *, atol: float = 1e-4,
           rtol: float = 1e-4, dynamic_shapes: object = None,
           runs: list[tuple[torch.Tensor, ...]] | None = None) -> aten2onnx.ONNXProgram:
    """Export, check the model, and compare every output with eager on `args` (and `runs`)."""
    program = aten2onnx.export(model, args, opset_version=opset, dynamic_shapes=dynamic_shapes)
    onnx.checker.check_model(program.model_proto, full_check=True)
    for inputs in [args, *(runs or [])]:
        with torch.no_grad():
            expected = model(*inputs)
        expected = expected if isinstance(expected, tuple) else (expected,)
        actual = program(*inputs)
        assert len(actual) == len(expected)
        for got, want in zip(actual, expected):
            want = _as_real(want)
            assert got.dtype == want.dtype and got.shape == want.shape
            # tolerances scale with the spectrum's magnitude (sums of n terms)
            scale = float(want.abs().max()) if want.numel() and want.dtype != torch.bool else 1.0
            torch.testing.assert_close(got, want, atol=atol * max(scale, 1.0), rtol=rtol)
    return program


class Lambda(torch.nn.Module):
    def __init__(self, fn: object):
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> object:
        return self.fn(*args)


FUNCTIONS = {
    "rfft": lambda x, norm: torch.fft.rfft(x, norm=norm),
    "rfft_n_dim0": lambda x, norm: torch.fft.rfft(x, n=5, dim=0, norm=norm),
    "irfft": lambda x, norm: torch.fft.irfft(torch.fft.rfft(x), norm=norm),
    "irfft_odd_n": lambda x, norm: torch.fft.irfft(torch.fft.rfft(x), n=7, norm=norm),
    "fft_real": lambda x, norm: torch.fft.fft(x, norm=norm),
    "fft_complex": lambda x, norm: torch.fft.fft(torch.complex(x, x.flip(-1)), dim=0, norm=norm),
    "ifft": lambda x, norm: torch.fft.ifft(torch.fft.fft(x), norm=norm),
    "fft2": lambda x, norm: torch.fft.fft2(x, norm=norm),
    "ifft2": lambda x, norm: torch.fft.ifft2(torch.fft.fft2(x), norm=norm),
    "rfftn": lambda x, norm: torch.fft.rfftn(x, norm=norm),
    "irfftn": lambda x, norm: torch.fft.irfftn(torch.fft.rfftn(x), s=x.shape, norm=norm),
    "hfft": lambda x, norm: torch.fft.hfft(torch.fft.rfft(x), norm=norm),
}


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_fft_functions(name: str, norm: str, opset: int) -> None:
    torch.manual_seed(0)
    fn = FUNCTIONS[name]
    _check(Lambda(lambda x: fn(x, norm)), (torch.randn(3, 8),), opset)


def _pair(x: torch.Tensor) -> torch.Tensor:
    return torch.complex(x, x.flip(-1))


# `s` beyond the input's size zero-pads (constant_pad_nd of a complex tensor where the input is
# complex), below it crops; ihfft2/ihfftn conjugate an r2c (_conj_physical).
S_FUNCTIONS = {
    "fft2_pads": lambda x: torch.fft.fft2(x, s=(5, 9)),
    "fftn_pads_complex": lambda x: torch.fft.fftn(_pair(x), s=(4, 11), norm="ortho"),
    "fftn_crops": lambda x: torch.fft.fftn(x, s=(2, 5), dim=(0, 1), norm="forward"),
    "ifft2_pads": lambda x: torch.fft.ifft2(_pair(x), s=(6, 10)),
    "ifftn_crops": lambda x: torch.fft.ifftn(_pair(x), s=(2, 3), norm="ortho"),
    "rfft2_pads": lambda x: torch.fft.rfft2(x, s=(5, 12), norm="forward"),
    "rfftn_crops": lambda x: torch.fft.rfftn(x, s=(2, 6)),
    "irfft2_pads": lambda x: torch.fft.irfft2(_pair(x), s=(4, 13), norm="ortho"),
    "hfft2_pads": lambda x: torch.fft.hfft2(_pair(x), s=(6, 17)),
    "hfftn_crops": lambda x: torch.fft.hfftn(_pair(x), s=(2, 6), norm="forward"),
    "ihfft2": lambda x: torch.fft.ihfft2(x),
    "ihfft2_pads": lambda x: torch.fft.ihfft2(x, s=(4, 10), norm="ortho"),
    "ihfftn_crops": lambda x: torch.fft.ihfftn(x, s=(3, 5), norm="forward"),
    "hfft_n_pads": lambda x: torch.fft.hfft(_pair(x), n=20),
}


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("name", list(S_FUNCTIONS))
def test_fft_sizes_that_pad_and_crop(name: str, opset: int) -> None:
    torch.manual_seed(0)
    _check(Lambda(S_FUNCTIONS[name]), (torch.randn(3, 8),), opset)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("opset", [9, 20])
def test_casts_to_and_from_complex(dtype: torch.dtype, opset: int) -> None:
    """Real to complex64/complex128 and back (the real part, as torch does with a warning), to bool
    (either part nonzero), between the complex dtypes, .real/.imag, conj and torch.polar."""
    def fn(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z = torch.polar(x.abs(), y) + x.to(torch.complex64) * y.type(torch.cdouble)
        w = torch.complex(x, y.round()).to(torch.complex64).conj_physical()
        as_bool = torch.complex(x.round(), y.round()).to(torch.bool)
        return (z, w.conj(), z.to(dtype), w.real * 2, w.imag, as_bool, y.to(w), z.type_as(x),
                torch.nn.functional.pad(w, (1, 2), value=1.5))

    torch.manual_seed(0)
    x, y = torch.randn(3, 4, dtype=dtype), torch.randn(3, 4, dtype=dtype) * 3
    with warnings.catch_warnings():  # torch warns (once) that complex to real drops the imaginary part
        warnings.simplefilter("ignore", UserWarning)
        _check(Lambda(fn), (x, y), opset, atol=1e-6, rtol=1e-6)


def test_float64_signal() -> None:
    x = torch.randn(2, 12, dtype=torch.float64)
    program = _check(Lambda(lambda x: torch.fft.fft(torch.fft.rfft(x), dim=0)), (x,), 18, atol=1e-10, rtol=1e-9)
    assert program(x)[0].dtype == torch.float64


class Spectrogram(torch.nn.Module):
    """torch.stft magnitude (or power) spectrogram, as audio front ends compute it."""

    def __init__(self, n_fft: int = 32, hop: int = 8, power: float = 1.0):
        super().__init__()
        self.n_fft, self.hop, self.power = n_fft, hop, power
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(signal, n_fft=self.n_fft, hop_length=self.hop, window=self.window, center=True,
                          pad_mode="reflect", return_complex=True)
        return spec.abs() if self.power == 1.0 else spec.abs() ** self.power


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("power", [1.0, 2.0])
def test_stft_spectrogram(power: float, opset: int) -> None:
    torch.manual_seed(0)
    _check(Spectrogram(power=power).eval(), (torch.randn(2, 200),), opset)


@pytest.mark.parametrize("opset", [17, 20])
def test_stft_complex_output_is_real_pairs(opset: int) -> None:
    """A complex model output comes out as float (real, imag) pairs: view_as_real of torch's."""
    class Stft(torch.nn.Module):
        def forward(self, signal: torch.Tensor) -> torch.Tensor:
            return torch.stft(signal, n_fft=16, hop_length=4, window=torch.hann_window(16), return_complex=True)

    signal = torch.randn(1, 100)
    program = _check(Stft(), (signal,), opset)
    output = program.model.graph.outputs[0]
    assert output.dtype == ir.DataType.FLOAT and output.shape[-1] == 2


def test_complex_products_and_real_views() -> None:
    """complex * complex, complex * real, view_as_real, permute and sum of complex values."""
    def fn(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spec = torch.fft.rfft(x)
        filtered = spec * torch.fft.rfft(w) * torch.linspace(0.0, 1.0, spec.shape[-1])
        return torch.view_as_real(filtered.permute(1, 0)), torch.fft.irfft(filtered.sum(0, keepdim=True), n=8)

    torch.manual_seed(0)
    _check(Lambda(fn), (torch.randn(3, 8), torch.randn(3, 8)), 18)


def test_ops_that_move_or_add_complex_elements() -> None:
    """cat, flip, slice, select, reshape, add (complex + real), neg and mean on complex values."""
    def fn(x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.fft(x)
        joined = torch.cat([spec, spec.flip(-1)], dim=-1)[:, 1:7]
        mixed = (joined + x[:, :6]) - joined[0] * 0.5
        return torch.fft.ifft(-mixed.reshape(2, 2, 6).mean(0), norm="ortho")

    torch.manual_seed(0)
    _check(Lambda(fn), (torch.randn(4, 8),), 20)


def test_view_as_complex_input_path() -> None:
    def fn(pairs: torch.Tensor) -> torch.Tensor:
        return torch.fft.ifft(torch.view_as_complex(pairs)).abs()

    _check(Lambda(fn), (torch.randn(4, 6, 2),), 20)


def test_complex_input_fed_as_complex_tensor() -> None:
    """The program takes a complex torch tensor for a complex model input."""
    x = torch.randn(3, 5, dtype=torch.complex64)
    program = _check(Lambda(lambda z: torch.fft.fft(z).abs()), (x,), 18)
    assert list(program.model.graph.inputs[0].shape) == [3, 5, 2]


@pytest.mark.parametrize(("overload", "arguments", "negative_dims"), [
    ("aten::_fft_r2c.default", {"self": torch.randn(3, 4, 6), "normalization": 1, "onesided": True}, [-3, -1]),
    ("aten::_fft_c2c.default", {"self": torch.randn(3, 4, dtype=torch.complex64), "normalization": 2,
                                "forward": False}, [-2, -1]),
    ("aten::_fft_c2r.default", {"self": torch.randn(2, 3, 4, dtype=torch.complex128), "normalization": 0,
                                "last_dim_size": 7}, [-2, -1]),
])
@pytest.mark.parametrize("opset", [17, 20])
def test_negative_dims(overload: str, arguments: dict[str, object], negative_dims: list[int], opset: int) -> None:
    """torch.fft hands these ops non-negative dims; the mappings also take negative ones."""
    schema = schema_of(overload)
    rank = arguments["self"].dim()  # type: ignore[attr-defined]
    expected = flatten_outputs(run_eager(overload, schema, {**arguments, "dim": [d % rank for d in negative_dims]}))
    model = build_one_op_model(overload, schema, {**arguments, "dim": negative_dims}, opset, expected)
    assert_same(run_onnx(model), expected, atol=1e-4, rtol=1e-4)


def test_below_opset_17_names_the_opset() -> None:
    with pytest.raises(UnsupportedOpsError, match="_fft_r2c.*opset_version=17"):
        aten2onnx.export(Lambda(lambda x: torch.fft.rfft(x)), (torch.randn(2, 8),), opset_version=16)


def test_unsupported_op_on_complex_values_is_a_clear_error() -> None:
    with pytest.raises(ConstraintError, match="aten::exp.default on complex tensors"):
        aten2onnx.export(Lambda(lambda x: torch.fft.rfft(x).exp()), (torch.randn(2, 8),), opset_version=18)


class RoundTrip(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spec = torch.fft.rfft(x, norm="ortho")
        return spec.abs(), torch.fft.irfft(spec, n=x.shape[-1], norm="ortho")


@pytest.mark.parametrize("opset", [17, 20])
def test_dynamic_signal_length(opset: int) -> None:
    """DFT reads the signal length from its input: one model serves every length."""
    torch.manual_seed(0)
    length = 2 * Dim("half", min=2, max=2048)  # irfft's n = x.shape[-1]: torch guards on an even length
    _check(RoundTrip(), (torch.randn(2, 16),), opset, dynamic_shapes=({1: length},),
           runs=[(torch.randn(2, 10),), (torch.randn(2, 50),)])


@pytest.mark.parametrize("opset", [17, 20])
def test_dynamic_length_spectrogram(opset: int) -> None:
    # Dim.AUTO: torch.stft's strides raise a guard torch.export cannot prove for a named Dim's range
    torch.manual_seed(0)
    program = _check(Spectrogram().eval(), (torch.randn(2, 200),), opset, dynamic_shapes=({1: Dim.AUTO},),
                     runs=[(torch.randn(2, 333),), (torch.randn(2, 96),)])
    assert not isinstance(program.model.graph.inputs[0].shape[1], int)
    # stft is kept whole (one DFT over all frames): its decomposition would fix the example's length
    assert [node.op_type for node in program.model.graph].count("DFT") == 1


class StftVariants(torch.nn.Module):
    """A window shorter than n_fft, normalized, the view_as_real form (return_complex=False) and
    the stft.center overload called directly (no window, replicate padding)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hamming_window(10))

    def forward(self, signal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = torch.stft(signal, n_fft=16, hop_length=5, win_length=10, window=self.window,
                           pad_mode="constant", normalized=True, return_complex=False)
        direct = torch.ops.aten.stft.center(signal, 12, 4, None, None, True, "replicate", False, False, True)
        return pairs, direct


@pytest.mark.filterwarnings("ignore:.*(return_complex=False is deprecated|window was not provided)")
@pytest.mark.parametrize("opset", [17, 20])
def test_dynamic_length_stft_variants(opset: int) -> None:
    """1-D signals of lengths other than the example's."""
    torch.manual_seed(0)
    program = _check(StftVariants(), (torch.randn(100),), opset, dynamic_shapes=({0: Dim.AUTO},),
                     runs=[(torch.randn(37),), (torch.randn(257),)])
    assert [node.op_type for node in program.model.graph].count("DFT") == 2
