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
    (:class:`Builder`: fresh interpreters that run offbench's code only) in tasks of members
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
    row (one stopped before its timed solve began, in its imports or untimed warm-up, makes
    its solver's later jobs run without a warm-up and without the import allowance:
    :func:`~offbench.run.execute.note_stopped_before_start`, remembered by the process that
    supervises the sandboxes, as in-process); a worker that dies gives an ``error`` row and is
    replaced. A builder that dies (killed
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
import sys
import time
from collections import deque
from typing import Any, Callable, Iterator, Sequence

from ..errors import UserError
from .execute import (alarm_usable, execute_with_alarm, failed_outcome, install_alarm,
                      restore_alarm, sandbox_job)
from .plan import Job
from .sandbox import Sandbox, solver_key
from .units import _DASK_KEEP as SANDBOXES_KEPT
from .units import (LazyBuilders, close_sandboxes, run_unit_blocks, run_units, sandbox_task,
                    sandboxes_needed)


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

        from ..progress import solver_output

        # The alarm's handler is installed once for these jobs (each job arms its timer only
        # while it runs) and restored when they are done, or the caller stops early.
        installed = bool(jobs) and alarm_usable()
        old = install_alarm() if installed else None  # None too for a handler not set from Python
        try:
            for job in jobs:
                on_start(job)
                stamps: list[float] = []
                # Solver chatter goes to stderr, as from a worker process: stdout may be --jsonl.
                with contextlib.redirect_stdout(solver_output()):
                    out = execute_with_alarm(sandbox_job(job, copy=True), stamps)
                    end = time.perf_counter()
                if stamps and hasattr(out, "supervised_time"):
                    out.supervised_time = end - stamps[-1]
                yield job, out
        finally:
            if installed:
                restore_alarm(old)


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
        most = max(64, 4 * (os.cpu_count() or 1))
        if workers > most:
            raise UserError(f"-j {workers}: at most {most} worker processes here (4 per CPU, and "
                            "at least 64): each is an interpreter of its own, and solvers "
                            "competing for fewer CPUs are timed slower")
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
        to :attr:`workers` builder processes (:class:`Builder`), which build, record,
        reference, solve (in sandboxes of their own, one solver each, hard limit holding) and
        judge them (:func:`run_units`, as a Dask worker does), so that the runner only writes
        rows and the work spreads over the workers; other sources' blocks (sets, files,
        streams: held here) run job by job on this pool's sandboxes (:meth:`run`), and so do a
        generated source's blocks whose jobs need more sandboxes at once than a builder keeps
        (:func:`~offbench.run.units.sandboxes_needed`: more than two solvers with references
        on, more than three without): a builder would start a fresh interpreter for most of
        their tasks (measured: 64 dmro-v1 members x 5 solvers on -j 2 took 24.8 s that way,
        5.4 s job by job, where each worker moves from solver to solver once per block)."""
        if self._builders is None:
            self._builders = LazyBuilders(self.workers, self.threads)
        run_unit_blocks(ctx, blocks, self._builders,
                        window=max(2, self.TASKS_PER_WORKER * self.workers),
                        jobs_per_task=self.JOBS_PER_TASK, task_seconds=self.TASK_SECONDS,
                        as_units=lambda b: sandboxes_needed(b, ctx.references_on) <= SANDBOXES_KEPT)

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

    def run(self, jobs, on_start):
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
        if died:
            out = failed_outcome(job, "error", b.died_text()) if job is not None else None
        else:
            out = b.kill_head(now)
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
                self.client.run(close_sandboxes)
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
            fut = self.client.submit(sandbox_task, job, key=f"offbench-{job.kind}-{job.index}-{tag}",
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
