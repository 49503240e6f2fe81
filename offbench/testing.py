"""``check_solver``: the public checks that every solver must pass.

Run over every discovered solver in offbench's test suite, and usable by anyone who writes a
solver::

    from offbench.testing import check_solver
    check_solver(MySolver)            # raises SolverCheckError listing every failed check

The checks (each has a name, used by ``skip`` for known failures with reasons):

``params``       default construction works; unknown parameters and every declared parameter's
                 out-of-range value are refused with :class:`~offbench.solver.SolverError`.
``result``       on a battery of small instances (capacities and deadlines on and off, zero-ops
                 and zero-bits layers; small DAG instances too for a solver that declares
                 ``handles_dag``, :func:`dag_battery`): the status is in the closed vocabulary; a decision has one
                 tier per layer; the reported cost and feasibility are the cost model's; a crash
                 is reported as a failure (a refusal, :class:`~offbench.solver.Unsupported`, is
                 allowed).
``feasible``     solvers that promise feasibility (``Solver.promises_feasible``) never return an
                 infeasible decision with status optimal or feasible.
``determinism``  the same seed gives the same decision and cost.
``optimality``   against the brute-force optimum of each battery instance: no solver beats it
                 (that would be a bug in the cost model or the checker), every proven bound is
                 below it, and a solver that says ``optimal`` has it. An exact solver whose answer
                 is beaten fails loudly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .cost import evaluate, evaluate_many
from .generators import random_instance
from .instance import Instance
from .solver import STATUSES, Solver, SolverError
from .discovery import guarded_solve, instantiate, resolve

#: Relative tolerance when comparing a cost with an optimum.
RTOL = 1e-6

CHECKS = ("params", "result", "feasible", "determinism", "optimality")


class SolverCheckError(AssertionError):
    """One or more checks failed; the message lists them."""


@dataclass(frozen=True)
class Optimum:
    cost: float
    decision: np.ndarray


def brute_force(inst: Instance, max_layers: int = 11) -> Optimum:
    """The optimum of a small instance by enumerating every placement (``3^n`` rows through
    :func:`offbench.cost.evaluate_many`); independent of every solver."""
    n = inst.n_layers
    if n > max_layers:
        raise ValueError(f"brute force is for at most {max_layers} layers, got {n}")
    X = np.array(list(itertools.product(range(3), repeat=n)), dtype=np.int8)
    costs, feasible, _ = evaluate_many(inst, X, with_feasibility=True)
    costs = np.where(feasible, costs, np.inf)
    r = int(np.argmin(costs))
    return Optimum(float(costs[r]), X[r])


def battery(seed: int = 0) -> list[Instance]:
    """Small instances with known optima: every combination of capacities and deadlines, with
    zero-ops and zero-bits layers, one-job and one-layer corner cases."""
    out = []
    k = 0
    for caps in (False, True):
        for dls in (False, True):
            for shape in ((2, (1, 4)), (3, (2, 3)), (1, (1, 1))):
                n_jobs, layers = shape
                out.append(random_instance(1000 * seed + k, n_devices=2, n_jobs=n_jobs, layers=layers,
                                           capacities=caps, deadlines=dls, zero_fraction=0.25,
                                           name=f"battery-{seed}-{k}"))
                k += 1
    return out


def dag_battery(seed: int = 0) -> list[Instance]:
    """Small DAG instances (:func:`offbench.dag.random_dag_instance`: shared outputs, skip
    edges, several entry and exit nodes, edge messages of 0 bits and more), capacities and
    deadlines on and off, at most 11 nodes in all (brute force)."""
    from .dag import random_dag_instance

    out = []
    k = 0
    for caps in (False, True):
        for dls in (False, True):
            for n_jobs, nodes in ((2, (2, 5)), (1, (4, 8))):
                out.append(random_dag_instance(1000 * seed + 500 + k, n_jobs=n_jobs, nodes=nodes,
                                               capacities=caps, deadlines=dls,
                                               zero_fraction=0.25, name=f"dag-battery-{seed}-{k}"))
                k += 1
    return out


def _bad_values(p) -> list:
    """Values a declared parameter must refuse."""
    bad = [object()]
    if p.choices is not None:
        bad.append("not-a-choice-" + "x" * 3)
    if p.type in (int, float):
        bad.append("12")
        if p.low is not None:
            bad.append(p.low - 1)
        if p.high is not None:
            bad.append(p.high + 1)
        if p.type is int:
            bad.append(1.5)
    if p.type is bool:
        bad.append("yes")
    if not p.allow_none:
        bad.append(None)
    return bad


def _attempt(cls, solver_obj, params, inst: Instance, time_limit: float):
    """One checked answer of the solver on ``inst`` (on its own copy: :func:`guarded_solve`).
    A learner without a static solve of its own (no ``_solve``: what the README's learners
    implement) answers as the learning tracks run it: a fresh solver,
    ``start`` on the instance, ``step`` (``decide``, timed and priced) and ``learn`` on that
    decision; a failure of ``start`` or ``learn`` is an ``error`` result naming it."""
    from .solver import Context, LearningSolver, Result
    from .tracks.stream import learn_metrics

    if not (issubclass(cls, LearningSolver) and cls._solve is Solver._solve):
        return guarded_solve(solver_obj, inst, time_limit=time_limit, seed=7)
    import copy

    learner = instantiate(cls, params)
    mine = copy.deepcopy(inst)  # start and learn see a copy too: the battery stays as it was
    stage = "start"
    try:
        learner.start(mine, 7)
        stage = "decide"
        r = guarded_solve(_Step(learner), inst, time_limit=time_limit, seed=7)
        if r.decision is not None:
            stage = "learn"
            learn_metrics(learner.learn(mine, np.asarray(r.decision), Context(mine, None, 7)))
        return r
    except Exception as e:
        return Result(solver=cls.id, status="error", decision=None, cost=None, feasible=None,
                      bound=None, wall_time=0.0, seed=7,
                      error=f"{stage} failed: {type(e).__name__}: {e}")


class _Step:
    """A learner's ``step`` as the ``solve`` that :func:`guarded_solve` calls."""

    def __init__(self, learner):
        self.learner = learner

    def solve(self, inst, *, time_limit=None, seed=0):
        return self.learner.step(inst, time_limit=time_limit, seed=seed)


