"""Scoring an outcome against its reference (SPEC.md section 6), for every track.

The ratio rules themselves are :func:`offbench.reference.score`; this module applies them to
outcomes. A job that gave no decision at all is scored by its track
(:meth:`offbench.tracks.base.Track.score_missing`, in the process that writes the store).
"""

from __future__ import annotations

from .outcome import Outcome


def _reference_object(ref: dict):
    from ..reference import Reference

    d = dict(ref)
    dec = d.get("decision")
    if isinstance(dec, str):
        d["decision"] = [int(c) for c in dec]
    return Reference.from_dict(d)


def score(inst, ref: dict, cost: float | None, feasible: bool | None) -> tuple[float, bool]:
    """``(rho, counted_infeasible)`` of one decision against a reference dict, by
    :func:`offbench.reference.score` (SPEC.md section 6)."""
    from ..reference import score as _score

    rho, counted = _score(inst, cost, bool(feasible) if feasible is not None else False,
                          _reference_object(ref))
    return float(rho), bool(counted)


def score_outcome(inst, ref: dict, out: Outcome) -> None:
    """Fill ``ref_cost``, ``ratio`` and ``counted_infeasible`` of an outcome in place.

    A feasible cost below a proven optimum (:class:`offbench.reference.ReferenceViolation`) is
    a bug in a solver or the cost model, never a result: the outcome gets status ``error`` with
    the violation as its error text (decision and cost kept), ``info.reference_violation`` is
    set, and ``offbench run`` reports it and exits 1.
    """
    from ..reference import ReferenceViolation

    out.ref_cost = float(ref["cost"])
    try:
        rho, counted = score(inst, ref, out.cost if out.decision is not None else None, out.feasible)
    except ReferenceViolation as e:
        out.status = "error"
        out.error = f"ReferenceViolation: {e}"
        out.ratio = None
        out.counted_infeasible = None
        out.info["reference_violation"] = True
        return
    out.ratio = rho
    out.counted_infeasible = counted
