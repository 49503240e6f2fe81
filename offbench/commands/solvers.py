"""``offbench solvers``: list the solvers found, with what they guarantee.

The table's columns: ID, GUARANTEE, DAG (whether the solver declares ``handles_dag``: it takes
version-2 instances, whose jobs may be DAGs, SPEC.md section 7; dp's refusal of such an
instance points here), TRACKS and SUMMARY
(:func:`summary`: the docstring's first paragraph, whole).
"""

from __future__ import annotations

import inspect
import json
import re

#: The longest summary shown whole; a longer one is cut at its last sentence end before this, or
#: at a word with "..." (written by hand: textwrap.shorten collapses but cuts only at words).
SUMMARY_MAX = 200
_SENTENCE_END = re.compile(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)\.\s(?=[A-Z(])")  # not "et al. 2018"


def summary(cls) -> str:
    """A solver's summary: the first paragraph of its docstring on one line.

    ``Solver.describe()`` takes the docstring's first *line*, which cut milp's mid-sentence
    ("... over Lagrangian-reduced"); a paragraph wrapped over lines is read whole here."""
    para = " ".join(inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].split())
    if len(para) <= SUMMARY_MAX:
        return para
    head = para[:SUMMARY_MAX]
    ends = [m.start() for m in _SENTENCE_END.finditer(head)]
    if ends:
        return head[:ends[-1] + 1]
    cut = head.rfind(" ")
    return head[:cut if cut > 0 else SUMMARY_MAX].rstrip(",;:") + " ..."


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
            if e.cls is not None:
                d["summary"] = summary(e.cls)
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
        note = summary(e.cls) + (f"  [unavailable: needs {', '.join(missing)}; {install_hint(missing)}]"
                                 if missing else "")
        params = ", ".join(f"{p['name']}={p['written']}" for p in d["params"])  # as --param reads it
        rows.append((e.id, d["guarantee"], "yes" if d["handles_dag"] else "no",
                     ",".join(d["tracks"]), note + (f"  ({params})" if params else "")))
    head = ("ID", "GUARANTEE", "DAG", "TRACKS", "SUMMARY")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    for r in [head] + rows:
        print("  ".join(f"{r[i]:<{w[i]}}" for i in range(4)) + f"  {r[4]}")
    return 0
