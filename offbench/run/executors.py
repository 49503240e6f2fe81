"""Executors: where jobs run. All give identical quality columns; only wall times differ.

``in-process`` (``-j 0``, :class:`InProcessExecutor`)
    Jobs run one after another in this process. A job over its hard limit (``kill_after``) is
    interrupted by ``SIGALRM`` where that is possible (the main thread on POSIX), which stops
    Python code but cannot stop a long call inside compiled code: **in-process cannot hard-kill**;
    use the pool for untrusted solvers. **In-process cannot isolate** either: each solver gets
    a copy of its instance and no reference, and the referee restores a cost model a solver
    changed (flagging that job), but a run that loads any solver that is not offbench's own has
    all its rows marked unrefereed (see :mod:`offbench.run.referee`).
``pool`` (default, ``-j N``, :class:`PoolExecutor`)
    A generated source (family or random draw) goes to N **builder processes**
    (:class:`_Builder`: fresh interpreters that run offbench's code only) in tasks of members
    as descriptors, as on Dask: each builder builds the instances, records them, computes
    missing references, runs the jobs in sandboxes of its own (a sandbox per solver, several
    jobs per message: :meth:`~offbench.run.sandbox.Sandbox.run_many`) and judges them
    (:func:`run_units`), so that building, solving and judging spread over the workers and the
    runner only writes rows. A task holds about :attr:`PoolExecutor.TASK_SECONDS` of jobs, so
    rows come back steadily. The judgement stays out of the solver's reach: the builder is not
    the sandbox (a solver's code never runs in it) and prices with its own instance. Other
    sources (sets, files, streams: held in the runner) go job by job to N worker processes
    (:class:`~offbench.run.sandbox.Sandbox`), each fed one job at a time over a pipe, judged
    in the runner. **A sandbox runs one solver** (ID and parameters): a worker
    that moves on to another solver gets a fresh interpreter (started ahead as a spare, so that
    it is warm, when the jobs at hand are of several solvers), so no state passes from one
    solver to the next. Jobs are dispatched solver by
    solver. A job over its hard limit has its worker killed (``SIGKILL``) and gets a ``timeout``
    row; a worker that dies gives an ``error`` row and is replaced. A builder that dies (killed
    from outside) loses its tasks in flight (reported as not run; a resume runs them) and is
    replaced.
``dask`` (``--scheduler tcp://host:port``, or ``local``, :class:`DaskExecutor`)
    A generated source (family or random draw) goes to the workers as descriptors, never as
    instances: each task is a batch of members (:class:`Unit`: family ID, seed and index, with
    the jobs to run on it), and the worker builds each instance, computes its reference if the
    store has none, runs the jobs and judges them (:func:`run_units`); at most a few tasks per
    worker are in flight, so the runner holds a bounded part of a run of any size. Other sources
    (sets, files, streams) go job by job, each job a task. Inside the Dask worker every job runs
    in a sandbox process as in the pool (one solver per sandbox), so the hard limit holds there
    too. A worker that dies mid-run has its tasks run again elsewhere by the scheduler; rows are
    written once (the store skips a key already present). Workers must be able to import
    offbench (the same version) and see the ``--solvers-dir`` and ``families_dirs``
    (``--families-dir``) folders at the same paths; they load the latter from the run spec.
"""

from __future__ import annotations

import math
import os
import pickle
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Iterator, Sequence

from ..errors import UserError
from .execute import execute_with_alarm, failed_outcome, killed, sandbox_job
from .plan import Job
from .sandbox import Sandbox, solver_key


class Executor:
    """Runs jobs and yields ``(job, outcome)`` as they finish (in any order).

    ``on_start(job)`` is called when a job starts running (for the progress display).
    """

    name = "executor"
    workers = 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        pass

    def run(self, jobs: Sequence[Job], on_start: Callable[[Job], None]) -> Iterator[tuple[Job, Any]]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class InProcessExecutor(Executor):
    """Jobs one after another in this process (hard limit: ``SIGALRM``, best effort)."""

    name = "in-process"

    def run(self, jobs, on_start):
        import contextlib

        for job in jobs:
            on_start(job)
            stamps: list[float] = []
            # Solver chatter goes to stderr, as from a worker process: stdout may be --jsonl.
            with contextlib.redirect_stdout(sys.stderr):
                out = execute_with_alarm(sandbox_job(job, copy=True), stamps)
                end = time.perf_counter()
            if stamps and hasattr(out, "supervised_time"):
                out.supervised_time = end - stamps[-1]
            yield job, out


