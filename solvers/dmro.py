"""DMRO: Deep Meta Reinforcement learning-based Offloading (Qu, Wu, Li, Jiao, IEEE TNSM 18(3), 2021).

Only DMRO's abstract is public; this is offbench's reading of it, with every other piece named
by its source.

**From DMRO's abstract:** multiple parallel DNNs generate offloading decisions for fine-grained
subtasks (layers) over device, edge and cloud; Q-learning evaluates and selects among them; a
replay memory trains the DNNs; meta-learning gives an initialization that adapts fast to a new
environment.

**From its lineage.** DDLO (Huang et al., MONET 2018; ``revenol/DDLO``): K parallel DNNs with
their own initial weights, each proposing a candidate, one replay memory shared by all, each DNN
trained on its own batch from it, the best priced candidate as the label. DROO (Huang, Bi, Zhang,
IEEE TMC 2020): the label is the best of the priced candidates; cross-entropy-style training
every few frames. Reptile (Nichol et al. 2018) as in MRLCO (Wang et al., IEEE TPDS 2021): a
first-order meta-update ``theta += outer_lr * mean(phi_task - theta)`` over a batch of tasks
(:func:`offbench.learn.meta.reptile_step`).

**The Q-learning part, two readings** (the parameter ``q``):

* ``q = "cost"`` (a): the Q-value of a candidate is minus its cost-model cost (the immediate
  reward; frames are independent, so there is no bootstrapped future term), every candidate is
  priced, and the best is taken; epsilon-greedy exploration adds candidates around the DNNs'
  consensus (below), priced with the others, so exploring never makes the decision worse than
  the greedy one, only costs evaluations.
* ``q = "learned"`` (b): a Q-network scores every (job, candidate) pair with a predicted log
  cost; only each job's ``q_price`` best-scored candidates are priced (fewer evaluations per
  decision), one of them, with probability epsilon, drawn at random from the pool instead; the
  Q-network is trained by least squares on the log costs of the priced pairs.

**Meta-learning** (``meta_iterations > 0``, in ``start``, before the stream's first frame; or once
by ``offbench train dmro``, whose weights the ``weights`` parameter loads): tasks are the
family's training environments (``meta_family``, split ``train``); each iteration draws
``meta_tasks`` of them (without replacement, seeded), decides ``meta_frames`` new frames of each
(environment ``j``'s frames are the stream of :func:`meta_stream_seed`, a seed space of its own,
so a run's stream sources never hold training frames) with the current initialization (candidates priced by the cost model, counted in
``meta_evaluations``), stores the labels in that task's own memory, adapts a copy of the
networks to each task with ``inner_steps`` Adam steps at ``inner_lr``, and moves the
initialization by ``outer_lr`` towards the mean adapted weights. On the adaptation track with
``meta_frames`` set, the track draws the frames instead (round-robin over the training
environments the stream does not visit, the same for every solver) and hands them to
:meth:`DMRO.learn_meta`, which runs the same iterations over them, each frame used once. MRLCO's values (inner lr 5e-4,
outer lr 5e-4, 10 tasks, 1 inner step) were set for PPO on a policy gradient; for supervised
steps on self-made labels offbench uses inner lr 1e-3, 5 inner steps, outer step 0.5 (Reptile's
paper uses outer steps up to 1 with SGD inner loops), and 8 tasks per meta-batch (dmro-v1 has 8
training environments). ``meta_mode = "union"`` is the non-meta baseline on exactly the same
frames and gradient steps: the tasks are trained one after another (outer step 1). Adaptation on
a track fine-tunes from the initialization with the online loop below.

**Offbench's own design choices** (not from a paper):

* **one network shared by the jobs of a frame**: a DNN takes one job's row (the frame's global
  features, the job's features, its layers' features padded to the longest job:
  :func:`offbench.learn.candidates.job_inputs`) and outputs that job's per-layer tier logits, so a
  frame of N jobs is N training samples of one small network (the whole-frame vector of DROO
  and DDLO makes a learner relearn the same job N times: ``/work/shared/LEARNING.md``);
* **candidates per job**: each of the K DNNs proposes its argmax per job; the **incumbent**, the
  job's label of the last frame learned from (a job of a stream is the same DNN on the same
  device frame after frame), is one more candidate (updated by ``learn`` only, so held-out
  frames are decided without it changing); exploration adds
  ``n_explore`` **cut-shaped** candidates per job (:func:`offbench.learn.candidates.cut_exploration`:
  a contiguous-segment move of the consensus, or with probability epsilon a random cut shape
  ``0^a 1^b 2^c 1^d 0^e``), since moving one layer alone pays a round trip of transfers and
  contiguous segments are the natural neighbourhood of a chain placement (a DAG job's shapes and
  segments are read along its topological order: "Cuts on DAG jobs" in
  :mod:`offbench.learn.candidates`); epsilon decays
  linearly from ``eps_start`` to ``eps_end`` over ``eps_frames`` learned frames;
* **per-job selection**: candidates are priced per job (:func:`offbench.learn.candidates.price_jobs`,
  one evaluation charged per priced row) and, when the frame has no capacities (its jobs are
  independent), each job takes its cheapest part, which is exact; with capacities the decision
  is the cheapest feasible whole row; the **all-device row** is always a candidate (the
  system's fallback, always feasible: with capacities it guarantees a feasible decision, and
  without it a job in a deep fade, whose optimum is to compute locally, has its label; measured
  on dmro-v1 resnet18-mid, such jobs were most of the remaining gap);
* the memory holds one row per job (``memory`` frames of them); defaults K = 4, hidden 120 and
  80, Adam lr 0.005, batch 128 job rows per DNN, a training step every 5 frames (offbench's
  values, from the shared-network learner of ``LEARNING.md`` and DDLO's sizes).

**Adaptation to a new environment** (``adapt``, offbench's own; a stream's switch is not
announced to the learner, it is observed): :class:`offbench.learn.drift.ProfileWatch` notices
that the frames' profile (the shape of each job's operations and data, fixed by its DNN) has
changed after holding for ``adapt_stable`` learned frames. From the first frame of the new
profile on, DMRO widens its search as DROO adapts its K: every job is also priced at each of its
cut shapes (:func:`offbench.learn.candidates.cut_sweep`, 86 rows for 5 layers, at most
``adapt_rows``; each row charged as one evaluation), so its decisions and labels are the best
cut of every job from the switch on. On the change it restarts the networks from their
initialization (``adapt_reset``: the meta-learned one when ``weights`` or a meta phase gave one,
so that Reptile's initialization is what fine-tuning starts from, as MAML-style adaptation
means; otherwise the stream's initial weights) with fresh optimizers, empties the replay memory
(the old environment's labels), and trains on every ``adapt_train_every`` learned frames. The
sweep ends when, for ``adapt_patience`` learned frames in a row, it made the decision at most
``adapt_tol`` cheaper than what the networks' candidates, the exploration and the all-device row
found without it (the incumbent left out: it carries the sweep's last labels), or after
``adapt_frames`` frames. A stationary stream never triggers any of this (its decisions are those
of ``adapt = false``, bitwise). A change of the channel alone (the same DNN over another
bandwidth) is not noticed. Tuned (``adapt_patience`` 3, 5, 10, 20; ``adapt_tol`` 0 to 0.005;
restart or not) on switches from resnet18-mid to four *training* environments only
(alexnet-high, mobilenet_v2-high, alexnet-low, mobilenet_v2-low; stream seeds 410-413).

Ablations: ``meta_iterations = 0`` (no meta-learning; the default, as a track's stream starts
from scratch unless ``weights`` names meta-trained weights), ``explore = false``, ``K = 1``,
``all_device = false``, ``adapt = false`` (no sweep, no restart), ``adapt_reset = false``.

**Speed** (issue 12's goals: a dmro-v1 frame decided in at most 0.5 ms, the online loop in at
most 1 ms per frame; measured with ``benchmarks/scripts/bench_learned.py``, CPU time). The
arithmetic is fixed: decisions, costs, evaluations, losses and learned weights are bitwise those
of commit 0baca91 (``tests/test_learned_fingerprint.py``: online, switch and sweep, capacitated,
DAG, learned-Q and Reptile runs). What was cut is overhead around it, timed piece by piece at
load 7-8 on two shared cores, old and new alternated four times (CPU per frame, medians of
the four):

* what only the stream's structure fixes is worked out in :meth:`build`: the job features'
  index map (one ``log1p`` and one gather per frame: 104 -> 38 us), the exploration's
  groups, masks and shapes (:class:`~offbench.learn.candidates.CutExplorer`: 138 -> 47 us,
  of which the four draws, unchanged, are about 25), the profile's index arrays
  (:class:`~offbench.learn.drift.Profiler`, and the watch's tolerance per recorded profile:
  45 -> 12 us), the structure check's bytes (7.2 -> 1.7 us);
* fewer torch calls: the networks' forward without ``Module.__call__``, ReLU in place, the
  proposals' argmax and the consensus mean in numpy on torch's outputs (torch's ``mean(0)``
  over up to 4 networks is numpy's sequential sum divided by K, bitwise: tested; from 5
  networks on torch sums in another order and its own mean is used), Adam on torch's
  ``foreach`` path (bitwise the per-tensor loop; 0.68 -> 0.62 ms per step); forward pass and
  choices together 243 -> 176 us;
* the candidate rows assembled in one ``concatenate`` and priced without re-testing that they
  are tiers; parameters read as plain attributes (``Solver.__getattr__`` is a Python call).

Second round (issue 12, after 1d281b6), measured by a paired run in one process (the
1d281b6 path and the new one deciding the same stream in lockstep, their order alternated
frame by frame, the thread's CPU time; dmro-v1 resnet18-mid, stream 100, frames 300-2,000, at
load 7-10 on the two shared cores): decide's median 0.972 -> 0.771 ms (-21%). With
``bench_learned.py --frames 5000 --environment resnet18-mid --stream-seed 100 --solvers dmro``,
1d281b6 and this code in clean worktrees alternated twice at load 2: decide median 0.659 and
0.722 -> 0.539 and 0.513 ms of CPU; per frame with learning 1.73 and 1.89 -> 1.77 and 1.67 ms
(the training step dominates it). Per phase, a phase timed in a loop of its own costs about half what it costs in the
sequence of a decision (the code and data of torch, numpy and Numba calls evict each other), so
what pays is fewer calls:

* after the forward pass and torch's softmax, one Numba kernel
  (:func:`offbench.learn.fused.decide_rows`) does what a dozen numpy calls did: the networks'
  argmax, the consensus (the float32 sum over the networks in their order, divided by K: numpy's
  ``add.reduce`` and torch's ``mean`` for K <= 4), the exploration's draws (numpy's numbers
  from the learner's generator, drawn by Numba: the same calls as
  :meth:`~offbench.learn.candidates.CutExplorer.draws`) and rows, the
  pricing kernel of :func:`~offbench.learn.candidates.price_jobs` and the per-job (or, with
  capacities, whole-row) selection; used for equal-length chains with ``q = "cost"``,
  exploration on, K <= 4, no sweep, and capacities or ``all_device`` on (the cases whose rows
  include the all-device row); every other case takes the numpy chain below;
* the frame's profile and the watch's comparison in one kernel after the job sums
  (:func:`offbench.learn.drift.watch_frame`);
* the job features' extended vector written into a buffer that holds the constants (39-47 ->
  30 us in a loop of its own);
* ``torch.inference_mode`` instead of ``no_grad`` around the forward pass (fewer checks per
  op; the same kernels).

Third round (issue 12, after 46d2640; per-piece thread-CPU timers over 3,000 frames of
resnet18-mid stream 100, in the loop, at load 2.8, old and new in turn): Adam by
:class:`~offbench.learn.adam.ForeachAdam` (without ``torch.optim.Adam``'s per-step Python, in
two Numba passes around torch's own square root with the roundings of torch's kernels; bitwise,
tested against torch's optimizer; one step alone 570-610 -> 285-337 us at load 4.5), the
gradients dropped by a plain loop (``Optimizer.zero_grad``'s profiler record and hooks: 226 ->
21 us per step), the networks called by ``forward`` (no ``Module.__call__``), the batch
gathered by ``np.take`` (numpy's fancy indexing of the same rows cost more); a training step
4.90 -> 4.36 ms. Tried and dropped: the labels kept as int64 in the memory (no ``astype`` per
step, but gathering rows 8 times wider cost 30-70 us more per step). The job
features' quantities, divisions, flags and float32 gather in two Numba kernels around numpy's
``log1p`` (:mod:`offbench.learn._chain_kernels`), the job sums taken once for the features and
the drift watch: 137 -> 70 us per frame for the two.

Left as they are: the forward pass itself (three batched products, 60-70 us for 10 jobs, most
of it MKL's small-matrix time), the frame's cost tables (:func:`offbench.cost.tables`, built by
the first pricing of a frame), and the training step every ``train_every`` frames (forward and
backward of K networks on ``batch`` rows each and Adam: arithmetic, 2-4 ms of CPU on the loaded
machine). Tried and dropped: sampling the batch into reused buffers (its 38 page faults per
step come from elsewhere: no change), Adam's fused kernel (faster, not bitwise the same).
"""

