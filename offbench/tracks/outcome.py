"""The outcome of one solve job: one type, built here, that knows how to become a store row.

A track (:mod:`offbench.tracks`) runs a job and returns an :class:`Outcome`; the run loop
(:mod:`offbench.run.loop`) turns it into one ``results`` row with :meth:`Outcome.to_row` and, for
the learning tracks, appends its :attr:`Outcome.frames` to the ``frames`` table. An outcome
crosses process boundaries (pool workers, Dask) as a pickle of plain values.

Outcomes are made in three ways only: :meth:`Outcome.from_result` (a solver's
:class:`~offbench.solver.Result`), :meth:`Outcome.failed` (a job that produced no decision at
all: killed at its hard limit, its worker died, the runner failed), and the stream loop of the
learning tracks (:class:`offbench.tracks.stream.StreamTrack`), which summarizes its frames.

An outcome made in a sandbox is untrusted: it travels to the runner as JSON (:meth:`Outcome.to_wire`,
:meth:`Outcome.from_wire`: plain values checked field by field, never a pickle, so a solver cannot
make the runner run code), and the referee (:mod:`offbench.run.referee`) re-prices and re-scores it
there, filling :attr:`Outcome.flags`, :attr:`Outcome.refereed` and the measured wall time.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

#: A solver that returns later than ``OVERRUN_FACTOR * time_limit + OVERRUN_SLACK`` seconds gets
#: status ``timeout`` (its decision is kept).
OVERRUN_FACTOR = 1.5
OVERRUN_SLACK = 1.0
#: How the error of such a row starts.
OVERRUN_ERROR = "returned later than"

#: The per-frame columns a learning-track outcome gives for each frame (the store's
#: ``frames`` table, :data:`offbench.store.FRAME_COLUMNS`, in this order).
FRAME_FIELDS = ("frame", "instance_digest", "status", "cost", "feasible", "ref_cost", "ratio",
                "counted_infeasible", "wall_time", "evaluations", "decision", "error", "info")

#: The outcome fields that go into a result row as they are.
_ROW_FIELDS = ("status", "cost", "feasible", "ref_cost", "ratio", "counted_infeasible", "bound",
               "gap", "wall_time", "evaluations", "decision", "error", "worker", "flags", "refereed")

#: The fields an outcome sends from a sandbox, with their JSON types (anything else is dropped;
#: a wrong type refuses the whole message).
_WIRE_FIELDS = {"status": str, "cost": float, "feasible": bool, "bound": float, "gap": float,
                "wall_time": float, "evaluations": int, "decision": str, "error": str,
                "info": dict, "frames": list, "ref_cost": float, "ratio": float,
                "counted_infeasible": bool, "worker": str, "missing": bool}
_FRAME_TYPES = {"frame": int, "instance_digest": str, "status": str, "cost": float,
                "feasible": bool, "ref_cost": float, "ratio": float, "counted_infeasible": bool,
                "wall_time": float, "evaluations": int, "decision": str, "error": str, "info": dict}


class WireError(ValueError):
    """A sandbox sent an outcome that is not well formed."""


def _wire_value(name: str, v, kind):
    if v is None:
        return None
    if kind is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise WireError(f"{name}: expected a number, got {type(v).__name__}")
        return float(v)
    if kind is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise WireError(f"{name}: expected an integer, got {type(v).__name__}")
        return v
    if not isinstance(v, kind):
        raise WireError(f"{name}: expected {kind.__name__}, got {type(v).__name__}")
    return v


def _json_default(v):
    return str(v)


#: The largest count a store column holds (SQLite's 64-bit integers).
_MAX_COUNT = 2 ** 63 - 1


def _sanitized(out: "Outcome") -> "Outcome":
    """What the store can hold of untrusted values: JSON without NaN in ``info`` (non-finite
    numbers become None, as :func:`offbench.solver._jsonable` does), counts within 64 bits."""
    from ..solver import _jsonable

    out.info = _jsonable(out.info)
    out.evaluations = min(max(int(out.evaluations), 0), _MAX_COUNT)
    for f in out.frames:
        f["info"] = _jsonable(f["info"])
        f["evaluations"] = min(max(int(f["evaluations"]), 0), _MAX_COUNT)
        f["frame"] = None if f["frame"] is None or abs(f["frame"]) > _MAX_COUNT else f["frame"]
    return out



def decision_text(decision) -> str | None:
    """A decision as one digit per layer (``"0120"``), the store's form."""
    if decision is None:
        return None
    return "".join("012"[int(v)] for v in decision)