def check_solver(solver: type[Solver] | str, *, params: dict | None = None,
                 instances: Sequence[Instance] | None = None, time_limit: float = 20.0,
                 skip: Iterable[str] = ()) -> list[str]:
    """Run the public checks on a solver class (or ID) and raise if any fails.

    Parameters
    ----------
    solver : Solver subclass or str
    params : dict, optional
        Parameters for the checked instances (e.g. a small budget for a learned solver).
    instances : sequence of Instance, optional
        Defaults to :func:`battery`; each must have at most 11 layers (brute force).
    time_limit : float
        Per solve.
    skip : iterable of str
        Check names not to run (known failures, with reasons kept by the caller).

    Returns
    -------
    list of str
        The names of the checks that ran and passed.

    Raises
    ------
    SolverCheckError
        Listing every failure, each naming the check, the instance and what went wrong.
    """
    cls = resolve(solver) if isinstance(solver, str) else solver
    skip = set(skip)
    unknown = skip - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}; known: {CHECKS}")
    failures: list[str] = []
    ran = []

    def fail(check, msg):
        failures.append(f"[{check}] {cls.id}: {msg}")

    if "params" not in skip:
        ran.append("params")
        try:
            cls()
        except Exception as e:
            fail("params", f"default construction failed: {type(e).__name__}: {e}")
        try:
            cls(no_such_parameter_xyz=1)
            fail("params", "an unknown parameter was accepted")
        except SolverError:
            pass
        except Exception as e:
            fail("params", f"an unknown parameter raised {type(e).__name__} instead of "
                           f"SolverError: {e}")
        for p in cls.params:
            for v in _bad_values(p):
                try:
                    cls(**{p.name: v})
                    fail("params", f"parameter {p.name!r} accepted the bad value {v!r}")
                except SolverError as e:
                    if p.name not in str(e):
                        fail("params", f"the error for {p.name}={v!r} does not name the parameter: {e}")
                except Exception as e:
                    fail("params", f"{p.name}={v!r} raised {type(e).__name__} instead of SolverError")

    if instances is None:  # DAG instances too for a solver that handles them (SPEC.md section 7)
        insts = list(battery()) + (dag_battery() if cls.handles_dag is True else [])
    else:
        insts = list(instances)
    active = [c for c in ("result", "feasible", "determinism", "optimality") if c not in skip]
    ran.extend(active)
    try:
        solver_obj = instantiate(cls, params)
    except SolverError as e:
        fail("params", f"construction with {params or {}} failed: {e}")
        insts = []
    for inst in insts:
        where = f"instance {inst.name or inst.digest[:12]}"
        # (a copy per solve: a solver that changes its instance is a failed result, and the
        # battery stays as it was for the next check)
        r1 = _attempt(cls, solver_obj, params, inst, time_limit)
        if "result" in active:
            if r1.status not in STATUSES:
                fail("result", f"{where}: status {r1.status!r} is not one of {STATUSES}")
            if r1.status == "error" and not (r1.error or "").startswith("unsupported:"):
                fail("result", f"{where}: error: {r1.error}")
            if r1.decision is not None:
                x = np.asarray(r1.decision)
                if x.shape != (inst.n_layers,) or x.dtype != np.int8 or x.min() < 0 or x.max() > 2:
                    fail("result", f"{where}: decision of shape {x.shape} dtype {x.dtype}")
                else:
                    ev = evaluate(inst, x)
                    if r1.cost != ev.cost or r1.feasible != ev.feasible:
                        fail("result", f"{where}: reported cost/feasible {r1.cost}/{r1.feasible} "
                                       f"differ from the cost model's {ev.cost}/{ev.feasible}")
            elif r1.status in ("optimal", "feasible"):
                fail("result", f"{where}: status {r1.status} without a decision")
        if ("feasible" in active and cls.promises_feasible and r1.decision is not None
                and r1.status in ("optimal", "feasible") and not r1.feasible):
            fail("feasible", f"{where}: infeasible decision with status {r1.status}")
        if "determinism" in active:
            r2 = _attempt(cls, solver_obj, params, inst, time_limit)
            same = (r1.status == r2.status and r1.cost == r2.cost
                    and ((r1.decision is None and r2.decision is None)
                         or (r1.decision is not None and r2.decision is not None
                             and np.array_equal(r1.decision, r2.decision))))
            if not same:
                fail("determinism", f"{where}: two solves with seed 7 differ "
                                    f"({r1.status} {r1.cost} vs {r2.status} {r2.cost})")
        if "optimality" in active and inst.n_layers <= 11:
            opt = brute_force(inst)
            tol = RTOL * max(1.0, abs(opt.cost))
            if r1.decision is not None and r1.feasible and r1.cost < opt.cost - tol:
                fail("optimality", f"{where}: cost {r1.cost!r} beats the brute-force optimum "
                                   f"{opt.cost!r}: the cost model or the checker is wrong")
            if r1.bound is not None and r1.bound > opt.cost + tol:
                fail("optimality", f"{where}: bound {r1.bound!r} exceeds the optimum {opt.cost!r}")
            if r1.status == "optimal" and (r1.cost is None or r1.cost > opt.cost + tol):
                fail("optimality", f"{where}: claimed optimal with cost {r1.cost!r}, but the "
                                   f"optimum is {opt.cost!r}")
            if cls.guarantee == "exact" and r1.status == "feasible":
                fail("optimality", f"{where}: an exact solver finished without proving optimality")
    if failures:
        raise SolverCheckError(f"{len(failures)} check(s) failed:\n" + "\n".join(failures))
    return ran
