"""How often is the optimum of a DAG family trivial? A table per family, preset and environment.

Run:  python results/dag/triviality.py [--count 48] [--seed 9000] [--only TEXT] [-o FILE]
      python results/dag/triviality.py --family 'workflow-v2:single[backhaul_rate=1e7]'  (probes)

For every source below, the script draws ``--count`` instances from the family (seeded: instance
``i`` of seed ``--seed``, or of the environment's own seed; see ``SOURCES``) or reads a frozen set,
takes the optimum (the three-tier minimum cut ``mincut``, exact where there are no capacities and
no deadlines; for the capacitated and deadline presets the frozen set's reference, proven by the
DAG milp except where the row names another provenance: ``milp-gap`` with its gap, or
``heuristic``) and solves every instance with the simple
baselines: all-device, all-edge, all-cloud, greedy, Neurosurgeon (best single cut in file order),
DADS (best two-tier minimum cut, Hu et al. INFOCOM 2019) and local search (8 restarts). Costs
come from the solvers' results, which the cost model prices (``offbench.cost``); nothing is
re-derived here.

Columns (``opt`` = the source's optimum; "is optimal" means ``cost <= opt * (1 + tol)``, tol 1e-9
for minimum-cut optima and 1e-6 for milp references, the milp's own tolerance):

- ``dev=opt``, ``edge=opt``, ``cloud=opt``: share of instances where putting every node on
  that tier is optimal (a trivial optimum);
- ``DADS=opt``: share where DADS (per job the best cut between the device and one server) is
  optimal; ``DADS>1%``: share where it costs more than 1% above the optimum (what three
  tiers buy, where it is more than rounding);
- ``3 tiers``: share of instances whose optimum found by the minimum cut (or the reference
  decision) puts nodes of one job on all three tiers;
- ``optimal jobs' tiers``: how the optimum's jobs use the tiers, in percent of the jobs (``d``
  device only, ``c`` cloud only, ``dc`` device and cloud, ``dec`` all three, ...; ``<1``: fewer
  than 0.5%);
- ``nodes d/e/c``: percent of all nodes the optimum puts on the device, the edge, the cloud;
- per baseline: geometric mean of ``cost / opt`` over the instances (and the worst one, in
  brackets); ``inf`` where a baseline is infeasible (a capacity) on some instance, with the count.

Timing: with ``--count 48`` about 40 s of CPU on one core with the Numba kernels cached (two
minutes more when they compile), 100 s of wall time on a two-core machine at load 7.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from offbench.discovery import make_solver
from offbench.errors import UserError
from offbench.families import get_family
from offbench.instance_sets import load_set

HERE = Path(__file__).resolve().parent

#: (label, family ID, environment or None, frozen set or None). A family ID with an environment
#: is drawn with that environment's parameters; dmro-v2 draws instance i in environment i mod 7,
#: as does dmro-v3, so their rows keep the instances of one environment.
SOURCES = (
    ("workflow-v1:single", "workflow-v1:single", None, None),
    ("workflow-v1:single, 4g", "workflow-v1:single", "4g", None),
    ("workflow-v1:single, wifi", "workflow-v1:single", "wifi", None),
    ("workflow-v1:single, 5g", "workflow-v1:single", "5g", None),
    ("workflow-v1:fleet (frozen set)", None, None, "workflow-v1:fleet/test"),
    ("workflow-v2:single", "workflow-v2:single", None, None),
    ("workflow-v2:single, 4g", "workflow-v2:single", "4g", None),
    ("workflow-v2:single, wifi", "workflow-v2:single", "wifi", None),
    ("workflow-v2:single, 5g", "workflow-v2:single", "5g", None),
    ("workflow-v2:fleet (frozen set)", None, None, "workflow-v2:fleet/test"),
    *((f"dmro-v2, {e}", "dmro-v2", e, None) for e in (
        "mixed-mid", "compute-low", "compute-mid", "compute-high", "comm-low", "comm-high",
        "comm-mid")),
    *((f"dmro-v3, {e}", "dmro-v3", e, None) for e in (
        "mixed-mid", "compute-low", "compute-mid", "compute-high", "comm-low", "comm-high",
        "comm-mid")),
    ("zoo-v2:fleet", "zoo-v2:fleet", None, None),
    ("zoo-v2:single", "zoo-v2:single", None, None),
    *((f"zoo-v2:single, {e}", "zoo-v2:single", e, None)
      for e in ("cat1", "3g", "4g", "wifi", "5g")),
    ("zoo-v2:single[models=vit_b_16]", "zoo-v2:single[models=vit_b_16]", None, None),
    ("zoo-v2:fleet[models=...+vit_b_16]",
     "zoo-v2:fleet[models=resnet18+mobilenet_v2+googlenet+vit_ti_16+vit_b_16]", None, None),
    ("zoo-v2:capacitated (frozen set)", None, None, "zoo-v2:capacitated/test"),
    ("zoo-v2:deadline (frozen set)", None, None, "zoo-v2:deadline/test"),
)

BASELINES = ("all-device", "all-edge", "all-cloud", "greedy", "neurosurgeon", "dads",
             "local-search")
SHORT = {"all-device": "dev", "all-edge": "edge", "all-cloud": "cloud", "greedy": "greedy",
         "neurosurgeon": "NS", "dads": "DADS", "local-search": "LS"}
TIME_LIMIT = 30.0


def instances(label, fid, env, frozen, count, seed):
    """(instances, optimum costs, optimum decisions, tolerance, note) of one source."""
    if frozen is not None:
        s = load_set(frozen)
        refs = [s.reference(i) for i in s.instances]
        gaps = [r for r in refs if r["provenance"] != "milp"]
        note = ", ".join(r["provenance"] + (f" {100 * r['gap']:.1f} %" if r.get("gap") else "")
                         for r in gaps)
        return (s.instances, [float(r["cost"]) for r in refs],
                [np.asarray(r["decision"], dtype=np.int64) for r in refs], 1e-6, note)
    fam = get_family(fid)
    if fam.static_environments == "all" and env is not None:
        names = [e for e in fam.environments]
        k = names.index(env)
        insts = [fam.generate(seed, k + len(names) * i) for i in range(count)]
        assert all(fam.static_environment(k + len(names) * i).name == env for i in range(count))
    else:
        if env is not None:
            fam = get_family(fid, **fam.environment(env).params)
        insts = fam.instances(seed, count)
    mincut = make_solver("mincut")
    costs, decisions = [], []
    for inst in insts:
        r = mincut.solve(inst, time_limit=TIME_LIMIT)
        if r.status != "optimal":
            raise SystemExit(f"{label}: mincut did not prove {inst.name}: {r.status} {r.error}")
        costs.append(float(r.cost))
        decisions.append(np.asarray(r.decision, dtype=np.int64))
    return insts, costs, decisions, 1e-9, ""


def job_tiers(inst, x) -> list[str]:
    """Per job, the tiers its decision uses: ``"d"``, ``"ec"``, ``"dec"``, ..."""
    off = np.asarray(inst.layer_offsets)
    return ["".join("dec"[t] for t in sorted(set(x[off[j]:off[j + 1]].tolist())))
            for j in range(inst.n_jobs)]


def row(label, fid, env, frozen, count, seed) -> dict:
    insts, opt, xs, tol, note = instances(label, fid, env, frozen, count, seed)
    out = {"label": label, "n": len(insts), "note": note, "ratios": {}, "infeasible": {}}
    solvers = {b: make_solver(b) for b in BASELINES}
    for b, s in solvers.items():
        ratios, bad = [], 0
        for inst, o in zip(insts, opt):
            r = s.solve(inst, time_limit=TIME_LIMIT, seed=0)
            if r.decision is None or not r.feasible or r.cost is None:
                bad += 1
                ratios.append(math.inf)
            else:
                ratios.append(float(r.cost) / o)
        out["ratios"][b] = np.array(ratios)
        out["infeasible"][b] = bad
    out["tol"] = tol
    per_inst = [job_tiers(inst, x) for inst, x in zip(insts, xs)]
    out["three"] = sum("dec" in ts for ts in per_inst) / len(insts)
    per_job = [t for ts in per_inst for t in ts]
    kinds = sorted(set(per_job), key=lambda k: (len(k), "dec".index(k[0]), k))
    out["jobs"] = {k: per_job.count(k) / len(per_job) for k in kinds}
    nodes = np.bincount(np.concatenate(xs), minlength=3)
    out["nodes"] = nodes / nodes.sum()
    return out


def _share(r, b) -> str:
    return f"{100 * np.mean(r['ratios'][b] <= 1 + r['tol']):.0f}%"


def _pct(v) -> str:
    return "<1" if 0 < v < 0.005 else f"{100 * v:.0f}"


def _above(r, b, by) -> str:
    return f"{100 * np.mean(r['ratios'][b] > 1 + by):.0f}%"


def _gap(r, b) -> str:
    x = r["ratios"][b]
    if not np.all(np.isfinite(x)):
        return f"inf ({r['infeasible'][b]} infeas.)"
    g = math.exp(float(np.mean(np.log(x))))
    return f"{g:.3f} ({x.max():.2f})"


def table(rows) -> list[str]:
    head = ("| source | n | dev=opt | edge=opt | cloud=opt | DADS=opt | DADS>1% | 3 tiers | "
            "optimal jobs' tiers | nodes d/e/c | "
            + " | ".join(SHORT[b] for b in BASELINES) + " |")
    lines = [head, "|---|" + "---:|" * (9 + len(BASELINES))]
    for r in rows:
        nodes = "/".join(f"{100 * v:.0f}" for v in r["nodes"])
        jobs = " ".join(f"{k} {_pct(v)}" for k, v in r["jobs"].items())
        lines.append(
            f"| {r['label']}{' (' + r['note'] + ')' if r['note'] else ''} | {r['n']} | "
            f"{_share(r, 'all-device')} | {_share(r, 'all-edge')} | {_share(r, 'all-cloud')} | "
            f"{_share(r, 'dads')} | {_above(r, 'dads', 0.01)} | {100 * r['three']:.0f}% | {jobs} | "
            f"{nodes} | " + " | ".join(_gap(r, b) for b in BASELINES) + " |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=48, help="instances per generated source")
    ap.add_argument("--seed", type=int, default=9000, help="seed of the generated instances")
    ap.add_argument("--only", default=None, help="only the sources whose label contains this")
    ap.add_argument("--family", action="append", default=[], metavar="ID",
                    help="instead of the built-in sources, this family ID (with a preset and "
                         "[param=value] changes; repeatable), optima by the minimum cut")
    ap.add_argument("-o", "--out", type=Path, default=None, help="also write the table here")
    a = ap.parse_args(argv)
    if a.count < 1:
        print("triviality.py: --count must be at least 1", file=sys.stderr)
        return 2
    sources = tuple((f, f, None, None) for f in a.family) or SOURCES
    for fid in a.family:
        try:
            get_family(fid)
        except UserError as e:
            print(f"triviality.py: --family {fid!r}: {e}", file=sys.stderr)
            return 2
    chosen = [src for src in sources if a.only is None or a.only in src[0]]
    if not chosen:
        print(f"triviality.py: --only {a.only!r} matches no source; sources: "
              + ", ".join(src[0] for src in sources), file=sys.stderr)
        return 2
    t0 = time.process_time()
    rows = [row(*src, a.count, a.seed) for src in chosen]
    lines = [f"<!-- python results/dag/triviality.py --count {a.count} --seed {a.seed}"
             + "".join(f" --family '{f}'" for f in a.family)
             + f"{' --only ' + repr(a.only) if a.only else ''}; "
             f"{time.process_time() - t0:.0f} s of CPU -->", *table(rows)]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if a.out is not None:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
