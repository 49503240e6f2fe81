"""The track protocols of SPEC.md section 6: how a job turns into result rows.

Each protocol is a pure function of the job (instance or frame stream, solver class and
parameters, seed, track settings) and returns an *outcome*: a dict of plain values that
:mod:`offbench.runner` appends to the store as one ``results`` row plus, for the learning tracks,
one ``frames`` row per frame.

``static``
    One instance, one :meth:`~offbench.solver.Solver.solve`, one row: the cost-model cost of the
    decision, its cost ratio against the instance's reference (an infeasible or missing decision
    is scored at the all-device cost and counted infeasible), the bound, wall time and
    evaluations.
``online``
    A stream of frames of one structure. A learning solver (:class:`~offbench.solver.LearningSolver`)
    starts untrained (``start`` with the first frame), then for each frame ``decide`` (timed:
    the decision latency, evaluations charged) and ``learn`` from the frame and its decision (not
    timed). Every frame is scored against its own reference. The row reports the mean cost
    ratio over the final window and, in ``info``, the frames until the moving mean stays under
    1.01.
``generalization``
    The same loop on one seed's stream, learning only on the first ``train_frames`` frames (the
    training budget); the frames after them are held out (never seen in training) and decided
    without learning. The row reports the mean ratio over the held-out frames.
``adaptation``
    A stream that starts in one environment (pretraining: decide and learn) and switches to
    another at ``switch_at`` (the family's drift scenario; same structure). Learning goes on;
    the row reports the mean ratio over the first ``window`` frames after the switch and the
    frames after it until the moving mean stays under 1.02. Meta-training over several
    environments is a solver's own business inside ``start``/``learn`` on the pretraining frames.

A static solver on a learning track is a per-frame baseline: ``solve`` on each frame, nothing
learned. Per-frame rows go to the store's ``frames`` table; which frames a row is scored on is
:func:`scored_frames`.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .errors import UserError

#: Convergence thresholds of the online and adaptation tracks (SPEC.md section 6).
ONLINE_THRESHOLD = 1.01
ADAPTATION_THRESHOLD = 1.02


def run_job(job, solver_cls, started=None) -> dict:
    """Run one solve job on its track; returns the outcome dict.

    ``started()``, when given, is called right before the timed work begins (the runner's hard
    limit counts from there).
    """
    if job.track == "static":
        return static(job, solver_cls, started)
    if job.track in ("online", "generalization", "adaptation"):
        return _stream(job, solver_cls, started)
    raise UserError(f"unknown track {job.track!r}")


# ---------------------------------------------------------------------------------- scoring
def _reference_object(ref: dict):
    from .reference import Reference

    d = dict(ref)
    dec = d.get("decision")
    if isinstance(dec, str):
        d["decision"] = [int(c) for c in dec]
    return Reference.from_dict(d)


def score(inst, ref: dict, cost: float | None, feasible: bool | None) -> tuple[float, bool]:
    """``(rho, counted_infeasible)`` of one decision against a reference dict, by
    :func:`offbench.reference.score` (SPEC.md section 6)."""
    from .reference import score as _score

    rho, counted = _score(inst, cost, bool(feasible) if feasible is not None else False,
                          _reference_object(ref))
    return float(rho), bool(counted)


def score_outcome(inst, ref: dict, out: dict) -> None:
    """Fill ``ref_cost``, ``ratio`` and ``counted_infeasible`` of an outcome in place.

    A feasible cost below a proven optimum (:class:`offbench.reference.ReferenceViolation`) is
    a bug in a solver or the cost model, never a result: the row gets status ``error`` with the
    violation as its error text (decision and cost kept), ``info.reference_violation`` is set,
    and ``offbench run`` reports it and exits 1.
    """
    from .reference import ReferenceViolation

    out["ref_cost"] = float(ref["cost"])
    try:
        rho, counted = score(inst, ref, out.get("cost") if out.get("decision") is not None else None,
                             out.get("feasible"))
    except ReferenceViolation as e:
        out["status"] = "error"
        out["error"] = f"ReferenceViolation: {e}"
        out["ratio"] = None
        out["counted_infeasible"] = None
        out.setdefault("info", {})["reference_violation"] = True
        return
    out["ratio"] = rho
    out["counted_infeasible"] = counted


def _unscored_infeasible(out: dict) -> bool:
    return not (out.get("decision") is not None and out.get("feasible"))


# ---------------------------------------------------------------------------------- outcomes
def decision_text(decision) -> str | None:
    """A decision as one digit per layer (``"0120"``), the store's form."""
    if decision is None:
        return None
    return "".join("012"[int(v)] for v in decision)