class PoolExecutor(Executor):
    """A pool of :class:`Sandbox` processes (the default executor).

    Each worker gets one job at a time; while recent jobs are short (under
    :attr:`PREFETCH_BELOW` seconds on average) it gets a second one (of the same solver) queued
    behind, so that it never waits for this process to write a row. Long jobs are never queued
    behind others. A worker whose solver has no jobs left is retired and replaced by a spare
    sandbox (a fresh interpreter started ahead), which takes the next solver's jobs.
    """

    name = "pool"
    PREFETCH_BELOW = 0.05

    def __init__(self, workers: int, threads: int = 1):
        if workers < 1:
            raise UserError(f"-j: expected a number of worker processes >= 1, got {workers}")
        self.workers = workers
        self.threads = threads
        self._boxes: list[Sandbox] = []
        self._spares: list[Sandbox] = []  # fresh, never given a job
        self._mean = math.inf  # moving mean of job durations (seconds)
        self._builders = None  # the builder processes, started with the first generated source
        self.sandboxes_started = 0

    def describe(self) -> str:
        return f"pool of {self.workers} worker process{'es' if self.workers != 1 else ''}"

    #: Tells the run loop to hand this executor whole blocks (:meth:`run_blocks`).
    distributed = True
    #: Members per block of the run loop.
    block_size = 2048
    #: Jobs per task of a builder process, and tasks in flight per builder.
    JOBS_PER_TASK = 64
    TASKS_PER_WORKER = 2
    #: A task holds at most about this many seconds of jobs (see :func:`run_unit_blocks`).
    TASK_SECONDS = 0.1

    def run_blocks(self, ctx, blocks) -> None:
        """Run the plan's blocks: a generated source's members go as descriptors, in batches,
        to :attr:`workers` builder processes (:class:`_Builder`), which build, record,
        reference, solve (in sandboxes of their own, one solver each, hard limit holding) and
        judge them (:func:`run_units`, as a Dask worker does), so that the runner only writes
        rows and the work spreads over the workers; other sources' blocks (sets, files,
        streams: held here) run job by job on this pool's sandboxes (:meth:`run`)."""
        if self._builders is None:
            self._builders = _LazyBuilders(self.workers, self.threads)
        run_unit_blocks(ctx, blocks, self._builders,
                        window=max(2, self.TASKS_PER_WORKER * self.workers),
                        jobs_per_task=self.JOBS_PER_TASK, task_seconds=self.TASK_SECONDS)

    def close(self) -> None:
        if self._builders is not None:
            self._builders.close()
            self._builders = None
        boxes, self._boxes = self._boxes + self._spares, []
        self._spares = []
        for b in boxes:
            if b.queue:
                b.kill()
            else:
                b.close()

    def _new_box(self, i: int) -> Sandbox:
        """A fresh sandbox for worker ``i``: a spare if one is ready (and a new spare started
        behind it), else a new one."""
        self.sandboxes_started += 1
        if self._spares:
            box = self._spares.pop(0)
            self._spares.append(Sandbox(self.threads, tag=f"spare-{self.sandboxes_started}"))
            return box
        return Sandbox(self.threads, tag=str(i))

    def _next_job(self, b: Sandbox, pending: "_Pending", busy_keys: set) -> Job | None:
        """The next job for sandbox ``b``: one of its solver, else (if it is idle) the first
        job of a solver that no worker runs, else of any solver; None when none fits."""
        if b.key is not None:
            job = pending.pop(b.key)
            if job is not None or b.queue:
                return job
        return pending.pop_other(busy_keys)

    #: The interpreter's thread switch interval while jobs run: the sandboxes' reader threads
    #: (which stamp the supervised wall times) wait at most this long for the GIL.
    SWITCH_INTERVAL = 0.0002

    def run(self, jobs, on_start):
        old = sys.getswitchinterval()
        sys.setswitchinterval(min(old, self.SWITCH_INTERVAL))
        try:
            yield from self._run(jobs, on_start)
        finally:
            sys.setswitchinterval(old)

    def _run(self, jobs, on_start):
        from multiprocessing.connection import wait

        pending = _Pending(jobs)
        while len(self._boxes) < min(self.workers, max(len(pending), 1)):
            self._boxes.append(self._new_box(len(self._boxes)))
        if len(pending.groups) > 1 and len(pending) > len(self._boxes) and not self._spares:
            # Spares only where a worker will move on to another solver: each is an interpreter
            # with offbench loaded (a few hundred MB), idle until then.
            self._spares = [Sandbox(self.threads, tag=f"spare-{k}") for k in range(self.workers)]
        while pending or any(b.queue for b in self._boxes):
            # Dispatch: idle workers first, then a second job (of its solver) where jobs are short.
            depth = 2 if self._mean < self.PREFETCH_BELOW else 1
            for want in range(1, depth + 1):
                for i in range(len(self._boxes)):
                    b = self._boxes[i]
                    while pending and len(b.queue) < want:
                        busy = {x.key for x in self._boxes if x.queue}
                        job = self._next_job(b, pending, busy)
                        if job is None:
                            break
                        if b.key is not None and solver_key(job) != b.key:
                            # Another solver: a fresh sandbox (no state passes between solvers).
                            b.close()
                            b = self._boxes[i] = self._new_box(i)
                        try:
                            b.send(job)
                        except (BrokenPipeError, OSError):
                            b.queue.pop()
                            pending.push_front(job)
                            yield from self._fail_head(i, pending, died=True)
                            break
            busy = {b: i for i, b in enumerate(self._boxes) if b.queue}
            now = time.monotonic()
            deadlines = [d - now for b in self._boxes if (d := b.deadline()) is not None]
            timeout = max(0.0, min([0.5, *deadlines]))
            for conn in wait(list(busy), timeout=timeout):
                i = busy[conn]
                b = self._boxes[i]
                job = b.job
                try:
                    msg = b.recv()
                except (EOFError, OSError):
                    yield from self._fail_head(i, pending, died=True)
                    continue
                if msg[0] == "started":
                    on_start(job)
                elif msg[0] == "done":
                    dur = float(getattr(msg[1], "wall_time", 0.0) or 0.0)
                    self._mean = dur if math.isinf(self._mean) else 0.8 * self._mean + 0.2 * dur
                    yield job, msg[1]
            now = time.monotonic()
            for i, b in enumerate(self._boxes):
                if b.queue and b.overdue(now):
                    yield from self._fail_head(i, pending, died=False)

    def _fail_head(self, i: int, pending: deque, *, died: bool):
        """The head job of worker ``i`` gets its row (killed or died); jobs queued behind it go
        back to the front of ``pending``; the worker is replaced."""
        b = self._boxes[i]
        now = time.monotonic()
        job = b.job
        elapsed = b.elapsed(now)
        if died:
            out = failed_outcome(job, "error", b.died_text()) if job is not None else None
        else:
            b.kill()
            out = killed(job, elapsed, "SIGKILL of its worker process")
        try:
            b.kill()
        except Exception:
            pass
        queued = list(b.queue)[1:]
        for j in reversed(queued):
            pending.push_front(j)
        self._boxes[i] = self._new_box(i)
        if out is not None:
            yield job, out


