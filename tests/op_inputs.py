"""Hypothesis strategies that draw an op's arguments from its torch schema and spec hints.

Hint vocabulary (the `test:` block of a spec entry; every key is optional):

  shapes: {N: [1, 3], C: [2, 4]}   dimension symbols, drawn once per example
  random: true                     values are random or undefined: compare dtype, shape and
                                  distribution (or {moments: false, range: [lo, hi], values:
                                  [0, 1], check: name}; see op_runner.assert_same_random)
  <tensor arg>:
    shape: [N, C, 5, [2, 4]]      ints, symbols, or [lo, hi] ranges
                                  (an expression of symbols too: G*C, K+1)
    shape_one_of: [[N, C, L], [C, L]]  one of several `shape` templates (e.g. batched or not);
                                  `pick: R` takes template number R (a `shapes` symbol) instead
    rank: [lo, hi]                when no shape: rank range (default [0, 4]); dims from `dims`
    dims: [lo, hi]                size of each drawn dim (default [1, 5])
    like: self                    the same shape as another tensor argument
    broadcast: self               a shape that broadcasts against another tensor argument
    dtype: [float32, int64]       dtypes to draw from (default [float32]); complex64/complex128
                                  draw real and imaginary parts each from `values`
    same_dtype: self              the dtype drawn for another tensor argument
    values: [lo, hi]              element range (default [-3, 3]; bool: random)
    nonzero: true                 no element is 0 (divisors): zeros become `hi`
    unique: true                  no two elements are equal (ties would make sort/topk indices
                                  unspecified): a shuffled run lo, lo+1, ... (ints) or evenly
                                  spaced values in [lo, hi] (floats)
    specials: [.inf, -.inf, .nan, -0.0]  floats: about a quarter of the elements become one of these
    wide: [1.0e-6, 1.0e30]        floats: about a third of the elements drawn log-uniformly in magnitude
                                  between the bounds (negative too where `values` reaches below 0):
                                  tiny and huge arguments, for functions defined over the whole line
    sorted: true                  sorted along the last dim (searchsorted's sequence, bucketize's boundaries)
    operands_of: equation         tensor lists: one tensor per operand of an einsum equation (a str
                                  argument drawn first), each letter sized in `dims` (default [1, 4]),
                                  `...` a shared drawn batch shape; one dtype drawn for all
    none: true                    also draw None (optional tensors; also beside a generator below)
    only_if: [mode, 0]            optional tensors: None unless that argument has this value
                                  (embedding_bag's per_sample_weights, sum mode only)
    count: [lo, hi]               tensor lists: how many tensors
    vary_dim: dim                 tensor lists: sizes may differ along this int argument
    no_larger: self               same rank as another tensor argument, each dim in [1, its size]
    indexes_into: [self, dim]     int64 values that index self along the dim argument (0..size-1)
    distinct: true                with indexes_into: no value repeats along dim (needs no_larger)
    index_list_of: self           tensor lists (Tensor?[]): advanced indices into self's leading dims,
                                  int tensors that broadcast together (values -size..size-1);
                                  `none: true` adds None entries (always a leading one: test_ops'
                                  _describe reads a list's first entry), `masks: true` sometimes one
                                  bool mask instead, `distinct: true` makes index tuples unique
                                  (`distinct_unless: accumulate`: unless that bool argument is True)
    index_result_of: [self, indices]  a shape that broadcasts to self[indices] (index_put values)
    along_index: [self, dim, index]  self's shape with the dim sized as index's numel (index_add source)
    sliced: [self, dim, start, end, step]  the shape of that slice of self (slice_scatter src)
    without_dim: [self, dim]      self's shape without the dim (select_scatter src)
    diagonal_of: [self, offset, dim1, dim2]  the shape of that diagonal of self (diagonal_scatter src;
                                  dim1 == dim2, which torch refuses, gives self's shape)
    view: true                    a strided view in torch (the tail of a larger tensor's storage), as
                                  export marks such a value (as_strided refuses it)
    shape_each: [[A, B], [C]]     tensor lists: one shape template per tensor (fixes the count)
    first: K+1                    with shape_each: only the first K+1 templates (an expression over
                                  `shapes` symbols: a count tied to another argument's size)
    shape_if: [flag, [B, T, C]]   this shape template instead when the bool argument `flag` is True
                                  (batch_first layouts)
    sized_by: normalized_shape    the shape is the value of an int-list argument (norm weights)
    offsets_into: indices         1-D sorted offsets into a 1-D tensor: first 0, each in [0, its
                                  length] (embedding_bag); the count comes from `shape`;
                                  `last_if: flag`: the last one is the length when that bool
                                  argument is True (include_last_offset); with `short_last: true`
                                  it is drawn below the length for every other seed (indices past
                                  the last offset, which torch's kernels treat each their own way)
    cumulative_counts_of: [input, 0]  1-D non-decreasing ints in [0, input's size along that dim]:
                                  running row counts per group (grouped matmul offsets); the last
                                  may stop short of the size (the rows past it belong to no group)
    segment_lengths_of: [data, axis]  segment_reduce's lengths: data's sizes before the axis argument,
                                  then the count `shape` draws ([S]); each row sums to data's size
                                  along the axis (empty segments drawn too)
    segment_offsets_of: [data, axis]  the same segments as offsets: each row 0, running ends, the size
    sorted_lengths: T             int64 sequence lengths in [1, T] (a `shapes` symbol), longest first
                                  (pack_padded_sequence)
    batch_sizes: [T, B]           a PackedSequence's batch sizes: for lengths in [1, T], longest T, of
                                  B sequences, how many run at each of the T steps
    rows_from: batch_sizes        the first dim is the sum of that int tensor (packed data); `shape`
                                  gives the rest
    rnn_params: {gates: 4, input: I, hidden: H, layers: L, directions: D, biases: has_biases}
                                  tensor lists: torch's flat RNN weights, per layer and direction
                                  w_ih (gates*H, in), w_hh (gates*H, H) and, when the bool argument
                                  `biases` is True, b_ih and b_hh (gates*H); in = I, then D*H;
                                  `proj: P` adds LSTM's projection w_hr (P, H) (P = 0: none), with
                                  w_hh (gates*H, P) and in = D*P after the first layer; `gates: mode`
                                  reads them from that str argument (RNN modes LSTM, GRU, RNN_TANH)
    states_of: mode               tensor lists: the initial states of that RNN mode (h0 and c0 for
                                  LSTM, h0 otherwise), each of `shape`
    matrix: general               floats: a stack of well-conditioned matrices of `shape` (linear
                                  algebra): `general` U diag(s) V^T with s in [1, cond] (`cond: N`,
                                  default 10) and random signs; `spd` Q diag(s) Q^T; `lower`/`upper`
                                  triangular with |diagonal| in [1, 2] and small entries in the
                                  triangle (random values outside it: they must not be read); `lu`
                                  both triangles so (a packed LU factorization); `symmetric`
                                  Q diag(s) Q^T with random signs, the diagonal shrunk tenfold in
                                  half the matrices (indefinite: Bunch-Kaufman takes 2x2 pivots and
                                  interchanges); `ldl` torch.linalg.ldl_factor's LD of a `symmetric`
    pivots_for: LU                int tensors: LAPACK pivots for that packed LU (*, m, n): shape
                                  (*, min(m, n)), entry i drawn in [i + 1, m] (1-based row swaps);
                                  for a `matrix: ldl` tensor, its factorization's pivots
  <any other arg>: [v1, v2, ...]  choose among values; or a mapping with one generator (and, for a
                                  number or a tensor list, `as_input: true`: the one-op model takes
                                  it at run time, a number as a 0-d input, a list as an ONNX sequence,
                                  as TorchScript graphs pass values computed in the graph):
    range: [lo, hi]               an int (or float when lo/hi are floats) in range
    dim_of: self                  a valid dim of a tensor arg (negative too); `extra: 1` for rank+1
    dims_of: self                 a list of distinct dims of a tensor arg (maybe empty)
    permutation_of: self          a permutation of a tensor arg's dims
    reshape_of: self              a size list with the same numel (may contain one -1)
    expand_of: self               a size list self broadcasts to (may contain -1)
    size_along: [self, dim]       an int in [1, size of self along the dim argument]
    index_along: [self, dim]      a valid index (negative too) along the dim argument
    split_sizes_of: [self, dim]   sizes that add up to self's size along dim
    strides_within: [self, size, storage_offset]  strides (one per entry of the int list `size`) with
                                  which every element read, storage_offset + sum i_k * stride_k, lies
                                  inside self's numel (as_strided); 0 (broadcast) and overlaps included
    symbol: G                     the value drawn for a `shapes` symbol (e.g. conv groups); also an
                                  expression (G*C, H*W) or a comparison giving a bool (D == 2)
    tail_of: input                an int list: a non-empty trailing part of a tensor arg's shape
    scalar_type: [float64, null]  a torch dtype (or None) for ScalarType args, by name
    choose: [v1, v2], unless: x   None when argument x is not None, else one of the values
                                  (e.g. scale_factors, given only when output_size is not)
    symbols: [OH+KH-1, W]         int lists from `shapes` symbols: + - * and parentheses
    first: 2*K+2                  beside `symbols` or a `choose` of lists: keep the list's first
                                  entries, that many (an expression over `shapes` symbols), so its
                                  length follows a drawn size (histogramdd's bins and range per dim)
Unhinted arguments with a schema default use it; unhinted tensors share one drawn shape.
"""

