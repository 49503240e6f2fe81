"""Instance sets: frozen test sets with reference optima, and folders of instance files.

A *frozen set* lives in ``instances/sets/<family ID>/<split>/`` (a preset becomes a folder:
``capacitated-v1:small/test`` is ``sets/capacitated-v1/small/test/``) and holds its members
(``000.json`` ... or the columnar ``000.npz``) and a ``manifest.json``::

    {"format": "offbench-instance-set", "version": 1,
     "set": "dmro-v1/test", "family": "dmro-v1", "seed": 1000, "start": 0, "count": 11,
     "members": [{"file": "000.json", "index": 0, "name": "dmro-v1/s1000/0", "digest": "..."}],
     "digest": "<sha256 over the member digests, in order>",
     "references": {"<member digest>": {"cost", "bound", "provenance", "gap", "solver",
                                         "wall_time", "decision"}},
     "reference_time_limit": 60.0, "offbench_version": "0.1.0", "created_by": "...",
     "references_version": 2, "references_history": [{"version": 1, "replaced_in_version": 2,
         "why": "...", "old": {"<member digest>": {...the replaced reference...}}}]}

The two last keys appear once a set's references are recomputed and one of them changes (a
better incumbent or bound, a gap closed): the instances, their files and the set digest stay as
they were; ``references_version`` (1 when absent) counts the versions, and
``references_history`` keeps every replaced reference with the version it belonged to and why
it was replaced. A table records the references its ratios used (``references_digest`` of each
set source in its provenance: :func:`references_digest`), and ``offbench leaderboard verify``
says when the set's references have changed since, naming the version and the reason.

References follow SPEC.md section 6: ``provenance`` is ``exhaustive``, ``dp``, ``mincut`` or
``milp`` (a proven optimum, gap 0), ``milp-gap`` (best known, with its gap and bound) or
``heuristic``; they come from :func:`offbench.reference.compute_reference` and nowhere else. The set digest is
``sha256("\\n".join(member digests))``.

:func:`freeze_set` (``offbench instances freeze``) writes a set declared by its family's
definition; :func:`verify_set` (``offbench instances verify-sets``) regenerates it from the
family and fails, naming the set and the member, when a digest, a file, or an optimum changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import UserError
from .instance import Instance, atomic_write, load_instance, save_instance

__all__ = [
    "SET_FORMAT", "SET_VERSION", "InstanceSet", "SetError", "load_set", "set_digest", "sets_dir",
    "set_path", "list_sets", "declared_sets", "freeze_set", "verify_set", "write_set",
    "check_target", "find_set", "PROVEN",
]

SET_FORMAT = "offbench-instance-set"
SET_VERSION = 1
MANIFEST = "manifest.json"
#: Provenances whose cost is a proven optimum (SPEC.md section 6).
PROVEN = ("exhaustive", "dp", "mincut", "milp")
PROVENANCES = PROVEN + ("milp-gap", "heuristic")
#: Relative tolerance when a recomputed optimum is compared with the frozen one.
OPTIMUM_RTOL = 1e-7


class SetError(UserError):
    """A bad set reference, a damaged set, or a set that no longer matches its family."""


def references_digest(refs) -> str:
    """sha256 (hex) over the references of a set's members, as ``(member digest, cost, bound,
    provenance)`` in member-digest order: what a table records of the references its ratios used
    (``refs``: member digest -> reference dict; members without one are left out)."""
    rows = [[d, float(r["cost"]), None if r.get("bound") is None else float(r["bound"]),
             str(r.get("provenance"))] for d, r in sorted(refs.items())]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode("ascii")).hexdigest()


def set_digest(digests) -> str:
    """sha256 (hex) over member digests in order: ``sha256("\\n".join(digests))``."""
    return hashlib.sha256("\n".join(digests).encode("ascii")).hexdigest()


@dataclass
class InstanceSet:
    """A list of instances with their references.

    Attributes
    ----------
    name : str
        The set ID (``dmro-v1/test``) or, for a folder without a manifest, the folder's path.
    instances : list of Instance
    references : dict
        Member digest -> ``{"cost", "bound", "provenance", "gap", "solver", ...}``; empty when
        unknown.
    manifest : dict or None
        The manifest as read (None for a folder without one).
    path : Path or None
        Where it was read from.
    """

    name: str
    instances: list[Instance]
    references: dict[str, dict] = field(default_factory=dict)
    manifest: dict | None = None
    path: Path | None = None

    @property
    def digest(self) -> str:
        """sha256 over the member digests, in order."""
        return set_digest([i.digest for i in self.instances])

    def reference(self, inst: Instance) -> dict | None:
        """The reference of a member (by digest), or None."""
        return self.references.get(inst.digest)

    @property
    def references_version(self) -> int:
        """The version of the set's references (1 until they are first replaced)."""
        return int((self.manifest or {}).get("references_version", 1))

    @property
    def references_history(self) -> list[dict]:
        """The replaced references, oldest first: ``{"version", "replaced_in_version", "why",
        "old": {member digest: reference}}``."""
        return list((self.manifest or {}).get("references_history", []))

    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.instances)

    def __repr__(self) -> str:
        return (f"InstanceSet({self.name!r}, {len(self.instances)} instances, "
                f"{len(self.references)} references, digest={self.digest[:12]})")


