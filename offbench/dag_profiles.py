"""Per-layer DAG profiles of real DNNs, traced with ``torch.fx``: the jobs of SPEC.md section 7.

A *DAG profile* is a DNN as a directed acyclic graph of layers: for each node its name, the
multiply-accumulates it does and the size of its output tensor; the edges (``u -> v``: v consumes
u's output); and the size of the model's input. It is a version-2 job (SPEC.md section 7) once
its MACs are turned into FLOPs (:meth:`DagProfile.to_job`). Profiles come from two places:

* a table shipped with offbench (``offbench/data/dag_profiles.json``), read without torch by
  :func:`load_dag_profile`, for the built-in models ``resnet18``, ``mobilenet_v2``,
  ``googlenet``, ``vit_b_16`` and ``vit_ti_16`` (:mod:`offbench._dag_models`; 3x224x224 input);
* tracing with torch (imported only then): :func:`profile_dag` for a ``torch.nn.Module`` of your
  own, ``get_dag_profile(name, live=True)`` for a built-in one. ``python -m
  offbench.dag_profiles`` rewrites the table; the test suite checks that tracing reproduces it.

How a traced graph becomes a DAG of layers
------------------------------------------
``torch.fx.symbolic_trace`` gives the operations of ``forward`` with their data dependencies; the
model runs once through ``torch.fx.Interpreter`` (built-in models on torch's ``meta`` device: no
weights, no arithmetic) to learn every tensor's size. Then:

* **What counts.** MACs as in :mod:`offbench.profiles` (convolution and linear layers), plus the
  matrix products of the graph (``matmul``, ``bmm``, ``mm``, ``@``: output elements times the
  inner dimension; attention's ``q k^T`` and ``attn v`` are such products and count in the
  published ViT figures), ``F.linear``, ``F.conv*d``, ``F.scaled_dot_product_attention`` and
  ``nn.MultiheadAttention`` (its projections and products). Everything else counts 0; a module
  with parameters that is none of these, or an ``einsum``, is warned about.
* **Data only.** Only operations whose result is a tensor computed from the input are data: a
  parameter (a class token, a positional embedding) and what is computed from parameters alone
  are weights, and shapes (``x.shape[0]``) are metadata; neither makes an edge. Operations whose
  result does not reach the model's output are dropped.
* **Fused into the producer.** An operation of 0 MACs with one data input whose producer has no
  other consumer (batch norm, activation, pooling, flatten, reshape, transpose, softmax, a
  residual join's ReLU) is fused into that producer: the node's output is the last such tensor.
  That is how such operations are deployed, and a cut between a convolution and its ReLU would
  only repeat the same tensor, so the pooled (smaller) tensor is what leaves a convolution
  followed by pooling.
* **Joins are nodes of their own.** An operation of 0 MACs with several data inputs (a residual
  addition, a concatenation of Inception branches) is a node of 0 MACs. Merging it into one of
  its producers would force the join onto that producer's tier; as a node of its own a solver
  may join where it is cheapest (a residual addition on the device, after the branch returns).
* **Fused into the consumer.** An operation of 0 MACs with one data input whose producer has
  other consumers too, and with one consumer itself (the max pooling that opens an Inception
  module's fourth branch, a transformer's second layer norm), is fused into that consumer, which
  then reads the producer's output: the same tensor size travels.
* What is left of 0 MACs with one input and several consumers (a transformer's first layer norm,
  read by the three projections ``q``, ``k``, ``v``) stays a node of 0 MACs.

A node's name is the module path of its operation that computes (``layer1.0.conv1.0``), or of
its first operation; :attr:`DagNode.ops` lists every traced operation fused into it. Nodes are
numbered in execution order (a topological order: the order of ``forward``). The model's input
goes to the entry nodes (no predecessor); when it is also read by a node with predecessors, a
node ``input`` of 0 MACs whose output is the input is added as the single entry. With several
inputs (``forward(a, b)``), their sizes add up to one input. Every exit node's output returns to
the device (SPEC.md section 7); a result that other nodes also read gets an exit node
``<name>.result`` of 0 MACs that returns it.

``out_bits`` of a node is its output tensor's element count times ``bits_per_element`` (32 for
float32); ``input_bits`` is the input's. Instances carry FLOPs = 2 x MACs, as for chains.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .profiles import (CONVENTION, DEFAULT_BITS_PER_ELEMENT, LayerProfile, _Work,
                       _check_bits_per_element, _import_torch, _name_key, _read_shipped_table,
                       _resolve_name, _write_table_text)

__all__ = [
    "DAG_CONVENTION", "DagNode", "DagProfile", "dag_models", "resolve_dag_model",
    "load_dag_profile", "get_dag_profile", "profile_dag", "build_dag_table", "write_dag_table",
]

#: How the ``macs`` of a DAG profile are counted.
DAG_CONVENTION = (CONVENTION.replace("convolution and linear layers",
                                     "convolution and linear layers and matrix products"))

TABLE_FORMAT = "offbench-dag-profiles"
TABLE_VERSION = 1
_TABLE_FILE = "dag_profiles.json"


@dataclass(frozen=True)
class _Builtin:
    title: str
    input_shape: tuple[int, ...] = (3, 224, 224)


_BUILTINS = {
    "resnet18": _Builtin("ResNet-18"),
    "mobilenet_v2": _Builtin("MobileNetV2 (width 1.0)"),
    "googlenet": _Builtin("GoogLeNet (torchvision variant, inference)"),
    "vit_b_16": _Builtin("ViT-B/16"),
    "vit_ti_16": _Builtin("ViT-Ti/16 (DeiT-Ti)"),
}
_KEYS = {_name_key(name): name for name in _BUILTINS}


@dataclass(frozen=True)
class DagNode(LayerProfile):
    """One node (layer) of a DAG profile: a :class:`~offbench.profiles.LayerProfile` with the
    operations fused into it.

    Attributes
    ----------
    name : str
        Module path of its computing operation (``"layer1.0.conv1.0"``).
    macs : int
        Multiply-accumulates, per sample.
    output_elements : int
        Elements of its output tensor.
    output_bits : int
        ``output_elements * bits_per_element``.
    ops : tuple of str
        The traced operations fused into it, in execution order.
    """

    ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class DagProfile(_Work):
    """A DNN as a DAG of layers with their work and output sizes (``macs``, ``flops``, ``ops``
    and the totals as for a chain, per node).

    Attributes
    ----------
    model : str
    input_shape : tuple of int
        Shape of the example input (built-in models: one sample, ``(3, 224, 224)``).
    bits_per_element : int
    input_bits : int
        Size of the model's input.
    nodes : tuple of DagNode
        In execution order (a topological order).
    edges : tuple of (int, int)
        ``(u, v)``, 0-based: v consumes u's output; sorted.
    """

    model: str
    input_shape: tuple[int, ...]
    bits_per_element: int
    input_bits: int
    nodes: tuple[DagNode, ...]
    edges: tuple[tuple[int, int], ...]

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def _units(self) -> tuple[DagNode, ...]:
        return self.nodes

    @property
    def out_bits(self) -> tuple[int, ...]:
        """A job's ``out_bits``: each node's output size."""
        return tuple(node.output_bits for node in self.nodes)

    def predecessors(self, v: int) -> tuple[int, ...]:
        """Nodes whose output node ``v`` consumes (0-based)."""
        return tuple(u for u, w in self.edges if w == v)

    @property
    def entries(self) -> tuple[int, ...]:
        """Nodes without a predecessor: they read the input."""
        has_pred = {v for _, v in self.edges}
        return tuple(v for v in range(self.n_nodes) if v not in has_pred)

    @property
    def exits(self) -> tuple[int, ...]:
        """Nodes without a successor: their outputs are the model's results."""
        has_succ = {u for u, _ in self.edges}
        return tuple(v for v in range(self.n_nodes) if v not in has_succ)

    def to_job(self, *, device: int = 0, input_bits: float | None = None,
               weight: float = 1.0, deadline: float | None = None) -> dict[str, Any]:
        """The profile as one job of a version-2 instance (SPEC.md section 7).

        Parameters
        ----------
        device : int
            The job's device.
        input_bits : float, optional
            The input's size when it is sent otherwise than as the traced tensor (a compressed
            image, say); by default :attr:`input_bits`.
        weight : float
        deadline : float, optional
            None: no deadline.

        Returns
        -------
        dict
            ``{"device", "ops", "edges", "in_bits", "out_bits", "weight"[, "deadline"]}`` with
            1-based ``edges``, ops in FLOPs; ``Instance.from_dict`` reads it inside ``"jobs"``.
        """
        job: dict[str, Any] = {
            "device": int(device),
            "ops": [float(f) for f in self.ops],
            "edges": [[u + 1, v + 1] for u, v in self.edges],
            "in_bits": float(self.input_bits if input_bits is None else input_bits),
            "out_bits": [float(b) for b in self.out_bits],
            "weight": float(weight),
        }
        if deadline is not None and math.isfinite(deadline):
            job["deadline"] = float(deadline)
        return job

    def to_dict(self) -> dict[str, Any]:
        """The profile as ``offbench profile MODEL --dag --json`` prints it.

        Returns
        -------
        dict
            ``{"model", "convention", "total_macs", "input_shape", "bits_per_element",
            "input_bits", "nodes": [{"id", "name", "macs", "output_bits", "ops"}, ...],
            "edges": [[u, v], ...]}``; ``id`` and ``edges`` are 1-based, as in an instance file.
        """
        return {
            "model": self.model,
            "convention": DAG_CONVENTION,
            "total_macs": self.total_macs,
            "input_shape": list(self.input_shape),
            "bits_per_element": self.bits_per_element,
            "input_bits": self.input_bits,
            "nodes": [{"id": k + 1, "name": n.name, "macs": n.macs, "output_bits": n.output_bits,
                       "ops": list(n.ops)} for k, n in enumerate(self.nodes)],
            "edges": [[u + 1, v + 1] for u, v in self.edges],
        }