class _Pending:
    """Jobs waiting, grouped by solver (:func:`~offbench.run.sandbox.solver_key`), each group in
    plan order, groups in order of their first job."""

    def __init__(self, jobs):
        self.groups: dict[tuple, deque] = {}
        for j in jobs:
            self.groups.setdefault(solver_key(j), deque()).append(j)

    def __len__(self) -> int:
        return sum(len(q) for q in self.groups.values())

    def pop(self, key) -> Job | None:
        q = self.groups.get(key)
        if not q:
            return None
        job = q.popleft()
        if not q:
            del self.groups[key]
        return job

    def pop_other(self, busy: set) -> Job | None:
        """The first job of the first solver that no worker runs (else of the first solver)."""
        for key in self.groups:
            if key not in busy:
                return self.pop(key)
        return self.pop(next(iter(self.groups))) if self.groups else None

    def push_front(self, job: Job) -> None:
        key = solver_key(job)
        if key in self.groups:
            self.groups[key].appendleft(job)
        else:
            self.groups = {key: deque([job]), **self.groups}


#: Idle sandboxes of this Dask worker, by (worker thread, solver key); a task takes the one it
#: needs out while it runs, so :func:`_close_dask_boxes` never stops a job in flight (another
#: run's, say).
_DASK_BOXES: dict[tuple, Sandbox] = {}
_DASK_LOCK = threading.Lock()
#: Sandboxes kept per worker thread (one per solver key; the oldest is closed beyond this).
_DASK_KEEP = 3


