"""``milp``: the exact reference, a mixed-integer program of SPEC.md solved with HiGHS (through
its own API, ``highspy``, by default) or OR-Tools' back ends.

The model is built from the cost model's coefficient tables (:func:`offbench.cost.tables`)
by :mod:`offbench_solvers._formulation` (read its docstring for the mathematics). One solve:

1. **Lagrangian bound.** Column generation over the path formulation: a restricted master LP
   (OR-Tools Glop) priced by an exact label-setting shortest path with tardiness. It yields the
   LP relaxation of the path formulation, multipliers ``lam`` on the capacity rows, and a
   *certified* lower bound ``L(lam)`` computed by us in floating point (no solver tolerance).
2. **Incumbent.** The LP solution rounded, repaired and polished by single-layer moves; then a
   *restricted* path MILP (gap 1e-4, at most 2 s) over a few paths per job chosen for diverse
   loads: the column generation's, each job's priced-optimal paths on a grid of multipliers
   around ``lam``, its 10 paths of least reduced cost, the all-device path; solved by SCIP with
   the incumbent as a hint when the back end is OR-Tools' HiGHS; ``highspy`` solves it itself
   with the incumbent as its start (:func:`restricted_backend`). Every step
   is priced by the cost model. (Local search over whole-path swaps was tried first: it stalled 1-17 %
   above the optimum on coupled 20 x 10 instances, where this lands within 0-0.8 %.)
3. **Reduction.** With the incumbent's cost ``UB``, every path, and every placement of a layer,
   whose Lagrangian reduced cost exceeds ``UB - L(lam)`` is in no better decision; they are
   dropped (paths) or fixed to 0 (placements). This is exact: what is left contains an optimal
   decision.
4. **MILP**, in one of three formulations (parameter ``formulation``):

   * ``paths``: a multiple-choice knapsack, one binary per remaining Pareto-optimal path of each
     job (over edge load, cloud load and cost), one row per job, one per capacity;
   * ``transitions``: placement binaries, transition variables between consecutive layers,
     tardiness as an epigraph, capacities as knapsack rows, with the fixings of step 3;
   * ``linked``: the transition model in which every job with at most ``LINK_JOB_PATHS`` (200)
     paths left by step 3 trades its transition and tardiness variables for one continuous
     column per path, tied to its placement binaries by linking rows
     (:func:`offbench_solvers._transition.transition_model`): such a job's LP is its convex
     hull, as in ``paths``, while branching stays on placements, as in ``transitions``; jobs
     with more paths keep transitions with the fixings of step 3;
   * ``auto`` (default): ``paths`` when step 3 leaves at most ``auto_path_columns`` paths
     (enumeration stops early past them, or past ``4 * auto_path_columns`` labels at one layer
     and tier of a job), else ``linked``; the choice and its reason are recorded in ``info``.
     (On the 20 tuning seeds of 10 x 8 of ``bench_milp.py --set milp-scale``, all proven by
     both: ``linked`` took a median 0.70 s of CPU, at most 6.2 s, 24 s in all; ``transitions``
     0.78 s, 9.6 s and 29 s.)

   The back end (parameter ``backend``) gets the incumbent as an objective cutoff (HiGHS, with
   ``mip_heuristic_effort`` 0.3: :data:`offbench_solvers._backends.HIGHS_HEURISTIC_EFFORT`), as
   a hint (SCIP, CP-SAT) or as both (``highspy``, the default: ``setSolution`` and the cutoff;
   at a time limit it returns its incumbent, dual bound and node count, ``info["backend_nodes"]``,
   where OR-Tools' HiGHS returned nothing usable), relative MIP gap 1e-9, absolute gap 0, and feasibility tolerances
   1e-9 on rows scaled to O(1) (capacities in units of the capacity, tardiness in units of the
   job's longest time, the objective in units of the incumbent's cost). Default tolerances
   (1e-6) are not enough here: on 20-job instances they made HiGHS and SCIP report "optimal"
   decisions that are 2e-6 to 3e-5 worse than the optimum.
5. **Restart** (``highspy`` only). The restricted MILP's incumbent is often 0.1-1 % above the
   optimum at 20 x 10, and the reduction of step 3 is only as strong as ``UB - L``. When the
   MILP finds, within its first ``RESTART_NODES`` (50) nodes, a decision of cost at most
   ``L + RESTART_GAP_FACTOR (UB - L)`` (half the gap), it stops (an interrupt from HiGHS's
   callbacks), and steps 3 and 4 are done again around the best decision it has shown (every
   improving solution is decoded and priced by the cost model as HiGHS finds it,
   :class:`~offbench_solvers._milp_parts.Round`, so only a feasible decision that the cost model
   finds below the threshold stops it: no round is wasted on one that is not better; new
   reduction, fixings, formulation, cutoff and start), at most ``MAX_RESTARTS`` (2) times,
   on models of at most ``RESTART_MAX_VARIABLES`` (20,000: not on ``scale-v1:n1000``);
   ``info["restarts"]`` counts them, ``info["phases"]`` keeps each earlier round's phases
   as ``name#round``, ``backend_wall`` and ``backend_nodes`` are summed over the rounds
   (``backend_wall_rounds``, ``backend_nodes_rounds``: per round). Exact as before: every
   round's model contains every decision better than its incumbent. A node count, not a time,
   decides, so a seed gives the same answer on any load. (The proof models of six 20 x 10
   tuning seeds, built around the optimum instead of the restricted MILP's incumbent: HiGHS
   took 2.2, 2.6, 4.3, 0.01 and 1.4 s of CPU where it took 6.5, 3.8, 5.0, 0.5 and 5.8 s; the
   sixth was unproven either way within 30 s.)

Exactness and what is reported
------------------------------
* The returned decision is always priced again by the cost model (``Solver.solve``); the back
  end's own objective goes into ``Proposal.objective`` so that a mis-scaled model shows up as a
  mismatch (an error for this exact solver). A decision that breaks a capacity by the back
  end's tolerance is repaired by single-layer moves and then cannot be called optimal unless
  the bound still proves it.
* ``bound`` is the larger of the certified Lagrangian bound and the back end's dual bound
  lowered by its tolerances (``1e-9`` of the bound plus ``1e-9`` objective units per job). With
  MIP gap 0 a back end would spend its time closing gaps below its own feasibility tolerance, so
  the gap is 1e-9: an ``optimal`` answer is optimal to 1e-9 relative, not to the last bit.
* CP-SAT needs integers: costs are scaled by a power of two and rounded (per-job offsets
  removed), loads are rounded *down* (a relaxation). Its integer bound is turned back into a
  floating-point bound that accounts for every rounding (at most half a unit per job), and its
  answer is called optimal only when the cost model's price of its decision is within 1e-9 of
  that bound.
* Status: ``optimal`` (proven to the tolerances above), ``timeout`` (the time limit hit: the
  best decision so far and the best proven bound), ``feasible`` (the back end finished but its
  bound does not prove the returned decision, e.g. after a repair: reported, never hidden),
  ``error`` (a back end failed or answered something impossible; the reason is in ``error``).
  Threads: one by default, so that a seed gives the same answer (the back ends get the seed).

``info`` carries: ``formulation`` (and ``formulation_reason``), ``backend``, ``lagrangian_bound``
(certified), ``lp_bound`` (the path LP's value), ``incumbent_cost`` and ``incumbent_source``,
``columns`` (paths; linked: the path columns, with ``linked_jobs``) or
``fixed_placements``/``variables``/``rows`` (transitions, linked),
``backend_status``, ``backend_bound``, ``backend_nodes`` (highspy), ``decision_source`` (``milp``, or ``heuristic`` when the
back end returned nothing better than the incumbent), timings per phase, and:

* ``phases`` (name -> ``[start, end]`` seconds since the solve started) and ``phases_skipped``:
  the deadline (:class:`Budget`). No phase is entered after it; inside a phase it is checked
  between steps (column-generation rounds, jobs of an enumeration or of the fixings), and a
  back end gets the time left *after its model is built* as its own limit
  (``backend_time_limit``). Every kernel and the back end's library are loaded once per
  process before the clock is read (:func:`offbench_solvers._formulation.warm_kernels`,
  :func:`warm_backends`; ``time_compile`` when this solve paid for it): a compile cannot be
  interrupted, and under heavy load one took 42-68 s of a 10 s limit when the runner's 1 s
  warm-up had stopped before the phases that needed it.
* ``trajectory``: the incumbents in the order found (all-device, LP rounding, restricted MILP,
  each improving solution of the MILP when HiGHS finds it (highspy; the other back ends: the
  MILP's answer at the end) with their times (:mod:`offbench_solvers._trajectory`), for the
  quality against time figure; each priced by the cost model here, and again by the referee.
* ``bound_trajectory`` (``{"t", "bound"}``): the certified lower bound over time
  (:class:`~offbench_solvers._milp_parts.BoundTrajectory`): the Lagrangian bound, highspy's
  dual bound while it runs (read at its improving solutions and log lines, at least every
  second: :class:`offbench_solvers._backends._Watch`; lowered by the tolerances above, at most
  the round's incumbent, which every decision left out of its model costs more than), the
  final ``bound``; on DAG jobs the minimum cut's and the LP's bounds, then highspy's dual bound
  the same way (:func:`offbench_solvers._dag_milp.solve`). ``time_to_gap``: for each gap of ``GAP_MARKS`` (keys ``"1e-02"`` to
  ``"1e-06"``), the first time (seconds since the solve started, compilation included when
  this solve paid for it) at which (best incumbent - best certified bound) / incumbent was at
  most that gap, from the whole record; None when it never was. (issue 9's goal for
  ``scale-v1:n1000``, "proven or within a certified gap of 1e-4 in under a minute", is
  ``time_to_gap["1e-04"]``.)

The back ends (:func:`solve_linear`, :func:`solve_paths_cpsat`, Glop for the master LP) live in
:mod:`offbench_solvers._backends`.

Instances with DAG jobs (SPEC.md section 7) are solved by :mod:`offbench_solvers._dag_milp`'s
model instead (one-hot tiers, hop indicators, tardiness, capacities; the minimum cut as bound and
warm start), with the same back ends, tolerances, deadline and ending; ``info["formulation"]``
is ``dag``.

Tried at scale and dropped (tuning seeds of ``bench_milp.py --set milp-scale``; CPU seconds of
HiGHS alone on the captured final models, or of whole solves in one process, old and new
alternating, at load 5-8 on two cores):

* *Threshold enumeration* (a first MILP over the paths and placements of reduced cost at most
  ``delta = 0.5 (UB - L)``: optimal when its optimum is at most ``L + delta``, else a second
  round at the full threshold with its incumbent and the floor ``min(its bound, L + delta)``).
  It pays only when the incumbent is weak: the ratio ``(opt - L) / (UB - L)`` was 0.88, 0.49,
  0.94, 1.0, 1.0 and 1.0 on six 30 x 10 seeds (the restricted MILP's incumbent is usually
  optimal or within 1e-4), so the first round mostly fails and its nodes are spent twice.
  Whole solves on six 20 x 10 seeds: 2.9 s instead of 7.1 s on the one with a weak incumbent,
  30.4 s against 29.4 s on the other five.
* *Lagrangian cuts* on the transition jobs of the linked model (``cost_i + lam . load_i >=
  mu_i(lam)`` per job, at ``lam`` and at four multiples of it). They lift the model's root LP
  to ``L(lam)`` where the transitions' LP was below it (1.2e-3 below on
  ``40x12/c0.1/s1003``, with ``UB - L`` 3.0e-4), but HiGHS's root cuts close that anyway: on
  two 40 x 12 seeds the proof went from 33.8 and 32.7 s (6,695 and 6,932 nodes) to unproven
  after 31.5 and 27.6 s.

Why not the plain transition model alone: on coupled 20 x 10 instances with deadlines HiGHS
needs 8 s to minutes to prove it; most of that is closing the last 1 % of gap, which the
incumbent cutoff and the Lagrangian fixings shorten (``benchmarks/scripts/bench_milp.py`` measures
both; ``reduce=False`` gives the textbook model).
"""