# --------------------------------------------------------------------------------------------
# Names and the shipped table (no torch)


def dag_models() -> tuple[str, ...]:
    """Names of the built-in DAG models, sorted."""
    return tuple(sorted(_BUILTINS))


def resolve_dag_model(name: str) -> str:
    """The canonical name of a built-in DAG model, forgiving case, dashes and underscores.

    Raises
    ------
    UnknownModelError
        With the closest names ("did you mean ...").
    """
    return _resolve_name(name, _KEYS, dag_models(), "DAG model")


@functools.lru_cache(maxsize=1)
def _read_table() -> dict[str, Any]:
    return _read_shipped_table(_TABLE_FILE, TABLE_FORMAT, TABLE_VERSION, "offbench.dag_profiles")


def load_dag_profile(name: str, *,
                     bits_per_element: int = DEFAULT_BITS_PER_ELEMENT) -> DagProfile:
    """The DAG profile of a built-in model, read from the shipped table (torch is not needed).

    Parameters
    ----------
    name : str
        A built-in DAG model (:func:`dag_models`); case, dashes and underscores are forgiven.
    bits_per_element : int
        Bits per tensor element of the transferred outputs (32 for float32).

    Returns
    -------
    DagProfile

    Examples
    --------
    >>> p = load_dag_profile("resnet18")
    >>> p.n_nodes, len(p.edges), p.total_macs
    (29, 36, 1814073344)
    """
    model = resolve_dag_model(name)
    _check_bits_per_element(bits_per_element)
    entry = _read_table()["models"][model]
    nodes = tuple(DagNode(n["name"], n["macs"], n["output_elements"],
                          n["output_elements"] * bits_per_element, tuple(n["ops"]))
                  for n in entry["nodes"])
    return DagProfile(model, tuple(entry["input_shape"]), bits_per_element,
                      entry["input_elements"] * bits_per_element, nodes,
                      tuple((u - 1, v - 1) for u, v in entry["edges"]))