def _dask_prestart(jobs) -> None:
    """Start (without waiting) a sandbox for each solver of these jobs that this worker thread
    has none of yet, so that their interpreters start and warm up side by side."""
    tid = threading.get_ident()
    want = {}
    for job in jobs:
        want.setdefault(solver_key(job), job.threads)
    with _DASK_LOCK:
        missing = [(k, t) for k, t in want.items() if (tid, k) not in _DASK_BOXES]
    started = {k: Sandbox(t, tag=f"dask-{tid}") for k, t in missing[:_DASK_KEEP]}
    with _DASK_LOCK:
        for k, box in started.items():
            _DASK_BOXES[(tid, k)] = box


def _dask_task(job: Job):
    """What a Dask worker runs for one job: the job in a sandbox of its solver (hard limit
    holds)."""
    tid = threading.get_ident()
    key = solver_key(job)
    with _DASK_LOCK:
        box = _DASK_BOXES.pop((tid, key), None)
        mine = [k for k in _DASK_BOXES if k[0] == tid]
        old = [_DASK_BOXES.pop(k) for k in mine[:max(0, len(mine) - _DASK_KEEP + 1)]]
    for b in old:
        b.close()
    if box is None or box.proc.poll() is not None:
        box = Sandbox(job.threads, tag=f"dask-{tid}")
    try:
        out = box.run_blocking(job)
    except BaseException:
        box.kill()
        raise
    if box.proc.poll() is None and box.job is None:
        with _DASK_LOCK:
            _DASK_BOXES[(tid, key)] = box
    return out


def _dask_group(jobs: list):
    """Run jobs of one solver in this worker thread's sandbox of that solver, several per
    message (:meth:`~offbench.run.sandbox.Sandbox.run_many`), yielding ``(job, outcome)`` as
    each finishes (so that the caller judges one while the sandbox solves the next); a sandbox
    killed at a hard limit, or dead, is replaced and gets the jobs left."""
    tid = threading.get_ident()
    key = solver_key(jobs[0])
    with _DASK_LOCK:
        box = _DASK_BOXES.pop((tid, key), None)
        mine = [k for k in _DASK_BOXES if k[0] == tid]
        old = [_DASK_BOXES.pop(k) for k in mine[:max(0, len(mine) - _DASK_KEEP + 1)]]
    for b in old:
        b.close()
    done = 0
    try:
        while done < len(jobs):
            if box is None or box.proc.poll() is not None:
                if box is not None:
                    box.kill()
                box = Sandbox(jobs[done].threads, tag=f"dask-{tid}")
            for job, out in box.run_many(jobs[done:done + _BATCH]):
                done += 1
                yield job, out
            if box.proc.poll() is not None:  # killed or dead: the rest go to a fresh sandbox
                box.kill()
                box = None
    except BaseException:
        if box is not None:
            box.kill()
        raise
    if box is not None and box.proc.poll() is None and box.job is None:
        with _DASK_LOCK:
            _DASK_BOXES[(tid, key)] = box
    elif box is not None:
        box.kill()


#: Jobs sent to a sandbox in one message by :func:`_dask_group`.
_BATCH = 32