from __future__ import annotations

import importlib.util
import math
import time

import numpy as np

from offbench.cost import evaluate
from offbench.solver import Param, Proposal, Solver, Unsupported, stdout_to_stderr

from . import _dag_milp
from . import _formulation as F
from ._milp_parts import (RESTRICTED_NODES, RESTRICTED_SHARE, BoundTrajectory,  # noqa: F401
                          Budget, Round, _scip_available, _with_path, lowered_bound,
                          restricted_backend, restricted_incumbent, time_to_gap)
from ._backends import (FEAS_TOL, HIGHS_HEURISTIC_EFFORT, MIP_GAP, BackendOutcome,  # noqa: F401
                        glop_lp, solve_linear, solve_paths_cpsat, warm_backends)
from ._trajectory import Trajectory

#: ``highspy``: HiGHS through its own Python API (the ``highspy`` package), see
#: :func:`offbench_solvers._backends.solve_linear`.
BACKENDS = ("highs", "highspy", "scip", "cbc", "cp-sat")
FORMULATIONS = ("auto", "paths", "transitions", "linked")

#: With ``formulation=auto``, a job's path enumeration gives up (and auto takes the transition
#: formulation) past this many labels per layer and tier for each path that auto admits.
AUTO_LABELS_PER_COLUMN = 4