def outcome_from_result(res) -> dict:
    """The outcome fields of one :class:`~offbench.solver.Result`."""
    from .solver import _jsonable

    return {
        "kind": "solve",
        "status": res.status,
        "cost": res.cost,
        "feasible": res.feasible,
        "bound": res.bound,
        "gap": res.gap,
        "wall_time": float(res.wall_time),
        "evaluations": int(res.evaluations),
        "decision": decision_text(res.decision),
        "error": res.error,
        "info": _jsonable(res.info),
        "frames": [],
        "ref_cost": None,
        "ratio": None,
        "counted_infeasible": None,
    }


def overrun(time_limit: float | None, wall_time: float) -> bool:
    """Whether a solver returned so long after its time limit that its row must say ``timeout``."""
    from .runner import OVERRUN_FACTOR, OVERRUN_SLACK

    return time_limit is not None and wall_time > OVERRUN_FACTOR * time_limit + OVERRUN_SLACK


def _mark_overrun(out: dict, time_limit: float | None) -> None:
    if out["status"] in ("optimal", "feasible") and overrun(time_limit, out["wall_time"]):
        from .runner import OVERRUN_FACTOR, OVERRUN_SLACK

        out["status"] = "timeout"
        out["error"] = (f"returned later than {OVERRUN_FACTOR:g} x its time limit of {time_limit:g} s "
                        f"+ {OVERRUN_SLACK:g} s (a solver must stop by its limit); decision kept")
        out.setdefault("info", {})["overrun_wall_time"] = out["wall_time"]


# ---------------------------------------------------------------------------------- warm-up
#: Seconds a warm-up solve may take (at most the job's own time limit): enough to import and
#: compile, without paying a whole time-limited solve once more in every process.
WARM_UP_TIME_LIMIT = 1.0


def warm_up(job, solver_cls) -> None:
    """Solve the job's first instance once with a fresh solver and discard the answer.

    The runner does this for the first job of each solver (ID and parameters) in each process,
    so that imports and JIT compilation are not measured as decision latency or charged to the
    time limit. The warm-up has :data:`WARM_UP_TIME_LIMIT` seconds at most: a solver that runs
    to its limit (a MILP on a hard instance) would otherwise spend it twice. Solvers are pure
    functions of (instance, parameters, seed), so the timed solve that follows gives the answer
    it would have given cold.
    """
    from .solver import Context, LearningSolver

    solver = solver_cls(**job.params)
    inst = job.instance if job.instance is not None else job.frames[0]
    limit = min(WARM_UP_TIME_LIMIT, job.time_limit or math.inf)
    try:
        if isinstance(solver, LearningSolver) and job.track != "static":
            solver.start(inst, int(job.seed))
            solver.decide(inst, Context(inst, limit, int(job.seed)))
        else:
            solver.solve(inst, time_limit=limit, seed=job.seed)
    except Exception:  # the timed run reports whatever goes wrong
        pass


# ---------------------------------------------------------------------------------- static
def static(job, solver_cls, started=None) -> dict:
    """The static track: one instance, one solve, one row."""
    solver = solver_cls(**job.params)
    if started is not None:
        started()
    res = solver.solve(job.instance, time_limit=job.time_limit, seed=job.seed)
    out = outcome_from_result(res)
    _mark_overrun(out, job.time_limit)
    if job.score and job.reference is not None:
        score_outcome(job.instance, job.reference, out)
    elif not job.score:
        out["counted_infeasible"] = _unscored_infeasible(out)
    return out


# ---------------------------------------------------------------------------------- online
def frame_seed(seed: int, frame: int) -> int:
    """The seed of one frame of a stream job: a pure function of (job seed, frame index)."""
    return int(np.random.SeedSequence([int(seed), int(frame)]).generate_state(1)[0])


def scored_frames(track: str, track_config: dict, n: int) -> range:
    """The frames a learning-track row is scored on: all of them (online), the held-out ones
    after ``train_frames`` (generalization), or those from ``switch_at`` on (adaptation)."""
    if track == "generalization":
        return range(min(int(track_config["train_frames"]), n), n)
    if track == "adaptation":
        return range(min(int(track_config["switch_at"]), n), n)
    return range(n)


def summary_window(track: str, track_config: dict, part: list) -> tuple[list, int]:
    """The scored frames a learning-track row's ratio averages (the final window online, the
    first window after the switch on adaptation, all held-out ones on generalization), and the
    window length."""
    window = max(1, min(int(track_config.get("window", 50)), max(len(part), 1)))
    if track == "online":
        return part[-window:], window
    if track == "adaptation":
        return part[:window], window
    return part, window


