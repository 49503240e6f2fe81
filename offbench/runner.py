"""``offbench run``: run specs, jobs, executors, and the run loop that fills the results store.

A **run spec** (TOML or YAML, or :func:`default_spec`) names instance sources, solvers with their
parameters, tracks, seeds and time limits. :func:`plan` expands it into **jobs**: pure functions
of (instance or frame stream, solver ID, validated parameters, seed, track, track settings), each
with a key that is unique in the store (:data:`offbench.store.KEY_COLUMNS`). :func:`run` then

1. records the run (spec, versions, machine) and every instance in the store;
2. computes the reference of each instance that still has jobs to do (SPEC.md section 6), once,
   as jobs of their own, and caches it in the store (a frozen set's own references are used as
   they are);
3. runs the solver jobs not yet in the store on an executor and appends one row per finished job,
   each in its own transaction, scored against its instance's reference.

Executors (all give identical quality columns; only wall times differ):

``in-process`` (``-j 0``)
    Jobs run one after another in this process. A job over its hard limit (``kill_after``) is
    interrupted by ``SIGALRM`` where that is possible (the main thread on POSIX), which stops
    Python code but cannot stop a long call inside compiled code: **in-process cannot hard-kill**;
    use the pool for untrusted solvers.
``pool`` (default, ``-j N``)
    N worker processes started by this one (``python -c ...``, fresh interpreters), each fed one
    job at a time over a pipe. A job over its hard limit has its worker killed (``SIGKILL``) and
    gets a ``timeout`` row; a worker that dies (a segfault, the OOM killer) gives an ``error`` row
    and is replaced. Workers die with the runner (``PR_SET_PDEATHSIG`` on Linux, end of input
    elsewhere).
``dask`` (``--scheduler tcp://host:port``, or ``--scheduler local`` for a local cluster)
    Each job is a Dask task; inside the Dask worker it runs in a sandbox process as in the pool,
    so the hard limit holds there too. Workers must be able to import offbench (the same version)
    and see the ``--solvers-dir`` folders at the same paths.

Time limits: ``time_limit`` is given to the solver, which must stop by it; a solver that returns
well after it (over ``1.5 * time_limit + 1 s``) gets status ``timeout``, keeping its decision.
``kill_after`` (default ``2 * time_limit + 10 s``) is the hard wall-clock limit described above.
The first job of each solver (ID and parameters) in each process is solved once untimed first
(with at most :data:`offbench.tracks.WARM_UP_TIME_LIMIT` seconds) and that answer discarded, so
imports and JIT compilation are neither measured as latency nor charged to the time limit; the
hard limit covers that warm-up and, afresh, the timed solve.

Resuming: the store holds each finished job in one committed transaction. Killing the runner at
any moment (``SIGINT``, ``SIGKILL``) loses only the jobs in flight; running the same command again
skips every job whose key is present and does the rest.

The run spec (every key but ``sources`` and ``solvers`` may be left out)::

    name = "my-benchmark"
    tracks = ["static"]            # static | online | generalization | adaptation
    seeds = [0, 1, 2]              # solver seeds (or: repetitions = 3)
    time_limit = 10.0              # seconds per solve (per frame on the learning tracks)
    kill_after = 30.0              # hard limit per job (default 2 * time_limit + 10)
    solvers_dirs = ["my_solvers"]  # extra solver files, relative to this file
    threads_per_job = 1            # BLAS/Numba/torch threads in each job
    reference = { mode = "auto", time_limit = 60.0 }   # "none": no references, no ratios
    online = { window = 50 }                  # final window of the online track
    generalization = { train_frames = 100 }   # frames learned from; the rest are held out
    adaptation = { window = 20 }              # frames after the switch that are averaged

    [[sources]]                    # instances: one table per source
    kind = "family"                # family | set | files | random | stream
    family = "capacitated-v1:small"
    seed = 0
    count = 16
    # kind = "set":    set = "dmro-v1/test" (a frozen set ID, or a folder); its references are used
    # kind = "files":  paths = ["dir/", "x.json", "more/*.npz"]
    # kind = "random": random_instance arguments (count, seed, n_devices, n_jobs, layers, ...)
    # kind = "stream": family = ID (environment, switch_at, switch_to), or random = {...}; frames

    [[solvers]]
    id = "local-search"            # an ID (local-search-v1) or a name (the latest version)
    params = { restarts = 8 }
    seeds = [0, 1, 2]              # overrides the top-level seeds (also time_limit, kill_after)
    sources = ["capacitated-v1:small"]   # only these sources (default: all)
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import hashlib
import math
import os
import pickle
import platform
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from .errors import UserError
from .store import DEFAULT_STORE, KEY_COLUMNS, Store, canonical_json


#: A solver that returns later than ``OVERRUN_FACTOR * time_limit + OVERRUN_SLACK`` seconds gets
#: status ``timeout``.
OVERRUN_FACTOR = 1.5
OVERRUN_SLACK = 1.0


from .run.spec import (_RANDOM_ARGS, SolverSpec, RunSpec, SpecError, apply_overrides, default_spec,  # noqa: F401
                       default_spec_path, load_spec_file, param_hash, parse_spec)


# ============================================================================== sources
@dataclass
class Source:
    """An expanded instance source: its instances (or a stream's frames) in order."""

    name: str
    kind: str
    spec: dict
    instances: list
    stream: bool
    references: dict | None = None  # digest -> reference dict (frozen sets)
    set_name: str | None = None

    def __post_init__(self):
        # An instance listed twice (a folder and a glob over it, say) is one instance: counted
        # twice it would weigh double in every statistic. A stream's frames may repeat.
        if not self.stream:
            first: dict[str, Any] = {}
            for inst in self.instances:
                first.setdefault(inst.digest, inst)
            self.instances = list(first.values())

    @property
    def digests(self) -> list[str]:
        return [i.digest for i in self.instances]

    @property
    def digest(self) -> str:
        """sha256 over the kind and the member digests in order."""
        text = ("stream:" if self.stream else "set:") + "\n".join(self.digests)
        return hashlib.sha256(text.encode()).hexdigest()


def expand_source(s: dict) -> Source:
    """Build the instances of one parsed source (see :func:`parse_spec`)."""
    kind = s["kind"]
    where = f"source {s['name']!r}"
    if kind == "random":
        insts = [_random(s["seed"] + i, s, f"{s['name']}-{i}", where) for i in range(s["count"])]
        return Source(s["name"], kind, s, insts, stream=False)
    if kind == "family":
        fam = _family(s["family"], where)
        insts = list(fam.instances(s["seed"], s["count"]))
        return Source(s["name"], kind, s, insts, stream=False)
    if kind == "set":
        try:
            from .instance_sets import load_set
        except ImportError as e:
            raise SpecError(f"{where}: instance sets need offbench.instance_sets, which cannot be "
                            f"imported here ({e})") from None
        try:
            iset = load_set(s["set"])
        except SpecError:
            raise
        except UserError as e:
            raise SpecError(f"{where}: {e}") from None
        refs = dict(getattr(iset, "references", None) or {})
        return Source(s["name"], kind, s, list(iset.instances), stream=False, references=refs,
                      set_name=iset.name)
    if kind == "files":
        from .instance import load_instance

        files: list[Path] = []
        for pat in s["paths"]:
            p = Path(pat)
            if p.is_dir():
                found = sorted([*p.glob("*.json"), *p.glob("*.npz")])
                if not found:
                    raise SpecError(f"{where}: {p}: no .json or .npz instance files in this folder")
                files += found
            elif any(ch in pat for ch in "*?["):
                found = sorted(Path(x) for x in glob.glob(pat))
                if not found:
                    raise SpecError(f"{where}: {pat}: matches no files")
                files += found
            elif p.is_file():
                files.append(p)
            else:
                raise SpecError(f"{where}: {p}: no such file or folder")
        insts = [load_instance(f) for f in files]
        return Source(s["name"], kind, s, insts, stream=False)
    if kind == "stream":
        if "family" in s:
            fam = _family(s["family"], where)
            if not hasattr(fam, "stream"):
                raise SpecError(f"{where}: family {s['family']} has no frame streams")
            kw = {k: s[k] for k in ("environment", "switch_at", "switch_to") if k in s}
            frames = list(fam.stream(s["seed"], s["frames"], **kw))
        else:
            frames = [_random(s["seed"] + i, s["random"], f"{s['name']}-{i}", where)
                      for i in range(s["frames"])]
        if len(frames) != s["frames"]:
            raise SpecError(f"{where}: asked for {s['frames']} frames, the stream gave {len(frames)}")
        _check_structure(frames, where)
        return Source(s["name"], kind, s, frames, stream=True)
    raise SpecError(f"{where}: unknown kind {kind!r}")


def _random(seed: int, args: dict, name: str, where: str):
    from .generators import random_instance

    kw = {k: args[k] for k in _RANDOM_ARGS if k in args}
    kw["layers"] = tuple(kw.get("layers", (1, 6)))
    try:
        return random_instance(seed, name=name, **kw)
    except ValueError as e:
        raise SpecError(f"{where}: {e}") from None


def _family(fid: str, where: str):
    try:
        from .families import get_family
    except ImportError as e:
        raise SpecError(f"{where}: instance families need offbench.families, which cannot be "
                        f"imported here ({e})") from None
    try:
        return get_family(fid)
    except SpecError:
        raise
    except UserError as e:
        raise SpecError(f"{where}: {e}") from None


def _check_structure(frames: list, where: str) -> None:
    import numpy as np

    f0 = frames[0]
    for k, f in enumerate(frames[1:], 1):
        if f.n_devices != f0.n_devices or not np.array_equal(f.layers_per_job, f0.layers_per_job):
            raise SpecError(f"{where}: frame {k} has another structure than frame 0 (devices, jobs "
                            "or layers per job differ); a stream's frames share one structure")


# ============================================================================== jobs and the plan
@dataclass
class Job:
    """One unit of work: a pure function of its fields (see the module docstring).

    ``kind`` is ``"solve"`` (one row in ``results``) or ``"reference"`` (one row in ``refs``).
    """

    kind: str
    index: int
    source: str
    digest: str
    track: str = "static"
    solver_id: str | None = None
    params: dict = field(default_factory=dict)
    param_hash: str = ""
    seed: int = 0
    track_config: dict = field(default_factory=dict)
    time_limit: float | None = None
    kill_after: float | None = None
    solver_dirs: tuple[str, ...] = ()
    threads: int = 1
    instance: Any = None
    frames: tuple | None = None
    reference: dict | None = None
    frame_refs: tuple | None = None
    score: bool = True

    @property
    def key(self) -> tuple:
        """The store key (:data:`offbench.store.KEY_COLUMNS` order)."""
        from . import __version__

        return (self.digest, self.solver_id, self.param_hash, self.seed, self.track,
                canonical_json(self.track_config), __version__)

    def __getstate__(self):
        # Instances travel without what was cached on them here (cost tables and the like):
        # only their fields (and digest), which is all a worker needs and much less to pickle.
        state = dict(self.__dict__)
        if self.instance is not None:
            state["instance"] = _lean(self.instance)
        if self.frames is not None:
            state["frames"] = tuple(_lean(f) for f in self.frames)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def label(self) -> str:
        if self.kind == "reference":
            return f"reference {self.source}:{self.digest[:8]}"
        return f"{self.solver_id} {self.track} {self.source}:{self.digest[:8]} seed {self.seed}"


def _lean(inst):
    """A copy of an Instance with its fields only (and its digest), without re-validating."""
    new = object.__new__(type(inst))
    for f in dataclasses.fields(inst):
        object.__setattr__(new, f.name, getattr(inst, f.name))
    if "digest" in inst.__dict__:
        new.__dict__["digest"] = inst.__dict__["digest"]
    return new


@dataclass
class Plan:
    """A spec expanded: its sources, every solve job, and the combinations left out (with why)."""

    spec: RunSpec
    sources: list[Source]
    jobs: list[Job]
    skipped: list[str]


def plan(spec: RunSpec) -> Plan:
    """Expand a spec into sources and solve jobs (references are planned by :func:`run`)."""
    sources = [expand_source(s) for s in spec.sources]
    jobs: list[Job] = []
    skipped: list[str] = []
    seen: set[tuple] = set()
    score = spec.reference["mode"] == "auto"
    for src in sources:
        for track in spec.tracks:
            if (track == "static") == src.stream:
                continue
            n = len(src.instances)
            if track == "generalization" and n <= spec.generalization["train_frames"]:
                skipped.append(f"{track} track on {src.name}: the stream has {n} frames, not more "
                               f"than generalization.train_frames = {spec.generalization['train_frames']}")
                continue
            if track == "adaptation" and "switch_at" not in src.spec:
                skipped.append(f"{track} track on {src.name}: the stream has no switch_at/switch_to")
                continue
            for sv in spec.solvers:
                if sv.sources is not None and src.name not in sv.sources:
                    continue
                ok, why = _can_run(sv, track)
                if not ok:
                    skipped.append(f"{sv.id} on {track} track ({src.name}): {why}")
                    continue
                tc = {"time_limit": sv.time_limit, "reference": spec.reference["mode"]}
                if track == "online":
                    tc.update(frames=n, window=spec.online["window"])
                elif track == "generalization":
                    tc.update(frames=n, train_frames=spec.generalization["train_frames"])
                elif track == "adaptation":
                    tc.update(frames=n, switch_at=src.spec["switch_at"],
                              window=spec.adaptation["window"])
                kill = sv.kill_after
                if kill is None and sv.time_limit is not None:
                    kill = 2 * sv.time_limit + 10.0
                    if track != "static":
                        kill = kill * n + 30.0
                members = [None] if src.stream else src.instances
                for inst in members:
                    for seed in sv.seeds:
                        job = Job(kind="solve", index=len(jobs), source=src.name,
                                  digest=src.digest if src.stream else inst.digest, track=track,
                                  solver_id=sv.id, params=sv.params, param_hash=sv.param_hash,
                                  seed=seed, track_config=tc, time_limit=sv.time_limit,
                                  kill_after=kill, solver_dirs=tuple(spec.solvers_dirs),
                                  threads=spec.threads_per_job, score=score,
                                  instance=None if src.stream else inst,
                                  frames=tuple(src.instances) if src.stream else None)
                        if job.key in seen:
                            continue
                        seen.add(job.key)
                        jobs.append(job)
    if not jobs:
        raise SpecError("run spec: no jobs: no solver can run on any track of any source "
                        + ("(" + "; ".join(skipped[:3]) + ")" if skipped else
                           "(the static track needs instance sources; the learning tracks need "
                           "a stream source)"))
    return Plan(spec, sources, jobs, skipped)


def _can_run(sv: SolverSpec, track: str) -> tuple[bool, str]:
    if track in sv.tracks:
        return True, ""
    if track != "static" and not sv.learns and "static" in sv.tracks:
        return True, ""  # a static solver runs on a stream as a per-frame baseline
    return False, f"its tracks are {', '.join(sv.tracks)}"


# ============================================================================== executing one job
_SOLVER_CACHE: dict[tuple, type] = {}
_WARMED: set[tuple] = set()
_THREADS_SET: list[int] = []


def solver_class(solver_id: str, solver_dirs: Sequence[str] = ()):
    """The solver class for a versioned ID, resolved once per process."""
    key = (solver_id, tuple(solver_dirs))
    cls = _SOLVER_CACHE.get(key)
    if cls is None:
        from .solver import resolve

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


def execute(job: Job, started: Callable[[], None] | None = None) -> dict:
    """Run one job here and return its outcome (a dict of plain values; never raises for a
    solver's failure or a runner error, which become ``status: error`` with the text).

    ``started()`` is called once everything is imported and the solver is built, right before
    the timed work: the hard limit counts from there.
    """
    _apply_threads(job.threads)
    try:
        if job.kind == "reference":
            from .reference import compute_reference

            if started is not None:
                started()
            ref = compute_reference(job.instance, time_limit=job.time_limit, seed=job.seed)
            return {"kind": "reference", "reference": ref.to_dict(), "worker": _worker_name()}
        from . import tracks

        cls = solver_class(job.solver_id, job.solver_dirs)
        warm = (job.solver_id, job.param_hash)
        if warm not in _WARMED:
            # The first job of a solver in this process is solved once untimed (imports and
            # JIT compilation stay out of the latency and the time limit); the answer is
            # discarded. The hard limit covers the warm-up and, afresh, the timed solve.
            if started is not None:
                started()
            tracks.warm_up(job, cls)
            _WARMED.add(warm)
        out = tracks.run_job(job, cls, started=started)
        out["worker"] = _worker_name()
        return out
    except Exception as e:  # a runner-side failure is recorded as the job's error, not raised
        import traceback

        text = f"{type(e).__name__}: {e}"
        if job.kind == "reference":
            return {"kind": "reference", "error": f"reference failed: {text}",
                    "worker": _worker_name(), "traceback": traceback.format_exc(limit=20)}
        return failed_outcome(job, "error", f"runner: {text}",
                              info={"traceback": traceback.format_exc(limit=20)})


def warm_up() -> None:
    """Import the cost model and load its compiled kernels (what every job needs first)."""
    import numpy as np

    from . import cost, solver, tracks  # noqa: F401
    from .generators import random_instance

    inst = random_instance(0, n_devices=1, n_jobs=1, layers=(2, 2))
    x = np.zeros((2, inst.n_layers), dtype=np.int8)
    cost.evaluate(inst, x[0])
    cost.evaluate_many(inst, x, with_feasibility=True, parallel=False)
    cost.evaluate_many(inst, x, with_feasibility=True, parallel=True)
    try:
        from . import reference  # noqa: F401
    except ImportError:
        pass


def failed_outcome(job: Job, status: str, error: str, *, wall_time: float = 0.0,
                   info: dict | None = None) -> dict:
    """The outcome of a job that produced no decision (killed, crashed, or failed to start)."""
    if job.kind == "reference":
        return {"kind": "reference", "error": error, "worker": None}
    return {"kind": "solve", "status": status, "decision": None, "cost": None, "feasible": None,
            "bound": None, "gap": None, "wall_time": wall_time, "evaluations": 0, "error": error,
            "info": info or {}, "frames": [], "ratio": None, "ref_cost": None,
            "counted_infeasible": None,
            "worker": None, "_score_missing": True}


class _HardTimeout(BaseException):
    """Raised by the in-process alarm; a BaseException so solvers' ``except Exception`` pass it."""


def execute_with_alarm(job: Job) -> dict:
    """:func:`execute` with the in-process hard limit (``SIGALRM``, best effort; see module doc)."""
    limit = job.kill_after
    if (limit is None or threading.current_thread() is not threading.main_thread()
            or not hasattr(signal, "setitimer")):
        return execute(job)

    def _alarm(signum, frame):
        raise _HardTimeout()

    old = signal.signal(signal.SIGALRM, _alarm)
    t0 = [time.perf_counter()]

    def started():
        t0[0] = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, limit)

    try:
        try:
            return execute(job, started)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _HardTimeout:
        elapsed = time.perf_counter() - t0[0]
        return _killed(job, elapsed, "SIGALRM in the runner process (in-process executor)")
    finally:
        signal.signal(signal.SIGALRM, old)