from __future__ import annotations


import numpy as np

from offbench.errors import UserError
from offbench.learn import ReplayMemory, same_structure, structure_difference
from offbench.learn.adam import ForeachAdam
from offbench.learn.base import WEIGHTS_PARAM, TorchLearningSolver
from offbench.learn.candidates import (CandidateLearner, CutExplorer, JobPrices, _chain_inputs, best_row,
                                       cut_sweep, job_input_size, job_inputs, parallel_mlp, per_job_best,
                                       price_jobs, tier_loss, topo_orders)
from offbench.cost import tables
from offbench.learn.drift import Profiler, ProfileWatch, watch_frame
from offbench.learn.fused import decide_rows
from offbench.learn.meta import reptile_step
from offbench.solver import Context, Param


#: Up to this many networks, torch's ``mean(0)`` over them is numpy's sequential sum divided by
#: their number, bitwise (measured on torch 2.13 for 1 to 4 networks; from 5 on torch sums in
#: another order): tests/test_learned_fingerprint.py checks it on the installed torch.
CONSENSUS_NUMPY_K = 4


#: Tag of the seed sequence of the meta-training streams (``b"dmtr"``), and the ways of deriving
#: them (:func:`meta_stream_seed`).
_TRAIN_TAG = 0x646D7472
SEED_SPACES = ("tagged", "legacy")