from __future__ import annotations

import ast
import math
from dataclasses import replace
from typing import Any

import torch
from hypothesis import strategies as st

from aten2onnx.codegen.model import OpSpec
from aten2onnx.codegen.shared.torch_schema import TorchArg, TorchSchema
from aten2onnx.codegen.test_hints import TensorHint, ValueHint

DEFAULT_RANK = (0, 4)
DEFAULT_DIMS = (1, 5)
_RNN_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}  # gate rows per hidden unit, by RNN mode


def _given(value: Any, default: Any) -> Any:
    """A hint key's value, or the default when the spec leaves the key out."""
    return default if value is None else value


def _choose(draw: Any, hint: Any) -> Any:
    return draw(st.sampled_from(list(hint)))


def _int_range(draw: Any, bounds: list[Any]) -> int:
    return draw(st.integers(int(bounds[0]), int(bounds[1])))


def _size_range(draw: Any, bounds: list[Any], edges: bool) -> int:
    """A dimension's size; with `edges`, a range that starts at 1 may also give 0 (an empty tensor)."""
    low, high = int(bounds[0]), int(bounds[1])
    return draw(st.integers(0 if edges and low == 1 else low, high))


def _symbol_expression(text: str, symbols: dict[str, int]) -> int:
    """An int from symbols, integers, + - * and parentheses (the `symbols` hint)."""
    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Name):
            return symbols[node.id]
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            a, b = value(node.left), value(node.right)
            return a + b if isinstance(node.op, ast.Add) else a - b if isinstance(node.op, ast.Sub) else a * b
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
            return value(node.left) == value(node.comparators[0])  # a bool (the `symbol` hint)
        raise ValueError(f"symbols hint '{text}': only symbols, integers, + - * and parentheses")
    return value(ast.parse(text, mode="eval").body)