def _killed_text(job: Job) -> str:
    """The error text of a job stopped at its hard limit: the same on every executor (the
    measured time is the row's wall time; how it was stopped goes in ``info``)."""
    tl = "no time limit" if job.time_limit is None else f"time limit {job.time_limit:g} s"
    return f"stopped at the hard limit kill_after={job.kill_after:g} s ({tl}); no decision"


def _killed(job: Job, elapsed: float, how: str) -> dict:
    return failed_outcome(job, "timeout", _killed_text(job), wall_time=elapsed,
                          info={"stopped_by": how})


# ============================================================================== sandbox processes
class Sandbox:
    """One worker process that runs jobs sent over a pipe, in order, and that can be killed.

    The child is a fresh interpreter (``python -c``), so it imports solvers anew; its stdout goes
    to the parent's stderr (solver chatter never mixes with ``--jsonl`` output). Jobs sent are
    queued in :attr:`queue`; the head is the one running (or about to).
    """

    def __init__(self, threads: int = 1, tag: str = ""):
        from multiprocessing.connection import Connection

        r_job, w_job = os.pipe()
        r_res, w_res = os.pipe()
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            env.setdefault(var, str(threads))
        env["OFFBENCH_WORKER"] = tag or "1"
        src_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = src_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        code = "from offbench.runner import _worker_main; _worker_main()"
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, str(r_job), str(w_res), str(os.getpid())],
                pass_fds=(r_job, w_res), stdin=subprocess.DEVNULL, stdout=2, env=env,
                start_new_session=True)  # a terminal's Ctrl-C goes to the runner, not to workers
        finally:
            os.close(r_job)
            os.close(w_res)
        self.to_child = Connection(w_job, readable=False)
        self.from_child = Connection(r_res, writable=False)
        self.queue: deque[Job] = deque()
        self.head_since = 0.0           # when the head job became the head
        self.started_at: float | None = None  # when the head job started its timed work

    @property
    def job(self) -> Job | None:
        """The job running (or next to run), None when idle."""
        return self.queue[0] if self.queue else None

    def send(self, job: Job) -> None:
        if not self.queue:
            self.head_since = time.monotonic()
            self.started_at = None
        self.queue.append(job)
        self.to_child.send_bytes(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))

    def recv(self):
        """The next message: ``("started",)`` or ``("done", outcome)``; EOFError if it died.

        Keeps :attr:`queue` and the clocks in step with the child.
        """
        msg = pickle.loads(self.from_child.recv_bytes())
        if msg[0] == "started":
            if self.started_at is not None:  # the timed part after a warm-up: a fresh clock
                msg = ("restarted",)
            self.started_at = time.monotonic()
        elif msg[0] == "done":
            self.queue.popleft()
            self.head_since = time.monotonic()
            self.started_at = None
        return msg

    def deadline(self) -> float | None:
        """When the head job goes over its hard limit (counted from its start; before it starts,
        five minutes are allowed for imports), or None."""
        job = self.job
        if job is None or job.kill_after is None:
            return None
        if self.started_at is None:
            return self.head_since + job.kill_after + 300.0
        return self.started_at + job.kill_after

    def overdue(self, now: float) -> bool:
        d = self.deadline()
        return d is not None and now > d

    def elapsed(self, now: float) -> float:
        return now - (self.started_at if self.started_at is not None else self.head_since)

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

    def run_blocking(self, job: Job) -> dict:
        """Send one job and wait for its outcome, killing the child at the hard limit."""
        try:
            self.send(job)
        except (BrokenPipeError, OSError):
            return failed_outcome(job, "error", self.died_text())
        while True:
            d = self.deadline()
            timeout = 1.0 if d is None else max(0.01, min(1.0, d - time.monotonic()))
            if self.from_child.poll(timeout):
                try:
                    msg = self.recv()
                except (EOFError, OSError):
                    return failed_outcome(job, "error", self.died_text())
                if msg[0] == "done":
                    return msg[1]
            elif self.overdue(time.monotonic()):
                elapsed = self.elapsed(time.monotonic())
                self.kill()
                return _killed(job, elapsed, "SIGKILL of its worker process")


