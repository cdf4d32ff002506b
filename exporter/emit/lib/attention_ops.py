"""Python mapping for scaled_dot_product_attention (opspecs/attention.yaml).

From opset 23 the ONNX Attention op, fed 4-D (batch, heads, sequence, head size) tensors:
2-D and 3-D inputs get leading axes of one (torch treats the third-last axis as heads, and so
does Attention, which also repeats key/value heads for grouped-query attention exactly as
torch's enable_gqa repeat_interleave does). Attention needs the mask's last two dims to be
exactly (L, S), so a mask that broadcasts there is expanded first.

Below 23, and where Attention cannot take the inputs (rank above 4, batch dims that broadcast,
dtypes other than float32/float64, float64 with a mask: ONNX Runtime's float64 kernel gives NaN
for fully masked rows), the math torch's reference implementation does:
softmax(Q @ K^T * scale + mask) @ V, where a bool mask sets -inf where it is False and
is_causal keeps the lower-left triangle (top-left aligned for L != S). A row that is masked
everywhere gives zeros, as torch's `_safe_softmax` does (plain Softmax would give NaN); so do no
keys (S = 0: an empty MatMul), and a head size of 0 gives the mean of the values (scores all 0).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx_ir as ir
import torch

from aten2onnx.exporter.emit import helpers as h
from aten2onnx.exporter.emit.graph_builder import GraphBuilder
from aten2onnx.exporter.emit.lib import common as c

_ATTENTION_DTYPES = (torch.float32, torch.float64)


def _concat_shape(g: GraphBuilder, *parts: list[Any] | ir.Value) -> list[int] | ir.Value:
    """The parts of a shape joined: ints when all are static, else a 1-D int64 value."""
    lists = [p for p in parts if isinstance(p, list)]
    if len(lists) == len(parts):
        return [d for p in lists for d in p]
    return g.op("Concat", *[p if isinstance(p, ir.Value) else h.ints(g, p) for p in parts], axis=0)


def _fits_attention(g: GraphBuilder, query: ir.Value, key: ir.Value, value: ir.Value, attn_mask: Any) -> bool:
    ranks = {g.rank(query), g.rank(key), g.rank(value)}
    if len(ranks) != 1 or not ranks <= {2, 3, 4} or g.dtype(query) not in _ATTENTION_DTYPES:
        return False
    if 0 in (h.shape(g, key)[-2], h.shape(g, query)[-1]):
        return False  # ONNX Runtime's Attention refuses no keys or a head size of 0 (torch: zeros, a mean)
    if attn_mask is not None and (g.rank(attn_mask) > 4 or g.dtype(query) != torch.float32):
        # ONNX Runtime's float64 Attention gives NaN for a fully masked row (float32: zeros, as torch)
        return False
    heads = [h.shape(g, t)[-3] for t in (query, key)] if g.rank(query) >= 3 else [1, 1]
    if c.is_static(heads) and heads[0] % heads[1]:
        return False  # key heads broadcast to more than the query has: only MatMul does that
    if g.rank(query) == 4:  # Attention needs one batch size; torch also broadcasts it
        batches = {str(h.shape(g, t)[0]) for t in (query, key, value)}
        if len(batches) != 1:
            return False
    return True


def _attention(g: GraphBuilder, query: ir.Value, key: ir.Value, value: ir.Value, attn_mask: Any, is_causal: bool,
               scale: Any) -> ir.Value:
    r = g.rank(query)
    lead = list(range(4 - r))
    q, k, v = (c.unsqueeze(g, t, lead) if lead else t for t in (query, key, value))
    mask = attn_mask
    if mask is not None:
        L, S = h.shape(g, query)[-2], h.shape(g, key)[-2]
        tail = h.shape(g, mask)[-2:] if g.rank(mask) >= 2 else [1, *h.shape(g, mask)]
        if [str(d) for d in tail] != [str(L), str(S)]:
            size = _concat_shape(g, h.shape_slice(g, query, -2, -1), h.shape_slice(g, key, -2, -1))
            mask = g.op("Expand", mask, size if isinstance(size, ir.Value) else h.ints(g, size))
    attrs: dict[str, Any] = {"is_causal": int(bool(is_causal))}
    if scale is not None:
        attrs["scale"] = float(scale)
    y = g.op("Attention", q, k, v, mask, **attrs)
    return c.squeeze(g, y, lead) if lead else y


def _length(g: GraphBuilder, x: ir.Value) -> ir.Value:
    """x.shape[-2] (the sequence length) as a 0-d int64 value."""
    return c.squeeze(g, h.slice_axes(g, g.op("Shape", x), [g.rank(x) - 2], [g.rank(x) - 1], [0]), [0])


def _causal_mask(g: GraphBuilder, query: ir.Value, key: ir.Value) -> ir.Value:
    """(L, S) bool, True where column <= row (torch's tril of ones, top-left aligned)."""
    L, S = h.shape(g, query)[-2], h.shape(g, key)[-2]
    if isinstance(L, int) and isinstance(S, int):
        return g.constant(torch.ones(L, S, dtype=torch.bool).tril())
    if g.opset < 11:
        raise g.refuse("causal_dynamic_lengths")
    zero, one = h.scalar(g, 0, "int64"), h.scalar(g, 1, "int64")
    rows = c.unsqueeze(g, g.op("Range", zero, _length(g, query), one), [1])
    cols = c.unsqueeze(g, g.op("Range", zero, _length(g, key), one), [0])
    return g.op("Not", g.op("Greater", cols, rows))


def _repeat_heads(g: GraphBuilder, x: ir.Value, times: int) -> ir.Value:
    """torch's repeat_interleave(times, dim=-3): (..., H, S, E) -> (..., H * times, S, E)."""
    r = g.rank(x)
    heads = h.shape(g, x)[-3]
    grown = g.op("Expand", c.unsqueeze(g, x, [r - 2]), h.ints(g, [1] * (r - 2) + [times, 1, 1]))
    size = _concat_shape(g, h.shape_slice(g, x, 0, r - 3) if r > 3 else [], [heads * times], h.shape_slice(g, x, -2))
    # reshape_to: a size 0 (no keys, a head size of 0) is 0, where Reshape's 0 would copy a size
    return h.reshape_to(g, grown, size)


def _math(g: GraphBuilder, query: ir.Value, key: ir.Value, value: ir.Value, attn_mask: Any, is_causal: bool, scale: Any,
          enable_gqa: bool) -> ir.Value:
    dtype = g.known_dtype(query)
    k, v = key, value
    if enable_gqa and g.rank(query) >= 3 and g.rank(key) >= 3:
        hq, hk = h.shape(g, query)[-3], h.shape(g, key)[-3]
        if not (isinstance(hq, int) and isinstance(hk, int)):
            raise g.refuse("gqa_dynamic_heads", detail=f"head counts {hq} and {hk}")
        if hq != hk and hk != 1:
            k, v = _repeat_heads(g, key, hq // hk), _repeat_heads(g, value, hq // hk)
    rk = g.rank(key)  # (k may be a new value without shape information)
    perm = list(range(rk))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    scores = g.op("MatMul", query, g.op("Transpose", k, perm=perm))
    if scale is None:
        size = h.shape(g, query)[-1]
        if isinstance(size, int):  # a head size of 0: the scores are all 0 whatever the scale
            factor = h.scalar(g, 1.0 / math.sqrt(size) if size else 1.0, dtype)
        else:
            last_size = h.shape_slice(g, query, -1)
            assert isinstance(last_size, ir.Value)  # a symbolic size: the slice is a value of the graph
            factor = g.op("Reciprocal", g.op("Sqrt", g.cast(last_size, dtype)))
    else:
        factor = h.scalar(g, float(scale), dtype)
    scores = g.op("Mul", scores, factor)
    masks = []
    if is_causal:
        masks.append(_causal_mask(g, query, key))
    if attn_mask is not None:
        if g.dtype(attn_mask) == torch.bool:
            masks.append(attn_mask)
        else:
            scores = g.op("Add", scores, h.cast_like(g, attn_mask, scores))
    for mask in masks:
        scores = g.op("Where", mask, scores, h.scalar(g, -np.inf, dtype))
    last = max(g.rank(query), rk) - 1
    probs = g.op("Softmax", scores, axis=last)  # the last axis: right before opset 13 too
    if masks or attn_mask is not None:
        # rows masked everywhere: torch's _safe_softmax gives 0 where Softmax gives NaN
        top = c.reduce(g, "ReduceMax", scores, [last], True)
        empty = g.op("Less", top, h.scalar(g, float(torch.finfo(dtype).min), dtype))  # Equal: no floats before 11
        probs = g.op("Where", empty, h.scalar(g, 0.0, dtype), probs)
    return g.op("MatMul", probs, v)


def scaled_dot_product_attention(g, query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa):
    if g.opset >= 23 and _fits_attention(g, query, key, value, attn_mask):
        return _attention(g, query, key, value, attn_mask, is_causal, scale)
    return _math(g, query, key, value, attn_mask, is_causal, scale, enable_gqa)
