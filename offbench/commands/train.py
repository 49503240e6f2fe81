"""``offbench train SOLVER --family F --out DIR``: meta-train a learned solver once, ship its weights.

Meta-training over a family's training environments takes minutes to hours; this command does
it once and writes, in ``DIR``:

* ``<solver-id>.safetensors``: the model state (safetensors: named tensors, loading runs no code);
* ``train.json``: the training spec (solver, parameters, family, environments, seed, iterations,
  mode, offbench version), its sha256 (``spec_sha256``, of the spec's canonical JSON), what the
  training spent (frames, cost-model evaluations, seconds) and the weights' sha256.

A run starts the solver from them with the parameter ``weights = "DIR/<solver-id>.safetensors"``
(the other network parameters as in ``train.json``); the row's provenance records the weights'
sha256. The same command with the same seed writes bitwise the same weights on the same machine
(torch is seeded and deterministic, one thread). A solver can be trained here when it has a
``meta_train(family, iterations, seed, seed_space)`` method (``dmro``). The training streams'
seeds come from a seed space of their own (``--seed-space tagged``, the default, recorded in
``train.json``), so a run never scores the weights on their training frames; ``--seed-space
legacy`` (``seed * 1000 + j``: stream sources of a run spec share it) reproduces the weights
trained before it, results/learned/weights among them (their ``train.json`` has no
``seed_space``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from ..errors import UserError
from ._util import families_dir_option, seed_int, use_families_dirs


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise UserError(f"--iterations: expected an integer >= 1, got {text!r}") from None
    if v < 1:
        raise UserError(f"--iterations: expected an integer >= 1, got {text!r}")
    return v


def add_parser(sub):
    p = sub.add_parser(
        "train", help="meta-train a learned solver on a family's training environments",
        description="Meta-train (or pretrain) a learned solver over the training environments of "
                    "a family and write its weights (safetensors) and the training spec.")
    p.add_argument("solver", metavar="SOLVER", help="a solver with meta-training, e.g. dmro")
    p.add_argument("--family", required=True, help="family ID, e.g. dmro-v1")
    families_dir_option(p)
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the weights and train.json")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N",
                   help="seed of the training (default: 0); the same seed gives the same weights")
    p.add_argument("--iterations", type=_positive_int, default=200, metavar="N",
                   help="meta-iterations (default: %(default)s)")
    p.add_argument("--mode", choices=("reptile", "union"), default="reptile",
                   help="reptile: meta-learning; union: the same frames and steps, trained in turn "
                        "(the 'pretrained on the union' baseline) (default: %(default)s)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a solver parameter (repeatable), e.g. K=4 or meta_tasks=8")
    p.add_argument("--seed-space", choices=("tagged", "legacy"), default="tagged",
                   help="where the training streams' seeds come from: tagged, a seed space of "
                        "their own that no run spec's stream shares (default); legacy, seed * "
                        "1000 + j, as the weights in results/learned/weights were trained (their "
                        "train.json has no seed_space), only to reproduce those")
    p.add_argument("--force", action="store_true", help="overwrite weights already in DIR")
    p.set_defaults(func=run)
    return p


def spec_sha256(spec: dict) -> str:
    """The sha256 of a training spec's canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def train(solver_name: str, family: str, out: str | Path, *, seed: int = 0, iterations: int = 200,
          mode: str = "reptile", params: dict | None = None, force: bool = False,
          seed_space: str = "tagged") -> dict:
    """Meta-train and write ``DIR/<solver-id>.safetensors`` and ``DIR/train.json``; returns the
    contents of ``train.json``. Everything is checked before training starts, the output folder
    created and written to included (bad input: a :class:`~offbench.errors.UserError`, nothing
    written). ``seed_space`` picks the training streams' seeds (``DMRO.meta_train``): recorded
    in the spec as ``seed_space`` when ``"tagged"``; a spec without it is ``"legacy"`` (so the
    specs, and their sha256, of the weights trained before the tagged space still read the
    same)."""
    from .. import __version__
    from ..families import get_family
    from ..discovery import resolve

    cls = resolve(solver_name)
    if not callable(getattr(cls, "meta_train", None)):
        raise UserError(f"solver {cls.id} has no meta-training (a meta_train method); "
                        "offbench train works for: dmro")
    missing = cls.missing_requirements()
    if missing:
        from .._deps import install_hint

        raise UserError(f"{cls.id} needs {', '.join(missing)} ({install_hint(missing)})")
    fam = get_family(family)
    envs = [n for n, e in fam.environments.items() if e.split == "train"]
    if not envs:
        raise UserError(f"family {fam.id} has no training environments")
    if seed_space not in ("tagged", "legacy"):
        raise UserError(f"--seed-space: expected tagged or legacy, got {seed_space!r}")
    params = dict(params or {})
    for k in ("meta_iterations", "meta_mode", "meta_family", "weights"):
        if k in params:
            raise UserError(f"--param {k}: set by offbench train itself (use --iterations, --mode, "
                            "--family; training starts untrained)")
    solver = cls(**{**params, "meta_iterations": 0, "meta_mode": mode, "meta_family": fam.id})
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: not a folder")
    wpath = out / f"{cls.id}.safetensors"
    if wpath.exists() and not force:
        raise UserError(f"--out {out}: {wpath.name} exists (use --force to overwrite)")
    structure = next(iter(fam.stream(int(seed), 1)))
    _check_one_structure(fam, structure, int(seed), cls.id)
    created = _make_out(out)
    try:
        t0 = time.perf_counter()
        solver.start(structure, int(seed))
        report = solver.meta_train(fam.id, int(iterations), int(seed), seed_space=seed_space)
        seconds = time.perf_counter() - t0
        spec = {"solver": cls.id,
                "params": {k: v for k, v in solver.param_values.items() if k != "weights"},
                "family": fam.id, "environments": envs, "seed": int(seed),
                "iterations": int(iterations), "mode": mode, "offbench_version": __version__,
                **({"seed_space": seed_space} if seed_space != "legacy" else {})}
        data = solver._weights_bytes()
        sha = hashlib.sha256(data).hexdigest()
        doc = {"format": "offbench-training", "spec": spec, "spec_sha256": spec_sha256(spec),
               "weights": wpath.name, "weights_sha256": sha,
               "spent": {"frames": report.get("frames"), "evaluations": report.get("evaluations"),
                         "seconds": round(seconds, 3)},
               "last": {k: report[k] for k in ("meta_loss", "meta_step") if k in report}}
        # Both files are written beside their names first and then renamed, the weights last
        # but one: a failure leaves the folder as it was (no weights without their train.json).
        wtmp, jtmp = out / (wpath.name + ".tmp"), out / "train.json.tmp"
        try:
            wtmp.write_bytes(data)
            jtmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
            wtmp.replace(wpath)
            jtmp.replace(out / "train.json")
        finally:
            for t in (wtmp, jtmp):
                t.unlink(missing_ok=True)
    except BaseException:
        for d in reversed(created):  # the folders made for this training, if still empty
            try:
                d.rmdir()
            except OSError:
                pass
        raise
    return doc


