"""Memory that loading an instance file takes, per byte of the file (goal: JSON at most 10x).

Each measurement runs in a fresh subprocess: the instance is written, then the child reads it with
:func:`offbench.load_instance` under :mod:`tracemalloc` (numpy reports its buffers to it), and
prints the peak of Python and numpy allocations during the load, divided by the file's size. The
resulting :class:`~offbench.Instance` itself is part of that peak (its arrays are what a load is
for). A second child gives the growth of the peak resident size (``VmHWM``, reset just before
the load through ``/proc/self/clear_refs``) over the resident size before it: what the operating
system sees, free lists and allocator slack included (Linux only).

Shapes: many small jobs (the ``scale`` family's kind of file), a few long jobs (layer-granular
DNNs), one job of as many layers as one job may have, and many small jobs whose ops and bits are one-digit integers
(the most numbers per byte a file can hold); each written as offbench writes JSON (indented,
floats), as minified JSON (integral values as integers), and as the columnar ``.npz``. Run as a
script::

    python benchmarks/scripts/bench_load_memory.py [--layers 200000] [--repeats 3]

prints one line per shape and format: file size, tracemalloc peak per input byte, resident growth
per input byte (medians over the repeats).

Measured (200,000 layers, medians of 3, before -> after the parser packed jobs while reading):
JSON 2.0-3.8x its size (was 4.3-17.4x, the worst for minified one-digit values); npz 2.6-3.1x
its size, and 14.7x for the one-digit shape, whose zeros-and-digits arrays compress 15-fold
(the arrays themselves, 8 bytes a value, are what is kept).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import gc, json, sys, tracemalloc
import numpy as np
from offbench.instance import load_instance
path = sys.argv[1]
mode = sys.argv[2]
def status(key):  # kB
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
gc.collect()
if mode == "rss":  # the peak resident size, reset first (Linux: clear_refs 5)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    rss0 = status("VmRSS")
    inst = load_instance(path)
    print(json.dumps({"rss_growth": (status("VmHWM") - rss0) * 1024, "layers": inst.n_layers}))
else:
    tracemalloc.start()
    inst = load_instance(path)
    cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"peak": peak, "kept": cur, "layers": inst.n_layers}))
"""

def _per_job() -> int:
    from offbench.instance import limit

    return limit("layers_per_job")


SHAPES = {
    # name: (jobs, (min layers, max layers)) for a given total of layers
    "many-small-jobs": lambda total: (max(1, total // 5), (3, 7)),
    "long-jobs": lambda total: (max(1, total // 200), (150, 250)),
    "one-job": lambda total: (1, (min(total, _per_job()), min(total, _per_job()))),
    "one-digit-numbers": lambda total: (max(1, total // 5), (3, 7)),
}
FORMATS = {"json": ".json", "json-min": ".json", "npz": ".npz"}


def _instance(shape: str, total_layers: int):
    import numpy as np

    from offbench.generators import random_instance

    n_jobs, layers = SHAPES[shape](total_layers)
    inst = random_instance(0, n_devices=min(n_jobs, 64), n_jobs=n_jobs, layers=layers,
                           name=f"bench-{shape}")
    if shape == "one-digit-numbers":  # the most numbers per byte a file can hold: "ops":[3,0,7]
        rng = np.random.default_rng(0)
        inst = inst.replace(ops=rng.integers(0, 10, inst.ops.size).astype(float),
                            bits=rng.integers(0, 10, inst.bits.size).astype(float))
    return inst


def _write(inst, path: Path, fmt: str) -> None:
    from offbench.instance import save_instance

    if fmt == "json-min":  # minified, integral values as integers
        d = inst.to_dict()
        for job in d["jobs"]:
            job["ops"] = [int(v) if v.is_integer() else v for v in job["ops"]]
            job["bits"] = [int(v) if v.is_integer() else v for v in job["bits"]]
        path.write_text(json.dumps(d, separators=(",", ":")))
    else:
        save_instance(inst, path)


def measure(path: Path) -> dict:
    """Load ``path`` in fresh interpreters; return the tracemalloc peak and the growth of the
    peak resident size, in bytes (two children: tracemalloc itself takes memory)."""
    out = {}
    for mode in ("trace", "rss"):
        p = subprocess.run([sys.executable, "-c", _CHILD, str(path), mode], check=True,
                           capture_output=True, text=True)
        out.update(json.loads(p.stdout.strip().splitlines()[-1]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=200_000, help="total layers per instance")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    print(f"{'shape':<18} {'format':<8} {'file bytes':>12} {'peak/byte':>10} {'rss/byte':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in SHAPES:
            inst = _instance(shape, args.layers)
            for fmt, suffix in FORMATS.items():
                path = Path(tmp) / f"{shape}-{fmt}{suffix}"
                _write(inst, path, fmt)
                size = path.stat().st_size
                runs = [measure(path) for _ in range(args.repeats)]
                assert all(r["layers"] == inst.n_layers for r in runs)
                peak = statistics.median(r["peak"] for r in runs) / size
                rss = statistics.median(r["rss_growth"] for r in runs) / size
                print(f"{shape:<18} {fmt:<8} {size:>12,} {peak:>10.1f} {rss:>9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
