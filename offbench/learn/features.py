"""What a learner may observe of a frame, as numbers a network can take.

A frame is an :class:`~offbench.instance.Instance`; a learner sees all of it and nothing else
(never the reference, the optimum or another solver's decision). Its numbers span twenty orders
of magnitude (ops in the billions, energies per op around 1e-10), so every physical quantity
``q >= 0`` is normalized in **one way**::

    feature = log1p(q / SCALES[unit])

with one fixed scale per unit (:data:`SCALES`): ``q`` at the scale gives ``log(2) ~ 0.69``, zero
gives 0, ten times the scale ``~2.4``; the map is monotone, defined at 0, and the same for every
frame, family and solver (no per-stream statistics, so a frame's features never depend on the
frames seen before). Weights and counts are dimensionless (scale 1). A quantity that may be
absent (a capacity, a deadline: ``inf`` in the arrays) becomes two features: a 0/1 flag "is
there one" and the normalized value (0 when there is none). Flags and positions are in [0, 1].

The features, in order (``*_NAMES`` list them):

* **global** (:data:`GLOBAL_NAMES`, one vector per frame): the cost weights, edge and cloud
  speed, energy per op and capacity (flag, value), the backhaul's rate, latency and energy per
  bit, the frame's total ops, and the fraction of jobs that are active (weight > 0 and some ops:
  a switched-off device's job is neither).
* **device** (:data:`DEVICE_NAMES`, one row per device): speed, compute/transmit/receive power,
  up/down rate, latency.
* **job** (:data:`JOB_NAMES`, one row per job): its device's row, then its total ops, input
  bits, result bits, weight, deadline (flag, value), layer count and whether it is active.
* **layer** (:data:`LAYER_NAMES`, one row per layer): its ops, the data into it and out of it,
  its position in the job (0 for the first layer, 1 for the last), first/last flags, then its
  **predecessors'** ops, the data into them, and their count.

**Jobs as graphs** (SPEC.md section 7). A layer row describes the node in its job's graph, so
that one width serves chains and DAGs, and a chain's row is bitwise what the chain reading
gives (a chain is the DAG with edges ``(j, j + 1)`` and no messages):

==================  ====================================================  ======================
column              a node of a DAG job                                   on a chain
==================  ====================================================  ======================
``ops``             its ops                                               the layer's ops
``bits_in``         the data flowing in: the job's input for an entry      the boundary before it
                    node, else the sum of its predecessors' shared
                    outputs and its in-edges' own messages
``bits_out``        its shared output plus its out-edges' own messages    the boundary after it
``position``        its place in the job's topological order              its place in the job
                    (:meth:`offbench.dag.JobGraph.topo_order`), in [0, 1]
``is_first``        an entry node (no predecessor)                        the first layer
``is_last``         an exit node (its output ends on the device)          the last layer
``pred_ops``        the sum of its predecessors' ops                      the previous layer's
``pred_bits_in``    the sum of the data flowing into its predecessors     the previous layer's
``preds``           ``log2(1 + in-degree)``                               0 or 1 (has one)
==================  ====================================================  ======================

Sums are taken of the raw quantities and then normalized (``log1p(sum / scale)``), so a single
predecessor gives exactly its own value. The in-degree is a count, normalized as
``log2(1 + k)`` (so that one predecessor gives 1, a chain's flag). The job's ``out_bits``
column is the sum of its exit nodes' outputs (a chain's last boundary).

:func:`frame_vector` is the one flat vector per frame: global, then every job row, then every
layer's own features (first six columns), in file order; its length depends only on the
structure (devices, jobs, layers per job, and the jobs' edges), which a stream keeps fixed
(:func:`same_structure`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..instance import Instance

#: The scale of each unit (see the module docstring): ``feature = log1p(q / scale)``.
SCALES = {
    "ops": 1e9,          # operations (a DNN layer: 1e7 to 1e10)
    "ops/s": 1e10,       # processor speed
    "bits": 1e6,         # data
    "bit/s": 1e7,        # link rate
    "s": 1e-2,           # latency, deadline
    "W": 1.0,            # power
    "J/op": 1e-9,        # server energy per operation
    "J/bit": 1e-9,       # backhaul energy per bit
    "1": 1.0,            # weights and counts
}

GLOBAL_NAMES = ("w_time", "w_energy", "w_tardiness", "edge_speed", "edge_energy_per_op",
                "edge_has_capacity", "edge_capacity", "cloud_speed", "cloud_energy_per_op",
                "cloud_has_capacity", "cloud_capacity", "backhaul_rate", "backhaul_latency",
                "backhaul_energy_per_bit", "total_ops", "active_jobs")
DEVICE_NAMES = ("speed", "power_compute", "power_tx", "power_rx", "rate_up", "rate_down", "latency")
JOB_NAMES = tuple(f"device_{n}" for n in DEVICE_NAMES) + (
    "ops", "in_bits", "out_bits", "weight", "has_deadline", "deadline", "n_layers", "active")
LAYER_NAMES = ("ops", "bits_in", "bits_out", "position", "is_first", "is_last",
               "pred_ops", "pred_bits_in", "preds")
#: Columns of a layer row that describe the layer itself (what :func:`frame_vector` keeps).
LAYER_OWN = 6


def _n(q, unit: str) -> np.ndarray:
    return np.log1p(np.asarray(q, dtype=np.float64) / SCALES[unit])


def _opt(q, unit: str) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(q, dtype=np.float64)
    has = np.isfinite(q)
    return has.astype(np.float64), np.where(has, _n(np.where(has, q, 0.0), unit), 0.0)


def _active(inst: Instance) -> np.ndarray:
    job_ops = np.add.reduceat(inst.ops, inst.layer_offsets[:-1])
    return (inst.job_weight > 0) & (job_ops > 0)


def global_features(inst: Instance) -> np.ndarray:
    """The frame-wide features (:data:`GLOBAL_NAMES`), float64."""
    eh, ec = _opt(inst.edge_capacity, "ops")
    ch, cc = _opt(inst.cloud_capacity, "ops")
    return np.array([
        _n(inst.w_time, "1"), _n(inst.w_energy, "1"), _n(inst.w_tardiness, "1"),
        _n(inst.edge_speed, "ops/s"), _n(inst.edge_energy_per_op, "J/op"), eh, ec,
        _n(inst.cloud_speed, "ops/s"), _n(inst.cloud_energy_per_op, "J/op"), ch, cc,
        _n(inst.backhaul_rate, "bit/s"), _n(inst.backhaul_latency, "s"),
        _n(inst.backhaul_energy_per_bit, "J/bit"), _n(inst.ops.sum(), "ops"),
        float(_active(inst).mean()),
    ], dtype=np.float64)


def device_features(inst: Instance) -> np.ndarray:
    """One row per device (:data:`DEVICE_NAMES`), float64 ``(n_devices, 7)``."""
    return np.column_stack([
        _n(inst.dev_speed, "ops/s"), _n(inst.dev_power_compute, "W"), _n(inst.dev_power_tx, "W"),
        _n(inst.dev_power_rx, "W"), _n(inst.dev_rate_up, "bit/s"), _n(inst.dev_rate_down, "bit/s"),
        _n(inst.dev_latency, "s"),
    ])


def job_features(inst: Instance) -> np.ndarray:
    """One row per job (:data:`JOB_NAMES`), float64 ``(n_jobs, 15)``."""
    off = inst.layer_offsets
    nj = inst.n_jobs
    first_b = off[:-1] + np.arange(nj)
    last_b = off[1:] + np.arange(nj)
    dh, dv = _opt(inst.deadline, "s")
    result = inst.bits[last_b]
    if inst.is_dag:  # a DAG job's results: the sum of its exit nodes' outputs
        g = _graph(inst)
        result = result.copy()
        dag = g.dag_job
        result[dag] = np.bincount(inst.layer_job[g.exit], weights=inst.out_bits[g.exit],
                                  minlength=nj)[dag]
    return np.column_stack([
        device_features(inst)[inst.job_device],
        _n(np.add.reduceat(inst.ops, off[:-1]), "ops"), _n(inst.bits[first_b], "bits"),
        _n(result, "bits"), _n(inst.job_weight, "1"), dh, dv,
        _n(np.diff(off), "1"), _active(inst).astype(np.float64),
    ])


def layer_features(inst: Instance) -> np.ndarray:
    """One row per layer (:data:`LAYER_NAMES`), float64 ``(n_layers, 9)``; a layer's row holds
    its predecessors' features (zeros for an entry: a chain's first layer). A DAG job's nodes are
    described in their graph (see "Jobs as graphs" in the module docstring)."""
    off = inst.layer_offsets
    lj = inst.layer_job
    nl = inst.n_layers
    idx = np.arange(nl)
    start = off[lj]
    length = np.diff(off)[lj]
    b_in = idx + lj
    ops = _n(inst.ops, "ops")
    bin_ = _n(inst.bits[b_in], "bits")
    bout = _n(inst.bits[b_in + 1], "bits")
    first = idx == start
    last = idx == off[lj + 1] - 1
    pos = np.where(length > 1, (idx - start) / np.maximum(length - 1, 1), 0.0)
    has_pred = ~first
    prev = np.maximum(idx - 1, 0)
    rows = np.column_stack([
        ops, bin_, bout, pos, first.astype(np.float64), last.astype(np.float64),
        np.where(has_pred, ops[prev], 0.0), np.where(has_pred, bin_[prev], 0.0),
        has_pred.astype(np.float64),
    ])
    if inst.is_dag:
        _dag_rows(inst, rows)
    return rows


@dataclass(frozen=True, eq=False)
class _Graph:
    """The graph of a frame's DAG jobs in global layer numbers (a stream's frames share it)."""

    dag_job: np.ndarray     # (n_jobs,) bool
    nodes: np.ndarray       # the layers of DAG jobs
    src: np.ndarray         # edges of DAG jobs, global layer numbers
    dst: np.ndarray
    indeg: np.ndarray       # (n_layers,) in-degree (0 outside DAG jobs)
    entry: np.ndarray       # DAG-job layers without a predecessor
    exit: np.ndarray        # DAG-job layers without a successor
    position: np.ndarray    # (n_layers,) place in the job's topological order, in [0, 1]


_GRAPHS: dict = {}


def _graph(inst: Instance) -> _Graph:
    """The :class:`_Graph` of a frame with DAG jobs, cached by its structure (a stream's frames
    share one, so a frame costs a dictionary look-up)."""
    key = (inst.layer_offsets.tobytes(), inst.job_is_dag.tobytes(), inst.edge_offsets.tobytes(),
           inst.edge_src.tobytes(), inst.edge_dst.tobytes())
    g = _GRAPHS.get(key)
    if g is not None:
        return g
    from ..dag import job_graph

    off = inst.layer_offsets
    nl = inst.n_layers
    dag_job = np.asarray(inst.job_is_dag, dtype=bool)
    ejob = np.repeat(np.arange(inst.n_jobs), np.diff(inst.edge_offsets))
    src = off[ejob] + inst.edge_src
    dst = off[ejob] + inst.edge_dst
    indeg = np.bincount(dst, minlength=nl)
    outdeg = np.bincount(src, minlength=nl)
    in_dag = dag_job[inst.layer_job]
    nodes = np.flatnonzero(in_dag)
    position = np.zeros(nl)
    for i in np.flatnonzero(dag_job):
        L = int(off[i + 1] - off[i])
        order = np.asarray(job_graph(inst, int(i)).topo_order(), dtype=np.int64)
        if L > 1:
            position[off[i] + order] = np.arange(L) / (L - 1)
    g = _Graph(dag_job, nodes, src, dst, indeg, nodes[indeg[nodes] == 0], nodes[outdeg[nodes] == 0],
               position)
    if len(_GRAPHS) >= 64:
        _GRAPHS.clear()
    _GRAPHS[key] = g
    return g


def _dag_rows(inst: Instance, rows: np.ndarray) -> None:
    """Overwrite the rows of DAG jobs' nodes with their graph reading (module docstring)."""
    g = _graph(inst)
    nl = inst.n_layers
    out_bits = inst.out_bits
    msg = inst.edge_bits
    data_in = np.bincount(g.dst, weights=out_bits[g.src] + msg, minlength=nl)
    data_in[g.entry] = inst.in_bits[inst.layer_job[g.entry]]
    data_out = out_bits + np.bincount(g.src, weights=msg, minlength=nl)
    pred_ops = np.bincount(g.dst, weights=inst.ops[g.src], minlength=nl)
    pred_in = np.bincount(g.dst, weights=data_in[g.src], minlength=nl)
    v = g.nodes
    is_entry = g.indeg[v] == 0
    rows[v, 1] = _n(data_in[v], "bits")
    rows[v, 2] = _n(data_out[v], "bits")
    rows[v, 3] = g.position[v]
    rows[v, 4] = is_entry
    rows[v, 5] = np.isin(v, g.exit)
    rows[v, 6] = _n(pred_ops[v], "ops")
    rows[v, 7] = _n(pred_in[v], "bits")
    rows[v, 8] = np.log2(1.0 + g.indeg[v])