def overrun(time_limit: float | None, wall_time: float) -> bool:
    """Whether a solver returned so long after its time limit that its row must say ``timeout``."""
    return time_limit is not None and wall_time > OVERRUN_FACTOR * time_limit + OVERRUN_SLACK


def decision_solved(row: dict) -> bool:
    """Whether a row's decision counts as solved, before refusals and referee flags (SPEC.md
    section 6): a feasible decision, scored as such (not counted infeasible), from a solve that
    returned (``optimal``/``feasible``, or a ``timeout`` that kept its decision and returned
    within its limit: :meth:`Outcome.mark_overrun` marks one that did not, in its ``info`` for a
    job row and in its error text for a frame row). The one rule for job rows (the leaderboard
    adds refusals and flags) and frame rows (stream convergence)."""
    if row.get("counted_infeasible") or row.get("decision") is None or not row.get("feasible"):
        return False
    ref, cost = row.get("ref_cost"), row.get("cost")
    if ref is not None and ref <= 0 and not (cost is not None and cost <= 0):
        # "Where the reference cost is 0, a cost of 0 has ratio 1 and any other cost is
        # unsolved": scored at the all-device fallback like any unsolved decision.
        return False
    status = row.get("status")
    if status in ("optimal", "feasible"):
        return True
    return (status == "timeout" and "overrun_wall_time" not in (row.get("info") or {})
            and not str(row.get("error") or "").startswith(OVERRUN_ERROR))


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
    flags : list of str
        What the referee found false or tampered (:data:`offbench.run.referee.FLAGS`); a row
        with any flag is not solved.
    refereed : bool or None
        Whether the row was judged by a process that no solver's code ran in (False for an
        in-process run that loads a plug-in).
    supervised_time : float or None
        Seconds from the solve's start to its outcome, measured by the trusted process that ran
        the sandbox (never sent by the sandbox).
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
    flags: list = field(default_factory=list)
    refereed: bool | None = None
    supervised_time: float | None = None

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

    # ------------------------------------------------------------------ the wire (sandbox -> runner)
    def to_wire(self) -> bytes:
        """This outcome as JSON bytes (what a sandbox sends; NaN and infinities as JSON's
        extensions, so that the referee sees a non-finite claim as it was made)."""
        d = {k: getattr(self, k) for k in _WIRE_FIELDS}
        return json.dumps(d, default=_json_default, allow_nan=True).encode()

    @classmethod
    def from_wire(cls, data: bytes) -> "Outcome":
        """Rebuild an outcome from :meth:`to_wire`'s bytes, checking every field's type.

        Raises
        ------
        WireError
            Not JSON, not an object, or a field of the wrong type.
        """
        try:
            d = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise WireError(f"not JSON ({e})") from None
        if not isinstance(d, dict):
            raise WireError("not a JSON object")
        kw = {k: _wire_value(k, d.get(k), t) for k, t in _WIRE_FIELDS.items()}
        if kw["status"] is None:
            raise WireError("status: missing")
        frames = []
        for i, f in enumerate(kw.pop("frames") or []):
            if not isinstance(f, dict):
                raise WireError(f"frames[{i}]: expected an object")
            fr = {k: _wire_value(f"frames[{i}].{k}", f.get(k), t) for k, t in _FRAME_TYPES.items()}
            fr["info"] = fr["info"] or {}
            fr["wall_time"] = fr["wall_time"] or 0.0
            fr["evaluations"] = fr["evaluations"] or 0
            frames.append(fr)
        kw["info"] = kw["info"] or {}
        kw["wall_time"] = kw["wall_time"] or 0.0
        kw["evaluations"] = kw["evaluations"] or 0
        # "No decision at all" only where there is none (the runner's own failures are made
        # here, not sent); the referee judges everything else.
        kw["missing"] = bool(kw["missing"]) and kw["decision"] is None and not frames
        return _sanitized(cls(**kw, frames=frames))

    # ------------------------------------------------------------------ adjustments
    def mark_overrun(self, time_limit: float | None) -> None:
        """Status ``timeout`` (decision kept) for a solver that returned well after its limit."""
        if self.status in ("optimal", "feasible") and overrun(time_limit, self.wall_time):
            self.status = "timeout"
            self.error = (f"{OVERRUN_ERROR} {OVERRUN_FACTOR:g} x its time limit of "
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
        row["flags"] = list(self.flags)
        row["track_config"] = track_config
        row["offbench_version"] = offbench_version
        row["run_id"] = run_id
        return row

    def to_dict(self) -> dict:
        """Every field as plain values (for programs and tests)."""
        return dataclasses.asdict(self)