#: The linked formulation: a job takes path columns when its reduced-cost enumeration keeps at
#: most this many paths (and at most ``LINK_LABELS`` labels per layer and tier); else transitions.
LINK_JOB_PATHS = 200
LINK_LABELS = 800

#: The MILP stops and is rebuilt around a better incumbent (new reduction and fixings) when it
#: finds one within this fraction of the incumbent's gap ``UB - L`` (at most ``MAX_RESTARTS``
#: times, only when that gap exceeds ``RESTART_MIN_GAP`` of ``UB``; highspy only).
RESTART_GAP_FACTOR = 0.5
MAX_RESTARTS = 2
RESTART_MIN_GAP = 1e-6
#: ... and only when the MILP finds it within its first this many nodes (a node count, not a
#: time, so that a seed gives the same answer on any machine load).
RESTART_NODES = 50
#: ... and only on models of at most this many variables: on scale-v1:n1000 (43,074 variables)
#: HiGHS's root took 15-17 s before each restart, and the gap at the 60 s limit grew.
RESTART_MAX_VARIABLES = 20_000
#: The gaps at which ``info["time_to_gap"]`` says when the certified gap was first reached.
GAP_MARKS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
#: The phases repeated in each round (kept in ``info["phases"]`` as ``name#round``).
ROUND_PHASES = ("path_enumeration", "placement_fixing", "job_paths", "model_build", "backend")


