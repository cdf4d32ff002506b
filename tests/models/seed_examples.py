"""The models of the torch.onnx documents aten2onnx started from, written small."""

from __future__ import annotations

import torch
from torch import nn


class MLPModel(nn.Module):
    """The TorchDynamo exporter's 'simple example': Linear and sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.fc0 = nn.Linear(8, 8, bias=True)
        self.fc1 = nn.Linear(8, 4, bias=True)
        self.fc2 = nn.Linear(4, 2, bias=True)
        self.fc3 = nn.Linear(2, 2, bias=True)

    def forward(self, tensor_x: torch.Tensor) -> torch.Tensor:
        tensor_x = torch.sigmoid(self.fc0(tensor_x))
        tensor_x = torch.sigmoid(self.fc1(tensor_x))
        tensor_x = torch.sigmoid(self.fc2(tensor_x))
        return self.fc3(tensor_x)


class ConvReLU(nn.Module):
    """The overview's example: Conv2d(1, 128, 5) then relu (fewer channels here)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv1(x))


class ElementwiseOps(nn.Module):
    """Arithmetic with alpha (which the classic exporter refused), comparison and where."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a = torch.add(x, y, alpha=2.5)
        b = torch.sub(x, y, alpha=0.5)
        c = (x * y - 3) / (y.abs() + 1)
        mask = x > y
        return a, b, c, mask, torch.where(mask, a, b), x.eq(y)


class ShapeOps(nn.Module):
    """The shape and indexing ops the classic docs list: scatter, split, squeeze/unsqueeze,
    cat, expand, select and slice."""

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        first, second = torch.split(x, [2, 3], dim=1)
        joined = torch.cat([second, first], dim=1)
        column = joined[:, 1]                       # select
        window = joined[1:, 1:4:2]                  # slice with a step
        grown = column.unsqueeze(0).expand(3, -1)   # expand
        back = grown.unsqueeze(-1).squeeze(-1)
        scattered = torch.zeros(4, 5).scatter(1, index, x[:, :2])
        return joined, column, window, back, scattered


# -- "Tracing vs Scripting" (the classic exporter's documentation) -------------------------------------
class LoopModel(nn.Module):
    """Trace-based only: the loop over a 0-d tensor count is unrolled by tracing."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for i in range(y):
            x = x + i
        return x


@torch.jit.script
def loop(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    for i in range(int(y)):
        x = x + i
    return x


class LoopModel2(nn.Module):
    """Mixing tracing and scripting: the loop lives in a scripted function, so it stays a loop."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loop(x, y)