def _hint_deps(hint: Any) -> set[str]:
    """Arguments a hint refers to (they must be drawn first)."""
    if not isinstance(hint, (TensorHint, ValueHint)):
        return set()
    deps = set()
    for key in ("like", "broadcast", "same_dtype", "dim_of", "dims_of", "permutation_of", "reshape_of",
                "expand_of", "vary_dim", "no_larger", "index_list_of", "unless", "distinct_unless", "tail_of",
                "sized_by", "offsets_into", "last_if", "rows_from", "states_of", "pivots_for"):
        if isinstance(getattr(hint, key, None), str):
            deps.add(getattr(hint, key))
    for key in ("shape_if", "only_if"):
        if isinstance(getattr(hint, key, None), list):
            deps.add(getattr(hint, key)[0])
    rnn = getattr(hint, "rnn_params", None)
    if isinstance(rnn, dict):
        deps.update(rnn[k] for k in ("biases", "gates") if isinstance(rnn.get(k), str))
    for key in ("size_along", "index_along", "split_sizes_of", "indexes_into", "index_result_of", "along_index",
                "sliced", "without_dim", "diagonal_of", "strides_within", "segment_lengths_of",
                "segment_offsets_of"):
        if isinstance(getattr(hint, key, None), list):
            deps.update(getattr(hint, key))
    return deps


