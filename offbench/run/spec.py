"""The run spec: parsing and validating what ``offbench run`` is asked to do.

A **run spec** (TOML or YAML, or :func:`default_spec`) names instance sources, solvers with their
parameters, tracks, seeds and time limits; :func:`parse_spec` validates it into a
:class:`RunSpec` whose canonical form (:meth:`RunSpec.to_dict`) pins exactly what runs.
:func:`apply_overrides` folds command-line options into a raw spec first.

The run spec (every key but ``sources`` and ``solvers`` may be left out)::

    name = "my-benchmark"
    tracks = ["static"]            # static | online | generalization | adaptation
    seeds = [0, 1, 2]              # solver seeds (or: repetitions = 3)
    time_limit = 10.0              # seconds per solve (per frame on the learning tracks)
    kill_after = 30.0              # hard limit per job (default 2 * time_limit + 10)
    solvers_dirs = ["my_solvers"]  # extra solver files, relative to this file
    families_dirs = ["my_families"]  # user family definitions (--families-dir), relative to
                                     # this file; a Dask run's workers load them too
    threads_per_job = 1            # BLAS/Numba/torch threads in each job
    reference = { mode = "auto", time_limit = 60.0 }   # "none": no references, no ratios
    online = { window = 50 }                  # final window of the online track
    generalization = { train_frames = 100 }   # frames learned from; the rest are held out
    adaptation = { window = 20 }              # frames after the switch that are averaged
                                              # (meta_frames = N: a meta-training phase first)
    # (each track's settings are declared by the track itself: offbench.tracks)

    [[sources]]                    # instances: one table per source
    kind = "family"                # family | set | files | random | stream
    family = "capacitated-v1:small"
    seed = 0
    count = 16
    # kind = "set":    set = "dmro-v1/test" (a frozen set ID, or a folder); its references are used
    # kind = "files":  paths = ["dir/", "x.json", "more/*.npz"]
    # kind = "random": random_instance arguments (count, seed, n_devices, n_jobs, layers, ...)
    # kind = "stream": family = ID (environment, switch_at, switch_to), or random = {...}; frames

    [[solvers]]
    id = "local-search"            # an ID (local-search-v1) or a name (the latest version)
    params = { restarts = 8 }
    # grid = { restarts = [1, 4, 16] }   instead: one solver entry per point of the grid (the
    #                                    cartesian product of its keys; a key not also in params)
    seeds = [0, 1, 2]              # overrides the top-level seeds (also time_limit, kill_after)
    sources = ["capacitated-v1:small"]   # only these sources (default: all)
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import UserError
from ..instance_checks import short_repr
from ..params import Param, expand_grid, split_top_level
from ..store import canonical_json


class SpecError(UserError):
    """A run spec (config file or command line) that is wrong; the message names the key."""


# ============================================================================== the run spec
_TOP_KEYS = ("name", "sources", "solvers", "tracks", "seeds", "repetitions", "time_limit",
             "kill_after", "reference", "solvers_dirs", "families_dirs", "threads_per_job")
_SOLVER_KEYS = ("id", "params", "grid", "time_limit", "kill_after", "seeds", "sources")
_REFERENCE_KEYS = ("mode", "time_limit", "kill_after")
_SOURCE_KEYS = {
    "random": ("kind", "name", "seed", "count", "n_devices", "n_jobs", "layers", "capacities",
               "deadlines", "zero_fraction", "energy_weight"),
    "family": ("kind", "name", "family", "seed", "count"),
    "set": ("kind", "name", "set"),
    "files": ("kind", "name", "paths"),
    "stream": ("kind", "name", "family", "random", "seed", "frames", "environment", "switch_at",
               "switch_to"),
}
_RANDOM_ARGS = ("n_devices", "n_jobs", "layers", "capacities", "deadlines", "zero_fraction",
                "energy_weight")


def _unknown(keys: Iterable[str], allowed: Sequence[str], where: str) -> None:
    for k in keys:
        if k not in allowed:  # (YAML reads an unquoted on, yes, 1 or ~ as no string)
            close = difflib.get_close_matches(k, list(allowed), n=1) if isinstance(k, str) else None
            hint = f" Did you mean {close[0]!r}?" if close else f" Allowed: {', '.join(allowed)}."
            raise SpecError(f"{where}: unknown key {k!r}.{hint}")


class Key(Param):
    """A run spec key's declaration (:class:`offbench.params.Param`), refused with
    :class:`SpecError` and the one template:
    "The 'count' key of run spec sources[0] must be an int in [1, inf). Got 0." """

    what = "key"
    error = SpecError


def _check(where: str, value, *args, **kw):
    """Validate ``value`` as ``Key(<last part of where>, *args, **kw)``; ``where`` is the key's
    path (``run spec: sources[0].count``), whose head names the owner in the message."""
    head, dot, name = where.rpartition(".")
    if not dot or ":" in name:
        head, _, name = where.rpartition(": ")
    return Key(name, *args, **kw).validate(head.replace(": ", " ") or "run spec", value)


def _int(v, where: str, low: int | None = None, high: int | None = None) -> int:
    return _check(where, v, int, low=low, high=high)


def _seconds(v, where: str, allow_none: bool = True) -> float | None:
    return _check(where, v, float, low=0.0, low_open=True, allow_none=allow_none)


def _refuse_unencodable(v, where: str, depth: int, seen: set) -> None:
    """Refuse a string that is not text (a lone surrogate: YAML's ``"\\ud800"``, or PyYAML's
    reading of a character beyond U+FFFF written as an escaped surrogate pair), naming its key:
    it cannot be printed, stored or hashed as UTF-8, and used to end ``--dry-run`` in a
    UnicodeEncodeError traceback. What YAML aliases is walked once (9**9 visits hung)."""
    if id(v) in seen:
        return
    seen.add(id(v))
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as e:
            raise SpecError(f"{where}: {short_repr(v)} is not valid text (a lone surrogate, "
                            f"{v[e.start]!r} at {e.start}); write the character itself") from None
    elif isinstance(v, dict) and depth < 64:
        for k, x in v.items():
            _refuse_unencodable(k, f"{where}: a key", depth + 1, seen)
            _refuse_unencodable(x, f"{where}: {k}" if depth == 0 else f"{where}.{k}", depth + 1, seen)
    elif isinstance(v, (list, tuple)) and depth < 64:
        for i, x in enumerate(v):
            _refuse_unencodable(x, f"{where}[{i}]", depth + 1, seen)


def _str(v, where: str) -> str:
    return _check(where, v, str, length=(1, None)).strip()


def _bool(v, where: str) -> bool:
    return _check(where, v, bool)


def _seeds(v, where: str) -> list[int]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    return list(_check(where, v, list, item=int, low=0, high=2**63 - 1, length=(1, None),
                       unique=True))  # high: a seed is stored as a 64-bit integer


def load_spec_file(path: str | os.PathLike) -> dict:
    """Read a run spec from a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file.

    Relative paths inside it (``files`` sources, ``solvers_dirs``, ``families_dirs``) are
    taken relative to the file's folder.
    """
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{p}: no such run spec file")
    text = p.read_bytes()
    if p.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10: the tomli backport (a dependency there)
            import tomli as tomllib

        try:
            data = tomllib.loads(text.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError, RecursionError) as e:
            raise SpecError(f"{p}: not valid TOML: {e}") from None
    elif p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise SpecError(f"{p}: reading YAML needs PyYAML (pip install pyyaml), or write the "
                            "spec as TOML") from None
        try:
            data = _load_yaml(yaml, text.decode("utf-8"), p)
        except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as e:
            raise SpecError(f"{p}: not valid YAML: {e}") from None
    else:
        raise SpecError(f"{p}: expected a .toml, .yaml or .yml run spec, got {p.suffix or 'no suffix'!r}")
    if not isinstance(data, dict):
        raise SpecError(f"{p}: expected a table of keys at the top level")
    return _absolutize(data, p.parent.resolve())


def _load_yaml(yaml, text: str, where) -> Any:
    """``yaml.safe_load`` that refuses a key given twice in one mapping (PyYAML keeps the last
    one silently; TOML refuses it): ``params: {restarts: 1, restarts: 2}`` is a mistake."""

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # <<: *anchor, whose keys the mapping's own may override
            key = loader.construct_object(key_node, deep=deep)
            try:
                twice = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: PyYAML reports it
                break
            if twice:
                raise SpecError(f"{where}, line {key_node.start_mark.line + 1}: the key {key!r} "
                                "is given twice")
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


def _absolutize(data: dict, base: Path) -> dict:
    data = dict(data)
    for key in ("solvers_dirs", "families_dirs"):
        if isinstance(data.get(key), list):
            data[key] = [str((base / d).resolve()) if isinstance(d, str) else d for d in data[key]]
    if isinstance(data.get("sources"), list):
        srcs = []
        for s in data["sources"]:
            if isinstance(s, dict) and s.get("kind") == "files" and isinstance(s.get("paths"), list):
                s = {**s, "paths": [str(base / q) if isinstance(q, str) and not os.path.isabs(q) else q
                                    for q in s["paths"]]}
            if isinstance(s, dict) and s.get("kind") == "set" and isinstance(s.get("set"), str):
                cand = base / s["set"]
                if not os.path.isabs(s["set"]) and cand.exists():
                    s = {**s, "set": str(cand)}
            srcs.append(s)
        data["sources"] = srcs
    return data


def default_spec_path() -> Path:
    """The built-in benchmark that ``offbench run`` runs with no arguments."""
    return Path(__file__).parent.parent / "data" / "default_run.toml"


def default_spec() -> dict:
    """The built-in benchmark as a raw spec dict."""
    return load_spec_file(default_spec_path())


@dataclass(frozen=True)
class SolverSpec:
    """One solver entry of a spec, resolved: its versioned ID and complete validated params."""

    id: str
    params: dict
    param_hash: str
    time_limit: float | None
    kill_after: float | None
    seeds: tuple[int, ...]
    tracks: tuple[str, ...]
    learns: bool
    sources: tuple[str, ...] | None = None


@dataclass
class RunSpec:
    """A validated run spec (see :func:`parse_spec`); :meth:`to_dict` is its canonical form."""

    name: str
    sources: list[dict]
    solvers: list[SolverSpec]
    tracks: list[str]
    seeds: list[int]
    time_limit: float | None
    kill_after: float | None
    reference: dict
    #: Settings of every registered track that has settings, by track name (defaults filled in).
    track_settings: dict
    solvers_dirs: list[str]
    threads_per_job: int
    #: Folders of user family definitions (``families_dirs``, ``--families-dir``), loaded in
    #: this process when the spec was parsed and in each Dask worker before it builds a member.
    families_dirs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "sources": self.sources,
            "solvers": [{"id": s.id, "params": s.params, "time_limit": s.time_limit,
                         "kill_after": s.kill_after, "seeds": list(s.seeds),
                         **({"sources": list(s.sources)} if s.sources is not None else {})}
                        for s in self.solvers],
            "tracks": self.tracks,
            "seeds": self.seeds,
            "time_limit": self.time_limit,
            "kill_after": self.kill_after,
            "reference": self.reference,
            **self.track_settings,
            "solvers_dirs": self.solvers_dirs,
            "threads_per_job": self.threads_per_job,
            # only when given: the hash of a spec without it is the one it always was
            **({"families_dirs": self.families_dirs} if self.families_dirs else {}),
        }

    @property
    def hash(self) -> str:
        return hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()


def param_hash(params: dict, files: dict | None = None) -> str:
    """sha256 of the canonical JSON of a solver's validated parameters.

    ``files`` maps a parameter that names a file (a learner's ``weights``) to the sha256 of that
    file's content (:func:`file_digests`): a job's key then changes when the file does, so a
    re-run after replacing the weights runs again instead of keeping the old rows. Without
    files the hash is the one it always was."""
    if not files:
        return hashlib.sha256(canonical_json(params).encode()).hexdigest()
    return hashlib.sha256(canonical_json({"params": params, "file_sha256": files}).encode()).hexdigest()


def file_digests(cls, params: dict, where: str = "solver") -> dict:
    """The sha256 of the content of each file a solver's parameters name (a ``path`` parameter
    declared with ``exists="file"``, set), by parameter name; a file that cannot be read is a
    :class:`SpecError` naming it."""
    out = {}
    for p in cls.params:
        v = params.get(p.name)
        if p.type != "path" or p.exists != "file" or not isinstance(v, str):
            continue
        from ..learn.base import weights_digest  # (only solvers with a file: the learners)

        try:
            out[p.name] = weights_digest(Path(v).expanduser())
        except OSError as e:
            raise SpecError(f"{where}.params.{p.name}: cannot read {v} ({e.strerror or e})") from None
    return out


def parse_spec(raw: dict, *, where: str = "run spec") -> RunSpec:
    """Validate a raw spec (from a file, :func:`default_spec`, or the command line).

    Solvers are resolved to their versioned IDs and their parameters validated (with defaults
    filled in), so the canonical form pins exactly what runs.

    Raises
    ------
    SpecError, offbench.solver.SolverError
        With the key at fault (``run spec: solvers[2].params: ...``).
    """
    from .. import tracks as tracks_registry
    from ..tracks import TrackError

    TRACKS = tracks_registry.names()

    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a table of keys")
    _refuse_unencodable(raw, where, 0, set())
    with_settings = [t for t in TRACKS if tracks_registry.get(t).settings]
    _unknown(raw, _TOP_KEYS + tuple(with_settings), where)
    name = _str(raw.get("name", "offbench-run"), f"{where}: name")
    dirs = raw.get("solvers_dirs", [])
    if isinstance(dirs, str):
        dirs = [dirs]
    if not isinstance(dirs, list):
        raise SpecError(f"{where}: solvers_dirs: expected a list of folders, got {dirs!r}")
    dirs = [str(Path(_str(d, f"{where}: solvers_dirs[{i}]")).resolve()) for i, d in enumerate(dirs)]
    for d in dirs:
        if not Path(d).is_dir():
            raise SpecError(f"{where}: solvers_dirs: {d}: not a directory")
    fdirs = _families_dirs(raw.get("families_dirs", []), where)

    if "seeds" in raw and "repetitions" in raw:
        raise SpecError(f"{where}: give seeds or repetitions, not both")
    if "repetitions" in raw:
        seeds = list(range(_int(raw["repetitions"], f"{where}: repetitions", 1, 10**6)))  # all listed
    else:
        seeds = _seeds(raw.get("seeds", [0]), f"{where}: seeds")
    time_limit = _seconds(raw.get("time_limit", 10.0), f"{where}: time_limit")
    kill_after = _seconds(raw.get("kill_after"), f"{where}: kill_after")
    threads = _int(raw.get("threads_per_job", 1), f"{where}: threads_per_job", 1)

    tracks = raw.get("tracks", ["static"])
    if isinstance(tracks, str):
        tracks = [tracks]
    if not isinstance(tracks, list) or not tracks:
        raise SpecError(f"{where}: tracks: expected a non-empty list, got {tracks!r}")
    for i, t in enumerate(tracks):
        if t not in TRACKS:
            close = difflib.get_close_matches(str(t), TRACKS, n=1)
            raise SpecError(f"{where}: tracks[{i}]: unknown track {t!r}"
                            + (f"; did you mean {close[0]!r}?" if close else f"; tracks: {', '.join(TRACKS)}"))
    if len(set(tracks)) != len(tracks):
        raise SpecError(f"{where}: tracks repeat: {tracks}")

    ref = raw.get("reference", {})
    if not isinstance(ref, dict):
        raise SpecError(f"{where}: reference: expected a table, got {ref!r}")
    _unknown(ref, _REFERENCE_KEYS, f"{where}: reference")
    mode = ref.get("mode", "auto")
    if mode not in ("auto", "none"):
        raise SpecError(f"{where}: reference.mode: expected 'auto' (compute references, SPEC.md "
                        f"section 6) or 'none' (no cost ratios), got {mode!r}")
    ref_tl = _seconds(ref.get("time_limit", 60.0), f"{where}: reference.time_limit", allow_none=False)
    ref_kill = _seconds(ref.get("kill_after"), f"{where}: reference.kill_after")
    reference = {"mode": mode, "time_limit": ref_tl,
                 "kill_after": ref_kill if ref_kill is not None else 2 * ref_tl + 30.0}

    track_settings = {}
    for t in with_settings:
        try:
            track_settings[t] = tracks_registry.get(t).parse_settings(raw.get(t), f"{where}: {t}")
        except TrackError as e:
            raise SpecError(str(e)) from None

    sources_raw = raw.get("sources")
    if not isinstance(sources_raw, list) or not sources_raw:
        raise SpecError(f"{where}: sources: expected a non-empty list of instance sources")
    sources = [_parse_source(s, f"{where}: sources[{i}]") for i, s in enumerate(sources_raw)]
    names = [s["name"] for s in sources]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecError(f"{where}: sources: two sources are named {dup[0]!r}; give each a distinct name")

    solvers_raw = raw.get("solvers")
    if not isinstance(solvers_raw, list) or not solvers_raw:
        raise SpecError(f"{where}: solvers: expected a non-empty list of solvers")
    solvers, labels = [], []
    for i, s in enumerate(solvers_raw):
        # A parameter grid expands into one solver entry per point (benchopt's grids).
        entries = expand_grid(s, f"{where}: solvers[{i}]", error=SpecError) if isinstance(s, dict) else [s]
        for e in entries:
            label = f"solvers[{i}]"
            if isinstance(s, dict) and "grid" in s:
                label += " (grid point " + ", ".join(f"{k}={e['params'][k]!r}" for k in s["grid"]) + ")"
            solvers.append(_parse_solver(e, f"{where}: {label}", dirs, time_limit, kill_after, seeds))
            labels.append(label)
    for label, sv in zip(labels, solvers):
        for wanted in sv.sources or ():
            if wanted not in names:
                close = difflib.get_close_matches(wanted, names, n=1)
                raise SpecError(f"{where}: {label}.sources: no source is named {wanted!r}"
                                + (f"; did you mean {close[0]!r}?" if close else f"; sources: {', '.join(names)}"))
    seen = {}
    for label, s in zip(labels, solvers):
        k = (s.id, s.param_hash)
        if k in seen:
            raise SpecError(f"{where}: {label}: the same solver and parameters as {seen[k]} ({s.id})")
        seen[k] = label
    return RunSpec(name=name, sources=sources, solvers=solvers, tracks=list(tracks), seeds=seeds,
                   time_limit=time_limit, kill_after=kill_after, reference=reference,
                   track_settings=track_settings,
                   solvers_dirs=dirs, threads_per_job=threads, families_dirs=fdirs)


def _families_dirs(dirs, where: str) -> list[str]:
    """The ``families_dirs`` of a spec, checked and loaded in this process
    (:func:`offbench.families.add_families_dirs`: a bad definition is refused now)."""
    if isinstance(dirs, str):
        dirs = [dirs]
    if not isinstance(dirs, list):
        raise SpecError(f"{where}: families_dirs: expected a list of folders, got {dirs!r}")
    dirs = [str(Path(_str(d, f"{where}: families_dirs[{i}]")).expanduser().resolve())
            for i, d in enumerate(dirs)]
    for d in dirs:
        if not Path(d).is_dir():
            raise SpecError(f"{where}: families_dirs: {d}: not a directory")
    if dirs:
        from ..families import add_families_dirs

        try:
            add_families_dirs(dirs)
        except UserError as e:
            raise SpecError(f"{where}: families_dirs: {e}") from None
    return list(dict.fromkeys(dirs))


def _parse_source(s, where: str) -> dict:
    if not isinstance(s, dict):
        raise SpecError(f"{where}: expected a table with a 'kind', got {s!r}")
    kind = s.get("kind")
    if not isinstance(kind, str) or kind not in _SOURCE_KEYS:
        raise SpecError(f"{where}.kind: expected one of {', '.join(_SOURCE_KEYS)}, got {kind!r}")
    _unknown(s, _SOURCE_KEYS[kind], where)
    out: dict[str, Any] = {"kind": kind}
    if kind == "random":
        out["seed"] = _int(s.get("seed", 0), f"{where}.seed", 0)
        out["count"] = _int(s.get("count", 10), f"{where}.count", 1)
        out.update(_random_args(s, where))
        out["name"] = _str(s.get("name", "random"), f"{where}.name")
    elif kind == "family":
        out["family"] = _str(s.get("family"), f"{where}.family")
        out["seed"] = _int(s.get("seed", 0), f"{where}.seed", 0)
        out["count"] = _int(s.get("count", 10), f"{where}.count", 1)
        out["name"] = _str(s.get("name", out["family"]), f"{where}.name")
    elif kind == "set":
        out["set"] = _str(s.get("set"), f"{where}.set")
        ref = out["set"]
        default = Path(ref).name if (os.sep in ref and Path(ref).exists()) else ref
        out["name"] = _str(s.get("name", default), f"{where}.name")
    elif kind == "files":
        paths = s.get("paths")
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not paths:
            raise SpecError(f"{where}.paths: expected a list of instance files, folders or globs")
        out["paths"] = [_str(p, f"{where}.paths[{i}]") for i, p in enumerate(paths)]
        out["name"] = _str(s.get("name", Path(out["paths"][0]).name or "files"), f"{where}.name")
    elif kind == "stream":
        out["seed"] = _int(s.get("seed", 0), f"{where}.seed", 0)
        out["frames"] = _int(s.get("frames", 100), f"{where}.frames", 1)
        if ("family" in s) == ("random" in s):
            raise SpecError(f"{where}: a stream comes from a 'family' (an ID such as 'dmro-v1') or "
                            "from 'random' (a table of random_instance arguments with fixed sizes); give one")
        if "family" in s:
            out["family"] = _str(s["family"], f"{where}.family")
            if "environment" in s:
                out["environment"] = _str(s["environment"], f"{where}.environment")
            if ("switch_at" in s) != ("switch_to" in s):
                raise SpecError(f"{where}: switch_at and switch_to go together (the frame where the "
                                "stream meets a new environment, and that environment)")
            if "switch_at" in s:
                out["switch_at"] = _int(s["switch_at"], f"{where}.switch_at", 1)
                out["switch_to"] = _str(s["switch_to"], f"{where}.switch_to")
                if out["switch_at"] >= out["frames"]:
                    raise SpecError(f"{where}.switch_at: expected a frame before the last "
                                    f"({out['frames']} frames), got {out['switch_at']}")
            out["name"] = _str(s.get("name", f"{out['family']}/stream"), f"{where}.name")
        else:
            for k in ("environment", "switch_at", "switch_to"):
                if k in s:
                    raise SpecError(f"{where}.{k}: environments belong to family streams; a "
                                    "random stream has none")
            r = s["random"]
            if not isinstance(r, dict):
                raise SpecError(f"{where}.random: expected a table of random_instance arguments")
            _unknown(r, _RANDOM_ARGS, f"{where}.random")
            out["random"] = _random_args(r, f"{where}.random")
            lo, hi = out["random"]["layers"]
            if lo != hi:
                raise SpecError(f"{where}.random.layers: a stream's frames share one structure, so "
                                f"layers must be [L, L]; got [{lo}, {hi}]")
            out["name"] = _str(s.get("name", "random/stream"), f"{where}.name")
    return out


def _random_args(s: dict, where: str) -> dict:
    out = {
        "n_devices": _int(s.get("n_devices", 3), f"{where}.n_devices", 1),
        "n_jobs": _int(s.get("n_jobs", 4), f"{where}.n_jobs", 1),
        "capacities": _bool(s.get("capacities", False), f"{where}.capacities"),
        "deadlines": _bool(s.get("deadlines", False), f"{where}.deadlines"),
    }
    out["layers"] = list(_check(f"{where}.layers", s.get("layers", [1, 6]), "int_range", low=1))
    out["zero_fraction"] = _check(f"{where}.zero_fraction", s.get("zero_fraction", 0.1), float,
                                  low=0.0, high=1.0)
    out["energy_weight"] = _check(f"{where}.energy_weight", s.get("energy_weight"), float, low=0.0,
                                  allow_none=True)
    return out


def _parse_solver(s, where: str, dirs: list[str], time_limit, kill_after, seeds) -> SolverSpec:
    from ..solver import LearningSolver, SolverError
    from ..discovery import instantiate, resolve

    if isinstance(s, str):
        s = {"id": s}
    if not isinstance(s, dict):
        raise SpecError(f"{where}: expected a solver ID or a table with 'id', got {s!r}")
    _unknown(s, _SOLVER_KEYS, where)
    sid = _str(s.get("id"), f"{where}.id")
    params = s.get("params", {})
    if not isinstance(params, dict):
        raise SpecError(f"{where}.params: expected a table of parameters, got {params!r}")
    try:
        cls = resolve(sid, dirs)
        validated = instantiate(cls, params).param_values
    except SolverError as e:
        raise SpecError(f"{where}: {e}") from None
    missing = cls.missing_requirements()
    if missing:
        from .._deps import install_hint

        raise SpecError(f"{where}: solver {cls.id} needs {', '.join(missing)}, which is not "
                        f"installed here ({install_hint(missing)})")
    validated = _jsonable_params(validated, f"{where}.params")
    tl = _seconds(s["time_limit"], f"{where}.time_limit") if "time_limit" in s else time_limit
    ka = _seconds(s["kill_after"], f"{where}.kill_after") if "kill_after" in s else kill_after
    sd = tuple(_seeds(s["seeds"], f"{where}.seeds")) if "seeds" in s else tuple(seeds)
    learns = issubclass(cls, LearningSolver)
    only = None
    if "sources" in s:
        only = s["sources"]
        if isinstance(only, str):
            only = [only]
        if not isinstance(only, list) or not only:
            raise SpecError(f"{where}.sources: expected a list of source names, got {only!r}")
        only = tuple(_str(x, f"{where}.sources[{i}]") for i, x in enumerate(only))
    digests = file_digests(cls, validated, where)
    return SolverSpec(id=cls.id, params=validated, param_hash=param_hash(validated, digests),
                      time_limit=tl, kill_after=ka, seeds=sd, tracks=tuple(cls.tracks), learns=learns,
                      sources=only)


def _jsonable_params(params: dict, where: str) -> dict:
    """Validated parameters as JSON values (a list parameter's tuple becomes a list, which
    hashes as before: canonical JSON does not tell them apart)."""
    out = {}
    for k, v in params.items():
        items = list(v) if isinstance(v, (list, tuple)) else [v]
        for x in items:
            if isinstance(x, float) and not math.isfinite(x):
                raise SpecError(f"{where}.{k}: expected finite numbers, got {v!r}")
            if x is not None and not isinstance(x, (bool, int, float, str)):
                raise SpecError(f"{where}.{k}: expected a number, string, bool or a list of "
                                f"them, got {type(x).__name__}")
        out[k] = list(v) if isinstance(v, (list, tuple)) else v
    return out


def apply_overrides(raw: dict, *, solvers: Sequence[str] = (), families: Sequence[str] = (),
                    sets: Sequence[str] = (), instance_paths: Sequence[str] = (),
                    seeds: Sequence[int] | None = None, time_limit: float | None = None,
                    tracks: Sequence[str] = (), solvers_dirs: Sequence[str] = (),
                    reference: str | None = None, count: int = 10, instance_seed: int = 0,
                    families_dirs: Sequence[str] = ()) -> dict:
    """Apply command-line options to a raw spec: each given option replaces its part of the spec.

    ``solvers`` are ``NAME`` or ``NAME:key=value,key=value``; ``families`` are family IDs
    (``capacitated-v1:small``), each drawing ``count`` instances from ``instance_seed``.
    """
    raw = dict(raw)
    if families_dirs:
        have = raw.get("families_dirs", [])
        raw["families_dirs"] = (list(have) if isinstance(have, list) else [have]) + [
            str(Path(d).expanduser().resolve()) for d in families_dirs]
    if solvers_dirs:
        have = raw.get("solvers_dirs", [])
        raw["solvers_dirs"] = (list(have) if isinstance(have, list) else [have]) + [
            str(Path(d).resolve()) for d in solvers_dirs]
    if solvers:
        dirs = raw.get("solvers_dirs", [])
        raw["solvers"] = [_cli_solver(s, dirs if isinstance(dirs, list) else [dirs]) for s in solvers]
    new_sources = [{"kind": "family", "family": f, "seed": instance_seed, "count": count}
                   for f in families]
    new_sources += [{"kind": "set", "set": s} for s in sets]
    for p in instance_paths:
        new_sources.append({"kind": "files", "paths": [str(Path(p).resolve())],
                            "name": Path(p).name or "files"})
    if new_sources:
        raw["sources"] = new_sources
        # Solvers' source filters named the spec's sources, which are gone: every solver now
        # runs on every source given (one that cannot handle an instance says so in its rows).
        _each_solver(raw, "sources")
    if seeds is not None:
        raw.pop("repetitions", None)
        raw["seeds"] = list(seeds)
    if time_limit is not None:
        raw["time_limit"] = time_limit
        _each_solver(raw, "time_limit")
    if tracks:
        raw["tracks"] = list(tracks)
    if reference is not None:
        have = raw.get("reference", {})
        if isinstance(have, dict):  # anything else is parse_spec's to refuse, by its key
            raw["reference"] = {**have, "mode": reference}
    return raw


def _each_solver(raw: dict, key: str) -> None:
    """Drop ``key`` from every solver table of ``raw``; a ``solvers`` that is not a list is
    left as written, for :func:`parse_spec` to refuse by its key."""
    if isinstance(raw.get("solvers"), list):
        raw["solvers"] = [({k: v for k, v in s.items() if k != key} if isinstance(s, dict) else s)
                          for s in raw["solvers"]]


def _split_colon(text: str, opt: str) -> tuple[str, list[str]]:
    """``NAME:key=value,key=[1,2]`` -> ``NAME`` and ``["key=value", "key=[1,2]"]`` (commas
    inside brackets or double quotes belong to the value)."""
    head, _, rest = text.partition(":")
    pairs = [p.strip() for p in split_top_level(rest) if p.strip()]
    for part in pairs:
        if "=" not in part:
            raise SpecError(f"{opt} {text}: expected NAME:key=value,key=value "
                            "(a list value in brackets: key=[1,2])")
    if not head.strip():
        raise SpecError(f"{opt} {text!r}: expected a name first")
    return head.strip(), pairs


def _cli_solver(text: str, dirs: list[str]) -> dict:
    """``NAME`` or ``NAME:key=value,...``, values parsed with the solver's declared types
    (:func:`offbench.discovery.parse_params`: a key given twice is refused)."""
    from ..discovery import parse_params, resolve

    name, pairs = _split_colon(text, "--solver")
    if not pairs:
        return {"id": name}
    cls = resolve(name, dirs)
    return {"id": name, "params": parse_params(cls, pairs, option=f"--solver {text}: key")}
