"""export_modules_as_functions: module classes as ONNX local functions, called where the modules ran.

torch.onnx's classic exporter took `True` (every module class) or a set of classes; its domain is
the class's Python module (`__main__`, `torch.nn.modules.linear`), its name the class name. Here it
is a pass over the translated model. Translation tags every ONNX node (in memory) with the module
calls it came from (graph_builder.MODULE_CALLS_KEY, from the FX node's nn_module_stack; a module
called twice is two calls). Then:

1. Analysis of the flat graph. Each call of a selected class is an instance: its nodes (plus any node
   torch inserted between them, so that no path leaves the instance and comes back), the values it
   reads from outside in order of first use (weights, graph inputs, other modules' results), and
   its results read outside. Instances of one class with the same structure (ops, wiring, attribute
   names) are one function; a class whose instances differ in structure gets one function per
   structure (`Block`, `Block.1`, as torch.onnx named them). Attribute values that differ between
   the instances of a function (a LeakyRelu slope, a Constant holding a hyperparameter) become
   attributes of the function, set by each call.
2. Rewriting, innermost calls first: each instance's nodes become one call node whose inputs are the
   values it reads (weights included); the first instance's nodes become the function's body. An
   outer module's function then calls the inner modules' functions.

Modules called inside a control-flow branch (an If/Loop body) stay inline.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import onnx_ir as ir
import torch

from aten2onnx.exporter.emit.graph_builder import MODULE_CALLS_KEY
from aten2onnx.exporter.errors import ExportArgumentError
from aten2onnx.exporter.names import unique_name

_GRAPH_TYPES = (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS)
_FUNCTION_DOMAIN_VERSION = 1
# An attribute that may become a function attribute: (member index, the way down the member's If/Loop
# bodies as (attribute, graph index, node index) steps, attribute name).
Slot = tuple[int, tuple[tuple[str, int, int], ...], str]


@dataclass(frozen=True)
class ModuleSelection:
    """Which module classes become functions: every class, or those named `pkg.module.Class`."""

    every: bool
    classes: frozenset[str]

    def selects(self, class_name: str) -> bool:
        return self.every or class_name in self.classes


def class_name(cls: type) -> str:
    """The name torch.export's nn_module_stack gives a module's class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def check_selection(value: Any) -> ModuleSelection | None:
    """export_modules_as_functions as a ModuleSelection; None for False."""
    if value is None or value is False:
        return None
    if value is True:
        return ModuleSelection(True, frozenset())
    if isinstance(value, Collection) and not isinstance(value, (str, bytes, dict)):
        wrong = [c for c in value if not (isinstance(c, type) and issubclass(c, torch.nn.Module))]
        if not wrong:
            return ModuleSelection(False, frozenset(class_name(c) for c in value))
        raise ExportArgumentError(
            f"export_modules_as_functions: {', '.join(repr(w) for w in wrong)} is not a torch.nn.Module class; "
            "pass True (every module class) or a set of nn.Module classes such as {torch.nn.Linear, MyBlock}"
        )
    raise ExportArgumentError(f"export_modules_as_functions must be True, False or a set of nn.Module classes, "
                              f"got {value!r}")


@dataclass(eq=False)
class _Instance:
    """One call of a selected module, as found in the flat graph."""

    key: str                      # nn_module_stack key: `L__self__blocks.0` (`...@1` for a second call)
    path: str
    cls: str
    depth: int
    stack: tuple[Any, ...]        # the module calls from the outermost down to this one
    members: list[ir.Node] = field(default_factory=list)  # in graph order
    inputs: list[ir.Value] = field(default_factory=list)  # read from outside, first use first
    used: set[tuple[int, int]] = field(default_factory=set)  # (member, output) read outside
    shape: tuple[Any, ...] = ()
    slots: dict[Slot, ir.Attr] = field(default_factory=dict)  # every non-graph attribute of its nodes
    function: _Function | None = None
    call: ir.Node | None = None


@dataclass(eq=False)
class _Function:
    domain: str
    name: str
    instances: list[_Instance]
    outputs: list[tuple[int, int]] = field(default_factory=list)
    params: dict[Slot, str] = field(default_factory=dict)  # varying slot -> function attribute name


def _calls_of(node: ir.Node) -> tuple[Any, ...]:
    return node.meta.get(MODULE_CALLS_KEY, ())


