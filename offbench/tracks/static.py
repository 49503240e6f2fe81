"""The static track: one instance, one :meth:`~offbench.solver.Solver.solve`, one row.

The row holds the cost-model cost of the decision, its cost ratio against the instance's
reference (an infeasible or missing decision is scored at the all-device cost and counted
infeasible; SPEC.md section 6), the bound, wall time and evaluations. Its tables are drawn as a
performance profile and an ECDF of the cost ratio.
"""

from __future__ import annotations

from .base import Track, job_threads, register
from .outcome import Outcome
from .scoring import score_outcome


class StaticTrack(Track):
    name = "static"
    doc = "one instance, one solve: cost ratio against the instance's reference"
    stream = False
    figures = ("profile", "ecdf", "anytime")

    def run(self, job, solver_cls, started=None) -> Outcome:
        solver = solver_cls(**job.params)
        if started is not None:
            started()
        res = solver.solve(job.instance, time_limit=job.time_limit, seed=job.seed,
                           threads=job_threads(job))
        out = Outcome.from_result(res)
        out.mark_overrun(job.time_limit)
        if job.score and job.reference is not None:
            score_outcome(job.instance, job.reference, out)
        elif not job.score:
            out.counted_infeasible = out.unscored_infeasible
        return out


STATIC = register(StaticTrack())