# ------------------------------------------------------------------------------ the solver
class MILP(Solver):
    """Exact MILP (HiGHS via highspy; HiGHS/SCIP/CBC/CP-SAT via OR-Tools) over Lagrangian-reduced
    path or transition formulations, with a certified bound."""

    name = "milp"
    version = 1
    guarantee = "exact"
    reference_role = "exact"
    reference_rank = 30
    #: Instances with DAG jobs take the model of :mod:`offbench_solvers._dag_milp`.
    handles_dag = True

    @classmethod
    def exact_for(cls, inst):
        """Asked on every instance (its back end may stop at the time limit with a bound: the
        reference is then ``milp-gap``)."""
        return True
    requires = ("ortools",)
    params = (
        Param("backend", str, "highspy", choices=BACKENDS,
              doc="MILP back end: highs, scip, cbc (through OR-Tools), highspy (HiGHS through "
                  "its own API: takes the incumbent as a start, returns its incumbent and bound "
                  "at a time limit, counts nodes) or cp-sat (path formulation only, exactly "
                  "accounted integer scaling)"),
        Param("formulation", str, "auto", choices=FORMULATIONS,
              doc="paths (multiple-choice knapsack over Pareto paths), transitions (placement "
                  "and transition variables), linked (transitions, with path columns linked to "
                  "the placements of jobs with few paths), or auto (paths when few remain after "
                  "reduction, else linked)"),
        Param("threads", int, 1, low=1, high=256,
              doc="back-end threads; 1 keeps runs deterministic (SCIP always uses one)"),
        Param("max_columns", int, 200_000, low=1,
              doc="most candidate paths the path formulation may hold"),
        Param("auto_path_columns", int, 250, low=0,
              doc="auto uses paths when at most this many remain after reduction"),
        Param("max_labels", int, 100_000, low=1,
              doc="most labels per layer and tier when enumerating a job's Pareto paths"),
        Param("reduce", bool, True,
              doc="Lagrangian reduction (drop paths, fix placements whose reduced cost exceeds "
                  "the incumbent's gap); off: the whole Pareto set / the plain model"),
    )

    def _solve(self, inst, ctx) -> Proposal:
        # Every kernel compiled (or loaded) before the clock is read: once per process, so in a
        # run it is the untimed warm-up that pays for it (see F.warm_kernels).
        if self.backend == "highspy" and importlib.util.find_spec("highspy") is None:
            raise Unsupported("backend highspy needs the highspy package (pip install "
                              "highspy), which is not installed here")
        warm = F.warm_kernels() + warm_backends(self.backend)
        if restricted_backend(self.backend) != self.backend:
            warm += warm_backends(restricted_backend(self.backend))
        t_start = time.perf_counter()
        deadline = t_start + ctx.time_left() if ctx.time_limit is not None else math.inf
        budget = Budget(ctx.started, deadline)
        traj = Trajectory(ctx.started)
        bounds = BoundTrajectory(ctx.started)
        info: dict = {"backend": self.backend, "formulation_requested": self.formulation}
        if warm:
            info["time_compile"] = warm
        try:
            prop = self._phases(inst, ctx, budget, traj, info, bounds)
        finally:
            info["phases"] = budget.phases
            if budget.skipped:
                info["phases_skipped"] = budget.skipped
        if prop.decision is not None:
            traj.record(prop.decision, evaluate(inst, prop.decision).cost)
        bounds.add(time.perf_counter(), prop.bound)
        info["trajectory"] = traj.to_info()
        info["bound_trajectory"] = bounds.to_info()
        # From the whole record (the info's trajectories are thinned).
        inc = [(p[0], p[1]) for p in traj.points]
        info["time_to_gap"] = {f"{g:.0e}": time_to_gap(inc, bounds.points, g) for g in GAP_MARKS}
        return prop

    def _phases(self, inst, ctx, budget, traj, info, bounds) -> Proposal:
        """The phases of the module docstring; each one entered only before the deadline."""
        if inst.is_dag:  # DAG jobs: the model and phases of solvers/_dag_milp.py
            return _dag_milp.solve(self, inst, ctx, budget, traj, info, bounds)
        t_start = time.perf_counter()
        deadline = budget.deadline
        caps = F.Capacities.of(inst)
        scale = F.objective_scale(inst)
        info["objective_scale"] = scale

        # 1. Lagrangian bound and LP relaxation of the path formulation.
        cg = None
        if budget.enter("lagrangian"):
            try:
                with stdout_to_stderr():
                    cg = F.column_generation(inst, glop_lp, caps=caps, deadline=deadline)
            except RuntimeError as e:
                info["lagrangian_error"] = str(e)
            budget.leave("lagrangian")
        else:
            info["lagrangian_error"] = "time limit reached before the column generation"
        if cg is not None:
            info.update(lagrangian_bound=cg.bound, lp_bound=cg.lp_value,
                        cg_iterations=cg.iterations, cg_converged=cg.converged,
                        multipliers=[float(v) for v in cg.lam])
        lb = cg.bound if cg is not None else None
        t_lag = time.perf_counter()
        bounds.add(t_lag, lb)

        # 2. Incumbent.
        inc_x, inc_cost = self._incumbent(inst, ctx, cg, caps, budget, traj, info)
        info["incumbent_cost"] = inc_cost
        t_inc = time.perf_counter()
        info["time_lagrangian"] = t_lag - t_start
        info["time_incumbent"] = t_inc - t_lag

        def give_up(status_reason):
            info["stopped"] = status_reason
            bound = None if lb is None else min(lb, inc_cost)
            info["decision_source"] = "heuristic"
            return Proposal(inc_x, status="timeout", bound=bound, info=info)

        if budget.expired():
            return give_up("time limit reached before the MILP")

        t_model = time.perf_counter()
        # 3-4. Formulation, reduction and MILP; again around a much better incumbent when the
        # MILP finds one early (RESTART_GAP_FACTOR). The back end's improving solutions are
        # priced and recorded as it finds them (Round), its dual bound sampled (bounds).
        walls, nodes = [], []
        info.pop("backend_nodes", None)  # the restricted MILP's

        def count_round(out):
            walls.append(out.wall)
            nodes.append(info.pop("backend_nodes", None))
            info["backend_wall"] = sum(walls)
            if any(v is not None for v in nodes):
                info["backend_nodes"] = sum(v for v in nodes if v is not None)
            if len(walls) > 1:
                info["backend_wall_rounds"] = list(walls)
                info["backend_nodes_rounds"] = list(nodes)

        while True:
            restart = None
            if self.backend == "highspy" and self.reduce and lb is not None \
                    and len(walls) < MAX_RESTARTS and inc_cost - lb > RESTART_MIN_GAP * abs(inc_cost):
                restart = lb + RESTART_GAP_FACTOR * (inc_cost - lb)
            rnd = Round(inst, ctx, traj, inc_cost, restart)
            res = self._formulate_and_solve(inst, ctx, cg, caps, inc_x, inc_cost, lb, budget,
                                            info, rnd)
            if isinstance(res, str):
                return give_up(res)
            out, decode, obj_scale, resolution = res
            count_round(out)
            if resolution is None:
                for when, v in out.bounds:
                    bounds.add(when, min(lowered_bound(v, obj_scale, inst.n_jobs), inc_cost))
            if out.status != "restart":
                break
            # Round only asks for a restart from a feasible decision cheaper than inc_cost,
            # priced by the cost model; the best it was shown (HiGHS's own incumbent included).
            inc_x, inc_cost = rnd.best_x, rnd.best_cost
            k = len(walls)
            for name in [n for n in budget.phases if "#" not in n and n in ROUND_PHASES]:
                budget.phases[f"{name}#{k}"] = budget.phases.pop(name)
            info["restarts"] = k
            info["incumbent_source"] = "milp restart"
            info["incumbent_cost"] = inc_cost
            if budget.expired():
                return give_up("time limit reached while restarting the MILP")
        info["time_milp"] = time.perf_counter() - t_model
        info["backend_status"] = out.message
        return self._assemble(inst, ctx, out, decode, obj_scale, resolution, inc_x, inc_cost, lb,
                              info)

    def _formulate_and_solve(self, inst, ctx, cg, caps, inc_x, inc_cost, lb, budget, info,
                             rnd):
        """Steps 3 and 4 around the incumbent ``inc_x`` of cost ``inc_cost``: the back end's
        ``(outcome, decode, objective scale, resolution)``, or why it was not run (a string).
        ``rnd``: the :class:`Round` shown highspy's improving solutions (status ``restart``
        when it asks for one)."""
        deadline = budget.deadline
        # 3. Formulation and reduction.
        form = self.formulation
        pm = None
        reason = None
        if self.backend == "cp-sat" and form in ("transitions", "linked"):
            raise Unsupported("backend cp-sat takes the path formulation only (its integer "
                              "scaling is exact there); use formulation=paths or auto")
        if form in ("auto", "paths"):
            if cg is None and self.reduce:
                reason = info["lagrangian_error"]
            elif budget.enter("path_enumeration"):
                pm, reason = self._path_model(inst, cg, caps, inc_cost, lb, deadline)
                budget.leave("path_enumeration")
            else:
                return "time limit reached before enumerating paths"
            if pm is None and form == "auto" and self.backend != "cp-sat" \
                    and reason.startswith(f"more than {self.auto_path_columns} "):
                reason = (f"more than auto_path_columns={self.auto_path_columns} paths remain "
                          "after reduction")
            if pm is None:
                if form == "paths" or self.backend == "cp-sat":
                    if budget.expired():
                        return "time limit reached while enumerating paths"
                    raise Unsupported(f"path formulation not built: {reason} (raise max_columns/"
                                      f"max_labels, or use formulation=transitions)")
                info["formulation_reason"] = f"linked because {reason}"
                form = "linked"
            else:
                info["formulation_reason"] = ("requested" if form == "paths" else
                                              f"paths: {pm.n_columns} remain after reduction")
                form = "paths"
        else:
            info["formulation_reason"] = "requested"
        info["formulation"] = form
        if budget.expired():
            return "time limit reached while building the model"

        # 4. MILP.
        if form == "paths":
            out, decode, obj_scale, resolution = self._run_paths(
                inst, ctx, pm, inc_x, inc_cost, budget, info, rnd)
        else:
            out, decode, obj_scale, resolution = self._run_transitions(
                inst, ctx, cg, caps, inc_x, inc_cost, budget, info, linked=form == "linked",
                rnd=rnd)
        if out is None:
            return "time limit reached while building the model"
        return out, decode, obj_scale, resolution

    # -------------------------------------------------------------- pieces
    def _incumbent(self, inst, ctx, cg, caps, budget, traj, info):
        """The best of: all on the devices; the LP solution rounded, repaired and polished by
        single-layer moves; the restricted MILP (:meth:`_restricted`), polished. Each
        improvement is recorded in the trajectory."""
        best_x = np.zeros(inst.n_layers, dtype=np.int8)
        best = evaluate(inst, best_x).cost
        ctx.charge(1)
        traj.record(best_x, best)
        if cg is None:
            return best_x, best

        def consider(x, source):
            nonlocal best, best_x
            x2, moves = F.repair_and_improve(inst, x)
            ctx.charge(moves + 1)
            ev = evaluate(inst, x2)
            if ev.feasible and ev.cost < best:
                best, best_x = ev.cost, x2
                info["incumbent_source"] = source
                traj.record(x2, ev.cost)

        x_lp = cg.model.decision(cg.model.choose(cg.y))
        consider(x_lp, "lp rounding")
        if caps.active.any() and best - cg.bound > 1e-6 * abs(best) \
                and budget.enter("restricted_milp"):
            x = self._restricted(inst, ctx, cg, caps, x_lp, best_x, budget, info)
            budget.leave("restricted_milp")
            if x is not None:
                consider(x, "restricted milp")
        return best_x, best

    def _restricted(self, inst, ctx, cg, caps, x_lp, x_inc, budget, info):
        """The restricted MILP's decision, or None (:func:`restricted_incumbent`)."""
        return restricted_incumbent(self, inst, ctx, cg, caps, x_lp, x_inc, budget, info)

    def _path_model(self, inst, cg, caps, ub, lb, deadline):
        # With auto, stop enumerating as soon as the paths are too many for it, and cap one
        # job's labels too: the deadline is only checked between jobs, and one job's label
        # setting with up to max_labels labels per state took 9 s of a 10 s limit on a coupled
        # 30 x 10 instance only to find that paths were too many (auto then takes transitions,
        # exact either way).
        limit = self.max_columns
        labels = self.max_labels
        if self.formulation == "auto" and self.backend != "cp-sat":
            limit = min(limit, self.auto_path_columns)
            labels = min(labels, max(1, AUTO_LABELS_PER_COLUMN * self.auto_path_columns))
        if self.reduce:
            pm, why = F.enumerate_paths(inst, cg.lam, cg.mu, ub, lb, caps=caps,
                                        max_labels=labels, max_columns=limit,
                                        deadline=deadline)
            return pm, why
        jobs = []
        total = 0
        for i in range(inst.n_jobs):
            jp = F.job_paths(inst, i, max_labels=labels, caps=caps)
            if jp is None:
                return None, f"job {i}: more than {labels} labels at one layer and tier"
            total += len(jp)
            if total > limit:
                return None, f"more than {limit} Pareto paths"
            jobs.append(jp)
            if time.perf_counter() >= deadline:
                return None, "time limit reached while enumerating paths"
        return F.PathModel(jobs, caps, F.objective_scale(inst)), None

    @staticmethod
    def _model_scale(inc_cost, fallback):
        # The objective unit of the MILP: the incumbent's cost, so that the optimum is O(1).
        return inc_cost if inc_cost > 0 and math.isfinite(inc_cost) else fallback

    def _run_paths(self, inst, ctx, pm, inc_x, inc_cost, budget, info, rnd=None):
        # The incumbent's paths are in the reduced set by construction; adding them again (if
        # the threshold's rounding dropped one) keeps a known solution in the model.
        pm = F.add_paths(pm, [[p] for p in F.split_paths(inst, inc_x)], inst)
        pm.scale = self._model_scale(inc_cost, pm.scale)
        info["columns"] = pm.n_columns
        hint_cols = pm.columns_of(inc_x) if self.reduce else None
        decode = lambda v: pm.decision(pm.choose(v))  # noqa: E731
        if not budget.enter("backend"):
            return None, decode, 1.0, None
        try:
            if self.backend == "cp-sat":
                out, resolution = solve_paths_cpsat(pm, time_limit=min(budget.left(), 1e9),
                                                    threads=self.threads, seed=ctx.seed,
                                                    hint_cols=hint_cols, deadline=budget.deadline,
                                                    info=info)
                info["cpsat_resolution"] = resolution
                return out, decode, 1.0, resolution
            if rnd is not None:
                rnd.decode = decode
            return self._paths_linear(pm, ctx, hint_cols, inc_cost, budget, info, rnd), \
                decode, pm.scale, None
        finally:
            budget.leave("backend")

    def _paths_linear(self, pm, ctx, hint_cols, inc_cost, budget, info, rnd=None):
        obj, A, lo, hi = pm.arrays()
        n = obj.size
        hint = None
        if hint_cols is not None:
            hint = np.zeros(n)
            hint[hint_cols] = 1.0
        return solve_linear(self.backend, obj, A, lo, hi, np.zeros(n), np.ones(n),
                            np.ones(n, dtype=bool), time_limit=min(budget.left(), 1e9),
                            threads=self.threads, seed=ctx.seed,
                            cutoff=self._cutoff(inc_cost, pm.scale) if self.reduce else None,
                            hint=hint, deadline=budget.deadline, info=info,
                            heuristic_effort=HIGHS_HEURISTIC_EFFORT if self.reduce else None,
                            on_solution=rnd, restart_nodes=self._restart_nodes(n, rnd))

    def _linked_paths(self, inst, cg, caps, inc_x, inc_cost, budget, info):
        """The jobs of the linked formulation that take path columns: each job's Pareto paths
        within the reduced-cost threshold (as :func:`F.enumerate_paths`, per job; all of them
        with ``reduce=False`` or without the column generation), kept when at most
        ``LINK_JOB_PATHS`` remain (the incumbent's path added); the others keep transitions.
        Returns ``{job: JobPaths}``."""
        if self.reduce and cg is not None:
            gap = max(0.0, inc_cost - cg.bound)
            slack = F.THRESHOLD_RTOL * max(abs(inc_cost), abs(cg.bound), F.objective_scale(inst))
            lam, thr = cg.lam, [float(m) + gap + slack for m in cg.mu]
        else:
            lam, thr = (0.0, 0.0), [math.inf] * inst.n_jobs
        inc_paths = F.split_paths(inst, inc_x)
        out = {}
        total = 0
        for i in range(inst.n_jobs):
            if budget.expired():
                break
            jp = F.job_paths(inst, i, lam=lam, threshold=thr[i], max_labels=LINK_LABELS,
                             caps=caps)
            if jp is None or len(jp) > LINK_JOB_PATHS or total + len(jp) > self.max_columns:
                continue
            out[i] = _with_path(inst, i, jp, inc_paths[i])
            total += len(out[i])
        info["linked_jobs"] = len(out)
        info["columns"] = total
        return out

    def _run_transitions(self, inst, ctx, cg, caps, inc_x, inc_cost, budget, info,
                         linked=False, rnd=None):
        fixed = None
        if self.reduce and cg is not None:
            if not budget.enter("placement_fixing"):
                return None, None, 1.0, None
            rc = F.placement_reduced_costs(inst, cg.lam, cg.mu, caps, deadline=budget.deadline)
            budget.leave("placement_fixing")
            if rc is not None:
                gap = max(0.0, inc_cost - cg.bound)
                slack = F.THRESHOLD_RTOL * max(abs(inc_cost), abs(cg.bound), F.objective_scale(inst))
                fixed = rc > gap + slack
                # Never fix the incumbent's own placements (within the gap in exact arithmetic;
                # this guards the threshold against rounding).
                fixed[np.arange(inst.n_layers), inc_x] = False
                info["fixed_placements"] = int(fixed.sum())
            else:
                info["fixed_placements"] = 0
                info["fixing_skipped"] = "labels overflow or time limit"
        paths = None
        if linked:
            if not budget.enter("job_paths"):
                return None, None, 1.0, None
            paths = self._linked_paths(inst, cg, caps, inc_x, inc_cost, budget, info)
            budget.leave("job_paths")
        mscale = self._model_scale(inc_cost, F.objective_scale(inst))
        if not budget.enter("model_build"):
            return None, None, 1.0, None
        lm = F.transition_model(inst, caps, fixed, scale=mscale, paths=paths)
        budget.leave("model_build")
        info["variables"] = int(lm.obj.size)
        info["rows"] = int(lm.A.shape[0])
        if not budget.enter("backend"):
            return None, lm.decode, lm.scale, None
        if rnd is not None:
            rnd.decode = lm.decode
        out = solve_linear(self.backend, lm.obj, lm.A, lm.row_lo, lm.row_hi, lm.lb, lm.ub,
                           lm.integer, time_limit=min(budget.left(), 1e9), threads=self.threads,
                           seed=ctx.seed,
                           cutoff=self._cutoff(inc_cost, lm.scale) if self.reduce else None,
                           hint=lm.encode(inc_x) if self.reduce else None,
                           deadline=budget.deadline, info=info,
                           heuristic_effort=HIGHS_HEURISTIC_EFFORT if self.reduce else None,
                           on_solution=rnd, restart_nodes=self._restart_nodes(lm.obj.size, rnd))
        budget.leave("backend")
        return out, lm.decode, lm.scale, None

    @staticmethod
    def _restart_nodes(n_variables, rnd):
        # No restart on large models (RESTART_MAX_VARIABLES), nor when the round asks for none.
        ok = rnd is not None and rnd.restart is not None and n_variables <= RESTART_MAX_VARIABLES
        return RESTART_NODES if ok else -1

    @staticmethod
    def _cutoff(inc_cost, scale):
        # Solutions up to the incumbent, and a little above so that the back end still finds
        # the incumbent itself and reports its own objective for it, stay admissible.
        return (inc_cost + 1e-6 * abs(inc_cost)) / scale + 1e-9

    def _assemble(self, inst, ctx, out, decode, obj_scale, resolution, inc_x, inc_cost, lb,
                  info):
        """Turn the back end's answer into a Proposal: verified decision, bound, status.

        ``resolution``: for CP-SAT, the worst rounding of its integer objective (original
        units; its bound already accounts for it); None for the MILP back ends, whose bound is
        lowered by their tolerances instead.
        """
        nj = inst.n_jobs
        if out.status == "error":
            raise RuntimeError(f"MILP back end failed: {out.message}")
        if out.status == "infeasible":
            # The model holds the incumbent (its paths are added, its placements never fixed, the
            # cutoff admits it): an infeasible answer is the back end's numerical trouble.
            raise RuntimeError(f"{self.backend} reported the model infeasible, but it contains the "
                               f"incumbent ({out.message}): numerical trouble")
        if resolution is None:
            margin = lambda v: MIP_GAP * abs(v) + FEAS_TOL * (nj + 1) * obj_scale  # noqa: E731
        else:
            margin = lambda v: 0.0  # noqa: E731
        bk = None
        if out.bound is not None:
            bk = (lowered_bound(out.bound, obj_scale, nj) if resolution is None
                  else out.bound * obj_scale)
            info["backend_bound"] = bk
        decision, objective, source = inc_x, None, "heuristic"
        if out.values is not None:
            x = decode(out.values)
            ev = evaluate(inst, x)
            ctx.charge(1)
            obj_x = None if out.objective is None else out.objective * obj_scale
            if not ev.feasible:
                # The back end's tolerance let a capacity slip: repair, and let the bound decide.
                info["backend_decision_load"] = ev.load
                x, moves = F.repair_and_improve(inst, x)
                ctx.charge(moves)
                ev = evaluate(inst, x)
                info["repaired"] = True
                obj_x = None
            if ev.feasible and ev.cost <= inc_cost:
                decision, objective, source = x, obj_x, "milp"
        cost = evaluate(inst, decision).cost
        bound = lb
        if bk is not None:
            bound = bk if bound is None else max(bound, bk)
        if bound is not None:
            # The decision is feasible, so the optimum is at most its cost.
            bound = min(bound, cost)
        tol = (margin(cost) * 2 if resolution is None else 2 * resolution) + 1e-9 * abs(cost)
        proven = out.status == "optimal" and bound is not None and cost - bound <= tol
        info["decision_source"] = source
        if proven:
            status = "optimal"
        elif out.status == "timeout":
            status = "timeout"
        else:
            # The back end finished, but its bound does not prove the returned decision (it
            # had to be repaired, or the back end's numbers disagree): reported as is.
            status = "feasible"
            info["not_proven"] = True
        return Proposal(decision, status=status, bound=bound, objective=objective, info=info)
