"""The reference cost of an instance, and the cost ratio against it (SPEC.md section 6).

:func:`compute_reference` finds the best cost it can *prove*, and says how. It names no
solver: it follows what offbench's own solvers (the ``offbench_solvers`` package, never a
plug-in) declare (:attr:`offbench.solver.Solver.reference_role`, ``reference_rank``,
:meth:`~offbench.solver.Solver.exact_for`, :meth:`~offbench.solver.Solver.lower_bound`; see
:func:`declared`). With the built-in declarations the chain is:

1. ``dp`` (role exact, rank 10, asked always): the per-job dynamic program, optimal whenever
   the jobs are not coupled by capacities (no capacities, capacities that can never bind, or
   capacities that the per-job optima happen to fit); otherwise it refuses, and its
   capacity-free optimum is kept as a lower bound.
   ``dp`` does not handle DAG jobs (SPEC.md section 7): on an instance with DAG jobs it is
   refused.
2. ``mincut`` (exact, rank 15, asked on instances with DAG jobs): the per-job three-tier minimum
   cut, optimal (within 1e-9 relative) whenever capacities and deadlines do not bind; otherwise
   it refuses, and its capacity- and deadline-free optimum is kept as a lower bound. On chains
   dp proves the same optima first.
3. ``exhaustive`` (exact, rank 20, asked up to 16 layers): all ``3^n`` placements, when the
   enumeration finishes within the time limit.
4. ``milp`` (exact, rank 30, asked always) when it proves optimality; ``milp-gap`` when it
   stops at the time limit with a lower bound: the reference cost is then the best cost known
   (the MILP's incumbent or a heuristic's, whichever is lower), ``bound`` the best proven lower
   bound and ``gap = (cost - bound) / cost``. Before it, the incumbents run (below), so that a
   MILP "optimum" a heuristic beats is caught.
5. ``heuristic``: only when nothing above is possible (no MILP solver, or it failed): the best
   of the incumbents (role incumbent: neurosurgeon, local search), with the best lower bound
   met (dp's or mincut's relaxation) when there is one.

Role check (greedy) runs beside every proven optimum.

Nothing is labelled proven that is not: ``dp``/``mincut``/``exhaustive``/``milp`` come only from
a solver status ``optimal`` (which :meth:`offbench.solver.Solver.solve` has checked: feasible,
priced by the cost model). A cheap heuristic is run beside every proven optimum, and one that beats it is
a bug raised loudly (:class:`ReferenceViolation`), as is a MILP "optimum" that a heuristic beats.
A provenance is the declaring solver's name, so only names of SPEC.md section 6 can prove.

:func:`score` turns a solver's cost into the cost ratio ``rho = cost / reference.cost``; an
infeasible or missing decision is scored at the instance's all-device cost and counted as
infeasible.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from .errors import UserError
from .instance import Instance

#: Provenances, the proven ones first (SPEC.md section 6).
PROVEN = ("exhaustive", "dp", "mincut", "milp")
PROVENANCES = PROVEN + ("milp-gap", "heuristic")

#: Relative tolerance when comparing costs against a proven optimum (SPEC.md: optima agree to
#: 1e-6 relative).
RTOL = 1e-6

#: Share of the time limit that the heuristics may use before the MILP runs.
HEURISTIC_SHARE = 0.2


class ReferenceViolation(AssertionError):
    """A cost below a proven optimum: a bug in a solver or in the cost model, never a result."""


@dataclass(frozen=True)
class Reference:
    """The reference of one instance (SPEC.md section 6).

    Attributes
    ----------
    cost : float
        The proven optimum (``exhaustive``, ``dp``, ``milp``) or the best cost known.
    bound : float or None
        A proven lower bound on the optimum (equal to ``cost`` when proven); None when unknown.
    provenance : str
        One of :data:`PROVENANCES`.
    gap : float or None
        ``(cost - bound) / cost``; 0 when proven, None without a bound.
    solver : str
        ID of the solver that found ``cost`` (``dp-v1``, ...).
    wall_time : float or None
        Seconds spent computing the reference (None when not recorded, e.g. an old frozen set).
    decision : tuple of int or None
        A decision that costs ``cost`` (None when not recorded).
    digest : str or None
        Digest of the instance it belongs to; :func:`score` refuses another instance.
    note : str
        What was tried and why the provenance is not a stronger one (empty when proven).
    """

    cost: float
    bound: float | None
    provenance: str
    gap: float | None
    solver: str
    wall_time: float | None
    decision: tuple[int, ...] | None
    digest: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.provenance not in PROVENANCES:
            raise UserError(f"reference.provenance: expected one of {', '.join(PROVENANCES)}, "
                            f"got {self.provenance!r}")
        if not (isinstance(self.cost, (int, float)) and math.isfinite(self.cost) and self.cost >= 0):
            raise UserError(f"reference.cost: expected a finite number >= 0, got {self.cost!r}")
        if self.provenance in PROVEN and self.bound is not None and self.bound < self.cost * (1 - RTOL):
            raise UserError(f"reference: provenance {self.provenance!r} is a proven optimum, but "
                            f"its bound {self.bound!r} is below its cost {self.cost!r}")

    @property
    def proven(self) -> bool:
        """Whether ``cost`` is a proven optimum."""
        return self.provenance in PROVEN

    def to_dict(self) -> dict:
        """Plain JSON values (the decision as a list)."""
        d = asdict(self)
        d["decision"] = None if self.decision is None else [int(v) for v in self.decision]
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "Reference":
        """Build from :meth:`to_dict`'s output (or a frozen set's reference entry).

        ``cost`` and ``provenance`` are required; ``bound``, ``gap``, ``solver``, ``wall_time``,
        ``decision``, ``digest`` and ``note`` may be absent. An unknown key is refused.
        """
        if not isinstance(data, dict):
            raise UserError(f"reference: expected an object, got {type(data).__name__}")
        known = {"cost", "bound", "provenance", "gap", "solver", "wall_time", "decision",
                 "digest", "note"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"reference.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
        for key in ("cost", "provenance"):
            if key not in data:
                raise UserError(f"reference.{key}: missing")

        def num(key, required=False):
            v = data.get(key)
            if v is None and not required:
                return None
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise UserError(f"reference.{key}: expected a number, got {v!r}")
            return float(v)

        dec = data.get("decision")
        if dec is not None:
            if isinstance(dec, str):
                dec = [int(c) for c in dec]
            try:
                dec = tuple(int(v) for v in dec)
            except (TypeError, ValueError):
                raise UserError(f"reference.decision: expected a list of tiers, got {dec!r}") from None
            if any(v not in (0, 1, 2) for v in dec):
                raise UserError("reference.decision: expected tiers in {0, 1, 2}")
        return cls(cost=num("cost", True), bound=num("bound"), provenance=str(data["provenance"]),
                   gap=num("gap"), solver=str(data.get("solver") or ""),
                   wall_time=num("wall_time"), decision=dec, digest=data.get("digest"),
                   note=str(data.get("note") or ""))


# ---------------------------------------------------------------------------------- scoring
def score(inst: Instance, cost: float | None, feasible: bool | None,
          reference: Reference) -> tuple[float, bool]:
    """The cost ratio of one decision against the reference (SPEC.md section 6).

    Parameters
    ----------
    inst : Instance
    cost : float or None
        The cost-model cost of the decision; None when there is no decision.
    feasible : bool or None
        Whether the decision fits the capacities; anything but True counts as infeasible.
    reference : Reference
        The instance's reference.

    Returns
    -------
    rho : float
        ``cost / reference.cost``, where an infeasible or missing decision is scored at the
        all-device cost of the instance. When ``reference.cost`` is 0 (nothing in the instance
        costs anything on the reference decision) a cost of 0 scores 1 and any positive cost
        scores ``inf``: no finite ratio is honest there.
    counted_infeasible : bool
        True when the decision was missing or infeasible.

    Raises
    ------
    UserError
        The reference belongs to another instance.
    ReferenceViolation
        A feasible cost below a proven optimum (by more than 1e-6 relative): a bug somewhere.
    """
    from .cost import all_device_cost

    if reference.digest is not None and reference.digest != inst.digest:
        raise UserError(f"reference: it belongs to instance {reference.digest[:12]}, not to "
                        f"{inst.digest[:12]} ({inst.name or 'unnamed'})")
    counted = cost is None or feasible is not True or not math.isfinite(cost)
    c = all_device_cost(inst) if counted else float(cost)
    ref = reference.cost
    if not counted and reference.proven and c < ref * (1 - RTOL) - 1e-300:
        raise ReferenceViolation(
            f"cost {c!r} is below the proven optimum {ref!r} ({reference.provenance}, "
            f"{reference.solver}) of instance {inst.name or inst.digest[:12]}: a solver or the "
            "cost model is wrong")
    if ref > 0:
        return c / ref, counted
    return (1.0 if c <= 0 else math.inf), counted


# ---------------------------------------------------------------------------------- computing
ROLES = ("exact", "incumbent", "check")


def declared(role: str) -> list:
    """offbench's own solvers that declare ``role`` in the reference chain
    (:attr:`offbench.solver.Solver.reference_role`), in ``reference_rank`` order (then name),
    the latest version of each. Only classes of the ``offbench_solvers`` package count: a
    plug-in (a ``--solvers-dir`` file, an entry point) cannot make references, whatever it
    declares. Solvers whose requirements are missing here are left out."""
    from .discovery import discover

    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    latest: dict = {}
    for entry in discover(entry_points=False).values():
        cls = entry.cls
        if cls is None or not cls.__module__.startswith("offbench_solvers."):
            continue
        if getattr(cls, "reference_role", None) != role or cls.missing_requirements():
            continue
        if cls.name not in latest or cls.version > latest[cls.name].version:
            latest[cls.name] = cls
    return sorted(latest.values(), key=lambda c: (c.reference_rank, c.name))


def compute_reference(inst: Instance, *, time_limit: float = 60.0, seed: int = 0) -> Reference:
    """Compute the reference of one instance (see the module docstring for the order).

    Parameters
    ----------
    inst : Instance
    time_limit : float
        Seconds for the whole computation (dp and the heuristics take what they need; exhaustive
        search and the MILP are stopped by it).
    seed : int
        Seeds the heuristics (local search restarts).

    Returns
    -------
    Reference

    Raises
    ------
    UserError
        A bad time limit.
    ReferenceViolation
        A solver contradicted a proven optimum (a bug).
    """
    if (isinstance(time_limit, bool) or not isinstance(time_limit, (int, float))
            or not (time_limit > 0 and math.isfinite(time_limit))):
        raise UserError(f"time_limit must be a number of seconds > 0, got {time_limit!r}")
    t0 = time.perf_counter()
    end = t0 + float(time_limit)
    notes: list[str] = []
    name = inst.name or inst.digest[:12]

    def left() -> float:
        return max(end - time.perf_counter(), 1e-3)

    def done(res, provenance, *, bound=None) -> Reference:
        cost = res.cost
        gap = None
        if provenance in PROVEN:
            bound = cost
            gap = 0.0
        elif bound is not None:
            bound = min(bound, cost)
            gap = 0.0 if cost == 0 else max(0.0, (cost - bound) / cost)
        return Reference(cost=float(cost), bound=None if bound is None else float(bound),
                         provenance=provenance, gap=gap, solver=res.solver,
                         wall_time=time.perf_counter() - t0,
                         decision=tuple(int(v) for v in res.decision), digest=inst.digest,
                         note="; ".join(notes))

    def check_against(res, what: str) -> None:
        """Cheap heuristics must not beat a proven optimum."""
        for cls in declared("check"):
            g = cls().solve(inst, seed=seed)
            if g.cost is not None and g.feasible and g.cost < res.cost * (1 - RTOL):
                raise ReferenceViolation(
                    f"{cls.name} found cost {g.cost!r} below the {what} optimum {res.cost!r} of "
                    f"instance {name}: a solver or the cost model is wrong")

    incumbent = None
    heuristics_run = False
    lower = None               # the best proven lower bound met (None: none)

    def run_heuristics() -> None:
        """The incumbents, for a MILP to be checked against (and the answer when nothing is
        proven)."""
        nonlocal incumbent, heuristics_run
        heuristics_run = True
        budget = left() * HEURISTIC_SHARE
        for cls in declared("incumbent"):
            res = cls().solve(inst, time_limit=max(budget, 1e-3), seed=seed)
            better = incumbent is None or (res.cost is not None and res.cost < incumbent.cost)
            if res.decision is not None and res.feasible and better:
                incumbent = res

    exact = declared("exact")
    for cls in exact:
        prov = cls.name
        gap_prov = f"{prov}-gap"
        if prov not in PROVEN:
            notes.append(f"{prov}: not a provenance of SPEC.md section 6")
            continue
        if not cls.exact_for(inst):
            notes.append(f"{prov}: not asked ({inst.n_layers} layers)")
            continue
        if gap_prov in PROVENANCES and not heuristics_run:
            run_heuristics()
        res = cls().solve(inst, time_limit=left(), seed=seed)
        if res.status == "optimal":
            if incumbent is not None and incumbent.cost < res.cost * (1 - RTOL):
                raise ReferenceViolation(
                    f"{incumbent.solver} found cost {incumbent.cost!r} below {prov}'s proven "
                    f"optimum {res.cost!r} on instance {name}: the {prov} model or the cost "
                    "model is wrong")
            check_against(res, prov)
            return done(res, prov)
        notes.append(f"{prov}: {res.error or res.status}")
        if res.decision is not None and res.feasible and res.cost is not None and (
                incumbent is None or res.cost <= incumbent.cost):
            incumbent = res
        # A solver that does not handle DAG jobs has no bound for them either (dp's relaxation
        # reads chain tables).
        own = (cls.lower_bound(inst, time.perf_counter() + left())
               if getattr(cls, "handles_dag", False) or not inst.is_dag else None)
        bounds = [b for b in (res.bound, own) if b is not None and math.isfinite(b)]
        if bounds:
            lower = max(bounds) if lower is None else max(lower, *bounds)
        if gap_prov in PROVENANCES and res.bound is not None:
            if incumbent.cost < lower * (1 - RTOL) - 1e-300:
                raise ReferenceViolation(
                    f"{incumbent.solver} found cost {incumbent.cost!r} below the proven lower "
                    f"bound {lower!r} on instance {name}")
            return done(incumbent, gap_prov, bound=lower)
    if not any(f"{c.name}-gap" in PROVENANCES for c in exact):
        notes.append("milp: not available")
    if not heuristics_run:
        run_heuristics()
    if incumbent is None:   # nothing found anything: all-device is always feasible
        from .discovery import resolve

        incumbent = resolve("all-device")().solve(inst)
    if lower is not None and incumbent.cost < lower * (1 - RTOL) - 1e-300:
        raise ReferenceViolation(
            f"{incumbent.solver} found cost {incumbent.cost!r} below the proven lower bound "
            f"{lower!r} on instance {name}: a solver is wrong")
    return done(incumbent, "heuristic", bound=lower)
