"""Executors: where jobs run. All give identical quality columns; only wall times differ.

``in-process`` (``-j 0``, :class:`InProcessExecutor`)
    Jobs run one after another in this process. A job over its hard limit (``kill_after``) is
    interrupted by ``SIGALRM`` where that is possible (the main thread on POSIX), which stops
    Python code but cannot stop a long call inside compiled code: **in-process cannot hard-kill**;
    use the pool for untrusted solvers.
``pool`` (default, ``-j N``, :class:`PoolExecutor`)
    N worker processes (:class:`~offbench.run.sandbox.Sandbox`, fresh interpreters), each fed
    one job at a time over a pipe. A job over its hard limit has its worker killed (``SIGKILL``)
    and gets a ``timeout`` row; a worker that dies gives an ``error`` row and is replaced.
``dask`` (``--scheduler tcp://host:port``, or ``local``, :class:`DaskExecutor`)
    Each job is a Dask task; inside the Dask worker it runs in a sandbox process as in the pool,
    so the hard limit holds there too. Workers must be able to import offbench (the same version)
    and see the ``--solvers-dir`` folders at the same paths.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections import deque
from typing import Any, Callable, Iterator, Sequence

from ..errors import UserError
from .execute import execute_with_alarm, failed_outcome, killed
from .plan import Job
from .sandbox import Sandbox


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
            # Solver chatter goes to stderr, as from a worker process: stdout may be --jsonl.
            with contextlib.redirect_stdout(sys.stderr):
                out = execute_with_alarm(job)
            yield job, out


class PoolExecutor(Executor):
    """A pool of :class:`Sandbox` processes (the default executor).

    Each worker gets one job at a time; while recent jobs are short (under
    :attr:`PREFETCH_BELOW` seconds on average) it gets a second one queued behind, so that it
    never waits for this process to write a row. Long jobs are never queued behind others.
    """

    name = "pool"
    PREFETCH_BELOW = 0.05

    def __init__(self, workers: int, threads: int = 1):
        if workers < 1:
            raise UserError(f"-j: expected a number of worker processes >= 1, got {workers}")
        self.workers = workers
        self.threads = threads
        self._boxes: list[Sandbox] = []
        self._mean = math.inf  # moving mean of job durations (seconds)

    def describe(self) -> str:
        return f"pool of {self.workers} worker process{'es' if self.workers != 1 else ''}"

    def close(self) -> None:
        boxes, self._boxes = self._boxes, []
        for b in boxes:
            if b.queue:
                b.kill()
            else:
                b.close()

    def run(self, jobs, on_start):
        from multiprocessing.connection import wait

        pending = deque(jobs)
        while len(self._boxes) < min(self.workers, max(len(pending), 1)):
            self._boxes.append(Sandbox(self.threads, tag=str(len(self._boxes))))
        while pending or any(b.queue for b in self._boxes):
            # Dispatch: idle workers first, then a second job where jobs are short.
            depth = 2 if self._mean < self.PREFETCH_BELOW else 1
            for want in range(1, depth + 1):
                for i, b in enumerate(self._boxes):
                    while pending and len(b.queue) < want:
                        job = pending.popleft()
                        try:
                            b.send(job)
                        except (BrokenPipeError, OSError):
                            b.queue.pop()
                            pending.appendleft(job)
                            yield from self._fail_head(i, pending, died=True)
                            break
            busy = {b.from_child: i for i, b in enumerate(self._boxes) if b.queue}
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
            pending.appendleft(j)
        self._boxes[i] = Sandbox(self.threads, tag=str(i))
        if out is not None:
            yield job, out


#: Idle sandboxes of this Dask worker, by worker thread; a task takes its thread's one out while
#: it runs, so :func:`_close_dask_boxes` never stops a job in flight (another run's, say).
_DASK_BOXES: dict[int, Sandbox] = {}
_DASK_LOCK = threading.Lock()


def _dask_task(job: Job):
    """What a Dask worker runs: the job in this worker thread's sandbox (hard limit holds)."""
    tid = threading.get_ident()
    with _DASK_LOCK:
        box = _DASK_BOXES.pop(tid, None)
    if box is None or box.proc.poll() is not None:
        box = Sandbox(job.threads, tag=f"dask-{tid}")
    try:
        out = box.run_blocking(job)
    except BaseException:
        box.kill()
        raise
    if box.proc.poll() is None and box.job is None:
        with _DASK_LOCK:
            _DASK_BOXES[tid] = box
    return out


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