# ------------------------------------------------------------------------------ locations
def sets_dir() -> Path:
    """The folder of frozen sets (``sets/`` beside the family definitions)."""
    from .families import definitions_dir

    return definitions_dir() / "sets"


def _split_set_id(set_id: str) -> tuple[str, str]:
    if not isinstance(set_id, str) or "/" not in set_id:
        raise SetError(f"{set_id!r} is not a set ID: expected FAMILY-ID/SPLIT (e.g. dmro-v1/test)")
    fam, split = set_id.strip().rsplit("/", 1)
    if not fam or not split or not split.replace("_", "").replace("-", "").isalnum():
        raise SetError(f"{set_id!r} is not a set ID: expected FAMILY-ID/SPLIT (e.g. dmro-v1/test)")
    return fam, split


def set_path(set_id: str, root: Path | None = None) -> Path:
    """The folder of a frozen set: ``capacitated-v1:small/test`` -> ``sets/capacitated-v1/small/test``."""
    fam, split = _split_set_id(set_id)
    root = sets_dir() if root is None else Path(root)
    return root.joinpath(*fam.split(":"), split)


def list_sets(root: Path | None = None) -> list[str]:
    """IDs of the frozen sets on disk, sorted."""
    root = sets_dir() if root is None else Path(root)
    out = []
    for m in sorted(root.rglob(MANIFEST)):
        if any(part.startswith(".") for part in m.relative_to(root).parts):
            continue  # a temporary folder of write_set left by a killed process
        try:
            out.append(json.loads(m.read_text(encoding="utf-8"))["set"])
        except (OSError, ValueError, KeyError, TypeError):
            out.append(str(m.parent.relative_to(root)))
    return sorted(out)


def declared_sets() -> list[tuple[str, object, object]]:
    """Every set that a family definition declares: ``(set ID, Family, SetSpec)``."""
    from .families import list_families

    out = []
    for fam in list_families():
        for spec in fam.sets:
            out.append((fam.set_id(spec), fam.with_preset(spec.preset) if spec.preset else fam, spec))
    return out


