"""Progress of ``offbench run``: a bar for people, JSON lines for scripts, or silence.

Modes
-----
``auto``
    A bar on stderr when stderr is a terminal; otherwise the plan and the summary lines only.
``bar``
    The bar even when stderr is not a terminal (``--progress``).
``quiet``
    Nothing but problems (``--quiet``).
``jsonl``
    One JSON object per line on stdout (``--jsonl``): ``{"event": "plan", ...}`` first (its
    ``to_run``, ``already_in_store`` and ``references`` null where the run finds them as it goes,
    as every run does now: the summary has the counts), then
    ``{"event": "job", ...}`` for every finished job (``"kind": "reference"`` or ``"solve"``),
    then ``{"event": "summary", ...}``. The bar and the tables stay off stdout.

The header counts solve jobs and reference jobs apart, and the bar counts both. Until the first
job finishes the bar says that the workers are starting and compiling (Numba compiles the cost
kernels once per change of offbench's sources: about a minute on two cores; then they load from
its cache). The ETA is measured from the times between the latest finished jobs (a window of
:data:`ETA_WINDOW`), never from the compile phase, and is shown once :data:`ETA_MIN_JOBS` jobs
have finished after it.
"""

from __future__ import annotations

import json
import math
import sys
import time

from ._json import clean  # JSON for programs: NaN and infinities become null

MODES = ("auto", "bar", "quiet", "jsonl")

