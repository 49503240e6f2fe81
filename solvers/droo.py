"""DROO: Deep Reinforcement learning-based Online Offloading (Huang, Bi, Zhang, IEEE TMC 2020).

**From the paper and its public code** (``revenol/DROO``, ``memoryTF2conv.py`` / ``main.py``):
one DNN maps the frame's observation to a relaxed placement; an **order-preserving quantizer**
turns it into K candidate placements; every candidate is priced (DROO solves a resource
allocation per candidate; here the cost model prices it) and the best is the decision; the best
is stored in a replay memory (the oldest overwritten) and is the DNN's training label; a training
step (one batch) every ``train_every`` frames, sampled from the memory; **K adapts**: every
``k_window`` frames, ``K = min(max(k*) + 1, K_max)`` with ``k*`` the 1-based index of the chosen
candidate over the last window (the code's ``max(k_idx_his[-Delta:-1]) + 1`` on 0-based indices,
plus one). Defaults from the public code: hidden layers 120 and 80 (ReLU), Adam with lr 0.01,
batch 128, memory 1024, a training step every 10 frames, K adapted every 32 frames, K starting at
its maximum.

**Offbench's choices** (DROO is binary: a device computes locally or offloads all):

* three tiers per layer: the DNN outputs per layer a softmax over (device, edge, cloud), trained
  with cross-entropy on the best candidate's tiers (DROO's binary cross-entropy, generalized);
  the quantizer runs on the relaxed tier ``p[1] + 2 p[2]`` in [0, 2] with thresholds 0.5 and
  1.5 (:func:`offbench.learn.candidates.op_quantize`: layers nearest a threshold flip first, in
  order of closeness; candidates are distinct and order-preserving);
* ``K_max`` = the number of layers of the frame (DROO's is its number of binary decisions, N);
* the observation is the whole frame as one vector (:func:`offbench.learn.frame_vector`); DROO
  observes the channel gains only;
* all K candidates are priced in one charged kernel call per frame
  (:func:`offbench.learn.candidates.price_jobs`: the cost model's own rules, totals bitwise
  those of ``evaluate_many``);
  an infeasible candidate (capacities) is never the best while a feasible one exists;
* DAG jobs (SPEC.md section 7): the frame vector describes each node in its job's graph
  (:mod:`offbench.learn.features`), the quantizer decides each node's tier, and the cost model
  prices the DAG; a stream keeps one structure (edges included), and a frame with another is
  refused.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from offbench.learn import ReplayMemory, frame_vector
from offbench.learn.base import WEIGHTS_PARAM, TorchLearningSolver
from offbench.learn.candidates import (CandidateLearner, best_row, op_quantize, parallel_mlp,
                                       price_jobs, relaxed_tiers, tier_loss)
from offbench.solver import Param


class DROO(CandidateLearner, TorchLearningSolver):
    """DROO (Huang et al. 2020): one DNN, order-preserving quantization into K candidates, K adapts."""

    name = "droo"
    version = 1
    handles_dag = True
    params = (
        Param("hidden", list, (120, 80), item=int, low=1, length=(1, 8), doc="hidden layer sizes"),
        Param("lr", float, 0.01, low=0, doc="Adam learning rate"),
        Param("batch", int, 128, low=1, doc="training batch (frames)"),
        Param("memory", int, 1024, low=1, doc="replay memory (frames)"),
        Param("train_every", int, 10, low=1, doc="frames between training steps"),
        Param("k_window", int, 32, low=1, doc="frames between adaptations of K"),
        Param("K", int, None, low=1, allow_none=True,
              doc="candidates at the start and at most (None: the frame's number of layers)"),
        Param("adapt_k", bool, True, doc="adapt K (DROO's rule); false keeps K fixed"),
        WEIGHTS_PARAM,
    )

    def build(self, structure):
        import torch

        self.n_layers = int(structure.n_layers)
        self.n_in = int(frame_vector(structure).size)
        self.net = parallel_mlp(1, self.n_in, self.hidden, 3 * self.n_layers)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        self.memory_ = ReplayMemory(self.memory, {"x": ((self.n_in,), np.float32),
                                                  "y": ((self.n_layers,), np.int8)})
        self.k_max = int(self.K) if self.K is not None else self.n_layers
        self.k = self.k_max
        self.chosen = deque(maxlen=self.k_window)
        self.frames_learned = 0
        self._pending = None

    def modules(self):
        return {"net": self.net}

    def _propose(self, frame, ctx):
        import torch

        x = frame_vector(frame)
        with torch.no_grad():
            logits = self.net(torch.from_numpy(x)[None])[0, 0].view(self.n_layers, 3)
            probs = torch.softmax(logits, dim=1).numpy()
        cands = op_quantize(relaxed_tiers(probs), self.k)
        best = best_row(price_jobs(ctx, cands))
        return cands[best], {"candidate": best, "K": len(cands)}, (x, cands[best], best)

    def _store(self, payload):
        import torch

        x, y, idx = payload
        self.memory_.add(x=x, y=y)
        self.chosen.append(idx)
        self.frames_learned += 1
        out = {"K": self.k, "candidate": idx}
        if self.frames_learned % self.train_every == 0:
            b = self.memory_.sample(self.batch, self.rng)
            logits = self.net(torch.from_numpy(b["x"]))
            loss = tier_loss(logits, torch.from_numpy(b["y"].astype(np.int64))[None])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            out["loss"] = float(loss.detach())
        if self.adapt_k and self.frames_learned % self.k_window == 0:
            self.k = min(max(self.chosen) + 2, self.k_max)
        return out