def _nested_nodes(node: ir.Node) -> Iterator[ir.Node]:
    for attr in node.attributes.values():
        if attr.type == ir.AttributeType.GRAPH:
            graphs = [attr.value]
        elif attr.type == ir.AttributeType.GRAPHS:
            graphs = list(attr.value)
        else:
            continue
        for graph in graphs:
            for inner in graph:
                yield inner
                yield from _nested_nodes(inner)


def _comparable(attr: ir.Attr) -> Any:
    if attr.type == ir.AttributeType.TENSOR:
        tensor = attr.value
        return ("tensor", tensor.dtype, tuple(tensor.shape), tensor.tobytes())
    if attr.type == ir.AttributeType.TENSORS:
        return tuple(("tensor", t.dtype, tuple(t.shape), t.tobytes()) for t in attr.value)
    value = attr.value
    return tuple(value) if isinstance(value, (list, tuple)) else value


class _Graph:
    """The top-level graph's wiring, with nodes of If/Loop bodies counted as their outer node."""

    def __init__(self, graph: ir.Graph):
        self.graph = graph
        self.nodes = list(graph)
        self.position = {node: index for index, node in enumerate(self.nodes)}
        self.owner: dict[ir.Node, ir.Node] = {}
        for node in self.nodes:
            for inner in _nested_nodes(node):
                self.owner[inner] = node

    def top(self, node: ir.Node | None) -> ir.Node | None:
        if node is None:
            return None
        return node if node.graph is self.graph else self.owner.get(node)

    def reads(self, node: ir.Node) -> list[ir.Value]:
        """Values of the top-level graph the node reads, its bodies' reads included, in order."""
        found = [v for v in node.inputs if v is not None]
        for inner in _nested_nodes(node):
            found.extend(v for v in inner.inputs if v is not None and v.graph is self.graph)
        return found

    def predecessors(self, node: ir.Node) -> set[ir.Node]:
        return {p for v in self.reads(node) if (p := self.top(v.producer())) is not None}

    def successors(self, node: ir.Node) -> set[ir.Node]:
        return {u for out in node.outputs for use in out.uses() if (u := self.top(use.node)) is not None}


def _between(wiring: _Graph, group: set[ir.Node]) -> set[ir.Node]:
    """Nodes outside `group` on a path from it back into it (empty: the group is convex)."""
    positions = [wiring.position[n] for n in group]
    low, high = min(positions), max(positions)
    reached, stack = set(), [s for n in group for s in wiring.successors(n) if s not in group]
    while stack:
        node = stack.pop()
        if node in reached or wiring.position[node] > high:
            continue
        reached.add(node)
        stack.extend(s for s in wiring.successors(node) if s not in group)
    back, stack = set(), [p for n in group for p in wiring.predecessors(n) if p not in group]
    while stack:
        node = stack.pop()
        if node in back or wiring.position[node] < low:
            continue
        back.add(node)
        stack.extend(p for p in wiring.predecessors(node) if p not in group)
    return reached & back


def _adopt_constants(wiring: _Graph) -> None:
    """A Constant made outside any module call (folding a static Shape makes new ones) belongs to the
    innermost call that holds all its readers, so that it is not passed in from outside."""
    for node in wiring.nodes:
        if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or _calls_of(node):
            continue
        stacks = [_calls_of(reader) for reader in wiring.successors(node)]
        if not stacks or any(not stack for stack in stacks):
            continue
        common = stacks[0]
        for stack in stacks[1:]:
            depth = next((i for i, (a, b) in enumerate(zip(common, stack)) if a != b), min(len(common), len(stack)))
            common = common[:depth]
        if common:
            node.meta[MODULE_CALLS_KEY] = common


def _find_instances(wiring: _Graph, selection: ModuleSelection) -> list[_Instance]:
    instances: dict[str, _Instance] = {}
    for node in wiring.nodes:
        calls = _calls_of(node)
        for depth, (key, path, cls) in enumerate(calls):
            if key not in instances:
                instances[key] = _Instance(key, path, cls, depth, calls[:depth + 1])
            instances[key].members.append(node)
    return [i for i in instances.values() if selection.selects(i.cls)]


