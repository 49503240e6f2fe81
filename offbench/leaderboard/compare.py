"""Paired comparisons of two solvers on the same instances (``offbench leaderboard --compare A B``).

For each table where both solvers have rows, the fallback ratios (SPEC.md section 6) of A and B
are paired by instance (seeds averaged per instance; on a learning track, paired by stream
seed), and a two-sided Wilcoxon signed-rank test (scipy) on ``log(A) - log(B)`` gives the
p-value of "A and B score alike"; beside it, how many instances each wins, the ties, and the
geometric mean of ``A / B`` (below 1: A is better). This is the number to cite for a claim that
one solver beats another: a difference in two tables' means is not.

:func:`offbench.leaderboard.render.render_comparisons` writes them as Markdown or LaTeX, after a
table of that format (``--compare`` with ``--format`` or ``-o``); CSV has one header per file and
cannot hold them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import metrics
from .build import Entry, Leaderboard, LeaderboardError, Table


@dataclass
class Comparison:
    """One table's paired comparison of two entries."""

    table: str
    a: str
    b: str
    n: int
    a_better: int
    b_better: int
    ties: int
    gmean_ratio: float
    p_value: float


def _names(e: Entry, who: str) -> bool:
    """Whether ``who`` names entry ``e``: its solver ID or that ID without its version."""
    return e.solver_id == who or e.solver_id.rsplit("-v", 1)[0] == who


def _match(t: Table, who: str) -> Entry | None:
    hits = [e for e in t.entries if e.label == who]
    if not hits:
        hits = [e for e in t.entries if _names(e, who)]
    if len(hits) > 1:
        raise LeaderboardError(f"--compare {who}: {len(hits)} entries of table {t.title} match "
                               f"({', '.join(e.label for e in hits)}); give the full label")
    return hits[0] if hits else None


def compare(board: Leaderboard, a: str, b: str) -> list[Comparison]:
    """The paired comparison of entries ``a`` and ``b`` (a label such as
    ``local-search-v1[restarts=4]``, a solver ID, or a bare name) in every table of ``board``
    that has both.

    Raises
    ------
    LeaderboardError
        A name matches no entry of any table, no table has both, or a name matches two
        entries of one table.
    """
    entries = [e for t in board.tables for e in t.entries]
    for who in dict.fromkeys((a, b)):
        if not any(e.label == who or _names(e, who) for e in entries):
            ids = sorted({e.solver_id for e in entries})
            labels = sorted({e.label for e in entries} - set(ids))
            raise LeaderboardError(
                f"--compare {a} {b}: no solver {who!r} in these tables (solvers: {', '.join(ids)}"
                + (f"; entries: {', '.join(labels)}" if labels else "") + ")")
    same = [t.title for t in board.tables
            if _match(t, a) is not None and _match(t, a) is _match(t, b)]
    if same:
        raise LeaderboardError(f"--compare {a} {b}: both name the same entry "
                               f"({_match(next(t for t in board.tables if t.title == same[0]), a).label}"
                               f" in {same[0]}); name two different entries")
    out = []
    for t in board.tables:
        ea, eb = _match(t, a), _match(t, b)
        if ea is None or eb is None or ea is eb:
            continue
        ra = t.paired.get(ea.key, {})
        rb = t.paired.get(eb.key, {})
        common = [k for k in ra if k in rb]
        if not common:
            continue
        st = metrics.paired_wilcoxon([ra[k] for k in common], [rb[k] for k in common])
        out.append(Comparison(table=t.title, a=ea.label, b=eb.label, n=st["n"],
                              a_better=st["a_better"], b_better=st["b_better"], ties=st["ties"],
                              gmean_ratio=st["gmean_ratio"], p_value=st["p_value"]))
    if not out:
        labels = sorted({e.label for t in board.tables for e in t.entries})
        raise LeaderboardError(f"--compare {a} {b}: no table has both on common instances "
                               f"(entries: {', '.join(labels)})")
    return out


#: The columns of a comparison (how a reader of a written table tells it from a leaderboard).
COMPARISON_HEADER = ("table", "A", "B", "pairs", "A better", "B better", "ties", "gmean A/B",
                     "Wilcoxon p")

#: The title of the comparisons in a written table.
COMPARISON_TITLE = "Paired comparisons (Wilcoxon signed-rank, two-sided)"


def comparison_rows(comps: list[Comparison]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of comparisons, for the terminal, Markdown and LaTeX."""
    header = list(COMPARISON_HEADER)
    rows = []
    for c in comps:
        g = "inf" if math.isinf(c.gmean_ratio) else f"{c.gmean_ratio:.4f}"
        p = "n/a" if math.isnan(c.p_value) else f"{c.p_value:.3g}"
        rows.append([c.table, c.a, c.b, str(c.n), str(c.a_better), str(c.b_better), str(c.ties), g, p])
    return header, rows
