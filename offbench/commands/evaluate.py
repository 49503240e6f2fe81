"""``offbench evaluate INSTANCE --decision 0,1,2,...``: the cost of one decision (SPEC.md §5)."""

from __future__ import annotations

import re

from ..errors import DecisionError


def add_parser(sub):
    p = sub.add_parser("evaluate", help="evaluate one decision; prints one JSON object",
                       description="Evaluate one decision with the cost model of SPEC.md section 2.")
    p.add_argument("instance", metavar="INSTANCE", help="instance file (.json or .npz)")
    p.add_argument("--decision", required=True,
                   help="one tier per layer (0 device, 1 edge, 2 cloud), comma-separated, jobs in "
                        "file order; or the digits written together ('0120'), as a results "
                        "store's decision column holds it")
    p.set_defaults(func=run)
    return p


def parse_decision(text: str) -> list[int]:
    """``0,1,2`` (commas or blanks), or the compact ``012`` of a results store's ``decision``
    column: one token of the digits 0, 1 and 2 only is one tier per digit."""
    parts = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    if len(parts) == 1 and len(parts[0]) > 1 and set(parts[0]) <= set("012"):
        parts = list(parts[0])
    out = []
    for i, t in enumerate(parts):
        if t not in ("0", "1", "2"):
            raise DecisionError(f"--decision: value {i} is {t!r}; expected a tier 0, 1 or 2")
        out.append(int(t))
    return out


def run(args) -> int:
    from ..cost import evaluate
    from ..instance import load_instance_named
    from ._util import print_json

    inst = load_instance_named(args.instance)
    decision = parse_decision(args.decision)
    print_json(evaluate(inst, decision).to_dict())
    return 0
