"""Jobs as graphs (SPEC.md section 7): read-only views and per-hop prices for solvers.

Every job, chain or DAG, is a directed acyclic graph of its nodes (a chain is the DAG with edges
``(j, j + 1)``, ``in_bits = bits[0]`` and ``out_bits[j - 1] = bits[j]``). This module gives
solvers what they need to reason about that graph without re-deriving the cost model:

* :func:`job_graph`: job ``i``'s nodes, edges, messages and sizes as a :class:`JobGraph`
  (0-based node numbers), with successors, predecessors, entry and exit nodes and a
  topological order (:func:`topological_order`);
* :func:`hop_costs`: the weighted cost (or time, or energy) of crossing each hop -- up, down,
  backhaul -- with some bits, for job ``i``'s device;
* :func:`compute_costs`: the weighted cost (or time, or energy) of each node on each tier.

The formulas are those of :mod:`offbench.cost` (:func:`offbench.cost.compute_te`,
:func:`offbench.cost.hop_te`), applied here to the arguments given, never re-written. Whole
decisions are priced by :func:`offbench.cost.evaluate` / :func:`offbench.cost.evaluate_many`,
and one-node moves by :func:`offbench.cost.move_delta` (O(degree) for a DAG node).

How a DAG job is priced (SPEC.md section 7): node ``v`` on tier ``a`` computes there; its
shared output (``out_bits[v]``) leaves ``a`` once and crosses each hop of the union of the paths
from ``a`` to its successors' tiers (and to the device if ``v`` is an exit node), which on the
line device - edge - cloud is the path from ``a`` down to the lowest of them plus the path up to
the highest; the input (``in_bits``) does the same from the device to the entry nodes' tiers;
an edge's own message travels from its tail's tier to its head's, on its own. Each hop crossed
costs its time and energy, latency included (also for 0 bits).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .cost import compute_te, hop_te
from .instance import Instance

__all__ = ["JobGraph", "job_graph", "topological_order", "hop_costs", "compute_costs", "HOPS"]

#: The hops of :func:`hop_costs`, in the order of its last axis.
HOPS = ("up", "down", "backhaul")


def _ro(a) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class JobGraph:
    """One job as a graph: read-only arrays, 0-based node numbers (file order).

    Attributes
    ----------
    device : int
    is_dag : bool
        False for a chain (its edges are then ``(j, j + 1)`` without messages).
    ops : float array (L,)
    src, dst : int64 arrays (E,)
        The edges, sorted by (src, dst).
    edge_bits : float array (E,)
        Each edge's own message (0 where it has none).
    edge_has_bits : bool array (E,)
        Whether the edge carries its own message (which pays latency even at 0 bits).
    in_bits : float
        The job's input, which starts on the device.
    out_bits : float array (L,)
        Each node's shared output.
    first_layer : int
        The node's index in the flat decision is ``first_layer + v``.
    """

    device: int
    is_dag: bool
    ops: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    edge_bits: np.ndarray
    edge_has_bits: np.ndarray
    in_bits: float
    out_bits: np.ndarray
    first_layer: int

    @property
    def n_nodes(self) -> int:
        return int(self.ops.size)

    @property
    def n_edges(self) -> int:
        return int(self.src.size)

    @functools.cached_property
    def _succ_ptr(self) -> np.ndarray:
        return _ro(np.searchsorted(self.src, np.arange(self.n_nodes + 1)))

    @functools.cached_property
    def _pred_order(self) -> np.ndarray:
        return _ro(np.lexsort((self.src, self.dst)))

    @functools.cached_property
    def _pred_ptr(self) -> np.ndarray:
        return _ro(np.searchsorted(self.dst[self._pred_order], np.arange(self.n_nodes + 1)))

    def succ(self, v: int) -> np.ndarray:
        """Successors of node ``v`` (ascending)."""
        p = self._succ_ptr
        return self.dst[p[v]:p[v + 1]]

    def pred(self, v: int) -> np.ndarray:
        """Predecessors of node ``v`` (ascending)."""
        p = self._pred_ptr
        return self.src[self._pred_order[p[v]:p[v + 1]]]

    def succ_edges(self, v: int) -> np.ndarray:
        """Indices (into ``src``/``dst``/``edge_bits``) of node ``v``'s out-edges."""
        p = self._succ_ptr
        return np.arange(p[v], p[v + 1])

    def pred_edges(self, v: int) -> np.ndarray:
        """Indices of node ``v``'s in-edges."""
        p = self._pred_ptr
        return self._pred_order[p[v]:p[v + 1]]

    @functools.cached_property
    def entries(self) -> np.ndarray:
        """Entry nodes (no predecessor): they consume the input."""
        return _ro(np.flatnonzero(np.bincount(self.dst, minlength=self.n_nodes) == 0))

    @functools.cached_property
    def exits(self) -> np.ndarray:
        """Exit nodes (no successor): their outputs must end on the device."""
        return _ro(np.flatnonzero(np.diff(self._succ_ptr) == 0))

    def topo_order(self) -> np.ndarray:
        """A topological order (Kahn's algorithm, the smallest ready node first): file order
        for a chain, and for any DAG whose edges go from lower to higher numbers."""
        import heapq

        indeg = np.bincount(self.dst, minlength=self.n_nodes).tolist()
        ready = [v for v in range(self.n_nodes) if indeg[v] == 0]
        heapq.heapify(ready)
        out = []
        p = self._succ_ptr.tolist()
        dst = self.dst.tolist()
        while ready:
            v = heapq.heappop(ready)
            out.append(v)
            for e in range(p[v], p[v + 1]):
                w = dst[e]
                indeg[w] -= 1
                if indeg[w] == 0:
                    heapq.heappush(ready, w)
        return _ro(np.array(out, dtype=np.int64))


