"""Finding solvers: the built-in package, ``--solvers-dir`` folders and entry points, by
versioned ID (:func:`discover`, :func:`resolve`, :func:`make_solver`), and the one-call API
:func:`solve`.

Solvers are found without editing any registry: every subclass of
:class:`~offbench.solver.Solver` in a file of ``solvers/`` (the package ``offbench_solvers``), in
a folder given with ``--solvers-dir``, or named by an installed package's entry point in the group
``offbench.solvers`` (``name = "module:Class"``, loaded only when used). A bare name means the
latest version. A file that cannot be loaded, or a class whose declarations are wrong, is listed
with the reason instead of breaking the others.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import numbers
import pkgutil
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from . import params as _params
from .instance import Instance
from .solver import (ENTRY_POINT_GROUP, GUARANTEES, TRACKS, Context, Param, Result, Solver,
                     SolverError)


@dataclass
class SolverEntry:
    """A discovered solver: its class, or why it could not be loaded."""

    id: str
    origin: str
    cls: type[Solver] | None = None
    problem: str | None = None


_ID_RE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_\-]*?)(?:-v(?P<version>\d+))?$")


def _solver_classes(module) -> Iterable[type[Solver]]:
    for obj in vars(module).values():
        if (isinstance(obj, type) and issubclass(obj, Solver) and obj.__module__ == module.__name__
                and obj.name and not obj.__dict__.get("abstract", False)):
            yield obj


def _load_file(path: Path):
    modname = f"offbench_user_solvers.{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    if modname in sys.modules:
        return sys.modules[modname]
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[modname]
        raise
    return mod


def discover(solver_dirs: Sequence[str | Path] = (), *, entry_points: bool = True) -> dict[str, SolverEntry]:
    """Every solver: built-in (``solvers/``), from ``solver_dirs``, and from entry points.

    A module that fails to import is listed with the reason, not hidden. Returns a dict from
    versioned ID to :class:`SolverEntry`.
    """
    found: dict[str, SolverEntry] = {}

    def add(cls, origin):
        problem = _declaration_problem(cls)
        if problem is not None:
            key = cls.id if isinstance(cls.id, str) and cls.id else f"({cls.__name__})"
            found[key] = SolverEntry(key, origin, problem=problem)
            return
        if cls.id in found and found[cls.id].cls is not cls:
            raise SolverError(f"two solvers have the ID {cls.id}: {found[cls.id].origin} and {origin}")
        found[cls.id] = SolverEntry(cls.id, origin, cls=cls)

    import offbench_solvers

    for m in sorted(pkgutil.iter_modules(offbench_solvers.__path__), key=lambda m: m.name):
        if m.name.startswith("_"):
            continue
        modname = f"offbench_solvers.{m.name}"
        try:
            mod = importlib.import_module(modname)
        except (Exception, SystemExit) as e:  # a plug-in that exits on import
            found[f"({m.name})"] = SolverEntry(f"({m.name})", f"solvers/{m.name}.py",
                                               problem=f"{type(e).__name__}: {e}")
            continue
        for cls in _solver_classes(mod):
            add(cls, f"solvers/{m.name}.py")
    for d in solver_dirs:
        d = Path(d)
        if not d.is_dir():
            raise SolverError(f"--solvers-dir {d}: not a directory")
        for f in sorted(d.glob("*.py")):
            if f.name.startswith("_"):
                continue
            try:
                mod = _load_file(f)
            except (Exception, SystemExit) as e:
                found[f"({f})"] = SolverEntry(f"({f})", str(f), problem=f"{type(e).__name__}: {e}")
                continue
            for cls in _solver_classes(mod):
                add(cls, str(f))
    if entry_points:
        from importlib.metadata import entry_points as eps

        for ep in eps(group=ENTRY_POINT_GROUP):
            try:
                cls = ep.load()
            except (Exception, SystemExit) as e:
                found[f"({ep.name})"] = SolverEntry(f"({ep.name})", f"entry point {ep.value}",
                                                    problem=f"{type(e).__name__}: {e}")
                continue
            if not (isinstance(cls, type) and issubclass(cls, Solver)):
                found[f"({ep.name})"] = SolverEntry(f"({ep.name})", f"entry point {ep.value}",
                                                    problem="not a subclass of offbench.solver.Solver")
                continue
            add(cls, f"entry point {ep.value}")
    return dict(sorted(found.items()))


def _declaration_problem(cls) -> str | None:
    """What is wrong with a solver class's declarations (a plug-in's careless or hostile class
    attributes), or None: listed as not loaded, never a crash of ``offbench solvers``."""
    name, version = cls.__dict__.get("name", cls.name), cls.version
    if not isinstance(name, str) or not _ID_RE.match(name) or len(name) > 100:
        return f"name {_short_value(name)} is not a solver name (lowercase letters, digits, - and _)"
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 10**6:
        return f"version {_short_value(version)} is not an integer >= 1"
    if not isinstance(cls.guarantee, str) or cls.guarantee not in GUARANTEES:
        return f"unknown guarantee {_short_value(cls.guarantee)} (one of {', '.join(GUARANTEES)})"
    if not isinstance(cls.params, tuple) or not all(isinstance(p, Param) for p in cls.params):
        return "params must be a tuple of offbench.solver.Param"
    if (not isinstance(cls.tracks, tuple) or not cls.tracks
            or not all(isinstance(t, str) and t in TRACKS for t in cls.tracks)):
        return f"tracks must be a non-empty tuple of {', '.join(TRACKS)}"
    if not isinstance(cls.requires, tuple) or not all(isinstance(m, str) for m in cls.requires):
        return "requires must be a tuple of module names"
    if not isinstance(cls.handles_dag, bool):
        return f"handles_dag {_short_value(cls.handles_dag)} is not True or False"
    return None


def _short_value(v) -> str:
    try:
        text = repr(v)
    except Exception:  # a hostile __repr__, or an int too long to print
        text = f"<a {type(v).__name__}>"
    return text if len(text) <= 60 else f"{text[:60]}..."


def resolve(name: str, solver_dirs: Sequence[str | Path] = ()) -> type[Solver]:
    """The solver class for an ID (``milp-v1``) or a bare name (``milp``: the latest version).

    Raises :class:`SolverError` with the closest names for an unknown one, or the reason a
    known one cannot be loaded.
    """
    entries = discover(solver_dirs)
    m = _ID_RE.match(name.strip().lower()) if isinstance(name, str) else None
    if m is not None:
        if m.group("version") is not None:
            e = entries.get(f"{m.group('name')}-v{m.group('version')}")
            candidates = [e] if e else []
        else:
            candidates = [e for e in entries.values() if e.cls is not None and e.cls.name == m.group("name")]
            candidates.sort(key=lambda e: e.cls.version)
            candidates = candidates[-1:] or [  # a solver of that name that could not be loaded
                e for i, e in entries.items() if e.cls is None and re.fullmatch(
                    re.escape(m.group("name")) + r"-v\w+", i)][-1:]
        if candidates:
            e = candidates[0]
            if e.cls is None:
                raise SolverError(f"solver {name!r} cannot be loaded: {e.problem}")
            return e.cls
    names = sorted({e.cls.name for e in entries.values() if e.cls} | {i for i, e in entries.items() if e.cls})
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
    broken = [f"{e.origin} ({e.problem})" for e in entries.values() if e.cls is None]
    msg = f"unknown solver {name!r}."
    known = sorted({e.cls.name for e in entries.values() if e.cls})
    if close:
        msg += f" Did you mean {', '.join(close)}?"
    elif known:
        msg += f" Known: {', '.join(known)}."
    else:
        msg += " No solver could be loaded."
    if broken:  # the real reason, e.g. the module that defines it failed to import
        msg += f" Not loaded ({len(broken)}): " + "; ".join(broken)
    raise SolverError(msg)


def make_solver(name: str, params: dict | None = None, solver_dirs: Sequence[str | Path] = ()) -> Solver:
    """Resolve a solver by ID or name and instantiate it with validated parameters."""
    return instantiate(resolve(name, solver_dirs), params)


def instantiate(cls: type[Solver], params: dict | None = None) -> Solver:
    """``cls(**params)``; a plug-in whose constructor raises something other than a
    :class:`SolverError` (its own bug, or its own check) becomes a SolverError naming it, so that
    the user reads a message, not a traceback through offbench."""
    try:
        return cls(**(params or {}))
    except SolverError:
        raise
    except Exception as e:
        raise SolverError(f"solver {cls.id}: its constructor raised {type(e).__name__}: {e}") from None


def parse_params(cls: type[Solver], pairs: Sequence[str], option: str = "--param") -> dict:
    """Parse ``["k=v", ...]`` from the command line against the solver's declared params
    (:func:`offbench.params.parse_assignments`: unknown names get "did you mean", a name given
    twice is refused, values read as :meth:`offbench.params.Param.parse` reads them).
    ``option``: how messages name where the pairs came from."""
    return _params.parse_assignments(pairs, {p.name: p for p in cls.params}, cls.id,
                                     error=SolverError, option=option)


def solve(inst: Instance, solver: str = "milp", *, time_limit: float | None = None, seed: int = 0,
          params: dict | None = None, solver_dirs: Sequence[str | Path] = (),
          threads: int | None = None) -> Result:
    """Solve one instance with a solver given by ID or name (SPEC.md section 5).

    ``threads``: the threads the solver may use (:class:`Context`; exhaustive walks blocks of
    placements on them, with the same answer for any number). The solver works on a copy of
    ``inst`` (:func:`guarded_solve`): the caller's instance is never changed."""
    if not isinstance(inst, Instance):
        raise TypeError(f"offbench.solve: inst must be an Instance (a file is read with "
                        f"offbench.load_instance), got {type(inst).__name__}")
    if isinstance(solver_dirs, (str, Path)):
        solver_dirs = [solver_dirs]  # one folder, not its letters
    if time_limit is not None and (isinstance(time_limit, bool)
                                   or not isinstance(time_limit, numbers.Real)  # numpy's too
                                   or not time_limit > 0):
        raise ValueError(f"offbench.solve: time_limit must be a number of seconds > 0 or None, "
                         f"got {time_limit!r}")
    if isinstance(time_limit, np.generic):
        time_limit = time_limit.item()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"offbench.solve: seed must be an integer >= 0, got {seed!r}")
    return guarded_solve(make_solver(solver, params, solver_dirs), inst, time_limit=time_limit,
                         seed=seed, threads=threads)


