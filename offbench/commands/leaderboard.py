"""``offbench leaderboard``: tables (and plots) derived from the results store.

    offbench leaderboard [--store PATH] [--format md|csv|latex] [--output FILE]
                         [--rows FILE.csv|.jsonl|.parquet] [--frames FILE.csv|.jsonl|.parquet]
                         [--plots DIR] [--compare A B]
    offbench leaderboard verify TABLE [-j N]

Without ``--format`` or ``--output`` the terminal gets aligned tables under a provenance
summary of a few lines; every written file gets its full provenance in a sidecar JSON beside it
(``FILE.provenance.json``). ``--compare A B`` adds the paired comparison of two solvers on the
same instances (Wilcoxon signed-rank p-value): on the terminal, or after the table in the format
it is written in (Markdown or LaTeX; CSV cannot hold it). ``verify`` re-runs the run specs named
in TABLE's provenance (its own line, or its sidecar; both must agree) into a fresh store and
exits 1 if any quality number, note, paired comparison or provenance field that the re-run
recomputes differs (latency and time columns are not compared; commit, machine, libraries and
executor are said, not failed); a line that offbench does not write is refused, named.
"""

from __future__ import annotations

import sys

from ..errors import UserError
from ._util import families_dir_option, use_families_dirs


def add_parser(sub):
    from ..store import DEFAULT_STORE
    from ..tracks import names as track_names

    p = sub.add_parser(
        "leaderboard", help="tables and plots derived from the results store; verify a table",
        description="Print the leaderboard of a results store: per source and track, each "
                    "solver ranked by the geometric mean of its fallback cost ratio (a decision "
                    "that is not solved scored at the all-device ratio) with a bootstrap 95% "
                    "interval, the median, solved rate, refusals, the geometric mean over solved "
                    "decisions, latency, evaluations, shifted geometric mean of solve time and "
                    "wins, under a provenance summary. `offbench leaderboard verify TABLE` re-runs "
                    "what a table claims and fails if any quality number differs.")
    p.add_argument("--store", default=DEFAULT_STORE, metavar="PATH",
                   help="results store (default: %(default)s)")
    p.add_argument("--format", choices=("md", "csv", "latex"), default=None,
                   help="output format (default: aligned tables on a terminal; md for --output)")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="write the table here instead of stdout, its full provenance beside it "
                        "(FILE.provenance.json); - is stdout")
    p.add_argument("--rows", metavar="FILE",
                   help="also export every result row (.csv, .jsonl or .parquet; provenance in "
                        "FILE.provenance.json)")
    p.add_argument("--frames", metavar="FILE",
                   help="also export every per-frame row of the learning tracks, with what each "
                        "learner reported per frame (.csv, .jsonl or .parquet)")
    p.add_argument("--plots", metavar="DIR",
                   help="also write performance profiles, ratio ECDFs and learning curves "
                        "(PNG and PDF) into DIR")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="also compare two solvers (labels, IDs or names) paired on the same "
                        "instances: wins, ties, geometric mean of A/B and the Wilcoxon "
                        "signed-rank p-value, per table (after the table, in its format: md or "
                        "latex)")
    p.add_argument("--track", action="append", default=[],
                   choices=track_names(),
                   help="only this track (repeatable)")
    p.add_argument("--offbench-version", default=None, metavar="V",
                   help="rows of this offbench version (default: the running one)")
    vsub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    v = vsub.add_parser("verify", help="re-run what a table claims; exit 1 if a number differs",
                        description="Re-run the run specs in TABLE's provenance into a fresh "
                                    "store, rebuild the table, and compare every quality number, "
                                    "note and paired comparison, and the provenance fields that "
                                    "the re-run recomputes (seeds, instances, references, "
                                    "statistics, rows, solver parameters).")
    v.add_argument("table", metavar="TABLE", help="a table written by offbench leaderboard")
    v.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="worker processes for the re-run (default: CPUs; 0: in this process)")
    v.add_argument("--scheduler", metavar="ADDRESS", help="re-run on Dask (as offbench run)")
    v.add_argument("--solvers-dir", action="append", default=[], metavar="DIR",
                   help="allow the solvers in DIR that the table's specs name (repeatable); "
                        "without it only the installed solvers run")
    families_dir_option(v)
    v.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)
    return p


def unfinished_rows_note(store, version: str | None) -> str | None:
    """What :func:`offbench.leaderboard.unfinished.unfinished_sources` says of ``store``'s rows of
    ``version`` (default: the running one) that no table holds yet, or None."""
    from .. import __version__
    from ..leaderboard.unfinished import unfinished_sources

    return unfinished_sources(store.conn, version or __version__)


def _export(store, args) -> None:
    """``--rows`` and ``--frames``: the stored rows as CSV."""
    from ..leaderboard import export_frames, export_rows

    if args.rows:
        n = export_rows(store, args.rows, offbench_version=args.offbench_version)
        print(f"offbench leaderboard: {n} rows written to {args.rows}", file=sys.stderr)
    if args.frames:
        n = export_frames(store, args.frames, offbench_version=args.offbench_version)
        print(f"offbench leaderboard: {n} frame rows written to {args.frames}", file=sys.stderr)