# ------------------------------------------------------------------------------ reading
def _read_manifest(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SetError(f"{path}: not a readable manifest ({e})") from None
    if not isinstance(data, dict) or data.get("format") != SET_FORMAT:
        raise SetError(f"{path}: not an {SET_FORMAT} manifest (format is "
                       f"{data.get('format') if isinstance(data, dict) else type(data).__name__!r})")
    if data.get("version") != SET_VERSION:
        raise SetError(f"{path}: manifest version {data.get('version')!r}; this offbench reads "
                       f"version {SET_VERSION}")
    for k in ("set", "members", "digest"):
        if k not in data:
            raise SetError(f"{path}: manifest lacks {k!r}")
    if not isinstance(data["members"], list):
        raise SetError(f"{path}: 'members' must be a list")
    return data


def _load_manifest_set(path: Path) -> InstanceSet:
    data = _read_manifest(path)
    folder = path.parent
    name = data["set"]
    insts = []
    for k, m in enumerate(data["members"]):
        if not isinstance(m, dict) or not isinstance(m.get("file"), str) or "digest" not in m:
            raise SetError(f"set {name}: members[{k}] must have 'file' and 'digest'")
        f = folder / m["file"]
        if Path(m["file"]).name != m["file"]:
            raise SetError(f"set {name}: members[{k}].file must be a file name in the set's folder")
        try:
            inst = load_instance(f)
        except UserError as e:
            raise SetError(f"set {name}: {m['file']}: {e}") from None
        if inst.digest != m["digest"]:
            raise SetError(f"set {name}: {m['file']}: content digest {inst.digest[:12]} does not "
                           f"match the manifest's {str(m['digest'])[:12]} (the file was changed)")
        insts.append(inst)
    s = InstanceSet(name=name, instances=insts, references=dict(data.get("references", {})),
                    manifest=data, path=folder)
    if s.digest != data["digest"]:
        raise SetError(f"set {name}: set digest {s.digest[:12]} does not match the manifest's "
                       f"{str(data['digest'])[:12]}")
    return s


def _load_folder(folder: Path) -> InstanceSet:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".json", ".npz") and p.is_file())
    if not files:
        raise SetError(f"{folder}: no instance files (.json, .npz) and no {MANIFEST}")
    insts = []
    for f in files:
        try:
            insts.append(load_instance(f))
        except UserError as e:
            raise SetError(f"{f}: {e}") from None
    return InstanceSet(name=str(folder), instances=insts, path=folder)


def find_set(ref: str | os.PathLike) -> Path | None:
    """Where a set reference points: an existing file or folder, or the manifest of a frozen set
    ID (``dmro-v1/test``); None when it is neither."""
    p = Path(ref)
    if p.exists():
        return p
    ref = str(ref)
    if "/" in ref and not ref.startswith((".", "/")):
        try:
            m = set_path(ref) / MANIFEST
        except SetError:
            return None
        if m.is_file():
            return m
    return None


def _no_such_set(ref) -> SetError:
    import difflib

    known = list_sets()
    close = difflib.get_close_matches(str(ref), known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return SetError(f"no instance set {str(ref)!r}: not a file or folder, and not a frozen set.{hint} "
                    f"Frozen sets: {', '.join(known) or 'none'}.")


def load_set(ref: str | os.PathLike) -> InstanceSet:
    """Load a frozen set by ID (``dmro-v1/test``), or a folder of instance files, or a manifest.

    Parameters
    ----------
    ref : str or path-like
        A set ID (files under ``instances/sets/``), a folder (with a ``manifest.json``, or of
        ``.json``/``.npz`` instance files, read in name order), or a manifest file.

    Returns
    -------
    InstanceSet

    Raises
    ------
    SetError
        Unknown set (with the closest IDs), a damaged file, or a member whose digest differs
        from its manifest.
    """
    p = find_set(ref)
    if p is None:
        raise _no_such_set(ref)
    if p.is_dir():
        m = p / MANIFEST
        return _load_manifest_set(m) if m.is_file() else _load_folder(p)
    if p.suffix == ".json":
        try:
            head = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise SetError(f"{p}: not readable JSON ({e})") from None
        if isinstance(head, dict) and head.get("format") == SET_FORMAT:
            return _load_manifest_set(p)
    try:
        inst = load_instance(p)
    except UserError as e:
        raise SetError(f"{p}: {e}") from None
    return InstanceSet(name=str(p), instances=[inst], path=p.parent)


# ------------------------------------------------------------------------------ writing
def _member_file(index: int, fmt: str) -> str:
    return f"{index:03d}.{fmt}"


def check_target(folder: str | os.PathLike, *, force: bool = False) -> Path:
    """Check that a set can be written to ``folder`` before any work is done; return it absolute.

    ``folder`` may be missing (it is created) or empty; with ``force`` it may also hold an
    instance set written before (a ``manifest.json`` of this format), which is replaced. Anything
    else (a file, a folder of other things) is refused, so ``--force`` never deletes a folder
    that offbench did not write.

    Raises
    ------
    SetError
        With the reason and what to do.
    """
    folder = Path(os.path.abspath(os.fspath(folder)))
    if folder.parent == folder:
        raise SetError(f"{folder} cannot hold an instance set: give a folder below it")
    if folder.exists() or folder.is_symlink():
        if not folder.is_dir():
            raise SetError(f"{folder} exists and is not a folder: give a folder for the set")
        try:
            empty = not any(folder.iterdir())
        except OSError as e:
            raise SetError(f"cannot read {folder}: {e.strerror or e}") from None
        if not empty:
            if not force:
                raise SetError(f"{folder} exists and is not empty (use --force to replace it)")
            if not _is_set_folder(folder):
                raise SetError(f"{folder} is not an instance set written by offbench (it has no "
                               f"{SET_FORMAT} {MANIFEST}); --force replaces only such a set. "
                               "Give another folder, or empty this one yourself")
            foreign = _foreign_entries(folder)
            if foreign:
                shown = ", ".join(repr(n) for n in foreign[:5])
                more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
                raise SetError(f"{folder} holds files that offbench did not write (not in its "
                               f"{MANIFEST}): {shown}{more}; --force removes only what the "
                               "manifest lists. Move them away, or give another folder")
    else:
        parent = folder.parent
        while not parent.exists() and parent.parent != parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise SetError(f"cannot write {folder}: {parent} is not a writable folder")
    return folder


def _foreign_entries(folder: Path) -> list[str]:
    """Names in a set's folder that its manifest does not list (what ``--force`` must keep)."""
    try:
        members = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("members")
        listed = {m["file"] for m in members if isinstance(m, dict) and isinstance(m.get("file"), str)}
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, TypeError):
        listed = set()
    listed.add(MANIFEST)
    out = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name not in listed or not entry.is_file(follow_symlinks=False):
            out.append(entry.name)
    return out


