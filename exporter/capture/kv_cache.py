"""transformers' KV caches as inputs and outputs of export: pytree nodes, one key and one value per layer.

torch.export flattens inputs and outputs with torch.utils._pytree; a `DynamicCache` is not a
node it knows ("Found DynamicCache in output, which is not a known type"). `register()` makes
the cache classes nodes whose leaves are, layer by layer, the key then the value
(`EncoderDecoderCache`: the decoder's self-attention key and value, then the encoder's
cross-attention key and value), the order and names ONNX Runtime tooling expects:

    inputs   past_key_values.{i}.key / .value     (.decoder.key, .decoder.value, .encoder.key, .encoder.value)
    outputs  present.{i}.key / .value             (likewise)

`default_names` gives those names to every leaf of a cache in the inputs or outputs (other leaves:
their parameter or field name, `logits`), used when the caller gives no names of their own.

A sliding-window layer (Mistral, Gemma 2) keeps only the last `window - 1` tokens in eager
mode, with a Python token counter and a cut that depend on the length seen so far: a traced
graph would bake both in. While exporting (`exporting_caches`) it behaves as a full layer
instead: the cache holds every past token and the attention mask alone applies the window,
which computes the same attention for every length. The exported `present.*` of such a layer
therefore grows like a full layer's.

The cache classes supported are listed in `SUPPORTED`; any other (a StaticCache, a quantized
cache, a cache with linear-attention layers) raises UnsupportedCacheError naming it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.utils._pytree as pytree

from aten2onnx.exporter.errors import OnnxExporterError

if TYPE_CHECKING:
    from transformers.cache_utils import Cache, EncoderDecoderCache

SUPPORTED = ("DynamicCache (DynamicLayer and DynamicSlidingWindowLayer layers: full, sliding-window and hybrid "
             "attention)", "EncoderDecoderCache of two such DynamicCaches")
_SUPPORTED_LAYERS = ("DynamicLayer", "DynamicSlidingWindowLayer")


class UnsupportedCacheError(OnnxExporterError, TypeError):
    """A transformers cache class (or cache layer class) that export cannot flatten yet."""

    def __init__(self, what: str):
        self.what = what
        super().__init__(f"{what} is not supported as an input or output of export yet; supported: "
                         + "; ".join(SUPPORTED) + ". Pass a DynamicCache (`DynamicCache(config=model.config)`, "
                         "transformers' default), or export without a cache (use_cache=False; export_hf's "
                         "task text-generation).")


@dataclass(frozen=True)
class LayerLayout:
    """One layer of a DynamicCache: its class, the window of a sliding layer, whether it holds tensors."""

    layer_class: type
    sliding_window: int | None
    filled: bool


@dataclass(frozen=True)
class DynamicLayout:
    """What a DynamicCache is besides its tensors (the pytree context)."""

    cache_class: type[Cache]
    layers: tuple[LayerLayout, ...]
    replicate: type[Any] | None  # the layer class a lazily grown cache appends (DynamicCache() without config)


@dataclass(frozen=True)
class EncoderDecoderLayout:
    cache_class: type[EncoderDecoderCache]
    self_attention: DynamicLayout
    cross_attention: DynamicLayout


def _transformers() -> Any:
    """transformers.cache_utils when transformers is imported (only then can a model make a cache)."""
    if "transformers" not in sys.modules:
        return None
    try:
        from transformers import cache_utils
    except ImportError:  # an old transformers without cache classes
        return None
    return cache_utils


# -- DynamicCache ---------------------------------------------------------------------------------
def _dynamic_layout(cache: Any) -> DynamicLayout:
    layers = []
    for index, layer in enumerate(cache.layers):
        name = type(layer).__name__
        if name not in _SUPPORTED_LAYERS or type(layer).__module__ != "transformers.cache_utils" \
                or getattr(layer, "offloading", False):
            raise UnsupportedCacheError(f"{type(cache).__name__} layer {index} of class {name}")
        filled = bool(layer.is_initialized and layer.keys is not None)
        layers.append(LayerLayout(type(layer), getattr(layer, "sliding_window", None), filled))
    if getattr(cache, "offloading", False):
        raise UnsupportedCacheError(f"{type(cache).__name__} with offloading=True")
    return DynamicLayout(type(cache), tuple(layers), cache.layer_class_to_replicate)


def _flatten_dynamic(cache: Any) -> tuple[list[Any], DynamicLayout]:
    layout = _dynamic_layout(cache)
    leaves = [t for layer, kind in zip(cache.layers, layout.layers) if kind.filled for t in (layer.keys, layer.values)]
    return leaves, layout


def _dynamic_keys(layout: DynamicLayout, prefix: str = "") -> list[str]:
    return [f"{i}.{prefix}{part}" for i, kind in enumerate(layout.layers) if kind.filled for part in ("key", "value")]


def _flatten_dynamic_with_keys(cache: Any) -> tuple[list[tuple[Any, Any]], DynamicLayout]:
    leaves, layout = _flatten_dynamic(cache)
    return [(pytree.MappingKey(k), leaf) for k, leaf in zip(_dynamic_keys(layout), leaves)], layout


def _layer(kind: LayerLayout, keys: torch.Tensor | None, values: torch.Tensor | None) -> Any:
    layer = kind.layer_class(sliding_window=kind.sliding_window) if kind.sliding_window is not None \
        else kind.layer_class()
    if keys is None:
        return layer
    layer.device, layer.keys, layer.values, layer.is_initialized = keys.device, keys, values, True
    if hasattr(layer, "_sliding_window_tensor"):
        layer._sliding_window_tensor = layer._sliding_window_tensor.to(keys.device)
    if hasattr(layer, "cumulative_length"):  # a sliding layer: the tokens seen, all of them held (see above)
        layer.cumulative_length = keys.shape[-2]
    return layer


def _unflatten_dynamic(leaves: Any, layout: DynamicLayout) -> Any:
    from transformers.cache_utils import Cache

    tensors = iter(leaves)
    layers = []
    for kind in layout.layers:
        keys, values = (next(tensors), next(tensors)) if kind.filled else (None, None)
        layers.append(_layer(kind, keys, values))
    cache = layout.cache_class.__new__(layout.cache_class)
    if layers:
        Cache.__init__(cache, layers=layers)
    else:
        Cache.__init__(cache, layer_class_to_replicate=layout.replicate)
    return cache


# -- EncoderDecoderCache --------------------------------------------------------------------------
def _encoder_decoder_parts(cache: Any) -> tuple[Any, Any]:
    from transformers.cache_utils import DynamicCache

    parts = (cache.self_attention_cache, cache.cross_attention_cache)
    for part in parts:
        if type(part) is not DynamicCache:
            raise UnsupportedCacheError(f"EncoderDecoderCache holding a {type(part).__name__}")
    return parts


def _flatten_encoder_decoder(cache: Any) -> tuple[list[Any], EncoderDecoderLayout]:
    own, cross = _encoder_decoder_parts(cache)
    (own_leaves, own_layout), (cross_leaves, cross_layout) = _flatten_dynamic(own), _flatten_dynamic(cross)
    layout = EncoderDecoderLayout(type(cache), own_layout, cross_layout)
    own_pairs = _pairs(own_leaves, own_layout)
    cross_pairs = _pairs(cross_leaves, cross_layout)
    leaves = [t for i in range(max(len(own_layout.layers), len(cross_layout.layers)))
              for t in own_pairs.get(i, ()) + cross_pairs.get(i, ())]
    return leaves, layout


def _pairs(leaves: list[Any], layout: DynamicLayout) -> dict[int, tuple[Any, ...]]:
    """Layer index -> (key, value) for the filled layers."""
    filled = [i for i, kind in enumerate(layout.layers) if kind.filled]
    return {index: (leaves[2 * n], leaves[2 * n + 1]) for n, index in enumerate(filled)}


def _encoder_decoder_keys(layout: EncoderDecoderLayout) -> list[str]:
    own, cross = layout.self_attention.layers, layout.cross_attention.layers
    keys = []
    for i in range(max(len(own), len(cross))):
        if i < len(own) and own[i].filled:
            keys += [f"{i}.decoder.key", f"{i}.decoder.value"]
        if i < len(cross) and cross[i].filled:
            keys += [f"{i}.encoder.key", f"{i}.encoder.value"]
    return keys


def _flatten_encoder_decoder_with_keys(cache: Any) -> tuple[list[tuple[Any, Any]], EncoderDecoderLayout]:
    leaves, layout = _flatten_encoder_decoder(cache)
    return [(pytree.MappingKey(k), leaf) for k, leaf in zip(_encoder_decoder_keys(layout), leaves)], layout


def _unflatten_encoder_decoder(leaves: Any, layout: EncoderDecoderLayout) -> Any:
    tensors = iter(leaves)
    own: list[Any] = []
    cross: list[Any] = []
    own_kinds, cross_kinds = layout.self_attention.layers, layout.cross_attention.layers
    for i in range(max(len(own_kinds), len(cross_kinds))):
        if i < len(own_kinds) and own_kinds[i].filled:
            own += [next(tensors), next(tensors)]
        if i < len(cross_kinds) and cross_kinds[i].filled:
            cross += [next(tensors), next(tensors)]
    cache = layout.cache_class.__new__(layout.cache_class)
    layout.cache_class.__init__(cache, _unflatten_dynamic(own, layout.self_attention),
                                _unflatten_dynamic(cross, layout.cross_attention))
    return cache


# -- registration ---------------------------------------------------------------------------------
def _class_path(cls: type | None) -> str | None:
    return None if cls is None else f"{cls.__module__}:{cls.__qualname__}"


def _class_at(path: str | None) -> type | None:
    if path is None:
        return None
    module, _, name = path.partition(":")
    found: Any = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


def _dumpable(layout: DynamicLayout | EncoderDecoderLayout) -> str:
    """The pytree context as JSON, so torch.export.save can write a program whose inputs hold a cache."""
    def dynamic(part: DynamicLayout) -> dict[str, Any]:
        return {"cache": _class_path(part.cache_class), "replicate": _class_path(part.replicate),
                "layers": [[_class_path(k.layer_class), k.sliding_window, k.filled] for k in part.layers]}

    if isinstance(layout, EncoderDecoderLayout):
        return json.dumps({"cache": _class_path(layout.cache_class), "self": dynamic(layout.self_attention),
                           "cross": dynamic(layout.cross_attention)})
    return json.dumps(dynamic(layout))


def _from_dumpable(text: str) -> DynamicLayout | EncoderDecoderLayout:
    def dynamic(data: dict[str, Any]) -> DynamicLayout:
        layers = tuple(LayerLayout(_class_at(c), w, f) for c, w, f in data["layers"])  # type: ignore[arg-type]
        return DynamicLayout(_class_at(data["cache"]), layers, _class_at(data["replicate"]))  # type: ignore[arg-type]

    data = json.loads(text)
    if "self" in data:
        return EncoderDecoderLayout(_class_at(data["cache"]), dynamic(data["self"]), dynamic(data["cross"]))  # type: ignore[arg-type]
    return dynamic(data)


def _register(cls: type, flatten: Any, unflatten: Any, flatten_with_keys: Any) -> None:
    node = pytree.SUPPORTED_NODES.get(cls)
    if node is not None and node.flatten_fn is flatten:
        return
    if node is not None:  # transformers' own exporter registers a generic flattening: ours names the layers
        pytree._deregister_pytree_node(cls)
    pytree.register_pytree_node(cls, flatten, unflatten, flatten_with_keys_fn=flatten_with_keys,
                                serialized_type_name=f"{cls.__module__}.{cls.__qualname__}",
                                to_dumpable_context=_dumpable, from_dumpable_context=_from_dumpable)


def register() -> bool:
    """Make DynamicCache and EncoderDecoderCache pytree nodes (once; True when transformers is imported)."""
    cache_utils = _transformers()
    if cache_utils is None:
        return False
    _register(cache_utils.DynamicCache, _flatten_dynamic, _unflatten_dynamic, _flatten_dynamic_with_keys)
    _register(cache_utils.EncoderDecoderCache, _flatten_encoder_decoder, _unflatten_encoder_decoder,
              _flatten_encoder_decoder_with_keys)
    return True


def _refuse(cache: Any, *_context: Any) -> Any:
    raise UnsupportedCacheError(f"cache class {type(cache).__name__}")


def _subclasses(cls: type[Any]) -> Iterator[type[Any]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


@contextlib.contextmanager
def _refusing_other_caches(cache_class: type) -> Iterator[None]:
    """Every other Cache class a pytree node that raises UnsupportedCacheError naming it (instead of
    torch's "not a known type"), while exporting only: registered for good, they would also refuse
    transformers' own exporters, which register them lazily. Classes someone registered are left."""
    added = [cls for cls in _subclasses(cache_class) if cls not in pytree.SUPPORTED_NODES]
    for cls in added:
        pytree.register_pytree_node(cls, _refuse, _refuse, flatten_with_keys_fn=_refuse,
                                    serialized_type_name=f"{cls.__module__}.{cls.__qualname__}")
    try:
        yield
    finally:
        for cls in added:
            pytree._deregister_pytree_node(cls)


def is_cache(value: Any) -> bool:
    cache_utils = _transformers()
    return cache_utils is not None and isinstance(value, cache_utils.Cache)


@contextlib.contextmanager
def exporting_caches() -> Iterator[None]:
    """While exporting: caches registered (the unsupported ones refused by name), sliding-window
    layers behaving as full layers (see above)."""
    if not register():
        yield
        return
    from transformers.cache_utils import Cache, DynamicLayer, DynamicSlidingWindowLayer

    names = ("update", "get_mask_sizes", "get_seq_length")
    saved = {name: DynamicSlidingWindowLayer.__dict__[name] for name in names
             if name in DynamicSlidingWindowLayer.__dict__}
    for name in names:
        setattr(DynamicSlidingWindowLayer, name, getattr(DynamicLayer, name))
    try:
        with _refusing_other_caches(Cache):
            yield
    finally:
        for name in names:
            if name in saved:
                setattr(DynamicSlidingWindowLayer, name, saved[name])
            else:
                delattr(DynamicSlidingWindowLayer, name)


# -- names ----------------------------------------------------------------------------------------
def _key_text(key: Any) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def _cache_leaf_name(tree: Any, path: tuple[Any, ...], prefix: str) -> str | None:
    """`<prefix>.{i}.key` for a leaf inside a cache (the path's keys below the cache name it); None
    for a leaf outside every cache."""
    node = tree
    for depth, key in enumerate(path):
        if is_cache(node):
            return ".".join([prefix, *(_key_text(k) for k in path[depth:])])
        node = key.get(node)
    return None


def has_cache(tree: Any) -> bool:
    """Whether a cache is anywhere in `tree` (inputs, or a model's outputs)."""
    if is_cache(tree):
        return True
    if isinstance(tree, torch.Tensor):
        return False
    node = pytree.SUPPORTED_NODES.get(type(tree))
    return node is not None and any(has_cache(child) for child in node.flatten_fn(tree)[0])


def input_names(placeholders: list[tuple[str, bool]], named_inputs: list[tuple[str, Any]]) -> list[str] | None:
    """The user inputs' names, in torch.export's order: leaves of a cache `past_key_values.{i}.key`
    (`.decoder.key`, `.encoder.key` for an EncoderDecoderCache), others as torch.export named them.
    `placeholders`: (name, holds a tensor) of each user input placeholder; the tensor leaves of the
    inputs line up with the tensor placeholders. Python values among the inputs are constants of the
    export (no ONNX input), so only the tensor placeholders get a name. None when they do not line up."""
    mine = []
    for _, value in named_inputs:
        for path, leaf in pytree.tree_flatten_with_path(value)[0]:
            if isinstance(leaf, torch.Tensor):
                mine.append(_cache_leaf_name(value, path, "past_key_values"))
    if len(mine) != sum(1 for _, is_tensor in placeholders if is_tensor):
        return None
    names = iter(mine)
    return [next(names) or name for name, is_tensor in placeholders if is_tensor]


def output_names(out_spec: pytree.TreeSpec) -> list[str]:
    """A name for every output: leaves of a cache `present.{i}.key`, ModelOutput fields by their name
    (`logits`), other leaves by their path (`output_0`, `hidden.1`)."""
    stand_in = pytree.tree_unflatten([torch.empty(0, 0, 0, 0) for _ in range(out_spec.num_leaves)], out_spec)
    names = []
    for path, _ in pytree.tree_flatten_with_path(stand_in)[0]:
        name = _cache_leaf_name(stand_in, path, "present") or ".".join(_key_text(k) for k in path)
        names.append(f"output_{name}" if not name or name[0].isdigit() else name)
    return names


def default_names(program: Any, named_inputs: list[tuple[str, Any]]) -> tuple[list[str] | None, list[str] | None]:
    """(input names, output names) for a program whose inputs or outputs hold a cache, the
    names ONNX Runtime tooling expects; None for a side without a cache (torch's names stay)."""
    from torch.export.graph_signature import InputKind

    if _transformers() is None:
        return None, None
    inputs = None
    if has_cache([value for _, value in named_inputs]):
        nodes = {node.name: node for node in program.graph.nodes if node.op == "placeholder"}
        placeholders = [(spec.arg.name, isinstance(nodes[spec.arg.name].meta.get("val"), torch.Tensor))
                        for spec in program.graph_signature.input_specs if spec.kind == InputKind.USER_INPUT]
        inputs = input_names(placeholders, named_inputs)
    out_spec = program.call_spec.out_spec
    return inputs, output_names(out_spec) if out_spec is not None and _spec_has_cache(out_spec) else None


def _spec_has_cache(spec: pytree.TreeSpec) -> bool:
    """Whether a cache is among the nodes of a pytree spec (the outputs' structure)."""
    cache_utils = _transformers()
    if isinstance(spec.type, type) and cache_utils is not None and issubclass(spec.type, cache_utils.Cache):
        return True
    return any(_spec_has_cache(child) for child in spec.children_specs)
