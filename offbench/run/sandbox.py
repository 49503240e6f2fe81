"""The worker sandbox: a fresh interpreter that runs jobs sent over a pipe, and can be killed.

The pool executor and each Dask task run jobs in a :class:`Sandbox`, so the hard limit
(``kill_after``) holds everywhere but in-process: a job over it has its sandbox killed
(``SIGKILL``) and gets a ``timeout`` row (a job stopped before its timed work began, in its
imports or untimed warm-up, makes the fresh sandboxes of its solver's later jobs skip the
warm-up, under no import allowance: :meth:`Sandbox.kill_head`); a sandbox that dies (a
segfault, the OOM killer) gives an ``error`` row. Sandboxes die with the runner (``PR_SET_PDEATHSIG`` on Linux, end of input
elsewhere; a builder's sandboxes die with the builder). :func:`_worker_main` is the child's
loop.

The child is untrusted (a solver's code runs in it): it sends its outcome as JSON
(:func:`~offbench.run.execute.outcome_to_wire`), never a pickle, and the parent measures the
solve's wall time itself (the outcome's :attr:`~offbench.tracks.Outcome.supervised_time`): from
the child's ``started`` message to its outcome, each as the kernel stamped it when the child sent
it (:func:`results_channel`), so that the parent's own work, its GIL and its place in the CPU
queue never enter the measurement. Jobs are sent without references
(:func:`~offbench.run.execute.sandbox_job`), each instance with its cost tables as one block of
bytes that the child views read-only (:mod:`offbench.run.shipping`: it builds no tables), one
per message or several in one
(:meth:`Sandbox.run_many`: each still announced, answered, timed and held to its hard limit
alone). A sandbox runs the jobs of one solver (ID and
parameters; :attr:`Sandbox.key`) only: the executors start a fresh one for the next solver.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from .execute import (SKIP_WARM_UP, execute, failed_outcome, import_allowance, killed,
                      note_stopped_before_start, outcome_from_wire, outcome_to_wire,
                      skips_warm_up, warm_up)
from .plan import Job
from .shipping import dumps as dumps_jobs
from .shipping import loads as loads_jobs
from .shipping import ship_jobs, unship


_HOST = platform.node() or "host"


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user and system, its threads and reaped children included) that process
    ``pid`` has used, from ``/proc/PID/stat``; None where that cannot be read (not Linux, gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        # fields after "pid (comm) ": state, ppid, ...; utime, stime, cutime, cstime are 14-17
        fields = data[data.rindex(b")") + 2:].split()
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def solver_key(job: Job) -> tuple:
    """What a sandbox is reserved for: one solver (ID, parameters, solver folders), or the
    reference jobs (offbench's own solvers)."""
    if job.kind == "reference":
        return ("reference",)
    return ("solve", job.solver_id, job.param_hash, tuple(job.solver_dirs))


class Sandbox:
    """One worker process that runs jobs sent over a pipe, in order, and that can be killed.

    The child is a fresh interpreter (``python -c``), so it imports solvers anew; its stdout goes
    to the parent's stderr (solver chatter never mixes with ``--jsonl`` output). Jobs sent are
    queued in :attr:`queue`; the head is the one running (or about to).
    """

    #: How long :meth:`run_many` lets a sandbox's messages gather before it reads them, while
    #: more than one of its jobs is queued (never past the head job's hard limit): it then
    #: wakes once for several short jobs rather than twice for each (a job's ``started`` and
    #: its outcome). Its wall times are the kernel's stamps of the messages (:meth:`recv`),
    #: however late they are read.
    GATHER = 0.002

    #: A head job still before its timed solve (in its imports, compilation or untimed warm-up,
    #: allowed ``kill_after`` + :data:`~offbench.run.execute.IMPORT_ALLOWANCE`) whose process
    #: used less than ``IDLE_CPU_SHARE`` of one core over the last ``IDLE_WINDOW`` seconds is
    #: hung, not compiling (a compile keeps a core busy, however slowly), and is stopped once
    #: past ``kill_after`` (:meth:`idle_in_allowance`): a solver that sleeps or blocks in its
    #: warm-up cost its first job ``kill_after`` + 300 s, now ``max(kill_after, 60 s)``. (Read
    #: from ``/proc``: elsewhere, the allowance only.)
    IDLE_WINDOW = 60.0
    IDLE_CPU_SHARE = 0.02

    def __init__(self, threads: int = 1, tag: str = ""):
        self.proc, self.to_child, self.from_child = spawn_child(
            "offbench.run.sandbox", "_worker_main", threads, {"OFFBENCH_WORKER": tag or "1"},
            results_socket=True)
        self._chunks: list[bytes] = []  # the parts of a message not yet complete
        self.queue: deque[Job] = deque()
        self.head_since = 0.0           # when the head job became the head (monotonic)
        self.started_at: float | None = None  # when the head job started its timed work (monotonic)
        self._started_stamp: float | None = None  # the same, as the kernel stamped it (see recv)
        self._forged = 0                # "started" messages past the head job's first (see recv)
        self.answered = 0               # jobs this sandbox answered (its first one warmed it up)
        self.key: tuple | None = None   # the solver this sandbox runs (None: no job yet)
        self._cpu_marks: deque = deque()  # (monotonic, CPU seconds) of the child, head's warm-up
        self._marks_head = None         # the head_since those marks belong to
        self._idle: tuple | None = None  # (window s, CPU s) when idle_in_allowance said so

    def fileno(self) -> int:
        """Readable when a message (or the end of the child's output) has arrived: for
        :func:`multiprocessing.connection.wait`."""
        return self.from_child.fileno()

    def poll(self, timeout: float) -> bool:
        """Whether a message has arrived, waiting up to ``timeout`` seconds."""
        import select

        r, _, _ = select.select([self.from_child], [], [], max(0.0, timeout))
        return bool(r)

    @property
    def job(self) -> Job | None:
        """The job running (or next to run), None when idle."""
        return self.queue[0] if self.queue else None

    def send(self, job: Job) -> None:
        """Queue a job (of this sandbox's solver: a sandbox never runs two solvers)."""
        key = solver_key(job)
        if self.key is None:
            self.key = key
        elif key != self.key:
            raise ValueError(f"a sandbox of {self.key} was sent a job of {key}")
        if not self.queue:
            self.head_since = time.monotonic()
            self.started_at = None
        self.queue.append(job)
        self.to_child.send_bytes(dumps_jobs(_told(ship_jobs([job]))[0]))

    def send_many(self, jobs) -> None:
        """Queue several jobs (of this sandbox's solver) in one message: the child runs them in
        order, announcing and answering each as :meth:`send`'s jobs (one message per job back,
        so that each is timed and held to its hard limit alone)."""
        if not jobs:
            return
        key = solver_key(jobs[0])
        if self.key is None:
            self.key = key
        for job in jobs:
            if solver_key(job) != self.key:
                raise ValueError(f"a sandbox of {self.key} was sent a job of {solver_key(job)}")
        if not self.queue:
            self.head_since = time.monotonic()
            self.started_at = None
        self.queue.extend(jobs)
        self.to_child.send_bytes(dumps_jobs(_told(ship_jobs(jobs))))

    def recv(self):
        """The next message: ``("started",)``, ``("done", outcome)``, or ``("partial",)`` (a part
        of a long message, or a message that changes nothing: nothing to do yet); EOFError if it
        died.

        Keeps :attr:`queue` and the clocks in step with the child; a solve outcome gets its
        measured :attr:`~offbench.tracks.Outcome.supervised_time`: the time between the
        kernel's stamps of the child's ``started`` message and of the outcome's last part
        (:func:`read_message`), so that neither this process's load nor when it gets round to
        reading changes it.
        """
        got = read_message(self.from_child, self._chunks)
        if got is None:
            return ("partial",)
        data, stamp = got
        now = time.monotonic()
        if data == b"S":
            if self.started_at is not None:
                # The child's wrapper announces a job once, before its solver runs; a second
                # "started" can only be the solver's own code writing to the results channel.
                # It used to restart the clock, so a solver could outlive its hard limit and
                # report any wall time. Ignored here, and the job's outcome is an error.
                self._forged += 1
                return ("partial",)
            # For the hard limit, the start as the kernel stamped it, on this process's
            # monotonic clock.
            self._started_stamp = stamp
            self.started_at = now - max(0.0, time.time() - stamp)
            return ("started",)
        job = self.queue.popleft()
        out = outcome_from_wire(job, data)
        if self._started_stamp is not None and hasattr(out, "supervised_time"):
            out.supervised_time = max(0.0, stamp - self._started_stamp)
        if self._forged and job.kind != "reference":
            out = failed_outcome(
                job, "error", f"the solver wrote to the runner's results channel ({self._forged} "
                f"'started' message(s) of its own, which would have restarted its clock)",
                wall_time=getattr(out, "supervised_time", 0.0) or 0.0)
        out.worker = f"{_HOST}:{self.proc.pid}"  # said by this process, not by the child
        self.answered += 1
        self.head_since = now
        self.started_at = self._started_stamp = None
        self._forged = 0
        return ("done", out)

    def deadline(self) -> float | None:
        """When the head job goes over its hard limit (counted from its start; before it starts,
        :data:`~offbench.run.execute.IMPORT_ALLOWANCE` more is allowed for imports, compilation
        and the untimed warm-up, none for a solver stopped before its start once:
        :func:`~offbench.run.execute.import_allowance`), or None."""
        job = self.job
        if job is None or job.kill_after is None:
            return None
        if self.started_at is None:
            return self.head_since + job.kill_after + import_allowance(job)
        return self.started_at + job.kill_after

    def overdue(self, now: float) -> bool:
        d = self.deadline()
        return (d is not None and now > d) or self.idle_in_allowance(now)

    def idle_in_allowance(self, now: float) -> bool:
        """Whether the head job, past ``kill_after`` but not yet started (inside its import
        allowance), sat idle: its process used less than :attr:`IDLE_CPU_SHARE` of a core over
        the last :attr:`IDLE_WINDOW` seconds (sampled at most every 0.25 s from one second
        after the head's start, so that short jobs never read ``/proc``)."""
        job = self.job
        if job is None or job.kill_after is None or self.started_at is not None \
                or now - self.head_since < 1.0:  # (no /proc read on a short job's path)
            return False
        if self._marks_head != self.head_since:
            self._cpu_marks.clear()
            self._marks_head = self.head_since
        marks = self._cpu_marks
        if marks and now - marks[-1][0] < 0.25:
            return False
        cpu = process_cpu_seconds(self.proc.pid)
        if cpu is None:
            return False
        marks.append((now, cpu))
        while len(marks) > 2 and marks[1][0] <= now - self.IDLE_WINDOW:
            marks.popleft()
        t0, c0 = marks[0]
        if now <= self.head_since + job.kill_after or now - t0 < self.IDLE_WINDOW:
            return False
        if cpu - c0 < self.IDLE_CPU_SHARE * (now - t0):
            self._idle = (now - t0, cpu - c0)
            return True
        return False

    def elapsed(self, now: float) -> float:
        return now - (self.started_at if self.started_at is not None else self.head_since)

    def kill_head(self, now: float):
        """Kill the child, its head job over its hard limit, and return that job's outcome (the
        job stays in :attr:`queue`). A job stopped before its timed work began (in its imports
        or untimed warm-up) says so, with the time it had, and its solver is remembered in this
        process (:func:`~offbench.run.execute.note_stopped_before_start`): the fresh sandboxes
        for its later jobs are told to skip the warm-up (:func:`_told`), and get no allowance."""
        job = self.job
        elapsed = self.elapsed(now)
        early = self.started_at is None
        allowance = import_allowance(job) if early else 0.0
        idle, self._idle = (self._idle if early else None), None
        self.kill()
        if early and not self.answered:  # (a sandbox that answered a job had warmed up)
            note_stopped_before_start(job)
        return killed(job, elapsed, "SIGKILL of its worker process", started=not early,
                      allowance=allowance, idle=idle)

    def kill(self) -> None:
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        self.proc.wait()
        self._close_pipes()

    def close(self) -> None:
        """Ask the child to exit (end of input); kill it if it does not within a few seconds."""
        try:
            self.to_child.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for c in (self.to_child, self.from_child):
            try:
                c.close()
            except OSError:
                pass

    def died_text(self) -> str:
        code = self.proc.poll()
        if code is None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            code = self.proc.returncode
        sig = ""
        if code is not None and code < 0:
            try:
                sig = f" ({signal.Signals(-code).name})"
            except ValueError:
                pass
        return f"worker process died (exit status {code}{sig}) while running this job; no decision"

    def run_many(self, jobs):
        """Send jobs of this sandbox's solver in one message (:meth:`send_many`) and yield
        ``(job, outcome)`` as each finishes, killing the child when a job goes over its hard
        limit. A job whose sandbox was killed or died ends the iteration (its outcome yielded
        last): the jobs after it are left in :attr:`queue`, to be sent to a fresh sandbox."""
        try:
            self.send_many(list(jobs))
        except (BrokenPipeError, OSError):
            job = self.queue[0] if self.queue else jobs[0]
            yield job, failed_outcome(job, "error", self.died_text())
            return
        while self.queue:
            job = self.job
            d = self.deadline()
            ready = self.poll(0)
            if not ready:
                now = time.monotonic()
                if len(self.queue) > 1 and self.GATHER > 0:
                    # More jobs queued behind the head: let their messages gather (a short
                    # job's two arrive within a millisecond), then read them one after another.
                    time.sleep(self.GATHER if d is None else max(0.0, min(self.GATHER, d - now)))
                    now = time.monotonic()
                timeout = 1.0 if d is None else max(0.01, min(1.0, d - now))
                ready = self.poll(timeout)
            if ready:
                try:
                    msg = self.recv()
                except (EOFError, OSError):
                    self.queue.popleft()
                    yield job, failed_outcome(job, "error", self.died_text())
                    return
                if msg[0] == "done":
                    yield job, msg[1]
            elif self.overdue(time.monotonic()):
                out = self.kill_head(time.monotonic())
                self.queue.popleft()
                yield job, out
                return

    def run_blocking(self, job: Job):
        """Send one job and wait for its outcome, killing the child at the hard limit."""
        (_, out), = list(self.run_many([job]))  # one outcome, whatever happens: see run_many
        return out


def _told(shipped: list) -> list:
    """The sandbox's copies of jobs, each of a solver that gets no warm-up marked so
    (:data:`~offbench.run.execute.SKIP_WARM_UP`): the child, a fresh interpreter, would warm
    it up again otherwise, under no allowance now."""
    for sj in shipped:
        if skips_warm_up(sj):
            setattr(sj, SKIP_WARM_UP, True)
    return shipped


def spawn_child(module: str, function: str, threads: int, extra_env: dict | None = None, *,
                results_socket: bool = False):
    """Start ``module.function()`` in a fresh interpreter (its own session, so that a
    terminal's Ctrl-C goes to the runner only; its stdout to our stderr), connected by two
    pipes, with ``threads`` threads for the numeric libraries unless the environment sets them.
    Returns ``(proc, to_child, from_child)``; the child side is :func:`child_pipes`. Used by
    :class:`Sandbox` and by the pool's builder processes (:class:`offbench.run.units.Builder`).

    With ``results_socket``, what the child sends comes over a socket of messages whose arrival
    the kernel stamps (:func:`results_channel`; ``from_child`` is that socket, read with
    :func:`read_message`; the child writes with :func:`send_message`)."""
    from multiprocessing.connection import Connection

    r_job, w_job = os.pipe()
    if results_socket:
        parent_end, child_end = results_channel()
        r_res, w_res = None, child_end.detach()
    else:
        r_res, w_res = os.pipe()
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env.setdefault(var, str(threads))
    env.update(extra_env or {})
    src_root = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = src_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    code = f"from {module} import {function}; {function}()"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(r_job), str(w_res), str(os.getpid())],
            pass_fds=(r_job, w_res), stdin=subprocess.DEVNULL, stdout=2, env=env,
            start_new_session=True)  # a terminal's Ctrl-C goes to the runner, not to workers
    finally:
        os.close(r_job)
        os.close(w_res)
    if results_socket:
        return proc, Connection(w_job, readable=False), parent_end
    return proc, Connection(w_job, readable=False), Connection(r_res, writable=False)