def _is_set_folder(folder: Path) -> bool:
    try:
        head = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(head, dict) and head.get("format") == SET_FORMAT


def write_set(folder: Path, instances: list[Instance], manifest: dict, *, fmt: str = "json",
              force: bool = False) -> Path:
    """Write members and manifest into ``folder`` all at once (a temporary folder renamed into
    place), so a reader never sees half a set; on any failure or interruption the folder is as
    it was.

    Raises
    ------
    SetError
        When ``folder`` cannot take the set (see :func:`check_target`) or cannot be written.
    """
    if fmt not in ("json", "npz"):
        raise SetError(f"unknown set format {fmt!r}: expected json or npz")
    folder = check_target(folder, force=force)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    moved = False
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        for t in (tmp, old):
            if t.exists():
                shutil.rmtree(t)
        tmp.mkdir()
        for m, inst in zip(manifest["members"], instances, strict=True):
            save_instance(inst, tmp / m["file"])
        atomic_write(tmp / MANIFEST, (json.dumps(manifest, indent=1, allow_nan=False) + "\n").encode())
        if folder.exists():
            os.replace(folder, old)
            moved = True
        os.replace(tmp, folder)
        moved = False
    except OSError as e:
        raise SetError(f"cannot write the set to {folder}: {e.strerror or e}") from None
    finally:
        if moved and not folder.exists():
            os.replace(old, folder)  # interrupted between the two renames: put the old set back
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
    return folder


def _manifest(set_name: str, family_id: str | None, seed: int | None, start: int,
              instances: list[Instance], fmt: str, **extra) -> dict:
    from . import __version__

    members = [{"file": _member_file(start + k, fmt), "index": start + k, "name": inst.name,
                "digest": inst.digest} for k, inst in enumerate(instances)]
    return {
        "format": SET_FORMAT, "version": SET_VERSION, "set": set_name, "family": family_id,
        "seed": seed, "start": start, "count": len(instances), "members": members,
        "digest": set_digest([m["digest"] for m in members]), "offbench_version": __version__,
        **extra,
    }


def write_generated(family, seed: int, count: int, out: Path, *, start: int = 0, fmt: str = "json",
                    force: bool = False) -> InstanceSet:
    """Generate instances of a family into a folder with a manifest (no references)."""
    out = check_target(out, force=force)            # before the work, not after it
    insts = family.instances(seed, count, start)
    name = f"{family.id}/s{seed}"
    man = _manifest(name, family.id, seed, start, insts, fmt,
                    created_by=f"offbench instances generate {family.id} --seed {seed} "
                               f"--count {count} --start {start}",
                    references={})
    write_set(out, insts, man, fmt=fmt, force=force)
    return InstanceSet(name, insts, {}, man, out)


