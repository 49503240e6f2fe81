"""Tracing a ``torch.nn.Module`` into a DAG of layers: the machinery behind
:func:`offbench.dag_profiles.profile_dag`, whose docstring (and the module's) states the rules.

Imports torch when called; returns plain data (names, MACs, element counts, edges), so that
:mod:`offbench.dag_profiles` builds its profiles without a cycle of imports.
"""

from __future__ import annotations

import heapq
import math
import operator
import warnings
from typing import Any, NamedTuple

from .profiles import _counted_types, _import_torch


class Traced(NamedTuple):
    """A traced DAG: ``nodes`` as ``(name, macs, output_elements, ops)`` in a topological
    order, ``edges`` as sorted 0-based ``(u, v)``, the input's element count and shape."""

    nodes: list
    edges: tuple
    input_elements: int
    input_shape: tuple


def _arg(args: list, kwargs: dict, index: int, name: str):
    """A call's argument, given by position or by name (None when absent)."""
    return args[index] if len(args) > index else kwargs.get(name)


def _macs_of_module(module, inputs: list, kwargs: dict, output, nn) -> int | None:
    """MACs of a leaf module's call; None when it is not a kind that is counted."""
    conv, conv_t, _ = _counted_types(nn)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, conv):
        per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
        return output.numel() * per_output
    if isinstance(module, conv_t):
        return _arg(inputs, kwargs, 0, "input").numel() * (module.out_channels // module.groups) \
            * math.prod(module.kernel_size)
    if isinstance(module, nn.MultiheadAttention):
        query, key, value = (_arg(inputs, kwargs, i, k) for i, k in enumerate(("query", "key",
                                                                                "value")))
        key = query if key is None else key
        value = key if value is None else value
        e = module.embed_dim
        lq, ls = query.numel() // query.shape[-1], key.numel() // key.shape[-1]
        projections = lq * e * e + ls * key.shape[-1] * e + ls * value.shape[-1] * e
        batch = lq // query.shape[1 if module.batch_first else 0] if query.dim() == 3 else 1
        tokens_q, tokens_k = lq // batch, ls // batch
        return projections + 2 * batch * tokens_q * tokens_k * e + lq * e * e
    return None


def _macs_of_function(target, args: list, kwargs: dict, output) -> int | None:
    """MACs of a function or method call in the graph; None when it counts 0."""
    torch = _import_torch()
    F = torch.nn.functional
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    if target in (torch.matmul, operator.matmul, torch.bmm, torch.mm) \
            or name in ("matmul", "bmm", "mm", "__matmul__"):
        return output.numel() * _arg(args, kwargs, 0, "input").shape[-1]
    if target in (torch.addmm, torch.baddbmm) or name in ("addmm", "baddbmm"):
        second = _arg(args, kwargs, 1, "mat1" if name == "addmm" else "batch1")
        return output.numel() * second.shape[-1]
    if target is F.linear:
        return output.numel() * _arg(args, kwargs, 1, "weight").shape[-1]
    if target in (F.conv1d, F.conv2d, F.conv3d):
        return output.numel() * math.prod(_arg(args, kwargs, 1, "weight").shape[1:])
    if target is getattr(F, "scaled_dot_product_attention", None):
        q, k, v = (_arg(args, kwargs, i, x) for i, x in enumerate(("query", "key", "value")))
        rows = q.numel() // q.shape[-1]  # batch x heads x queries
        return rows * k.shape[-2] * (q.shape[-1] + v.shape[-1])  # q k^T, then attn v
    if target is torch.einsum or name == "einsum":
        warnings.warn("offbench.dag_profiles does not count the MACs of einsum: counted as 0.",
                      stacklevel=4)
    return None


def _flat_tensors(value, torch) -> list | None:
    """The tensors in a value (a tensor, or nested tuples and lists holding some, as an LSTM
    returns); None when there is none."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        found = [t for v in value for t in (_flat_tensors(v, torch) or ())]
        return found or None
    return None


def _op_name(node, taken: set[str]) -> str:
    """A readable, unique name for a traced operation: its module path and what it does."""
    if node.op == "call_module":
        base = str(node.target)
    else:
        stack = node.meta.get("nn_module_stack") or {}
        path = next(reversed(stack.values()))[0] if stack else ""
        what = node.target if isinstance(node.target, str) else \
            getattr(node.target, "__name__", str(node.target))
        base = f"{path}.{what}" if path else str(what)
    name, count = base, 0
    while name in taken:
        count += 1
        name = f"{base}_{count}"
    taken.add(name)
    return name


def _check_inputs(example_input, torch) -> tuple:
    inputs = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise TypeError(
            "The 'example_input' parameter must be a tensor (a batch of one sample, e.g. "
            "torch.zeros(1, 3, 224, 224)) or a tuple of tensors, one per argument of forward(). "
            f"Got {type(example_input).__name__}."
        )
    return tuple(inputs)


def _build_dag(graph_module, values, inputs, name, torch) -> Traced:
    nn = torch.nn
    nodes = list(graph_module.graph.nodes)
    index = {n: k for k, n in enumerate(nodes)}
    submodules = dict(graph_module.named_modules())
    _, _, no_macs = _counted_types(nn)

    # -- data nodes: tensors computed from the input; the MACs of each traced operation.
    data: set = set()
    macs: dict[Any, int] = {}
    computes: set = set()  # operations that are layers: they anchor a node
    warned: set[int] = set()
    output_node = None
    for n in nodes:
        if n.op == "placeholder":
            data.add(n)
            continue
        if n.op == "output":
            output_node = n
            continue
        value = values.get(n)
        if _flat_tensors(value, torch) is None or not any(m in data for m in n.all_input_nodes):
            continue
        data.add(n)
        args = [values.get(a) if isinstance(a, torch.fx.Node) else a for a in n.args]
        kwargs = {k: values.get(a) if isinstance(a, torch.fx.Node) else a
                  for k, a in n.kwargs.items()}
        count = None
        if n.op == "call_module":
            sub = submodules[n.target]
            count = _macs_of_module(sub, args, kwargs, value, nn)
            if count is None and not isinstance(sub, no_macs) \
                    and any(True for _ in sub.parameters()):
                computes.add(n)  # a layer of its own, even if its MACs are not counted
                if id(sub) not in warned:
                    warned.add(id(sub))
                    warnings.warn(f"{type(sub).__name__} ({n.target}) has parameters but "
                                  "offbench.dag_profiles counts the MACs of convolution, linear "
                                  "and attention layers and matrix products only: its work is "
                                  "counted as 0.", stacklevel=3)
        elif n.op in ("call_function", "call_method"):
            count = _macs_of_function(n.target, args, kwargs, value)
        macs[n] = int(count or 0)
        if macs[n]:
            computes.add(n)

    inputs_of = {n: [m for m in n.all_input_nodes if m in data] for n in data}
    exits = [m for m in output_node.all_input_nodes if m in data and m.op != "placeholder"]
    if not exits:
        raise ValueError(f"the output of {name} does not depend on its input: nothing to profile")
    live, stack = set(), list(exits)
    while stack:  # operations whose result reaches the output
        n = stack.pop()
        if n in live or n.op == "placeholder":
            continue
        live.add(n)
        stack.extend(inputs_of[n])
    ops = sorted(live, key=index.__getitem__)

    # -- groups: every live operation starts as its own; OUTPUT and INPUT are markers.
    OUTPUT, INPUT = "output", "input"
    group = {n: n for n in ops}  # operation -> its group's key (an operation)
    members = {n: [n] for n in ops}
    last = {n: n for n in ops}  # the operation whose result is the group's output
    gmacs = {n: macs[n] for n in ops}
    gcomputes = {n: n in computes for n in ops}
    preds: dict[Any, set] = {n: set() for n in ops}
    succs: dict[Any, set] = {n: set() for n in ops}
    for n in ops:
        for m in inputs_of[n]:
            source = INPUT if m.op == "placeholder" else m
            preds[n].add(source)
            if source is not INPUT:
                succs[m].add(n)
    for n in exits:
        succs[n].add(OUTPUT)

    def merge(into, gone) -> None:
        for p in preds.pop(gone):
            if p is not INPUT:
                succs[p].discard(gone)
                if p is not into:
                    succs[p].add(into)
            if p is not into:
                preds[into].add(p)
        for s in succs.pop(gone):
            if s is not OUTPUT:
                preds[s].discard(gone)
                if s is not into:
                    preds[s].add(into)
            if s is not into:
                succs[into].add(s)
        preds[into].discard(into)
        succs[into].discard(into)
        for m in members.pop(gone):
            group[m] = into
            members[into].append(m)
        gmacs[into] += gmacs.pop(gone)
        gcomputes[into] = gcomputes[into] or gcomputes.pop(gone)

    # Fused into the producer (forward, in execution order).
    for n in ops:
        if group[n] is not n or n in computes or len(preds[n]) != 1:
            continue
        (p,) = preds[n]
        if p is not INPUT and succs[p] == {n}:
            merge(p, n)
            last[p] = n
    # Fused into the consumer (backward), for what has 0 MACs, one input and one consumer.
    for n in reversed(ops):
        if group[n] is not n or gcomputes[n] or len(preds[n]) != 1 or len(succs[n]) != 1:
            continue
        (c,) = succs[n]
        if c is not OUTPUT:
            merge(c, n)

    keys = [n for n in ops if group[n] is n]
    in_elements = sum(t.numel() for t in inputs)
    if any(INPUT in preds[k] and len(preds[k]) > 1 for k in keys):  # the input: a node of its own
        preds[INPUT], succs[INPUT] = set(), {k for k in keys if INPUT in preds[k]}
        members[INPUT], gmacs[INPUT] = [], 0
        keys.insert(0, INPUT)
    else:
        for k in keys:
            preds[k].discard(INPUT)
    results = {}  # a result that other nodes read too: an exit node of 0 MACs returns it
    for k in list(keys):
        if OUTPUT in succs[k] and len(succs[k]) > 1:
            results[k] = ("result", k)
            succs[k].discard(OUTPUT)
            succs[k].add(results[k])
            preds[results[k]], succs[results[k]] = {k}, {OUTPUT}
            members[results[k]], gmacs[results[k]] = [], 0
            keys.append(results[k])

    # -- number the groups in a topological order, earliest first operation first.
    first = {k: (-1 if k is INPUT else len(index) if k in results.values()
                 else min(index[m] for m in members[k])) for k in keys}
    indeg = {k: len(preds[k]) for k in keys}
    rank = {k: r for r, k in enumerate(keys)}  # ties (results) in a fixed order
    ready = [(first[k], rank[k], k) for k in keys if indeg[k] == 0]
    heapq.heapify(ready)
    order: list = []
    while ready:
        _, _, k = heapq.heappop(ready)
        order.append(k)
        for s in succs[k]:
            if s is not OUTPUT:
                indeg[s] -= 1
                if indeg[s] == 0:
                    heapq.heappush(ready, (first[s], rank[s], s))
    if len(order) != len(keys):  # cannot happen: contracting such edges keeps a DAG acyclic
        raise RuntimeError(f"tracing {name} gave a cyclic graph")
    number = {k: v for v, k in enumerate(order)}

    taken: set[str] = set()
    op_names = {n: _op_name(n, taken) for n in ops}
    out_nodes: list[tuple[str, int, int, tuple[str, ...]]] = []
    for k in order:
        if k is INPUT:
            out_nodes.append(("input", 0, in_elements, ()))
            continue
        if k in results.values():
            source = out_nodes[number[k[1]]]
            out_nodes.append((source[0] + ".result", 0, source[2], ()))
            continue
        ms = sorted(members[k], key=index.__getitem__)
        anchor = next((m for m in ms if m in computes), None) \
            or next((m for m in ms if len(inputs_of[m]) > 1), ms[0])
        elements = sum(t.numel() for t in _flat_tensors(values[last[k]], torch))
        out_nodes.append((op_names[anchor], gmacs[k], elements, tuple(op_names[m] for m in ms)))
    edges = sorted((number[k], number[s]) for k in keys for s in succs[k] if s is not OUTPUT)
    shape = tuple(inputs[0].shape) if len(inputs) == 1 else (in_elements,)
    return Traced(out_nodes, tuple(edges), in_elements, shape)


def trace(module, example_input, name: str) -> Traced:
    """Trace ``module`` on ``example_input`` into a DAG of layers (see
    :func:`offbench.dag_profiles.profile_dag`, which validates the rest and documents the rules).
    """
    torch = _import_torch()
    nn, fx = torch.nn, torch.fx
    if not isinstance(module, nn.Module):
        raise TypeError(f"The 'module' parameter must be a torch.nn.Module. "
                        f"Got {type(module).__name__}.")
    inputs = _check_inputs(example_input, torch)
    try:
        graph_module = fx.symbolic_trace(module)
    except Exception as exc:  # torch.fx raises TraceError, TypeError, RuntimeError, ...
        raise TypeError(
            f"torch.fx cannot trace {type(module).__name__}: {exc}. A forward() whose control "
            "flow depends on tensor values cannot be traced symbolically; rewrite that part or "
            "make it a leaf module."
        ) from exc

    values: dict[Any, Any] = {}

    class _Recorder(fx.Interpreter):
        def run_node(self, n):
            result = super().run_node(n)
            values[n] = result
            return result

    modules = list({id(m): m for m in module.modules()}.values())
    training = [(m, m.training) for m in modules]
    try:
        for m in modules:
            m.train(False)
        with torch.no_grad():
            _Recorder(graph_module).run(*inputs)
    except Exception as exc:
        raise TypeError(f"{type(module).__name__} could not run on the example input: "
                        f"{exc}") from exc
    finally:
        for m, mode in training:
            m.training = mode

    return _build_dag(graph_module, values, inputs, name, torch)
