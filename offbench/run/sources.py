"""Instance sources of a run spec, expanded: a family draw, a frozen set, files, a random
draw, or a frame stream (:func:`expand_source`).

Each parsed source (:func:`offbench.run.spec.parse_spec`) becomes a :class:`Source`: its
instances (or a stream's frames) in order, with a digest over its members; a frozen set brings
its own references.
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .spec import _RANDOM_ARGS, SpecError


@dataclass
class Source:
    """An expanded instance source: its instances (or a stream's frames) in order."""

    name: str
    kind: str
    spec: dict
    instances: list
    stream: bool
    references: dict | None = None  # digest -> reference dict (frozen sets)
    set_name: str | None = None

    def __post_init__(self):
        # An instance listed twice (a folder and a glob over it, say) is one instance: counted
        # twice it would weigh double in every statistic. A stream's frames may repeat.
        if not self.stream:
            first: dict[str, Any] = {}
            for inst in self.instances:
                first.setdefault(inst.digest, inst)
            self.instances = list(first.values())

    @property
    def digests(self) -> list[str]:
        return [i.digest for i in self.instances]

    @property
    def digest(self) -> str:
        """sha256 over the kind and the member digests in order."""
        text = ("stream:" if self.stream else "set:") + "\n".join(self.digests)
        return hashlib.sha256(text.encode()).hexdigest()


def expand_source(s: dict) -> Source:
    """Build the instances of one parsed source (see :func:`parse_spec`)."""
    kind = s["kind"]
    where = f"source {s['name']!r}"
    if kind == "random":
        insts = [_random(s["seed"] + i, s, f"{s['name']}-{i}", where) for i in range(s["count"])]
        return Source(s["name"], kind, s, insts, stream=False)
    if kind == "family":
        fam = _family(s["family"], where)
        insts = list(fam.instances(s["seed"], s["count"]))
        return Source(s["name"], kind, s, insts, stream=False)
    if kind == "set":
        try:
            from ..instance_sets import load_set
        except ImportError as e:
            raise SpecError(f"{where}: instance sets need offbench.instance_sets, which cannot be "
                            f"imported here ({e})") from None
        try:
            iset = load_set(s["set"])
        except SpecError:
            raise
        except UserError as e:
            raise SpecError(f"{where}: {e}") from None
        refs = dict(getattr(iset, "references", None) or {})
        return Source(s["name"], kind, s, list(iset.instances), stream=False, references=refs,
                      set_name=iset.name)
    if kind == "files":
        from ..instance import load_instance

        files: list[Path] = []
        for pat in s["paths"]:
            p = Path(pat)
            if p.is_dir():
                found = sorted([*p.glob("*.json"), *p.glob("*.npz")])
                if not found:
                    raise SpecError(f"{where}: {p}: no .json or .npz instance files in this folder")
                files += found
            elif any(ch in pat for ch in "*?["):
                found = sorted(Path(x) for x in glob.glob(pat))
                if not found:
                    raise SpecError(f"{where}: {pat}: matches no files")
                files += found
            elif p.is_file():
                files.append(p)
            else:
                raise SpecError(f"{where}: {p}: no such file or folder")
        insts = [load_instance(f) for f in files]
        return Source(s["name"], kind, s, insts, stream=False)
    if kind == "stream":
        if "family" in s:
            fam = _family(s["family"], where)
            if not hasattr(fam, "stream"):
                raise SpecError(f"{where}: family {s['family']} has no frame streams")
            kw = {k: s[k] for k in ("environment", "switch_at", "switch_to") if k in s}
            frames = list(fam.stream(s["seed"], s["frames"], **kw))
        else:
            frames = [_random(s["seed"] + i, s["random"], f"{s['name']}-{i}", where)
                      for i in range(s["frames"])]
        if len(frames) != s["frames"]:
            raise SpecError(f"{where}: asked for {s['frames']} frames, the stream gave {len(frames)}")
        _check_structure(frames, where)
        return Source(s["name"], kind, s, frames, stream=True)
    raise SpecError(f"{where}: unknown kind {kind!r}")


def _random(seed: int, args: dict, name: str, where: str):
    from ..generators import random_instance

    kw = {k: args[k] for k in _RANDOM_ARGS if k in args}
    kw["layers"] = tuple(kw.get("layers", (1, 6)))
    try:
        return random_instance(seed, name=name, **kw)
    except ValueError as e:
        raise SpecError(f"{where}: {e}") from None


def _family(fid: str, where: str):
    try:
        from ..families import get_family
    except ImportError as e:
        raise SpecError(f"{where}: instance families need offbench.families, which cannot be "
                        f"imported here ({e})") from None
    try:
        return get_family(fid)
    except SpecError:
        raise
    except UserError as e:
        raise SpecError(f"{where}: {e}") from None


def _check_structure(frames: list, where: str) -> None:
    import numpy as np

    f0 = frames[0]
    for k, f in enumerate(frames[1:], 1):
        if f.n_devices != f0.n_devices or not np.array_equal(f.layers_per_job, f0.layers_per_job):
            raise SpecError(f"{where}: frame {k} has another structure than frame 0 (devices, jobs "
                            "or layers per job differ); a stream's frames share one structure")
