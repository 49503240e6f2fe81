"""Leaderboard formats: tables as Markdown, CSV, LaTeX or the terminal (:func:`render`), and
read back.

Markdown and LaTeX start with their provenance, in a form a program can read back
(``offbench-provenance: {json}``, a comment), and may end with paired comparisons
(``--compare``, :func:`render_comparisons`); CSV is a plain table (one header line, which
``pandas.read_csv`` reads with its defaults) whose provenance is the sidecar JSON written beside
it (:func:`sidecar_path`, :func:`provenance_json`); the terminal view (``terminal``) is aligned
tables (rich) under a provenance summary of a few lines (:func:`summary_lines`).
:func:`read_table` parses Markdown, CSV and LaTeX back into cells (what
:func:`offbench.leaderboard.verify` compares).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re

from .. import tracks
from .build import (CSV_HEADER, CSV_TIMING, FORMATS, PROVENANCE_TAG, TIMING_COLUMNS, Entry,
                    Leaderboard, LeaderboardError, Table)


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
    p = board.provenance
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
        d = json.loads(sp.read_text(encoding="utf-8"))
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
                f"\\caption{{{latex_escape(t.title)}. " + latex_escape(
                    "Geometric mean of the fallback cost ratio with 95% bootstrap interval; "
                    "latency in ms; SGM: shifted "
                    "geometric mean of solve time (shift 10 ms).") + "}",
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
               f"\\caption{{{latex_escape(COMPARISON_TITLE)}. "
               + latex_escape("Fallback ratios paired by instance; gmean A/B below 1: A better.")
               + "}",
               "\\begin{tabular}{lll" + "r" * (len(header) - 3) + "}", "\\toprule",
               " & ".join(latex_escape(c) for c in header) + " \\\\", "\\midrule"]
        out += [" & ".join(latex_escape(c) for c in r) + " \\\\" for r in rows]
        out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
        return "\n".join(out) + "\n"
    raise LeaderboardError(f"--compare: a {fmt} table cannot hold the comparison (one header "
                           "per file); use --format md or latex, or no --format for the terminal")


# ==================================================================================== reading back
def read_table(text: str, provenance: dict | None = None
               ) -> tuple[str, dict, list[tuple[str, list[str], list[list[str]]]]]:
    """Parse a rendered leaderboard: ``(format, provenance, [(title, header, rows), ...])``.

    ``provenance``: the table's sidecar provenance (:func:`read_sidecar`), used when the text
    has no provenance line of its own (CSV).

    Raises
    ------
    LeaderboardError
        The text has no offbench provenance line (and none is given), or its tables cannot be
        read.
    """
    prov = provenance
    for line in text.splitlines():
        i = line.find(PROVENANCE_TAG)
        if i >= 0:
            js = line[i + len(PROVENANCE_TAG):].strip()
            if js.endswith("-->"):
                js = js[:-3].strip()
            try:
                prov = json.loads(js)  # the table's own line wins over a sidecar
            except json.JSONDecodeError as e:
                raise LeaderboardError(f"the provenance line is not valid JSON ({e.msg})") from None
            break
    if prov is None:
        raise LeaderboardError("no offbench provenance line in this table and no provenance "
                               "sidecar beside it (was it written by `offbench leaderboard -o`?)")
    lines = text.splitlines()
    if any(line.startswith("\\begin{tabular}") for line in lines):
        return "latex", prov, _leaderboard_tables(_parse_latex(lines))
    if any(line.startswith("|") for line in lines):
        return "md", prov, _leaderboard_tables(_parse_md(lines))
    return "csv", prov, _parse_csv(lines)


def _leaderboard_tables(tables):
    """The tables of a parsed file but a paired comparison written with them (``--compare``
    with ``-o``): it has no solver rows to verify."""
    from .compare import COMPARISON_HEADER

    return [t for t in tables if tuple(t[1]) != COMPARISON_HEADER]


def _parse_md(lines: list[str]):
    out, title, header, rows = [], None, None, []
    for line in lines + [""]:
        if line.startswith("## "):
            title = line[3:].strip()
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        elif header is not None:
            out.append((title or "", header, rows))
            header, rows = None, []
    return out


def _parse_latex(lines: list[str]):
    out, title, header, rows, inside = [], None, None, [], False
    for line in lines:
        if line.startswith("\\caption{"):
            title = line[len("\\caption{"):].split(". ")[0]
        elif line.startswith("\\begin{tabular}"):
            inside, header, rows = True, None, []
        elif line.startswith("\\end{tabular}"):
            out.append((title or "", header or [], rows))
            inside = False
        elif inside and line.endswith("\\\\"):
            cells = [c.strip() for c in line[:-2].split(" & ")]
            if header is None:
                header = cells
            else:
                rows.append(cells)
    return out


def _parse_csv(lines: list[str]):
    body = [line for line in lines if not line.startswith("#") and line.strip()]
    rdr = list(csv.reader(body))
    if not rdr:
        raise LeaderboardError("no CSV rows in this table")
    header, rows = rdr[0], rdr[1:]
    if tuple(header) != CSV_HEADER:
        raise LeaderboardError("the CSV header is not that of an offbench leaderboard")
    tables: dict[tuple, list] = {}
    for r in rows:
        tables.setdefault((r[0], r[1]), []).append(r)
    return [(f"{k[0]} / {k[1]}", list(header), v) for k, v in tables.items()]


def _quality_view(tables) -> dict:
    """``{(title, solver label): {column: cell}}`` over the quality columns only."""
    out = {}
    for title, header, rows in tables:
        skip = set(TIMING_COLUMNS) | set(CSV_TIMING)
        if "solver" not in header:
            raise LeaderboardError(f"table {title!r} has no 'solver' column")
        si = header.index("solver")
        for r in rows:
            if len(r) != len(header):
                raise LeaderboardError(f"table {title!r}: a row has {len(r)} cells for {len(header)} columns")
            out[(title, r[si])] = {h: c for h, c in zip(header, r) if h not in skip}
    return out