#: The ETA is the remaining jobs times the mean time between the latest finished jobs (at most
#: this many), shown once this many (:data:`ETA_MIN_JOBS`) have finished after the first.
ETA_WINDOW = 64
ETA_MIN_JOBS = 4


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Receives the run's events and shows them (see the module docstring).

    Parameters
    ----------
    mode : {"auto", "bar", "quiet", "jsonl"}
    err, out : file, optional
        Where the bar and messages go (default ``sys.stderr``), and the JSON lines
        (default ``sys.stdout``).
    interval : float
        Least seconds between two redraws of the bar.
    """

    #: Failed jobs shown one line each; beyond that, one line says more are in the store.
    MAX_FAILURE_LINES = 20

    def __init__(self, mode: str = "auto", *, err=None, out=None, interval: float = 0.2):
        if mode not in MODES:
            raise ValueError(f"progress mode must be one of {MODES}, got {mode!r}")
        self.err = err or sys.stderr
        self.out = out or sys.stdout
        if mode == "auto":
            isatty = getattr(self.err, "isatty", lambda: False)
            mode = "bar" if isatty() else "lines"
        self.mode = mode
        self.interval = interval
        self.total = 0
        self.done = 0
        self.failed = 0
        self.running = 0
        self.already = 0
        self.t0 = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False
        self._last_label = ""
        self._closed = False
        self._finish_times: list[float] = []

    # ------------------------------------------------------------------ events
    def plan(self, *, total: int, already: int, plan, executor: str, references: int,
             as_found: bool = False) -> None:
        """The run is about to start ``total`` jobs (``references`` of them references).

        ``as_found``: the jobs already in the store and the references to compute are found as
        the run reaches them (:meth:`present`, :meth:`more`), not counted yet."""
        self.total, self.already = total, already
        self.t0 = time.monotonic()
        n_jobs = plan.n_jobs if hasattr(plan, "n_jobs") else len(plan.jobs)
        sizes = [s.count if hasattr(s, "count") else len(s.instances) for s in plan.sources]
        n_inst = sum(sizes)
        if self.mode == "jsonl":
            # With as_found, what the store holds is found as the run reaches it: not known
            # yet (null), never a count of 0 that a finished store contradicts; the summary
            # event has the counts.
            self._json({"event": "plan", "jobs": n_jobs,
                        "to_run": None if as_found else total - references,
                        "already_in_store": None if as_found else already,
                        "references": None if as_found else references,
                        "sources": [{"name": s.name, "kind": s.kind, "instances": n,
                                     "digest": s.digest if getattr(s, "digest_known", True) else None}
                                    for s, n in zip(plan.sources, sizes)],
                        "solvers": [s.id for s in plan.spec.solvers], "tracks": plan.spec.tracks,
                        "executor": executor, "left_out": plan.skipped})
            return
        if self.mode == "quiet":
            return
        counts = ("jobs already in the store are skipped and missing references computed as "
                  "the run reaches them" if as_found else
                  f"{already} already in the store; {total} jobs to run, {references} of them "
                  "reference jobs")
        self._say(f"offbench run: {n_jobs} solve jobs ({n_inst} instances from "
                  f"{len(plan.sources)} source{'s' if len(plan.sources) != 1 else ''}, "
                  f"{len(plan.spec.solvers)} solvers, tracks {', '.join(plan.spec.tracks)}); "
                  f"{counts}; {executor}")
        for s in plan.skipped:
            self._say(f"  left out: {s}")

    def present(self, n: int) -> None:
        """``n`` planned jobs were found in the store already (a resumed run finds them block
        by block, as it goes): they leave the count of jobs to run."""
        self.already += n
        self.total = max(0, self.total - n)
        self._draw()

    def more(self, n: int) -> None:
        """``n`` reference jobs join the jobs to run (found block by block, as the run goes)."""
        self.total += n
        self._draw()

    def started(self, job) -> None:
        self.running += 1
        self._last_label = job.label()
        self._draw()

    def finished(self, job, row: dict) -> None:
        self.running = max(0, self.running - 1)
        self.done += 1
        self._finish_times.append(time.monotonic())
        del self._finish_times[:-ETA_WINDOW - 1]
        status = row.get("status")
        if status in ("error", "timeout"):
            self.failed += 1
        if self.mode == "jsonl":
            if job.kind == "reference":
                self._json({"event": "job", "kind": "reference", "source": job.source,
                            "instance": job.digest, "status": "error" if status == "error" else "ok",
                            "provenance": row.get("provenance"), "cost": row.get("cost"),
                            "error": row.get("error")})
            else:
                self._json({"event": "job", "kind": "solve", "source": job.source,
                            "instance": job.digest, "solver": job.solver_id, "params": job.params,
                            "seed": job.seed, "track": job.track, "status": status,
                            "cost": row.get("cost"), "ratio": row.get("ratio"),
                            "feasible": row.get("feasible"), "wall_time": row.get("wall_time"),
                            "evaluations": row.get("evaluations"), "error": row.get("error")})
            return
        if status in ("error", "timeout") and self.mode in ("bar", "lines"):
            if self.failed <= self.MAX_FAILURE_LINES:
                what = job.label()
                err = (row.get("error") or "").splitlines()[0][:200] if row.get("error") else ""
                self._say(f"  {status}: {what}: {err}")
            elif self.failed == self.MAX_FAILURE_LINES + 1:
                self._say("  (more failures are not shown; every one is a row in the store: "
                          "offbench leaderboard --rows FILE lists them)")
        self._draw()

    def dropped(self, job, why: str = "no reference for its instance") -> None:
        """A job not run: its instance has no reference (the reference failed), or ``why``."""
        self.total = max(0, self.total - 1)
        if self.mode in ("bar", "lines"):
            self._say(f"  not run ({why}): {job.label()}")

    def close(self, summary) -> None:
        """The run ended: the summary line (or JSON object)."""
        if self.mode == "jsonl":
            self._json({"event": "summary", **summary.to_dict()})
            return
        self._clear()
        self._closed = True
        if self.mode == "quiet":
            for f in summary.reference_failures:
                self._say(f"offbench run: reference failed: {f}")
            for v in summary.violations:
                self._say(f"offbench run: BUG: a cost below a proven optimum: {v}")
            for f in getattr(summary, "task_failures", ()):
                self._say(f"offbench run: not run: {f}")
            return
        st = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items()))
        msg = (f"offbench run: {summary.done} jobs run in {summary.wall_time:.1f} s"
               f"{f' ({st})' if st else ''}; {summary.already} were already in the store; "
               f"{summary.references_computed} references computed; store {summary.store}")
        self._say(msg)
        for f in summary.reference_failures:
            self._say(f"  reference failed: {f}")
        for v in summary.violations:
            self._say(f"  BUG: a cost below a proven optimum: {v}")
        for f in getattr(summary, "task_failures", ()):
            self._say(f"  not run: {f}")
        flagged = getattr(summary, "flagged", [])
        if flagged:
            self._say(f"  {len(flagged)} rows flagged by the referee (scored at the all-device "
                      f"fallback), e.g. {flagged[0]}")
        if getattr(summary, "unrefereed", []):
            self._say("  UNREFEREED: an in-process run (-j 0) with solvers from outside offbench ("
                      + ", ".join(summary.unrefereed[:5]) + "); its rows are stored with "
                      "refereed = 0: use the pool (-j N) to referee them")
        if summary.dropped:
            self._say(f"  {summary.dropped} jobs not run for want of a reference; run the same "
                      "command again to retry")

    # ------------------------------------------------------------------ output
    def eta(self) -> float:
        """Seconds left, from the mean time between the latest finished jobs (``inf`` until
        :data:`ETA_MIN_JOBS` jobs have finished after the first one: the first one carries the
        compile phase)."""
        ft = self._finish_times
        if self.done >= self.total:
            return 0.0
        if len(ft) < ETA_MIN_JOBS + 1:
            return math.inf
        per_job = (ft[-1] - ft[0]) / (len(ft) - 1)
        return per_job * (self.total - self.done)

    def bar_text(self, width: int = 24) -> str:
        """The bar line (without redrawing)."""
        total = max(self.total, 1)
        frac = min(1.0, self.done / total)
        filled = int(round(frac * width))
        elapsed = time.monotonic() - self.t0
        if self.done == 0 and self.total:
            return (f"[{'.' * width}] 0/{self.total} done; starting workers and compiling "
                    f"(Numba kernels compile once per change of offbench: about a minute), "
                    f"elapsed {_hms(elapsed)}")
        eta = self.eta()
        return (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} done, "
                f"{self.running} running, {self.failed} failed, "
                f"elapsed {_hms(elapsed)}, ETA {_hms(eta)}")

    def _draw(self, force: bool = False) -> None:
        if self.mode != "bar" or self._closed:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self.interval and self.done < self.total:
            return
        self._last_draw = now
        line = self.bar_text()
        label = self._last_label[:40]
        self.err.write("\r\x1b[2K" + line + (f" | {label}" if label else ""))
        self.err.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.err.write("\r\x1b[2K")
            self.err.flush()
            self._drawn = False

    def _say(self, text: str) -> None:
        self._clear()
        self.err.write(text + "\n")
        self.err.flush()
        if self.mode == "bar":
            self._draw(force=True)

    def _json(self, obj: dict) -> None:
        self.out.write(json.dumps(clean(obj), allow_nan=False, sort_keys=False) + "\n")
        self.out.flush()


#: The open :class:`SolverLog` streams for in-process solvers' Python output, innermost last.
_SOLVER_OUTPUT: list = []


def solver_output():
    """Where an in-process solver's Python output goes: the innermost :class:`SolverLog`'s log,
    or ``sys.stderr`` outside one (``--verbose``, or a captured stderr)."""
    return _SOLVER_OUTPUT[-1] if _SOLVER_OUTPUT else sys.stderr


class SolverLog:
    """Solver output (native libraries' banners included) goes to a log file, not the terminal.

    Within ``with SolverLog(path):`` the process's file descriptor 2 (inherited by every worker
    process started inside) writes to ``path``, while ``sys.stderr`` (offbench's own messages
    and the progress bar) still reaches the terminal. The log is removed at the end if nothing
    was written to it; :attr:`written` says whether something was. ``offbench run --verbose``
    does not use it: everything reaches the terminal.
    """

    def __init__(self, path):
        from pathlib import Path

        self.path = Path(path)
        self.written = False

    def __enter__(self):
        import os

        self.path.parent.mkdir(parents=True, exist_ok=True)
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._log = open(self.path, "ab")
        os.dup2(self._log.fileno(), 2)
        self._old = sys.stderr
        self._term = self._solver = None
        try:
            real = sys.stderr.fileno() == 2
        except (AttributeError, OSError, ValueError):
            real = False  # already not the process's stderr (captured): leave it
        if real:
            enc = getattr(sys.stderr, "encoding", None) or "utf-8"
            self._term = os.fdopen(os.dup(self._saved), "w", buffering=1, encoding=enc,
                                   errors="backslashreplace")
            sys.stderr = self._term
            # What an in-process solver prints (Python's sys.stdout, redirected by the
            # in-process executor) goes to the log, as a worker's does: not to sys.stderr,
            # which is the terminal now.
            self._solver = os.fdopen(os.dup(2), "w", buffering=1, encoding=enc,
                                     errors="backslashreplace")
            _SOLVER_OUTPUT.append(self._solver)
        return self

    def __exit__(self, *exc):
        import os

        try:
            sys.stderr.flush()
            if self._solver is not None:
                _SOLVER_OUTPUT.remove(self._solver)
                self._solver.close()
        finally:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            sys.stderr = self._old
            if self._term is not None:
                self._term.close()
            self._log.close()
            try:
                self.written = self.path.stat().st_size > 0
                if not self.written:
                    self.path.unlink()
            except OSError:
                pass
        return False
