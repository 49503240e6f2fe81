"""Where two provenances differ (:func:`provenance_differences`: what ``offbench leaderboard
verify`` reports, field by field) and two long texts shown around where they differ
(:func:`first_difference`, :func:`clip_pair`)."""

from __future__ import annotations

import json


class _Missing:
    """The value of a field that one of two provenances lacks (:func:`provenance_differences`)."""

    def __repr__(self) -> str:
        return "MISSING"


#: What :func:`provenance_differences` gives for a field one side does not have.
MISSING = _Missing()


def provenance_differences(a, b, path: str = "") -> list[tuple[str, object, object]]:
    """``(field, a's value, b's value)`` where two provenances (or parts of them) differ:
    dicts with a field in common field by field (a field only one has: :data:`MISSING` on the
    other side), lists of dicts of the same length item by item (an item named by its ``name``
    or ``id``), anything else whole."""
    if isinstance(a, dict) and isinstance(b, dict) and (set(a) & set(b) or set(a) == set(b)):
        return [d for k in sorted(set(a) | set(b), key=str) for d in provenance_differences(
            a.get(k, MISSING), b.get(k, MISSING), f"{path}.{k}" if path else str(k))]
    if (isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and a
            and all(isinstance(x, dict) for x in a + b)):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += provenance_differences(x, y, f"{path}[{x.get('name') or x.get('id') or i}]")
        return out
    if a is MISSING or b is MISSING:
        return [] if a is b else [(path or "provenance", a, b)]
    same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    return [] if same else [(path or "provenance", a, b)]


def first_difference(a: str, b: str) -> int:
    """Where two strings first differ (the shorter one's length when one starts the other)."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def clip_pair(a: str, b: str, keep: int = 25) -> tuple[str, str]:
    """Two long strings, quoted, around where they differ."""
    if len(a) <= 100 and len(b) <= 100:
        return repr(a), repr(b)
    p = first_difference(a, b)
    q = 0
    while q < min(len(a), len(b)) - p and a[-1 - q] == b[-1 - q]:
        q += 1
    lo = max(0, p - keep)

    def clip(s: str) -> str:
        hi = len(s) - max(0, q - keep)
        return ("..." if lo else "") + repr(s[lo:hi]) + ("..." if hi < len(s) else "")

    return clip(a), clip(b)
