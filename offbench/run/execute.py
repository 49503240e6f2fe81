"""Executing one job where it runs (this process, a pool worker, a Dask worker's sandbox).

:func:`execute` runs a solve job on its track (:func:`offbench.tracks.run_job`) or a reference
job (:func:`offbench.reference.compute_reference`) and returns its outcome: an
:class:`~offbench.tracks.Outcome` or a :class:`ReferenceOutcome`; it never raises for a solver's
failure or a runner error, which become ``status: error`` with the text. The first job of each
solver (ID and parameters) in each process is solved once untimed first
(:func:`offbench.tracks.warm_up`), unless a job of that solver was stopped at its hard limit
before its timed work began (:func:`note_stopped_before_start`: no warm-up, no import allowance
after that). :func:`execute_with_alarm` adds the in-process hard limit (``SIGALRM``, best
effort: it cannot stop a long call inside compiled code); :func:`call_with_alarm` the same for
any call (``offbench solve``).

:func:`sandbox_job` is what a sandbox is given: the job without its references (a solver never
sees the reference it is scored against; the referee, :mod:`offbench.run.referee`, scores in the
runner). :func:`outcome_to_wire` / :func:`outcome_from_wire` carry an outcome from a sandbox to
the runner as JSON, never as a pickle.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import platform
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as _np

from .. import tracks
from ..errors import UserError
from ..tracks import Outcome
from ..tracks.outcome import WireError
from .plan import Job


#: Seconds allowed beyond ``kill_after`` before a job's timed work starts: imports, the first
#: compilation of a solver's kernels and its untimed warm-up solve. The sandbox's supervisor and
#: the in-process alarm use the same allowance (:func:`import_allowance`, read when a job is
#: supervised), except for a solver remembered by :func:`note_stopped_before_start`.
IMPORT_ALLOWANCE = 300.0

#: Solvers (ID, parameters, solver folders) a job of which was stopped at its hard limit before
#: its timed work began, in this process (the trusted one that supervises them: the runner, a
#: pool builder, a Dask worker): their later jobs get no warm-up and no import allowance.
_STOPPED_EARLY: set[tuple] = set()

#: The attribute a sandbox's copy of a job carries (true) when its solver is one of those: the
#: sandbox, a fresh interpreter, does not know it otherwise.
SKIP_WARM_UP = "skip_warm_up"


def _solver_of(job: Job) -> tuple:
    return (job.solver_id, job.param_hash, tuple(job.solver_dirs))


def note_stopped_before_start(job: Job) -> None:
    """Remember that a job of this solver was stopped at its hard limit before its timed work
    began (in its imports, its compilation or its untimed warm-up solve: the import allowance
    spent). Its later jobs in this process's sandboxes or in-process skip the warm-up and get no
    import allowance (:func:`import_allowance`): a solver that hangs in its warm-up then costs
    each job its hard limit, not ``kill_after + IMPORT_ALLOWANCE`` (312 s at ``--time-limit
    1``), as it did when every fresh sandbox after a kill warmed up again. A solver that only
    compiled for longer than the allowance is then timed cold. Reference jobs (offbench's own
    code) always keep the allowance."""
    if job.kind != "reference":
        _STOPPED_EARLY.add(_solver_of(job))


def import_allowance(job: Job) -> float:
    """Seconds this job may take beyond ``kill_after`` before its timed work starts:
    :data:`IMPORT_ALLOWANCE`, or 0 for a solver :func:`note_stopped_before_start` remembers."""
    if job.kind != "reference" and _solver_of(job) in _STOPPED_EARLY:
        return 0.0
    return IMPORT_ALLOWANCE


def skips_warm_up(job: Job) -> bool:
    """Whether this job's solver gets no untimed warm-up (see :func:`note_stopped_before_start`):
    told so by the runner (a sandbox's job), or remembered here (in-process)."""
    return job.kind != "reference" and (bool(getattr(job, SKIP_WARM_UP, False))
                                        or _solver_of(job) in _STOPPED_EARLY)


@dataclass
class ReferenceOutcome:
    """What a reference job gave: the reference (its dict form) or why there is none."""

    reference: dict | None = None
    error: str | None = None
    worker: str | None = None
    traceback: str | None = None


def sandbox_job(job: Job, *, copy: bool = False) -> Job:
    """The job a sandbox is given: without its references; with ``copy``, also with its own
    copy of the instance or frames (in-process, so that a solver that changes its instance
    changes only its copy: :func:`_twin`)."""
    sj = object.__new__(Job)  # a shallow copy (dataclasses.replace re-runs __init__: slower)
    sj.__dict__.update(job.__dict__)
    sj.reference = sj.frame_refs = None
    if copy:
        if job.instance is not None:
            sj.instance = _twin(job.instance)
        if job.frames is not None:
            sj.frames = pickle.loads(pickle.dumps(job.frames, protocol=pickle.HIGHEST_PROTOCOL))
    return sj


def _seal_plan(arrays) -> tuple:
    """For each entry of ``arrays``: 0 (not an array: shared), 1 (a view: no view of it can
    ever be made writeable, as it is read-only and its memory a read-only ndarray's own: numpy
    refuses WRITEABLE on a view of a read-only owner), 2 (a copy, its writeable flag as the
    original's), 3 (an empty array: a view, so that a solver that reshapes or resizes its own
    changes nothing of the runner's). Arrays that share a buffer (a generated member's, the
    cost tables') have it checked once."""
    import numpy as np

    out = []
    owners: dict = {}  # id(base) -> whether it is a read-only ndarray that owns its memory
    for a in arrays:
        if type(a) is not np.ndarray:
            out.append(2 if isinstance(a, np.ndarray) and a.size else 0)
        elif not a.size:
            out.append(3)
        else:
            b = a.base
            if b is None:
                out.append(2 if a.flags.writeable else 1)
                continue
            ok = owners.get(id(b))
            if ok is None:
                ok = owners[id(b)] = (type(b) is np.ndarray and b.base is None
                                      and not b.flags.writeable)
            # (a view made before its owner was sealed may still be writeable itself)
            out.append(1 if ok and not a.flags.writeable else 2)
    return tuple(out)


def _sealed_copy(a, how: int):
    if how == 1 or how == 3:
        # The plan is the instance's, made once: should an array have been replaced since
        # (code that copies an instance's fields, or sets one), what it says is checked again
        # here (two flags), and an array that no longer fits it is copied, not shared.
        if type(a) is not _np.ndarray:
            return a
        if how == 3:
            if not a.size:
                return a.view()
        elif not a.flags.writeable:
            b = a.base
            if b is None or (type(b) is _np.ndarray and b.base is None and not b.flags.writeable):
                return a.view()
    elif how == 0:
        return a
    c = a.copy()
    c.setflags(write=a.flags.writeable)
    return c


#: Where :func:`_twin` keeps an instance's plan: its state's keys and what each array takes
#: (:func:`_seal_plan`), and the same for its cost tables (with the tables it was made for).
_TWIN = "_offbench_twin_plan"


def _twin(inst):
    """A twin of a runner's instance for an in-process solver: its fields and digest
    (:meth:`~offbench.instance.Instance.__getstate__`, what a pickle round trip gives, without
    re-validating) and its cost tables when they were built (:func:`offbench.cost.tables`
    caches them on the instance; pickling leaves them out), each array shared with the runner
    only as a view that can never be made writeable (where the runner's array is a read-only
    owner or a piece of one: a generated member's, :mod:`offbench.families.batch`, and the
    compiled tables, :func:`offbench._tables.chain_tables`), else copied. A view costs a sixth
    of a copy and the tables a fraction of building them again; writing through a view takes
    deliberately reaching the runner's own array (``.base``), which code in this process can
    always do (why plugins run unrefereed in-process, :func:`offbench.run.loop.run`). Which
    array takes which is decided once per instance."""
    from ..cost import Tables

    d = inst.__dict__
    plan = d.get(_TWIN)
    if plan is None or ("digest" in d and "digest" not in plan[0]):
        state = inst.__getstate__()
        plan = d[_TWIN] = [tuple(state), _seal_plan(state.values()), None, None]
    keys, how, tplan_for, tplan = plan
    state = {k: _sealed_copy(d[k], h) if h else d[k] for k, h in zip(keys, how)}
    twin = object.__new__(type(inst))
    twin.__dict__.update(state)
    t = d.get("_offbench_tables")  # offbench.cost.tables' cache
    if t is not None:
        if tplan_for is not t:
            plan[2], plan[3] = t, _seal_plan(t)
            tplan = plan[3]
        twin.__dict__["_offbench_tables"] = Tables(*[_sealed_copy(a, h) for a, h in zip(t, tplan)])
    return twin


def outcome_to_wire(out) -> bytes:
    """An outcome as bytes for the pipe: ``D`` + JSON (a solve) or ``R`` + JSON (a reference)."""
    if isinstance(out, ReferenceOutcome):
        return b"R" + json.dumps(dataclasses.asdict(out), default=str, allow_nan=True).encode()
    return b"D" + out.to_wire()


def outcome_from_wire(job: Job, data: bytes):
    """Rebuild what :func:`outcome_to_wire` sent (checked field by field); a malformed message
    is the job's error."""
    try:
        if data[:1] == b"R" and job.kind == "reference":
            d = json.loads(data[1:])
            if not isinstance(d, dict) or not (d.get("reference") is None or isinstance(d["reference"], dict)):
                raise WireError("not a reference outcome")
            return ReferenceOutcome(reference=d.get("reference"), error=_text(d.get("error")),
                                    worker=_text(d.get("worker")), traceback=_text(d.get("traceback")))
        if data[:1] == b"D" and job.kind != "reference":
            return Outcome.from_wire(data[1:])
        raise WireError("unexpected message")
    except (WireError, ValueError, RecursionError) as e:
        return failed_outcome(job, "error", f"the sandbox sent a malformed outcome ({e})")


def _text(v) -> str | None:
    return None if v is None else str(v)


_SOLVER_CACHE: dict[tuple, type] = {}
_WARMED: set[tuple] = set()
_THREADS_SET: list[int] = []


def solver_class(solver_id: str, solver_dirs: Sequence[str] = ()):
    """The solver class for a versioned ID, resolved once per process."""
    key = (solver_id, tuple(solver_dirs))
    cls = _SOLVER_CACHE.get(key)
    if cls is None:
        from ..discovery import resolve

        cls = resolve(solver_id, list(solver_dirs))
        if cls.id != solver_id:
            raise UserError(f"solver {solver_id} resolved to {cls.id}")
        _SOLVER_CACHE[key] = cls
    return cls


def _apply_threads(n: int) -> None:
    if _THREADS_SET and _THREADS_SET[-1] == n:
        return
    try:
        import numba

        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    except Exception:  # numba refuses while a parallel region is live; the env var still holds
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    _THREADS_SET.append(n)


def _worker_name() -> str:
    return f"{platform.node() or 'host'}:{os.getpid()}"


def execute(job: Job, started: Callable[[], None] | None = None) -> Outcome | ReferenceOutcome:
    """Run one job here and return its outcome (never raises for a solver's failure or a runner
    error, which become ``status: error`` with the text).

    ``started()`` is called once everything is imported and the solver is built, right before
    the timed work: the hard limit counts from there.
    """
    _apply_threads(job.threads)
    try:
        if job.kind == "reference":
            from ..reference import compute_reference

            if "reference" not in _WARMED:
                # As for solvers: the first reference in a process compiles the kernels of the
                # reference chain untimed, so that JIT compilation (half a minute with a cold
                # Numba cache on a busy machine) is not charged to the hard limit.
                _warm_references()
                _WARMED.add("reference")
            if started is not None:
                started()
            ref = compute_reference(job.instance, time_limit=job.time_limit, seed=job.seed)
            return ReferenceOutcome(reference=ref.to_dict(), worker=_worker_name())
        cls = solver_class(job.solver_id, job.solver_dirs)
        warm = (job.solver_id, job.param_hash)
        cold = warm not in _WARMED and skips_warm_up(job)
        if warm not in _WARMED and not cold:
            # The first job of a solver in this process is solved once untimed (imports and
            # JIT compilation stay out of the latency and the time limit); the answer is
            # discarded. The warm-up runs under the import allowance (kill_after +
            # IMPORT_ALLOWANCE: compiling a solver's kernels with a cold Numba cache takes half a
            # minute on a busy machine, which a short kill_after must not turn into a kill),
            # and the timed solve afresh under kill_after. A solver stopped before its timed
            # solve once (:func:`note_stopped_before_start`) gets neither again: the allowance
            # would be spent by every fresh sandbox after each kill.
            tracks.warm_up(job, cls)
            _WARMED.add(warm)
        if job.instance is not None:
            # The instance comes with its cost tables (SPEC.md section 2 applied once:
            # :func:`offbench.cost.tables`), built here before the timed work unless they came
            # with it (an in-process copy's, a sandbox's: :mod:`offbench.run.shipping`), as
            # the warm-up left them for the first job: every executor and every job then
            # times the same thing, the solver from instance to decision.
            from ..cost import tables

            tables(job.instance)
        out = tracks.run_job(job, cls, started=started)
        out.worker = _worker_name()
        if cold:
            _WARMED.add(warm)  # compiled now: its later jobs here are neither warmed nor cold
            out.info["warm_up"] = ("skipped: a job of this solver was stopped at its hard limit "
                                   "before its timed solve began (in its imports or warm-up), so "
                                   "this solve was timed cold, without the import allowance")
        return out
    except Exception as e:  # a runner-side failure is recorded as the job's error, not raised
        import traceback

        text = f"{type(e).__name__}: {e}"
        if job.kind == "reference":
            return ReferenceOutcome(error=f"reference failed: {text}", worker=_worker_name(),
                                    traceback=traceback.format_exc(limit=20))
        from ..solver import SolverError

        # A SolverError is the solver's parameters or files (a weights tensor whose shape the
        # network it builds does not take), not the runner's failure.
        who = f"solver {job.solver_id}" if isinstance(e, SolverError) else "runner"
        return failed_outcome(job, "error", f"{who}: {text}",
                              info={"traceback": traceback.format_exc(limit=20)})


def _warm_references() -> None:
    """Compute the references of two tiny instances (independent jobs with deadlines: dp;
    coupled by capacities: exhaustive), so that their kernels are compiled and loaded."""
    from ..generators import random_instance
    from ..reference import compute_reference

    for capacities in (False, True):
        inst = random_instance(0, n_devices=1, n_jobs=2, layers=(2, 2), capacities=capacities,
                               deadlines=True)
        try:
            compute_reference(inst, time_limit=tracks.WARM_UP_TIME_LIMIT, seed=0)
        except Exception:  # the timed reference reports whatever goes wrong
            pass


def warm_up() -> None:
    """Import the cost model and load its compiled kernels (what every job needs first)."""
    import numpy as np

    from .. import cost, solver  # noqa: F401
    from ..generators import random_instance

    inst = random_instance(0, n_devices=1, n_jobs=1, layers=(2, 2))
    x = np.zeros((2, inst.n_layers), dtype=np.int8)
    cost.evaluate(inst, x[0])
    cost.evaluate_many(inst, x, with_feasibility=True, parallel=False)
    cost.evaluate_many(inst, x, with_feasibility=True, parallel=True)
    try:
        from .. import reference  # noqa: F401
    except ImportError:
        pass


def failed_outcome(job: Job, status: str, error: str, *, wall_time: float = 0.0,
                   info: dict | None = None) -> Outcome | ReferenceOutcome:
    """The outcome of a job that produced no decision (killed, crashed, or failed to start)."""
    if job.kind == "reference":
        return ReferenceOutcome(error=error)
    return Outcome.failed(status, error, wall_time=wall_time, info=info)


#: The fields of a reference a solve job is scored against (as the store keeps them).
REF_FIELDS = ("cost", "bound", "provenance", "gap", "solver", "wall_time", "decision")


def attach_reference(job: Job, ref: dict | None) -> bool:
    """Attach one instance's reference (as the store keeps it) to a static job; False if none."""
    if ref is None:
        return False
    job.reference = {**{k: ref[k] for k in REF_FIELDS}, "digest": job.digest}
    return True


def judged_row(job: Job, out: Outcome, run_id: int, *, refereed: bool = True) -> dict:
    """The store row of a finished solve job: judged by the referee
    (:func:`offbench.run.referee.judge`, against this process's instance and cost model), then
    (a job without a decision) scored at the all-device cost. The runner calls it, and a Dask
    worker for the members it built."""
    from .. import __version__
    from ..store import KEY_COLUMNS
    from . import referee

    referee.judge(job, out, refereed=refereed)
    if out.missing:
        tracks.score_missing(job, out)
    return out.to_row(dict(zip(KEY_COLUMNS, job.key)), params=job.params,
                      track_config=job.track_config, offbench_version=__version__, run_id=run_id)


class _HardTimeout(BaseException):
    """Raised by the in-process alarm; a BaseException so solvers' ``except Exception`` pass it."""


def _alarm(signum, frame):
    raise _HardTimeout()


def alarm_usable() -> bool:
    """Whether :func:`execute_with_alarm` can use ``SIGALRM`` here (the main thread of a
    platform with ``setitimer``)."""
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")


def install_alarm():
    """Install the in-process alarm's ``SIGALRM`` handler for a run of jobs, so that each
    :func:`execute_with_alarm` only arms and disarms its timer (installing and restoring the
    handler is two-thirds of its cost per job); returns what to give :func:`restore_alarm`."""
    return signal.signal(signal.SIGALRM, _alarm)


def restore_alarm(old) -> None:
    """Put back the handler :func:`install_alarm` replaced (None: one not set from Python,
    which cannot be put back: the default action then)."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL if old is None else old)


def execute_with_alarm(job: Job, stamps: list | None = None) -> Outcome | ReferenceOutcome:
    """:func:`execute` with the in-process hard limit (``SIGALRM``, best effort; see module doc).

    ``stamps``, when given, gets ``time.perf_counter()`` each time the timed work starts (the
    last one is the timed solve's start). The handler is installed here unless it is already
    (:func:`install_alarm`, for a run of jobs).
    """
    limit = job.kill_after
    if limit is None or not alarm_usable():
        return execute(job, None if stamps is None else (lambda: stamps.append(time.perf_counter())))

    own = signal.getsignal(signal.SIGALRM) is not _alarm
    old = signal.signal(signal.SIGALRM, _alarm) if own else None
    t0 = [time.perf_counter()]
    began: list[bool] = []
    # Until the timed work starts: imports, compilation and the warm-up, as in a sandbox.
    allowance = import_allowance(job)
    set_alarm(limit + allowance)

    def started():
        t0[0] = time.perf_counter()
        began.append(True)
        if stamps is not None:
            stamps.append(t0[0])
        set_alarm(limit)

    try:
        try:
            return execute(job, started)
        finally:
            set_alarm(0)
    except _HardTimeout:
        elapsed = time.perf_counter() - t0[0]
        if not began and (job.solver_id, job.param_hash) not in _WARMED:
            note_stopped_before_start(job)  # (a warmed solver was not in its warm-up)
        return killed(job, elapsed, "SIGALRM in the runner process (in-process executor)",
                      started=bool(began), allowance=allowance)
    finally:
        if own:
            restore_alarm(old)


def _killed_text(job: Job, started: bool = True, allowance: float = 0.0,
                 idle: tuple | None = None) -> str:
    """The error text of a job stopped at its hard limit: the same on every executor (the
    measured time is the row's wall time, counted from the timed work's start, or, for a job
    stopped before it, from the job's; how it was stopped goes in ``info``). ``idle``: ``(window
    seconds, CPU seconds used in it)`` when a sandbox stopped it idle inside its import
    allowance (:meth:`offbench.run.sandbox.Sandbox.idle_in_allowance`)."""
    tl = "no time limit" if job.time_limit is None else f"time limit {job.time_limit:g} s"
    ka = job.kill_after
    if started:
        return f"stopped at the hard limit kill_after={ka:g} s ({tl}); no decision"
    if idle is not None:
        return (f"stopped before its timed solve began, in its imports, compilation or untimed "
                f"warm-up, past kill_after={ka:g} s and inside its import allowance "
                f"{allowance:g} s, because its process sat idle (it used {idle[1]:.2f} s of CPU "
                f"in the last {idle[0]:.0f} s: not compiling) ({tl}); no decision")
    if allowance > 0:
        return (f"stopped before its timed solve began, in its imports, compilation or untimed "
                f"warm-up, at kill_after={ka:g} s + import allowance {allowance:g} s = "
                f"{ka + allowance:g} s from the job's start ({tl}); no decision")
    return (f"stopped before its timed solve began, at the hard limit kill_after={ka:g} s from "
            f"the job's start (no import allowance: a job of this solver was stopped before its "
            f"timed solve earlier) ({tl}); no decision")


def killed(job: Job, elapsed: float, how: str, *, started: bool = True,
           allowance: float = 0.0, idle: tuple | None = None) -> Outcome | ReferenceOutcome:
    """The outcome of a job stopped at its hard limit (by whatever executor ran it) after
    ``elapsed`` seconds: of its timed work, or (not ``started``) of the job, which had
    ``allowance`` seconds beyond ``kill_after`` for its imports and warm-up (``idle``: stopped
    inside it for sitting idle, :func:`_killed_text`)."""
    info = {"stopped_by": how}
    if idle is not None:
        info["stopped_idle"] = {"window": idle[0], "cpu": idle[1]}
    return failed_outcome(job, "timeout", _killed_text(job, started, allowance, idle),
                          wall_time=elapsed, info=info)


#: The longest in-process alarm set (about 31 years): ``setitimer`` refuses seconds past the
#: platform's ``time_t`` (``--time-limit 1e12`` was an OverflowError), and a run never lasts
#: that long, so a longer hard limit is this one.
ALARM_MAX = 1e9


def set_alarm(seconds: float) -> None:
    """Arm (or, with 0, disarm) the in-process hard limit's ``SIGALRM`` in ``seconds``, at most
    :data:`ALARM_MAX`."""
    signal.setitimer(signal.ITIMER_REAL, min(seconds, ALARM_MAX))


def call_with_alarm(fn: Callable[[], object], limit: float | None):
    """``fn()`` under the in-process hard limit of ``limit`` seconds (``SIGALRM``, best effort,
    as :func:`execute_with_alarm`; none where :func:`alarm_usable` says no, or without a
    limit): ``(its value, None)``, or ``(None, seconds elapsed)`` when it was stopped."""
    if limit is None or not alarm_usable():
        return fn(), None
    old = signal.signal(signal.SIGALRM, _alarm)
    t0 = time.perf_counter()
    try:
        try:
            set_alarm(limit)
            return fn(), None
        finally:
            set_alarm(0)
    except _HardTimeout:
        return None, time.perf_counter() - t0
    finally:
        restore_alarm(old)