@dataclass(frozen=True)
class FrameFeatures:
    """The features of one frame (see the module docstring); float64 arrays."""

    global_: np.ndarray     # (len(GLOBAL_NAMES),)
    devices: np.ndarray     # (n_devices, len(DEVICE_NAMES))
    jobs: np.ndarray        # (n_jobs, len(JOB_NAMES))
    layers: np.ndarray      # (n_layers, len(LAYER_NAMES))

    def vector(self) -> np.ndarray:
        """The one flat vector of the frame (:func:`frame_vector`)."""
        return np.concatenate([self.global_, self.jobs.ravel(), self.layers[:, :LAYER_OWN].ravel()])


def frame_features(inst: Instance) -> FrameFeatures:
    """All the features of a frame."""
    return FrameFeatures(global_features(inst), device_features(inst), job_features(inst),
                         layer_features(inst))


def frame_vector(inst: Instance, dtype=np.float32) -> np.ndarray:
    """One vector per frame: global, job rows, layers' own features (length fixed by the
    structure: ``16 + 15 n_jobs + 6 n_layers``)."""
    return frame_features(inst).vector().astype(dtype, copy=False)


def dag_key(inst: Instance):
    """What a frame's DAG structure is: which jobs are DAGs, their edges and which edges carry
    their own messages (None for a frame of chains alone)."""
    if not inst.is_dag:
        return None
    return (inst.job_is_dag, inst.edge_offsets, inst.edge_src, inst.edge_dst, inst.edge_has_bits)


