"""DDLO: Distributed Deep Learning-based Offloading (Huang, Feng, Feng, Huang, Qian, MONET 2018).

**From the paper and its public code** (``revenol/DDLO``): K DNNs of one shape, with their own
initial weights, run in parallel on the frame's observation; each proposes one placement (its
relaxed output rounded); all K are priced and the best is the decision; the best is stored in
**one replay memory shared** by the K DNNs, and every ``train_every`` frames, once the memory
holds ``train_after`` samples, each DNN takes one training step on its own batch sampled from
it. Defaults from the public code: K = 3, hidden layers 120 and 80 (ReLU), memory 1024, batch
128, Adam with lr 0.01, a training step every 10 frames after 512 samples.

**Offbench's choices** (DDLO is binary): the DNNs output per layer a softmax over the three tiers,
trained with cross-entropy on the best candidate's tiers; a DNN's proposal is its relaxed tier
``p[1] + 2 p[2]`` rounded at 0.5 and 1.5 (the first candidate of
:func:`offbench.learn.candidates.op_quantize`); the K DNNs are evaluated together as one batched
network (:func:`offbench.learn.candidates.parallel_mlp`); the observation is the whole frame as one
vector (:func:`offbench.learn.frame_vector`); the K proposals are priced in one charged
kernel call per frame (:func:`offbench.learn.candidates.price_jobs`: the cost model's own
  rules, totals bitwise those of ``evaluate_many``). DAG jobs (SPEC.md section 7) are handled as
DROO handles them: the features describe each node in its graph, the cost model prices the DAG,
and a frame of another structure (edges included) is refused.
"""

from __future__ import annotations

import numpy as np

from offbench.learn import ReplayMemory, frame_vector
from offbench.learn.base import WEIGHTS_PARAM, TorchLearningSolver
from offbench.learn.candidates import (CandidateLearner, best_row, op_quantize, parallel_mlp,
                                       price_jobs, relaxed_tiers, tier_loss)
from offbench.solver import Param


class DDLO(CandidateLearner, TorchLearningSolver):
    """DDLO (Huang et al. 2018): K parallel DNNs, one candidate each, one shared replay memory."""

    name = "ddlo"
    version = 1
    handles_dag = True
    params = (
        Param("K", int, 3, low=1, doc="parallel DNNs"),
        Param("hidden", list, (120, 80), item=int, low=1, length=(1, 8), doc="hidden layer sizes"),
        Param("lr", float, 0.01, low=0, doc="Adam learning rate"),
        Param("batch", int, 128, low=1, doc="training batch per DNN (frames)"),
        Param("memory", int, 1024, low=1, doc="shared replay memory (frames)"),
        Param("train_every", int, 10, low=1, doc="frames between training steps"),
        Param("train_after", int, 512, low=0, doc="samples in memory before training starts"),
        WEIGHTS_PARAM,
    )

    def build(self, structure):
        import torch

        self.n_layers = int(structure.n_layers)
        self.n_in = int(frame_vector(structure).size)
        self.nets = parallel_mlp(self.K, self.n_in, self.hidden, 3 * self.n_layers)
        self.opt = torch.optim.Adam(self.nets.parameters(), lr=self.lr)
        self.memory_ = ReplayMemory(self.memory, {"x": ((self.n_in,), np.float32),
                                                  "y": ((self.n_layers,), np.int8)})
        self.frames_learned = 0
        self._pending = None

    def modules(self):
        return {"nets": self.nets}

    def _propose(self, frame, ctx):
        import torch

        x = frame_vector(frame)
        with torch.no_grad():
            logits = self.nets(torch.from_numpy(x)[None])[:, 0].view(self.K, self.n_layers, 3)
            probs = torch.softmax(logits, dim=2).numpy()
        cands = np.stack([op_quantize(relaxed_tiers(p), 1)[0] for p in probs])
        best = best_row(price_jobs(ctx, cands))
        return cands[best], {"candidate": best}, (x, cands[best], best)

    def _store(self, payload):
        import torch

        x, y, idx = payload
        self.memory_.add(x=x, y=y)
        self.frames_learned += 1
        out = {"candidate": idx}
        if (self.frames_learned % self.train_every == 0
                and self.memory_.added >= self.train_after):
            bs = [self.memory_.sample(self.batch, self.rng) for _ in range(self.K)]
            X = torch.from_numpy(np.stack([b["x"] for b in bs]))
            Y = torch.from_numpy(np.stack([b["y"] for b in bs]).astype(np.int64))
            loss = tier_loss(self.nets(X), Y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            out["loss"] = float(loss.detach())
        return out
