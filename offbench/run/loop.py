"""The run loop: :func:`run` fills the results store from a plan.

1. records the run (spec, versions, machine) and every instance in the store;
2. computes the reference of each instance that still has jobs to do (SPEC.md section 6), once,
   as jobs of their own, and caches it in the store (a frozen set's own references are used as
   they are);
3. runs the solver jobs not yet in the store on an executor and, for each finished job, has the
   referee judge its outcome (:func:`offbench.run.referee.judge`: re-priced with this process's
   cost model, its claims checked, scored against the reference, its wall time the one measured
   here) and appends one row (:meth:`offbench.tracks.Outcome.to_row`) in its own transaction.

A solver module that changed offbench's cost model when the spec was parsed (imported here)
stops the run before anything is written (:func:`offbench.run.referee.check_intact`). In an
in-process run (``-j 0``) that loads a solver that is not offbench's own, every row is marked
``refereed = 0`` and the summary says so (:attr:`RunSummary.unrefereed`).

Resuming: the store holds each finished job in one committed transaction. Killing the runner at
any moment (``SIGINT``, ``SIGKILL``) loses only the jobs in flight; running the same command again
skips every job whose key is present and does the rest.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Any

from .. import tracks
from . import referee
from ..store import DEFAULT_STORE, KEY_COLUMNS, Store
from ..tracks import Outcome
from .executors import Executor, make_executor
from .plan import Job, Plan, plan
from .provenance import git_commit, library_versions, machine_info
from .spec import RunSpec


@dataclass
class RunSummary:
    """What a run did (counts and times), and the keys of every job of its plan."""

    store: str
    run_id: int
    executor: str
    planned: int
    already: int
    done: int = 0
    failed: int = 0
    statuses: dict = field(default_factory=dict)
    references_computed: int = 0
    reference_failures: list = field(default_factory=list)
    dropped: int = 0
    skipped: list = field(default_factory=list)
    wall_time: float = 0.0
    keys: list = field(default_factory=list)
    interrupted: bool = False
    violations: list = field(default_factory=list)
    flagged: list = field(default_factory=list)
    unrefereed: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reference_failures and not self.interrupted and not self.violations

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("keys")
        return d


def run(spec: RunSpec, store_path: str | os.PathLike = DEFAULT_STORE, *,
        executor: Executor | None = None, progress=None, command: str | None = None,
        plan_: Plan | None = None) -> RunSummary:
    """Run a spec into a store (resuming: jobs already there are skipped).

    Parameters
    ----------
    spec : RunSpec
    store_path : path-like
    executor : Executor, optional
        Default: a pool of ``os.cpu_count()`` workers.
    progress : offbench.progress.Progress, optional
        Gets ``plan``, ``started``, ``finished`` and ``close`` calls.
    command : str, optional
        The command line, for the provenance.

    Returns
    -------
    RunSummary
    """
    from .. import __version__
    from ..progress import Progress

    t0 = time.perf_counter()
    pl = plan_ or plan(spec)
    referee.check_intact()
    progress = progress or Progress(mode="quiet")
    own_executor = executor is None
    executor = executor or make_executor(None, threads=spec.threads_per_job)
    store = Store.open(store_path)
    summary = None
    run_id = None
    try:
        run_id = store.begin_run(
            spec=spec.to_dict(), spec_hash=spec.hash, offbench_version=__version__,
            offbench_commit=git_commit(), machine=machine_info(), libraries=library_versions(),
            executor=executor.describe(), command=command)
        _record_sources(store, pl)
        keys = [j.key for j in pl.jobs]
        present = store.existing_keys(keys)
        todo = [j for j in pl.jobs if j.key not in present]
        summary = RunSummary(store=str(store_path), run_id=run_id, executor=executor.describe(),
                             planned=len(pl.jobs), already=len(present), skipped=pl.skipped,
                             keys=keys)
        ref_jobs, refs = _reference_jobs(store, pl, todo, spec)
        progress.plan(total=len(todo) + len(ref_jobs), already=len(present), plan=pl,
                      executor=executor.describe(), references=len(ref_jobs))
        if ref_jobs:
            for job, out in executor.run(ref_jobs, progress.started):
                if out.error:
                    summary.reference_failures.append(f"{job.source}:{job.digest[:12]}: {out.error}")
                    progress.finished(job, {"status": "error", "error": out.error})
                    continue
                store.add_reference(job.digest, out.reference, origin="computed",
                                    settings={"time_limit": job.time_limit, "seed": job.seed},
                                    offbench_version=__version__)
                refs[job.digest] = store.references([job.digest])[job.digest]
                summary.references_computed += 1
                progress.finished(job, {"status": "reference", **out.reference})
        runnable = []
        for job in todo:
            if _attach_references(job, refs, spec):
                runnable.append(job)
            else:
                summary.dropped += 1
                progress.dropped(job)
        if getattr(executor, "name", "") == "in-process":
            summary.unrefereed = _plugins(runnable)
        for job, out in executor.run(runnable, progress.started):
            tampered = referee.restore()  # in-process: a solve may have changed the cost model
            if tampered:
                out.flags = [*out.flags, "tampered"]
                out.info = {**(out.info if isinstance(out.info, dict) else {}),
                            "tampered": tampered}
            row = _row(job, out, run_id, pl, refereed=not summary.unrefereed)
            if tampered:
                row["flags"] = sorted(set(row["flags"]) | {"tampered"})
            store.add_result(row, out.frames)
            summary.done += 1
            summary.statuses[row["status"]] = summary.statuses.get(row["status"], 0) + 1
            if row["status"] in ("error", "timeout"):
                summary.failed += 1
            if (row["info"] or {}).get("reference_violation") or any(
                    (f.get("error") or "").startswith("ReferenceViolation") for f in out.frames):
                summary.violations.append(f"{job.label()}: {row['error'] or 'in a frame'}")
            if row["flags"]:
                summary.flagged.append(f"{job.label()}: {', '.join(row['flags'])}")
            progress.finished(job, row)
        summary.wall_time = time.perf_counter() - t0
        store.end_run(run_id, "complete" if summary.ok and not summary.dropped else "incomplete")
        progress.close(summary)
        return summary
    except KeyboardInterrupt:
        if summary is not None:
            summary.interrupted = True
            summary.wall_time = time.perf_counter() - t0
        if run_id is not None:
            try:
                store.end_run(run_id, "interrupted")
            except Exception:
                pass
        raise
    finally:
        try:
            if own_executor:
                executor.close()
        finally:
            store.close()


def _record_sources(store: Store, pl: Plan) -> None:
    from ..cost import all_device_cost

    all_insts = {}
    for src in pl.sources:
        for inst in src.instances:
            all_insts.setdefault(inst.digest, inst)
    known = store.known_instances(all_insts)
    store.add_instances((inst, all_device_cost(inst)) for d, inst in all_insts.items() if d not in known)
    for src in pl.sources:
        store.add_source(name=src.name, digest=src.digest, kind=src.kind, spec=src.spec,
                         members=src.digests)


def _reference_jobs(store: Store, pl: Plan, todo: list[Job], spec: RunSpec):
    """Reference jobs for instances that have work left and no cached reference."""
    from .. import __version__

    if spec.reference["mode"] == "none":
        return [], {}
    needed: dict[str, Any] = {}
    source_of: dict[str, str] = {}
    for job in todo:
        insts = job.frames if job.frames is not None else (job.instance,)
        for inst in insts:
            needed.setdefault(inst.digest, inst)
            source_of.setdefault(inst.digest, job.source)
    refs = store.references(needed)
    # A frozen set's own references are used as they are (provenance kept).
    for src in pl.sources:
        if src.references:
            for d, r in src.references.items():
                if d in needed and d not in refs:
                    ref = dict(r)
                    ref.setdefault("wall_time", None)
                    ref.setdefault("decision", None)
                    store.add_reference(d, ref, origin=f"set:{src.set_name or src.name}",
                                        settings={}, offbench_version=__version__)
            refs.update(store.references([d for d in src.references if d in needed]))
    jobs = []
    for d, inst in needed.items():
        if d in refs:
            continue
        jobs.append(Job(kind="reference", index=len(jobs), source=source_of[d], digest=d,
                        instance=inst, seed=0, time_limit=spec.reference["time_limit"],
                        kill_after=spec.reference["kill_after"], threads=spec.threads_per_job))
    return jobs, refs


_REF_FIELDS = ("cost", "bound", "provenance", "gap", "solver", "wall_time", "decision")


def _attach_references(job: Job, refs: dict, spec: RunSpec) -> bool:
    if spec.reference["mode"] == "none":
        return True
    if job.frames is not None:
        try:
            job.frame_refs = tuple({**{k: refs[f.digest][k] for k in _REF_FIELDS}, "digest": f.digest}
                                   for f in job.frames)
        except KeyError:
            return False
        return True
    r = refs.get(job.digest)
    if r is None:
        return False
    job.reference = {**{k: r[k] for k in _REF_FIELDS}, "digest": job.digest}
    return True


def _plugins(jobs: list[Job]) -> list[str]:
    """The solvers of these jobs that are not offbench's own (the ``offbench_solvers``
    package): their code shares the in-process runner's interpreter."""
    from .execute import solver_class

    out = []
    for sid, dirs in dict.fromkeys((j.solver_id, tuple(j.solver_dirs)) for j in jobs):
        if not solver_class(sid, dirs).__module__.startswith("offbench_solvers."):
            out.append(sid)
    return sorted(set(out))


def _row(job: Job, out: Outcome, run_id: int, pl: Plan, *, refereed: bool = True) -> dict:
    """The store row of a finished solve job: judged by the referee, then (a job without a
    decision) scored at the all-device cost."""
    from .. import __version__

    referee.judge(job, out, refereed=refereed)
    if out.missing:
        tracks.score_missing(job, out)
    return out.to_row(dict(zip(KEY_COLUMNS, job.key)), params=job.params,
                      track_config=job.track_config, offbench_version=__version__, run_id=run_id)
