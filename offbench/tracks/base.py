"""The :class:`Track` type and the registry of tracks.

A track is one object that holds everything about one protocol of SPEC.md section 6:

- its **settings** (the run spec's ``[name]`` table, e.g. ``online = { window = 50 }``), with
  defaults and validation (:class:`Setting`, :meth:`Track.parse_settings`);
- which sources it runs on (:attr:`Track.stream`, :meth:`Track.skip_reason`), which solvers
  (:meth:`Track.can_run`), and the job settings that become part of a job's key
  (:meth:`Track.job_config`);
- **how it runs a job** (:meth:`Track.run`, returning an
  :class:`~offbench.tracks.outcome.Outcome`) and how a job without a decision is scored
  (:meth:`Track.score_missing`);
- **how its frames are scored** (:meth:`Track.scored_frames`, :meth:`Track.summary_window`),
  its convergence **threshold** and windows;
- its **leaderboard columns** (:attr:`Track.columns`) and notes, and its **figures**
  (:attr:`Track.figures`, names that :mod:`offbench.plots` draws).

The run spec, the planner, the leaderboard and the plots read tracks from the registry
(:func:`register`, :func:`get`, :func:`names`); the built-in tracks register themselves when
:mod:`offbench.tracks` is imported, one file each. Adding a track is adding one file that
defines a :class:`Track` subclass and registers an instance of it.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Callable, ClassVar

from ..errors import UserError
from ..params import Param
from .outcome import Outcome


def job_threads(job) -> int:
    """The threads a job's solver may use: the run spec's ``threads_per_job``, within the
    threads Numba started with (as the executor sets them)."""
    from .._numba import max_threads

    return max(1, min(int(getattr(job, "threads", 1) or 1), max_threads()))


class TrackError(UserError):
    """A track name or track setting that is wrong; the message names it."""


class _SettingParam(Param):
    what = "setting"
    error = TrackError


@dataclass(frozen=True)
class Setting:
    """One setting of a track: an integer with a default and a lower bound, validated by the
    parameter language (:mod:`offbench.params`): "The 'window' setting of run spec online must
    be an int in [1, inf). Got 0." """

    name: str
    default: int
    low: int = 1
    doc: str = ""

    def parse(self, v, owner: str) -> int:
        """The value of this setting in ``owner`` (``run spec: online``), validated."""
        return _SettingParam(self.name, int, self.default, low=self.low).validate(owner.replace(": ", " "), v)


class Track:
    """One track (subclass it, set the class attributes, override what differs).

    Class attributes
    ----------------
    name : str
        The track's name in run specs, job keys and tables.
    doc : str
        One line: what the track measures.
    stream : bool
        True for a track that runs on frame streams (a learning track); False for one that runs
        on instance sources.
    settings : tuple of Setting
        Its run-spec settings (the ``[name]`` table).
    threshold : float or None
        Convergence threshold of the moving mean of the cost ratio (SPEC.md section 6), with a
        "frames to" column in its table; None for none.
    ratio_column, failed_column : str
        The names of its summary-ratio and failure columns (the summary ratio's geometric
        mean over instances or runs ranks the table, SPEC.md section 6).
    figures : tuple of str
        The figures :func:`offbench.plots.write_plots` draws for its tables (``profile``,
        ``ecdf``, ``learning``, ``adaptation``).
    """

    name: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    stream: ClassVar[bool] = False
    settings: ClassVar[tuple[Setting, ...]] = ()
    threshold: ClassVar[float | None] = None
    ratio_column: ClassVar[str] = "gmean ratio"
    failed_column: ClassVar[str] = "failed"
    figures: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ settings
    def parse_settings(self, raw, where: str) -> dict:
        """Validate the run spec's table for this track (``raw``: None when absent) into a
        complete dict of settings (defaults filled in)."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise TrackError(f"{where}: expected a table, got {raw!r}")
        allowed = [s.name for s in self.settings]
        for k in raw:
            if k not in allowed:
                close = difflib.get_close_matches(str(k), allowed, n=1)
                hint = (f" Did you mean {close[0]!r}?" if close else
                        f" Allowed: {', '.join(allowed)}." if allowed else " This track has no settings.")
                raise TrackError(f"{where}: unknown key {k!r}.{hint}")
        return {s.name: s.parse(raw.get(s.name, s.default), where) for s in self.settings}

    # ------------------------------------------------------------------ planning
    def skip_reason(self, source_spec: dict, n: int, settings: dict) -> str | None:
        """Why this track cannot run on a source (of ``n`` instances or frames), or None."""
        return None

    def can_run(self, solver_tracks: tuple[str, ...], learns: bool) -> tuple[bool, str]:
        """Whether a solver (its declared tracks; a learning solver or not) runs on this track."""
        if self.name in solver_tracks:
            return True, ""
        return False, f"its tracks are {', '.join(solver_tracks)}"

    def job_config(self, source_spec: dict, n: int, settings: dict) -> dict:
        """The track settings of one job (part of its store key) beyond time limit and
        reference mode."""
        return {}

    def default_kill_after(self, time_limit: float, n: int) -> float:
        """The hard limit of a job when the spec gives none (``2 * time_limit + 10`` s)."""
        return 2 * time_limit + 10.0

    # ------------------------------------------------------------------ running
    def run(self, job, solver_cls, started: Callable[[], None] | None = None) -> Outcome:
        """Run one solve job on this track; ``started()`` is called right before the timed work."""
        raise NotImplementedError(f"track {self.name} does not implement run")

    def warm_up(self, job, solver_cls, time_limit: float) -> None:
        """Solve the job's first instance once, untimed, and discard the answer (see
        :func:`warm_up`)."""
        solver = solver_cls(**job.params)
        inst = job.instance if job.instance is not None else job.frames[0]
        solver.solve(inst, time_limit=time_limit, seed=job.seed, threads=job_threads(job))

    # ------------------------------------------------------------------ scoring
    def scored_frames(self, track_config: dict, n: int) -> range:
        """The frames of a stream job's ``n`` that its row is scored on (all, by default)."""
        return range(n)

    def summary_window(self, track_config: dict, part: list) -> tuple[list, int]:
        """The scored frames that a row's summary ratio averages, and the window length."""
        window = max(1, min(int(track_config.get("window", 50)), max(len(part), 1)))
        return part, window

    def score_missing(self, job, out: Outcome) -> None:
        """Score the outcome of a job that gave no decision at all (killed, or its worker died):
        SPEC.md section 6 scores a missing decision at the all-device cost and counts it
        infeasible."""
        from .scoring import score_outcome

        out.counted_infeasible = True
        if job.score and job.reference is not None:
            score_outcome(job.instance, job.reference, out)

    # ------------------------------------------------------------------ tables
    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of this track's leaderboard tables."""
        ft = (f"frames to {self.threshold:g}",) if self.threshold is not None else ()
        return ("solver", "n", self.ratio_column, "95% CI", *ft, "median", "solved", "refused",
                "gmean solved", self.failed_column, "p50 ms", "p95 ms", "evals", "SGM ms", "wins")

    def notes(self, track_config: dict) -> list[str]:
        """The notes under this track's tables (what the summary columns mean)."""
        return []

    def __repr__(self) -> str:
        return f"<track {self.name}>"


