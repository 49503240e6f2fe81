"""The outcome of one solve job: one type, built here, that knows how to become a store row.

A track (:mod:`offbench.tracks`) runs a job and returns an :class:`Outcome`; the run loop
(:mod:`offbench.run.loop`) turns it into one ``results`` row with :meth:`Outcome.to_row` and, for
the learning tracks, appends its :attr:`Outcome.frames` to the ``frames`` table. An outcome
crosses process boundaries (pool workers, Dask) as a pickle of plain values.

Outcomes are made in three ways only: :meth:`Outcome.from_result` (a solver's
:class:`~offbench.solver.Result`), :meth:`Outcome.failed` (a job that produced no decision at
all: killed at its hard limit, its worker died, the runner failed), and the stream loop of the
learning tracks (:class:`offbench.tracks.stream.StreamTrack`), which summarizes its frames.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

#: A solver that returns later than ``OVERRUN_FACTOR * time_limit + OVERRUN_SLACK`` seconds gets
#: status ``timeout`` (its decision is kept).
OVERRUN_FACTOR = 1.5
OVERRUN_SLACK = 1.0

#: The per-frame columns a learning-track outcome gives for each frame (the store's
#: ``frames`` table, :data:`offbench.store.FRAME_COLUMNS`, in this order).
FRAME_FIELDS = ("frame", "instance_digest", "status", "cost", "feasible", "ref_cost", "ratio",
                "counted_infeasible", "wall_time", "evaluations", "decision", "error", "info")

#: The outcome fields that go into a result row as they are.
_ROW_FIELDS = ("status", "cost", "feasible", "ref_cost", "ratio", "counted_infeasible", "bound",
               "gap", "wall_time", "evaluations", "decision", "error", "worker")


def decision_text(decision) -> str | None:
    """A decision as one digit per layer (``"0120"``), the store's form."""
    if decision is None:
        return None
    return "".join("012"[int(v)] for v in decision)


def overrun(time_limit: float | None, wall_time: float) -> bool:
    """Whether a solver returned so long after its time limit that its row must say ``timeout``."""
    return time_limit is not None and wall_time > OVERRUN_FACTOR * time_limit + OVERRUN_SLACK


@dataclass
class Outcome:
    """What one solve job gave: the values of its result row (and of its frame rows).

    Attributes
    ----------
    status : str
        ``optimal``, ``feasible``, ``timeout`` or ``error``.
    cost, feasible, bound, gap, wall_time, evaluations, decision, error
        As in the store's ``results`` table; ``decision`` in its text form (:func:`decision_text`).
    info : dict
        Extra JSON values (a solver's info, a learning track's summary).
    frames : list of dict
        Per-frame rows of a learning-track job (:data:`FRAME_FIELDS`), empty otherwise.
    ref_cost, ratio, counted_infeasible
        The scoring against the reference (SPEC.md section 6), filled by the track or, for a
        missing decision, by :func:`offbench.tracks.score_missing` in the run loop.
    worker : str or None
        ``host:pid`` of the process that ran the job.
    missing : bool
        The job produced no decision at all (killed, its worker died, the runner failed): the
        process that writes the store scores it at the all-device cost before the row is made.
    """

    status: str
    cost: float | None = None
    feasible: bool | None = None
    bound: float | None = None
    gap: float | None = None
    wall_time: float = 0.0
    evaluations: int = 0
    decision: str | None = None
    error: str | None = None
    info: dict = field(default_factory=dict)
    frames: list = field(default_factory=list)
    ref_cost: float | None = None
    ratio: float | None = None
    counted_infeasible: bool | None = None
    worker: str | None = None
    missing: bool = False

    # ------------------------------------------------------------------ the ways to make one
    @classmethod
    def from_result(cls, res) -> "Outcome":
        """The outcome of one :class:`~offbench.solver.Result` (not yet scored)."""
        from ..solver import _jsonable

        return cls(status=res.status, cost=res.cost, feasible=res.feasible, bound=res.bound,
                   gap=res.gap, wall_time=float(res.wall_time), evaluations=int(res.evaluations),
                   decision=decision_text(res.decision), error=res.error, info=_jsonable(res.info))

    @classmethod
    def failed(cls, status: str, error: str, *, wall_time: float = 0.0,
               info: dict | None = None) -> "Outcome":
        """The outcome of a job that produced no decision (killed, crashed, failed to start)."""
        return cls(status=status, error=error, wall_time=wall_time, info=dict(info or {}),
                   missing=True)

    # ------------------------------------------------------------------ adjustments
    def mark_overrun(self, time_limit: float | None) -> None:
        """Status ``timeout`` (decision kept) for a solver that returned well after its limit."""
        if self.status in ("optimal", "feasible") and overrun(time_limit, self.wall_time):
            self.status = "timeout"
            self.error = (f"returned later than {OVERRUN_FACTOR:g} x its time limit of "
                          f"{time_limit:g} s + {OVERRUN_SLACK:g} s (a solver must stop by its "
                          "limit); decision kept")
            self.info["overrun_wall_time"] = self.wall_time

    @property
    def unscored_infeasible(self) -> bool:
        """Counted infeasible when there is no reference to score against: no feasible decision."""
        return not (self.decision is not None and self.feasible)

    def frame_row(self, frame: int, instance_digest: str, info: dict | None = None) -> dict:
        """This outcome (of one frame's solve) as a per-frame row of a learning-track job."""
        d = {f: getattr(self, f) for f in FRAME_FIELDS if hasattr(self, f) and f != "info"}
        return {**d, "frame": frame, "instance_digest": instance_digest, "info": dict(info or {})}

    # ------------------------------------------------------------------ the store row
    def to_row(self, key: dict, *, params: dict, track_config: dict, offbench_version: str,
               run_id: int) -> dict:
        """The ``results`` row of this outcome (:data:`offbench.store.RESULT_COLUMNS`), given the
        job's key columns (:data:`offbench.store.KEY_COLUMNS`) and what the run adds."""
        row = dict(key)
        row.update({k: getattr(self, k) for k in _ROW_FIELDS})
        row["params"] = params
        row["info"] = self.info or {}
        row["track_config"] = track_config
        row["offbench_version"] = offbench_version
        row["run_id"] = run_id
        return row

    def to_dict(self) -> dict:
        """Every field as plain values (for programs and tests)."""
        return dataclasses.asdict(self)