def run_units(units: list, settings: dict) -> list:
    """What a Dask worker runs for a batch of members of generated sources (built here from
    their descriptors, never shipped): for each :class:`Unit`, build the instance (checking the
    digest the runner expects, if it knows one), compute its reference when the runner has none
    cached, run its jobs in this worker's sandboxes (solver by solver, hard limit holding), and
    judge each outcome here (:func:`offbench.run.referee.judge`, with the instance built in this
    process, never the sandbox's copy). Returns one :class:`UnitResult` per unit."""
    from ..store import instance_record, stored_reference
    from .referee import all_device_cost
    from .execute import attach_reference, judged_row
    from .sources import build_member

    results = []
    built = []
    _use_families_dirs(settings.get("families_dirs") or ())
    for u in units:
        r = UnitResult(member=u.member)
        results.append(r)
        try:
            inst = build_member(u.descriptor)
        except Exception as e:  # a member that cannot be built: its jobs fail with the reason
            r.error = f"building member {u.member} of source {u.source!r}: {type(e).__name__}: {e}"
            continue
        # A member new to the store is recorded: its JSON and its digest from one to_dict.
        text = inst.compact_json_and_digest() if u.want_record else None
        if u.digest is not None and inst.digest != u.digest:
            r.error = (f"member {u.member} of source {u.source!r} is now instance "
                       f"{inst.digest[:12]}, but the store recorded {u.digest[:12]} for it")
            continue
        r.digest = inst.digest
        if u.want_record:
            rec = instance_record(inst, all_device_cost(inst), text)
            r.record = (*rec[:-1], bytes(rec[-1]))  # the content as bytes: picklable
        built.append((u, r, inst))
    if built:
        probe = [j for u, _, _ in built for j in u.jobs]
        if settings["references"] and any(u.reference is None for u, _, _ in built):
            probe.insert(0, Job(kind="reference", index=0, source="", digest="",
                                threads=settings["threads"]))
        _dask_prestart(probe)
    for u, r, inst in built:  # references first, as the runner does
        if u.reference is None and settings["references"]:
            job = Job(kind="reference", index=0, source=u.source, digest=inst.digest,
                      instance=inst, seed=0, time_limit=settings["ref_time_limit"],
                      kill_after=settings["ref_kill_after"], threads=settings["threads"])
            out = _dask_task(job)
            if out.error:
                r.reference_error = out.error
                continue
            r.reference = out.reference
            u.reference = stored_reference(out.reference)
    groups: dict[tuple, list] = {}  # the jobs by solver, each solver's in plan order
    for u, r, inst in built:
        if r.reference_error is not None:
            continue
        for job in u.jobs:
            job.instance, job.digest = inst, inst.digest
            if settings["references"] and not attach_reference(job, u.reference):
                job.instance = None
                continue
            groups.setdefault(solver_key(job), []).append((job, r))
    old = sys.getswitchinterval()
    # The sandbox's reader thread stamps each answer's arrival (the solve's wall time) while
    # this thread judges the one before: it must not wait long for the GIL.
    sys.setswitchinterval(min(old, PoolExecutor.SWITCH_INTERVAL))
    try:
        for group in (sorted(groups.items(), key=lambda kv: kv[0])):
            owner = {id(job): r for job, r in group[1]}
            for job, out in _dask_group([job for job, _ in group[1]]):
                row = judged_row(job, out, settings["run_id"], refereed=True)
                job.instance = None
                owner[id(job)].rows.append((job, row, out.frames))
    finally:
        sys.setswitchinterval(old)
    return results


def _use_families_dirs(dirs) -> None:
    """Load the run spec's ``families_dirs`` in this process (a Dask worker started without
    them: ``$OFFBENCH_FAMILIES_PATH`` is the runner's, not the worker's), once."""
    from pathlib import Path

    from ..families import add_families_dirs, families_dirs

    have = {str(p) for p in families_dirs()}
    missing = [d for d in dirs if str(Path(d)) not in have]
    if missing:
        add_families_dirs(missing)


class Unit:
    """One member of a generated source and its jobs, as a Dask task gets it (no instance)."""

    __slots__ = ("source", "member", "descriptor", "digest", "reference", "want_record", "jobs")

    def __init__(self, source, member, descriptor, digest, reference, want_record, jobs):
        self.source, self.member, self.descriptor = source, member, descriptor
        self.digest, self.reference, self.want_record, self.jobs = digest, reference, want_record, jobs

    def __getstate__(self):
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state):
        for k, v in zip(self.__slots__, state):
            setattr(self, k, v)


class UnitResult:
    """What a Dask task sends back for one :class:`Unit`: the instance's digest and record,
    the reference it computed (or why none), and the judged rows ``(job, row, frames)``."""

    __slots__ = ("member", "digest", "record", "reference", "reference_error", "error", "rows")

    def __init__(self, member):
        self.member, self.digest, self.record = member, None, None
        self.reference = self.reference_error = self.error = None
        self.rows = []

    def __getstate__(self):
        return tuple(getattr(self, k) for k in self.__slots__)

    def __setstate__(self, state):
        for k, v in zip(self.__slots__, state):
            setattr(self, k, v)


