"""JSON for programs: the one helper that makes a value safe to dump.

:func:`clean` turns NaN and infinities into ``null`` (JSON has neither), recursively through
dicts, lists and tuples. The command line (:mod:`offbench.commands`), the progress display's
JSON lines and the row exports all write JSON through it; it lives here, below all of them, so
that nothing under ``offbench/`` imports the command-line package.
"""

from __future__ import annotations

import math


def clean(v):
    """``v`` with every non-finite float replaced by None (dicts and sequences recursively)."""
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