#: The clock the kernel stamps a message with when it is sent (Linux: ``SO_TIMESTAMPNS``).
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform.startswith("linux") else None)
#: Bytes of a message per socket record (a record is at most the socket's buffer).
CHUNK = 32768


def results_channel() -> tuple:
    """A pair of connected sockets for a sandbox's messages: ``(parent_end, child_end)``.

    Records keep their boundaries (``SOCK_SEQPACKET``), and on Linux the kernel stamps each
    record with the time it was **sent** (``SO_TIMESTAMPNS`` on the parent's end, read by
    :func:`read_message`): the wall time of a solve is then the time between two moments of
    the child's, taken by the kernel, whatever the parent is doing (busy judging the job
    before, holding the GIL, or not scheduled on a loaded machine) when they arrive. Elsewhere
    each message is stamped when this process reads it."""
    kind = getattr(socket, "SOCK_SEQPACKET", None)
    try:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, kind)
    except (OSError, TypeError):  # no SOCK_SEQPACKET for AF_UNIX here: datagrams keep them too
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    if _SO_TIMESTAMPNS is not None:
        try:
            parent_end.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        except OSError:
            pass
    return parent_end, child_end


def send_message(sock, data: bytes) -> None:
    """Send one message as records of at most :data:`CHUNK` bytes, each headed ``M`` (more
    follow) or ``E`` (the last)."""
    view = memoryview(data)
    for at in range(0, max(len(data), 1), CHUNK):
        part = view[at:at + CHUNK]
        sock.sendall((b"E" if at + CHUNK >= len(data) else b"M") + part)