def _close_dask_boxes() -> int:
    """Stop this Dask worker's idle sandboxes (run on every worker when a run ends, so that
    none outlives it on a long-lived cluster, nor serves a later run with stale solver code)."""
    with _DASK_LOCK:
        boxes = list(_DASK_BOXES.values())
        _DASK_BOXES.clear()
    for box in boxes:
        box.close()
    return len(boxes)


class DaskExecutor(Executor):
    """Jobs as tasks on a Dask cluster: ``address`` ``tcp://host:port``, or ``local`` to start a
    local cluster of ``workers`` processes (one thread each) on loopback."""

    name = "dask"

    def __init__(self, address: str, workers: int = 2):
        try:
            from distributed import Client, LocalCluster
        except ImportError as e:
            raise UserError(f"--scheduler needs dask.distributed (pip install 'dask[distributed]'): {e}") from None
        self.address = address
        self.cluster = None
        try:
            if address == "local":
                self.cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                                            processes=True, host="127.0.0.1",
                                            dashboard_address=":0", silence_logs=40)
                self.client = Client(self.cluster)
            else:
                _probe(address)
                self.client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as e:
            if self.cluster is not None:
                self.cluster.close()
            raise UserError(f"--scheduler {address}: cannot connect ({e})") from None
        info = self.client.scheduler_info()
        self.workers = max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))

    def describe(self) -> str:
        where = "local Dask cluster" if self.cluster is not None else f"Dask scheduler {self.address}"
        return f"{where} ({self.workers} worker thread{'s' if self.workers != 1 else ''})"

    def close(self) -> None:
        try:
            try:
                self.client.run(_close_dask_boxes)
            except Exception as e:  # a worker gone meanwhile: its sandboxes went with it
                print(f"offbench: could not stop the job sandboxes on every Dask worker ({e})",
                      file=sys.stderr)
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    #: Tells the run loop to hand this executor whole blocks (:meth:`run_blocks`).
    distributed = True
    #: Members per block of the run loop.
    block_size = 4096
    #: Jobs per task (members are batched so that a task has about this many jobs).
    JOBS_PER_TASK = 128
    #: Tasks in flight per worker thread (the rest are submitted as tasks finish).
    TASKS_PER_WORKER = 4

    def run_blocks(self, ctx, blocks) -> None:
        """Run the plan's blocks: a generated source's members travel as descriptors in
        batches (:func:`run_units`: built, referenced, solved and judged on the workers), at
        most :attr:`TASKS_PER_WORKER` tasks per worker thread in flight; other sources' blocks
        (sets, files, streams: held here) run job by job (:meth:`run`). A task whose worker
        dies is run again by the scheduler; its rows come back once."""
        run_unit_blocks(ctx, blocks, _DaskUnits(self.client),
                        window=max(2, self.TASKS_PER_WORKER * self.workers),
                        jobs_per_task=self.JOBS_PER_TASK)

    def run(self, jobs, on_start):
        from distributed import as_completed

        import uuid

        tag = uuid.uuid4().hex[:8]
        futures = {}
        for job in jobs:
            fut = self.client.submit(_dask_task, job, key=f"offbench-{job.kind}-{job.index}-{tag}",
                                     pure=False, retries=0)
            futures[fut] = job
        started = 0
        for job in list(futures.values())[:self.workers]:
            on_start(job)
            started += 1
        order = list(futures.values())
        try:
            for fut in as_completed(list(futures)):
                job = futures.pop(fut)
                try:
                    out = fut.result()
                except Exception as e:  # a lost worker, a failed transfer: recorded as the job's error
                    out = failed_outcome(job, "error", f"dask: {type(e).__name__}: {e}")
                if started < len(order):
                    on_start(order[started])
                    started += 1
                yield job, out
        finally:
            for fut in futures:
                fut.cancel()


class _DaskUnits:
    """:func:`run_unit_blocks`' tasks as Dask futures."""

    def __init__(self, client):
        import uuid

        from distributed import as_completed

        self.client, self.tag, self.n = client, uuid.uuid4().hex[:8], 0
        self.ac = as_completed()

    def submit(self, units: list, settings: dict):
        fut = self.client.submit(run_units, units, settings, key=f"offbench-units-{self.n}-{self.tag}",
                                 pure=False, retries=0)
        self.n += 1
        self.ac.add(fut)
        return fut

    def next_done(self):
        """The next finished task: ``(token, results, None)``, or ``(token, None, error)``."""
        fut = next(self.ac)
        try:
            results, error = fut.result(), None
        except Exception as e:  # the task itself failed (workers lost too often)
            results, error = None, f"dask: {type(e).__name__}: {e}"
        fut.release()
        return fut, results, error

    def cancel(self, tokens) -> None:
        for fut in tokens:
            fut.cancel()


