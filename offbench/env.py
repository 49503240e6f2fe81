"""Gymnasium environments over offbench's cost model.

Importing this module registers two environments (Gymnasium's versioned IDs)::

    import gymnasium, offbench.env
    env = gymnasium.make("offbench/Placement-v0", family="dmro-v1", seed=0)        # sequential
    env = gymnasium.make("offbench/PlacementBandit-v0", family="dmro-v1", seed=0)  # bandit

**Frames.** Each episode places one frame (an :class:`~offbench.instance.Instance`);
``env.unwrapped.frame`` is the current one. The frames come from exactly one of

* ``family="dmro-v1"`` (any family ID, with a preset and parameters: ``"capacitated-v1:small"``,
  ``"scale-v1:n10[capacities=false]"``), its stream seeded by ``seed`` (``environment``,
  ``switch_at``/``switch_to`` as in :meth:`offbench.families.Family.stream`; ``frames``: how
  many, None for an endless stream);
* ``stream=``: a sequence or iterable of frames of one structure;
* ``instance=``: one instance (or the path of an instance file), every episode.

A finite stream starts over after its last frame. Every frame must have the first frame's
structure (devices, jobs on the same devices, layers per job): the spaces are sized by it.

**Two seeds, kept apart.** ``make(..., seed=)`` picks the frame stream (which frames, in which
order). ``reset(seed=)`` seeds the episode's randomness (``env.unwrapped.np_random``; the
dynamics themselves are deterministic given the frame) and starts the stream over at its first
frame, so that ``reset(seed=s)`` followed by plain ``reset()`` calls replays the same episodes
(what Gymnasium's checker demands of a seeded reset). A plain ``reset()`` moves on to the next
frame.

**Sequential** (``offbench/Placement-v0``): one step per layer, jobs in file order, layers in
order (a DAG job's nodes in a topological order, see below). Action: the tier of the next
layer, ``Discrete(3)`` (0 device, 1 edge, 2 cloud); a tier whose capacity is 0 is switched off for a layer with operations, which the action mask says
(``info["action_mask"]`` for the next action, and ``env.unwrapped.action_masks()``, the
convention of sb3-contrib's maskable algorithms). The episode starts from the all-device
decision; each step moves one layer to its chosen tier, and the reward is minus the change of
cost that the move makes, computed by the cost model's move kernel
(:func:`offbench.cost.apply_move`: O(1) for a chain's layer, O(degree) for a DAG's node; each
reward is the exact change of the whole decision's cost, so the sum telescopes in any order):
**an episode's return is the all-device cost minus the cost of the decision**, for a feasible
decision, to rounding, on chains and DAGs alike. The rounding is relative to the largest cost the
episode passes through (a sum of differences of costs), not to the return: about 1e-9 of the
return when the costs along the episode are of the return's magnitude (every family's frames),
but at extreme magnitudes (a layer of 1e30 ops moved and another of 1e-30 left) a large
intermediate cost cancels and the return can be wrong in every digit; ``info["cost"]`` (the
cost model's price of the final decision) is exact. An episode is charged 1 evaluation
(``env.evaluations``) although its per-step rewards reveal the costs of up to ``n_layers``
complete decisions (each prefix placed, the rest on the device): compare evaluation counts with
that in mind. Observation (float32, all
features as :mod:`offbench.learn.features` normalizes them): the frame's global features, the
current job's row, the layer's position (one-hot over the longest job's layers), the layer's
row (with its predecessor's), the tiers already chosen for this job's earlier layers (one-hot,
3 per earlier layer, zeros beyond), and the capacity used so far (edge and cloud load as a
fraction of the capacity, capped at 1e6, 0 for an unbounded tier and 1 for a used switched-off
one; and as a fraction of the frame's total ops). Every observation is finite, within the
space's bounds ``[0, float32 max]``.

**DAG jobs** (SPEC.md section 7). A DAG job's nodes are walked in its topological order
(:func:`offbench.dag.topological_order`: every predecessor of a node is placed before it; a
chain's order is its file order); the decision, the action mask and ``info["decision"]`` stay
in file order. Where the frames hold a DAG job, the observation has eight more numbers (frames
of chains alone keep exactly the observation above, so chain results do not move): at the end
of the node's static row, its in-degree and out-degree (``log1p`` of the counts), whether it is
an exit (its output must end on the device), the data flowing into it (the job's input if it is
an entry, its predecessors' outputs and its in-edges' own messages) and the messages on its
out-edges (``log1p(bits / 1e6)``, as the features normalize bits); and at the very end, the
fractions of its predecessors placed on the device, the edge and the cloud (an entry node's
input is on the device: ``1, 0, 0``). The "tiers already chosen" block holds the job's nodes
placed so far, each at its node number. ``env.unwrapped.order`` is the walk (the layer placed
at each step, global indices). The layer row is :mod:`offbench.learn.features`' row of the
node, which reads it in its job's graph (data in and out, place in the topological order,
entry/exit, its DAG predecessors' ops and data, ``log2(1 + in-degree)``). Every frame of an environment must have the first frame's DAG
structure too (which jobs are DAGs, their edges, which edges carry their own messages; the
sizes may change from frame to frame): a family's stream keeps one (``family="dmro-v2"``,
``"workflow-v1"``, ``"zoo-v2:single"``), and a frame with another is refused, naming it.

**Infeasible decisions.** A final decision that breaks a capacity gets a last reward that makes
the episode's return ``-infeasible_penalty * all-device cost`` (default 0.1). Why: the benchmark
scores an infeasible decision as the all-device fallback (SPEC.md section 6), which alone would
give a return of 0, the same as choosing all-device; the margin makes breaking a capacity
strictly worse than the always-feasible all-device decision, and the return stays bounded by
the frame's scale. Masked actions taken anyway are allowed and lead to an infeasible decision.

**Bandit** (``offbench/PlacementBandit-v0``): one step per frame. Action: the whole decision,
``MultiDiscrete([3] * n_layers)``; observation: :func:`offbench.learn.frame_vector` (and, for
frames with DAG jobs, every stored edge's own message, ``log1p(bits / 1e6)``, in the stored
order; 0 for an edge without one); reward:
minus the cost, or ``-(1 + infeasible_penalty) * all-device cost`` for an infeasible decision
(the same margin below the fallback).

``normalize=True`` divides every reward by the frame's all-device cost (then a sequential
return is the relative saving ``1 - cost / all-device cost``): frames of very different scales
then train one network; off by default so that returns are costs.

**Evaluations.** One finished episode is one evaluation of the cost model
(``env.unwrapped.evaluations`` counts them); the info of the last step has ``cost``,
``feasible``, ``all_device_cost`` and ``decision``.

**Speed.** A sequential step is one Numba call (move kernel, observation written in place)
plus the Gymnasium wrappers; ``benchmarks/scripts/bench_env.py`` measures steps per second.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

try:
    import gymnasium as gym
    from gymnasium import spaces
except ImportError as e:  # pragma: no cover - the message says what to install
    raise ImportError("offbench.env needs gymnasium: pip install 'offbench[rl]'") from e

from ._numba import jit
from .cost import N_TIERS, apply_move, decision_cost, evaluate_many, move_state, tables
from .errors import UserError
from .dag import job_graph
from .instance import Instance
from .learn.features import (GLOBAL_NAMES, JOB_NAMES, LAYER_NAMES, SCALES, frame_features,
                             frame_vector)

__all__ = ["EnvError", "PlacementEnv", "PlacementBanditEnv", "SEQUENTIAL_ID", "BANDIT_ID",
           "DAG_NODE_NAMES", "register"]

SEQUENTIAL_ID = "offbench/Placement-v0"
BANDIT_ID = "offbench/PlacementBandit-v0"

#: The observation spaces' upper bound (features are log1p-normalized; see the module doc).
_HIGH = float(np.finfo(np.float32).max)

#: Frames of an endless family stream (the stream is drawn lazily).
_ENDLESS = 2**62


class EnvError(UserError, ValueError):
    """A bad argument to an offbench environment (one clear line, exit status 2 in the CLI)."""


# ------------------------------------------------------------------------------ frame sources
class _Frames:
    """The frames of an environment: a family's stream, a sequence, an iterable, or one instance.

    ``restart()`` goes back to the first frame; ``next()`` gives the next one (a finite source
    starts over after its last frame). ``feed(frame)`` replaces the source by that one frame
    (what the SB3 adapter does before learning on a frame).
    """

    def __init__(self, family, seed, environment, switch_at, switch_to, frames, stream, instance):
        given = [n for n, v in (("family", family), ("stream", stream), ("instance", instance))
                 if v is not None]
        if len(given) != 1:
            raise EnvError("an offbench environment takes exactly one frame source: family=ID, "
                           f"stream=FRAMES or instance=INSTANCE (got {', '.join(given) or 'none'})")
        if family is None and any(v is not None for v in (environment, switch_at, switch_to)):
            raise EnvError("environment, switch_at and switch_to belong to family=ID streams")
        if family is None and seed != 0:
            raise EnvError("seed picks a family's frame stream; a stream or an instance has none")
        self.kind = given[0]
        self.family = None
        self.seq = None
        self.iterator = None
        self.cache: list[Instance] = []
        if family is not None:
            from .families import get_family

            if not isinstance(family, str):
                raise EnvError(f"family must be a family ID such as 'dmro-v1', got {family!r}")
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
                raise EnvError(f"seed must be an int >= 0, got {seed!r}")
            if frames is not None and (isinstance(frames, bool) or not isinstance(frames, (int, np.integer))
                                       or frames < 1):
                raise EnvError(f"frames must be an int >= 1 or None (endless), got {frames!r}")
            fam = get_family(family)
            self.family = (fam, int(seed), environment, switch_at, switch_to,
                           _ENDLESS if frames is None else int(frames))
            self._gen = None
        else:
            if frames is not None:
                raise EnvError("frames belongs to family=ID streams")
            if instance is not None:
                if isinstance(instance, (str, Path)):
                    from .instance import load_instance

                    instance = load_instance(instance)
                if not isinstance(instance, Instance):
                    raise EnvError(f"instance must be an offbench Instance or a path, got "
                                   f"{type(instance).__name__}")
                self.seq = [instance]
            elif isinstance(stream, Sequence) and not isinstance(stream, (str, bytes)):
                self.seq = list(stream)
            elif isinstance(stream, Iterable) and not isinstance(stream, (str, bytes)):
                self.iterator = iter(stream)
            else:
                raise EnvError(f"stream must be a sequence or an iterable of Instances, got "
                               f"{type(stream).__name__}")
            if self.seq is not None:
                if not self.seq:
                    raise EnvError("stream: no frames")
                for k, f in enumerate(self.seq):
                    if not isinstance(f, Instance):
                        raise EnvError(f"stream[{k}]: expected an offbench Instance, got {type(f).__name__}")
        self.pos = 0
        self.fed: Instance | None = None
        self.first = next(self._family_iter()) if self.family is not None else self._draw(0)

    def _family_iter(self):
        fam, seed, env, sa, st, n = self.family
        return fam.stream(seed, n, environment=env, switch_at=sa, switch_to=st)

    def _draw(self, k: int) -> Instance:
        """Frame ``k`` of the source (always the next one, or 0 after a restart)."""
        if self.seq is not None:
            return self.seq[k % len(self.seq)]
        if self.family is not None:
            if k == 0 or self._gen is None:
                self._gen = self._family_iter()
            try:
                return next(self._gen)
            except StopIteration:  # a finite stream starts over
                self._gen = self._family_iter()
                return next(self._gen)
        while k >= len(self.cache) and self.iterator is not None:
            try:
                f = next(self.iterator)
            except StopIteration:
                self.iterator = None
                break
            if not isinstance(f, Instance):
                raise EnvError(f"stream[{len(self.cache)}]: expected an offbench Instance, got "
                               f"{type(f).__name__}")
            self.cache.append(f)
        if not self.cache:
            raise EnvError("stream: no frames")
        return self.cache[k % len(self.cache)]

    def next(self) -> Instance:
        if self.fed is not None:
            return self.fed
        f = self._draw(self.pos)
        self.pos += 1
        return f

    def restart(self) -> Instance:
        self.pos = 0
        return self.next()

    def feed(self, frame: Instance) -> None:
        self.fed = frame


# ------------------------------------------------------------------------------ the kernel
#: Capacity fractions are capped here, so that every observation is a finite float32.
_FRACTION_CAP = 1e6


@jit(_nrt=False)
def _seq_step(t, x, job_T, load, state, k, S, obs, n_static, lmax, starts, total_ops, order,
              pred_ptr, pred_idx):
    """One sequential step: move the layer at walk position ``state[0]`` (layer
    ``order[state[0]]``) to tier ``k`` (the cost model's move kernel), write the next
    observation into ``obs``; return the change of cost.

    ``state``: [walk position, current cost]. ``S``: per-layer static observation rows.
    ``order``: the walk (layers in file order for chains, each DAG job's nodes in a topological
    order; a job's nodes occupy its own walk positions ``starts``..). ``pred_ptr``/``pred_idx``:
    the layers' predecessors (CSR; an empty ``pred_ptr`` when the frames hold no DAG job: then
    the observation has no predecessor-tier block).
    """
    p = int(state[0])
    l = order[p]
    d = apply_move(t, x, l, k, job_T, load)
    state[1] += d
    n = x.size
    done = p + 1 >= n
    pn = p if done else p + 1
    nxt = order[pn]
    state[0] = p + 1
    for j in range(n_static):
        obs[j] = S[nxt, j]
    base = n_static
    for j in range(3 * lmax):
        obs[base + j] = 0.0
    s = starts[nxt]
    upto = n if done else pn
    for w in range(s, upto):
        if w >= n:
            break
        q = order[w]
        if starts[q] != s:
            break
        obs[base + 3 * (q - s) + x[q]] = 1.0
    base += 3 * lmax
    for tier in range(1, 3):
        c = t.cap[tier]
        u = load[tier]
        if math.isinf(c):
            f = 0.0
        elif c > 0.0:
            f = u / c
        else:
            f = 1.0 if u > 0.0 else 0.0
        obs[base + tier - 1] = min(f, _FRACTION_CAP)
        obs[base + 1 + tier] = u / total_ops if total_ops > 0.0 else 0.0
    if pred_ptr.size > 0:
        base += 4
        _pred_tiers(x, nxt, pred_ptr, pred_idx, obs, base)
    return d


@jit(_nrt=False)
def _pred_tiers(x, v, pred_ptr, pred_idx, obs, base):
    """The fractions of layer ``v``'s predecessors on each tier (an entry: its input, on the
    device) into ``obs[base:base + 3]``."""
    a = pred_ptr[v]
    z = pred_ptr[v + 1]
    for tier in range(3):
        obs[base + tier] = 0.0
    if z == a:
        obs[base] = 1.0
        return
    w = 1.0 / (z - a)
    for e in range(a, z):
        obs[base + x[pred_idx[e]]] += w


def _dag_key(inst: Instance):
    """What a DAG structure is (None for frames of chains alone)."""
    if not inst.is_dag:
        return None
    return (inst.job_is_dag, inst.edge_offsets, inst.edge_src, inst.edge_dst, inst.edge_has_bits)


def _same_sizes(a: Instance, b: Instance) -> bool:
    """Devices, jobs on the same devices and layers per job (the DAG part is :func:`_same_dag`,
    checked after it, so that each message names what differs)."""
    return (a.n_devices == b.n_devices and np.array_equal(a.job_device, b.job_device)
            and np.array_equal(a.layer_offsets, b.layer_offsets))


def _same_dag(a: Instance, b: Instance) -> bool:
    ka, kb = _dag_key(a), _dag_key(b)
    if ka is None or kb is None:
        return ka is kb
    return all(np.array_equal(u, v) for u, v in zip(ka, kb))


def _walk(inst: Instance):
    """The sequential walk of a structure: ``order`` (layers in walk order: each job's nodes in
    its topological order, at its own positions) and the predecessors of every layer as CSR
    (``pred_ptr``, ``pred_idx``, global layer indices; empty arrays for frames of chains)."""
    n = inst.n_layers
    if not inst.is_dag:
        return np.arange(n, dtype=np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    off = inst.layer_offsets
    order = np.empty(n, dtype=np.int64)
    preds: list[list[int]] = [[] for _ in range(n)]
    for i in range(inst.n_jobs):
        g = job_graph(inst, i)
        o = int(off[i])
        order[o:o + g.n_nodes] = o + np.asarray(g.topo_order(), dtype=np.int64)
        for u, v in zip(g.src.tolist(), g.dst.tolist()):
            preds[o + v].append(o + u)
    ptr = np.zeros(n + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(q) for q in preds])
    idx = np.array([u for q in preds for u in q], dtype=np.int64)
    return order, ptr, idx


#: The static DAG columns of a sequential observation's row (module docstring).
DAG_NODE_NAMES = ("in_degree", "out_degree", "is_exit", "data_in", "messages_out")


def _dag_rows(inst: Instance) -> np.ndarray:
    """Per layer, the static DAG columns (:data:`DAG_NODE_NAMES`) of a frame, float64."""
    n = inst.n_layers
    off = inst.layer_offsets
    rows = np.zeros((n, len(DAG_NODE_NAMES)))
    b = SCALES["bits"]
    for i in range(inst.n_jobs):
        g = job_graph(inst, i)
        o = int(off[i])
        L = g.n_nodes
        indeg = np.bincount(g.dst, minlength=L).astype(np.float64)
        outdeg = np.bincount(g.src, minlength=L).astype(np.float64)
        data_in = np.where(indeg == 0, float(g.in_bits), 0.0)
        data_in += np.bincount(g.dst, weights=np.asarray(g.out_bits)[g.src] + g.edge_bits, minlength=L)
        msg_out = np.bincount(g.src, weights=g.edge_bits, minlength=L)
        rows[o:o + L] = np.column_stack([np.log1p(indeg), np.log1p(outdeg), (outdeg == 0) * 1.0,
                                         np.log1p(data_in / b), np.log1p(msg_out / b)])
    return rows


# ------------------------------------------------------------------------------ environments
class _Base(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, family=None, seed=0, *, environment=None, switch_at=None, switch_to=None,
                 frames=None, stream=None, instance=None, normalize=False, infeasible_penalty=0.1):
        if not isinstance(normalize, (bool, np.bool_)):
            raise EnvError(f"normalize must be a bool, got {normalize!r}")
        if (isinstance(infeasible_penalty, bool)  # numpy's numbers too (np.float32 was refused)
                or not isinstance(infeasible_penalty, numbers.Real)
                or not math.isfinite(infeasible_penalty) or infeasible_penalty < 0):
            raise EnvError(f"infeasible_penalty must be a number >= 0, got {infeasible_penalty!r}")
        self.normalize = bool(normalize)
        self.infeasible_penalty = float(infeasible_penalty)
        self.frames = _Frames(family, seed, environment, switch_at, switch_to, frames, stream, instance)
        self.structure = self.frames.first
        self.frame: Instance | None = None
        self.evaluations = 0
        self._frame_cache: tuple | None = None

    def _take(self, frame: Instance) -> None:
        if frame is not self.structure:
            if not _same_sizes(self.structure, frame):
                raise EnvError(f"frame {frame.name!r} has another structure (devices, jobs or layers "
                               "per job) than the environment's first frame")
            if not _same_dag(self.structure, frame):
                raise EnvError(f"frame {frame.name!r} has another DAG structure (DAG jobs, edges or "
                               "which edges carry messages) than the environment's first frame "
                               f"{self.structure.name!r}: an environment's frames keep one")
        self.frame = frame

    def feed(self, frame: Instance) -> None:
        """Use ``frame`` for every following episode (until fed again): how a learner that is
        handed frames one by one (the tracks' online loop) plays episodes on the current one."""
        if not isinstance(frame, Instance):
            raise EnvError(f"feed: expected an offbench Instance, got {type(frame).__name__}")
        if not _same_sizes(self.structure, frame):
            raise EnvError("feed: the frame's structure differs from the environment's")
        if not _same_dag(self.structure, frame):
            raise EnvError(f"feed: frame {frame.name!r} has another DAG structure (DAG jobs, edges or "
                           "which edges carry messages) than the environment's")
        self.frames.feed(frame)

    def _next_frame(self, seed) -> Instance:
        return self.frames.restart() if seed is not None else self.frames.next()

    def _scale(self, c0: float) -> float:
        return 1.0 / c0 if (self.normalize and c0 > 0) else 1.0


class PlacementEnv(_Base):
    """The sequential environment ``offbench/Placement-v0`` (see the module docstring)."""

    def __init__(self, family=None, seed=0, **kw):
        super().__init__(family, seed, **kw)
        s = self.structure
        self.n_layers = int(s.n_layers)
        self.lmax = int(s.layers_per_job.max())
        self.is_dag = bool(s.is_dag)
        self.n_static = (len(GLOBAL_NAMES) + len(JOB_NAMES) + self.lmax + len(LAYER_NAMES)
                         + (len(DAG_NODE_NAMES) if self.is_dag else 0))
        self.obs_dim = self.n_static + 3 * self.lmax + 4 + (3 if self.is_dag else 0)
        self.observation_space = spaces.Box(0.0, _HIGH, shape=(self.obs_dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(N_TIERS)
        off = s.layer_offsets
        self._starts = np.ascontiguousarray(off[s.layer_job], dtype=np.int64)
        self._pos_in_job = np.ascontiguousarray(np.arange(self.n_layers) - self._starts, dtype=np.int64)
        self._onehot = np.zeros((self.n_layers, self.lmax))
        self._onehot[np.arange(self.n_layers), self._pos_in_job] = 1.0
        self._order, self._pred_ptr, self._pred_idx = _walk(s)
        self.order = self._order.copy()
        self.order.flags.writeable = False
        self._obs = np.zeros(self.obs_dim, dtype=np.float64)
        self._state = np.zeros(2)
        self._done = True

    def _prepare(self, frame: Instance):
        """Per-frame arrays (cached for a repeated frame): tables, static rows, masks, c0."""
        if self._frame_cache is not None and self._frame_cache[0] is frame:
            return self._frame_cache
        F = frame_features(frame)
        lj = frame.layer_job
        cols = [np.broadcast_to(F.global_, (self.n_layers, F.global_.size)), F.jobs[lj], self._onehot,
                F.layers]
        if self.is_dag:
            cols.append(_dag_rows(frame))
        S = np.ascontiguousarray(np.column_stack(cols))
        t = tables(frame)
        mask = np.ones((self.n_layers, 3), dtype=np.int8)
        for tier, cap in ((1, frame.edge_capacity), (2, frame.cloud_capacity)):
            if cap == 0:
                mask[frame.ops > 0, tier] = 0
        c0 = float(decision_cost(t, np.zeros(self.n_layers, dtype=np.int8)))
        total_ops = float(frame.ops.sum())
        self._frame_cache = (frame, t, S, mask, c0, total_ops)
        return self._frame_cache

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        frame = self._next_frame(seed)
        self._take(frame)
        _, t, S, mask, c0, total_ops = self._prepare(frame)
        self._t, self._S, self._mask, self._c0, self._total_ops = t, S, mask, c0, total_ops
        self._scale_r = self._scale(c0)
        self._x = np.zeros(self.n_layers, dtype=np.int8)
        self._job_T = np.empty(frame.n_jobs)
        self._load = np.zeros(3)
        move_state(t, self._x, self._job_T, self._load)
        self._state[0] = 0.0
        self._state[1] = c0
        self._obs[:] = 0.0
        l0 = int(self._order[0])
        self._obs[:self.n_static] = S[l0]
        if self.is_dag:
            _pred_tiers(self._x, l0, self._pred_ptr, self._pred_idx, self._obs, self.obs_dim - 3)
        self._done = False
        return self._obs.astype(np.float32), {"action_mask": mask[l0].copy()}

    def action_masks(self) -> np.ndarray:
        """The tiers allowed for the next layer (bool, 3)."""
        p = min(int(self._state[0]), self.n_layers - 1)
        return self._mask[self._order[p]].astype(bool)

    def step(self, action):
        if self._done:
            raise RuntimeError("step() after the episode ended: call reset()")
        if isinstance(action, (int, np.integer)):  # (a bool is an int, as for Discrete(3))
            k = int(action)
        else:  # a 0-d integer array; a float is refused, not truncated (1.7 was the edge)
            a = np.asarray(action)
            if a.ndim != 0 or a.dtype.kind not in "iub":
                raise EnvError(f"action must be a tier in {{0, 1, 2}} (an integer), got {action!r}")
            k = int(a)
        if not 0 <= k < N_TIERS:
            raise EnvError(f"action must be a tier in {{0, 1, 2}}, got {action!r}")
        d = _seq_step(self._t, self._x, self._job_T, self._load, self._state, k, self._S, self._obs,
                      self.n_static, self.lmax, self._starts, self._total_ops, self._order,
                      self._pred_ptr, self._pred_idx)
        r = -d
        p = int(self._state[0])
        if p < self.n_layers:
            return (self._obs.astype(np.float32), r * self._scale_r, False, False,
                    {"action_mask": self._mask[self._order[p]].copy()})
        self._done = True
        self.evaluations += 1
        cost, feasible, _ = evaluate_many(self.frame, self._x[None, :], with_feasibility=True,
                                          parallel=False)
        feasible = bool(feasible[0])
        if not feasible:  # the episode's return becomes -penalty * c0 (module docstring)
            r += -(self._c0 - self._state[1]) - self.infeasible_penalty * self._c0
        info = {"action_mask": np.ones(3, dtype=np.int8), "cost": float(cost[0]), "feasible": feasible,
                "all_device_cost": self._c0, "decision": self._x.copy()}
        return self._obs.astype(np.float32), r * self._scale_r, True, False, info


class PlacementBanditEnv(_Base):
    """The bandit environment ``offbench/PlacementBandit-v0`` (see the module docstring)."""

    def __init__(self, family=None, seed=0, **kw):
        super().__init__(family, seed, **kw)
        s = self.structure
        self.n_layers = int(s.n_layers)
        self.observation_space = spaces.Box(0.0, _HIGH, shape=(self._observe(s).size,), dtype=np.float32)
        self.action_space = spaces.MultiDiscrete(np.full(self.n_layers, N_TIERS, dtype=np.int64))
        self._done = True

    @staticmethod
    def _observe(frame: Instance) -> np.ndarray:
        """The frame's vector, and its edges' own messages where it holds DAG jobs."""
        v = frame_vector(frame)
        if not frame.is_dag:
            return v
        return np.concatenate([v, np.log1p(frame.edge_bits / SCALES["bits"]).astype(np.float32)])

    def _prepare(self, frame: Instance):
        if self._frame_cache is not None and self._frame_cache[0] is frame:
            return self._frame_cache
        obs = self._observe(frame)
        c0 = float(decision_cost(tables(frame), np.zeros(self.n_layers, dtype=np.int8)))
        self._frame_cache = (frame, obs, c0)
        return self._frame_cache

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        frame = self._next_frame(seed)
        self._take(frame)
        _, obs, self._c0 = self._prepare(frame)
        self._obs = obs
        self._done = False
        return obs.copy(), {}

    def step(self, action):
        if self._done:
            raise RuntimeError("step() after the episode ended: call reset()")
        x = np.asarray(action)
        if x.shape != (self.n_layers,) or x.dtype.kind not in "iu":
            raise EnvError(f"action must be {self.n_layers} tiers in {{0, 1, 2}} (integers), got "
                           f"an array of shape {x.shape} and dtype {x.dtype}")
        bad = (x < 0) | (x > 2)
        if bad.any():
            pos = int(np.argmax(bad))
            raise EnvError(f"action[{pos}]: expected a tier in {{0, 1, 2}}, got {x[pos].item()}")
        x = x.astype(np.int8)
        cost, feasible, _ = evaluate_many(self.frame, x[None, :], with_feasibility=True, parallel=False)
        self.evaluations += 1
        self._done = True
        cost = float(cost[0])
        feasible = bool(feasible[0])
        r = -cost if feasible else -(1.0 + self.infeasible_penalty) * self._c0
        info = {"cost": cost, "feasible": feasible, "all_device_cost": self._c0, "decision": x}
        return self._obs.copy(), r * self._scale(self._c0), True, False, info


def register() -> None:
    """Register both environments with Gymnasium (done when this module is imported)."""
    for env_id, cls, steps in ((SEQUENTIAL_ID, "PlacementEnv", None), (BANDIT_ID, "PlacementBanditEnv", None)):
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=f"offbench.env:{cls}", max_episode_steps=steps,
                         disable_env_checker=False)


register()