def _make_convex(wiring: _Graph, instances: list[_Instance]) -> list[_Instance]:
    """Give each instance the nodes torch inserted between its nodes (a size read, a cast); drop,
    with a warning, an instance interleaved with another module's nodes."""
    members: dict[str, set[ir.Node]] = {}
    for node in wiring.nodes:
        for key, _, _ in _calls_of(node):
            members.setdefault(key, set()).add(node)
    kept = []
    for instance in sorted(instances, key=lambda i: -i.depth):
        between = _between(wiring, members[instance.key])
        if any(_calls_of(n) != instance.stack[:len(_calls_of(n))] for n in between):
            warnings.warn(f"export_modules_as_functions: module '{instance.path}' ({instance.cls}) stays inline: "
                          f"its nodes are interleaved with those of another module", stacklevel=4)
            continue
        for node in between:  # torch's own nodes within this call belong to it
            node.meta[MODULE_CALLS_KEY] = instance.stack
            for key, _, _ in instance.stack:
                members[key].add(node)
        kept.append(instance)
    for instance in kept:
        instance.members = sorted(members[instance.key], key=wiring.position.__getitem__)
    return kept


def _graphs(attr: ir.Attr) -> list[ir.Graph]:
    return [attr.value] if attr.type == ir.AttributeType.GRAPH else list(attr.value)


def _node_at(member: ir.Node, where: tuple[tuple[str, int, int], ...]) -> ir.Node:
    node = member
    for attribute, graph_index, node_index in where:
        node = list(_graphs(node.attributes[attribute])[graph_index])[node_index]
    return node


def _describe(wiring: _Graph, instance: _Instance) -> None:
    """Inputs, outputs read outside, structure and attribute slots of the instance."""
    local = {node: index for index, node in enumerate(instance.members)}
    input_index: dict[ir.Value, int] = {}

    def outer(value: ir.Value) -> tuple[Any, ...]:
        producer = value.producer()
        if producer is not None and producer in local:
            return ("node", local[producer], producer.outputs.index(value))
        if value not in input_index:
            input_index[value] = len(instance.inputs)
            instance.inputs.append(value)
        return ("input", input_index[value])

    def attributes_of(node: ir.Node, member: int, where: tuple[Any, ...], ref: Any) -> tuple[Any, ...]:
        found: list[tuple[str, Any]] = []
        for name, attr in sorted(node.attributes.items()):
            if attr.type in _GRAPH_TYPES:
                found.append((name, tuple(body(g, member, (*where, (name, i)), ref)
                                          for i, g in enumerate(_graphs(attr)))))
            else:
                found.append((name, attr.type))
                instance.slots[(member, where, name)] = attr
        return tuple(found)

    def body(graph: ir.Graph, member: int, where: tuple[Any, ...], outer_ref: Any) -> tuple[Any, ...]:
        """An If/Loop body by structure, names left out; outer-scope reads through `outer_ref`."""
        known: dict[ir.Value, tuple[Any, ...]] = {v: ("body_input", i) for i, v in enumerate(graph.inputs)}
        known.update({v: ("body_initializer", _comparable(ir.AttrTensor("v", v.const_value)))
                      for v in graph.initializers.values() if v.const_value is not None})

        def ref(value: ir.Value | None) -> Any:
            if value is None:
                return None
            return known[value] if value in known else outer_ref(value)

        nodes = []
        for index, node in enumerate(graph):
            node_where = (*where[:-1], (*where[-1], index))  # the last step, (attribute, graph), gets the node
            nodes.append((node.domain, node.op_type, len(node.outputs), tuple(ref(v) for v in node.inputs),
                          attributes_of(node, member, node_where, ref)))
            for position, value in enumerate(node.outputs):
                known[value] = ("body_node", index, position)
        return tuple(nodes), tuple(ref(v) for v in graph.outputs)

    shape = []
    for index, node in enumerate(instance.members):
        attributes = attributes_of(node, index, (), outer)
        inputs = tuple(None if v is None else outer(v) for v in node.inputs)
        shape.append((node.domain, node.op_type, node.overload, len(node.outputs), inputs, attributes))
        for position, value in enumerate(node.outputs):
            readers = [wiring.top(use.node) for use in value.uses()]
            if value.is_graph_output() or any(r is not None and r not in local for r in readers):
                instance.used.add((index, position))
    instance.shape = tuple(shape)