def _compute_reference(inst: Instance, time_limit: float):
    try:
        from .reference import compute_reference
    except ImportError as e:
        raise SetError(f"references need offbench.reference, which cannot be imported ({e}); "
                       "freeze with --no-references to write the set without them") from None
    return compute_reference(inst, time_limit=time_limit)


def _reference_dict(ref) -> dict:
    def num(v):
        return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)

    d = {"cost": num(ref.cost), "bound": num(ref.bound), "provenance": str(ref.provenance),
         "gap": num(ref.gap), "solver": str(ref.solver), "wall_time": num(ref.wall_time)}
    dec = getattr(ref, "decision", None)
    if dec is not None:
        d["decision"] = [int(v) for v in np.asarray(dec).ravel()]
    note = getattr(ref, "note", "")
    if note:
        d["note"] = str(note)
    if d["provenance"] not in PROVENANCES:
        raise SetError(f"reference provenance {d['provenance']!r} is not one of {PROVENANCES}")
    return d


def freeze_set(set_id: str, *, references: bool = True, time_limit: float | None = None,
               force: bool = False, root: Path | None = None,
               progress: Callable[[str], None] | None = None) -> InstanceSet:
    """Generate a set declared by its family, compute references, and write it.

    Parameters
    ----------
    set_id : str
        A declared set (see :func:`declared_sets`), e.g. ``"dmro-v1/test"``.
    references : bool
        Compute a reference for every member with :func:`offbench.reference.compute_reference`.
    time_limit : float, optional
        Seconds per reference (default: the set's declared ``time_limit``).
    force : bool
        Replace an existing set.
    root : Path, optional
        Another folder of sets (tests).
    progress : callable, optional
        Called with one line per member.
    """
    decl = {sid: (fam, spec) for sid, fam, spec in declared_sets()}
    if set_id not in decl:
        import difflib

        close = difflib.get_close_matches(set_id, list(decl), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise SetError(f"no family declares a set {set_id!r}.{hint} Declared: {', '.join(sorted(decl))}.")
    fam, spec = decl[set_id]
    folder = set_path(set_id, root)
    if (folder / MANIFEST).exists() and not force:
        raise SetError(f"set {set_id} is already frozen in {folder} (use --force to rebuild it)")
    limit = spec.time_limit if time_limit is None else float(time_limit)
    insts = fam.instances(spec.seed, spec.count)
    refs = {}
    note = None
    if references:
        for k, inst in enumerate(insts):
            r = _reference_dict(_compute_reference(inst, limit))
            refs[inst.digest] = r
            if progress:
                progress(f"{set_id} [{k + 1}/{len(insts)}] {inst.name}: {r['provenance']} "
                         f"cost {r['cost']:.6g} ({r['wall_time']:.2f} s)")
    else:
        note = "references not computed (frozen with --no-references)"
    man = _manifest(set_id, fam.id, spec.seed, 0, insts, spec.format,
                    created_by=f"offbench instances freeze {set_id}",
                    reference_time_limit=limit, references=refs,
                    **({"references_note": note} if note else {}))
    write_set(folder, insts, man, fmt=spec.format, force=True)
    return InstanceSet(set_id, insts, refs, man, folder)


def verify_set(ref: str | os.PathLike, *, resolve: bool = True, time_limit: float | None = None,
               progress: Callable[[str], None] | None = None) -> list[str]:
    """Check a set against its family and the cost model; return the problems found.

    Checks, in order: every member file matches the manifest (digest); the family regenerates
    the same members (same digests in the same order); every stored reference decision still
    costs the stored cost under the cost model and is feasible; and (``resolve``) for proven
    optima, :func:`offbench.reference.compute_reference` finds the same optimum again.

    A set that a family declares must also match the declaration (family ID, seed, count,
    format), and a declared set that is not on disk is a problem too.

    Returns
    -------
    list of str
        One line per problem, naming the set and the member; empty when the set is sound.

    Raises
    ------
    SetError
        When ``ref`` is neither a file or folder nor a frozen or declared set (a user's mistake,
        not a failed verification).
    """
    from .cost import evaluate
    from .families import get_family

    declared = {sid: (fam, spec) for sid, fam, spec in declared_sets()}
    if find_set(ref) is None:
        if str(ref) in declared:
            return [f"set {ref}: declared by family {declared[str(ref)][0].id} but not frozen "
                    f"(offbench instances freeze {ref})"]
        raise _no_such_set(ref)
    problems: list[str] = []
    try:
        s = load_set(ref)
    except SetError as e:
        return [str(e)]
    man = s.manifest or {}
    name = s.name
    if name in declared:
        fam_decl, spec = declared[name]
        want = {"family": fam_decl.id, "seed": spec.seed, "count": spec.count, "start": 0}
        for key, value in want.items():
            if man.get(key) != value:
                problems.append(f"set {name}: the manifest says {key} {man.get(key)!r}, the "
                                f"family definition declares {value!r} (freeze it again, with "
                                "a new family version if its instances change)")
        fmts = {Path(m.get("file", "")).suffix.lstrip(".") for m in man.get("members", [])}
        if fmts - {spec.format}:
            problems.append(f"set {name}: members are stored as {', '.join(sorted(fmts))}, the "
                            f"family definition declares {spec.format}")
    stream = man.get("stream")
    if man.get("family") and (man.get("seed") is not None or isinstance(stream, dict)):
        try:
            fam = get_family(man["family"])
            if isinstance(stream, dict):
                regen = list(fam.stream(int(stream["seed"]), int(stream["frames"]),
                                        environment=stream.get("environment"),
                                        switch_at=stream.get("switch_at"),
                                        switch_to=stream.get("switch_to")))
            else:
                regen = fam.instances(int(man["seed"]), int(man.get("count", len(s))),
                                      int(man.get("start", 0)))
        except (UserError, KeyError, TypeError, ValueError) as e:
            problems.append(f"set {name}: cannot regenerate from family {man['family']}: {e}")
        else:
            members = man["members"]
            if len(regen) != len(members):
                problems.append(f"set {name}: family {fam.id} regenerates {len(regen)} members, "
                                f"the manifest has {len(members)}")
            for m, inst in zip(members, regen):
                if inst.digest != m["digest"]:
                    problems.append(
                        f"set {name}: {m['file']} ({m.get('name', '')}): digest changed: frozen "
                        f"{m['digest'][:12]}, regenerated {inst.digest[:12]} (a generator change "
                        f"needs a new family version)")
    for inst in s.instances:
        label = f"set {name}: {inst.name or inst.digest[:12]}"
        r = s.references.get(inst.digest)
        if r is None:
            if s.references:  # freeze_set gives every member one, or none at all
                problems.append(f"{label}: no reference, though the set's other members have one")
            continue
        dec = r.get("decision")
        if dec is not None:
            try:
                ev = evaluate(inst, np.asarray(dec, dtype=np.int8))
            except (UserError, ValueError, TypeError, OverflowError) as e:
                problems.append(f"{label}: the reference decision is not a decision of this "
                                f"instance ({e})")
                continue
            if not ev.feasible:
                problems.append(f"{label}: the reference decision is infeasible under the cost model")
            if not _close(ev.cost, r["cost"]):
                problems.append(f"{label}: the reference decision now costs {ev.cost!r}, frozen "
                                f"cost {r['cost']!r} (the cost model changed?)")
        if resolve and r.get("provenance") in PROVEN:
            t0 = time.perf_counter()
            limit = time_limit if time_limit is not None else float(man.get("reference_time_limit", 60.0))
            try:
                new = _reference_dict(_compute_reference(inst, limit))
            except Exception as e:  # recorded: a reference that cannot be recomputed fails the set
                problems.append(f"{label}: recomputing the reference failed: "
                                f"{type(e).__name__}: {e}")
                continue
            if new["provenance"] not in PROVEN:
                problems.append(f"{label}: the optimum is no longer proven within {limit:g} s "
                                f"({new['provenance']}, cost {new['cost']!r}; frozen {r['cost']!r})")
            elif not _close(new["cost"], r["cost"]):
                problems.append(f"{label}: optimum changed: frozen {r['cost']!r} "
                                f"({r['provenance']}), recomputed {new['cost']!r} ({new['provenance']})")
            if progress:
                progress(f"{label}: {new['provenance']} {new['cost']:.6g} "
                         f"({time.perf_counter() - t0:.2f} s)")
    return problems


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) <= OPTIMUM_RTOL * max(abs(float(a)), abs(float(b)), 1e-300)
