"""Candidate decisions for the DROO / DDLO / DMRO family of learners, in one place.

These learners share one loop: networks propose *candidate* placements, the cost model prices
them (charged), the best is the decision and the training label. What they share lives here:

* :func:`op_quantize`: DROO's order-preserving quantizer, generalized from two tiers to three
  (below).
* :func:`cut_shapes`, :func:`cut_exploration`: the contiguous-segment ("cut") neighbourhood of a
  chain placement, offbench's exploration, read along a topological order for DAG jobs
  (:func:`topo_orders`; below); :func:`cut_sweep`: every job at each of its cut shapes (DMRO's
  wider search after a change of environment).
* :func:`price_jobs`: candidates priced *per job* by the cost model's own njit rules
  (:func:`offbench.cost.job_walk`, :func:`~offbench.cost.job_cost`, :func:`~offbench.cost.tier_loads`,
  :func:`~offbench.cost.fits`; the frame total is summed in :func:`offbench.cost.evaluate_many`'s
  order, so it equals it bitwise), one evaluation charged per row; :func:`per_job_best` combines
  each job's cheapest part when the jobs are independent (no capacities).
* :func:`job_inputs`: one row of features per job (the frame's global features, the job's row,
  its layers' rows padded to the longest job), for a network shared by the jobs of a frame;
  frames of chains take a fast path, bitwise the same numbers.
* :func:`parallel_mlp`: K multilayer perceptrons of one shape evaluated as one batched
  matrix product (DDLO's and DMRO's parallel DNNs; DROO is the case K = 1).
* :func:`tier_loss` (the label loss: cross-entropy over three tiers), :func:`best_row`, and
  :class:`CandidateLearner`, the decide/learn loop the three share (``decide`` prices and keeps
  its labels for ``learn``; a static ``solve`` is a few rounds of both on one instance).

**The three-tier order-preserving quantizer.** DROO (Huang, Bi, Zhang, IEEE TMC 2020, Section
IV-B) relaxes a binary placement to ``x_hat`` in [0, 1]; its first candidate rounds at 0.5, and
candidate k (k = 2..K) rounds at the threshold ``x_hat`` of the entry that is the (k-1)-th
closest to 0.5, so that candidates flip the entries nearest the decision threshold first, in
order of closeness, and every candidate preserves the order of ``x_hat``. Offbench's
generalization to three tiers: a network gives per layer a softmax ``p`` over the tiers and the
**relaxed tier** ``r = p[1] + 2 p[2]`` in [0, 2] (the expected tier); the first candidate rounds
``r`` at the two thresholds 0.5 and 1.5; the layers are sorted by their distance to the nearer
threshold, and candidate k moves *that* threshold to the (k-1)-th closest layer's ``r`` (the
layer, and every layer between it and the threshold, crosses to the other tier). Every candidate
is monotone in ``r`` (a layer with a larger relaxed tier never gets a lower tier), as DROO's are
in ``x_hat``; duplicates are dropped, so the K candidates are distinct. The quantizer decides
each node's tier from its own relaxed tier, so it is the same on a DAG job (SPEC.md section 7
allows any tier for any node: every candidate is a valid decision).

**Cuts on DAG jobs.** A chain's cut-shaped placements and block moves are read along the
layers' order. A DAG job's (SPEC.md section 7) are read along its **topological order**
(:meth:`offbench.dag.JobGraph.topo_order`, the order the sequential environment walks): a
"segment" is a run of consecutive nodes of that order, and a cut shape ``0^a 1^b 2^c 1^d 0^e``
gives the first ``a`` nodes of the order the device, the next ``b`` the edge, and so on. A
prefix of a topological order is a downward-closed set (every predecessor of a member is a
member), so the shape puts a downward-closed set on the device, a larger one on device or edge,
and the rest higher, before the last nodes (the exit nodes among them) come back down: the cuts
along which a job's data moves up and back once, as a chain's do. On a chain the topological
order is the file order, so nothing changes there (bitwise: the same random draws).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._numba import jit
from ._chain_kernels import gather_f32, raw_scaled
from ..cost import fits, job_cost, job_walk, tables, tier_loads
from ..instance import Instance
from .features import global_features, job_features, layer_features

THRESHOLDS = (0.5, 1.5)


# ------------------------------------------------------------------------------ quantizer
def relaxed_tiers(probs: np.ndarray) -> np.ndarray:
    """The relaxed tier ``p[:, 1] + 2 p[:, 2]`` in [0, 2] of per-layer tier probabilities
    ``(n, 3)``."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs[..., 1] + 2.0 * probs[..., 2]