def _domain_and_name(cls: str, classes: dict[str, type]) -> tuple[str, str]:
    found = classes.get(cls)
    if found is not None:
        return found.__module__, found.__qualname__.replace("<locals>.", "")
    module, _, name = cls.rpartition(".")
    return module or "aten2onnx.modules", name


def _param_name(node: ir.Node, attribute: str, path: str, taken: set[str]) -> str:
    relative = (node.name or node.op_type)
    if path and relative.startswith(path):
        relative = relative[len(path):]
    return unique_name(re.sub(r"\W+", "_", f"{relative}_{attribute}").strip("_") or attribute, taken)


def _group_functions(instances: list[_Instance], classes: dict[str, type]) -> list[_Function]:
    """Instances of one class and structure -> one function: outputs and varying attributes."""
    by_shape: dict[tuple[str, tuple[Any, ...]], _Function] = {}
    per_class: dict[str, int] = {}
    for instance in instances:
        function = by_shape.get((instance.cls, instance.shape))
        if function is None:
            domain, name = _domain_and_name(instance.cls, classes)
            count = per_class.get(instance.cls, 0)
            per_class[instance.cls] = count + 1
            function = _Function(domain, name if count == 0 else f"{name}.{count}", [])
            by_shape[(instance.cls, instance.shape)] = function
        function.instances.append(instance)
        instance.function = function
    for function in by_shape.values():
        template = function.instances[0]
        function.outputs = sorted(set().union(*(i.used for i in function.instances)))
        taken: set[str] = set()
        for slot in template.slots:
            values = {_comparable(i.slots[slot]) for i in function.instances}
            if len(values) > 1:
                node = _node_at(template.members[slot[0]], slot[1])
                function.params[slot] = _param_name(node, slot[2], template.path, taken)
    return list(by_shape.values())


