"""The run loop: :func:`run` fills the results store from a plan, streaming.

The plan is walked in blocks of consecutive members of one source (:meth:`Plan.blocks`,
:data:`BLOCK` members). For each block the loop

1. looks up which of its members were built before (:meth:`offbench.store.Store.member_digests`)
   and which of their jobs are in the store already (one query of keys per block), and skips
   those members without building them;
2. builds the others (:meth:`~offbench.run.sources.Source.build`: generated, or read from their
   file), records them (``instances``, ``built_members``), and computes the reference of each
   that has work left and none cached (SPEC.md section 6), as jobs of their own, caching it in
   the store (a frozen set's own references are used as they are);
3. runs the block's solve jobs on the executor and, for each finished job, has the referee judge
   its outcome (:func:`offbench.run.referee.judge`: re-priced with this process's cost model,
   its claims checked, scored against the reference, its wall time the one measured here) and
   appends its row (:meth:`offbench.tracks.Outcome.to_row`).

Nothing holds more than a block: memory is bounded whatever the number of instances. Rows are
committed in batches (:class:`_Writer`: every :data:`BATCH_ROWS` rows, once the oldest waiting row
is :data:`BATCH_SECONDS` old, or once the waiting rows hold that much solver time), each batch
one transaction. A source is recorded when its members are known: at the start for sets,
streams and files, once its last member is built for a generated source.

On a Dask cluster (:class:`~offbench.run.executors.DaskExecutor`) and on the pool
(:class:`~offbench.run.executors.PoolExecutor`'s builder processes) a generated source's
members travel as descriptors: they are built, referenced, solved and judged on the workers
(:func:`offbench.run.units.run_units`), and the loop only records what comes back; the
steps above are then those of ``-j 0`` and of held sources (sets, files, streams).

A solver module that changed offbench's cost model when the spec was parsed (imported here)
stops the run before anything is written (:func:`offbench.run.referee.check_intact`). In an
in-process run (``-j 0``) that loads a solver that is not offbench's own, every row is marked
``refereed = 0`` and the summary says so (:attr:`RunSummary.unrefereed`).

Resuming: killing the runner at any moment (``SIGINT``, ``SIGKILL``) loses the jobs in flight
and at most the batch not yet committed (a quarter of a second of work; ``SIGINT`` commits it);
running the same command again skips every job whose key is present and does the rest.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from . import referee
from ..errors import UserError
from ..store import DEFAULT_STORE, Store, damaged, damaged_error, instance_record
from ..tracks import Outcome
from .execute import REF_FIELDS, ReferenceOutcome, judged_row
from .executors import Executor, make_executor
from .plan import Block, Job, Plan, make_job, plan
from .provenance import git_commit, library_versions, machine_info
from .spec import RunSpec

#: Members of one source per block (what the loop holds at a time).
BLOCK = 2048
#: A batch of rows is committed at this many rows ...
BATCH_ROWS = 2000
#: ... or once its oldest row waited this long, or its rows hold this much solver time (s).
BATCH_SECONDS = 0.25
#: Plans up to this many jobs keep every key in :attr:`RunSummary.keys` (bigger: None).
KEYS_LIMIT = 200_000


@dataclass
class RunSummary:
    """What a run did (counts and times), and the keys of every job of its plan (None for a
    plan of more than :data:`KEYS_LIMIT` jobs: they are not held)."""

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
    keys: list | None = field(default_factory=list)
    interrupted: bool = False
    violations: list = field(default_factory=list)
    flagged: list = field(default_factory=list)
    unrefereed: list = field(default_factory=list)
    task_failures: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reference_failures and not self.interrupted and not self.violations

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("keys")
        return d


class _Writer:
    """Rows waiting to be committed, committed in one transaction per batch (see the module
    docstring)."""

    def __init__(self, store: Store):
        self.store = store
        self.instances: list = []
        self.members: list = []
        self.references: list = []
        self.results: list = []
        self.since: float | None = None
        self.work = 0.0
        self.new = 0

    def _touch(self) -> None:
        if self.since is None:
            self.since = time.monotonic()

    def instance(self, rec: tuple) -> None:
        self.instances.append(rec)
        self._touch()

    def member(self, key: str, position: int, digest: str) -> None:
        self.members.append((key, position, digest))
        self._touch()

    def reference(self, digest: str, ref: dict, origin: str, settings: dict, version: str) -> None:
        self.references.append((digest, ref, origin, settings, version))
        self._done(ref.get("wall_time"))

    def result(self, row: dict, frames, wall: float) -> None:
        self.results.append((row, frames))
        self._done(wall)

    def _done(self, wall) -> None:
        """A finished job's row (a result or a reference) was queued: commit the batch when it
        is due. References follow the results' rule, so a kill during a block's reference phase
        loses only the batch not yet committed, not every reference of the block."""
        wall = float(wall or 0.0)
        if math.isfinite(wall):
            self.work += wall
        self._touch()
        if (len(self.results) + len(self.references) >= BATCH_ROWS or self.work >= BATCH_SECONDS
                or time.monotonic() - self.since >= BATCH_SECONDS):
            self.flush()

    def flush(self) -> None:
        if self.since is None:
            return
        self.new += self.store.write_batch(instances=self.instances, members=self.members,
                                           references=self.references, results=self.results)
        self.instances, self.members, self.references, self.results = [], [], [], []
        self.since = None
        self.work = 0.0


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
        Gets ``plan``, ``started``, ``finished``, ``present``, ``more`` and ``close`` calls.
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
    writer = _Writer(store)
    try:
        run_id = store.begin_run(
            spec=spec.to_dict(), spec_hash=spec.hash, offbench_version=__version__,
            offbench_commit=git_commit(), machine=machine_info(), libraries=library_versions(),
            executor=executor.describe(), command=command)
        _record_held_sources(store, pl)
        n_jobs = pl.n_jobs
        summary = RunSummary(store=str(store_path), run_id=run_id, executor=executor.describe(),
                             planned=n_jobs, already=0, skipped=pl.skipped,
                             keys=[] if n_jobs <= KEYS_LIMIT else None)
        progress.plan(total=n_jobs, already=0, plan=pl, executor=executor.describe(),
                      references=0, as_found=True)
        if getattr(executor, "name", "") == "in-process":
            summary.unrefereed = _plugins(pl)
        ctx = _Context(spec, pl, store, writer, executor, progress, summary, run_id, __version__)
        if getattr(executor, "distributed", False):
            executor.run_blocks(ctx, pl.blocks(executor.block_size))
        else:
            for block in pl.blocks(BLOCK):
                ctx.run_block(block)
        writer.flush()
        _record_built_sources(store, pl, final=True)
        summary.already = ctx.already
        summary.wall_time = time.perf_counter() - t0
        store.end_run(run_id, "complete" if summary.ok and not summary.dropped else "incomplete")
        progress.close(summary)
        return summary
    except KeyboardInterrupt:
        try:
            writer.flush()  # finished jobs are kept: only those in flight are lost
        except Exception:
            pass
        if summary is not None:
            summary.interrupted = True
            summary.wall_time = time.perf_counter() - t0
        if run_id is not None:
            try:
                store.end_run(run_id, "interrupted")
            except Exception:
                pass
        raise
    except sqlite3.DatabaseError as e:
        if damaged(e):  # a page of the store is not what SQLite wrote: say so, no traceback
            raise damaged_error(store_path, e) from None
        raise
    finally:
        try:
            if own_executor:
                executor.close()
        finally:
            store.close()


class _Context:
    """What the loop keeps for one run (see :func:`run`); :meth:`run_block` does one block on a
    local executor, :meth:`prepare` and :meth:`record` serve a distributed one."""

    def __init__(self, spec, pl, store, writer, executor, progress, summary, run_id, version):
        self.spec, self.pl, self.store, self.writer = spec, pl, store, writer
        self.executor, self.progress, self.summary = executor, progress, summary
        self.run_id, self.version = run_id, version
        self.already = 0
        self.refereed = not summary.unrefereed
        self.references_on = spec.reference["mode"] != "none"
        self.in_process = getattr(executor, "name", "") == "in-process"
        self.index = 0

    # ------------------------------------------------------------------ what is left
    def pending(self, block: Block) -> tuple[dict, dict]:
        """The block's members with work left: ``{member: digest or None}`` (None: not built
        yet), and ``{member: keys present}``; counts the jobs already in the store."""
        src = block.source
        if src.stream:
            known = {0: src.digest}
        elif src.lazy:
            known = self.store.member_digests(src.member_key, block.start, block.stop)
        else:
            known = {m: src.known_digest(m) for m in range(block.start, block.stop)}
        keys = {m: [t.key(d) for t in block.templates] for m, d in known.items()}
        present = self.store.existing_keys([k for ks in keys.values() for k in ks])
        todo: dict[int, str | None] = {}
        done: dict[int, set] = {}
        n_present = 0
        for m in range(block.start, block.stop):
            if m in known:
                have = {k for k in keys[m] if k in present}
                n_present += len(have)
                if len(have) == len(keys[m]):
                    continue
                done[m] = have
            todo[m] = known.get(m)
        if self.summary.keys is not None:
            self.summary.keys.extend(k for ks in keys.values() for k in ks)
        if n_present:
            self.already += n_present
            self.progress.present(n_present)
        return todo, done

    # ------------------------------------------------------------------ a block, here
    def run_block(self, block: Block) -> None:
        src = block.source
        todo, done = self.pending(block)
        if not todo:
            return
        insts: dict[int, Any] = {}
        texts: dict[int, str] = {}  # the JSON of members new to the store (for their record)
        built = {} if src.stream else src.build_many(list(todo))
        for m, d in todo.items():
            if src.stream:
                continue
            inst = built[m]
            if isinstance(inst, Exception):
                raise inst
            if d is None and src.lazy:  # built for the first time: its record and digest at once
                texts[m] = inst.compact_json_and_digest()
            if d is not None and inst.digest != d:
                raise UserError(f"source {src.name!r}: member {m} is now instance "
                                f"{inst.digest[:12]}, but the store recorded {d[:12]} for it: its "
                                "generator changed without a new family version; use a new store")
            insts[m] = inst
        if self.summary.keys is not None:
            self.summary.keys.extend(t.key(inst.digest) for m, inst in insts.items()
                                     if todo[m] is None for t in block.templates)
        self._record_instances(src, insts, todo, texts)
        needed = ([f for f in src.members] if src.stream else list(insts.values()))
        refs = self._references(src, needed)
        jobs: list[Job] = []
        for group in _groups(block.templates):
            for m in todo:
                for t in group:
                    if src.stream:
                        job = make_job(t, src, 0, src.digest, frames=tuple(src.members))
                    else:
                        job = make_job(t, src, m, insts[m].digest, instance=insts[m])
                    if job.key in done.get(m, ()):
                        continue
                    job.index = self.index
                    self.index += 1
                    if _attach_references(job, refs, self.spec):
                        jobs.append(job)
                    else:
                        self.summary.dropped += 1
                        self.progress.dropped(job)
        for job, out in self.executor.run(jobs, self.progress.started):
            self.finish(job, out)
        if block.stop == (1 if src.stream else src.count):
            _record_built_sources(self.store, self.pl, self.writer)

    def _record_instances(self, src, insts: dict, todo: dict, texts: dict) -> None:
        from .referee import all_device_cost

        if src.lazy:
            for m, inst in insts.items():
                if todo[m] is None:
                    self.writer.member(src.member_key, m, inst.digest)
        if not insts:
            return
        known = self.store.known_instances({i.digest for i in insts.values()})
        for m, inst in insts.items():
            if inst.digest not in known:
                known.add(inst.digest)
                self.writer.instance(instance_record(inst, all_device_cost(inst), texts.get(m)))

    def _references(self, src, insts: list) -> dict:
        """The references of these instances: cached, the set's own, or computed here now."""
        if not self.references_on or not insts:
            return {}
        needed: dict[str, Any] = {}
        for inst in insts:
            needed.setdefault(inst.digest, inst)
        refs = self.store.references(needed)
        if src.references:
            own = [d for d in needed if d not in refs and d in src.references]
            for d in own:
                ref = dict(src.references[d])
                ref.setdefault("wall_time", None)
                ref.setdefault("decision", None)
                self.writer.reference(d, ref, f"set:{src.set_name or src.name}", {}, self.version)
            if own:
                self.writer.flush()
                refs.update(self.store.references(own))
        ref_jobs = [Job(kind="reference", index=k, source=src.name, digest=d, instance=inst,
                        seed=0, time_limit=self.spec.reference["time_limit"],
                        kill_after=self.spec.reference["kill_after"],
                        threads=self.spec.threads_per_job)
                    for k, (d, inst) in enumerate((d, i) for d, i in needed.items() if d not in refs)]
        if not ref_jobs:
            return refs
        self.progress.more(len(ref_jobs))
        got = []
        for job, out in self.executor.run(ref_jobs, self.progress.started):
            if self.reference_done(job, out):
                got.append(job.digest)
        self.writer.flush()
        refs.update(self.store.references(got))
        return refs

    def reference_done(self, job: Job, out) -> bool:
        """Record a reference job's outcome; whether it gave a reference."""
        if out.error:
            self.summary.reference_failures.append(f"{job.source}:{job.digest[:12]}: {out.error}")
            self.progress.finished(job, {"status": "error", "error": out.error})
            return False
        self.writer.reference(job.digest, out.reference, "computed",
                              {"time_limit": job.time_limit, "seed": job.seed}, self.version)
        self.summary.references_computed += 1
        self.progress.finished(job, {"status": "reference", **out.reference})
        return True

    # ------------------------------------------------------------------ a block, distributed
    def units(self, block: Block) -> list:
        """The block's members with work left, as :class:`~offbench.run.units.Unit`
        descriptors with their jobs (instance not built here) and any cached reference."""
        from ..store import stored_reference
        from .units import Unit

        src = block.source
        todo, done = self.pending(block)
        refs = (self.store.references([d for d in todo.values() if d is not None])
                if self.references_on else {})
        units = []
        for m, d in todo.items():
            jobs = []
            for group in _groups(block.templates):
                for t in group:
                    if d is not None and t.key(d) in done.get(m, ()):
                        continue
                    job = make_job(t, src, m, d or "")
                    job.index = self.index
                    self.index += 1
                    jobs.append(job)
            ref = refs.get(d) if d is not None else None
            units.append(Unit(src.name, m, src.descriptor(m), d,
                              None if ref is None else stored_reference(ref), d is None, jobs))
        return units

    def source_done(self) -> None:
        """A distributed executor finished every block of a source."""
        _record_built_sources(self.store, self.pl, self.writer)

    def unit_settings(self) -> dict:
        ref = self.spec.reference
        return {"references": self.references_on, "ref_time_limit": ref["time_limit"],
                "ref_kill_after": ref["kill_after"], "threads": self.spec.threads_per_job,
                "run_id": self.run_id, "families_dirs": list(self.spec.families_dirs)}

    def units_done(self, units: list, results: list) -> None:
        """Record what a Dask task sent back for its units."""
        src_of = {s.name: s for s in self.pl.sources}
        for u, r in zip(units, results):
            src = src_of[u.source]
            if r.error is not None:
                self.units_failed([u], r.error)
                continue
            if u.digest is None:
                self.writer.member(src.member_key, u.member, r.digest)
                if self.summary.keys is not None:
                    self.summary.keys.extend(
                        (r.digest, *j.key[1:]) for j in u.jobs)
            if r.record is not None:
                self.writer.instance(r.record)
            if r.reference_error is not None:
                job = Job(kind="reference", index=0, source=u.source, digest=r.digest)
                self.summary.reference_failures.append(
                    f"{u.source}:{r.digest[:12]}: {r.reference_error}")
                self.progress.finished(job, {"status": "error", "error": r.reference_error})
                for j in u.jobs:
                    j.digest = r.digest
                    self.summary.dropped += 1
                    self.progress.dropped(j)
                continue
            if r.reference is not None:
                job = Job(kind="reference", index=0, source=u.source, digest=r.digest,
                          time_limit=self.spec.reference["time_limit"], seed=0)
                self.progress.more(1)
                self.reference_done(job, ReferenceOutcome(reference=r.reference))
            for job, row, frames in r.rows:
                self.progress.started(job)
                self.record(job, row, frames)

    def units_failed(self, units: list, error: str) -> None:
        """Units whose task failed as a whole (on Dask: its workers died too often): their
        jobs are not run (no row: a resume runs them), and the summary says why."""
        n = sum(len(u.jobs) for u in units)
        self.summary.dropped += n
        self.summary.task_failures.append(
            f"{n} jobs of {len(units)} members of source {units[0].source!r} (members "
            f"{units[0].member}..{units[-1].member}): {error}")
        for u in units:
            for job in u.jobs:
                self.progress.dropped(job, f"its task failed: {error}")

    # ------------------------------------------------------------------ a finished job
    def finish(self, job: Job, out: Outcome) -> None:
        # In-process, a solve may have changed the cost model (elsewhere no solver code runs
        # here after planning, which check_intact covered).
        tampered = referee.restore() if self.in_process else []
        if tampered:
            out.flags = [*out.flags, "tampered"]
            out.info = {**(out.info if isinstance(out.info, dict) else {}), "tampered": tampered}
        row = _row(job, out, self.run_id, self.pl, refereed=self.refereed)
        if tampered:
            row["flags"] = sorted(set(row["flags"]) | {"tampered"})
        self.record(job, row, out.frames)

    def record(self, job: Job, row: dict, frames) -> None:
        """Queue a judged row for the store and count it."""
        s = self.summary
        self.writer.result(row, frames, row.get("wall_time") or 0.0)
        s.done += 1
        s.statuses[row["status"]] = s.statuses.get(row["status"], 0) + 1
        if row["status"] in ("error", "timeout"):
            s.failed += 1
        info = row["info"] if isinstance(row["info"], dict) else {}
        if info.get("reference_violation") or any(
                (f.get("error") or "").startswith("ReferenceViolation") for f in frames or ()):
            s.violations.append(f"{job.label()}: {row['error'] or 'in a frame'}")
        if row["flags"]:
            s.flagged.append(f"{job.label()}: {', '.join(row['flags'])}")
        self.progress.finished(job, row)


