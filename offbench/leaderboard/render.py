"""Leaderboard formats: tables as Markdown, CSV, LaTeX or the terminal (:func:`render`), and
read back.

Markdown and LaTeX start with their provenance, in a form a program can read back
(``offbench-provenance: {json}``, a comment), and may end with paired comparisons
(``--compare``, :func:`render_comparisons`); CSV is a plain table (one header line, which
``pandas.read_csv`` reads with its defaults) whose provenance is the sidecar JSON written beside
it (:func:`sidecar_path`, :func:`provenance_json`); the terminal view (``terminal``) is aligned
tables (rich) under a provenance summary of a few lines (:func:`summary_lines`).
:func:`read_document` (and :func:`read_table`, its tables alone) reads Markdown, CSV and
LaTeX back into cells, notes and the paired comparison (what :func:`offbench.leaderboard.verify`
compares), refusing any line that :func:`render` does not write.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field

from .. import tracks
from .build import (CSV_HEADER, CSV_TIMING, FORMATS, PROVENANCE_TAG, TIMING_COLUMNS, Entry,
                    Leaderboard, LeaderboardError, Table)
from .differences import clip_pair, provenance_differences


def _f(v, fmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return format(v, fmt)


def _ms(v) -> str:
    if v is None or math.isnan(v):
        return "n/a"
    ms = v * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _pct(v) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{100 * v:.1f}%"


def display_cells(t: Table, e: Entry) -> list[str]:
    """The displayed cells of one entry (Markdown, LaTeX and the terminal), in the order of
    :attr:`Table.columns`."""
    v = e.values
    ci = "n/a" if math.isnan(v["ci_low"]) else f"[{v['ci_low']:.4f}, {v['ci_high']:.4f}]"
    tail = [_f(v.get("median", math.nan), ".4f"), _pct(v.get("solved", math.nan)),
            str(v.get("refused", 0)), _f(v.get("gmean_solved", math.nan), ".4f"),
            str(v["failed"]), _ms(v["p50"]), _ms(v["p95"]), _f(v["evals"], ".1f"), _ms(v["sgm"]),
            str(v["wins"])]
    tr = tracks.get(t.track)
    # columns a track declares over its rows' info (the adaptation track's meta evaluations):
    # the mean over the entry's runs, n/a where none gives it
    for _, key in getattr(tr, "info_columns", ()):
        xs = [r["info"][key] for r in (t.rows or {}).get(e.key, [])
              if (r.get("info") or {}).get(key) is not None]
        tail.append(_f(sum(xs) / len(xs) if xs else None, ".0f"))
    if tr.threshold is None:
        return [e.label, str(v["n"]), _f(v["ratio"], ".4f"), ci, *tail]
    ft = v["frames_to_threshold"]
    fts = "n/a" if ft is None or math.isnan(ft) else "never" if math.isinf(ft) else f"{ft:g}"
    return [e.label, str(v["n"]), _f(v["ratio"], ".4f"), ci, fts, *tail]


def _csv_value(v) -> str:
    if v is None or (isinstance(v, float) and (math.isnan(v))):
        return ""
    if isinstance(v, float):
        return "inf" if math.isinf(v) else repr(v)
    return str(v)


def csv_rows(board: Leaderboard) -> list[list[str]]:
    out = []
    for t in board.tables:
        for e in t.entries:
            v = e.values
            out.append([t.source, t.track, e.label, e.solver_id, e.param_hash, str(v["n"]),
                        _csv_value(v["ratio"]), _csv_value(v["ci_low"]), _csv_value(v["ci_high"]),
                        _csv_value(v.get("median")), _csv_value(v.get("solved")),
                        str(v.get("refused", 0)), _csv_value(v.get("gmean_solved")),
                        _csv_value(v["infeasible"]), str(v["failed"]),
                        _csv_value(v.get("frames_to_threshold")),
                        _csv_value(v["p50"]), _csv_value(v["p95"]), _csv_value(v["evals"]),
                        _csv_value(v["sgm"]), str(v["wins"])])
    return out


def provenance_lines(board: Leaderboard) -> list[str]:
    """The human-readable provenance header (one line each, no comment markers)."""
    return header_lines(board.provenance)


def header_lines(p: dict) -> list[str]:
    """:func:`provenance_lines` of a provenance dict (what a table read back must show)."""
    lines = [f"offbench leaderboard, derived from the results store {p['store']} "
             f"({p['rows']} rows from run{'s' if len(p['runs']) != 1 else ''} "
             f"{', '.join(map(str, p['runs']))}); never edited by hand",
             f"offbench {p['offbench_version']}, commit {', '.join(p['offbench_commits'])}"]
    for s in p["sources"]:
        lines.append(f"source {s['name']}: {s['kind']}, {s['size']} "
                     f"{'frames' if s['kind'] == 'stream' else 'instances'}, digest {s['digest']}")
    lines.append(f"seeds: {', '.join(map(str, p['seeds']))}")
    for s in p["solvers"]:
        params = ", ".join(f"{k}={v}" for k, v in s["params"].items()) or "no parameters"
        lines.append(f"solver {s['id']}: {params} (parameter hash {s['param_hash'][:12]})")
    if p["references"]:
        lines.append("references: " + ", ".join(f"{n} {k}" for k, n in p["references"].items()))
    for m in p["machines"]:
        lines.append(f"machine: {m.get('system')} {m.get('machine')}, {m.get('cpu') or 'unknown CPU'}, "
                     f"{m.get('cpus')} CPUs, Python {m.get('python')}")
    for lib in p["libraries"]:
        lines.append("libraries: " + ", ".join(f"{k} {v}" for k, v in lib.items() if v))
    st = p["statistics"]
    lines.append(f"statistics: ranked by the geometric mean of the fallback ratio (a failed, "
                 "infeasible or flagged decision scored at the all-device ratio; refusals counted "
                 f"apart), with a {100 * st['confidence']:.0f}% percentile "
                 f"bootstrap interval ({st['bootstrap_resamples']} resamples over instances, seed "
                 f"{st['bootstrap_seed']}); SGM = shifted geometric mean of solve time, shift "
                 f"{st['sgm_shift_s'] * 1e3:g} ms; latency = solve wall time; wins = instances where "
                 "the solver's mean cost is the best among solvers with only solved decisions "
                 "there, ties counting for all")
    lines.append(f"executors: {', '.join(p['executors'])}")
    return lines


def _prov_json(board: Leaderboard) -> str:
    return json.dumps(board.provenance, sort_keys=True, separators=(",", ":"), allow_nan=False)


def provenance_json(board: Leaderboard) -> str:
    """The full provenance as indented JSON: the sidecar of a written table or export."""
    return json.dumps({PROVENANCE_TAG.rstrip(":"): board.provenance}, sort_keys=True, indent=1,
                      allow_nan=False) + "\n"


def sidecar_path(path):
    """Where the provenance of a table or export written to ``path`` goes:
    ``leaderboard.csv`` -> ``leaderboard.csv.provenance.json``."""
    from pathlib import Path

    p = Path(path)
    return p.with_name(p.name + ".provenance.json")


def read_sidecar(path) -> dict | None:
    """The provenance in the sidecar of ``path``, or None when there is none."""
    sp = sidecar_path(path)
    if not sp.is_file():
        return None
    try:
        d = json.loads(sp.read_text(encoding="utf-8-sig"))  # a byte order mark is no JSON
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LeaderboardError(f"{sp}: not a provenance sidecar ({e})") from None
    prov = d.get(PROVENANCE_TAG.rstrip(":")) if isinstance(d, dict) else None
    if not isinstance(prov, dict):
        raise LeaderboardError(f"{sp}: no {PROVENANCE_TAG.rstrip(':')!r} object in it")
    return prov


def summary_lines(board: Leaderboard) -> list[str]:
    """A provenance summary of a few lines, for the terminal (the full provenance is in the
    sidecar of every written table, and in the store)."""
    p = board.provenance
    runs = p["runs"]
    solvers = sorted({s["id"] for s in p["solvers"]})
    m = (p["machines"] or [{}])[0]
    lines = [f"store {p['store']}: {p['rows']} rows from run{'s' if len(runs) != 1 else ''} "
             f"{', '.join(map(str, runs))}; offbench {p['offbench_version']}, commit "
             f"{', '.join(c[:12] for c in p['offbench_commits'])}",
             f"{len(p['sources'])} source{'s' if len(p['sources']) != 1 else ''}, "
             f"{len(solvers)} solvers, seeds {', '.join(map(str, p['seeds']))}; references: "
             + (", ".join(f"{n} {k}" for k, n in p["references"].items()) or "none"),
             f"machine: {m.get('cpu') or 'unknown CPU'}, {m.get('cpus')} CPUs, Python "
             f"{m.get('python')}; executors: {', '.join(p['executors'])}",
             "ranked by the geometric mean of the fallback ratio (SPEC.md section 6); full "
             "provenance: -o FILE writes FILE.provenance.json"]
    return lines


def print_terminal(board: Leaderboard, file=None, *, width: int | None = None) -> None:
    """Print the leaderboard for a terminal: the provenance summary, then one aligned table per
    (source, track) with its notes (rich; plain text when ``file`` is not a terminal). A table
    wider than the terminal is printed whole (never squeezed into ellipses)."""
    import sys

    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    need = 0
    for t in board.tables:
        cells = [list(t.columns)] + [display_cells(t, e) for e in t.entries]
        need = max(need, sum(max(len(r[i]) for r in cells) + 3 for i in range(len(t.columns))) + 1)
    probe = Console(file=file or sys.stdout)
    con = Console(file=file or sys.stdout, width=width or max(probe.width, need),
                  highlight=False, soft_wrap=False)
    for line in summary_lines(board):
        con.print(Text(line, style="dim"))
    for t in board.tables:
        con.print()
        rt = RichTable(title=Text(t.title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD)
        for c in t.columns:
            rt.add_column(Text(c), justify="left" if c == "solver" else "right", no_wrap=True)
        for e in t.entries:
            rt.add_row(*(Text(c) for c in display_cells(t, e)))
        con.print(rt)
        for n in t.notes:
            con.print(Text(n, style="italic"))


def render_terminal(board: Leaderboard, width: int | None = None) -> str:
    """The terminal view as plain text (no colour), ``width`` columns wide (default: as wide
    as the widest table)."""
    buf = io.StringIO()
    print_terminal(board, buf, width=width)
    return buf.getvalue()


def render(board: Leaderboard, fmt: str = "md") -> str:
    """The leaderboard as Markdown (``md``), CSV (``csv``), LaTeX (``latex``) or terminal
    (``terminal``, plain aligned text) text."""
    if fmt == "terminal":
        return render_terminal(board)
    if fmt == "md":
        return _render_md(board)
    if fmt == "csv":
        return _render_csv(board)
    if fmt == "latex":
        return _render_latex(board)
    raise LeaderboardError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")


def _render_md(board: Leaderboard) -> str:
    out = ["# offbench leaderboard", ""]
    out += [f"- {line}" for line in provenance_lines(board)]
    out += ["", f"<!-- {PROVENANCE_TAG} {_prov_json(board)} -->", ""]
    for t in board.tables:
        out += [f"## {t.title}", ""]
        cols = t.columns
        out.append("| " + " | ".join(cols) + " |")
        out.append("|" + "|".join("---" if c == "solver" else "---:" for c in cols) + "|")
        for e in t.entries:
            out.append("| " + " | ".join(display_cells(t, e)) + " |")
        out.append("")
        for n in t.notes:
            out.append(f"_{n}_")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _render_csv(board: Leaderboard) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for row in csv_rows(board):
        w.writerow(row)
    return buf.getvalue()


_LEADERBOARD_CAPTION = ("Geometric mean of the fallback cost ratio with 95% bootstrap interval; "
                        "latency in ms; SGM: shifted geometric mean of solve time (shift 10 ms).")
_COMPARISON_CAPTION = "Fallback ratios paired by instance; gmean A/B below 1: A better."


def _latex_caption(title: str, text: str = _LEADERBOARD_CAPTION) -> str:
    return f"\\caption{{{latex_escape(title)}. {latex_escape(text)}}}"


_LATEX_ESC = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
              "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESC.get(c, c) for c in text)


def _render_latex(board: Leaderboard) -> str:
    out = [f"% {line}" for line in provenance_lines(board)]
    out.append(f"% {PROVENANCE_TAG} {_prov_json(board)}")
    out.append("% Needs \\usepackage{booktabs}.")
    for t in board.tables:
        cols = t.columns
        out += ["\\begin{table}[t]", "\\centering", "\\small",
                _latex_caption(t.title),
                "\\begin{tabular}{l" + "r" * (len(cols) - 1) + "}", "\\toprule",
                " & ".join(latex_escape(c) for c in cols) + " \\\\", "\\midrule"]
        for e in t.entries:
            out.append(" & ".join(latex_escape(c) for c in display_cells(t, e)) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def render_comparisons(comps: list, fmt: str) -> str:
    """Comparisons (:func:`offbench.leaderboard.compare.compare`) as a section to append to a
    table of format ``fmt`` (``md`` or ``latex``); :func:`read_table` leaves it out of the
    tables it reads (verify has no solver rows to compare in it).

    Raises
    ------
    LeaderboardError
        ``fmt`` cannot hold them (CSV: one header per file).
    """
    from .compare import COMPARISON_TITLE, comparison_rows

    header, rows = comparison_rows(comps)
    if fmt == "md":
        return (f"\n## {COMPARISON_TITLE}\n\n| " + " | ".join(header) + " |\n|"
                + "|".join("---" for _ in header) + "|\n"
                + "".join("| " + " | ".join(r) + " |\n" for r in rows))
    if fmt == "latex":
        out = ["", "\\begin{table}[t]", "\\centering", "\\small",
               _latex_caption(COMPARISON_TITLE, _COMPARISON_CAPTION),
               "\\begin{tabular}{lll" + "r" * (len(header) - 3) + "}", "\\toprule",
               " & ".join(latex_escape(c) for c in header) + " \\\\", "\\midrule"]
        out += [" & ".join(latex_escape(c) for c in r) + " \\\\" for r in rows]
        out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
        return "\n".join(out) + "\n"
    raise LeaderboardError(f"--compare: a {fmt} table cannot hold the comparison (one header "
                           "per file); use --format md or latex, or no --format for the terminal")


# ==================================================================================== reading back
# Read by hand, line by line, and strictly: a table is read only in the form render() writes it,
# and any other line is refused, naming it. A Markdown parser would read what Markdown renders,
# but it is not a dependency of offbench; refusing what offbench never writes leaves no line that
# a reader sees as a row and verify does not check (a row indented by a space, a second table in
# a quote, a '#' line in a CSV that pandas reads as a row).
@dataclass
class Document:
    """A rendered leaderboard read back (:func:`read_document`)."""

    format: str
    provenance: dict
    #: the leaderboard tables, ``(title, header, rows)``
    tables: list = field(default_factory=list)
    #: per table, the line number of each row
    lines: list = field(default_factory=list)
    #: per table, its notes (Markdown; none elsewhere)
    notes: list = field(default_factory=list)
    #: rows of the paired comparison written with ``--compare`` (None: none written)
    comparisons: list | None = None
    comparison_lines: list = field(default_factory=list)
    #: what makes the text disagree with itself (a header line that is not its provenance, a
    #: sidecar that is not its provenance line)
    problems: list = field(default_factory=list)


def read_table(text: str, provenance: dict | None = None
               ) -> tuple[str, dict, list[tuple[str, list[str], list[list[str]]]]]:
    """Parse a rendered leaderboard: ``(format, provenance, [(title, header, rows), ...])``,
    the leaderboard tables only (:func:`read_document` has the rest).

    Raises
    ------
    LeaderboardError
        See :func:`read_document`.
    """
    doc = read_document(text, provenance)
    return doc.format, doc.provenance, doc.tables


def read_document(text: str, provenance: dict | None = None) -> Document:
    """Read a rendered leaderboard back: its format, provenance, tables, notes, paired
    comparison, and where it disagrees with itself (:attr:`Document.problems`).

    ``provenance``: the table's sidecar provenance (:func:`read_sidecar`): the provenance of a
    table without a line of its own (CSV); beside a provenance line, it must be the same.

    Raises
    ------
    LeaderboardError
        The text has no offbench provenance line (and none is given), or it has a line that
        ``offbench leaderboard`` does not write there (named).
    """
    fmt, prov, at = read_provenance(text, provenance)
    lines = text.splitlines()
    if fmt == "csv":
        doc = Document("csv", prov)
        _read_csv(text, doc)
        return doc
    doc = Document(fmt, prov)
    if provenance is not None:
        what = ", ".join(p for p, _, _ in provenance_differences(prov, provenance))
        if what:
            doc.problems.append(f"the provenance sidecar disagrees with the table's provenance "
                                f"line: {what} differ")
    head = (_read_md if fmt == "md" else _read_latex)(lines, at, doc)
    try:
        want = header_lines(prov)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise LeaderboardError(f"line {at + 1}: the provenance is not one offbench leaderboard "
                               f"writes ({type(e).__name__}: {e})") from None
    for k in range(max(len(head), len(want))):
        if k >= len(head):
            doc.problems.append(f"the provenance header lacks the line {want[k]!r}, which the "
                                "table's provenance gives")
        elif k >= len(want):
            doc.problems.append(f"line {head[k][0]}: the provenance header line "
                                f"{_show(head[k][1])} is not in the table's provenance")
        elif head[k][1] != want[k]:
            said, given = clip_pair(head[k][1], want[k])
            doc.problems.append(f"line {head[k][0]}: the provenance header says {said}, the "
                                f"table's provenance gives {given}")
    _split_comparison(doc)
    return doc


def read_provenance(text: str, provenance: dict | None = None) -> tuple[str, dict, int | None]:
    """``(format, provenance, index of the provenance line)`` of a rendered leaderboard, its
    lines not read yet (:func:`read_document` reads them). ``provenance``: the sidecar's, the
    provenance of a table without a line of its own (CSV: index None).

    Raises
    ------
    LeaderboardError
        No provenance line and no ``provenance``, or a provenance line that is not one.
    """
    lines = text.splitlines()
    tagged = [i for i, line in enumerate(lines) if PROVENANCE_TAG in line]
    if len(tagged) > 1:
        raise LeaderboardError(f"lines {tagged[0] + 1} and {tagged[1] + 1} both hold an offbench "
                               "provenance; a table has one")
    if not tagged:
        if provenance is None:
            raise LeaderboardError("no offbench provenance line in this table and no provenance "
                                   "sidecar beside it (was it written by `offbench leaderboard "
                                   "-o`?)")
        if lines and (lines[0].startswith("# ") or lines[0].startswith("% ")):
            raise LeaderboardError("this Markdown or LaTeX table has no provenance line: "
                                   "offbench leaderboard writes one into every such table")
        return "csv", provenance, None
    at = tagged[0]
    line = lines[at].rstrip()
    if line.startswith(f"<!-- {PROVENANCE_TAG} ") and line.endswith(" -->"):
        fmt, js = "md", line[len(f"<!-- {PROVENANCE_TAG} "):-len(" -->")]
    elif line.startswith(f"% {PROVENANCE_TAG} "):
        fmt, js = "latex", line[len(f"% {PROVENANCE_TAG} "):]
    else:
        raise LeaderboardError(f"line {at + 1}: the provenance is not on a line of its own, as "
                               "offbench leaderboard writes it")
    try:
        prov = json.loads(js)
    except json.JSONDecodeError as e:
        raise LeaderboardError(f"line {at + 1}: the provenance line is not valid JSON "
                               f"({e.msg})") from None
    if not isinstance(prov, dict):
        raise LeaderboardError(f"line {at + 1}: the provenance line holds no JSON object")
    return fmt, prov, at


def _show(line: str) -> str:
    return repr(line if len(line) <= 80 else line[:77] + "...")


def _md_cells(line: str) -> list[str] | None:
    if len(line) < 2 or not (line.startswith("|") and line.endswith("|")):
        return None
    return [c.strip() for c in line[1:-1].split("|")]


def _read_md(lines: list[str], at: int, doc: Document) -> list[tuple[int, str]]:
    """Read a Markdown table into ``doc``; return its provenance header lines ``(line number,
    text)``."""
    head: list[tuple[int, str]] = []
    state, title, header, rows, where = "start", "", [], [], []
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip()

        def bad(why: str) -> LeaderboardError:
            return LeaderboardError(f"line {n} {_show(line)}: {why}")

        if state == "delimiter":
            cells = _md_cells(line)
            if cells is None or len(cells) != len(header) or not all(
                    re.fullmatch(r":?-+:?", c) for c in cells):
                raise bad(f"expected the delimiter row of table {title!r} under its header")
            state = "rows"
        elif state == "rows" and line:
            cells = _md_cells(line)
            if cells is None:
                raise bad(f"Markdown shows this line as a row of table {title!r} (no blank line "
                          "ends the table before it), and it is not a row that offbench "
                          "leaderboard writes; verify refuses a table it cannot read whole")
            if len(cells) != len(header):
                raise bad(f"a row of table {title!r} with {len(cells)} cells for "
                          f"{len(header)} columns")
            rows.append(cells)
            where.append(n)
        elif not line:
            if state == "rows":
                state = "notes"
        elif state == "start":
            if line != "# offbench leaderboard":
                raise bad("an offbench Markdown table starts with '# offbench leaderboard'")
            state = "header"
        elif state == "header" and line.startswith("- "):
            head.append((n, line[2:]))
        elif state == "header" and n - 1 == at:
            state = "notes"
        elif state == "notes" and line.startswith("## "):
            title, state = line[3:].strip(), "title"
        elif state == "title":
            cells = _md_cells(line)
            if cells is None:
                raise bad(f"expected the header row of table {title!r}")
            header, rows, where, state = cells, [], [], "delimiter"
            doc.tables.append((title, header, rows))
            doc.lines.append(where)
            doc.notes.append([])
        elif state == "notes" and doc.tables and len(line) > 2 and line[0] == line[-1] == "_":
            doc.notes[-1].append(line[1:-1])
        else:
            raise bad("not a line that offbench leaderboard writes here; verify reads every "
                      "line of a table, so that no number a reader sees goes unchecked")
    if state in ("title", "delimiter"):
        raise LeaderboardError(f"the text ends inside table {title!r}, before its rows")
    if state in ("start", "header"):
        raise LeaderboardError("no provenance line and tables after the provenance header")
    return head


def _latex_cells(line: str) -> list[str] | None:
    if not line.endswith("\\\\"):
        return None
    body = line[:-2]
    if "\\\\" in body or re.search(r"(?<!\\)%", body):
        return None  # a second row on the line, or a comment hiding the rest of it
    return [c.strip() for c in re.split(r"(?<!\\)&", body)]


def _read_latex(lines: list[str], at: int, doc: Document) -> list[tuple[int, str]]:
    """Read a LaTeX table into ``doc``; return its provenance header lines."""
    from .compare import COMPARISON_TITLE

    head: list[tuple[int, str]] = []
    fixed = {"begin": "\\begin{table}[t]", "centering": "\\centering", "small": "\\small",
             "toprule": "\\toprule", "midrule": "\\midrule", "end": "\\end{tabular}",
             "endtable": "\\end{table}"}
    after = {"begin": "centering", "centering": "small", "small": "caption",
             "toprule": "headrow", "midrule": "rows", "end": "endtable", "endtable": "between"}
    comparison = _latex_caption(COMPARISON_TITLE, _COMPARISON_CAPTION)
    lead, tail = "\\caption{", f". {latex_escape(_LEADERBOARD_CAPTION)}}}"
    state, title, spec, header, rows, where = "header", "", "", [], [], []
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip()

        def bad(why: str) -> LeaderboardError:
            return LeaderboardError(f"line {n} {_show(line)}: {why}")

        if state == "header" and n - 1 == at:
            state = "needs"
        elif state == "header" and line.startswith("% "):
            head.append((n, line[2:]))
        elif state == "needs" and line == "% Needs \\usepackage{booktabs}.":
            state = "between"
        elif state == "between" and not line:
            pass
        elif state == "between" and line == fixed["begin"]:
            state = after["begin"]
        elif state in fixed and state != "begin" and line == fixed[state]:
            state = after[state]
        elif state == "caption" and (line == comparison or (
                line.startswith(lead) and line.endswith(tail) and len(line) > len(lead + tail))):
            title = COMPARISON_TITLE if line == comparison else line[len(lead):-len(tail)]
            state = "tabular"
        elif state == "tabular" and re.fullmatch(r"\\begin\{tabular\}\{(l+r*)\}", line):
            spec, state = line[len("\\begin{tabular}{"):-1], "toprule"
        elif state == "headrow" and _latex_cells(line) is not None:
            header, rows, where, state = _latex_cells(line), [], [], "midrule"
            want = "lll" if title == COMPARISON_TITLE else "l"
            if spec != want + "r" * (len(header) - len(want)):
                raise bad(f"table {title!r} has {len(header)} columns, its tabular "
                          f"{{{spec}}} another form")
            doc.tables.append((title, header, rows))
            doc.lines.append(where)
            doc.notes.append([])
        elif state == "rows" and line == "\\bottomrule":
            state = "end"
        elif state == "rows":
            cells = _latex_cells(line)
            if cells is None or len(cells) != len(header):
                raise bad(f"inside table {title!r}, not a row of {len(header)} cells as "
                          "offbench leaderboard writes it; verify refuses a table it cannot "
                          "read whole")
            rows.append(cells)
            where.append(n)
        else:
            raise bad("not a line that offbench leaderboard writes here; verify reads every "
                      "line of a table, so that no number a reader sees goes unchecked")
    if state != "between":
        raise LeaderboardError(f"the text ends inside table {title!r}" if doc.tables or
                               state not in ("header", "needs") else
                               "no provenance line and tables after the provenance header")
    return head


def _split_comparison(doc: Document) -> None:
    """Move the paired comparison written with ``--compare`` out of ``doc.tables``."""
    from .compare import COMPARISON_HEADER, COMPARISON_TITLE

    keep = []
    for i, (title, header, rows) in enumerate(doc.tables):
        is_comp = tuple(header) == COMPARISON_HEADER
        if is_comp != (title == COMPARISON_TITLE):
            raise LeaderboardError(f"table {title!r}: a title and columns that offbench "
                                   "leaderboard never writes together")
        if not is_comp:
            keep.append(i)
            continue
        if doc.comparisons is not None:
            raise LeaderboardError("two paired comparisons in one table; offbench leaderboard "
                                   "writes one")
        if doc.notes[i]:
            raise LeaderboardError(f"notes under the paired comparison ({doc.notes[i][0]!r}); "
                                   "offbench leaderboard writes none")
        doc.comparisons, doc.comparison_lines = rows, doc.lines[i]
    doc.tables = [doc.tables[i] for i in keep]
    doc.lines = [doc.lines[i] for i in keep]
    doc.notes = [doc.notes[i] for i in keep]


def _read_csv(text: str, doc: Document) -> None:
    """Read a CSV table into ``doc``: one header line, then rows of as many cells, blank lines
    skipped (as pandas does); a '#' line is a row to pandas, so it is one here too."""
    rdr = csv.reader(io.StringIO(text))
    header = None
    tables: dict[tuple, tuple[list, list]] = {}
    for cells in rdr:
        if not cells:
            continue
        if header is None:
            if tuple(cells) != CSV_HEADER:
                raise LeaderboardError(f"line {rdr.line_num}: the CSV header is not that of an "
                                       f"offbench leaderboard: {_header_difference(cells)}")
            header = cells
            continue
        if len(cells) != len(header):
            raise LeaderboardError(f"line {rdr.line_num}: a row of {len(cells)} cells for "
                                   f"{len(header)} columns")
        rows, where = tables.setdefault((cells[0], cells[1]), ([], []))
        rows.append(cells)
        where.append(rdr.line_num)
    if header is None:
        raise LeaderboardError("no CSV rows in this table")
    for (source, track), (rows, where) in tables.items():
        doc.tables.append((f"{source} / {track}", list(header), rows))
        doc.lines.append(where)
        doc.notes.append([])


def _header_difference(cells: list[str]) -> str:
    """Where a CSV header differs from :data:`CSV_HEADER`, in words."""
    if sorted(cells) == sorted(CSV_HEADER):
        return ("the same columns in another order (verify reads a table as offbench "
                "leaderboard writes it; write it again with `offbench leaderboard --format csv`)")
    k = next((i for i, (a, b) in enumerate(zip(cells, CSV_HEADER)) if a != b), None)
    if k is None:
        return f"{len(cells)} columns where offbench leaderboard writes {len(CSV_HEADER)}"
    return f"column {k + 1} is {cells[k]!r}, where offbench leaderboard writes {CSV_HEADER[k]!r}"


def quality_columns(header: list[str]) -> list[str]:
    """The columns of ``header`` that verify compares: all but latency and time."""
    skip = set(TIMING_COLUMNS) | set(CSV_TIMING)
    return [h for h in header if h not in skip]