def get_dag_profile(name: str, *, bits_per_element: int = DEFAULT_BITS_PER_ELEMENT,
                    live: bool = False) -> DagProfile:
    """The DAG profile of a built-in model: from the shipped table, or traced live with torch.

    Parameters
    ----------
    name : str
        A built-in DAG model (:func:`dag_models`).
    bits_per_element : int
    live : bool
        Build the model on torch's ``meta`` device and trace it instead of reading the table
        (needs torch).

    Returns
    -------
    DagProfile

    Raises
    ------
    UnknownModelError
        When ``name`` is not a built-in DAG model; the message names the closest ones.
    """
    if not live:
        return load_dag_profile(name, bits_per_element=bits_per_element)
    model = resolve_dag_model(name)
    torch = _import_torch()
    from . import _dag_models

    shape = _BUILTINS[model].input_shape
    with torch.device("meta"):
        module = _dag_models.BUILDERS[model]()
        example = torch.zeros((1, *shape))
    profile = profile_dag(module, example, bits_per_element=bits_per_element, name=model)
    return DagProfile(model, shape, profile.bits_per_element, profile.input_bits, profile.nodes,
                      profile.edges)


def profile_dag(module, example_input, *, bits_per_element: int = DEFAULT_BITS_PER_ELEMENT,
                name: str = "model") -> DagProfile:
    """Trace a ``torch.nn.Module`` with ``torch.fx`` into a DAG of layers (see the module
    docstring for what becomes a node).

    A module with parameters whose MACs are not counted (an LSTM) is a node of its own, of 0
    MACs, with a warning. The module runs once on ``example_input`` through
    ``torch.fx.Interpreter``, in eval mode and without gradients (the modules' training flags
    are restored afterwards). Build the module and the input on torch's ``meta`` device to
    compute nothing.

    Parameters
    ----------
    module : torch.nn.Module
        Its ``forward`` must be traceable by ``torch.fx.symbolic_trace`` (no control flow that
        depends on tensor values).
    example_input : Tensor or tuple of Tensor
        The input, a batch of one for per-sample figures; a tuple for several arguments.
    bits_per_element : int
        Bits per tensor element of the transferred outputs (32 for float32).
    name : str
        The model's name in the profile.

    Returns
    -------
    DagProfile

    Raises
    ------
    TypeError
        When ``module`` is not a module, ``example_input`` is not tensors, or tracing fails.
    ValueError
        When the module's output does not depend on its input.

    Warns
    -----
    UserWarning
        For modules with parameters (and ``einsum`` calls) whose MACs are not counted.

    Examples
    --------
    >>> import torch  # doctest: +SKIP
    >>> class Block(torch.nn.Module):  # doctest: +SKIP
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.a, self.b = torch.nn.Conv2d(3, 8, 1), torch.nn.Conv2d(3, 8, 1)
    ...     def forward(self, x):
    ...         return self.a(x) + self.b(x)
    >>> p = profile_dag(Block(), torch.zeros(1, 3, 4, 4))  # doctest: +SKIP
    >>> [n.name for n in p.nodes], p.edges, p.macs  # doctest: +SKIP
    (['a', 'b', 'add'], ((0, 2), (1, 2)), (384, 384, 0))
    """
    from . import _dag_trace

    _check_bits_per_element(bits_per_element)
    traced = _dag_trace.trace(module, example_input, str(name))
    nodes = tuple(DagNode(node_name, macs, elements, elements * bits_per_element, tuple(ops))
                  for node_name, macs, elements, ops in traced.nodes)
    return DagProfile(str(name), traced.input_shape, bits_per_element,
                      traced.input_elements * bits_per_element, nodes, traced.edges)


