"""Work units: a generated source's members travel as descriptors (:class:`Unit`: family,
parameters, seed, index; never an instance) and are built, recorded, referenced, solved and
judged where they run, by :func:`run_units`: on a Dask worker
(:class:`~offbench.run.executors.DaskExecutor`) or in one of the pool's builder processes
(:class:`Builder`, fresh interpreters that run offbench's code only). :func:`run_unit_blocks`
drives either: it batches a block's members into tasks, keeps a bounded window of them in
flight, and hands what comes back to the run loop. Solvers run in sandboxes
(:class:`~offbench.run.sandbox.Sandbox`) owned by the worker or builder, several jobs per
message, the hard limit holding; the judgement (:func:`offbench.run.referee.judge`) is made here,
with the instance built here, never with the sandbox's copy.

Split out of :mod:`offbench.run.executors` (which keeps the executors themselves) when the
pool gained builder processes.

Where the pool's extra CPU per job goes (issue 14; dmro-v1, all-device, reference none, -j 2,
CPU of each process of the tree, marginal over 2,800 jobs, load 2-3): a builder 1.4-1.5 ms a
job (drawing the member 0.3-0.5, its record's JSON and digest 0.2, the all-device price for
the record 0.5 with the member's cost tables, the jobs' pickles to the sandbox 0.1-0.35, the
outcomes read back 0.15, judging 0.1), its sandbox 0.5-0.65 (loading the job with its
instance, building the cost tables again 0.25, the solve, the outcome as JSON, two messages),
the runner 0.15-0.2; in-process, 1.4 ms a job in all. The extra was then the sandbox's copy of
the work (the isolation the referee's trust rests on: it loaded its own instance and built its
own cost tables, where in-process copies the runner's; since shipping, below, it views a copy
of the builder's) and the messages between builder and sandbox (the job's pickle, the
``started`` stamp, the outcome's JSON).

Measured again with the instance and its tables shipped (:mod:`offbench.run.shipping`; dmro-v1,
all-device, reference none, -j 2, marginal over 8,000 jobs, load 3-4; the builder's phases by
process time in one builder replaying 64-member tasks): a builder 0.67 ms a job (drawing the
member 0.14, its record's JSON, digest and all-device price 0.27-0.34, packing and sending the
jobs 0.08, reading the two messages back with the outcome 0.06, judging 0.035), its sandbox
0.27 (the solve as in-process 0.17-0.2, unpacking 0.035, the outcome's JSON, two messages), the
runner 0.09: 1.03 ms in all, against 0.72 in-process. The 0.3 ms between them is the price of a
solver that runs apart from the referee (the instance sent, two stamped messages, the outcome
as JSON and checked, the rows sent on to the runner), so two workers give at most
2 x 0.72 / 1.03 = 1.4 times in-process on two cores. Tried and dropped:

- sending the builder's cost tables with each job, so that the sandbox does not build them
  again (packed by dtype, 30 kB a dmro-v1 member): the sandbox saved 0.07 ms a job and the
  builder spent 0.24 more (one builder and sandbox, 300-job slices alternated, medians of 6).
  Done since, differently (:mod:`offbench.run.shipping`: fields and tables as one block of
  bytes sent after the message's pickle, viewed in place by the sandbox, with the sandbox's
  messages read a few at a time, :attr:`~offbench.run.sandbox.Sandbox.GATHER`): the sandbox
  267 against 336 us a job, the builder 671 against 648, 1.03 against 1.07 ms in all;
- the ``started`` message read without waking the builder for it (a socket of its own, read
  with the outcome): not sending it at all saved at most 0.02 ms a job (one builder and its
  sandbox replaying 2,048-job slices: 615 against 623 us the builder, 327 against 342 the
  sandbox), within a run's noise, for a second channel to keep in step;
- tasks of 512 jobs and 0.5 s (:attr:`~offbench.run.executors.PoolExecutor.JOBS_PER_TASK`,
  ``TASK_SECONDS``) instead of 64 and 0.1 s, so that members are drawn in larger groups: one
  builder replaying a run's tasks spent 0.99 against 1.42 ms a job (256: 1.12-1.25), but the
  whole ``offbench run`` (4,000 jobs, -j 2, six runs each, alternated with the code before)
  spent the same CPU, 14.4-16.8 s against 14.2-15.5 s: no gain to show for a larger loss at
  a kill. Such tasks also showed that the runner and a builder could wait on each other for
  good (a task and a result each larger than a pipe's buffer: the runner writing the next
  task, the builder writing the last result; the run hung with no row): a builder now reads
  its tasks on a thread of its own (:func:`builder_main`). A dmro-v1 task of 64 jobs fits in
  a Linux pipe's 64 kB; larger members, parameters or stored references need not.

A block's members go to tasks grouped by environment (:func:`_grouped`): dmro-v1 takes its twelve
environments in turn, so a task of 64 consecutive members drew about five per environment
together; grouped, a task's members are mostly of one environment, drawn as one group. The
whole ``offbench run --family dmro-v1 --count 5000 --solver all-device --reference none -j 2``
(process tree, start-up included, load 5-6, alternated with the code before): 4.95 and 5.36
against 5.99 and 5.88 ms of CPU per job.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections import deque

from .plan import Job
from .sandbox import Sandbox, child_pipes, solver_key, spawn_child

#: Idle sandboxes of this Dask worker, by (worker thread, solver key); a task takes the one it
#: needs out while it runs, so :func:`close_sandboxes` never stops a job in flight (another
#: run's, say).
_DASK_BOXES: dict[tuple, Sandbox] = {}
_DASK_LOCK = threading.Lock()
#: Sandboxes kept per worker thread (one per solver key; the oldest is closed beyond this).
_DASK_KEEP = 3


def sandboxes_needed(block, references: bool) -> int:
    """How many sandboxes a task of this block's members needs at once: one per solver (ID,
    parameters, folders) of its templates, and one for references when they are on. A builder
    keeps :data:`_DASK_KEEP`; a block that needs more would start fresh interpreters for every
    task (the pool runs it job by job instead: :meth:`~offbench.run.executors.PoolExecutor.run_blocks`)."""
    keys = {(t.solver_id, t.param_hash, tuple(t.solver_dirs)) for t in block.templates}
    return len(keys) + (1 if references else 0)


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


def sandbox_task(job: Job):
    """What a Dask worker runs for one job: the job in this worker thread's sandbox of its
    solver (hard limit holds; :func:`_dask_group` of one job)."""
    (_, out), = list(_dask_group([job]))  # run to its end: the sandbox goes back to the pool
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
    from .sources import build_members

    results = []
    built = []
    _use_families_dirs(settings.get("families_dirs") or ())
    # Members of one family and seed are drawn together (Family.generate_many).
    for u, inst in zip(units, build_members([u.descriptor for u in units])):
        r = UnitResult(member=u.member)
        results.append(r)
        if isinstance(inst, Exception):  # a member that cannot be built: its jobs fail with the reason
            e = inst
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
            out = sandbox_task(job)
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
    # Each answer is judged here while the sandbox solves the next (its wall time is the
    # kernel's stamps of the sandbox's messages: judging beside it does not change it).
    for group in (sorted(groups.items(), key=lambda kv: kv[0])):
        owner = {id(job): r for job, r in group[1]}
        for job, out in _dask_group([job for job, _ in group[1]]):
            row = judged_row(job, out, settings["run_id"], refereed=True)
            job.instance = None
            owner[id(job)].rows.append((job, row, out.frames))
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


def close_sandboxes() -> int:
    """Stop this Dask worker's idle sandboxes (run on every worker when a run ends, so that
    none outlives it on a long-lived cluster, nor serves a later run with stale solver code)."""
    with _DASK_LOCK:
        boxes = list(_DASK_BOXES.values())
        _DASK_BOXES.clear()
    for box in boxes:
        box.close()
    return len(boxes)


def run_unit_blocks(ctx, blocks, tasks, *, window: int, jobs_per_task: int,
                    task_seconds: float | None = None, as_units=None) -> None:
    """Run the plan's blocks as tasks of :func:`run_units` (a generated source's members as
    descriptors, at most ``jobs_per_task`` jobs per task, at most ``window`` tasks in flight;
    ``tasks``: :class:`~offbench.run.executors._DaskUnits` or :class:`BuilderPool`), recording what comes back
    (:meth:`~offbench.run.loop._Context.units_done`); other sources' blocks (sets, files,
    streams: held in the runner) run job by job (:meth:`~offbench.run.loop._Context.run_block`).

    With ``task_seconds``, a task holds only as many jobs as take about that long (by the
    moving mean of the jobs' wall times, plus :data:`UNIT_JOB_OVERHEAD` each; the first tasks
    one member each), so that rows come back, and are committed, as steadily as from a pool of
    single jobs: a kill loses the tasks in flight, a few of these seconds of work.

    ``as_units(block)`` (default: always) says whether a generated source's block goes as
    tasks; a block it declines runs job by job, as a held source's."""
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
            if not block.source.lazy or (as_units is not None and not as_units(block)):
                drain(0)
                ctx.run_block(block)
                continue
            units = _grouped(block.source, ctx.units(block))
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


