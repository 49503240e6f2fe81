"""``offbench leaderboard``: tables (and plots) derived from the results store.

    offbench leaderboard [--store PATH] [--format md|csv|latex] [--output FILE]
                         [--rows FILE.csv|FILE.jsonl] [--frames FILE.csv|FILE.jsonl]
                         [--plots DIR]
    offbench leaderboard verify TABLE [-j N]

``verify`` re-runs the run specs named in TABLE's provenance into a fresh store and exits 1 if any
quality number differs (latency and time columns are not compared).
"""

from __future__ import annotations

import sys

from ..errors import UserError


def add_parser(sub):
    from ..store import DEFAULT_STORE
    from ..tracks import names as track_names

    p = sub.add_parser(
        "leaderboard", help="tables and plots derived from the results store; verify a table",
        description="Print the leaderboard of a results store: per source and track, each "
                    "solver's mean cost ratio with a bootstrap 95%% interval, infeasible rate, "
                    "latency, evaluations, shifted geometric mean of solve time and wins, headed "
                    "by the provenance. `offbench leaderboard verify TABLE` re-runs what a table "
                    "claims and fails if any quality number differs.")
    p.add_argument("--store", default=DEFAULT_STORE, metavar="PATH",
                   help="results store (default: %(default)s)")
    p.add_argument("--format", choices=("md", "csv", "latex"), default="md",
                   help="output format (default: md)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the table here instead of stdout")
    p.add_argument("--rows", metavar="FILE", help="also export every result row (.csv or .jsonl)")
    p.add_argument("--frames", metavar="FILE",
                   help="also export every per-frame row of the learning tracks, with what each "
                        "learner reported per frame (.csv or .jsonl)")
    p.add_argument("--plots", metavar="DIR",
                   help="also write performance profiles, ratio ECDFs and learning curves "
                        "(PNG and PDF) into DIR")
    p.add_argument("--track", action="append", default=[],
                   choices=track_names(),
                   help="only this track (repeatable)")
    p.add_argument("--offbench-version", default=None, metavar="V",
                   help="rows of this offbench version (default: the running one)")
    vsub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    v = vsub.add_parser("verify", help="re-run what a table claims; exit 1 if a number differs",
                        description="Re-run the run specs in TABLE's provenance into a fresh "
                                    "store, rebuild the table, and compare every quality number.")
    v.add_argument("table", metavar="TABLE", help="a table written by offbench leaderboard")
    v.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="worker processes for the re-run (default: CPUs; 0: in this process)")
    v.add_argument("--scheduler", metavar="ADDRESS", help="re-run on Dask (as offbench run)")
    v.add_argument("--solvers-dir", action="append", default=[], metavar="DIR",
                   help="allow the solvers in DIR that the table's specs name (repeatable); "
                        "without it only the installed solvers run")
    v.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    if getattr(args, "action", None) == "verify":
        return _verify(args)
    from ..leaderboard import build, export_frames, export_rows, render
    from ..store import Store

    with Store.open_readonly(args.store) as store:
        board = build(store, offbench_version=args.offbench_version, tracks=args.track or None)
        text = render(board, args.format)
        if args.rows:
            n = export_rows(store, args.rows, offbench_version=args.offbench_version)
            print(f"offbench leaderboard: {n} rows written to {args.rows}", file=sys.stderr)
        if args.frames:
            n = export_frames(store, args.frames, offbench_version=args.offbench_version)
            print(f"offbench leaderboard: {n} frame rows written to {args.frames}", file=sys.stderr)
        if args.plots:
            from ..plots import write_plots

            files = write_plots(board, args.plots)
            print(f"offbench leaderboard: {len(files)} plot files written to {args.plots}",
                  file=sys.stderr)
    if args.output:
        from ..leaderboard import write_output

        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _verify(args) -> int:
    from pathlib import Path

    from ..leaderboard import verify
    from ..progress import Progress
    from ..run import make_executor

    path = Path(args.table)
    if not path.is_file():
        raise UserError(f"{path}: no such table file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None
    progress = Progress("quiet" if args.quiet else "auto")
    with make_executor(args.jobs, args.scheduler) as ex:
        report = verify(text, executor=ex, progress=progress, solvers_dirs=args.solvers_dir)
    if report.ok:
        print(f"verify {path}: OK: {report.tables} tables, {report.rows} solver rows, "
              f"{report.numbers} quality numbers identical after re-running (latency and time "
              "columns not compared)")
        return 0
    print(f"verify {path}: FAILED: {len(report.differences)} differences", file=sys.stderr)
    for d in report.differences:
        print(f"  {d}", file=sys.stderr)
    return 1
