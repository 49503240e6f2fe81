"""Instance sources of a run spec, expanded: a family draw, a frozen set, files, a random
draw, or a frame stream (:func:`expand_source`).

Each parsed source (:func:`offbench.run.spec.parse_spec`) becomes a :class:`Source`: its
members in order (instances, or a stream's frames), with a digest over the member digests; a
frozen set brings its own references.

Generated members are **lazy**: a family draw or a random draw holds no instance. Member ``i``
is described by :meth:`Source.descriptor` (a small tuple: family ID, seed and index, or the
random draw's arguments, seed and name) and built by :func:`build_member` where its jobs run
(the runner, for the pool and in-process executors; the Dask worker, on a cluster), so that a
run of a million instances never holds them all. A files source holds the paths and the
digests it read when it was expanded (to check the files and drop repeats); each file is read
again when its jobs run. Frozen sets and frame streams are small and held whole (a stream is one
job). The digest of a lazy source (over all its members' digests, in order) is known once every
member was built: the run loop computes it from what it recorded in the store
(:meth:`offbench.store.Store.member_digests`) and sets it (:meth:`Source.set_digest`).
"""

from __future__ import annotations

import functools
import glob
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..errors import UserError
from .spec import _RANDOM_ARGS, SpecError


#: Kinds whose members are built from a descriptor where they are solved.
LAZY_KINDS = ("family", "random")


@dataclass
class Source:
    """An expanded instance source: its members in order (see the module docstring).

    ``members`` holds the instances of a frozen set or the frames of a stream; it is None for a
    lazy source (family, random, files), whose member ``i`` is :meth:`descriptor` ``(i)`` and
    :meth:`build` ``(i)``.
    """

    name: str
    kind: str
    spec: dict
    members: list | None
    stream: bool
    references: dict | None = None  # digest -> reference dict (frozen sets)
    set_name: str | None = None
    count: int = 0
    paths: list | None = None  # files: one per member
    file_digests: list | None = None  # files: the digest read when expanded
    _digest: str | None = field(default=None, repr=False)

    def __post_init__(self):
        # An instance listed twice (a folder and a glob over it, say) is one instance: counted
        # twice it would weigh double in every statistic. A stream's frames may repeat.
        if self.members is not None:
            if not self.stream:
                first: dict[str, Any] = {}
                for inst in self.members:
                    first.setdefault(inst.digest, inst)
                self.members = list(first.values())
            self.count = len(self.members)
        elif self.paths is not None:
            first = {}
            for p, d in zip(self.paths, self.file_digests):
                first.setdefault(d, p)
            self.paths = list(first.values())
            self.file_digests = list(first)
            self.count = len(self.paths)

    def __len__(self) -> int:
        return self.count

    @property
    def lazy(self) -> bool:
        """Whether member digests are known only once members are built (family, random)."""
        return self.kind in LAZY_KINDS

    @property
    def instances(self) -> list:
        """Every member, built (held whole: for small sources, tests and ``--dry-run``)."""
        if self.members is not None:
            return list(self.members)
        return [self.build(i) for i in range(self.count)]

    def descriptor(self, i: int) -> tuple:
        """What member ``i`` is built from (:func:`build_member`): small and picklable."""
        if self.kind == "family":
            return ("family", self.spec["family"], int(self.spec["seed"]), i)
        if self.kind == "random":
            args = {k: self.spec[k] for k in _RANDOM_ARGS if k in self.spec}
            return ("random", args, int(self.spec["seed"]) + i, f"{self.name}-{i}")
        if self.kind == "files":
            return ("file", str(self.paths[i]), self.file_digests[i])
        return ("inline", self.members[i])

    def group_key(self, i: int):
        """What members drawn together in one group share (:meth:`Family.generate_many
        <offbench.families.Family.generate_many>` draws the members of one environment
        together): a family draw's member's environment; None for other kinds."""
        if self.kind != "family":
            return None
        return _family_of(self.spec["family"]).static_environment(i).name

    def build(self, i: int):
        """Member ``i`` as an :class:`~offbench.instance.Instance`."""
        if self.members is not None:
            return self.members[i]
        return build_member(self.descriptor(i))

    def build_many(self, members: list) -> dict:
        """Members ``members`` built (:meth:`build` of each, generated members of a family
        drawn together: :func:`build_members`), as ``{i: instance}``, or ``{i: exception}``
        for a member that cannot be built (the caller raises it when it comes to it)."""
        if self.members is not None:
            return {i: self.members[i] for i in members}
        return dict(zip(members, build_members([self.descriptor(i) for i in members])))

    def known_digest(self, i: int) -> str | None:
        """Member ``i``'s digest when known without building it (held or read members)."""
        if self.members is not None:
            return self.members[i].digest
        if self.file_digests is not None:
            return self.file_digests[i]
        return None

    @functools.cached_property
    def member_key(self) -> str:
        """What identifies a lazy source's members in the store (its spec without the count
        and the name: member ``i`` is the same instance whatever the count; the random draw's
        name is in its descriptor), for :meth:`offbench.store.Store.record_members`."""
        spec = {k: v for k, v in self.spec.items() if k not in ("count", "name")}
        if self.kind == "random":
            spec["name"] = self.name  # random instances are named after their source
        from ..store import canonical_json

        return hashlib.sha256(canonical_json({"kind": self.kind, **spec}).encode()).hexdigest()

    @property
    def digests(self) -> list[str]:
        """The member digests in order (a lazy source builds each member once, holding none)."""
        if self.members is not None:
            return [i.digest for i in self.members]
        if self.file_digests is not None:
            return list(self.file_digests)
        return [self.build(i).digest for i in range(self.count)]

    @property
    def digest(self) -> str:
        """sha256 over the kind and the member digests in order."""
        if self._digest is None:
            self._digest = source_digest(self.digests, self.stream)
        return self._digest

    @property
    def digest_known(self) -> bool:
        return self._digest is not None or not self.lazy

    def set_digest(self, digest: str) -> None:
        self._digest = digest


