"""``offbench evaluate INSTANCE --decision 0,1,2,...``: the cost of one decision (SPEC.md §5)."""

from __future__ import annotations

import re

from ..errors import DecisionError


def add_parser(sub):
    p = sub.add_parser("evaluate", help="evaluate one decision; prints one JSON object",
                       description="Evaluate one decision with the cost model of SPEC.md section 2.")
    p.add_argument("instance", metavar="INSTANCE", help="instance file (.json or .npz)")
    p.add_argument("--decision", required=True,
                   help="one tier per layer (0 device, 1 edge, 2 cloud), comma-separated, jobs in file order")
    p.set_defaults(func=run)
    return p


def parse_decision(text: str) -> list[int]:
    parts = [t for t in re.split(r"[,\s]+", text.strip()) if t]
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
