"""``lp-bound``: a certified lower bound from the LP relaxation (cvxpy), and a rounding heuristic.

``formulation="paths"`` (default): the LP relaxation of the path formulation (one convex
combination of Pareto paths per job, capacity rows; the convex hull of each job's chain, at
least as strong as the transition LP) by column generation
(:func:`~offbench_solvers._formulation.column_generation`): cvxpy solves each restricted master
LP, exact label-setting pricing proves that no path is missing. The bound reported is the
Lagrangian bound ``sum_i mu_i(lam) - lam . cap`` at the best multipliers met, computed by
offbench from exact pricing, with the rounding of the sums accounted for: *certified*, whatever
the LP solver's tolerance (an inaccurate LP only makes it weaker). When the time limit stops the
column generation early the bound is still valid, and the status says ``timeout``. If a job's
labels overflow ``max_labels``, the transition LP below is used and ``info["formulation"]``
says so (never silently).

``formulation="transitions"``: the LP relaxation of the transition formulation
(:func:`~offbench_solvers._formulation.transition_model`: placements, transitions between
consecutive layers, tardiness epigraphs, capacity rows, all scaled). Its optimal value is a lower
bound only up to the LP solver's tolerances, so the bound reported is certified instead: the row
duals that cvxpy returns are turned into a bound valid for *any* multipliers
(:func:`~offbench_solvers._formulation.safe_dual_bound`, Neumaier and Shcherbina 2004).

The decision comes from rounding: each job takes the path of largest LP weight (paths), or each
layer the tier of largest placement value (transitions); then capacity repair (moves off
over-full tiers, least cost increase per op freed) and first-improvement descent over feasible
single-layer moves (:func:`~offbench_solvers._formulation.repair_and_improve`), every move
priced by the cost model and charged as an evaluation. Status ``feasible``: the bound and the
gap say how good it is.

Instances with DAG jobs take the LP relaxation of :mod:`offbench_solvers._dag_milp`'s model
(one-hot tiers, hop indicators, tardiness, capacities), certified by the same dual bound, each
node rounded to its largest placement value (``info["formulation"] = "dag"``).

When the LP solver fails (an exception from cvxpy, or a status other than optimal: the LP is
never infeasible, the all-device decision satisfies it, nor unbounded, every variable is
boxed), which it does on models whose coefficients span SPEC.md's extremes (HiGHS under
cvxpy: "Cannot unpack invalid solution"; CLARABEL: "infeasible", "unbounded" or an error), the
answer is not an error: the bound is the minimum cut's capacity- and deadline-free optimum
less its tolerance (:meth:`offbench_solvers.mincut.MinCut.lower_bound`, a relaxation, so
weaker but certified; none without OR-Tools), the decision its cut repaired and improved as
above, status ``feasible``, and ``info["lp_failed"]`` says why.
"""

from __future__ import annotations

import math
import time

import numpy as np

from offbench.solver import Param, Proposal, Solver
from offbench_solvers import _dag_milp
from offbench_solvers import _formulation as F

LP_SOLVERS = ("HIGHS", "CLARABEL", "SCS")


class LPFailed(RuntimeError):
    """The LP solver gave no usable solution (see the module docstring)."""


def _solve_quietly(prob, name):
    """cvxpy's HiGHS prints a banner to stdout even with verbose off; switch its log off. A
    failure of the solver (cvxpy's SolverError, an ArithmeticError, or cvxpy's ValueError on a
    solution it cannot unpack, "Cannot unpack invalid solution") becomes :class:`LPFailed`;
    any other ValueError is a bug of this model, raised as it is."""
    import cvxpy as cp

    opts = {"output_flag": False, "log_to_console": False} if name == "HIGHS" else {}
    try:
        prob.solve(solver=getattr(cp, name), **opts)
    except (cp.error.SolverError, ArithmeticError, ValueError) as e:
        if isinstance(e, ValueError) and "solution" not in str(e).lower():
            raise
        raise LPFailed(f"{name} failed: {type(e).__name__}: {str(e)[:200]}") from e


