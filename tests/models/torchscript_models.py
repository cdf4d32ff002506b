"""Models for the TorchScript frontend (export(..., dynamo=False)): scripted control flow, traced
models calling scripted parts, autograd.Functions with a symbolic, models that neither trace nor script."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.onnx.symbolic_helper import parse_args


# -- scripted control flow --------------------------------------------------------------------------
@torch.jit.script
def branch_on_values(x: Tensor, y: Tensor) -> Tensor:
    if bool(x.sum() > 0):
        z = x * 2 + y
    else:
        z = x - y
    return z


@torch.jit.script
def count_while(x: Tensor, n: Tensor) -> Tensor:
    i = 0
    total = x
    while i < int(n):
        total = total + i
        i += 1
    return total


@torch.jit.script
def early_return(x: Tensor) -> Tensor:
    if bool(x.sum() > 0):
        return x * 2
    y = x - 1
    return y.abs()


@torch.jit.script
def grow_and_stack(x: Tensor, n: Tensor) -> Tensor:
    ys = []
    for i in range(int(n)):
        ys.append(x * i)
    return torch.stack(ys)


@torch.jit.script
def grow_and_cat(x: Tensor, n: Tensor) -> Tensor:
    ys = [x]
    for i in range(int(n)):
        ys.append(x[:1] * i)
    return torch.cat(ys, 0)


@torch.jit.script
def nested_loops(x: Tensor, n: Tensor, m: Tensor) -> Tensor:
    for i in range(int(n)):
        for j in range(int(m)):
            x = x + i * j
    return x


@torch.jit.script
def double_rows(x: Tensor, n: Tensor) -> Tensor:
    x = x.clone()
    for i in range(int(n)):
        x[i] = x[i] * 2
    return x


@torch.jit.script
def running_sums(x: Tensor) -> Tensor:
    """The trip count is a dynamic size (x.size(0)), and each step writes a row in place."""
    out = torch.zeros_like(x)
    for i in range(x.size(0)):
        out[i] = x[: i + 1].sum(0)
    return out


@torch.jit.script
def stepped_range(x: Tensor, n: Tensor) -> Tensor:
    for i in range(1, int(n), 2):
        x = x * 2 + i
    return x


class ScriptedBlock(nn.Module):
    """Scripted on its own; reads its weight and branches on self.training."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return self.fc(x) * 0
        return torch.relu(self.fc(x))


class TracedWithScriptedParts(nn.Module):
    """Traced; calls a scripted submodule and a scripted function with a loop."""

    def __init__(self) -> None:
        super().__init__()
        self.block = torch.jit.script(ScriptedBlock())
        self.fc = nn.Linear(3, 3)

    def forward(self, x: Tensor, n: Tensor) -> Tensor:
        y = self.fc(x)
        return self.block(y) + grow_and_stack(y, n).sum(0)


class FlattenBySize(nn.Module):
    """`x.view(x.size(0), -1)`: the size read while tracing stays symbolic on a dynamic axis."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x: Tensor) -> Tensor:
        y = torch.relu(self.conv(x))
        return self.fc(y.view(y.size(0), -1)) * (x.shape[0] * 2)


# -- autograd.Function with a symbolic ------------------------------------------------------------------
class NumpySin(torch.autograd.Function):
    """A Python-side kernel (numpy): torch.export cannot trace its forward; its symbolic exports it."""

    @staticmethod
    def forward(ctx: object, x: Tensor, alpha: float) -> Tensor:
        return torch.from_numpy(np.sin(x.detach().numpy()) * alpha)

    @staticmethod
    def symbolic(g: object, x: object, alpha: float) -> object:
        return g.op("Mul", g.op("Sin", x), g.op("Constant", value_t=torch.tensor(alpha, dtype=torch.float32)))


class ScaleAndDiff(torch.autograd.Function):
    """Two outputs, an int argument, a parse_args-decorated symbolic."""

    @staticmethod
    def forward(ctx: object, x: Tensor, y: Tensor, k: int) -> tuple[Tensor, Tensor]:
        return torch.from_numpy((x * k + y).numpy().copy()), x - y

    @staticmethod
    @parse_args("v", "v", "i")
    def symbolic(g: object, x: object, y: object, k: int) -> tuple[object, object]:
        scaled = g.op("Mul", x, g.op("Constant", value_t=torch.tensor(float(k))))
        return g.op("Add", scaled, y), g.op("Sub", x, y)


class PlainFunction(torch.autograd.Function):
    """No symbolic: tracing records its forward, which exports op by op."""

    @staticmethod
    def forward(ctx: object, x: Tensor) -> Tensor:
        return x.exp() - 1


class UsesFunctions(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        a = NumpySin.apply(self.fc(x), 2.0)
        b, c = ScaleAndDiff.apply(a, y, 3)
        return b + c + PlainFunction.apply(y)


# -- models that cannot be captured -------------------------------------------------------------------
class ReturnsAString(nn.Module):
    """Returns a non-tensor (tracing refuses) and calls numpy (scripting refuses)."""

    def forward(self, x: Tensor) -> str:
        return str(np.asarray(x.detach()).sum())


class Wrapper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = ReturnsAString()

    def forward(self, x: Tensor) -> str:
        return self.inner(x)


class DataDependentBranch(nn.Module):
    """Python `if` on a tensor's value: torch.export refuses it; tracing keeps the branch taken."""

    def forward(self, x: Tensor) -> Tensor:
        if x.sum() > 0:
            return x * 2
        return x - 1


# -- packed sequences --------------------------------------------------------------------------------
class PackedLSTM(nn.Module):
    """The word-language-model LSTM over pack_padded_sequence (unsorted lengths), as classic exports did it."""

    def __init__(self, ntoken: int = 20, ninp: int = 8, nhid: int = 6) -> None:
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.lstm = nn.LSTM(ninp, nhid, num_layers=2, batch_first=True, bidirectional=True)
        self.decoder = nn.Linear(2 * nhid, ntoken)

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        packed = pack_padded_sequence(self.encoder(tokens), lengths, batch_first=True, enforce_sorted=False)
        output, (hidden, _) = self.lstm(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=tokens.shape[1])
        return self.decoder(output), hidden
