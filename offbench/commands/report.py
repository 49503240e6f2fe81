"""``offbench report``: a self-contained static HTML report of a results store.

    offbench report [--store PATH] --out DIR [--track T] [--no-figures]

writes ``DIR/index.html`` (:mod:`offbench.report`): tables, figures embedded as PNG, a section
per family and track, and the full provenance; it opens from disk without a server.
"""

from __future__ import annotations

import sys


def add_parser(sub):
    from ..store import DEFAULT_STORE
    from ..tracks import names as track_names

    p = sub.add_parser(
        "report", help="write a self-contained static HTML report of a results store",
        description="Write DIR/index.html: every leaderboard table (ranked by the geometric "
                    "mean of the fallback cost ratio), its figures embedded as PNG, a section "
                    "per family and track, and the full provenance. It opens in a browser from "
                    "disk, with no server and nothing fetched.")
    p.add_argument("--store", default=DEFAULT_STORE, metavar="PATH",
                   help="results store (default: %(default)s)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write index.html into")
    p.add_argument("--track", action="append", default=[], choices=track_names(),
                   help="only this track (repeatable)")
    p.add_argument("--offbench-version", default=None, metavar="V",
                   help="rows of this offbench version (default: the running one)")
    p.add_argument("--no-figures", action="store_true", help="tables and provenance only (faster)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..leaderboard import build
    from ..plots import output_folder
    from ..report import write_report
    from ..store import Store
    from .leaderboard import unfinished_rows_note

    with Store.open_readonly(args.store) as store:
        board = build(store, offbench_version=args.offbench_version, tracks=args.track or None)
        note = unfinished_rows_note(store, args.offbench_version)
    if note:
        print(f"offbench report: not in this report: {note}", file=sys.stderr)
    output_folder(args.out, "--out")  # (a folder that cannot be written in: said before drawing)
    if not args.no_figures:
        n = len(board.tables)
        print(f"offbench report: drawing the figures of {n} table{'s' * (n != 1)} ...",
              file=sys.stderr, flush=True)
    path = write_report(board, args.out, figures=not args.no_figures)
    print(f"offbench report: {path} ({path.stat().st_size // 1024} KiB); open it in a browser",
          file=sys.stderr)
    return 0