# ==================================================================================== registry
_REGISTRY: dict[str, Track] = {}


def register(track: Track, *, replace: bool = False) -> Track:
    """Add a track to the registry (in order: tables list tracks in registration order)."""
    if not isinstance(track, Track):
        raise TypeError(f"register: expected a Track instance, got {type(track).__name__}")
    if not track.name or not track.name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"register: a track needs a name of letters, digits, '-' or '_', got {track.name!r}")
    if track.name in _REGISTRY and not replace:
        raise ValueError(f"register: a track named {track.name!r} is already registered")
    _REGISTRY[track.name] = track
    return track


def unregister(name: str) -> None:
    """Remove a track from the registry (tests that register a toy track clean up with this)."""
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """The registered track names, in registration order."""
    return tuple(_REGISTRY)


def get(name: str) -> Track:
    """The registered track of this name.

    Raises
    ------
    TrackError
        No such track (the message suggests the closest name).
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        raise TrackError(f"unknown track {name!r}" + (f"; did you mean {close[0]!r}?" if close
                                                      else f"; tracks: {', '.join(_REGISTRY)}")) from None


def order(name: str) -> int:
    """The position of a track in the registry (unknown names last): the order of tables."""
    keys = list(_REGISTRY)
    return keys.index(name) if name in keys else len(keys)


# ==================================================================================== jobs
#: Seconds a warm-up solve may take (at most the job's own time limit): enough to import and
#: compile, without paying a whole time-limited solve once more in every process.
WARM_UP_TIME_LIMIT = 1.0


def run_job(job, solver_cls, started: Callable[[], None] | None = None) -> Outcome:
    """Run one solve job on its track; returns its outcome.

    ``started()``, when given, is called right before the timed work begins (the runner's hard
    limit counts from there).
    """
    return get(job.track).run(job, solver_cls, started)


def warm_up(job, solver_cls) -> None:
    """Solve the job's first instance once with a fresh solver and discard the answer.

    The runner does this for the first job of each solver (ID and parameters) in each process,
    so that imports and JIT compilation are not measured as decision latency or charged to the
    time limit. The warm-up has :data:`WARM_UP_TIME_LIMIT` seconds at most: a solver that runs
    to its limit (a MILP on a hard instance) would otherwise spend it twice. Solvers are pure
    functions of (instance, parameters, seed), so the timed solve that follows gives the answer
    it would have given cold.
    """
    limit = min(WARM_UP_TIME_LIMIT, job.time_limit or math.inf)
    try:
        get(job.track).warm_up(job, solver_cls, limit)
    except Exception:  # the timed run reports whatever goes wrong
        pass


def score_missing(job, out: Outcome) -> None:
    """Score an outcome without a decision by its job's track (:meth:`Track.score_missing`)."""
    get(job.track).score_missing(job, out)
