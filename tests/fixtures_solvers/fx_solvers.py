"""Test-only solvers, loaded with ``--solvers-dir tests/fixtures_solvers`` (never installed).

Each one exercises one path of the runner: a trivial answer, a seeded random search, a crash, a
solver that ignores its time limit, one that prints, an invalid decision, an infeasible one, a
worker that dies, and a small learner for the online track.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from offbench.solver import LearningSolver, Param, Proposal, Solver


class FxZero(Solver):
    """Everything on the devices: the cheapest possible solve (runner overhead benchmark)."""

    name = "fx-zero"
    guarantee = "heuristic"

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8))


class FxRandomBest(Solver):
    """Best feasible of `samples` seeded random decisions (all-device if none is feasible)."""

    name = "fx-random-best"
    guarantee = "heuristic"
    params = (Param("samples", int, 16, low=1, doc="random decisions drawn"),
              Param("sleep", float, 0.0, low=0.0, doc="seconds to wait first (to slow a run down)"))

    def _solve(self, inst, ctx):
        if self.sleep:
            time.sleep(self.sleep)
        X = ctx.rng.integers(0, 3, size=(self.samples, inst.n_layers)).astype(np.int8)
        costs, feas, _ = ctx.evaluate_many(X, with_feasibility=True, parallel=False)
        costs = np.where(feas, costs, np.inf)
        if not np.isfinite(costs).any():
            return Proposal(np.zeros(inst.n_layers, dtype=np.int8))
        return Proposal(X[int(np.argmin(costs))])


class FxRaise(Solver):
    """Raises on every instance."""

    name = "fx-raise"

    def _solve(self, inst, ctx):
        raise RuntimeError("fixture failure on purpose")


class FxSleep(Solver):
    """Ignores its time limit and sleeps (or, ``busy``, keeps a core busy as a compile would)."""

    name = "fx-sleep"
    params = (Param("seconds", float, 30.0, low=0.0),
              Param("busy", bool, False, doc="spin instead of sleeping"))

    def _solve(self, inst, ctx):
        if self.busy:
            end = time.perf_counter() + self.seconds
            while time.perf_counter() < end:
                pass
        else:
            time.sleep(self.seconds)
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8))


class FxSpan(Solver):
    """Sleeps ``seconds`` and records its own span (``time.time()`` at the start and end of its
    solve) and whether the instance's cost tables were built before it started (the latency
    tests: the runner's measured wall time must contain the span, and not the tables)."""

    name = "fx-span"
    params = (Param("seconds", float, 0.0, low=0.0),)

    def _solve(self, inst, ctx):
        t0 = time.time()
        ready = "_offbench_tables" in inst.__dict__
        if self.seconds:
            time.sleep(self.seconds)
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8),
                        info={"span": [t0, time.time()], "tables_ready": ready})


class FxChatty(Solver):
    """Prints while it solves (solver chatter must never reach ``--jsonl`` output)."""

    name = "fx-chatty"

    def _solve(self, inst, ctx):
        print("fx-chatty: thinking out loud")
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8))


class FxInvalid(Solver):
    """Returns a decision one layer too long."""

    name = "fx-invalid"

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers + 1, dtype=np.int8))


class FxAllEdge(Solver):
    """Everything on the edge: infeasible whenever the edge capacity is too small."""

    name = "fx-all-edge"

    def _solve(self, inst, ctx):
        return Proposal(np.ones(inst.n_layers, dtype=np.int8))


class FxDie(Solver):
    """Kills its own process (a segfault stand-in); only ever run in a worker process."""

    name = "fx-die"

    def _solve(self, inst, ctx):
        if os.environ.get("OFFBENCH_WORKER"):
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError("fx-die only dies inside a worker process")


class FxLearner(LearningSolver):
    """Keeps the best decision seen so far and tries one seeded mutation of it per frame."""

    name = "fx-learner"
    tracks = ("online", "generalization", "adaptation")
    params = (Param("mutations", int, 2, low=1),)

    def start(self, structure, seed):
        self.best = np.zeros(structure.n_layers, dtype=np.int8)
        self.rng = np.random.default_rng(seed)
        self.learned = 0

    def decide(self, frame, ctx):
        cand = np.repeat(self.best[None, :], self.mutations + 1, axis=0)
        for r in range(1, self.mutations + 1):
            cand[r, self.rng.integers(0, frame.n_layers)] = self.rng.integers(0, 3)
        costs, feas, _ = ctx.evaluate_many(cand, with_feasibility=True, parallel=False)
        costs = np.where(feas, costs, np.inf)
        return Proposal(cand[int(np.argmin(costs))])

    def learn(self, frame, decision, ctx):
        self.best = np.asarray(decision, dtype=np.int8).copy()
        self.learned += 1
        return {"learned": self.learned, "placed_remote": float(np.mean(self.best > 0))}