def _draw_order(schema: TorchSchema, hints: dict[str, Any]) -> list[TorchArg]:
    """Schema order, except that an argument comes after the ones its hint refers to."""
    pending = list(schema.arguments)
    ordered: list[TorchArg] = []
    while pending:
        done = {a.name for a in ordered}
        ready = next((a for a in pending if _hint_deps(hints.get(a.name)) <= done), pending[0])
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def _unique_values(shape: list[int], dtype: torch.dtype, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    """The `unique` hint: no two elements equal (ints lo, lo+1, ...; floats evenly spaced in [lo, hi])."""
    count = math.prod(shape)
    order = torch.randperm(count, generator=gen).to(torch.float64)
    if dtype.is_floating_point:
        order = order * ((high - low) / max(count - 1, 1))
    return (order + low).reshape(shape).to(dtype)


def _log_uniform(bounds: list[Any], low: float, shape: list[int], gen: torch.Generator) -> torch.Tensor:
    """The `wide` hint: magnitudes log-uniform in [bounds], negative half the time when low < 0."""
    lo, hi = math.log(float(bounds[0])), math.log(float(bounds[1]))
    magnitude = torch.exp(torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo)
    if low < 0:
        magnitude = torch.where(torch.rand(shape, generator=gen) < 0.5, -magnitude, magnitude)
    return magnitude


def _orthogonal(shape: list[int], gen: torch.Generator) -> torch.Tensor:
    """Random orthogonal (*, n, n) matrices (Q of a Gaussian's QR)."""
    return torch.linalg.qr(torch.randn(shape, generator=gen, dtype=torch.float64))[0]


def _matrices(kind: str, cond: float, shape: list[int], gen: torch.Generator) -> torch.Tensor:
    """The `matrix` hint: well-conditioned float64 matrices of a kind (see the module docstring)."""
    *batch, m, n = shape
    k = min(m, n)
    values = 1 + torch.rand([*batch, k], generator=gen, dtype=torch.float64) * (cond - 1)
    if kind == "spd":
        q = _orthogonal([*batch, m, m], gen)
        return q @ torch.diag_embed(values) @ q.mT
    if kind == "symmetric":
        signs = torch.where(torch.rand([*batch, k], generator=gen) < 0.5, -1.0, 1.0).to(torch.float64)
        q = _orthogonal([*batch, m, m], gen)
        a = q @ torch.diag_embed(values * signs) @ q.mT
        shrink = torch.where(torch.rand([*batch, 1], generator=gen) < 0.5, 0.1, 1.0).to(torch.float64)
        a.diagonal(dim1=-2, dim2=-1).mul_(shrink)
        return a
    if kind == "general":
        signs = torch.where(torch.rand([*batch, k], generator=gen) < 0.5, -1.0, 1.0).to(torch.float64)
        u, v = _orthogonal([*batch, m, m], gen)[..., :k], _orthogonal([*batch, n, n], gen)[..., :k]
        return u @ torch.diag_embed(values * signs) @ v.mT
    small = (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) / max(m, n)
    diagonal = (1 + torch.rand([*batch, k], generator=gen, dtype=torch.float64))
    diagonal = diagonal * torch.where(torch.rand([*batch, k], generator=gen) < 0.5, -1.0, 1.0).to(torch.float64)
    packed = small.clone()
    packed.diagonal(dim1=-2, dim2=-1).copy_(diagonal)
    if kind == "lu":
        return packed
    if kind not in ("lower", "upper"):
        raise AssertionError(f"unknown matrix kind '{kind}' (general, spd, symmetric, lower, upper, lu, ldl)")
    noise = torch.rand(shape, generator=gen, dtype=torch.float64) * 6 - 3  # never read
    inside = torch.ones(m, n, dtype=torch.bool).tril() if kind == "lower" else torch.ones(m, n, dtype=torch.bool).triu()
    return torch.where(inside, packed, noise)


class _Example:
    """State while drawing one example: symbols, the shared shape, values drawn so far."""

    def __init__(self, draw: Any, spec: OpSpec, edges: bool = False):
        self.draw = draw
        self.hints = spec.test.args
        self.edges = edges
        self.symbols = {name: _size_range(draw, bounds, edges) if isinstance(bounds, list) else int(bounds)
                        for name, bounds in spec.test.shapes.items()}
        self.values: dict[str, Any] = {}
        self._base_shape: list[int] | None = None
        self.ldl_pivots: dict[int, torch.Tensor] = {}  # id of a `matrix: ldl` draw -> its pivots

    def base_shape(self) -> list[int]:
        if self._base_shape is None:
            self._base_shape = self.random_shape(DEFAULT_RANK, DEFAULT_DIMS)
        return self._base_shape

    def random_shape(self, rank: Any, dims: Any) -> list[int]:
        r = _int_range(self.draw, rank)
        return [_size_range(self.draw, dims, self.edges) for _ in range(r)]

    def shape(self, hint: TensorHint) -> list[int]:
        if hint.shape_if is not None and self.values[hint.shape_if[0]]:
            return self.shape(TensorHint(shape=hint.shape_if[1]))
        if hint.sized_by is not None:
            return [int(d) for d in self.values[hint.sized_by]]
        if hint.pivots_for is not None:
            *batch, m, n = self.values[hint.pivots_for].shape
            return [*batch, min(m, n)]
        segments = hint.segment_lengths_of or hint.segment_offsets_of
        if segments is not None:  # data's sizes before the axis, then the segments' count
            data, axis = self.values[segments[0]], int(self.values[segments[1]])
            return [*data.shape[:axis % max(data.dim(), 1)], *self.shape(TensorHint(shape=_given(hint.shape, [3])))]
        if hint.rows_from is not None:
            return [int(self.values[hint.rows_from].sum())] + self.shape(TensorHint(shape=_given(hint.shape, [])))
        if hint.shape_one_of is not None:
            templates = hint.shape_one_of
            if hint.pick is not None:  # a shared symbol chooses, so several arguments take the same layout
                return self.shape(TensorHint(shape=templates[self.symbols[hint.pick] % len(templates)]))
            return self.shape(TensorHint(shape=_choose(self.draw, templates)))
        if hint.shape is not None:
            out = []
            for d in hint.shape:
                if isinstance(d, str):
                    out.append(_symbol_expression(d, self.symbols))
                elif isinstance(d, list):
                    out.append(_size_range(self.draw, d, self.edges))
                else:
                    out.append(int(d))
            return out
        if hint.like is not None:
            return list(self.values[hint.like].shape)
        if hint.broadcast is not None:
            other = list(self.values[hint.broadcast].shape)
            keep = self.draw(st.integers(0, len(other)))
            tail = other[len(other) - keep:]
            return [1 if self.draw(st.booleans()) else d for d in tail]
        if hint.without_dim is not None:
            shape = list(self.values[hint.without_dim[0]].shape)
            if shape:
                del shape[self.values[hint.without_dim[1]] % len(shape)]
            return shape
        if hint.diagonal_of is not None:
            tensor, offset, dim1, dim2 = (self.values[n] for n in hint.diagonal_of)
            if tensor.dim() < 2 or dim1 % tensor.dim() == dim2 % tensor.dim():
                return list(tensor.shape)
            return list(torch.diagonal(tensor, offset, dim1, dim2).shape)
        if hint.sliced is not None:
            tensor, dim, start, end, step = (self.values[n] for n in hint.sliced)
            shape = list(tensor.shape)
            if shape:
                shape[dim % len(shape)] = len(range(shape[dim % len(shape)])[slice(start, end, step)])
            return shape
        if hint.along_index is not None:
            tensor_name, dim_name, index_name = hint.along_index
            shape = list(self.values[tensor_name].shape)
            if shape:
                shape[self.values[dim_name] % len(shape)] = self.values[index_name].numel()
            return shape
        if hint.index_result_of is not None:
            return self.broadcast_to(self.index_result_shape(*hint.index_result_of))
        if hint.no_larger is not None:
            return [_int_range(self.draw, [min(1, d), d]) for d in self.values[hint.no_larger].shape]
        if hint.rank is not None or hint.dims is not None:
            return self.random_shape(_given(hint.rank, DEFAULT_RANK), _given(hint.dims, DEFAULT_DIMS))
        return list(self.base_shape())

    def segments(self, hint: TensorHint, shape: list[int], gen: torch.Generator) -> torch.Tensor:
        """Segments covering data along the axis, per row: lengths, or offsets one longer (`shape`'s
        count less one segment) from 0 to the size; sorted cut points make some segments empty."""
        names = hint.segment_lengths_of or hint.segment_offsets_of
        assert names is not None
        data, axis = self.values[names[0]], int(self.values[names[1]])
        size = data.shape[axis % max(data.dim(), 1)] if data.dim() else 1
        *rows, count = shape
        cuts = hint.segment_offsets_of is not None
        inner = max(count - (2 if cuts else 1), 0)  # cut points between 0 and the size
        points = torch.randint(0, size + 1, [*rows, inner], generator=gen).sort(dim=-1).values
        ends = torch.cat([points, torch.full([*rows, 1], size)], dim=-1)
        if cuts:
            return torch.cat([torch.zeros([*rows, 1], dtype=torch.long), ends], dim=-1)[..., :count]
        return torch.diff(ends, dim=-1, prepend=torch.zeros([*rows, 1], dtype=torch.long))[..., :count]

    def tensor(self, hint: TensorHint, shape: list[int]) -> torch.Tensor:
        if hint.same_dtype is not None:
            dtype = self.values[hint.same_dtype].dtype
        else:
            dtype = getattr(torch, _choose(self.draw, _given(hint.dtype, ["float32"])))
        seed = self.draw(st.integers(0, 2**31 - 1))
        gen = torch.Generator().manual_seed(seed)
        if hint.indexes_into is not None:
            return self.indexes(hint, shape, gen).to(dtype)
        segments = hint.segment_lengths_of or hint.segment_offsets_of
        if hint.cumulative_counts_of is not None:  # running counts of rows per group: sorted, within the rows
            tensor_name, dim = hint.cumulative_counts_of
            rows = self.values[tensor_name].shape[dim]
            return torch.randint(0, rows + 1, shape, generator=gen).sort().values.to(dtype)
        if segments is not None:
            return self.segments(hint, shape, gen).to(dtype)
        if hint.sorted_lengths is not None:
            longest = self.symbols[hint.sorted_lengths]
            return torch.randint(1, max(longest, 1) + 1, shape, generator=gen).sort(descending=True).values.to(dtype)
        if hint.batch_sizes is not None:
            steps, batch = (self.symbols[s] for s in hint.batch_sizes)
            if steps == 0 or batch == 0:  # no sequence to pack (edge shapes)
                return torch.zeros([steps], dtype=dtype)
            lengths = torch.randint(1, steps + 1, [batch], generator=gen)
            lengths[0] = steps
            return torch.stack([(lengths > t).sum() for t in range(steps)]).to(dtype)
        if hint.offsets_into is not None:  # sorted, the first 0, none past the indexed tensor's length
            length = self.values[hint.offsets_into].numel()
            drawn = torch.randint(0, length + 1, shape, generator=gen).sort().values
            drawn = drawn - drawn[:1] if drawn.numel() else drawn
            if hint.last_if is not None and self.values[hint.last_if] and drawn.numel():
                drawn[-1] = length  # include_last_offset: the last offset closes the last bag
                if hint.short_last and seed % 2 and drawn.numel() > 1 and drawn[-2] < length:
                    drawn[-1] = int(torch.randint(int(drawn[-2]), length, (), generator=gen))
            return drawn.to(dtype)
        if dtype == torch.bool:
            return torch.rand(shape, generator=gen) > 0.5
        if hint.matrix == "ldl":  # a real factorization: its pivots are kept for `pivots_for`
            ld, pivots = torch.linalg.ldl_factor(_matrices("symmetric", float(_given(hint.cond, 10)), shape, gen))
            ld = ld.to(dtype)
            self.ldl_pivots[id(ld)] = pivots
            return ld
        if hint.matrix is not None:
            return _matrices(hint.matrix, float(_given(hint.cond, 10)), shape, gen).to(dtype)
        if hint.pivots_for is not None and id(self.values[hint.pivots_for]) in self.ldl_pivots:
            return self.ldl_pivots[id(self.values[hint.pivots_for])].to(dtype)
        if hint.pivots_for is not None:  # entry i in [i + 1, m]: any such sequence of row swaps is valid
            rows = self.values[hint.pivots_for].shape[-2]
            low = torch.arange(1, shape[-1] + 1, dtype=torch.float64)
            return (low + torch.floor(torch.rand(shape, generator=gen, dtype=torch.float64) * (rows + 1 - low))).to(dtype)
        low, high = _given(hint.values, [-3, 3])
        if dtype.is_complex:  # real and imaginary parts each drawn from `values`
            parts = torch.rand([*shape, 2], generator=gen, dtype=torch.float64) * (high - low) + low
            return torch.complex(parts[..., 0], parts[..., 1]).to(dtype)
        if hint.view:  # a strided view in torch: the tail of a larger tensor's storage
            base = self.tensor(replace(hint, view=None), [*shape[:-1], shape[-1] + 1] if shape
                               else [2])
            return base[..., 1:] if shape else base[1]
        if dtype.is_floating_point:
            drawn = (torch.rand(shape, generator=gen, dtype=torch.float64) * (high - low) + low).to(dtype)
        else:
            drawn = torch.randint(int(low), int(high) + 1, shape, generator=gen, dtype=torch.int64).to(dtype)
        if hint.nonzero:
            drawn = torch.where(drawn == 0, torch.full_like(drawn, high), drawn)
        if hint.unique:
            drawn = _unique_values(shape, dtype, low, high, gen)
        if hint.wide and dtype.is_floating_point:
            drawn = torch.where(torch.rand(shape, generator=gen) < 1 / 3, _log_uniform(hint.wide, low, shape, gen).to(dtype),
                                drawn)
        if hint.specials and dtype.is_floating_point:
            specials = torch.tensor([float(v) for v in hint.specials], dtype=torch.float64).to(dtype)
            pick = torch.randint(0, len(specials), shape, generator=gen)
            drawn = torch.where(torch.rand(shape, generator=gen) < 0.25, specials[pick], drawn)
        if hint.sorted and drawn.dim() > 0 and drawn.dtype != torch.bool:
            drawn = torch.sort(drawn, dim=-1)[0]
        return drawn

    def indexes(self, hint: TensorHint, shape: list[int], gen: torch.Generator) -> torch.Tensor:
        """Valid indices into a tensor along a dim; `distinct`: a permutation prefix per fiber."""
        tensor_name, dim_name = hint.indexes_into
        of = self.values[tensor_name]
        size = of.shape[self.values[dim_name]] if of.dim() else 1
        if size == 0:
            return torch.zeros(shape, dtype=torch.int64)  # out of range unless empty: torch decides
        axis = self.values[dim_name] % len(shape) if shape else 0
        if not hint.distinct or not shape or shape[axis] > size:
            return torch.randint(0, size, shape, generator=gen)
        room = list(shape)
        room[axis] = size
        return torch.rand(room, generator=gen).argsort(dim=axis).narrow(axis, 0, shape[axis])

    def index_list(self, hint: TensorHint) -> list[torch.Tensor | None]:
        """Advanced indices (index_list_of): one entry per leading dim of the indexed tensor."""
        draw, sizes = self.draw, list(self.values[hint.index_list_of].shape)
        gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
        if not sizes:
            return [torch.zeros([], dtype=torch.int64)]  # torch refuses: nothing to index
        if hint.masks and draw(st.booleans()):  # one mask over the leading dims
            return [torch.rand(sizes[:draw(st.integers(1, len(sizes)))], generator=gen) > 0.5]
        dtype = getattr(torch, _choose(draw, _given(hint.dtype, ["int64"])))
        count = draw(st.integers(1, len(sizes)))
        given = list(range(count))
        if hint.none and count > 1 and draw(st.booleans()):  # None entries, the first one None
            given = [p for p in range(1, count) if draw(st.booleans())] or [count - 1]
        if hint.distinct or (hint.distinct_unless is not None and not self.values[hint.distinct_unless]):
            room = math.prod(sizes[p] for p in given)
            flat = torch.randperm(room, generator=gen)[:draw(st.integers(0 if room == 0 else 1, max(1, min(room, 5))))]
            columns = []
            for p in reversed(given):
                columns.append(flat % max(sizes[p], 1))
                flat = flat // max(sizes[p], 1)
            columns.reverse()
        else:
            base = self.random_shape([1, 2], [1, 4])
            columns = []
            for p in given:
                keep = len(base) if draw(st.booleans()) else draw(st.integers(0, len(base)))
                shape = [1 if draw(st.booleans()) else d for d in base[len(base) - keep:]]
                # a dim of size 0 takes no index: 0 is out of range, and torch says so (unless empty)
                columns.append(torch.randint(0, max(sizes[p], 1), shape, generator=gen))
        out: list[torch.Tensor | None] = [None] * count
        for p, column in zip(given, columns):
            negative = torch.rand(column.shape, generator=gen) > 0.5  # the same element, counted from the end
            out[p] = torch.where(negative, column - sizes[p], column).to(dtype)
        return out

    def index_result_shape(self, tensor_name: str, indices_name: str) -> list[int]:
        try:
            return list(torch.ops.aten.index.Tensor(self.values[tensor_name], self.values[indices_name]).shape)
        except (RuntimeError, IndexError):
            return []  # an invalid index list: torch refuses the whole example

    def broadcast_to(self, other: list[int]) -> list[int]:
        """A shape that broadcasts to `other`: a trailing part, some dims 1."""
        keep = self.draw(st.integers(0, len(other)))
        return [1 if self.draw(st.booleans()) else d for d in other[len(other) - keep:]]

    def rnn_params(self, hint: TensorHint) -> list[torch.Tensor]:
        """torch's flat RNN weight list (`rnn_params` hint): per layer, per direction."""
        spec = hint.rnn_params
        size = {k: self.symbols[spec[k]] for k in ("input", "hidden", "layers", "directions")}
        gates = _RNN_GATES[self.values[spec["gates"]]] if isinstance(spec["gates"], str) else int(spec["gates"])
        rows = gates * size["hidden"]
        biases = bool(self.values[spec["biases"]]) if "biases" in spec else True
        proj = self.symbols[spec["proj"]] if "proj" in spec else 0  # LSTM proj_size (0: none)
        out = proj or size["hidden"]
        params = []
        for layer in range(size["layers"]):
            width = size["input"] if layer == 0 else size["directions"] * out
            for _ in range(size["directions"]):
                shapes = [[rows, width], [rows, out]] + ([[rows], [rows]] if biases else [])
                shapes += [[proj, size["hidden"]]] if proj else []  # w_hr
                params += [self.tensor(hint, s) for s in shapes]
        return params

    def tensor_arg(self, arg: TorchArg, hint: TensorHint) -> Any:
        if hint.only_if is not None and self.values[hint.only_if[0]] != hint.only_if[1]:
            return None
        if hint.none and self.draw(st.booleans()):
            return None
        if arg.is_optional and hint == TensorHint() and arg.has_default:
            return None
        return self.tensor(hint, self.shape(hint))

    def einsum_operands(self, hint: TensorHint) -> list[torch.Tensor]:
        """One tensor per operand of the einsum equation in argument `operands_of` (letters and `...`)."""
        equation = str(self.values[hint.operands_of]).replace(" ", "")
        sizes: dict[str, int] = {}
        batch = self.random_shape([0, 2], _given(hint.dims, [1, 4]))
        hint = replace(hint, dtype=[_choose(self.draw, _given(hint.dtype, ["float32"]))])  # one dtype for all
        tensors = []
        for term in equation.split("->")[0].split(","):
            shape: list[int] = []
            for part in term.split("..."):
                if shape or term.startswith("..."):
                    shape += batch
                for letter in part:
                    if letter not in sizes:
                        sizes[letter] = _int_range(self.draw, _given(hint.dims, [1, 4]))
                    shape.append(sizes[letter])
            tensors.append(self.tensor(hint, shape))
        return tensors

    def tensor_list(self, hint: TensorHint) -> list[torch.Tensor]:
        if hint.index_list_of is not None:
            return self.index_list(hint)
        if hint.operands_of is not None:
            return self.einsum_operands(hint)
        if hint.rnn_params is not None:
            return self.rnn_params(hint)
        if hint.shape_each is not None:  # one shape template per tensor (LSTM's h0 and c0 with projections)
            templates = hint.shape_each if hint.first is None else \
                hint.shape_each[:_symbol_expression(str(hint.first), self.symbols)]
            return [self.tensor(hint, self.shape(replace(hint, shape=each))) for each in templates]
        count = _int_range(self.draw, _given(hint.count, [1, 3]))
        if hint.states_of is not None:
            count = 2 if self.values[hint.states_of] == "LSTM" else 1
        shape = self.shape(hint)
        axis = self.values.get(hint.vary_dim) if hint.vary_dim is not None else None
        tensors = []
        for _ in range(count):
            this = list(shape)
            if axis is not None and this:
                this[axis % len(this)] = _int_range(self.draw, DEFAULT_DIMS)
            tensors.append(self.tensor(hint, this))
        return tensors

    def other_arg(self, arg: TorchArg, hint: Any) -> Any:
        if isinstance(hint, list):
            return _choose(self.draw, hint)
        if not isinstance(hint, ValueHint):
            if hint is not None:
                return hint
            if arg.has_default:
                return arg.default
            if arg.base_type == "bool":
                return self.draw(st.booleans())
            first_tensor = next((v for v in self.values.values() if isinstance(v, torch.Tensor)), None)
            if arg.name == "dim" and first_tensor is not None:  # the common case needs no hint
                key = "dim_of" if arg.base_type in ("int", "SymInt") else "dims_of"
                return self.generated(ValueHint(**{key: next(k for k, v in self.values.items() if v is first_tensor)}))
            raise ValueError(f"argument '{arg.name}' ({arg.type}) needs a test hint in its spec")
        if hint.none and self.draw(st.booleans()):
            return None
        value = self.generated(hint)
        if hint.first is not None and isinstance(value, list):
            return value[:_symbol_expression(str(hint.first), self.symbols)]
        return value

    def generated(self, hint: ValueHint) -> Any:
        draw = self.draw
        if hint.range is not None:
            low, high = hint.range
            if isinstance(low, float) or isinstance(high, float):
                return draw(st.floats(float(low), float(high), allow_nan=False, width=32))
            return _int_range(draw, hint.range)
        if hint.symbol is not None:
            return _symbol_expression(str(hint.symbol), self.symbols)
        if hint.tail_of is not None:
            shape = list(self.values[hint.tail_of].shape)
            return shape[len(shape) - draw(st.integers(1, max(len(shape), 1))):]
        if hint.symbols is not None:
            return [_symbol_expression(str(e), self.symbols) for e in hint.symbols]
        if hint.choose is not None:
            return None if self.values.get(hint.unless) is not None else _choose(draw, hint.choose)
        if hint.scalar_type is not None:
            name = _choose(draw, hint.scalar_type)
            return None if name is None else getattr(torch, name)
        if hint.dim_of is not None:
            of = self.values[hint.dim_of]
            of = of[0] if isinstance(of, list) else of
            rank = max(of.dim() + int(_given(hint.extra, 0)), 1)
            return draw(st.integers(-rank, rank - 1))
        if hint.dims_of is not None:
            rank = self.values[hint.dims_of].dim()
            dims = draw(st.lists(st.integers(0, max(rank - 1, 0)), unique=True, max_size=rank))
            return [d - rank if draw(st.booleans()) else d for d in dims]
        if hint.permutation_of is not None:
            return draw(st.permutations(list(range(self.values[hint.permutation_of].dim()))))
        if hint.reshape_of is not None:
            return self._reshape(list(self.values[hint.reshape_of].shape))
        if hint.expand_of is not None:
            shape = list(self.values[hint.expand_of].shape)
            lead = [_int_range(draw, [1, 3]) for _ in range(draw(st.integers(0, 2)))]
            body = [(-1 if draw(st.booleans()) else d) if d != 1 else _int_range(draw, [1, 3]) for d in shape]
            return lead + body
        if hint.strides_within is not None:
            return self._strides_within(*hint.strides_within)
        for key in ("size_along", "index_along", "split_sizes_of"):
            if getattr(hint, key) is not None:
                tensor_name, dim_name = getattr(hint, key)
                tensor = self.values[tensor_name]
                size = tensor.shape[self.values[dim_name]] if tensor.dim() else 1
                if key == "size_along":
                    return draw(st.integers(1, max(size, 1)))
                if key == "index_along":  # a dim of size 0 has no index: 0, which torch refuses
                    return draw(st.integers(-size, size - 1)) if size else 0
                cuts = sorted(draw(st.lists(st.integers(0, size), max_size=3)))
                edges = [0, *cuts, size]
                return [b - a for a, b in zip(edges, edges[1:])]
        raise ValueError(f"unknown test hint {hint!r}")

    def _strides_within(self, tensor_name: str, size_name: str, offset_name: str) -> list[int]:
        """Strides for `size` whose last element read stays inside the tensor: each dim, in a drawn
        order, takes a stride up to what the room left allows (size-0 and size-1 dims: any small one)."""
        sizes = list(self.values[size_name])
        room = self.values[tensor_name].numel() - 1 - (self.values[offset_name] or 0)
        strides = [0] * len(sizes)
        for k in self.draw(st.permutations(range(len(sizes)))):
            span = sizes[k] - 1
            most = max(room, 0) // span if span > 0 else 3
            strides[k] = self.draw(st.integers(0, min(most, 2)) | st.integers(0, most))  # small: overlaps
            room -= strides[k] * max(span, 0)
        return strides

    def _reshape(self, shape: list[int]) -> list[int]:
        numel = math.prod(shape)
        if numel == 0:  # no elements: sizes with a 0 among them, or [-1] (-1 beside a 0 is ambiguous in torch)
            if self.draw(st.booleans()):
                return [-1]
            out = self.draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
            out[self.draw(st.integers(0, len(out) - 1))] = 0
            return out
        factors = [f for f in range(1, numel + 1) if numel % f == 0]
        out, left = [], numel
        for _ in range(self.draw(st.integers(0, 3))):
            f = self.draw(st.sampled_from([f for f in factors if left % f == 0]))
            out.append(f)
            left //= f
        out.append(left)
        if self.draw(st.booleans()):
            out[self.draw(st.integers(0, len(out) - 1))] = -1
        return out


@st.composite
def op_arguments(draw: Any, spec: OpSpec, schema: TorchSchema, edges: bool = False) -> dict[str, Any]:
    """One example: every schema argument name -> a concrete value for eager torch. With `edges`, sizes
    the hints draw from a range starting at 1 may be 0 (empty tensors, zero-size dimensions)."""
    example = _Example(draw, spec, edges)
    for arg in _draw_order(schema, example.hints):
        hint = example.hints.get(arg.name)
        if arg.is_tensor or arg.base_type == "t" and isinstance(hint, TensorHint):  # TorchScript's generic element
            value = example.tensor_arg(arg, hint or TensorHint())
        elif arg.is_tensor_list or arg.base_type == "List[t]" and isinstance(hint, TensorHint):
            value = example.tensor_list(hint or TensorHint())
        else:
            value = example.other_arg(arg, hint)
        example.values[arg.name] = value
    return {a.name: example.values[a.name] for a in schema.arguments}