def guarded_solve(solver, inst: Instance, **kwargs) -> Result:
    """``solver.solve(inst, **kwargs)`` for the API and ``offbench solve``, where the solver runs
    in the caller's process: it is given its own copy of ``inst`` (a plug-in that makes the
    arrays it is given writeable, or swaps their fields, changes only its copy), and its answer
    is an ``error`` result, not trusted, when its copy changed or when its decision, priced on
    the caller's untouched instance, costs other than it was priced on the copy (tampered cost
    tables). A run's sandboxes and referee do this for ``offbench run``."""
    import copy

    own = copy.deepcopy(inst)
    res = solver.solve(own, **kwargs)
    what = _changed_fields(inst, own)
    if not what and res.decision is not None:
        from .cost import evaluate

        ev = evaluate(inst, res.decision)
        if not _same(ev.cost, res.cost) or bool(ev.feasible) != bool(res.feasible):
            what = ["its cost tables (its decision costs "
                    f"{ev.cost!r} on the instance given, not {res.cost!r})"]
    if not what:
        return res
    return Result(solver=res.solver, status="error", decision=None, cost=None, feasible=None,
                  bound=None, wall_time=res.wall_time, evaluations=res.evaluations, seed=res.seed,
                  params=res.params,
                  error=f"solver {res.solver} changed the instance it was given "
                        f"({', '.join(what)}): its answer is not trusted")


def _same(a, b) -> bool:
    return a == b or (a is not None and b is not None and abs(a - b) <= 1e-9 * max(1.0, abs(a)))


def _changed_fields(inst: Instance, own) -> list[str]:
    """The fields of ``own`` (a copy of ``inst`` given to a solver) that differ from ``inst``'s."""
    if type(own) is not type(inst):
        return ["its type"]
    a, b = inst.__getstate__(), own.__getstate__()
    out = []
    for k in a:
        x, y = a[k], b.get(k)
        if isinstance(x, np.ndarray):
            same = (isinstance(y, np.ndarray) and x.shape == y.shape and x.dtype == y.dtype
                    and np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"))
        else:
            same = type(x) is type(y) and (x == y or (x != x and y != y))
        if not same:
            out.append(k)
    return out