def _groups(templates) -> list[list]:
    """Templates grouped by (track, solver, parameters), in order: a block's jobs run solver by
    solver, member by member, seed by seed (the plan's order)."""
    out: dict[tuple, list] = {}
    for t in templates:
        out.setdefault((t.track, t.solver_id, t.param_hash, tuple(t.solver_dirs)), []).append(t)
    return list(out.values())


def _record_held_sources(store: Store, pl: Plan) -> None:
    """Record the sources whose members are known before the run (sets, streams, files); a
    set's or a stream's instances too (files are recorded as they are read)."""
    from ..cost import all_device_cost

    held = {}
    for src in pl.sources:
        if src.members is not None:
            for inst in src.members:
                held.setdefault(inst.digest, inst)
    if held:
        known = store.known_instances(held)
        store.add_instances((inst, all_device_cost(inst)) for d, inst in held.items() if d not in known)
    for src in pl.sources:
        if not src.lazy:
            store.add_source(name=src.name, digest=src.digest, kind=src.kind, spec=src.spec,
                             members=src.digests)


def _record_built_sources(store: Store, pl: Plan, writer: _Writer | None = None, *,
                          final: bool = False) -> None:
    """Record the generated sources whose every member is built (their digests set on them),
    in the plan's order: during the run up to the first one not complete (so that the sources
    of a store, and the tables made from it, come in the same order whatever the executor);
    at the end (``final``) every complete one. Called when a source's last block is done."""
    if writer is not None:
        writer.flush()
    for src in pl.sources:
        if not src.lazy or src.digest_known:
            continue
        if store.count_members(src.member_key, src.count) < src.count:
            if final:
                continue
            return
        from .sources import source_digest

        src.set_digest(source_digest(store.iter_member_digests(src.member_key, src.count), False))
        store.add_source(name=src.name, digest=src.digest, kind=src.kind, spec=src.spec,
                         members=store.iter_member_digests(src.member_key, src.count))


_REF_FIELDS = REF_FIELDS


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


def _plugins(pl: Plan) -> list[str]:
    """The solvers of the plan that are not offbench's own (the ``offbench_solvers``
    package): their code shares the in-process runner's interpreter."""
    from .execute import solver_class

    out = []
    for sid, dirs in dict.fromkeys((t.solver_id, tuple(t.solver_dirs))
                                   for ts in pl.templates for t in ts):
        if not solver_class(sid, dirs).__module__.startswith("offbench_solvers."):
            out.append(sid)
    return sorted(set(out))


def _row(job: Job, out: Outcome, run_id: int, pl: Plan | None, *, refereed: bool = True) -> dict:
    """The store row of a finished solve job (:func:`~offbench.run.execute.judged_row`)."""
    return judged_row(job, out, run_id, refereed=refereed)
