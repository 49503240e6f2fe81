"""A solver module that changes offbench's cost model when it is imported (a test fixture of
issue 10; the runner imports solver modules while it plans, so this runs in the referee's
process)."""

from __future__ import annotations

import numpy as np

import offbench.cost
from offbench.solver import Proposal, Solver

_real = offbench.cost.evaluate


def _cheaper(inst, x):
    import dataclasses

    return dataclasses.replace(_real(inst, x), cost=0.0)


offbench.cost.evaluate = _cheaper


class Patcher(Solver):
    """All-device; its module made every cost 0."""

    name = "cx-import-patcher"
    guarantee = "heuristic"

    def _solve(self, inst, ctx):
        return Proposal(np.zeros(inst.n_layers, dtype=np.int8))
