"""Exact MILP references through OR-Tools (HiGHS or SCIP), on the path formulation.

The algorithm (model pieces in :mod:`offbench_solvers._formulation`):

1. Without binding capacities the jobs are independent: each job's best path (exact pricing,
   tardiness included) is optimal. Status ``optimal`` without a MILP.
2. Otherwise, column generation solves the LP relaxation of the path formulation (a multiple-
   choice knapsack over Pareto paths) and gives a *certified* Lagrangian lower bound ``lb``
   (computed by us in floating point, no solver tolerance involved), and a rounded, repaired and
   improved incumbent ``ub``.
3. Reduced-cost fixing: every path whose reduced cost exceeds ``ub - lb`` belongs to no decision
   better than the incumbent, so only the remaining Pareto paths are enumerated, and a MILP over
   them (HiGHS or SCIP, relative gap 1e-9) finds the optimum. The bound reported is the
   smaller of the incumbent and the MILP's proven bound, never above the true optimum.
4. When the remaining paths are too many (label or column limits), or with
   ``formulation="transitions"``, the textbook transition formulation is solved instead: an
   explicit choice recorded in ``info["formulation"]``, never a silent one.

Every decision is priced again by the cost model (:meth:`offbench.solver.Solver.solve`), and the
MILP's own objective is compared with it.
"""

from __future__ import annotations

import math
import time

import numpy as np

from offbench.cost import evaluate
from offbench.solver import Param, Proposal, Solver

from offbench_solvers import _formulation as F

BACKENDS = ("highs", "scip")


def _mb():
    from ortools.linear_solver.python import model_builder as mb

    return mb


def _lp(obj, A, lo, hi):
    """LP over 0 <= y <= 1 with GLOP; returns (y, value, row duals)."""
    mb = _mb()
    m = mb.Model()
    n = obj.size
    m.helper.fill_model_from_sparse_data(np.zeros(n), np.ones(n), obj, lo, hi, A)
    s = mb.Solver("glop")
    st = s.solve(m)
    if st != mb.SolveStatus.OPTIMAL:
        raise RuntimeError(f"GLOP returned {st.name} on the restricted master LP")
    return (s.values(m.get_variables()).values, s.objective_value,
            s.dual_values(m.get_linear_constraints()).values)


def _milp(obj, A, lo, hi, lb, ub, integer, backend, time_limit, threads):
    """Solve a scaled MILP; returns (status name, values or None, objective, bound)."""
    mb = _mb()
    m = mb.Model()
    m.helper.fill_model_from_sparse_data(lb, ub, obj, lo, hi, A)
    for v in np.nonzero(integer)[0]:
        m.helper.set_var_integrality(int(v), True)
    s = mb.Solver(backend)
    s.enable_output(False)
    if backend == "highs":
        s.set_solver_specific_parameters(
            f"output_flag=false\nlog_to_console=false\n"
            f"mip_rel_gap=1e-9\nmip_abs_gap=0\nthreads={threads}\nrandom_seed=0\n"
            "mip_feasibility_tolerance=1e-9\nprimal_feasibility_tolerance=1e-9\n")
    else:
        s.set_solver_specific_parameters(
            f"limits/gap = 1e-9\nlimits/absgap = 0\nnumerics/feastol = 1e-9\n"
            f"randomization/randomseedshift = 0\nparallel/maxnthreads = {threads}\n")
    if math.isfinite(time_limit):
        s.set_time_limit_in_seconds(max(time_limit, 0.01))
    st = s.solve(m)
    vals = None
    if st in (mb.SolveStatus.OPTIMAL, mb.SolveStatus.FEASIBLE):
        vals = s.values(m.get_variables()).values
    return st.name, vals, s.objective_value, s.best_objective_bound