class LPBound(Solver):
    """LP relaxation (cvxpy): certified lower bound, plus a rounded and repaired decision."""

    name = "lp-bound"
    version = 1
    guarantee = "bounded"
    requires = ("cvxpy",)
    #: Instances with DAG jobs: the LP of :mod:`offbench_solvers._dag_milp`'s model.
    handles_dag = True
    params = (
        Param("lp_solver", str, "HIGHS", choices=LP_SOLVERS, doc="cvxpy's LP solver"),
        Param("formulation", str, "paths", choices=("paths", "transitions"),
              doc="which LP relaxation (see the module docstring)"),
    )

    def _master_lp(self, obj, A, lo, hi):
        """Restricted master LP for column generation: 0 <= y <= 1, lo <= A y <= hi.
        Returns (y, value, row duals as d(value)/d(rhs))."""
        import cvxpy as cp

        y = cp.Variable(obj.size)
        eq = np.nonzero(lo == hi)[0]
        up = np.nonzero((lo != hi) & np.isfinite(hi))[0]
        cons = [y >= 0, y <= 1, A[eq] @ y == hi[eq]]
        if up.size:
            cons.append(A[up] @ y <= hi[up])
        prob = cp.Problem(cp.Minimize(obj @ y), cons)
        _solve_quietly(prob, self.lp_solver)
        if prob.status not in ("optimal", "optimal_inaccurate") or y.value is None:
            raise LPFailed(f"the restricted master LP ended with status {prob.status!r}")
        duals = np.zeros(A.shape[0])
        duals[eq] = -np.asarray(cons[2].dual_value).ravel()
        if up.size:
            duals[up] = -np.asarray(cons[3].dual_value).ravel()
        return np.asarray(y.value), float(prob.value), duals

    def _round(self, inst, ctx, x):
        x, moves = F.repair_and_improve(inst, x)
        ctx.charge(moves + 1)
        return x

    def _solve(self, inst, ctx):
        try:
            return self._solve_lp(inst, ctx)
        except LPFailed as e:
            return self._without_lp(inst, ctx, str(e))

    def _without_lp(self, inst, ctx, why):
        """The answer when the LP solver failed (module docstring): the minimum cut's bound and
        its decision, repaired and improved."""
        info = {"formulation": "dag" if inst.is_dag else self.formulation,
                "lp_solver": self.lp_solver, "lp_failed": why}
        left = ctx.time_left()
        deadline = None if math.isinf(left) else time.perf_counter() + left
        try:
            from offbench_solvers.mincut import solve_relaxation
        except ImportError:           # OR-Tools missing: no bound, the all-device decision
            info["bound_source"] = None
            x = self._round(inst, ctx, np.zeros(inst.n_layers, dtype=np.int8))
            return Proposal(x, status="feasible", info=info)
        rel = solve_relaxation(inst, deadline=deadline)
        bound = max(0.0, rel.energy - rel.eps) if rel.complete else None
        info["bound_source"] = "mincut (capacity- and deadline-free)" if rel.complete else None
        x = self._round(inst, ctx, rel.decision)
        return Proposal(x, status="feasible" if rel.complete else "timeout", bound=bound,
                        info=info)

    def _solve_lp(self, inst, ctx):
        if inst.is_dag:
            return self._transitions(inst, ctx, dag=True)
        if self.formulation == "paths":
            deadline = time.perf_counter() + ctx.time_left()
            cg = F.column_generation(inst, self._master_lp, deadline=deadline)
            x = self._round(inst, ctx, cg.model.decision(cg.model.choose(cg.y)))
            info = {"formulation": "paths", "lp_value": cg.lp_value,
                    "converged": cg.converged, "iterations": cg.iterations,
                    "columns": cg.model.n_columns, "lp_solver": self.lp_solver,
                    "multipliers": [float(v) for v in cg.lam]}
            timed_out = not cg.converged and time.perf_counter() >= deadline
            return Proposal(x, status="timeout" if timed_out else "feasible",
                            bound=cg.bound, info=info)
        return self._transitions(inst, ctx)

    def _transitions(self, inst, ctx, dag=False):
        import cvxpy as cp

        lm = _dag_milp.dag_model(inst) if dag else F.transition_model(inst)
        n = lm.obj.size
        v = cp.Variable(n)
        A = lm.A
        cons = [v >= lm.lb, v <= lm.ub]
        eq = np.isfinite(lm.row_lo) & np.isfinite(lm.row_hi) & (lm.row_lo == lm.row_hi)
        up = np.isfinite(lm.row_hi) & ~eq
        lo = np.isfinite(lm.row_lo) & ~eq
        rows_eq = np.nonzero(eq)[0]
        rows_up = np.nonzero(up)[0]
        rows_lo = np.nonzero(lo)[0]
        c_eq = A[rows_eq] @ v == lm.row_lo[rows_eq]
        cons.append(c_eq)
        c_up = c_lo = None
        if rows_up.size:
            c_up = A[rows_up] @ v <= lm.row_hi[rows_up]
            cons.append(c_up)
        if rows_lo.size:
            c_lo = A[rows_lo] @ v >= lm.row_lo[rows_lo]
            cons.append(c_lo)
        prob = cp.Problem(cp.Minimize(lm.obj @ v), cons)
        _solve_quietly(prob, self.lp_solver)
        if prob.status not in ("optimal", "optimal_inaccurate") or v.value is None:
            raise LPFailed(f"the LP relaxation ended with status {prob.status!r}")
        # Row multipliers as d(value)/d(rhs): cvxpy gives duals >= 0 for <= and >= rows, and
        # free duals for equalities, all in the Lagrangian sign convention obj + y (Av - b).
        if any(c is not None and c.dual_value is None for c in (c_eq, c_up, c_lo)):
            raise LPFailed(f"the LP relaxation ({prob.status}) returned no duals")
        y = np.zeros(A.shape[0])
        y[rows_eq] = -np.asarray(c_eq.dual_value).ravel()
        if c_up is not None:
            y[rows_up] = -np.asarray(c_up.dual_value).ravel()
        if c_lo is not None:
            y[rows_lo] = np.asarray(c_lo.dual_value).ravel()
        bound = F.safe_dual_bound(lm, y)
        x = self._round(inst, ctx, lm.decode(np.asarray(v.value)))
        value = float(prob.value) * lm.scale
        info = {"formulation": "dag" if dag else "transitions",
                "lp_value": value if math.isfinite(value) else None, "lp_status": prob.status,
                "lp_solver": self.lp_solver}
        if self.formulation == "paths" and not dag:
            info["paths_refused"] = (f"a job's labels overflow max_labels={self.max_labels} in "
                                     "pricing; the transition LP is used instead")
        return Proposal(x, status="feasible", bound=bound, info=info)