def same_structure(a: Instance, b: Instance) -> bool:
    """Whether two frames share a structure (devices, jobs on the same devices, layers per job,
    and for DAG jobs their edges and which edges carry messages: :func:`dag_key`): what a
    stream keeps fixed and what a learner's networks are sized by."""
    if not (a.n_devices == b.n_devices and a.n_jobs == b.n_jobs
            and np.array_equal(a.job_device, b.job_device)
            and np.array_equal(a.layer_offsets, b.layer_offsets)):
        return False
    ka, kb = dag_key(a), dag_key(b)
    if ka is None or kb is None:
        return ka is kb
    return all(np.array_equal(u, v) for u, v in zip(ka, kb))


def structure_difference(a: Instance, b: Instance) -> str | None:
    """What differs between the structures of two frames, in words (None: the same)."""
    if a.n_devices != b.n_devices:
        return f"{b.n_devices} devices, not {a.n_devices}"
    if a.n_jobs != b.n_jobs:
        return f"{b.n_jobs} jobs, not {a.n_jobs}"
    if not np.array_equal(a.job_device, b.job_device):
        return "jobs on other devices"
    if not np.array_equal(a.layer_offsets, b.layer_offsets):
        return "other layers per job"
    ka, kb = dag_key(a), dag_key(b)
    if (ka is None) != (kb is None):
        return "DAG jobs where the first frame has chains" if ka is None else \
            "chains where the first frame has DAG jobs"
    if ka is not None:
        names = ("which jobs are DAGs", "edges per job", "the edges", "the edges", "which edges carry messages")
        for name, u, v in zip(names, ka, kb):
            if not np.array_equal(u, v):
                return f"a DAG job's structure differs: {name}"
    return None
