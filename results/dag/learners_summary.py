"""Per-frame summaries of the learners' DAG runs (results/dag/learners-*.toml), from a store.

Run:  python results/dag/learners_summary.py STORE [STORE ...] [-o OUT.md]

Prints, per stream source, how often the proven optimum is a trivial decision (every node on the
edge, every node on the cloud, DADS's best two-tier cut) on the frames of the static baselines
that ran beside the learners, and, per solver, the mean ratio to the optimum over consecutive
windows of frames (online) or around the switch (adaptation: the 10 frames before, the first 10
and the first 100 after), its median decision latency and evaluations per decision. Every number
comes from the store's frame rows (the referee's ratios: cost over the proven reference); nothing
is recomputed here.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from offbench.store import Store  # noqa: E402

LEARNERS = ("dmro", "ddlo", "droo", "sb3-dqn", "sb3-ppo")


def summarize(path: Path) -> list[str]:
    lines = []
    with Store.open_readonly(path) as s:
        rows = s.results()
        frames = s.frames()
        sources = {src["digest"]: src for src in s.sources()}
    by_source = defaultdict(list)
    for r in rows:
        by_source[(r["track"], r["instance_digest"])].append(r)
    for (track, digest), rs in by_source.items():
        src = sources[digest]
        spec = src["spec"]
        cfg = rs[0]["track_config"]
        n = len(frames[rs[0]["row_id"]])
        where = spec.get("environment") or "default environment"
        if spec.get("switch_to"):
            where += f" -> {spec['switch_to']} at frame {spec['switch_at']}"
        lines += [f"**{track}: `{spec['family']}`**, stream seed {spec.get('seed', 0)}, {where}, "
                  f"{n} frames.", ""]
        triv = []
        for sid in ("all-edge", "all-cloud", "dads", "neurosurgeon"):
            r = next((x for x in rs if x["solver_id"].startswith(sid + "-v")), None)
            if r is not None:
                ratios = np.array([f["ratio"] for f in frames[r["row_id"]]])
                triv.append(f"{sid} is optimal on {np.mean(ratios <= 1 + 1e-9):.0%} of the frames "
                            f"(mean ratio {ratios.mean():.4f})")
        if triv:
            lines += ["How trivial the optimum is: " + "; ".join(triv) + ".", ""]
        if track == "adaptation":
            k = int(cfg["switch_at"])
            cols = ["10 frames before the switch", "first 10 after", "first 100 after"]
        else:
            k = None
            cols = [f"frames {a}-{min(a + 100, n) - 1}" for a in range(0, n, 100)]
        cols += ["p50 ms per decision", "evaluations per decision"]
        lines += ["| solver | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for r in sorted(rs, key=lambda r: (r["solver_id"].rsplit("-v", 1)[0] not in LEARNERS, r["solver_id"])):
            fr = frames[r["row_id"]]
            ratio = np.array([f["ratio"] if f["ratio"] is not None else np.nan for f in fr])
            wall = np.median([f["wall_time"] for f in fr]) * 1e3
            ev = np.mean([f["evaluations"] or 0 for f in fr])
            if k is not None:
                cells = [ratio[max(0, k - 10):k].mean(), ratio[k:k + 10].mean(), ratio[k:k + 100].mean()]
            else:
                cells = [ratio[a:a + 100].mean() for a in range(0, n, 100)]
            lines.append(f"| {r['solver_id']} | " + " | ".join(f"{c:.4f}" for c in cells)
                         + f" | {wall:.3g} | {ev:.3g} |")
        lines.append("")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stores", nargs="+", type=Path)
    ap.add_argument("-o", "--out", type=Path)
    a = ap.parse_args(argv)
    out = []
    for p in a.stores:
        out += summarize(p)
    text = "\n".join(out) + "\n"
    if a.out:
        a.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