def run_unit_blocks(ctx, blocks, tasks, *, window: int, jobs_per_task: int,
                    task_seconds: float | None = None) -> None:
    """Run the plan's blocks as tasks of :func:`run_units` (a generated source's members as
    descriptors, at most ``jobs_per_task`` jobs per task, at most ``window`` tasks in flight;
    ``tasks``: :class:`_DaskUnits` or :class:`_BuilderPool`), recording what comes back
    (:meth:`~offbench.run.loop._Context.units_done`); other sources' blocks (sets, files,
    streams: held in the runner) run job by job (:meth:`~offbench.run.loop._Context.run_block`).

    With ``task_seconds``, a task holds only as many jobs as take about that long (by the
    moving mean of the jobs' wall times, plus :data:`UNIT_JOB_OVERHEAD` each; the first tasks
    one member each), so that rows come back, and are committed, as steadily as from a pool of
    single jobs: a kill loses the tasks in flight, a few of these seconds of work."""
    inflight: dict = {}
    mean = [None]  # moving mean of the jobs' wall times (s)

    def drain(limit: int) -> None:
        while len(inflight) > limit:
            token, results, error = tasks.next_done()
            units = inflight.pop(token)
            if results is None:
                ctx.units_failed(units, error)
                continue
            ctx.units_done(units, results)
            walls = [row.get("wall_time") or 0.0 for r in results for _, row, _ in r.rows]
            if walls:
                m = sum(walls) / len(walls)
                mean[0] = m if mean[0] is None else 0.7 * mean[0] + 0.3 * m

    def size(templates: int) -> int:
        n = jobs_per_task
        if task_seconds is not None:
            n = 1 if mean[0] is None else int(task_seconds / (mean[0] + UNIT_JOB_OVERHEAD))
        return max(1, min(n, jobs_per_task) // max(1, templates))

    last = None
    try:
        for block in blocks:
            if last is not None and block.source is not last:
                drain(0)
                ctx.source_done()
            last = block.source
            if not block.source.lazy:
                drain(0)
                ctx.run_block(block)
                continue
            units = ctx.units(block)
            if not units:
                continue
            settings = ctx.unit_settings()
            a = 0
            while a < len(units):
                drain(window - 1)
                chunk = units[a:a + size(len(block.templates))]
                a += len(chunk)
                inflight[tasks.submit(chunk, settings)] = chunk
        drain(0)
    finally:
        tasks.cancel(list(inflight))


#: What :func:`run_unit_blocks` counts per job beside its wall time when it sizes tasks (s):
#: building, recording and judging a small member.
UNIT_JOB_OVERHEAD = 0.001


class _Builder:
    """A builder process of the pool (a fresh interpreter running :func:`_builder_main`): it
    runs :func:`run_units` on the batches it is sent (builds the members, records them, runs
    their jobs in sandboxes of its own and judges them) and sends the results back. It runs
    offbench's code only (a solver runs in its sandboxes, never in it), so its judgement is
    the runner's; messages both ways are pickles, between trusted processes."""

    def __init__(self, threads: int, tag: str):
        import subprocess
        from multiprocessing.connection import Connection
        from pathlib import Path

        r_job, w_job = os.pipe()
        r_res, w_res = os.pipe()
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            env.setdefault(var, str(threads))
        src_root = str(Path(__file__).resolve().parent.parent.parent)
        env["PYTHONPATH"] = src_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        code = "from offbench.run.executors import _builder_main; _builder_main()"
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, str(r_job), str(w_res), str(os.getpid())],
                pass_fds=(r_job, w_res), stdin=subprocess.DEVNULL, stdout=2, env=env,
                start_new_session=True)
        finally:
            os.close(r_job)
            os.close(w_res)
        self.to_child = Connection(w_job, readable=False)
        self.from_child = Connection(r_res, writable=False)
        self.tag = tag
        self.inflight: deque = deque()  # tokens of the tasks sent, in order

    def close(self, kill: bool = False) -> None:
        import subprocess

        try:
            self.to_child.close()
        except OSError:
            pass
        if kill:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        try:
            self.from_child.close()
        except OSError:
            pass


