"""``offbench solvers``: list the solvers found, with what they guarantee.

The table's columns: ID, GUARANTEE, DAG (whether the solver declares ``handles_dag``: it takes
version-2 instances, whose jobs may be DAGs, SPEC.md section 7; dp's refusal of such an
instance points here), TRACKS and SUMMARY
(:func:`offbench.solver.solver_summary`: the docstring's first paragraph, whole).
"""

from __future__ import annotations

import json


def add_parser(sub):
    p = sub.add_parser("solvers", help="list solvers and what they guarantee",
                       description="List every solver found (built-in, --solvers-dir, entry points).")
    p.add_argument("--solvers-dir", action="append", default=[], metavar="DIR",
                   help="also list the solvers in the .py files of DIR (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON for programs")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from .._deps import install_hint
    from ..discovery import discover

    entries = discover(args.solvers_dir)
    if args.json:
        out = []
        for e in entries.values():
            d = e.cls.describe() if e.cls else {"id": e.id}
            d["origin"] = e.origin
            if e.cls is not None and e.cls.missing_requirements():
                missing = e.cls.missing_requirements()
                d["problem"] = f"unavailable: needs {', '.join(missing)} ({install_hint(missing)})"
            elif e.problem:
                d["problem"] = e.problem
            out.append(d)
        print(json.dumps(out, indent=1))
        return 0
    rows = []
    for e in entries.values():
        if e.cls is None:
            rows.append((e.id, "-", "-", "-", f"NOT LOADED: {e.problem}"))
            continue
        d = e.cls.describe()
        missing = e.cls.missing_requirements()
        note = d["summary"] + (f"  [unavailable: needs {', '.join(missing)}; {install_hint(missing)}]"
                                 if missing else "")
        params = ", ".join(f"{p['name']}={p['written']}" for p in d["params"])  # as --param reads it
        rows.append((e.id, d["guarantee"], "yes" if d["handles_dag"] else "no",
                     ",".join(d["tracks"]), note + (f"  ({params})" if params else "")))
    head = ("ID", "GUARANTEE", "DAG", "TRACKS", "SUMMARY")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    for r in [head] + rows:
        print("  ".join(f"{r[i]:<{w[i]}}" for i in range(4)) + f"  {r[4]}")
    return 0