class MILP(Solver):
    """Exact: path-formulation MILP (OR-Tools: HiGHS or SCIP) with a certified bound."""

    name = "milp"
    version = 1
    guarantee = "exact"
    params = (
        Param("backend", str, "highs", choices=BACKENDS, doc="MILP back end through OR-Tools"),
        Param("formulation", str, "auto", choices=("auto", "paths", "transitions"),
              doc="auto: paths, or transitions when the remaining paths exceed the limits"),
        Param("max_columns", int, 200_000, low=1, doc="path limit of the path formulation"),
        Param("threads", int, 1, low=1, high=64, doc="back-end threads (1: deterministic)"),
    )

    def _solve(self, inst, ctx):
        t0 = time.perf_counter()
        deadline = t0 + ctx.time_left()
        caps = F.Capacities.of(inst)
        info = {"backend": self.backend}
        if not caps.active.any():
            priced = F.price(inst, (0.0, 0.0), caps)
            if priced is not None:
                _, best = priced
                x = np.concatenate([b.tiers[0] for b in best]).astype(np.int8)
                info["formulation"] = "decomposed (no binding capacity)"
                return Proposal(x, status="optimal", info=info)
        if self.formulation != "transitions":
            out = self._paths(inst, ctx, caps, deadline, info)
            if out is not None:
                return out
            if self.formulation == "paths":
                from offbench.solver import Unsupported

                raise Unsupported(f"path formulation not possible here: {info['paths_refused']}")
        return self._transitions(inst, ctx, caps, deadline, info)

    def _paths(self, inst, ctx, caps, deadline, info):
        cg = F.column_generation(inst, _lp, caps=caps, deadline=deadline)
        if cg is None:
            info["paths_refused"] = "labels overflow in pricing"
            return None
        x0, _ = F.repair_and_improve(inst, cg.model.decision(cg.model.choose(cg.y)))
        ev = evaluate(inst, x0)
        ctx.charge(1)
        if not ev.feasible:
            x0 = np.zeros(inst.n_layers, dtype=np.int8)
            ev = evaluate(inst, x0)
        ub, lb = ev.cost, cg.bound
        info.update(lp_bound=lb, cg_iterations=cg.iterations, incumbent=ub)
        if ub - lb <= 1e-9 * max(abs(ub), 1e-300):
            info["formulation"] = "paths (LP bound closed the gap)"
            return Proposal(x0, status="optimal", bound=min(lb, ub), info=info)
        # Iterative deepening: the paths of reduced cost <= d hold every decision of cost
        # <= lb + d; if the MILP over them finds one there, it is optimal. Else widen d.
        d = max(1e-4 * abs(lb), 1e-12)
        stages = 0
        while True:
            stages += 1
            d = min(d, ub - lb)
            pm, why = F.enumerate_paths(inst, cg.lam, cg.mu, lb + d, lb, caps=caps,
                                        max_columns=self.max_columns, deadline=deadline)
            if pm is None:
                if time.perf_counter() >= deadline:
                    return Proposal(x0, status="timeout", bound=lb, info=info)
                info["paths_refused"] = why
                return None
            obj, A, lo, hi = pm.arrays()
            n = obj.size
            info.update(formulation="paths", columns=int(n), stages=stages)
            st, vals, objv, bnd = _milp(obj, A, lo, hi, np.zeros(n), np.ones(n),
                                         np.ones(n, bool), self.backend,
                                         deadline - time.perf_counter(), self.threads)
            info["backend_status"] = st
            found = math.inf
            if vals is not None:
                x = pm.decision(pm.choose(np.asarray(vals)))
                c = evaluate(inst, x)
                ctx.charge(1)
                if c.feasible:
                    found = c.cost
                    if c.cost < ub:
                        x0, ub = x, c.cost
            if st == "OPTIMAL" and found <= lb + d + 1e-12 * abs(lb):
                return Proposal(x0, status="optimal", bound=min(ub, max(lb, found * (1 - 1e-9))),
                                info=info)
            if st in ("OPTIMAL", "INFEASIBLE") and d >= ub - lb:
                # Every decision cheaper than the incumbent was in the model: none exists.
                return Proposal(x0, status="optimal", bound=ub * (1 - 1e-9), info=info)
            if st not in ("OPTIMAL", "INFEASIBLE"):
                return Proposal(x0, status="timeout", bound=lb, info=info)
            d *= 4

    def _transitions(self, inst, ctx, caps, deadline, info):
        lm = F.transition_model(inst, caps)
        info["formulation"] = "transitions"
        st, vals, objv, bnd = _milp(lm.obj, lm.A, lm.row_lo, lm.row_hi, lm.lb, lm.ub, lm.integer,
                                     self.backend, deadline - time.perf_counter(), self.threads)
        info["backend_status"] = st
        if st == "INFEASIBLE":  # all-device is always feasible: the model would be wrong
            raise RuntimeError("the transition model was reported infeasible")
        if vals is None:
            return Proposal(None, status="timeout", info=info)
        x = lm.decode(np.asarray(vals))
        bound = bnd * lm.scale * (1 - 1e-9) if math.isfinite(bnd) else None
        status = "optimal" if st == "OPTIMAL" else "timeout"
        return Proposal(x, status=status, bound=bound, objective=objv * lm.scale, info=info)