_TS = struct.Struct("qq")


def read_message(sock, chunks: list):
    """Read one record of :func:`send_message`'s: ``(data, stamp)`` when it completes a message
    (``stamp``: when its last record was sent, as ``time.time()``; the kernel's stamp where
    there is one), None when more records are to come (kept in ``chunks``). EOFError when the
    child closed its end. A record that is not one of :func:`send_message`'s makes the message
    malformed (its job's error)."""
    data, anc, flags, _ = sock.recvmsg(CHUNK + 1, socket.CMSG_SPACE(_TS.size))
    if not data:
        raise EOFError("the sandbox closed its output")
    stamp = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(payload) >= _TS.size:
            sec, ns = _TS.unpack(payload[:_TS.size])
            stamp = sec + ns * 1e-9
    if stamp is None:
        stamp = time.time()
    head, body = data[:1], data[1:]
    if flags & getattr(socket, "MSG_TRUNC", 0) or head not in (b"M", b"E"):
        chunks.clear()
        return b"?malformed record", stamp
    chunks.append(body)
    if head == b"M":
        return None
    out = b"".join(chunks)
    chunks.clear()
    return out, stamp


def child_pipes(results_socket: bool = False):
    """The child side of :func:`spawn_child`: ignore SIGINT (the runner decides what an
    interrupt means), die with the parent (Linux), exit at once if the parent is already gone,
    and return the two connections ``(from_parent, to_parent)`` (``to_parent``: the results
    socket, with ``results_socket``)."""
    from multiprocessing.connection import Connection

    fd_in, fd_out, parent = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(0)
    if results_socket and stat.S_ISSOCK(os.fstat(fd_out).st_mode):
        return Connection(fd_in, writable=False), socket.socket(fileno=fd_out)
    # (a pipe where a socket was expected: a runner started before this code was installed)
    return Connection(fd_in, writable=False), Connection(fd_out, readable=False)


def _worker_main() -> None:
    """The loop of a sandbox child: read a job, announce it, run it, send the outcome (each
    message a :func:`send_message` on the results socket, stamped by the kernel as it goes)."""
    cin, cout = child_pipes(results_socket=True)
    if isinstance(cout, socket.socket):
        def send(data: bytes) -> None:
            send_message(cout, data)
    else:
        send = cout.send_bytes
    warm_up()

    def started():
        send(b"S")

    while True:
        try:
            data = cin.recv_bytes()
        except (EOFError, OSError):
            break
        jobs = loads_jobs(data)
        try:
            for job in (jobs if isinstance(jobs, list) else [jobs]):
                unship(job)
                out = execute(job, started)
                send(outcome_to_wire(out))
        except (BrokenPipeError, OSError):
            break
    os._exit(0)