def source_digest(digests: Iterable[str], stream: bool) -> str:
    """sha256 over the kind and the member digests in order (any iterable: streamed)."""
    h = hashlib.sha256(b"stream:" if stream else b"set:")
    first = True
    for d in digests:
        h.update(d.encode() if first else b"\n" + d.encode())
        first = False
    return h.hexdigest()


_FAMILIES: dict[str, Any] = {}


def _family_of(fid: str):
    """The family of an ID, looked up once per process."""
    fam = _FAMILIES.get(fid)
    if fam is None:
        from ..families import get_family

        fam = _FAMILIES[fid] = get_family(fid)
    return fam


def build_member(desc: tuple):
    """Build the instance a :meth:`Source.descriptor` describes (in whatever process runs it;
    families are looked up once per process)."""
    kind = desc[0]
    if kind == "family":
        _, fid, seed, index = desc
        return _family_of(fid).generate(seed, index)
    if kind == "random":
        from ..generators import random_instance

        _, args, seed, name = desc
        kw = dict(args)
        kw["layers"] = tuple(kw.get("layers", (1, 6)))
        return random_instance(seed, name=name, **kw)
    if kind == "file":
        _, path, digest = desc
        inst = _load_file(path)
        if inst.digest != digest:
            raise UserError(f"instance file {path} changed while the run was going (digest "
                            f"{inst.digest[:12]}, was {digest[:12]} when the run started)")
        return inst
    if kind == "inline":
        return desc[1]
    raise ValueError(f"unknown member descriptor {kind!r}")


def build_members(descs: list) -> list:
    """:func:`build_member` of each descriptor, in order: the instance, or the exception that
    building it raised (the caller says which member failed). Consecutive members of one
    family and seed are drawn together (:meth:`offbench.families.Family.generate_many`: the
    same instances, in fewer numpy calls); if that raises, they are built one by one, so that
    each failure is the member's own."""
    out: list = []
    i = 0
    while i < len(descs):
        d = descs[i]
        j = i + 1
        if d[0] == "family":
            while j < len(descs) and descs[j][0] == "family" and descs[j][1:3] == d[1:3]:
                j += 1
        if j - i > 1:
            try:
                out.extend(_family_of(d[1]).generate_many(d[2], [e[3] for e in descs[i:j]]))
                i = j
                continue
            except Exception:
                pass  # one by one below: each member's own error
        for e in descs[i:j]:
            try:
                out.append(build_member(e))
            except Exception as exc:
                out.append(exc)
        i = j
    return out


