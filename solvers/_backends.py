"""The MILP back ends of ``milp`` (split from :mod:`offbench_solvers.milp`, which documents
how they are used): :func:`solve_linear` (HiGHS, SCIP through OR-Tools' ``model_builder``; CBC
through ``pywraplp``; HiGHS through its own ``highspy``, which alone takes a starting solution
and returns its incumbent, dual bound and node count at a limit), :func:`solve_paths_cpsat` (CP-SAT on the path model with exactly accounted
integer scaling), :func:`glop_lp` (the column generation's restricted master LP) and
:func:`warm_backends` (each library loaded once per process, outside a solve's time limit).

Every back end's own time limit is what is left of the caller's deadline *after* its model is
built (:func:`_limit_left`); with nothing left it is not started and the outcome is ``timeout``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from offbench.solver import stdout_to_stderr

from . import _formulation as F

#: Relative MIP gap given to every back end (see milp's module docstring).
MIP_GAP = 1e-9
#: Feasibility and optimality tolerances given to the back ends.
FEAS_TOL = 1e-9
#: HiGHS's ``mip_heuristic_effort`` for milp's proof on chain jobs (HiGHS's default is 0.05).
#: On the tuning seeds of the milp-scale set (20 x 10) it proved 3 of 4 hard instances within
#: 20 s where the default proved 1, and was neutral on 10 x 8 (median 0.64 s of CPU, was 0.71).
HIGHS_HEURISTIC_EFFORT = 0.3
#: HiGHS's ``mip_min_logging_interval`` (s) when its dual bound is read from its log lines
#: (:class:`_Watch`; HiGHS's default, 5 s, left the time a bound was reached uncertain by up to
#: 5 s on scale-v1:n1000).
BOUND_LOG_INTERVAL = 1.0


# ------------------------------------------------------------------------------ back ends
# One process-wide redirect of descriptor 1 (HiGHS prints a banner there whatever its options
# say), shared with every solve: offbench.solver.stdout_to_stderr.


class BackendOutcome:
    """What a back end answered, in scaled units: ``status`` in optimal / feasible /
    infeasible / timeout / error (highspy: also ``restart``), ``values``, ``objective``,
    ``bound``, ``message``, ``wall``, ``bounds``."""

    def __init__(self, status, values=None, objective=None, bound=None, message="", wall=0.0,
                 bounds=()):
        self.status = status
        self.values = values
        self.objective = objective
        self.bound = bound
        self.message = message
        self.wall = wall
        #: ``[(time.perf_counter(), dual bound), ...]`` sampled during the run (highspy only).
        self.bounds = list(bounds)


def _num(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _limit_left(time_limit: float, deadline: float | None, now: float, info: dict | None):
    """The back end's time limit: ``time_limit``, at most what is left before ``deadline``; None
    when nothing is (then it is not started). Recorded in ``info["backend_time_limit"]``."""
    if deadline is not None and math.isfinite(deadline):
        time_limit = min(time_limit, deadline - now)
    if not time_limit > 0.0:
        return None
    time_limit = max(0.01, time_limit)
    if info is not None:
        info["backend_time_limit"] = time_limit
    return time_limit


def solve_linear(backend: str, obj, A, row_lo, row_hi, lb, ub, integer, *, time_limit: float,
                 threads: int, seed: int, cutoff: float | None = None,
                 hint: np.ndarray | None = None, gap: float = MIP_GAP,
                 node_limit: int | None = None, deadline: float | None = None,
                 info: dict | None = None,
                 heuristic_effort: float | None = None,
                 on_solution=None,
                 restart_nodes: int = -1) -> BackendOutcome:
    """Solve ``min obj @ v`` s.t. ``row_lo <= A v <= row_hi``, ``lb <= v <= ub``, ``v[integer]``
    integral, with an OR-Tools back end (``highs``, ``scip`` through ``model_builder``; ``cbc``
    through ``pywraplp``) or ``highspy`` (:func:`_solve_highspy`). ``cutoff``: only solutions
    with objective below it are wanted (HiGHS's ``objective_bound``); ``hint``: a starting
    solution (SCIP and highspy: hints crash the HiGHS interface of OR-Tools 9.15); ``gap``: the relative MIP gap (1e-9 for proofs, looser
    for heuristics); ``node_limit``: a branch-and-bound node limit (HiGHS, SCIP), which unlike a
    time limit gives the same answer on a loaded machine; ``deadline`` (a ``time.perf_counter()``
    value): the back end's own limit is at most the time left when it starts, model building
    counted (none left: a ``timeout`` outcome, not solved); ``info``: gets
    ``backend_time_limit``, the limit the back end was given; ``heuristic_effort``: HiGHS's
    ``mip_heuristic_effort`` (None: its default); ``on_solution`` (highspy only): called with
    each improving solution HiGHS finds (a vector of the model's size, integral on ``integer``
    to 1e-6; others are not passed); when it returns true within the first ``restart_nodes``
    branch-and-bound nodes (``restart_nodes`` < 0: never), HiGHS is stopped and the outcome's
    status is ``restart`` (the caller rebuilds its model around the solution it was shown; see
    milp's docstring); with it, the outcome also carries ``bounds``, HiGHS's dual bound
    sampled during the run (:class:`_Watch`)."""
    time_limit = float(time_limit)
    if backend == "highspy":
        return _solve_highspy(obj, A, row_lo, row_hi, lb, ub, integer, time_limit=time_limit,
                              threads=threads, seed=seed, cutoff=cutoff, hint=hint, gap=gap,
                              node_limit=node_limit, heuristic_effort=heuristic_effort,
                              deadline=deadline, info=info, on_solution=on_solution,
                              restart_nodes=restart_nodes)
    from ortools.linear_solver.python import model_builder as mb

    m = mb.Model()
    n = obj.size
    m.helper.fill_model_from_sparse_data(np.asarray(lb, float), np.asarray(ub, float),
                                         np.asarray(obj, float), np.asarray(row_lo, float),
                                         np.asarray(row_hi, float), A.tocsr())
    for v in np.nonzero(integer)[0]:
        m.helper.set_var_integrality(int(v), True)
    t0 = time.perf_counter()
    time_limit = _limit_left(time_limit, deadline, t0, info)
    if time_limit is None:
        return BackendOutcome("timeout", message="no time left for the back end after building "
                              "its model")
    if backend == "cbc":
        return _solve_cbc(m, n, time_limit, threads, t0, gap)
    s = mb.Solver(backend)
    if not s.solver_is_supported():
        return BackendOutcome("error", message=f"OR-Tools here has no {backend} back end")
    s.enable_output(False)
    if backend == "highs":
        opts = {"output_flag": "false", "log_to_console": "false", "threads": threads,
                "random_seed": seed % 2147483647, "mip_rel_gap": gap, "mip_abs_gap": 0,
                "mip_feasibility_tolerance": FEAS_TOL, "primal_feasibility_tolerance": FEAS_TOL,
                "dual_feasibility_tolerance": FEAS_TOL}
        if cutoff is not None and math.isfinite(cutoff):
            opts["objective_bound"] = repr(float(cutoff))
        if node_limit is not None:
            opts["mip_max_nodes"] = int(node_limit)
        if heuristic_effort is not None:
            opts["mip_heuristic_effort"] = float(heuristic_effort)
        s.set_solver_specific_parameters("".join(f"{k}={v}\n" for k, v in opts.items()))
    elif backend == "scip":
        opts = {"limits/gap": gap, "limits/absgap": 0, "numerics/feastol": FEAS_TOL,
                "randomization/randomseedshift": seed % 2147483647}
        if node_limit is not None:
            opts["limits/nodes"] = int(node_limit)
        s.set_solver_specific_parameters("".join(f"{k} = {v}\n" for k, v in opts.items()))
        if hint is not None:
            vs = m.get_variables()
            for j in range(n):
                m.add_hint(vs.iloc[j] if hasattr(vs, "iloc") else vs[j], float(hint[j]))
    s.set_time_limit_in_seconds(time_limit)
    with stdout_to_stderr():
        st = s.solve(m)
    wall = time.perf_counter() - t0
    S = mb.SolveStatus
    values = None
    if st in (S.OPTIMAL, S.FEASIBLE):
        values = np.asarray(s.values(m.get_variables()), dtype=float)
    obj_v = _num(s.objective_value) if values is not None else None
    bound = _num(s.best_objective_bound)
    name = getattr(st, "name", str(st))
    if st == S.OPTIMAL:
        return BackendOutcome("optimal", values, obj_v, bound if bound is not None else obj_v, name, wall)
    if st == S.FEASIBLE:
        return BackendOutcome("timeout" if wall >= 0.9 * time_limit else "feasible", values,
                              obj_v, bound, name, wall)
    if st == S.INFEASIBLE:
        return BackendOutcome("infeasible", None, None, bound, name, wall)
    if st in (S.NOT_SOLVED, S.UNKNOWN_STATUS) and wall >= 0.9 * time_limit:
        return BackendOutcome("timeout", None, None, bound, name, wall)
    return BackendOutcome("error", None, None, None, f"{backend} answered {name} "
                          f"({s.status_string or 'no message'})", wall)


#: The thread count of this process's last highspy run (HiGHS's scheduler is process-wide).
_HIGHS_THREADS: list = []

def _integral(v: np.ndarray, n: int, integer: np.ndarray) -> bool:
    """Whether HiGHS's vector ``v`` is a usable answer: the model's size, integral on
    ``integer`` to 1e-6."""
    if v.size != n:
        return False
    return float(np.max(np.abs(v[integer] - np.round(v[integer])), initial=0.0)) <= 1e-6


class _Watch:
    """HiGHS's callbacks for one highspy run with an ``on_solution``:

    * each improving solution (vector checked by :meth:`usable`) goes to ``on_solution``; when
      it asks for a restart within the first ``restart_nodes`` nodes, the next interrupt check
      stops HiGHS (the improving-solution callback itself cannot interrupt). The interrupt
      check is subscribed only for those nodes (``restart_nodes`` < 0: not at all): it is called
      some 1,200 times a second, and kept on for a whole 30 x 10 proof (784 nodes) it cost 1.5-2 %
      of HiGHS's CPU time (1.98-1.99 s against 1.94-1.96 s, three runs each);
    * HiGHS's dual bound is kept when it rises (``bounds``: ``(perf_counter, bound)``), read at
      each improving solution and each of HiGHS's log lines (the MIP logging callback; HiGHS
      logs at events of its search and at least every ``mip_min_logging_interval``, here
      ``BOUND_LOG_INTERVAL``, but only with ``output_flag`` on, so the run logs to nothing:
      ``log_to_console`` off, no log file). On the same proof: 16 lines, the same 784 nodes, no
      measurable cost (1.93-1.97 s of CPU against 1.93-1.97 s without, intervals 5 and 1 s).

    A class rather than closures: a closure that unsubscribes itself refers to itself and to the
    ``Highs`` object, a reference cycle that kept the object and its model alive until the cyclic
    garbage collector ran. The watch holds the interrupt callback's event (which refers to the
    ``Highs`` object only by a weak proxy), and :func:`_solve_highspy` unsubscribes everything
    when the run ends."""

    def __init__(self, n, integer, on_solution, restart_nodes, interrupts):
        self.n = n
        self.integer = integer
        self.on_solution = on_solution
        self.restart_nodes = int(restart_nodes)
        self.interrupts = interrupts
        self.restart = False
        self.error: BaseException | None = None
        self.bounds: list = []

    def usable(self, v) -> bool:
        """Whether ``v`` may be shown to ``on_solution`` (:func:`_integral`)."""
        return _integral(v, self.n, self.integer)

    def _sample(self, bound) -> None:
        if math.isfinite(bound) and (not self.bounds or bound > self.bounds[-1][1]):
            self.bounds.append((time.perf_counter(), float(bound)))

    def offer(self, v, nodes) -> None:
        """Show an improving vector to ``on_solution``; ``nodes``: the node count (None: past
        the restart window)."""
        if self.error is not None or not self.usable(v):
            return
        try:
            wants = bool(self.on_solution(v))
        except BaseException as e:  # noqa: BLE001 - raised again after the run
            self.error = e
            return
        if wants and nodes is not None and nodes <= self.restart_nodes:
            self.restart = True

    def improving(self, e):
        d = e.data_out
        self._sample(d.mip_dual_bound)
        self.offer(np.array(d.mip_solution, dtype=float), int(d.mip_node_count))

    def logging(self, e):
        self._sample(e.data_out.mip_dual_bound)

    def interrupt(self, e):
        if self.restart or self.error is not None:
            e.interrupt()
        elif e.data_out.mip_node_count > self.restart_nodes:
            self.interrupts.unsubscribe(self.interrupt)


def _solve_highspy(obj, A, row_lo, row_hi, lb, ub, integer, *, time_limit, threads, seed,
                   cutoff, hint, gap, node_limit, heuristic_effort, deadline,
                   info, on_solution=None, restart_nodes=-1) -> BackendOutcome:
    """HiGHS through its own Python API (``highspy``): the model passed as arrays, ``hint`` as a
    starting solution (``setSolution``; HiGHS checks it and starts from it when feasible),
    ``cutoff`` as ``objective_bound``; at a time limit its incumbent and dual bound are
    returned, and ``info`` gets ``backend_nodes`` (branch-and-bound nodes). ``on_solution``,
    ``restart_nodes``: see :func:`solve_linear` and :class:`_Watch`."""
    import highspy

    with stdout_to_stderr():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    opts = {"threads": int(threads), "random_seed": int(seed % 2147483647),
            "mip_rel_gap": float(gap), "mip_abs_gap": 0.0,
            "mip_feasibility_tolerance": FEAS_TOL, "primal_feasibility_tolerance": FEAS_TOL,
            "dual_feasibility_tolerance": FEAS_TOL}
    if cutoff is not None and math.isfinite(cutoff):
        opts["objective_bound"] = float(cutoff)
    if node_limit is not None:
        opts["mip_max_nodes"] = int(node_limit)
    if heuristic_effort is not None:
        opts["mip_heuristic_effort"] = float(heuristic_effort)
    for k, v in opts.items():
        h.setOptionValue(k, v)
    n = int(obj.size)
    C = A.tocsc()
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = int(C.shape[0])
    lp.col_cost_ = np.asarray(obj, float)
    lp.col_lower_ = np.asarray(lb, float)
    lp.col_upper_ = np.asarray(ub, float)
    lp.row_lower_ = np.asarray(row_lo, float)
    lp.row_upper_ = np.asarray(row_hi, float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = C.indptr.astype(np.int32)
    lp.a_matrix_.index_ = C.indices.astype(np.int32)
    lp.a_matrix_.value_ = C.data.astype(float)
    integer = np.asarray(integer, dtype=bool)
    if integer.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
                           for b in integer]
    h.passModel(lp)
    t0 = time.perf_counter()
    time_limit = _limit_left(time_limit, deadline, t0, info)
    if time_limit is None:
        return BackendOutcome("timeout", message="no time left for the back end after building "
                              "its model")
    h.setOptionValue("time_limit", float(time_limit))
    if hint is not None:
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(hint, float)
        sol.value_valid = True
        h.setSolution(sol)
    watch = None
    if integer.any() and on_solution is not None:
        h.setOptionValue("output_flag", True)     # for the logging callback (_Watch) ...
        h.setOptionValue("log_to_console", False)  # ... but nothing is written anywhere
        h.setOptionValue("mip_min_logging_interval", BOUND_LOG_INTERVAL)
        watch = _Watch(n, integer, on_solution, restart_nodes, h.cbMipInterrupt)
        h.cbMipImprovingSolution.subscribe(watch.improving)
        h.cbMipLogging.subscribe(watch.logging)
        if restart_nodes >= 0:
            h.cbMipInterrupt.subscribe(watch.interrupt)
    try:
        with stdout_to_stderr():
            # HiGHS's task scheduler is process-wide and keeps the thread count of the first
            # run (cvxpy's HiGHS, another solve's ``threads``): a run asking another count fails
            # ("Not Set") unless the scheduler is reset first.
            if _HIGHS_THREADS and _HIGHS_THREADS[0] != int(threads):
                highspy.Highs.resetGlobalScheduler(True)
            _HIGHS_THREADS[:] = [int(threads)]
            h.run()
            if h.getModelStatus() == highspy.HighsModelStatus.kNotset:
                # Started by someone else (e.g. cvxpy) with another count: reset and run again.
                highspy.Highs.resetGlobalScheduler(True)
                h.run()
    finally:
        if watch is not None:
            h.cbMipImprovingSolution.unsubscribe(watch.improving)
            h.cbMipLogging.unsubscribe(watch.logging)
            h.cbMipInterrupt.unsubscribe(watch.interrupt)
    wall = time.perf_counter() - t0
    if watch is not None and watch.error is not None:
        raise watch.error
    st = h.getModelStatus()
    name = h.modelStatusToString(st)
    hi = h.getInfo()
    if info is not None:
        info["backend_nodes"] = int(hi.mip_node_count)
    M = highspy.HighsModelStatus
    values = None
    if hi.primal_solution_status == 2:  # kSolutionStatusFeasible
        values = np.asarray(h.getSolution().col_value, dtype=float)
        # Only an integral point is an answer, priced below by its own objective: stopped at a
        # limit (milp-scale/40x12/c0.3/s2002, heavy load), HiGHS 1.16 once reported an objective
        # 0.09 % below the cost of the decision decoded from its vector (not reproduced since;
        # a fractional vector or a stale objective).
        if values.size == n:
            viol = float(np.max(np.abs(values[integer] - np.round(values[integer])),
                                initial=0.0))
            if info is not None:
                info["backend_integrality"] = viol
        if not _integral(values, n, integer):
            values = None
    bounds = watch.bounds if watch is not None else ()
    if watch is not None and watch.restart and st == M.kInterrupt:
        # HiGHS's own incumbent is shown too (the solution the restart asked for, or a better
        # one found before the interrupt); the caller rebuilds around the best it was shown.
        if values is not None:
            watch.offer(values, None)
            if watch.error is not None:
                raise watch.error
        return BackendOutcome("restart", values, None, None, name, wall, bounds)
    # The objective of the values returned (not HiGHS's report, which a limit can leave behind).
    obj_v = _num(float(np.asarray(obj, float) @ values)) if values is not None else None
    bound = _num(hi.mip_dual_bound) if integer.any() else obj_v
    if st == M.kOptimal:
        return BackendOutcome("optimal", values, obj_v, bound if bound is not None else obj_v,
                              name, wall, bounds)
    if st in (M.kTimeLimit, M.kSolutionLimit, M.kIterationLimit, M.kInterrupt):
        limit = st == M.kTimeLimit or wall >= 0.9 * time_limit
        return BackendOutcome("timeout" if limit else "feasible", values, obj_v, bound, name,
                              wall, bounds)
    if st == M.kInfeasible:
        return BackendOutcome("infeasible", None, None, bound, name, wall, bounds)
    if st == M.kObjectiveBound:
        # Nothing below the cutoff, which admits the caller's incumbent: numerical trouble,
        # reported as an unproven answer (the caller keeps its incumbent and its own bound).
        return BackendOutcome("feasible", values, obj_v, None, name, wall, bounds)
    return BackendOutcome("error", None, None, None, f"highspy answered {name}", wall)


def _solve_cbc(m, n, time_limit, threads, t0, gap) -> BackendOutcome:
    from ortools.linear_solver import pywraplp

    solver = pywraplp.Solver.CreateSolver("CBC")
    if solver is None:
        return BackendOutcome("error", message="OR-Tools here has no CBC back end")
    err = solver.LoadModelFromProto(m.export_to_proto())
    if err:
        return BackendOutcome("error", message=f"CBC could not load the model: {err}")
    solver.SetTimeLimit(int(math.ceil(time_limit * 1000)))
    solver.SetNumThreads(int(threads))
    p = pywraplp.MPSolverParameters()
    p.SetDoubleParam(p.RELATIVE_MIP_GAP, gap)
    p.SetDoubleParam(p.PRIMAL_TOLERANCE, FEAS_TOL)
    p.SetDoubleParam(p.DUAL_TOLERANCE, FEAS_TOL)
    with stdout_to_stderr():
        st = solver.Solve(p)
    wall = time.perf_counter() - t0
    names = {0: "OPTIMAL", 1: "FEASIBLE", 2: "INFEASIBLE", 3: "UNBOUNDED", 4: "ABNORMAL",
             5: "MODEL_INVALID", 6: "NOT_SOLVED"}
    name = names.get(st, str(st))
    values = None
    if st in (0, 1):
        values = np.array([v.solution_value() for v in solver.variables()], dtype=float)
    obj_v = _num(solver.Objective().Value()) if values is not None else None
    bound = _num(solver.Objective().BestBound())
    if st == 0:
        return BackendOutcome("optimal", values, obj_v, bound if bound is not None else obj_v, name, wall)
    if st == 1:
        return BackendOutcome("timeout" if wall >= 0.9 * time_limit else "feasible", values,
                              obj_v, bound, name, wall)
    if st == 2:
        return BackendOutcome("infeasible", None, None, bound, name, wall)
    if st == 6 and wall >= 0.9 * time_limit:
        return BackendOutcome("timeout", None, None, bound, name, wall)
    return BackendOutcome("error", None, None, None, f"cbc answered {name}", wall)


def solve_paths_cpsat(pm: F.PathModel, *, time_limit: float, threads: int, seed: int,
                      hint_cols: np.ndarray | None = None, deterministic_limit: float | None = None,
                      deadline: float | None = None, info: dict | None = None):
    """CP-SAT on the path model with exactly accounted integer scaling (module docstring).

    Returns ``(outcome, resolution)``: ``outcome.objective``/``bound`` are already in original
    units (floating point; the bound accounts for the rounding), ``resolution`` is the largest
    total rounding of a solution's scaled cost (``n_jobs / (2 K)``). ``deadline``, ``info``: as
    in :func:`solve_linear` (the model's building counted).
    """
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    nj = pm.n_jobs
    md = cp_model.CpModel()
    y = [md.new_bool_var(f"y{p}") for p in range(pm.n_columns)]
    base = np.empty(nj)
    ranges = np.empty(nj)
    for i in range(nj):
        a, b = pm.job_start[i], pm.job_start[i + 1]
        md.add_exactly_one(y[a:b])
        base[i] = float(np.min(pm.cost[a:b]))
        ranges[i] = float(np.max(pm.cost[a:b]) - base[i])
    for k, load in ((0, pm.e), (1, pm.c)):
        if not pm.caps.active[k]:
            continue
        cap = float(pm.caps.cap[k])
        top = max(cap, float(np.max(load, initial=0.0)))
        if top <= 0.0:
            continue  # no path puts any load here: the row holds whatever is chosen
        Q = 2.0 ** math.floor(math.log2(2.0 ** 50 / top))
        coef = np.floor(load * Q).astype(np.int64)  # rounded down: a relaxation
        nz = np.nonzero(coef)[0]
        md.add(sum(int(coef[p]) * y[p] for p in nz) <= int(math.floor(cap * Q)))
    total = float(np.sum(ranges))
    # Every job's paths at one cost (total 0): nothing is rounded, any K will do; K = 1 made the
    # bound half a unit per job below the optimum (an "optimal" answer 4 % under its cost).
    K = 2.0 ** math.floor(math.log2(2.0 ** 40 / total)) if total > 0 else 2.0 ** 40
    job = pm.job_of_column()
    w = np.rint((pm.cost - base[job]) * K).astype(np.int64)
    md.minimize(sum(int(w[p]) * y[p] for p in np.nonzero(w)[0]))
    if hint_cols is not None:
        for p in hint_cols:
            md.add_hint(y[int(p)], 1)
    resolution = 0.5 * nj / K
    time_limit = _limit_left(float(time_limit), deadline, time.perf_counter(), info)
    if time_limit is None:
        return BackendOutcome("timeout", message="no time left for CP-SAT after building its "
                              "model"), resolution
    s = cp_model.CpSolver()
    s.parameters.max_time_in_seconds = time_limit
    s.parameters.num_workers = int(threads)
    s.parameters.random_seed = int(seed % 2147483647)
    s.parameters.log_search_progress = False
    if deterministic_limit is not None:
        s.parameters.max_deterministic_time = float(deterministic_limit)
    with stdout_to_stderr():
        st = s.solve(md)
    wall = time.perf_counter() - t0
    name = s.status_name(st)
    offset = math.fsum(base.tolist())
    # Every column's scaled cost is within half a unit of its true one: a solution's true
    # cost is at least (integer objective - nj / 2) / K above the offsets.
    bound = None
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE, cp_model.UNKNOWN):
        bi = s.best_objective_bound
        if math.isfinite(bi):
            bound = offset + (bi - 0.5 * nj) / K
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        vals = np.array([s.boolean_value(v) for v in y], dtype=float)
        obj_v = offset + float(s.objective_value) / K
        status = "optimal" if st == cp_model.OPTIMAL else (
            "timeout" if wall >= 0.9 * time_limit else "feasible")
        return BackendOutcome(status, vals, obj_v, bound, name, wall), resolution
    if st == cp_model.INFEASIBLE:
        return BackendOutcome("infeasible", None, None, None, name, wall), resolution
    if st == cp_model.UNKNOWN and wall >= 0.9 * time_limit:
        return BackendOutcome("timeout", None, None, bound, name, wall), resolution
    return BackendOutcome("error", None, None, None, f"cp-sat answered {name}", wall), resolution


def glop_lp(obj, A, row_lo, row_hi):
    """The restricted master LP (``0 <= y <= 1``) with OR-Tools Glop: ``(y, value, duals)``."""
    from ortools.linear_solver.python import model_builder as mb

    m = mb.Model()
    n = obj.size
    m.helper.fill_model_from_sparse_data(np.zeros(n), np.ones(n), obj, row_lo, row_hi, A)
    s = mb.Solver("glop")
    s.enable_output(False)
    st = s.solve(m)
    if st != mb.SolveStatus.OPTIMAL:
        raise RuntimeError(f"Glop could not solve the master LP ({getattr(st, 'name', st)})")
    y = np.asarray(s.values(m.get_variables()), dtype=float)
    duals = np.asarray(s.dual_values(m.get_linear_constraints()), dtype=float)
    return y, float(s.objective_value), duals


_WARM_BACKENDS: set = set()


def warm_backends(backend: str) -> float:
    """Load OR-Tools and run Glop and ``backend`` once on a two-variable model, once per
    process and back end (the first call of a back end loads its library: 1-3 s on a busy
    machine, which a solve should not pay inside its time limit; see
    :func:`offbench_solvers._formulation.warm_kernels`). Returns the seconds it took."""
    if backend in _WARM_BACKENDS:
        return 0.0
    import scipy.sparse as sp

    t0 = time.perf_counter()
    A = sp.csr_matrix(np.ones((1, 2)))
    args = (np.array([1.0, 2.0]), A, np.array([1.0]), np.array([1.0]))
    with stdout_to_stderr():
        glop_lp(*args)
    if backend != "cp-sat":
        solve_linear(backend, *args, np.zeros(2), np.ones(2), np.ones(2, dtype=bool),
                     time_limit=10.0, threads=1, seed=0)
    else:
        from ortools.sat.python import cp_model  # noqa: F401
    _WARM_BACKENDS.add(backend)
    return time.perf_counter() - t0