class _Rewriter:
    """Replaces instances by call nodes, innermost first, and builds each function from its first instance."""

    def __init__(self, model: ir.Model, wiring: _Graph):
        self.model = model
        self.graph = model.graph
        self.wiring = wiring
        self.replaced: dict[ir.Node, ir.Node] = {}        # node -> the call node that took it in
        self.value_now: dict[ir.Value, ir.Value] = {}     # a result -> the call output standing for it
        self.call_of: dict[ir.Node, _Instance] = {}

    def holder(self, node: ir.Node) -> ir.Node:
        while node in self.replaced:
            node = self.replaced[node]
        return node

    def now(self, value: ir.Value) -> ir.Value:
        while value in self.value_now:
            value = self.value_now[value]
        return value

    def rewrite(self, instance: _Instance) -> None:
        function = instance.function
        assert function is not None
        members: list[ir.Node] = []
        for node in instance.members:
            holder = self.holder(node)
            if holder not in members:
                members.append(holder)
        template = function.instances[0] is instance
        attributes = [ir.Attr(name, instance.slots[slot].type, instance.slots[slot].value)
                      for slot, name in function.params.items()]
        inputs = [self.now(v) for v in instance.inputs]
        results = [self.now(instance.members[m].outputs[o]) for m, o in function.outputs]
        call = ir.Node(function.domain, function.name, inputs, attributes=attributes,
                       num_outputs=len(results), name=self._call_name(instance))
        call.meta[MODULE_CALLS_KEY] = instance.stack[:-1]
        member_set = set(members)
        for value, out in zip(results, call.outputs):
            out.name, out.shape = value.name, value.shape
            if value.dtype is not None:
                out.dtype = value.dtype
            out.metadata_props.update(value.metadata_props)
            for use in list(value.uses()):
                if self._holder_of_reader(use.node) not in member_set:
                    use.node.replace_input_with(use.idx, out)
            for position, graph_output in enumerate(self.graph.outputs):
                if graph_output is value:
                    self.graph.outputs[position] = out
        for (m, o), out in zip(function.outputs, call.outputs):
            self.value_now[instance.members[m].outputs[o]] = out
        if template:
            self._set_references(instance)
        self.graph.insert_before(members[0], call)
        self.graph.remove(members, safe=False)
        if template:
            self._define(instance, members, inputs, results)
        else:
            for node in members:
                self._detach(node)
        for node in members:
            self.replaced[node] = call
        instance.call = call
        self.call_of[call] = instance

    def _holder_of_reader(self, node: ir.Node) -> ir.Node:
        """The top-level node now holding a reader (a node of an If body counts as the If)."""
        top = self.wiring.top(node)
        return self.holder(top) if top is not None else node

    def _call_name(self, instance: _Instance) -> str:
        suffix = instance.key.rpartition("@")[2] if "@" in instance.key else ""
        return instance.path + (f"@{suffix}" if suffix else "")

    def _set_references(self, instance: _Instance) -> None:
        """The template's varying attributes refer to the function's attributes."""
        function = instance.function
        assert function is not None
        for slot, param in function.params.items():
            member, where, attribute = slot
            node = _node_at(instance.members[member], where)
            holder = self.holder(instance.members[member])
            attr_type = instance.slots[slot].type
            if holder is instance.members[member]:
                node.attributes[attribute] = ir.RefAttr(attribute, param, attr_type)
                continue
            inner = self.call_of[holder]  # the attribute is set by an inner module's call
            inner_slot = (inner.members.index(instance.members[member]), where, attribute)
            inner_param = inner.function.params.get(inner_slot) if inner.function else None
            if inner_param is not None:
                holder.attributes[inner_param] = ir.RefAttr(inner_param, param, attr_type)

    def _define(self, instance: _Instance, members: list[ir.Node], inputs: list[ir.Value],
                results: list[ir.Value]) -> None:
        function = instance.function
        assert function is not None
        names = {v.name for n in members for v in n.outputs if v.name is not None}
        placeholders = []
        for index, value in enumerate(inputs):
            base = value.name or f"input_{index}"
            if instance.path and base.startswith(instance.path + "."):
                base = base[len(instance.path) + 1:]
            placeholders.append(ir.Value(name=unique_name(base, names)))
        replacement = dict(zip(inputs, placeholders))
        for node in members:
            for inner in [node, *_nested_nodes(node)]:
                for position, read in enumerate(inner.inputs):
                    if read is not None and read in replacement:
                        inner.replace_input_with(position, replacement[read])
        for node in members:  # types and known values are the template's: other calls may differ
            for inner in [node, *_nested_nodes(node)]:
                for value in inner.outputs:
                    value.type, value.shape, value.const_value = None, None, None
        imports = {"": self.model.opset_imports.get("", 1)}
        for node in members:
            for inner in [node, *_nested_nodes(node)]:
                if inner.domain not in ("", "ai.onnx"):
                    imports[inner.domain] = self.model.opset_imports.get(inner.domain, _FUNCTION_DOMAIN_VERSION)
        body = ir.Graph(placeholders, results, nodes=members, opset_imports=imports, name=function.name)
        params = [ir.Attr(name, instance.slots[slot].type, None) for slot, name in function.params.items()]
        self.model.functions[(function.domain, function.name, "")] = ir.Function(
            function.domain, function.name, graph=body, attributes=params)

    def _detach(self, node: ir.Node) -> None:
        for inner in [node, *_nested_nodes(node)]:
            for position in range(len(inner.inputs)):
                inner.replace_input_with(position, None)


def extract(model: ir.Model, selection: ModuleSelection | None, module: Any = None) -> list[str]:
    """Turn the selected module classes of `model` into local functions, in place; returns the
    functions made (`domain::name`). `module` (the nn.Module) gives each class's Python module."""
    if selection is None:
        return []
    classes = {class_name(type(m)): type(m) for m in module.modules()} if isinstance(module, torch.nn.Module) else {}
    wiring = _Graph(model.graph)
    _adopt_constants(wiring)
    instances = _make_convex(wiring, _find_instances(wiring, selection))
    wiring = _Graph(model.graph)
    for instance in instances:
        _describe(wiring, instance)
    instances = [i for i in instances if i.used]
    instances.sort(key=lambda i: (-i.depth, wiring.position[i.members[0]]))
    functions = _group_functions(instances, classes)
    rewriter = _Rewriter(model, wiring)
    for instance in instances:
        rewriter.rewrite(instance)
    model.graph.sort()
    for function in functions:
        model.opset_imports.setdefault(function.domain, _FUNCTION_DOMAIN_VERSION)
    return [f"{f.domain}::{f.name}" for f in functions]
