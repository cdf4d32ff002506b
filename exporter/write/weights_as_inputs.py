"""export_params=False, keep_initializers_as_inputs=True and weight names from input_names.

As in torch.onnx, weights follow the user inputs in `state_dict` order, so a runtime can
feed them (export_params=False: the file holds no weights) or override them
(keep_initializers_as_inputs=True: the file keeps them as defaults), and input_names past
the user inputs name the weights (`["input", "learned_0", "learned_1", ...]`): all of them, or any of
them when they are graph inputs; other names past the inputs are an error. Tensors that
are not in the state_dict (lifted constants, non-persistent buffers) stay initializers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx_ir as ir

from aten2onnx.exporter.errors import ExportArgumentError


def _check_extra_names(names: list[str], inputs: list[str], weight_count: int, *, weights_are_inputs: bool) -> None:
    """Names past the model's inputs are a mistake (a typo would rename nothing, or a weight), unless
    they name the weights as classic torch.onnx did: all of them (`["input"] + ["learned_%d" % i ...]`),
    or any of them when the weights are graph inputs."""
    extra = names[len(inputs):]
    if not extra or len(extra) == weight_count or (weights_are_inputs and len(extra) <= weight_count):
        return
    real = ", ".join(inputs) if inputs else "none"
    raise ExportArgumentError(
        f"input_names has {len(names)} names but the model has {len(inputs)} input(s) ({real}): "
        f"{', '.join(repr(n) for n in extra)} name no input. Names apply to the inputs in order (args, then kwargs, "
        "nested ones flattened); fewer names than inputs is fine. To name the weights as classic torch.onnx did, "
        f"give a name to each of the {weight_count} weight(s) in state_dict order after the inputs, or keep the "
        "weights as graph inputs (keep_initializers_as_inputs=True or export_params=False)"
    )


def arrange_weights(model: ir.Model, state_dict_order: Sequence[str], *, export_params: bool,
                    keep_initializers_as_inputs: bool, input_names: Sequence[str] = ()) -> dict[str, Any]:
    """Move or copy weights to the graph inputs and name them; returns {input name: tensor} of moved ones
    (the initializers' own tensors: weights applied later reach them too)."""
    graph = model.graph
    user_count = len(graph.inputs)
    names = [name for name in state_dict_order if name in graph.initializers]
    weights = [graph.initializers[name] for name in names]
    _check_extra_names(list(input_names), [str(v.name) for v in graph.inputs], len(weights),
                       weights_are_inputs=not export_params or keep_initializers_as_inputs)
    data = [v.const_value for v in weights]
    if not export_params:
        for name, value in zip(names, weights):
            graph.initializers.pop(name)
            value.const_value = None  # the weight's data must not reach the file
            graph.inputs.append(value)
    if keep_initializers_as_inputs:
        rest = [v for v in graph.initializers.values() if v not in weights]
        graph.inputs.extend(v for v in [*weights, *rest] if not v.is_graph_input())
    for index, (value, name) in enumerate(zip(weights, input_names[user_count:])):
        value.name = names[index] = name
    return {} if export_params else dict(zip(names, data))