def _grouped(src, units: list) -> list:
    """A block's units with the members drawn together adjacent (by
    :meth:`~offbench.run.sources.Source.group_key`: a family's environment), each group in the
    plan's order, so that a task's members are drawn in large groups rather than a few per
    environment (dmro-v1 has twelve, taken in turn). Rows then come back group by group; a
    job's index, key and row are the same."""
    if len(units) < 2 or src.group_key(units[0].member) is None:
        return units
    groups: dict = {}
    for u in units:
        groups.setdefault(src.group_key(u.member), []).append(u)
    return [u for g in groups.values() for u in g]


#: What :func:`run_unit_blocks` counts per job beside its wall time when it sizes tasks (s):
#: building, recording and judging a small member.
UNIT_JOB_OVERHEAD = 0.001


class Builder:
    """A builder process of the pool (a fresh interpreter running :func:`builder_main`): it
    runs :func:`run_units` on the batches it is sent (builds the members, records them, runs
    their jobs in sandboxes of its own and judges them) and sends the results back. It runs
    offbench's code only (a solver runs in its sandboxes, never in it), so its judgement is
    the runner's; messages both ways are pickles, between trusted processes."""

    def __init__(self, threads: int, tag: str):
        self.proc, self.to_child, self.from_child = spawn_child(
            "offbench.run.units", "builder_main", threads)
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