def job_graph(inst: Instance, i: int) -> JobGraph:
    """Job ``i`` of ``inst`` as a :class:`JobGraph` (chains too)."""
    i = int(i)
    if not 0 <= i < inst.n_jobs:
        raise IndexError(f"job {i} out of range (the instance has {inst.n_jobs} jobs)")
    bits = inst.job_bits(i)
    L = int(inst.layers_per_job[i])
    if inst.job_is_dag_at(i):
        e0, e1 = int(inst.edge_offsets[i]), int(inst.edge_offsets[i + 1])
        src, dst = inst.edge_src[e0:e1], inst.edge_dst[e0:e1]
        eb, eh = inst.edge_bits[e0:e1], inst.edge_has_bits[e0:e1]
    else:
        src = np.arange(L - 1, dtype=np.int64)
        dst = src + 1
        eb, eh = np.zeros(L - 1), np.zeros(L - 1, dtype=bool)
    return JobGraph(device=int(inst.job_device[i]), is_dag=inst.job_is_dag_at(i),
                    ops=_ro(inst.job_ops(i)), src=_ro(src), dst=_ro(dst), edge_bits=_ro(eb),
                    edge_has_bits=_ro(eh), in_bits=float(bits[0]), out_bits=_ro(bits[1:]),
                    first_layer=int(inst.layer_offsets[i]))


def topological_order(inst: Instance, i: int) -> np.ndarray:
    """Job ``i``'s nodes in a topological order (:meth:`JobGraph.topo_order`)."""
    return job_graph(inst, i).topo_order()


def _weighted(inst: Instance, i: int, t, e, what: str):
    if what == "time":
        return t
    if what == "energy":
        return e
    if what == "cost":
        return inst.job_weight[i] * (inst.w_time * t + inst.w_energy * e)
    raise ValueError(f"what must be 'cost', 'time' or 'energy', got {what!r}")


def hop_costs(inst: Instance, i: int, bits, what: str = "cost") -> np.ndarray:
    """What crossing each hop with ``bits`` costs job ``i``: shape ``np.shape(bits) + (3,)``,
    the last axis :data:`HOPS` (up, down, backhaul; the device link's hops are job ``i``'s
    device's). ``what``: ``"cost"`` (``weight_i * (w.time * time + w.energy * energy)``),
    ``"time"`` or ``"energy"``. A hop's latency counts also at 0 bits.

    A transfer from tier ``a`` to tier ``z`` costs the sum over the hops of its path (0 -> 2:
    up then backhaul; 2 -> 0: backhaul then down); a shared output from ``a`` to a set of
    tiers, the sum over the union of those paths (see the module docstring)."""
    b = np.asarray(bits, dtype=np.float64)
    d = np.full(b.shape, int(inst.job_device[i]), dtype=np.int64)
    out = np.empty(b.shape + (3,))
    for h, (t, e) in enumerate(hop_te(inst, d, b)):
        out[..., h] = _weighted(inst, i, t, e, what)
    return out


def compute_costs(inst: Instance, i: int, what: str = "cost") -> np.ndarray:
    """Job ``i``'s compute per node and tier, shape ``(L, 3)`` (device, edge, cloud):
    ``"cost"`` (weighted as in :func:`hop_costs`), ``"time"`` or ``"energy"``."""
    c = inst.job_ops(i)
    d = np.full(c.shape, int(inst.job_device[i]), dtype=np.int64)
    t, e = compute_te(inst, d, c)
    return _weighted(inst, i, t, e, what)


def random_dag_instance(seed: int, *, n_devices: int = 2, n_jobs: int = 2,
                        nodes: tuple[int, int] = (2, 5), capacities: bool = False,
                        deadlines: bool = False, edge_prob: float = 0.5,
                        message_prob: float = 0.25, zero_fraction: float = 0.1,
                        name: str | None = None) -> Instance:
    """A small random instance whose jobs are random DAGs (for tests and ``check_solver``).

    The system, ops, sizes, capacities and deadlines are those of
    :func:`offbench.generators.random_instance` with the same arguments; each job's nodes are
    then wired at random: every pair ``u < v`` is an edge with probability ``edge_prob`` (so
    some jobs have several entry or exit nodes, shared outputs and skip edges), and each edge
    carries its own message with probability ``message_prob`` (of 0 bits a quarter of the
    time, which still pays latency). A job whose draw is the plain chain is stored as a chain.
    ``seed`` is the only source of randomness."""
    from .generators import STREAM_WIRING, random_instance, seed_stream

    base = random_instance(seed, n_devices=n_devices, n_jobs=n_jobs, layers=nodes,
                           capacities=capacities, deadlines=deadlines,
                           zero_fraction=zero_fraction, name=name)
    rng = seed_stream(seed, STREAM_WIRING)
    d = base.to_dict()
    d["version"] = 2
    for job in d["jobs"]:
        bits = job.pop("bits")
        L = len(job["ops"])
        scale = max(bits) if max(bits) > 0 else 1e6
        edges = []
        for u in range(1, L + 1):
            for v in range(u + 1, L + 1):
                if rng.random() < edge_prob:
                    if rng.random() < message_prob:
                        b = 0.0 if rng.random() < 0.25 else float(rng.uniform(0, scale))
                        edges.append([u, v, b])
                    else:
                        edges.append([u, v])
        rng.shuffle(edges)
        job["edges"] = edges
        job["in_bits"] = bits[0]
        job["out_bits"] = bits[1:]
    return Instance.from_dict(d)