# --------------------------------------------------------------------------------------------
# Writing the table

#: Published MACs (G) at 3x224x224: torchvision's model table ("GFLOPS" there counts multiply-
#: adds, attention's products included); ViT-Ti/16: DeiT-Ti in Touvron et al. 2021, Table 1 (1.3,
#: given to one decimal; the traced count is 1.254).
PUBLISHED_GMACS = {"resnet18": 1.81, "mobilenet_v2": 0.30, "googlenet": 1.50, "vit_b_16": 17.56,
                   "vit_ti_16": 1.3}


def build_dag_table() -> dict[str, Any]:
    """Trace every built-in DAG model live: the content of ``offbench/data/dag_profiles.json``."""
    models: dict[str, Any] = {}
    for model, spec in _BUILTINS.items():
        profile = get_dag_profile(model, live=True)
        models[model] = {
            "title": spec.title,
            "input_shape": list(spec.input_shape),
            "input_elements": math.prod(spec.input_shape),
            "total_macs": profile.total_macs,
            "published_gmacs": PUBLISHED_GMACS[model],
            "nodes": [{"name": n.name, "macs": n.macs, "output_elements": n.output_elements,
                       "ops": list(n.ops)} for n in profile.nodes],
            "edges": [[u + 1, v + 1] for u, v in profile.edges],
        }
    return {
        "format": TABLE_FORMAT,
        "version": TABLE_VERSION,
        "generated_by": "python -m offbench.dag_profiles",
        "convention": DAG_CONVENTION,
        "edges": "1-based [u, v]: node v consumes node u's output",
        "models": models,
    }


def dag_table_text(table: dict[str, Any]) -> str:
    """The table as JSON text: indented, each node on one line, the edges of a model on one."""
    text = json.dumps(table, indent=2)
    node = r"\{\s*\"name\"[^{}]*?\"ops\": \[[^\[\]]*\]\s*\}"
    text = re.sub(node, lambda m: json.dumps(json.loads(m.group())), text)
    edges = r"\"edges\": \[\s*(\[[^\[\]]*\],?\s*)*\]"
    return re.sub(edges, lambda m: json.dumps(json.loads("{" + m.group() + "}"))[1:-1], text) + "\n"


def write_dag_table(path: str | Path | None = None) -> Path:
    """Trace the built-in DAG models (needs torch) and write the table."""
    target = _write_table_text(path, _TABLE_FILE, dag_table_text(build_dag_table()))
    _read_table.cache_clear()
    return target


if __name__ == "__main__":
    written = write_dag_table()
    for model_name in dag_models():
        p = load_dag_profile(model_name)
        print(f"{model_name:<13} {p.total_macs / 1e9:7.3f} GMAC (published "
              f"{PUBLISHED_GMACS[model_name]:5.2f})  {p.n_nodes:4d} nodes  {len(p.edges):4d} edges")
    print(f"wrote {written}")