def score_missing(job, out: dict) -> None:
    """Score the outcome of a job that gave no decision at all (killed, or its worker died):
    SPEC.md section 6 scores a missing decision at the all-device cost and counts it
    infeasible. A stream job's ratio is then that of its summary frames (no frame rows are
    made up: the store holds only what a solver did)."""
    if job.track == "static":
        out["counted_infeasible"] = True
        if job.score and job.reference is not None:
            score_outcome(job.instance, job.reference, out)
        return
    if not (job.score and job.frame_refs is not None):
        return
    part = list(scored_frames(job.track, job.track_config, len(job.frames)))
    summary, _ = summary_window(job.track, job.track_config, part)
    out["ratio"] = (float(np.mean([score(job.frames[k], job.frame_refs[k], None, None)[0]
                                   for k in summary])) if summary else None)
    out["counted_infeasible"] = True


def _stream(job, solver_cls, started=None) -> dict:
    """The loop the learning tracks share (see the module docstring)."""
    from .metrics import frames_until_stays_below
    from .solver import Context, LearningSolver

    frames = job.frames
    refs = job.frame_refs
    cfg = job.track_config
    solver = solver_cls(**job.params)
    learning = isinstance(solver, LearningSolver)
    learn_until = int(cfg["train_frames"]) if job.track == "generalization" else len(frames)
    rows: list[dict] = []
    learn_time = 0.0
    learn_evals = 0
    aborted = None
    if started is not None:
        started()
    if learning:
        try:
            solver.start(frames[0], int(job.seed))
        except Exception as e:
            aborted = f"start failed: {type(e).__name__}: {e}"
    for k, frame in enumerate(frames if aborted is None else ()):
        fs = frame_seed(job.seed, k)
        if learning:
            # A failed decision is that frame's error row; the stream goes on.
            res = solver.step(frame, time_limit=job.time_limit, seed=fs)
        else:
            res = solver.solve(frame, time_limit=job.time_limit, seed=fs)
        fo = outcome_from_result(res)
        _mark_overrun(fo, job.time_limit)
        if job.score and refs is not None:
            score_outcome(frame, refs[k], fo)
        else:
            fo["counted_infeasible"] = _unscored_infeasible(fo)
        rows.append({"frame": k, "instance_digest": frame.digest, **{
            c: fo[c] for c in ("status", "cost", "feasible", "ref_cost", "ratio",
                               "counted_infeasible", "wall_time", "evaluations", "decision", "error")}})
        if learning and res.decision is not None and k < learn_until:
            lctx = Context(frame, None, fs)
            t0 = time.perf_counter()
            try:
                solver.learn(frame, res.decision, lctx)
            except Exception as e:
                aborted = f"learn failed at frame {k}: {type(e).__name__}: {e}"
                break
            learn_time += time.perf_counter() - t0
            learn_evals += lctx.evaluations
    n = len(rows)
    part = [rows[k] for k in scored_frames(job.track, cfg, n)]
    ratios = [r["ratio"] for r in part]
    scored = bool(part) and all(r is not None for r in ratios)
    summary_rows, window = summary_window(job.track, cfg, part)
    threshold = {"online": ONLINE_THRESHOLD, "adaptation": ADAPTATION_THRESHOLD}.get(job.track)
    mean = (float(np.mean([r["ratio"] for r in summary_rows])) if scored and summary_rows else None)
    info = {
        "frames": n,
        "scored_frames": len(part),
        "window": window if job.track != "generalization" else None,
        "mean_ratio": mean,
        "frames_to_threshold": (frames_until_stays_below(ratios, window, threshold)
                                if scored and threshold is not None else None),
        "threshold": threshold,
        "infeasible_frames": sum(1 for r in part if r["counted_infeasible"]),
        "error_frames": sum(1 for r in part if r["status"] == "error"),
        "timeout_frames": sum(1 for r in part if r["status"] == "timeout"),
        "learning": learning,
        "learn_time": learn_time,
        "learn_evaluations": learn_evals,
    }
    if aborted is None and n < len(frames):
        aborted = "the stream stopped early"
    costs = [r["cost"] for r in summary_rows]
    return {
        "kind": "solve",
        "status": "error" if aborted else "feasible",
        "cost": (float(np.mean(costs)) if costs and all(c is not None for c in costs) else None),
        "feasible": None,
        "bound": None,
        "gap": None,
        "wall_time": float(sum(r["wall_time"] for r in part)),
        "evaluations": int(sum(r["evaluations"] for r in part)),
        "decision": None,
        "error": aborted,
        "info": info,
        "frames": rows,
        "ref_cost": None,
        "ratio": mean,
        "counted_infeasible": None,
    }