def run(args) -> int:
    if getattr(args, "action", None) == "verify":
        return _verify(args)
    from ..leaderboard import build, render
    from ..leaderboard.render import print_terminal
    from ..store import Store

    if args.compare and args.format == "csv":
        raise UserError("--compare with --format csv: a CSV table has one header, and the "
                        "comparison is another table; use --format md or latex (or no --format, "
                        "for the terminal)")
    with Store.open_readonly(args.store) as store:
        board = build(store, offbench_version=args.offbench_version, tracks=args.track or None)
        # (an interrupted run's first source has rows but no table yet: build says so, or
        # when other sources have tables, this note)
        note = unfinished_rows_note(store, args.offbench_version)
        if note:
            print(f"offbench leaderboard: not in these tables: {note}", file=sys.stderr)
        comps = None
        if args.compare:
            from ..leaderboard.compare import compare

            comps = compare(board, *args.compare)
        _export(store, args)
        if args.plots:
            from ..plots import output_folder, write_plots

            output_folder(args.plots)  # (a folder that cannot be written in: said before drawing)
            print(f"offbench leaderboard: drawing the figures into {args.plots} ...",
                  file=sys.stderr, flush=True)
            files = write_plots(board, args.plots)
            print(f"offbench leaderboard: {_plot_summary(files)} written to {args.plots} "
                  f"({len(files)} files)", file=sys.stderr)
    if args.output or args.format:
        from ..leaderboard.render import render_comparisons

        fmt = args.format or "md"
        text = render(board, fmt) + (render_comparisons(comps, fmt) if comps else "")
        if args.output and args.output != "-":
            from ..leaderboard import write_output

            write_output(args.output, text, provenance=board)
        else:
            sys.stdout.write(text)
    else:
        print_terminal(board)
        if comps:
            _print_comparisons(comps)
    return 0


def _plot_summary(files) -> str:
    """What was written, by kind of figure (from the files' names: one figure is a PNG and a
    PDF of one stem): never a figure that was not drawn (a static table gets an anytime
    figure only where some solver recorded trajectories)."""
    from pathlib import Path

    kinds: dict[str, int] = {}
    for stem in dict.fromkeys(Path(f).with_suffix("").name for f in files):
        kind = "aggregate" if stem == "all-static-profile" else stem.rsplit("-", 1)[-1]
        kinds[kind] = kinds.get(kind, 0) + 1
    parts = [f"{n} {k} figure{'s' if n != 1 else ''}" for k, n in kinds.items() if k != "aggregate"]
    if "aggregate" in kinds:
        parts.append("the aggregate performance profile")
    return ", ".join(parts) if parts else "no figures"


def _print_comparisons(comps) -> None:
    """The comparisons on the terminal (aligned, rich)."""
    from ..leaderboard.compare import comparison_rows

    header, rows = comparison_rows(comps)
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text("Paired comparisons on the same instances (Wilcoxon signed-rank, "
                         "two-sided; gmean A/B below 1: A better)", style="bold"),
              title_justify="left", box=box.SIMPLE_HEAD)
    for h in header:
        t.add_column(Text(h), justify="left" if h in ("table", "A", "B") else "right", no_wrap=True)
    for r in rows:
        t.add_row(*(Text(c) for c in r))
    need = sum(max(len(r[i]) for r in [header] + rows) + 3 for i in range(len(header))) + 1
    Console(highlight=False, width=max(Console().width, need)).print(t)


def _verify(args) -> int:
    from pathlib import Path

    use_families_dirs(args)
    from ..leaderboard import verify
    from ..progress import Progress
    from ..run import make_executor

    from ..leaderboard.render import read_sidecar

    from ..leaderboard.export import FRAME_EXPORT_COLUMNS, ROW_EXPORT_COLUMNS

    path = Path(args.table)
    if not path.is_file():
        raise UserError(f"{path}: no such table file")
    export = (f"{path}: a per-job export (--rows or --frames), not a leaderboard table; verify "
              "the table written from the same store (leaderboard.md, .csv or .tex), whose "
              "provenance it shares")
    if path.suffix in (".jsonl", ".parquet"):
        raise UserError(export)
    sidecar = read_sidecar(path)
    try:
        # utf-8-sig: a byte order mark (a table saved by a Windows editor) is not a line
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None
    if text.split("\n", 1)[0].rstrip() in (",".join(ROW_EXPORT_COLUMNS),
                                           ",".join(FRAME_EXPORT_COLUMNS)):
        raise UserError(export)
    import os
    import tempfile

    from ..progress import SolverLog

    fd, name = tempfile.mkstemp(prefix="offbench-verify-", suffix=".log")
    os.close(fd)
    log = SolverLog(name)  # solvers' own output (HiGHS banners) off the terminal
    with log:
        progress = Progress("quiet" if args.quiet else "auto")
        with make_executor(args.jobs, args.scheduler) as ex:
            report = verify(text, executor=ex, progress=progress, solvers_dirs=args.solvers_dir,
                            provenance=sidecar)
    if log.written and not args.quiet:
        print(f"verify {path}: the solvers' own output is in {log.path}", file=sys.stderr)
    notes = [f"  note: {n}" for n in report.notes]
    if report.ok:
        comps = (f", {report.comparisons} paired comparison{'s' if report.comparisons != 1 else ''}"
                 if report.comparisons else "")
        tables = f"{report.tables} table{'s' if report.tables != 1 else ''}"
        print(f"verify {path}: OK: {tables}, {report.rows} solver rows, "
              f"{report.numbers} quality numbers{comps} and the provenance identical after "
              "re-running (latency and time columns not compared)")
        if notes:
            print("\n".join(notes))
        return 0
    print(f"verify {path}: FAILED: {len(report.differences)} differences", file=sys.stderr)
    for d in report.differences:
        print(f"  {d}", file=sys.stderr)
    for n in notes:
        print(n, file=sys.stderr)
    return 1