class BuilderPool:
    """:func:`run_unit_blocks`' tasks on the pool's builder processes (:class:`Builder`),
    each task sent to the builder with the fewest in flight."""

    def __init__(self, workers: int, threads: int):
        self.threads = threads
        self.builders = [Builder(threads, str(i)) for i in range(workers)]
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
            self.builders[i] = Builder(self.threads, str(i))
            return token, None, error
        return (token, payload, None) if kind == "ok" else (token, None, payload)

    def cancel(self, tokens) -> None:
        pass  # the builders stop with the executor (tasks in flight are lost: a resume redoes them)

    def close(self) -> None:
        for b in self.builders:
            b.close(kill=bool(b.inflight))


class LazyBuilders(BuilderPool):
    """A :class:`BuilderPool` whose processes start as tasks need them: a new one (up to
    ``workers``) when every one started has a task in flight. A run whose sources are all held
    starts none, and a run of one task one (``-j 5`` on one instance started five)."""

    def __init__(self, workers: int, threads: int):
        self.workers, self.threads = workers, threads
        self.builders = []
        self.failed = deque()
        self.n = 0

    def submit(self, units: list, settings: dict):
        if len(self.builders) < self.workers and all(b.inflight for b in self.builders):
            self.builders.append(Builder(self.threads, str(len(self.builders))))
        return super().submit(units, settings)


def builder_main() -> None:
    """The loop of a builder process (:class:`Builder`): read ``(units, settings)``, run
    :func:`run_units`, send ``("ok", results)`` (or ``("error", text)``). Tasks are read by a
    thread as they arrive (at most the runner's window of them), so that the runner's write
    of one never waits on this process's write of a result."""
    import queue

    cin, cout = child_pipes()
    # Tasks are read as they come, by a thread of their own, so that the runner's write of a
    # task never waits for this process to finish writing results it is not reading yet (two
    # messages larger than a pipe's buffer, each way, would otherwise wait on each other).
    inbox: queue.Queue = queue.Queue()

    def read() -> None:
        while True:
            try:
                inbox.put(cin.recv_bytes())
            except (EOFError, OSError):
                inbox.put(None)
                return

    threading.Thread(target=read, name="offbench-builder-inbox", daemon=True).start()
    try:
        while True:
            data = inbox.get()
            if data is None:
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
        close_sandboxes()
    os._exit(0)