def _round(r: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return ((r > lo).astype(np.int8) + (r > hi).astype(np.int8)).astype(np.int8)


def op_quantize(r, K: int) -> np.ndarray:
    """Up to ``K`` distinct three-tier candidates from relaxed tiers ``r`` (see the module
    docstring), the plain rounding first, then in order of the layers' closeness to a threshold.

    Parameters
    ----------
    r : array_like, shape (n,)
        Relaxed tiers in [0, 2].
    K : int
        Candidates wanted (>= 1); fewer come back when the quantizer runs out of distinct ones.

    Returns
    -------
    int8 array, shape (m, n), ``1 <= m <= K``.
    """
    r = np.clip(np.asarray(r, dtype=np.float64), 0.0, 2.0)
    if K < 1:
        raise ValueError(f"K must be >= 1, got {K}")
    lo, hi = THRESHOLDS
    out = [_round(r, lo, hi)]
    seen = {out[0].tobytes()}
    d_lo, d_hi = np.abs(r - lo), np.abs(r - hi)
    dist = np.minimum(d_lo, d_hi)
    order = np.argsort(dist, kind="stable")
    for j in order:
        if len(out) >= K:
            break
        v = r[j]
        eps = 1e-12
        if d_lo[j] <= d_hi[j]:
            # Move the lower threshold to v, so that layer j crosses it.
            lo2 = v - eps if v <= lo else v + eps
            c = _round(r, lo2, hi)
        else:
            hi2 = v - eps if v <= hi else v + eps
            c = _round(r, lo, hi2)
        key = c.tobytes()
        if key not in seen:
            seen.add(key)
            out.append(c)
    return np.stack(out)


# ------------------------------------------------------------------------------ cut shapes
@lru_cache(maxsize=64)
def _cut_shapes(L: int) -> np.ndarray:
    shapes = set()
    for a in range(L + 1):
        for b in range(L + 1 - a):
            for c in range(L + 1 - a - b):
                for d in range(L + 1 - a - b - c):
                    e = L - a - b - c - d
                    shapes.add((0,) * a + (1,) * b + (2,) * c + (1,) * d + (0,) * e)
    arr = np.array(sorted(shapes), dtype=np.int8)
    arr.setflags(write=False)
    return arr


def cut_shapes(L: int) -> np.ndarray:
    """Every *cut-shaped* placement of a chain of ``L`` layers: ``0^a 1^b 2^c 1^d 0^e`` (device,
    up to the edge, up to the cloud, back down), the shapes that a chain's data path takes
    without a round trip; sorted, distinct, int8 ``(S, L)`` (read-only; 1 + 3 L + ... rows,
    86 for L = 5)."""
    if L < 1:
        raise ValueError(f"L must be >= 1, got {L}")
    return _cut_shapes(int(L))


@lru_cache(maxsize=64)
def _segments(L: int) -> np.ndarray:
    """Masks ``(L (L + 1) / 2, L)`` of every contiguous segment ``[a, b)`` of ``L`` layers."""
    m = [np.arange(L) >= a for a in range(L) for _ in range(a + 1, L + 1)]
    ends = [b for a in range(L) for b in range(a + 1, L + 1)]
    out = np.array([mm & (np.arange(L) < b) for mm, b in zip(m, ends)])
    out.setflags(write=False)
    return out


def topo_orders(inst: Instance, max_layers: int | None = None) -> np.ndarray | None:
    """Each job's nodes in a topological order (:meth:`offbench.dag.JobGraph.topo_order`, local
    numbers), padded with -1 to ``max_layers``: ``(n_jobs, max_layers)`` int64; None for an
    instance of chains alone (whose order is the file order)."""
    if not inst.is_dag:
        return None
    from ..dag import job_graph

    lens = inst.layers_per_job
    width = int(lens.max()) if max_layers is None else int(max_layers)
    out = np.full((inst.n_jobs, width), -1, dtype=np.int64)
    for i, L in enumerate(lens.tolist()):
        out[i, :L] = job_graph(inst, i).topo_order() if inst.job_is_dag_at(i) else np.arange(L)
    return out


def cut_exploration(base: np.ndarray, lengths: np.ndarray, n: int, eps: float,
                    rng: np.random.Generator, orders: np.ndarray | None = None) -> np.ndarray:
    """``n`` exploration candidates around per-job placements ``base`` ``(n_jobs, max_L)``
    (padded; job ``i`` has ``lengths[i]`` layers), job by job: with probability ``eps`` a
    uniformly drawn cut shape (:func:`cut_shapes`), otherwise a **block move** of the job's base
    placement: a contiguous segment ``[a, b)`` drawn uniformly among the ``L (L + 1) / 2``
    segments, set to a tier drawn uniformly (a move that changes nothing is drawn too, and
    merely repeats the base). Returns ``(n, n_jobs, max_L)`` int8 (padding copied from
    ``base``). The randomness comes from ``rng`` only, in a fixed order.

    ``orders`` (:func:`topo_orders`; None: every job in file order) reads shapes and segments
    along each job's topological order (see "Cuts on DAG jobs" in the module docstring); the
    draws are the same, only the positions they land on differ. A learner that explores every
    frame of a stream keeps a :class:`CutExplorer` (the same draws and candidates, with what
    depends only on the structure worked out once)."""
    return CutExplorer(lengths, orders)(base, n, eps, rng)


class CutExplorer:
    """:func:`cut_exploration` for one stream's structure (job lengths and orders): the groups
    of jobs by length, their segment masks and cut shapes, and the topological orders' index
    arrays, found once. Calling it draws from ``rng`` exactly as :func:`cut_exploration` does
    (per length, in increasing order: segments, tiers, the eps coins, shapes). When every job has
    the longest length in file order (a dmro-v1 frame), the candidates are two ``np.where`` of
    the draws over the broadcast base (measured: 77 us of CPU per dmro-v1 frame for the general
    path at load 5, 35 us for this one, about 24 us of which are the four draws)."""

    def __init__(self, lengths: np.ndarray, orders: np.ndarray | None = None):
        lengths = np.asarray(lengths, dtype=np.int64)
        self.lengths = lengths
        self.nj = lengths.size
        self.groups = []
        for L in np.unique(lengths):
            L = int(L)
            jobs = np.flatnonzero(lengths == L)
            self.groups.append((L, jobs, _segments(L), cut_shapes(L)))
        self.width = None if orders is None else int(orders.shape[1])
        self.orders = None
        if orders is not None:  # (job, position) pairs of each job's walk, for one fancy index
            jj = np.concatenate([np.full(int(L), i) for i, L in enumerate(lengths)])
            pp = np.concatenate([orders[i, :int(L)] for i, L in enumerate(lengths)])
            kk = np.concatenate([np.arange(int(L)) for L in lengths])
            self.orders = (jj, pp, kk)
        self.plain = orders is None and len(self.groups) == 1

    def __call__(self, base: np.ndarray, n: int, eps: float, rng: np.random.Generator) -> np.ndarray:
        if self.orders is not None:
            jj, pp, kk = self.orders
            walked = base.copy()
            walked[jj, kk] = base[jj, pp]
            cands = self._explore(walked, n, eps, rng)
            out = cands.copy()
            out[:, jj, pp] = cands[:, jj, kk]
            return out
        return self._explore(base, n, eps, rng)

    @staticmethod
    def draws(group, n: int, eps: float, rng: np.random.Generator):
        """The draws for ``n`` candidates of one group ``(L, jobs, segs, shapes)`` of
        :attr:`groups`, in their order: segments, tiers, the eps coins, shapes (each ``(n,
        len(jobs))``). :func:`offbench.learn.fused.decide_rows` builds the rows from them."""
        L, jobs, segs, shapes = group
        s_idx = rng.integers(0, segs.shape[0], size=(n, jobs.size))
        tiers = rng.integers(0, 3, size=(n, jobs.size)).astype(np.int8)
        wild = rng.random((n, jobs.size)) < eps
        c_idx = rng.integers(0, shapes.shape[0], size=(n, jobs.size))
        return s_idx, tiers, wild, c_idx

    def _explore(self, base, n, eps, rng):
        if n == 0:
            return np.repeat(base[None], n, axis=0)
        if self.plain and self.groups[0][0] == base.shape[1]:
            L, jobs, segs, shapes = self.groups[0]
            s_idx, tiers, wild, c_idx = self.draws(self.groups[0], n, eps, rng)
            moved = np.where(segs[s_idx], tiers[..., None], base[None])
            return np.where(wild[..., None], shapes[c_idx], moved)
        out = np.repeat(base[None], n, axis=0)
        for group in self.groups:
            L, jobs, segs, shapes = group
            s_idx, tiers, wild, c_idx = self.draws(group, n, eps, rng)
            part = out[:, jobs, :L]
            moved = np.where(segs[s_idx], tiers[..., None], part)
            out[:, jobs, :L] = np.where(wild[..., None], shapes[c_idx], moved)
        return out


def cut_sweep(lengths: np.ndarray, max_rows: int, rng: np.random.Generator,
              orders: np.ndarray | None = None, max_layers: int | None = None) -> np.ndarray:
    """Candidates that give every job each of its cut shapes (:func:`cut_shapes`): row ``r``
    gives job ``i`` its ``r``-th shape. A job with more than ``max_rows`` shapes gets
    ``max_rows`` distinct ones: the three that keep the whole job on one tier (as many of them as
    fit), then shapes drawn uniformly from the rest (from ``rng``; nothing is drawn otherwise); a job
    with fewer repeats its last shape in the rows after them. Returns ``(m, n_jobs, max_layers)``
    int8, padded with -1, ``m = min(max_rows, the most shapes of any job)``; ``orders``
    (:func:`topo_orders`) reads the shapes along each job's topological order."""
    lengths = np.asarray(lengths, dtype=np.int64)
    width = int(lengths.max()) if max_layers is None else int(max_layers)
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    m = min(int(max_rows), max(cut_shapes(int(L)).shape[0] for L in np.unique(lengths)))
    out = np.full((m, lengths.size, width), -1, dtype=np.int8)
    for L in np.unique(lengths):
        L = int(L)
        shapes = cut_shapes(L)
        S = shapes.shape[0]
        if S > m:  # the one-tier shapes first: 0^L, 1^L, 2^L
            one_tier = [int(np.flatnonzero((shapes == t).all(1))[0]) for t in range(3)][:m]
            rest = np.setdiff1d(np.arange(S), one_tier)
        for i in np.flatnonzero(lengths == L):
            idx = (np.minimum(np.arange(m), S - 1) if S <= m
                   else np.sort(np.r_[one_tier, rng.choice(rest, size=m - len(one_tier), replace=False)]))
            if orders is None:
                out[:, i, :L] = shapes[idx]
            else:
                out[:, i, orders[i, :L]] = shapes[idx]
    return out


# ------------------------------------------------------------------------------ per-job prices
@jit
def _job_prices(t, X, job_c, total, feasible):
    nj = t.offsets.size - 1
    for r in range(X.shape[0]):
        s = 0.0
        for i in range(nj):
            C, T = job_walk(t, i, X[r], t.job_tw[i] > 0.0)
            c = job_cost(t, i, C, T)
            job_c[r, i] = c
            s += c
        total[r] = s
        _, le, lc = tier_loads(t.ops, X[r])
        feasible[r] = fits(le, t.cap[1]) and fits(lc, t.cap[2])


@dataclass(frozen=True)
class JobPrices:
    """Candidates priced per job: ``job_costs[r, i]`` is job ``i``'s cost under row ``r``,
    ``costs[r]`` the row's cost (bitwise :func:`offbench.cost.evaluate_many`'s), ``feasible[r]``
    its capacity test."""

    job_costs: np.ndarray
    costs: np.ndarray
    feasible: np.ndarray


def price_jobs(ctx, X, *, checked: bool = True) -> JobPrices:
    """Price candidate rows ``X`` ``(m, n_layers)`` per job, charging ``m`` evaluations to ``ctx``
    (a :class:`~offbench.solver.Context`; its instance is the frame). ``checked = False`` skips
    the test that every entry is a tier, for a caller whose rows are int8 tiers by construction
    (a network's argmax, cut shapes, moves of them); the shape is checked all the same.

    One serial kernel call: a frame's few dozen candidates are priced in microseconds, and a
    parallel kernel's thread pool, spinning on two shared cores, slowed the torch forward pass
    that follows it by milliseconds (measured: 14 ms per decision with ``evaluate_many``'s
    parallel kernel, against under 1 ms serial).
    """
    X = np.ascontiguousarray(X, dtype=np.int8)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != ctx.instance.n_layers:
        raise ValueError(f"candidates must be a non-empty (m, {ctx.instance.n_layers}) array, "
                         f"got shape {X.shape}")
    if checked and (X.min() < 0 or X.max() > 2):
        raise ValueError("candidates must hold tiers in {0, 1, 2}")
    m = X.shape[0]
    t = tables(ctx.instance)
    job_c = np.empty((m, ctx.instance.n_jobs))
    total = np.empty(m)
    feas = np.empty(m, dtype=np.bool_)
    _job_prices(t, X, job_c, total, feas)
    ctx.charge(m)
    return JobPrices(job_c, total, feas)


def best_row(prices: JobPrices) -> int:
    """The cheapest feasible row (first on ties), or the cheapest row when none is feasible."""
    scored = np.where(prices.feasible, prices.costs, np.inf)
    return int(np.argmin(scored)) if prices.feasible.any() else int(np.argmin(prices.costs))


def per_job_best(X: np.ndarray, job_costs: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each job's cheapest part among the rows: ``(decision, rows)`` where ``rows[i]`` is the row
    (first on ties) whose part job ``i`` takes. Exact for independent jobs (no capacities): the
    combined decision then costs the sum of the parts' costs."""
    rows = np.argmin(job_costs, axis=0)
    x = np.empty(X.shape[1], dtype=np.int8)
    for i, r in enumerate(rows):
        x[offsets[i]:offsets[i + 1]] = X[r, offsets[i]:offsets[i + 1]]
    return x, rows


# ------------------------------------------------------------------------------ job features
def job_input_size(max_layers: int) -> int:
    """The width of :func:`job_inputs`'s rows for jobs of at most ``max_layers`` layers."""
    from .features import GLOBAL_NAMES, JOB_NAMES, LAYER_NAMES

    return len(GLOBAL_NAMES) + len(JOB_NAMES) + len(LAYER_NAMES) * int(max_layers)


def job_inputs(frame: Instance, max_layers: int) -> np.ndarray:
    """One float32 row per job: the frame's global features, the job's row, and its layers'
    rows (:mod:`offbench.learn.features`), zero-padded to ``max_layers`` layers.
    Shape ``(n_jobs, job_input_size(max_layers))``.

    A frame of chains takes a fast path (:class:`_ChainInputs`: the structure's columns kept per
    structure, every quantity of the frame normalized in one ``log1p`` call), bitwise equal to
    the composition of the feature functions (tested), which DAG frames take."""
    if not frame.is_dag:
        lens = frame.layers_per_job
        if lens.max() > max_layers:
            raise ValueError(f"a job has {lens.max()} layers, more than max_layers = {max_layers}")
        return _chain_inputs(frame, int(max_layers))(frame)
    return _job_inputs_composed(frame, max_layers)


def _job_inputs_composed(frame: Instance, max_layers: int) -> np.ndarray:
    g = global_features(frame)
    J = job_features(frame)
    Ly = layer_features(frame)
    nj = frame.n_jobs
    w = Ly.shape[1]
    off = frame.layer_offsets
    lens = np.diff(off)
    if lens.max() > max_layers:
        raise ValueError(f"a job has {lens.max()} layers, more than max_layers = {max_layers}")
    if np.all(lens == max_layers):
        pad = Ly.reshape(nj, max_layers * w)
    else:
        pad = np.zeros((nj, max_layers * w))
        for i in range(nj):
            pad[i, :lens[i] * w] = Ly[off[i]:off[i + 1]].ravel()
    return np.hstack([np.broadcast_to(g, (nj, g.size)), J, pad]).astype(np.float32)


_CHAIN_INPUTS: dict = {}


def _chain_inputs(frame: Instance, max_layers: int) -> "_ChainInputs":
    key = (frame.n_devices, frame.layer_offsets.tobytes(), frame.job_device.tobytes(), max_layers)
    ci = _CHAIN_INPUTS.get(key)
    if ci is None:
        if len(_CHAIN_INPUTS) >= 32:
            _CHAIN_INPUTS.clear()
        ci = _CHAIN_INPUTS[key] = _ChainInputs(frame, max_layers)
    return ci


class _ChainInputs:
    """:func:`job_inputs` for frames of chains of one structure: the same numbers as
    :func:`~offbench.learn.features.global_features`, :func:`~offbench.learn.features.job_features`
    and :func:`~offbench.learn.features.layer_features` (each ``log1p(q / scale)`` is the same
    division and the same ``log1p``, here on one contiguous array), with the columns that only
    the structure fixes (positions, first/last flags, layer counts) computed once.

    A frame costs one ``log1p`` call and one gather: every entry of the output is a copy of one
    entry of ``[normalized quantities, the frame's flags, the structure's constants, 0]``, at an
    index map built here (the float32 rounding is per entry, so rounding before the gather is
    rounding after it). Measured at load 5-7 on two cores: 84 us of CPU per dmro-v1 frame with
    the columns written one block at a time, about 30 us with the gather. The extended vector
    is written into a buffer that holds the constants (measured at load 7, in a loop over 300
    frames: 39-47 us -> 30-31 us of CPU per frame instead of a ``concatenate`` of a list with
    Python numbers, whose conversion cost most of it); since then the quantities, their
    divisions, the flags and the float32 gather are two Numba kernels around numpy's ``log1p``
    (:mod:`offbench.learn._chain_kernels`). A value that is absent
    (no capacity, no deadline) is normalized from 0, and ``log1p(0) = 0`` is what the feature
    functions write there."""

    def __init__(self, frame: Instance, max_layers: int):
        from .features import GLOBAL_NAMES, JOB_NAMES, LAYER_NAMES, SCALES, _n

        off = frame.layer_offsets
        nj, nd, nl = frame.n_jobs, frame.n_devices, frame.n_layers
        lj = frame.layer_job
        idx = np.arange(nl)
        start = off[lj]
        length = np.diff(off)[lj]
        self.nj, self.nd, self.nl = nj, nd, nl
        self.starts = off[:-1]
        self.first_b = off[:-1] + np.arange(nj)
        self.last_b = off[1:] + np.arange(nj)
        self.b_in = idx + lj
        self.b_out = self.b_in + 1
        first = idx == start
        has_pred = ~first
        prev = np.maximum(idx - 1, 0)
        pos = np.where(length > 1, (idx - start) / np.maximum(length - 1, 1), 0.0)
        last = idx == off[lj + 1] - 1
        u = SCALES
        # the divisors of the quantities normalized in one call, in the order of __call__'s raw
        self.scales = np.concatenate([
            [u["1"], u["1"], u["1"], u["ops/s"], u["J/op"], u["ops"], u["ops/s"], u["J/op"], u["ops"],
             u["bit/s"], u["s"], u["J/bit"], u["ops"]],
            np.repeat([u["ops/s"], u["W"], u["W"], u["W"], u["bit/s"], u["bit/s"], u["s"]], nd),
            np.repeat([u["ops"], u["bits"], u["bits"], u["1"], u["s"]], nj),
            np.repeat([u["ops"], u["bits"], u["bits"]], nl),
        ])
        ng, nJ, nL = len(GLOBAL_NAMES), len(JOB_NAMES), len(LAYER_NAMES)
        self.width = ng + nJ + nL * int(max_layers)
        # where each entry of the extended vector sits: v (normalized), the frame's flags, constants
        nv = self.scales.size
        a_dev, a_job = 13, 13 + 7 * nd
        a_lay = a_job + 5 * nj
        e_cap, e_mean, e_dl, e_act = nv, nv + 2, nv + 3, nv + 3 + nj
        c_nl = e_act + nj
        c_pos, c_first, c_last, c_pred = c_nl + nj, c_nl + nj + nl, c_nl + nj + 2 * nl, c_nl + nj + 3 * nl
        zero = c_nl + nj + 4 * nl
        self.consts = np.concatenate([_n(np.diff(off), "1"), pos, first.astype(np.float64),
                                      last.astype(np.float64), has_pred.astype(np.float64), [0.0]])
        ix = np.full((nj, self.width), zero, dtype=np.intp)
        ix[:, 0:5] = np.arange(5)
        ix[:, 5], ix[:, 6] = e_cap, 5
        ix[:, 7:9] = [6, 7]
        ix[:, 9], ix[:, 10] = e_cap + 1, 8
        ix[:, 11:15] = np.arange(9, 13)
        ix[:, 15] = e_mean
        jobs = np.arange(nj)
        J = ng
        ix[:, J:J + 7] = a_dev + np.arange(7)[None, :] * nd + frame.job_device[:, None]
        ix[:, J + 7:J + 11] = a_job + np.arange(4)[None, :] * nj + jobs[:, None]
        ix[:, J + 11] = e_dl + jobs
        ix[:, J + 12] = a_job + 4 * nj + jobs
        ix[:, J + 13] = c_nl + jobs
        ix[:, J + 14] = e_act + jobs
        col = ng + nJ + (idx - start) * nL
        for j, src in enumerate((a_lay + idx, a_lay + nl + idx, a_lay + 2 * nl + idx, c_pos + idx,
                                 c_first + idx, c_last + idx,
                                 np.where(has_pred, a_lay + prev, zero),
                                 np.where(has_pred, a_lay + nl + prev, zero), c_pred + idx)):
            ix[lj, col + j] = src
        self.index = ix
        # the extended vector's buffer, the structure's constants in place (a scratch buffer:
        # every call fills the rest and returns a new array; so a call is not reentrant: two
        # threads must not compute one structure's features at once; learners run one per
        # process, in the sandbox's worker)
        self._ext = np.concatenate([np.zeros(nv + 3 + 2 * nj), self.consts])

    def __call__(self, f: Instance, job_ops: np.ndarray | None = None) -> np.ndarray:
        """The frame's job rows ``(n_jobs, width)``, float32 (a new array). ``job_ops``: the
        frame's ``np.add.reduceat(f.ops, starts)``, when the caller has it already."""
        if job_ops is None:
            job_ops = np.add.reduceat(f.ops, self.starts)
        ext = self._ext
        # the extended vector in place: [v | has_e, has_c, mean(active) | has_dl | active | consts],
        # v = log1p(raw / scales) (the raw quantities, divisions and flags in one kernel,
        # numpy's log1p in place: offbench/learn/_chain_kernels.py)
        nv = raw_scaled(ext, self.scales, float(f.w_time), float(f.w_energy), float(f.w_tardiness),
                        float(f.edge_speed), float(f.edge_energy_per_op), float(f.edge_capacity),
                        float(f.cloud_speed), float(f.cloud_energy_per_op), float(f.cloud_capacity),
                        float(f.backhaul_rate), float(f.backhaul_latency),
                        float(f.backhaul_energy_per_bit), float(f.ops.sum()), f.dev_speed,
                        f.dev_power_compute, f.dev_power_tx, f.dev_power_rx, f.dev_rate_up,
                        f.dev_rate_down, f.dev_latency, job_ops, f.bits, self.first_b, self.last_b,
                        f.job_weight, np.asarray(f.deadline, dtype=np.float64), f.ops, self.b_in,
                        self.b_out)
        v = ext[:nv]
        np.log1p(v, out=v)
        out = np.empty(self.index.shape, np.float32)
        gather_f32(ext, self.index, out)
        return out


# ------------------------------------------------------------------------------ networks
_PARALLEL_MLP = None


def parallel_mlp(K: int, in_dim: int, hidden, out_dim: int):
    """K multilayer perceptrons ``in_dim -> hidden... -> out_dim`` (ReLU) with separate weights,
    evaluated together by batched matrix products: ``forward(x)`` takes ``(in_dim,)``-rows as
    ``(B, in_dim)`` (the same input for every member) or ``(K, B, in_dim)`` (one batch each) and
    returns ``(K, B, out_dim)`` raw outputs (logits). Each member is initialized as
    ``torch.nn.Linear`` is (uniform in +-1/sqrt(fan_in) for weights and biases), from torch's
    global generator, member by member."""
    global _PARALLEL_MLP
    if _PARALLEL_MLP is None:
        import math

        import torch
        import torch.nn as nn

        class ParallelMLP(nn.Module):
            def __init__(self, K, in_dim, hidden, out_dim):
                super().__init__()
                dims = [int(in_dim), *(int(h) for h in hidden), int(out_dim)]
                if K < 1 or any(d < 1 for d in dims):
                    raise ValueError(f"K and layer sizes must be >= 1, got K={K}, {dims}")
                self.K = int(K)
                self.weights = nn.ParameterList()
                self.biases = nn.ParameterList()
                for a, b in zip(dims[:-1], dims[1:]):
                    bound = 1.0 / math.sqrt(a)
                    W = torch.empty(K, a, b)
                    B = torch.empty(K, 1, b)
                    for k in range(K):
                        W[k].uniform_(-bound, bound)
                        B[k].uniform_(-bound, bound)
                    self.weights.append(nn.Parameter(W))
                    self.biases.append(nn.Parameter(B))
                # The same Parameter objects as a plain list: indexing a ParameterList costs more
                # than the small products themselves (loading weights copies in place).
                self._layers = list(zip(self.weights, self.biases))

            def forward(self, x):
                if x.dim() == 2:
                    x = x.unsqueeze(0).expand(self.K, -1, -1)
                n = len(self._layers)
                for j, (W, B) in enumerate(self._layers):
                    x = torch.baddbmm(B, x, W)
                    if j < n - 1:  # in place: baddbmm's gradient does not need its output
                        x = torch.relu_(x)
                return x

        _PARALLEL_MLP = ParallelMLP
    return _PARALLEL_MLP(K, in_dim, hidden, out_dim)


# ------------------------------------------------------------------------------ the shared loop
def tier_loss(logits, y):
    """Cross-entropy of per-layer tier logits ``(..., n * 3)`` against tiers ``(..., n)`` (int64;
    -1 marks padding, ignored): the label loss of DROO, DDLO and DMRO (DROO's binary
    cross-entropy, generalized to three tiers)."""
    import torch.nn.functional as F

    return F.cross_entropy(logits.reshape(-1, 3), y.reshape(-1), ignore_index=-1)


class CandidateLearner:
    """A mix-in for learners whose ``decide`` prices candidates and whose ``learn`` stores the
    best (DROO, DDLO, DMRO). Subclasses write ``_propose(frame, ctx) -> (decision, info,
    payload)``, which prices its candidates on ``ctx`` (charged), and ``_store(payload) ->
    metrics``. ``decide`` keeps the payload of the frame it decided, so that ``learn`` on the
    same frame stores it without pricing again; ``learn`` on a frame that was not decided
    proposes for it first (charged to the learning context).

    A static solve (``solve``: one instance, no stream) is :attr:`static_rounds` rounds of decide
    and learn on the instance, within the time limit, returning the cheapest feasible decision
    met (or the cheapest, when none is feasible).
    """

    static_rounds = 32

    def decide(self, frame, ctx):
        from ..solver import Proposal

        self.check_frame(frame)
        x, info, payload = self._propose(frame, ctx)
        self._pending = (frame, payload)
        return Proposal(x, status="feasible", info=info)

    def learn(self, frame, decision, ctx):
        pending = getattr(self, "_pending", None)
        if pending is None or pending[0] is not frame:
            self.check_frame(frame)
            _, _, payload = self._propose(frame, ctx)
        else:
            payload = pending[1]
        self._pending = None
        return self._store(payload)

    def _solve(self, inst, ctx):
        from ..cost import evaluate
        from ..solver import Proposal

        self.start(inst, ctx.seed)
        best, best_key, rounds = None, None, 0
        for _ in range(self.static_rounds):
            if ctx.out_of_time():
                break
            x, _, payload = self._propose(inst, ctx)
            ev = evaluate(inst, x)  # the decision's candidates were priced and charged already
            key = (not ev.feasible, ev.cost)
            if best_key is None or key < best_key:
                best, best_key = x, key
            self._store(payload)
            rounds += 1
        return Proposal(best, status="feasible" if best is not None else "timeout",
                        info={"rounds": rounds})
