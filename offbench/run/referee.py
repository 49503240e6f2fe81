"""The referee: how the trusted process judges every solve job's outcome (SPEC.md section 6).

Solvers are untrusted code. A solve job runs in a sandbox (:mod:`offbench.run.sandbox`: a
fresh interpreter per solver ID and parameters, never reused across solvers) that is given a copy
of the instance and **no reference**; it sends back its outcome as JSON. The process that writes
the store (the runner) then calls :func:`judge`, which keeps only the solver's *claims* (its
decision, status, bound, objective, error text, info) and decides every number that counts:

- **cost and feasibility**: the decision re-priced with the runner's own cost model (the
  instance the runner holds, never the sandbox's copy);
- **ratio, counted infeasible**: scored against the reference here (:mod:`offbench.tracks.scoring`);
- **wall time**: measured by the process that ran the sandbox, from the solve's start to its
  outcome (:attr:`~offbench.tracks.Outcome.supervised_time`): the kernel stamps each message of
  the sandbox as it is *sent* (:func:`offbench.run.sandbox.results_channel`), so the time is
  the sandbox's, from its ``started`` message to its outcome, and not when this process got
  round to reading them. Until this was so, a reader thread stamped arrivals: on a loaded
  machine, with the runner judging the job before, it waited for the GIL or a core, and the
  wall times of sub-millisecond solves came out anywhere between 3 microseconds (both
  messages read at once) and several milliseconds. The instance's cost tables are built before
  the timed work (:func:`offbench.run.execute.execute`), as every executor's first job and every
  in-process job already had them; the timed region holds the solve, the framework's pricing
  of its decision (:meth:`offbench.solver.Solver.solve`) and the outcome's encoding.
  On the learning tracks the per-frame decision latencies are the sandbox's measurements (the
  runner sees only the whole stream, whose measured time is ``info.supervised_time``);
- **evaluations** are **self-reported** (counted by :class:`~offbench.solver.Context` in the
  sandbox): they are shown, never scored.
- **incumbent trajectories** (``info["trajectory"]`` of an anytime solver such as milp or local
  search: times, claimed costs and decisions, :mod:`offbench_solvers._trajectory`): every
  recorded decision is priced here (:func:`judge_trajectory`); the stored trajectory holds the
  referee's costs, feasibility and ratios, never the solver's claims, and no decisions. Claims
  that do not hold (a cost that differs from the pricing, a decision that is not one, times
  that go backwards) flag the row. Its times are the sandbox's (self-reported, like
  evaluations), clipped to the supervised wall time.

Every claim is judged against what the runner knows; what does not hold is a **flag** (the
row's ``flags`` column, a JSON list of the names in :data:`FLAGS`; the status vocabulary stays
closed). A flagged row is *not solved*: it is scored at the all-device fallback and counted
against the solved rate, and it never wins.

The runner process itself imports solver modules while it plans (to validate parameters): a
module that changes offbench's cost model or scoring when imported is caught by
:func:`check_intact` (the functions of :mod:`offbench.cost`, :mod:`offbench.reference` and
:mod:`offbench.tracks.scoring` are compared with those seen when offbench was loaded) and the
run is refused. In-process runs (``-j 0``) share one interpreter with the solvers: there the
referee restores a changed cost model after the job that changed it (that job is flagged
``tampered``), gives each solver a copy of the instance, and when the run loads any solver that
is not offbench's own (the ``offbench_solvers`` package) marks every row ``refereed = 0``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import cost as _cost
from .. import reference as _reference
from ..tracks import scoring as _scoring
from ..tracks.outcome import Outcome

#: Every flag the referee sets, with what it means.
FLAGS = {
    "cost_mismatch": "the cost the sandbox reported differs from the referee's pricing of the "
                     "same decision (the sandbox's cost model or instance was changed)",
    "invalid_decision": "the decision is not one tier (0, 1, 2) per layer of the instance",
    "false_optimal": "claimed optimal, but infeasible or costlier than the proven optimum",
    "bound_above_optimum": "claimed a lower bound above the proven optimum",
    "bound_above_cost": "claimed a lower bound above the cost of its own decision",
    "non_finite_bound": "claimed a bound that is NaN or infinite",
    "non_finite_objective": "claimed an objective that is NaN or infinite",
    "below_proven_optimum": "a feasible cost below a proven optimum (ReferenceViolation)",
    "bad_status": "a status outside the closed vocabulary",
    "malformed_frames": "frame rows that do not match the stream (indices or instances)",
    "trajectory_mismatch": "an incumbent trajectory point claims a cost that differs from the "
                           "referee's pricing of its decision",
    "malformed_trajectory": "an incumbent trajectory that is not lists of times, costs and "
                            "decisions of one length, at most MAX_TRAJECTORY points, times "
                            "non-decreasing",
    "tampered": "the cost model of the runner's process was changed while this job ran "
                "(in-process); it was restored",
}

#: Relative tolerance of the referee's comparisons (that of SPEC.md's proven optima).
RTOL = 1e-6

_STATUSES = ("optimal", "feasible", "timeout", "error")
#: Most points of an incumbent trajectory the referee accepts (solvers keep 64).
MAX_TRAJECTORY = 256
_WATCHED = (_cost, _reference, _scoring)


def _snapshot() -> dict:
    return {m.__name__: {k: v for k, v in vars(m).items() if callable(v) and not k.startswith("__")}
            for m in _WATCHED}


#: The functions of the watched modules when the referee was loaded (with offbench's modules,
#: before any solver module).
_PRISTINE = _snapshot()


#: The same, flat: (the module's namespace, name, function, ``module.name``), looked up once
#: (the in-process runner checks them after every job).
_PRISTINE_FLAT = tuple((vars(m), k, v, f"{m.__name__}.{k}")
                       for m in _WATCHED for k, v in _PRISTINE[m.__name__].items())


def changed_functions() -> list[str]:
    """Names (``module.function``) of the watched functions that differ from the pristine ones."""
    return [label for now, k, v, label in _PRISTINE_FLAT if now.get(k) is not v]


def restore() -> list[str]:
    """Put back every watched function that was changed; returns what was changed."""
    changed = changed_functions()
    if changed:
        for m in _WATCHED:
            for k, v in _PRISTINE[m.__name__].items():
                if vars(m).get(k) is not v:
                    setattr(m, k, v)
    return changed


def check_intact() -> None:
    """Refuse to referee when offbench's cost model or scoring was changed in this process
    (by a solver module imported while planning).

    Raises
    ------
    offbench.errors.UserError
        Naming the changed functions.
    """
    from ..errors import UserError

    changed = changed_functions()
    if changed:
        restore()
        raise UserError("the referee's cost model was changed in the runner process by a solver "
                        f"module imported while planning ({', '.join(changed[:5])}); refusing "
                        "to run: a solver's module must not modify offbench")


def _close(a: float, b: float) -> bool:
    if a == b:
        return True
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= RTOL * max(1.0, abs(a), abs(b))


#: Where :func:`price` keeps the prices it computed on an instance (the runner's own instance:
#: a solver's copy never has it, pickling keeps the fields and the digest only).
_PRICES = "_offbench_referee_prices"
#: Decisions priced per instance that :func:`price` remembers (a block's jobs of one member:
#: the all-device decision of the instance's record, and the solvers' answers).
_PRICES_KEPT = 8


def price(inst, x: np.ndarray) -> tuple[float, bool]:
    """``(cost, feasible)`` of decision ``x`` (int8 tiers) by the cost model
    (:func:`offbench.cost.evaluate`), priced once per instance and decision: the all-device
    cost of the instance's record and the judgement of a solver that answered all-device
    share one evaluation, as do the seeds of a solver that answer alike."""
    memo = inst.__dict__.get(_PRICES)
    if memo is None:
        memo = inst.__dict__[_PRICES] = {}
    key = x.tobytes()
    got = memo.get(key)
    if got is None:
        got = _cost.cost_feasible(inst, x)
        if len(memo) >= _PRICES_KEPT:
            memo.pop(next(iter(memo)))
        memo[key] = got
    return got


def all_device_cost(inst) -> float:
    """The all-device cost of an instance (SPEC.md section 2: every layer on its device), as
    :func:`offbench.cost.all_device_cost` gives it, through :func:`price`."""
    return price(inst, np.zeros(inst.n_layers, dtype=np.int8))[0]


def _decode(inst, text) -> np.ndarray | None:
    if not isinstance(text, str) or len(text) != inst.n_layers or set(text) - set("012"):
        return None
    return np.frombuffer(text.encode(), dtype=np.uint8).astype(np.int8) - ord("0")


def _claim_number(info: dict, key: str):
    """A non-finite claim the sandbox recorded in ``info.non_finite_claims``
    (:meth:`offbench.solver.Solver.solve`), as text (``"nan"``), or None."""
    claims = info.get("non_finite_claims") if isinstance(info, dict) else None
    return claims.get(key) if isinstance(claims, dict) else None


def _non_finite(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("nan", "inf", "-inf", "infinity", "-infinity")
    return isinstance(v, float) and not math.isfinite(v)


def _judge_decision(inst, ref: dict | None, out, flags: list, score: bool) -> None:
    """Re-price, check claims and score one decision (``out``: an Outcome, or an Outcome made
    from a frame row). Appends flag names to ``flags``."""
    status = out.status
    if status not in _STATUSES:
        flags.append("bad_status")
        out.status = status = "error"
    info = out.info if isinstance(out.info, dict) else {}
    reported = out.cost
    x = None
    if out.decision is not None:
        x = _decode(inst, out.decision)
        if x is None:
            flags.append("invalid_decision")
            out.decision = None
    if x is not None:
        out.cost, out.feasible = price(inst, x)
        if reported is None or not _close(float(reported), out.cost):
            flags.append("cost_mismatch")
            info["reported_cost"] = reported
    else:
        out.cost = out.feasible = None
    for key, name in (("objective", "non_finite_objective"), ("bound", "non_finite_bound")):
        if _non_finite(_claim_number(info, key)):
            flags.append(name)
    if out.bound is not None and not math.isfinite(out.bound):
        flags.append("non_finite_bound")
        out.bound = None
    tol = lambda c: RTOL * max(1.0, abs(c))  # noqa: E731
    if out.bound is not None and out.cost is not None and out.bound > out.cost + tol(out.cost):
        flags.append("bound_above_cost")
    if status == "optimal" and x is not None and not out.feasible:
        flags.append("false_optimal")
    proven = ref is not None and ref.get("provenance") in _reference.PROVEN
    if proven:
        rc = float(ref["cost"])
        if status == "optimal" and out.cost is not None and out.feasible and out.cost > rc + tol(rc):
            flags.append("false_optimal")
        if out.bound is not None and out.bound > rc + tol(rc):
            flags.append("bound_above_optimum")
    out.gap = (None if out.bound is None or out.cost is None else
               0.0 if out.cost == 0 else max(0.0, (out.cost - out.bound) / abs(out.cost)))
    if not score or ref is None:
        out.ref_cost = None if ref is None else float(ref["cost"])
        out.ratio = None
        out.counted_infeasible = bool(flags) or not (x is not None and out.feasible)
        return
    if flags:  # not solved: scored at the all-device fallback (SPEC.md section 6)
        out.ref_cost = float(ref["cost"])
        out.ratio, _ = _scoring.score(inst, ref, None, None)
        out.counted_infeasible = True
        return
    _scoring.score_outcome(inst, ref, out)
    if (out.info or {}).get("reference_violation"):
        flags.append("below_proven_optimum")


def judge(job, out: Outcome, *, refereed: bool = True) -> Outcome:
    """Judge one solve job's outcome in the trusted process (see the module docstring).

    ``job`` is the runner's own job (its instance, frames and references); ``out`` what the
    sandbox sent. Fills cost, feasibility, gap, ratio, counted infeasible, wall time, ``flags``
    and ``refereed`` in place and returns ``out``.
    """
    out.refereed = refereed
    flags: list[str] = []
    if not isinstance(out.info, dict):
        out.info = {}
    if out.supervised_time is not None:
        if job.frames is None:
            out.info["self_reported_wall_time"] = out.wall_time
            out.wall_time = float(out.supervised_time)
        else:
            out.info["supervised_time"] = float(out.supervised_time)
    if out.missing:  # no decision: nothing the sandbox said counts (scored at the fallback)
        out.flags = []
        out.cost = out.feasible = out.bound = out.gap = out.ratio = out.ref_cost = None
        out.counted_infeasible = None
        return out
    if job.frames is None:
        # first, so that a flag of the trajectory scores the row at the fallback
        judge_trajectory(job.instance, job.reference, out, flags)
        _judge_decision(job.instance, job.reference, out, flags, job.score)
        out.mark_overrun(job.time_limit)
    else:
        _judge_stream(job, out, flags)
    out.flags = sorted(set(flags))
    return out


def judge_trajectory(inst, ref: dict | None, out: Outcome, flags: list) -> None:
    """Price every point of the incumbent trajectory in ``out.info["trajectory"]`` (see the
    module docstring) and replace it by the priced one: ``{"t", "cost", "feasible", "ratio",
    "claimed_cost"?}`` (``ratio``: cost over the reference's, None without a reference, for an
    infeasible point, or for a positive cost against a reference cost of 0 (unsolved): scored
    by :func:`offbench.tracks.scoring.score` like the row itself; ``claimed_cost`` kept only
    where a claim failed). Appends ``trajectory_mismatch``,
    ``malformed_trajectory`` or ``below_proven_optimum`` to ``flags``."""
    info = out.info
    tr = info.get("trajectory")
    if tr is None:
        return
    ok = (isinstance(tr, dict) and all(isinstance(tr.get(k), list) for k in ("t", "cost", "decision"))
          and len(tr["t"]) == len(tr["cost"]) == len(tr["decision"]) <= MAX_TRAJECTORY)
    times = []
    if ok:
        for v in tr["t"]:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0 or (times and v < times[-1]):
                ok = False
                break
            times.append(float(v))
    if not ok:
        flags.append("malformed_trajectory")
        info["trajectory"] = None
        return
    limit = out.wall_time if out.wall_time and out.wall_time > 0 else math.inf
    costs, feasible, ratios = [], [], []
    mismatch = False
    for t, claimed, text in zip(times, tr["cost"], tr["decision"]):
        x = _decode(inst, text)
        if x is None:
            flags.append("malformed_trajectory")
            info["trajectory"] = None
            return
        c, f = price(inst, x)
        if isinstance(claimed, bool) or not isinstance(claimed, (int, float)) \
                or not _close(float(claimed), c):
            mismatch = True
        costs.append(c)
        feasible.append(f)
        rho = None
        if f and ref is not None:
            try:
                rho, _ = _scoring.score(inst, ref, c, True)
            except _reference.ReferenceViolation:
                flags.append("below_proven_optimum")
            if rho is not None and not math.isfinite(rho):
                rho = None  # a positive cost against a reference cost of 0: no ratio (JSON)
        ratios.append(rho)
    priced = {"t": [min(t, limit) for t in times], "cost": costs, "feasible": feasible,
              "ratio": ratios}
    if mismatch:
        flags.append("trajectory_mismatch")
        priced["claimed_cost"] = list(tr["cost"])
    info["trajectory"] = priced


def _judge_stream(job, out: Outcome, flags: list) -> None:
    """Re-price and re-score every frame of a stream job, then rebuild its summary."""
    from .. import tracks
    from ..metrics import frames_until_stays_below

    frames = job.frames
    rows = out.frames
    if len(rows) > len(frames) or any(
            r.get("frame") != k or r.get("instance_digest") != frames[k].digest
            for k, r in enumerate(rows)):
        flags.append("malformed_frames")
        rows = []
    bad_frames = []
    for k, r in enumerate(rows):
        fo = Outcome(status=r.get("status") or "error", cost=r.get("cost"),
                     feasible=r.get("feasible"), decision=r.get("decision"), error=r.get("error"),
                     wall_time=r.get("wall_time") or 0.0, evaluations=r.get("evaluations") or 0)
        ff: list[str] = []
        ref = job.frame_refs[k] if job.frame_refs is not None else None
        _judge_decision(frames[k], ref, fo, ff, job.score)
        fo.mark_overrun(job.time_limit)
        if ff:
            bad_frames.append(k)
            flags.extend(ff)
        for f in ("status", "cost", "feasible", "ref_cost", "ratio", "counted_infeasible",
                  "decision", "error"):
            r[f] = getattr(fo, f)
    info = out.info
    track = tracks.get(job.track)
    aborted = out.error if out.status == "error" else None
    summary = track._summary(rows, len(frames), job.track_config, bool(info.get("learning")),
                             float(info.get("learn_time") or 0.0),
                             int(info.get("learn_evaluations") or 0), aborted,
                             frames_until_stays_below, track.unreached(job, len(rows)))
    for k in ("provenance", "supervised_time", "meta_evaluations", "meta"):  # meta: adaptation's phase
        if k in info:
            summary.info[k] = info[k]
    if bad_frames:
        summary.info["flagged_frames"] = bad_frames
    out.status, out.cost, out.ratio = summary.status, summary.cost, summary.ratio
    out.wall_time, out.evaluations, out.error = summary.wall_time, summary.evaluations, summary.error
    out.info, out.frames = summary.info, rows
    out.feasible = out.bound = out.gap = out.decision = out.ref_cost = None
    out.counted_infeasible = None