def meta_stream_seed(seed: int, j: int, space: str = "tagged") -> int:
    """The stream seed of training environment ``j`` when meta-training with ``seed``.

    ``"tagged"``: ``2**63`` plus 63 bits drawn from ``SeedSequence([seed, tag, j])``, a seed of
    ``2**32`` or more, whose streams a family derives with a length-prefixed code that no seed
    below ``2**32`` shares (:func:`offbench.families.family.seed_words`): a run spec's stream
    source (its seeds are small) never holds a training frame. ``"legacy"``: ``seed * 1000 + j``,
    the derivation before the tagged one, the same seed space as run specs' stream sources
    (training environment ``j`` of seed 0 is the stream of seed ``j``), kept to reproduce the
    weights trained with it."""
    if space == "legacy":
        return int(seed) * 1000 + int(j)
    if space != "tagged":
        raise UserError(f"seed space {space!r}: expected one of {', '.join(SEED_SPACES)}")
    word = int(np.random.SeedSequence([int(seed), _TRAIN_TAG, int(j)]).generate_state(1, np.uint64)[0])
    return (1 << 63) | (word >> 1)


class DMRO(CandidateLearner, TorchLearningSolver):
    """DMRO (Qu et al. 2021), offbench's reading: parallel DNNs shared by jobs, Q-selection, Reptile."""

    name = "dmro"
    version = 1
    handles_dag = True
    params = (
        Param("K", int, 4, low=1, doc="parallel DNNs"),
        Param("hidden", list, (120, 80), item=int, low=1, length=(1, 8), doc="hidden layer sizes"),
        Param("lr", float, 0.005, low=0, doc="Adam learning rate (online)"),
        Param("batch", int, 128, low=1, doc="training batch per DNN (job rows)"),
        Param("memory", int, 256, low=1, doc="replay memory (frames; one row per job)"),
        Param("train_every", int, 5, low=1, doc="frames between training steps"),
        Param("q", str, "cost", choices=("cost", "learned"),
              doc="Q-selection: cost (every candidate priced) or learned (a Q-network picks which)"),
        Param("q_price", int, 2, low=1, doc="with q = learned: candidates priced per job"),
        Param("explore", bool, True, doc="cut-shaped exploration candidates"),
        Param("all_device", bool, True,
              doc="the all-device placement is always a candidate (always needed with capacities)"),
        Param("n_explore", int, 4, low=1, doc="exploration candidates per job"),
        Param("eps_start", float, 0.5, low=0, high=1, doc="epsilon at the start"),
        Param("eps_end", float, 0.05, low=0, high=1, doc="epsilon at the end of its decay"),
        Param("eps_frames", int, 1000, low=1, doc="frames of linear epsilon decay"),
        Param("meta_iterations", int, 0, low=0, doc="Reptile iterations in start (0: no meta-learning)"),
        Param("meta_family", str, "dmro-v1", doc="family whose training environments are the tasks"),
        Param("meta_mode", str, "reptile", choices=("reptile", "union"),
              doc="reptile (meta-learning) or union (the same frames and steps, trained in turn)"),
        Param("meta_tasks", int, 8, low=1, doc="tasks per meta-batch"),
        Param("meta_frames", int, 8, low=1, doc="new frames per task per iteration"),
        Param("inner_steps", int, 5, low=1, doc="Adam steps per task"),
        Param("inner_lr", float, 1e-3, low=0, doc="inner Adam learning rate"),
        Param("outer_lr", float, 0.5, low=0, high=1, doc="Reptile's outer step size"),
        Param("adapt", bool, True,
              doc="on a noticed change of environment: the cut sweep, a restart from the initialization"),
        Param("adapt_stable", int, 5, low=1, doc="learned frames of one profile before a new one is a change"),
        Param("adapt_rows", int, 128, low=1, doc="the cut sweep's candidate rows, at most"),
        Param("adapt_patience", int, 10, low=1,
              doc="the sweep ends after this many learned frames in a row where it improved no job"),
        Param("adapt_tol", float, 0.0, low=0,
              doc="a swept frame counts as calm when the sweep made its cost at most this much lower"),
        Param("adapt_frames", int, 100, low=1, doc="the sweep ends after this many learned frames"),
        Param("adapt_reset", bool, True,
              doc="on a change, restart the networks from their initialization (meta-learned or not)"),
        Param("adapt_train_every", int, 1, low=1, doc="frames between training steps while sweeping"),
        WEIGHTS_PARAM,
    )

    # ---------------------------------------------------------------- model
    def build(self, structure):
        import torch

        self.lengths = np.diff(structure.layer_offsets).astype(np.int64)
        self.max_L = int(self.lengths.max())
        self.n_jobs = int(structure.n_jobs)
        self.n_in = job_input_size(self.max_L)
        self.orders = topo_orders(structure, self.max_L)  # None for chains
        self.uniform = bool(np.all(self.lengths == self.max_L))  # no padding
        self.pad = np.arange(self.max_L)[None, :] >= self.lengths[:, None]   # (nj, L)
        # what only the structure fixes, worked out once (see "Speed" in the module docstring)
        self._inputs = None if structure.is_dag else _chain_inputs(structure, self.max_L)
        self._explorer = CutExplorer(self.lengths, self.orders)
        self._profiler = Profiler(structure)
        self._jobs = np.arange(self.n_jobs)
        self._zero_row = np.zeros((1, int(structure.n_layers)), np.int8)
        # one kernel for the candidates, their prices and the choice (see "Speed"), where it applies
        self._fused = (self.uniform and self.orders is None and self._explorer.plain
                       and self.param_values["q"] == "cost" and self.param_values["explore"]
                       and self.param_values["K"] <= CONSENSUS_NUMPY_K)
        # the parameters as plain attributes (Solver reads them through __getattr__, a Python
        # call per read; _propose reads a dozen per frame)
        vars(self).update(self.param_values)
        self.nets = parallel_mlp(self.K, self.n_in, self.hidden, 3 * self.max_L)
        self.opt = self._adam(self.nets)
        self.qnet = None
        if self.q == "learned":
            self.qnet = parallel_mlp(1, self.n_in + 3 * self.max_L, self.hidden, 1)
            self.qopt = self._adam(self.qnet)
        self.memory_, self.qmemory = self._memories()
        self.frames_learned = 0
        self.meta_evaluations = 0
        self.incumbent = None
        self._pending = None
        self.watch = ProfileWatch(self.adapt_stable)
        self.sweep_left = 0      # learned frames the cut sweep goes on for (0: not sweeping)
        self.sweep_calm = 0      # learned frames in a row where the sweep improved no job
        self.since_change = 0    # learned frames since the last change (training cadence)
        self.changes = 0
        self._theta0 = None      # the initialization, as the first learned frame found it

    def _adam(self, module):
        """Adam at the online rate, with torch's multi-tensor ("foreach") arithmetic: the same
        updates bitwise as torch's per-tensor loop (checked by tests/test_learned_fingerprint.py),
        made by :class:`~offbench.learn.adam.ForeachAdam`, the same ``_foreach`` calls without
        ``torch.optim.Adam``'s per-step Python (see "Speed")."""
        return ForeachAdam(module.parameters(), lr=self.lr)

    def _memories(self):
        rows = self.memory * self.n_jobs
        # the labels as int8 (kept as int64, the loss's dtype, the batch's rows cost more to gather
        # than the cast saves: measured +30-70 us per training step)
        mem = ReplayMemory(rows, {"x": ((self.n_in,), np.float32), "y": ((self.max_L,), np.int8)})
        qmem = None
        if self.q == "learned":
            qmem = ReplayMemory(rows * self.q_price, {"x": ((self.n_in + 3 * self.max_L,), np.float32),
                                                       "c": ((), np.float32)})
        return mem, qmem

    def modules(self):
        return {"nets": self.nets, **({"qnet": self.qnet} if self.qnet is not None else {})}

    def _trainable(self):
        import torch.nn as nn

        return nn.ModuleDict(self.modules())

    def start(self, structure, seed):
        super().start(structure, seed)
        if self.meta_iterations > 0:
            self.meta_train(self.meta_family, self.meta_iterations, int(seed))

    def provenance(self):
        return {**super().provenance(), "meta_iterations": self.meta_iterations,
                "meta_mode": self.meta_mode if self.meta_iterations else None,
                "meta_evaluations": int(getattr(self, "meta_evaluations", 0))}

    # ---------------------------------------------------------------- deciding
    def _eps(self) -> float:
        f = min(1.0, self.frames_learned / self.eps_frames)
        return self.eps_start + (self.eps_end - self.eps_start) * f

    def _flat(self, parts: np.ndarray) -> np.ndarray:
        """Per-job parts ``(m, n_jobs, max_L)`` -> decision rows ``(m, n_layers)``."""
        if self.uniform:
            return parts.reshape(parts.shape[0], -1)
        return np.concatenate([parts[:, i, :L] for i, L in enumerate(self.lengths)], axis=1)

    def _onehot(self, parts: np.ndarray) -> np.ndarray:
        """Tier one-hots of per-job parts ``(..., max_L)`` -> ``(..., 3 max_L)`` (padding: zeros)."""
        oh = (parts[..., None] == np.arange(3, dtype=np.int8)).astype(np.float32)
        return oh.reshape(*parts.shape[:-1], 3 * self.max_L)

    def _propose(self, frame, ctx):
        import torch

        if self._inputs is not None:  # chains: the job sums taken once, for the features and the watch
            tot = np.add.reduceat(frame.ops, self._profiler.starts) if self._profiler.n_layers else None
            X = self._inputs(frame, tot)
        else:
            tot = None
            X = job_inputs(frame, self.max_L)
        profile, differs = watch_frame(self._profiler, self.watch, frame, tot) if self.adapt else (None, False)
        sweep = self.adapt and (self.sweep_left > 0 or (differs and self.watch.run >= self.watch.stable))
        with torch.inference_mode():
            lg = self.nets.forward(torch.from_numpy(X)).view(self.K, self.n_jobs, self.max_L, 3)
            # the consensus: the tier of the largest mean probability over the K networks
            sm = torch.softmax(lg, -1)
        eps = self._eps()
        coupled = frame.has_capacities
        if self._fused and not sweep and (coupled or self.all_device):
            return self._propose_fused(ctx, X, lg, sm, eps, coupled, profile, differs)
        props = lg.numpy().argmax(-1).astype(np.int8)                         # (K, nj, L)
        if self.K <= CONSENSUS_NUMPY_K:  # torch's mean, bitwise, in numpy (fewer torch calls)
            mean = np.add.reduce(sm.numpy(), axis=0) / np.float32(self.K)
        else:
            mean = sm.mean(0).numpy()
        cons = mean.argmax(-1).astype(np.int8)
        if not self.uniform:
            props[:, self.pad] = -1
            cons[self.pad] = -1
        pool = [props]
        if self.incumbent is not None:
            pool.append(self.incumbent[None])
        if self.explore:
            pool.append(self._explorer(cons, self.n_explore, eps, self.rng))
        qdata = None
        if self.q == "learned":
            pool, qdata = self._q_select(X, np.concatenate(pool), eps)
            pool = [pool]
        n_pool = sum(p.shape[0] for p in pool)
        parts = [self._flat(p) for p in pool]                                # rows (m, n_layers)
        n_sweep = 0
        if sweep:
            parts.append(self._flat(cut_sweep(self.lengths, self.adapt_rows, self.rng, self.orders,
                                              self.max_L)))
            n_sweep = parts[-1].shape[0]
        if self.all_device or coupled:
            parts.append(self._zero_row)
        rows = np.concatenate(parts)
        pool = (rows[:n_pool].reshape(n_pool, self.n_jobs, self.max_L) if self.uniform  # (m, nj, L)
                else np.concatenate(pool))
        jp = price_jobs(ctx, rows, checked=False)
        if coupled:
            b = best_row(jp)
            x, chosen = rows[b], np.full(self.n_jobs, b)
        elif self.uniform:  # per_job_best, for jobs of one length
            chosen = np.argmin(jp.job_costs, axis=0)
            x = rows.reshape(rows.shape[0], self.n_jobs, self.max_L)[chosen, self._jobs].ravel()
        else:
            x, chosen = per_job_best(rows, jp.job_costs, frame.layer_offsets)
        if self.uniform:
            y = x.reshape(self.n_jobs, self.max_L).copy()
        else:
            y = np.full((self.n_jobs, self.max_L), -1, np.int8)
            for i, L in enumerate(self.lengths):
                y[i, :L] = x[frame.layer_offsets[i]:frame.layer_offsets[i + 1]]
        if qdata is not None:
            qdata = (qdata, jp.job_costs[:n_pool])
        info = {"candidates": int(rows.shape[0]), "epsilon": eps}
        swept = None  # with the sweep: how much it made the decision cheaper (relative)
        if n_sweep:
            n_base = n_pool
            keep = np.r_[0:n_base, n_base + n_sweep:rows.shape[0]]
            if self.q == "cost" and self.incumbent is not None:  # what the networks find alone
                keep = keep[keep != self.K]
            if coupled:
                without = float(jp.costs[keep][best_row(JobPrices(jp.job_costs[keep], jp.costs[keep],
                                                                  jp.feasible[keep]))])
                with_ = float(jp.costs[chosen[0]])
            else:
                without = float(jp.job_costs[keep].min(0).sum())
                with_ = float(jp.job_costs.min(0).sum())
            swept = (without - with_) / with_ if with_ > 0 else 0.0
            info["sweep"] = n_sweep
        return x, info, (X, y, pool, qdata, (profile, differs, swept))

    def _propose_fused(self, ctx, X, lg, sm, eps, coupled, profile, differs):
        """``_propose`` for frames of equal-length chains with ``q = "cost"``, exploration on, up
        to ``CONSENSUS_NUMPY_K`` networks, no sweep, and capacities or ``all_device`` on: the
        same candidates, prices and choice in one kernel
        (:func:`offbench.learn.fused.decide_rows`), bitwise."""
        group = self._explorer.groups[0]
        inc = self.incumbent
        m = self.K + (inc is not None) + self.n_explore + 1
        nj, L = self.n_jobs, self.max_L
        rows = np.empty((m, nj * L), np.int8)
        job_c, total, feas = np.empty((m, nj)), np.empty(m), np.empty(m, np.bool_)
        x, y, chosen = np.empty(nj * L, np.int8), np.empty((nj, L), np.int8), np.empty(nj, np.int64)
        decide_rows(tables(ctx.instance), lg.numpy().reshape(self.K, nj, 3 * L), sm.numpy(),
                    np.float32(self.K), self._zero_row if inc is None else inc, int(inc is not None),
                    self.rng, self.n_explore, float(eps), group[2], group[3], bool(coupled), rows, job_c, total, feas, x, y, chosen)
        ctx.charge(m)
        pool = rows[:m - 1].reshape(m - 1, nj, L)
        return x, {"candidates": m, "epsilon": eps}, (X, y, pool, None, (profile, differs, None))

    def _q_select(self, X, pool, eps):
        """Reading (b): score every (job, candidate) with the Q-network; keep each job's
        ``q_price`` best (the last one, with probability ``eps``, drawn from the rest)."""
        import torch

        m = pool.shape[0]
        inp = np.concatenate([np.broadcast_to(X[None], (m, *X.shape)), self._onehot(pool)], axis=2)
        with torch.no_grad():
            score = self.qnet(torch.from_numpy(inp.reshape(m * self.n_jobs, -1)))[0, :, 0]
        score = score.numpy().reshape(m, self.n_jobs)
        order = np.argsort(score, axis=0, kind="stable")                      # (m, nj)
        k = min(self.q_price, m)
        pick = order[:k].copy()
        if m > k:
            wild = self.rng.random(self.n_jobs) < eps
            alt = order[k + self.rng.integers(0, m - k, size=self.n_jobs), np.arange(self.n_jobs)]
            pick[k - 1] = np.where(wild, alt, pick[k - 1])
        chosen = pool[pick, np.arange(self.n_jobs)[None, :]]                  # (k, nj, L)
        return chosen, inp[pick, np.arange(self.n_jobs)[None, :]]            # (k, nj, d)

    # ---------------------------------------------------------------- learning
    def _remember(self, payload, mem, qmem):
        X, y, _, qdata, _ = payload
        mem.add_many(x=X, y=y)
        if qmem is not None and qdata is not None:
            inp, costs = qdata
            for r in range(inp.shape[0]):
                for i in range(self.n_jobs):
                    if costs[r, i] > 0:
                        qmem.add(x=inp[r, i], c=np.log(costs[r, i]))

    def _loss(self, mem, qmem):
        import torch

        bs = mem.sample_many(self.K, self.batch, self.rng)  # one batch per DNN
        loss = tier_loss(self.nets.forward(torch.from_numpy(bs["x"])),
                         torch.from_numpy(bs["y"].astype(np.int64)))
        if qmem is not None and len(qmem):
            b = qmem.sample(self.batch, self.rng)
            pred = self.qnet(torch.from_numpy(b["x"]))[0, :, 0]
            loss = loss + torch.mean((pred - torch.from_numpy(b["c"])) ** 2)
        return loss

    def _store(self, payload):
        if self._theta0 is None:  # after start, loading and any meta-training; before training
            self._theta0 = {k: v.clone() for k, v in self._trainable().state_dict().items()}
        out = self._adapt_step(payload[4]) if self.adapt else {}
        self._remember(payload, self.memory_, self.qmemory)
        self.incumbent = payload[1]
        self.frames_learned += 1
        self.since_change += 1
        out["epsilon"] = self._eps()
        if self.frames_learned == 1 and self.meta_evaluations:
            out["meta_evaluations"] = int(self.meta_evaluations)
        if (self.since_change % self.adapt_train_every == 0 if self.sweep_left > 0
                else self.frames_learned % self.train_every == 0):
            loss = self._loss(self.memory_, self.qmemory)
            self.opt.zero_grad()
            if self.qnet is not None:
                self.qopt.zero_grad()
            loss.backward()
            self.opt.step()
            if self.qnet is not None:
                self.qopt.step()
            out["loss"] = loss.item()
        return out

    def _adapt_step(self, seen) -> dict:
        """Adaptation to a change of environment (see the module docstring): notice it from the
        learned frame's profile, then restart and sweep; count down the sweep."""
        profile, differs, swept = seen
        out = {}
        if self.watch.observe(profile, differs):
            self.changes += 1
            out["environment_change"] = 1
            if self.adapt_reset:
                import torch

                self._trainable().load_state_dict(self._theta0)
                self.opt = self._adam(self.nets)
                if self.qnet is not None:
                    self.qopt = self._adam(self.qnet)
            self.memory_, self.qmemory = self._memories()
            self.sweep_left, self.sweep_calm, self.since_change = self.adapt_frames, 0, 0
        if self.sweep_left > 0:
            self.sweep_calm = 0 if swept is None or swept > self.adapt_tol else self.sweep_calm + 1
            self.sweep_left -= 1
            if self.sweep_calm >= self.adapt_patience:
                self.sweep_left = 0
        return out

    # ---------------------------------------------------------------- meta-learning
    def meta_train(self, family: str, iterations: int, seed: int, seed_space: str = "tagged") -> dict:
        """Meta-train (or, with ``meta_mode = "union"``, pretrain) the initialization on the
        training environments of ``family`` (see the module docstring). Returns a report (tasks,
        frames, evaluations, the last meta loss); the stream's memory stays empty.

        The frames of training environment ``j`` are the stream :func:`meta_stream_seed`
        ``(seed, j, seed_space)``: ``"tagged"`` (the default) is a seed space of its own, so
        no stream a run spec names (a seed below ``2**32``) is ever a training stream;
        ``"legacy"`` is the old ``seed * 1000 + j``, which a run's stream sources can share
        (the shipped weights in results/learned/weights were trained with it)."""
        from offbench.families import get_family

        fam = get_family(family)
        envs = [n for n, e in fam.environments.items() if e.split == "train"]
        if not envs:
            raise UserError(f"solver {self.id}: family {fam.id} has no training environments to meta-train on")
        n = int(iterations) * self.meta_frames
        streams = {env: fam.stream(meta_stream_seed(seed, j, seed_space), n, environment=env)
                   for j, env in enumerate(envs)}
        mems = {env: self._memories() for env in envs}
        frames = 0
        stats: dict = {}
        for _ in range(int(iterations)):
            picked = sorted(self.rng.choice(len(envs), size=min(self.meta_tasks, len(envs)), replace=False))
            batch = [(envs[j], [next(streams[envs[j]]) for _ in range(self.meta_frames)]) for j in picked]
            stats = self._meta_iteration(batch, mems, lambda f: Context(f, None, 0), f"{fam.id} ")
            frames += sum(len(fs) for _, fs in batch)
        return self._meta_done({"family": fam.id, "environments": envs, "iterations": int(iterations),
                                "frames": frames, "seed_space": seed_space}, stats)

    def learn_meta(self, frames_by_env: dict, context) -> dict:
        """The adaptation track's meta-training phase (``adaptation.meta_frames``): Reptile (or
        the union baseline, by ``meta_mode``) over the frames the track drew from the family's
        training environments, grouped by environment (one task each). Every frame is used
        once: each iteration draws up to ``meta_tasks`` of the environments that have frames
        left and takes the next ``meta_frames`` of each (fewer at the end); ``context(frame)``
        prices and counts the candidates. Returns the report (iterations, frames, last loss)."""
        queues = {env: list(fs) for env, fs in frames_by_env.items() if len(fs)}
        mems = {env: self._memories() for env in queues}
        iterations = frames = 0
        stats: dict = {}
        while queues:
            envs = list(queues)
            picked = sorted(self.rng.choice(len(envs), size=min(self.meta_tasks, len(envs)), replace=False))
            batch = []
            for j in picked:
                q = queues[envs[j]]
                batch.append((envs[j], q[:self.meta_frames]))
                del q[:self.meta_frames]
                if not q:
                    del queues[envs[j]]
            stats = self._meta_iteration(batch, mems, context, "")
            iterations += 1
            frames += sum(len(fs) for _, fs in batch)
        report = self._meta_done({"environments": list(frames_by_env), "iterations": iterations,
                                  "frames": frames}, stats)
        return {k: v for k, v in report.items()  # numbers only; the track counts the evaluations
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "evaluations"}

    def _meta_iteration(self, batch, mems, context, what: str) -> dict:
        """One meta-iteration: label each task's frames (decide with the current initialization,
        candidates priced through ``context(frame)``) into the task's own memory, then one
        Reptile step over the tasks (or, for ``meta_mode = "union"``, the tasks in turn)."""
        module = self._trainable()
        tasks = []
        for env, frames in batch:
            for frame in frames:
                if not same_structure(self.structure, frame):
                    raise UserError(f"solver {self.id}: the frames of {what}({env}) have another "
                                    "structure than the stream's ("
                                    f"{structure_difference(self.structure, frame)})")
                ctx = context(frame)
                _, _, payload = self._propose(frame, ctx)
                self.meta_evaluations += ctx.evaluations
                self._remember(payload, *mems[env])
            tasks.append(lambda mod, step, m=mems[env]: self._loss(*m))
        if self.meta_mode == "reptile":
            return reptile_step(module, tasks, inner_steps=self.inner_steps,
                                inner_lr=self.inner_lr, outer_lr=self.outer_lr)
        stats: dict = {}
        for task in tasks:
            stats = reptile_step(module, [task], inner_steps=self.inner_steps,
                                 inner_lr=self.inner_lr, outer_lr=1.0)
        return stats

    def _meta_done(self, report: dict, stats: dict) -> dict:
        self.incumbent = None  # the last meta-training frame's labels are another environment's
        self.meta_report = {**report, "evaluations": int(self.meta_evaluations), "mode": self.meta_mode,
                            **stats}
        return self.meta_report