def _worker_main() -> None:
    """The loop of a sandbox child: read a job, announce it, run it, send the outcome."""
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
    warm_up()
    started_msg = pickle.dumps(("started",))

    def started():
        cout.send_bytes(started_msg)

    while True:
        try:
            data = cin.recv_bytes()
        except (EOFError, OSError):
            break
        job = pickle.loads(data)
        try:
            out = execute(job, started)
            cout.send_bytes(pickle.dumps(("done", out), protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            break
    os._exit(0)


# ============================================================================== executors
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

    def run(self, jobs: Sequence[Job], on_start: Callable[[Job], None]) -> Iterator[tuple[Job, dict]]:
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
                    dur = float(msg[1].get("wall_time") or 0.0)
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
            out = _killed(job, elapsed, "SIGKILL of its worker process")
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


def _dask_task(job: Job) -> dict:
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


# ============================================================================== provenance
def git_commit() -> str | None:
    """The commit of the offbench source tree (``+dirty`` with uncommitted changes), or None."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no", "--", "offbench", "solvers"],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def machine_info() -> dict:
    """What the provenance says about the machine."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    return {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
            "cpu": cpu, "cpus": os.cpu_count(), "memory_bytes": mem,
            "python": platform.python_version()}


LIBRARIES = ("numpy", "numba", "scipy", "pandas", "ortools", "cvxpy", "highspy", "torch",
             "dask", "distributed", "matplotlib")


def library_versions() -> dict:
    """Installed versions of the libraries results depend on (None where absent)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


# ============================================================================== the run loop
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
    from . import __version__
    from .progress import Progress

    t0 = time.perf_counter()
    pl = plan_ or plan(spec)
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
                if out.get("error"):
                    summary.reference_failures.append(f"{job.source}:{job.digest[:12]}: {out['error']}")
                    progress.finished(job, {"status": "error", "error": out["error"]})
                    continue
                store.add_reference(job.digest, out["reference"], origin="computed",
                                    settings={"time_limit": job.time_limit, "seed": job.seed},
                                    offbench_version=__version__)
                refs[job.digest] = store.references([job.digest])[job.digest]
                summary.references_computed += 1
                progress.finished(job, {"status": "reference", **out["reference"]})
        runnable = []
        for job in todo:
            if _attach_references(job, refs, spec):
                runnable.append(job)
            else:
                summary.dropped += 1
                progress.dropped(job)
        for job, out in executor.run(runnable, progress.started):
            row = _row(job, out, run_id, pl)
            store.add_result(row, out.get("frames") or ())
            summary.done += 1
            summary.statuses[row["status"]] = summary.statuses.get(row["status"], 0) + 1
            if row["status"] in ("error", "timeout"):
                summary.failed += 1
            if (row["info"] or {}).get("reference_violation") or any(
                    (f.get("error") or "").startswith("ReferenceViolation") for f in out.get("frames") or ()):
                summary.violations.append(f"{job.label()}: {row['error'] or 'in a frame'}")
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
    from .cost import all_device_cost

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
    from . import __version__

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


def _row(job: Job, out: dict, run_id: int, pl: Plan) -> dict:
    from . import __version__

    if out.pop("_score_missing", False):
        from .tracks import score_missing

        score_missing(job, out)
    row = dict(zip(KEY_COLUMNS, job.key))
    row.update({k: out.get(k) for k in ("status", "cost", "feasible", "ref_cost", "ratio",
                                         "counted_infeasible", "bound", "gap", "wall_time",
                                         "evaluations", "decision", "error", "worker")})
    row["params"] = job.params
    row["info"] = out.get("info") or {}
    row["track_config"] = job.track_config
    row["offbench_version"] = __version__
    row["run_id"] = run_id
    return row