class _BuilderPool:
    """:func:`run_unit_blocks`' tasks on the pool's builder processes (:class:`_Builder`),
    each task sent to the builder with the fewest in flight."""

    def __init__(self, workers: int, threads: int):
        self.threads = threads
        self.builders = [_Builder(threads, str(i)) for i in range(workers)]
        self.failed: deque = deque()  # (token, None, error) of the tasks of a builder that died
        self.n = 0

    def submit(self, units: list, settings: dict):
        b = min(self.builders, key=lambda x: len(x.inflight))
        token = self.n
        self.n += 1
        b.inflight.append(token)
        try:
            b.to_child.send_bytes(pickle.dumps((units, settings), protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            pass  # the builder died: next_done reports its tasks
        return token

    def next_done(self):
        from multiprocessing.connection import wait

        if self.failed:
            return self.failed.popleft()
        busy = {b.from_child: b for b in self.builders if b.inflight}
        conn = wait(list(busy))[0]
        b = busy[conn]
        token = b.inflight.popleft()
        try:
            kind, payload = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            # The builder died (killed from outside, out of memory): its tasks fail as a whole
            # (no row: a resume runs them), and a fresh builder takes its place.
            b.close(kill=True)
            error = f"its builder process died (exit status {b.proc.returncode})"
            self.failed.extend((t, None, error) for t in b.inflight)
            i = self.builders.index(b)
            self.builders[i] = _Builder(self.threads, str(i))
            return token, None, error
        return (token, payload, None) if kind == "ok" else (token, None, payload)

    def cancel(self, tokens) -> None:
        pass  # the builders stop with the executor (tasks in flight are lost: a resume redoes them)

    def close(self) -> None:
        for b in self.builders:
            b.close(kill=bool(b.inflight))


class _LazyBuilders(_BuilderPool):
    """A :class:`_BuilderPool` whose processes start with its first task (a run whose sources
    are all held never starts them)."""

    def __init__(self, workers: int, threads: int):
        self.workers, self.threads = workers, threads
        self.builders = []
        self.failed = deque()
        self.n = 0

    def submit(self, units: list, settings: dict):
        if not self.builders:
            self.builders = [_Builder(self.threads, str(i)) for i in range(self.workers)]
        return super().submit(units, settings)


def _builder_main() -> None:
    """The loop of a builder process (:class:`_Builder`): read ``(units, settings)``, run
    :func:`run_units`, send ``("ok", results)`` (or ``("error", text)``)."""
    import signal
    from multiprocessing.connection import Connection

    fd_in, fd_out, parent = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides what an interrupt means
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(0)
    cin = Connection(fd_in, writable=False)
    cout = Connection(fd_out, readable=False)
    try:
        while True:
            try:
                data = cin.recv_bytes()
            except (EOFError, OSError):
                break
            units, settings = pickle.loads(data)
            try:
                msg = ("ok", run_units(units, settings))
            except Exception as e:  # a runner-side failure: the task's units are reported
                msg = ("error", f"builder: {type(e).__name__}: {e}")
            try:
                cout.send_bytes(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL))
            except (BrokenPipeError, OSError):
                break
    finally:
        _close_dask_boxes()
    os._exit(0)


def _probe(address: str) -> None:
    """Fail fast, with a clear message, when nothing listens at a tcp:// scheduler address."""
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(address if "://" in address else f"tcp://{address}")
    if u.scheme not in ("tcp", "tls"):
        raise UserError(f"--scheduler {address}: expected tcp://host:port (or 'local')")
    try:
        host, port = u.hostname, u.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise UserError(f"--scheduler {address}: expected tcp://host:port (or 'local')")
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as e:
        raise UserError(f"--scheduler {address}: cannot connect ({e.strerror or e})") from None


def make_executor(jobs: int | None = None, scheduler: str | None = None,
                  threads: int = 1) -> Executor:
    """The executor for ``-j N`` (0: in-process) and ``--scheduler``."""
    if scheduler:
        return DaskExecutor(scheduler, workers=jobs or 2)
    if jobs == 0:
        return InProcessExecutor()
    return PoolExecutor(jobs or (os.cpu_count() or 1), threads=threads)