def expand_source(s: dict) -> Source:
    """Expand one parsed source (see :func:`parse_spec`): lazy for a family or random draw
    (its first member is built here, so that bad generator arguments are refused before the run
    starts), files read once (checked, digests kept; a bad one named by its path; the
    manifest that ``offbench instances generate`` writes skipped, as ``offbench validate`` skips
    it: :func:`~offbench.instance.is_generator_manifest`), sets and streams held."""
    kind = s["kind"]
    where = f"source {s['name']!r}"
    if kind == "random":
        src = Source(s["name"], kind, s, None, stream=False, count=int(s["count"]))
        if src.count:
            try:
                src.build(0)
            except ValueError as e:
                raise SpecError(f"{where}: {e}") from None
        return src
    if kind == "family":
        fam = _family(s["family"], where)
        _FAMILIES.setdefault(s["family"], fam)
        src = Source(s["name"], kind, s, None, stream=False, count=int(s["count"]))
        if src.count:
            src.build(0)
        return src
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
        from ..instance import is_generator_manifest

        files: list[Path] = []
        for pat in s["paths"]:
            p = Path(pat)
            if p.is_dir():
                found = sorted([*p.glob("*.json"), *p.glob("*.npz")])
                found = [f for f in found if not is_generator_manifest(f)]
                if not found:
                    raise SpecError(f"{where}: {p}: no .json or .npz instance files in this folder")
                files += found
            elif any(ch in pat for ch in "*?["):
                found = sorted(Path(x) for x in glob.glob(pat))
                if not found:
                    raise SpecError(f"{where}: {pat}: matches no files")
                files += [f for f in found if not is_generator_manifest(f)]
            elif p.is_file():
                if not is_generator_manifest(p):  # DIR/*.json names it among the instances
                    files.append(p)
            else:
                raise SpecError(f"{where}: {p}: no such file or folder")
        if not files:
            raise SpecError(f"{where}: no instance files (only the manifest that `offbench "
                            "instances generate` writes, which is not an instance)")
        # Each file is read (and checked) once here, and held only for its digest.
        digests = [_load_file(f, where).digest for f in files]
        return Source(s["name"], kind, s, None, stream=False, paths=[str(f) for f in files],
                      file_digests=digests)
    if kind == "stream":
        if "family" in s:
            fam = _family(s["family"], where)
            if not hasattr(fam, "stream"):
                raise SpecError(f"{where}: family {s['family']} has no frame streams")
            kw = {k: s[k] for k in ("environment", "switch_at", "switch_to") if k in s}
            try:  # (an environment the family lacks: named with the source, as the family is)
                frames = list(fam.stream(s["seed"], s["frames"], **kw))
            except SpecError:
                raise
            except UserError as e:
                raise SpecError(f"{where}: {e}") from None
        else:
            frames = [_random(s["seed"] + i, s["random"], f"{s['name']}-{i}", where)
                      for i in range(s["frames"])]
        if len(frames) != s["frames"]:
            raise SpecError(f"{where}: asked for {s['frames']} frames, the stream gave {len(frames)}")
        _check_structure(frames, where)
        return Source(s["name"], kind, s, frames, stream=True)
    raise SpecError(f"{where}: unknown kind {kind!r}")


def _load_file(path, where: str = ""):
    """:func:`~offbench.instance.load_instance_named`: its error names the file and, when
    given, the source (a SpecError)."""
    from ..errors import InstanceError
    from ..instance import load_instance_named

    try:
        return load_instance_named(path)
    except InstanceError as e:
        if where:
            raise SpecError(f"{where}: {e}") from None
        raise


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