def _check_one_structure(fam, structure, seed: int, solver_id: str) -> None:
    """Refuse, before anything is written, a family whose frames change structure from seed to
    seed (its DAG versions: each seed draws other workflows): meta-training draws each training
    environment's frames from a seed of its own, and a learner keeps the one structure it
    started on, so the training would stop at its first other environment."""
    from ..learn.features import same_structure, structure_difference

    other = next(iter(fam.stream(seed + 1, 1)))
    if not same_structure(structure, other):
        raise UserError(
            f"offbench train {solver_id} --family {fam.id}: meta-training draws each training "
            f"environment from a seed of its own, and {fam.id}'s seeds draw frames of other "
            f"structures ({structure_difference(structure, other)}), while a learner keeps the "
            "one structure it started on. Train on a family whose seeds share one structure "
            "(its chain versions, such as dmro-v1), or, on DAG streams, adapt without "
            "meta-training (the adaptation track without meta_frames: "
            "results/dag/learners-adaptation.toml)")


def _make_out(out: Path) -> list[Path]:
    """Create ``out`` (and its missing parents) and check that a file can be written in it,
    before training: a training of hours must not end in "Not a directory". Returns the
    folders created, outermost first (removed again if the training fails)."""
    missing = []
    p = out
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    missing.reverse()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {out}: cannot create this folder ({e.strerror or e})") from None
    probe = out / f".offbench-train-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        for d in reversed(missing):
            try:
                d.rmdir()
            except OSError:
                pass
        raise UserError(f"--out {out}: cannot write in this folder ({e.strerror or e})") from None
    return missing


def run(args) -> int:
    from ..discovery import parse_params, resolve

    use_families_dirs(args)
    cls = resolve(args.solver)
    params = parse_params(cls, args.param)
    doc = train(args.solver, args.family, args.out, seed=args.seed, iterations=args.iterations,
                mode=args.mode, params=params, force=args.force, seed_space=args.seed_space)
    print(f"{doc['spec']['solver']}: {doc['spec']['mode']} over {len(doc['spec']['environments'])} "
          f"training environments of {doc['spec']['family']}, {doc['spec']['iterations']} iterations, "
          f"{doc['spent']['frames']} frames, {doc['spent']['evaluations']} evaluations, "
          f"{doc['spent']['seconds']:.1f} s -> {Path(args.out) / doc['weights']} "
          f"(sha256 {doc['weights_sha256'][:16]}...)")
    return 0
