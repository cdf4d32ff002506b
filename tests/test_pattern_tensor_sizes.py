"""Sizes read from tensors (issue 19 item 9): `torch.arange(n.item())`, arange with tensor bounds
and steps, linspace/logspace with tensor bounds or counts, `torch.zeros(n.item())`, triangle
indices and one-hot class counts read from tensors, randint up to a tensor, and distributions
sampled with tensor parameters. The size is computed in the graph: the exported model runs with
other values, compared with eager PyTorch (random outputs by their range and statistics).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from patterns import Fn, export_and_run
from torch.distributions import Bernoulli, Categorical, Normal, Uniform

import aten2onnx

t = torch.tensor
x = torch.randn(4, 3)

_CASES: list[tuple[str, Callable[..., Any], tuple[Any, ...], list[tuple[Any, ...]], list[int]]] = [
    ("arange_of_item", lambda x, n: torch.arange(n.item()) * x.shape[0], (x, t(5)), [(x, t(0)), (x, t(2))], [11, 18]),
    ("arange_tensor_bounds", lambda x, a, b: torch.arange(a, b) + x.sum(), (x, t(2), t(7)),
     [(x, t(-1), t(3)), (x, t(4), t(4))], [18]),
    ("arange_tensor_step", lambda a, b, s: torch.arange(a, b, s), (t(2), t(9), t(2)),
     [(t(-1), t(3), t(1)), (t(9), t(1), t(-3)), (t(4), t(4), t(1))], [11, 18]),
    ("arange_float_tensors", lambda a, b, s: torch.arange(a, b, s), (t(0.5), t(3.0), t(0.5)),
     [(t(-1.0), t(1.2), t(0.3)), (t(2.0), t(-1.0), t(-0.75))], [18]),
    ("linspace_tensor_bounds", lambda a, b: torch.linspace(a, b, 5), (t(0.0), t(1.0)), [(t(-2.0), t(3.0))], [18]),
    ("linspace_count_of_item", lambda a, b, n: torch.linspace(a.item(), b.item(), n.item()), (t(0.0), t(1.0), t(5)),
     [(t(-2.0), t(3.0), t(9)), (t(1.0), t(2.0), t(1)), (t(1.0), t(2.0), t(0))], [18]),
    ("logspace_count_of_item", lambda a, n: torch.logspace(0, a.item(), n.item(), base=2.0), (t(3.0), t(4)),
     [(t(1.0), t(6)), (t(-2.0), t(2))], [18]),
    ("zeros_of_item", lambda x, n: torch.zeros(n.item(), x.shape[1]) + x.sum(), (x, t(3)), [(x, t(0)), (x, t(6))],
     [18]),
    ("full_and_new_zeros_of_item", lambda x, n: (torch.full((n.item(),), 2.5), x.new_zeros(n.item(), 2)),
     (x, t(3)), [(x, t(1)), (x, t(7))], [18]),
    ("triangle_indices_of_items", lambda n, m: (torch.tril_indices(n.item(), m.item()),
                                                torch.triu_indices(n.item(), m.item(), 1)),
     (t(3), t(4)), [(t(5), t(2)), (t(1), t(1))], [18]),
    ("one_hot_classes_of_item", lambda i: torch.nn.functional.one_hot(i, i.max().item() + 1), (t([3, 1, 4]),),
     [(t([0, 9, 2]),)], [18]),
    ("normal_log_prob", lambda m, s, v: Normal(m, s).log_prob(v) + Uniform(m - 1, m + s).entropy(),
     (torch.zeros(3), torch.ones(3), torch.randn(3)), [(torch.randn(3), torch.rand(3) + 0.5, torch.randn(3))], [18]),
]


@pytest.mark.parametrize(("fn", "example", "runs", "opset"), [
    pytest.param(fn, example, runs, opset, id=f"{name}@{opset}") for name, fn, example, runs, opsets in _CASES
    for opset in opsets
])
def test_size_read_from_a_tensor_is_computed_in_the_graph(fn: Callable[..., Any], example: tuple[Any, ...],
                                                          runs: list[tuple[Any, ...]], opset: int) -> None:
    export_and_run(Fn(fn), example, runs, opset=opset)


def _draws(mean: torch.Tensor, std: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
           probs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    shape = (2000,)
    return (Normal(mean, std).sample(shape), Normal(mean, std).rsample(shape), Uniform(low, high).sample(shape),
            Bernoulli(probs=probs).sample(shape), Categorical(probs=probs).sample(shape),
            torch.randint(0, high.long().max().item(), shape))


def test_distributions_sampled_with_tensor_parameters() -> None:
    class Sampler(torch.nn.Module):
        def forward(self, mean: torch.Tensor, std: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
                    probs: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return _draws(mean, std, low, high, probs)

    example = (torch.zeros(3), torch.ones(3), torch.zeros(3), torch.full((3,), 4.0), torch.tensor([0.2, 0.5, 0.3]))
    program = aten2onnx.export(Sampler(), example, opset_version=18)
    other = (torch.tensor([5.0, -2.0, 0.0]), torch.tensor([0.5, 2.0, 1.0]), torch.tensor([-1.0, 2.0, 0.0]),
             torch.tensor([1.0, 6.0, 0.5]), torch.tensor([0.7, 0.1, 0.2]))
    for inputs in (example, other):
        mean, std, low, high, probs = inputs
        normal, reparameterized, uniform, coin, category, integers = program(*inputs)
        want = _draws(*inputs)
        assert [tuple(o.shape) for o in (normal, uniform, coin, category, integers)] == \
            [tuple(w.shape) for w in (want[0], want[2], want[3], want[4], want[5])]
        for sample in (normal, reparameterized):  # 2000 draws: 6 standard errors
            torch.testing.assert_close(sample.mean(0), mean, atol=float(6 * std.max() / 2000 ** 0.5), rtol=0)
            torch.testing.assert_close(sample.std(0), std, atol=float(6 * std.max() / 1000 ** 0.5), rtol=0)
        assert bool(((uniform >= low) & (uniform < high)).all())
        assert set(coin.unique().tolist()) <= {0.0, 1.0}
        torch.testing.assert_close(coin.mean(0), probs, atol=0.04, rtol=0)
        frequencies = torch.bincount(category, minlength=3).double() / 2000
        torch.testing.assert_close(frequencies, probs.double(), atol=0.04, rtol=0)
        assert int(integers.min()) >= 0 and int(integers.max()) < int(high.long().max())
