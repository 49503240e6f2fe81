"""What three tiers buy over two, per DNN and network: a pivot of the zoo-v2 grid's rows.

Run:  python results/dag/tiers.py [results/dag/zoo-v2-tiers/rows.csv] [-o results/dag/three_tiers.md]

The rows come from ``offbench run results/dag/zoo-v2-tiers.toml`` exported by ``offbench
leaderboard --rows`` (their provenance is in the ``.provenance.json`` beside them; this script
copies its commit, sources' digests and row count into the table's header). Every source of that
run is one (DNN, network) pair, named ``MODEL/NETWORK``; every instance is one job of that DNN
(a per-layer DAG) on one device of a random class. The reference of every instance is the
three-tier optimum, proven by the minimum cut (``ref_provenance`` must say ``mincut``: anything
else is refused), and DADS (Hu et al., INFOCOM 2019) is the best two-tier cut (device/edge or
device/cloud) under the same cost, so DADS's ratio ``cost / reference`` *is* "the cost of the
best two-tier cut over the cost of the three-tier optimum". No number is computed here that the
rows do not hold: geometric means and maxima of the ``ratio`` column, and counts of instances
where the ratio exceeds 1 by more than the minimum cut's tolerance (1e-9 relative).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOL = 1e-9
MODELS = {"resnet18": "ResNet-18", "mobilenet_v2": "MobileNetV2", "googlenet": "GoogLeNet",
          "vit_ti_16": "ViT-Ti/16"}
NETWORKS = {"cat1": "CAT1", "3g": "3G", "4g": "4G", "wifi": "Wi-Fi", "5g": "5G"}
SOLVERS = {"dads-v1": "DADS: best two-tier cut / three-tier optimum",
           "neurosurgeon-v1": "Neurosurgeon (best single cut in file order, three tiers) / optimum"}


def load(path: Path) -> dict:
    """ratios[solver][(model, network)] -> list of ratios, refusing anything unexpected."""
    out: dict = defaultdict(lambda: defaultdict(list))
    with open(path, newline="") as f:
        for k, row in enumerate(csv.DictReader(f), start=2):
            model, _, net = row["source"].partition("/")
            if model not in MODELS or net not in NETWORKS:
                raise SystemExit(f"{path}:{k}: source {row['source']!r} is not MODEL/NETWORK of the grid")
            if row["ref_provenance"] != "mincut":
                raise SystemExit(f"{path}:{k}: reference by {row['ref_provenance']!r}, not the minimum cut")
            if row["solved"] != "True":
                raise SystemExit(f"{path}:{k}: {row['solver_id']} did not solve {row['instance_name']}")
            out[row["solver_id"]][(model, net)].append(float(row["ratio"]))
    return out


def gmean(xs) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def table(cells: dict, title: str) -> list[str]:
    lines = [f"### {title}", "",
             "| DNN | " + " | ".join(NETWORKS.values()) + " | all |",
             "|---|" + "---:|" * (len(NETWORKS) + 1)]
    for m, mname in MODELS.items():
        row, every = [], []
        for n in NETWORKS:
            xs = cells.get((m, n), [])
            every += xs
            row.append(_cell(xs))
        lines.append(f"| {mname} | " + " | ".join(row) + f" | {_cell(every)} |")
    every = [x for xs in cells.values() for x in xs]
    col = [_cell([x for (m, n), xs in cells.items() if n == net for x in xs]) for net in NETWORKS]
    lines.append("| all | " + " | ".join(col) + f" | {_cell(every)} |")
    return lines + [""]


def _cell(xs) -> str:
    if not xs:
        return "-"
    worse = sum(x > 1.0 + TOL for x in xs)
    return f"{gmean(xs):.4f} (max {max(xs):.4f}, {worse}/{len(xs)})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", nargs="?", type=Path, default=HERE / "zoo-v2-tiers" / "rows.csv")
    ap.add_argument("-o", "--out", type=Path, default=HERE / "three_tiers.md")
    args = ap.parse_args(argv)
    if not args.rows.is_file():
        print(f"tiers.py: error: {args.rows}: no such file", file=sys.stderr)
        return 2
    prov = json.loads(Path(str(args.rows) + ".provenance.json").read_text())["offbench-provenance"]
    ratios = load(args.rows)
    missing = [s for s in SOLVERS if s not in ratios]
    if missing:
        print(f"tiers.py: error: {args.rows}: no rows of {', '.join(missing)}", file=sys.stderr)
        return 2
    lines = [
        "# What three tiers buy over two, per DNN and network (zoo-v2)", "",
        f"- made by `python results/dag/tiers.py` from `{args.rows.relative_to(HERE.parents[1]) if args.rows.is_relative_to(HERE.parents[1]) else args.rows}` "
        f"({prov['rows']} rows; offbench {prov['offbench_version']}, commit "
        f"{', '.join(prov['offbench_commits'])}; run spec results/dag/zoo-v2-tiers.toml); never edited by hand",
        f"- sources: {len(prov['sources'])} (DNN x network), digests in the rows' provenance; references: "
        + ", ".join(f"{v} {k}" for k, v in prov["references"].items()),
        "- cell: geometric mean over the instances of `cost / three-tier optimum` (max; instances "
        f"where it exceeds 1 + {TOL:g}, of all)", "",
    ]
    for s, title in SOLVERS.items():
        lines += table(ratios[s], title)
    args.out.write_text("\n".join(lines))
    print(f"tiers.py: {args.out} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
