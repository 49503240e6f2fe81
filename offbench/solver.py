"""The solver interface, the result type, and the discovery of solvers.

A solver is a subclass of :class:`Solver` in one file of ``solvers/`` (installed as the package
``offbench_solvers``), found without editing any registry. Third-party solvers plug in the same
way from a folder (``offbench solve --solvers-dir DIR``) or from an installed package's entry
point in the group ``offbench.solvers`` (``name = "module:Class"``, loaded only when used).

Writing a solver::

    from offbench.solver import Solver, Param, Proposal

    class Greedy(Solver):
        '''One line that says what it does.'''
        name = "greedy"
        version = 1                      # ID "greedy-v1"; bump when its answers change
        guarantee = "heuristic"          # exact | bounded | heuristic | learned
        params = (Param("passes", int, 3, low=1, doc="sweeps over the layers"),)

        def _solve(self, inst, ctx):
            x = ...                      # int8 decision; ctx.rng, ctx.time_left(), ctx.evaluate_many()
            return Proposal(x, status="feasible")

:meth:`Solver.solve` (not ``_solve``) is what callers use: it times the call, prices the decision
with the cost model (never trusting the solver's own number), checks the proposal against what
the solver promises, and turns every failure into a :class:`Result` with status ``error``.

Learning solvers (:class:`LearningSolver`) additionally see frames one after another:
``start`` once per stream, ``decide`` per frame (timed: the decision latency), ``learn`` between
frames (not timed). The tracks of SPEC.md section 6 drive them through these three methods.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.util
import math
import os
import pkgutil
import re
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np

from . import params as _params
from .errors import UserError
from .instance import Instance

GUARANTEES = ("exact", "bounded", "heuristic", "learned")
STATUSES = ("optimal", "feasible", "timeout", "error")
TRACKS = ("static", "online", "generalization", "adaptation")
ENTRY_POINT_GROUP = "offbench.solvers"

#: Relative slack allowed between a proven bound and a cost before it is called a bug.
BOUND_RTOL = 1e-6


class SolverError(UserError):
    """A bad solver name or parameter (a user's mistake)."""


class Unsupported(Exception):
    """Raised by a solver for an instance it does not handle (e.g. dp on a coupled one).

    The result gets status ``error`` with this message as the reason: a refusal, not a wrong
    answer.
    """


# ------------------------------------------------------------------------------ parameters
class Param(_params.Param):
    """A declared solver parameter: :class:`offbench.params.Param` (the one parameter language:
    ``int``, ``float``, ``bool``, ``str`` with choices, paths, lists such as ``hidden = [120, 80]``,
    optional values), refused with :class:`SolverError`:
    "The 'passes' parameter of solver greedy-v1 must be an int in [1, inf). Got 0."

    ``Param(name, type, default, low=, high=, choices=, doc=, allow_none=, ...)``; a parameter
    that is not given takes ``default`` as written.
    """

    owner_kind = "solver"
    error = SolverError


# ------------------------------------------------------------------------------ results
@dataclass
class Proposal:
    """What a solver's ``_solve`` returns: its decision and what it proved.

    ``status`` is ``optimal`` (proven), ``feasible`` or ``timeout`` (the limit hit; the decision,
    if any, is the best found). ``bound`` is a proven lower bound on the optimal cost, or None.
    ``objective`` is the solver's own value of its decision, when it has one: it is compared with
    the cost model's and a mismatch is reported in ``info`` (and is an error for exact solvers).
    """

    decision: Any
    status: str = "feasible"
    bound: float | None = None
    objective: float | None = None
    info: dict = field(default_factory=dict)


@dataclass
class Result:
    """The outcome of one solve (SPEC.md section 5, ``solve``).

    ``cost`` and ``feasible`` are always computed by the cost model from ``decision``.
    """

    solver: str
    status: str
    decision: np.ndarray | None
    cost: float | None
    feasible: bool | None
    bound: float | None
    wall_time: float
    evaluations: int = 0
    seed: int | None = None
    params: dict = field(default_factory=dict)
    error: str | None = None
    info: dict = field(default_factory=dict)

    @property
    def gap(self) -> float | None:
        """``(cost - bound) / cost`` (SPEC.md section 6), or None without a bound."""
        if self.bound is None or self.cost is None:
            return None
        if self.cost == 0:
            return 0.0
        return max(0.0, (self.cost - self.bound) / abs(self.cost))

    def to_dict(self) -> dict:
        """The JSON of ``offbench solve`` (the six SPEC.md keys first, then extras)."""
        return {
            "solver": self.solver,
            "status": self.status,
            "decision": None if self.decision is None else [int(v) for v in self.decision],
            "cost": self.cost,
            "bound": self.bound,
            "wall_time": self.wall_time,
            "feasible": self.feasible,
            "gap": self.gap,
            "evaluations": self.evaluations,
            "seed": self.seed,
            "params": self.params,
            "error": self.error,
            "info": _jsonable(self.info),
        }


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        v = float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    return str(v)


# ------------------------------------------------------------------------------ context
class Context:
    """What a solve call gives the solver: limits, randomness, and the charged cost model.

    Attributes
    ----------
    time_limit : float or None
        Seconds the solver may use (None: no limit). Solvers honour it themselves.
    seed : int
    rng : numpy.random.Generator
        Seeded from ``seed``; the only source of randomness a solver should use.
    evaluations : int
        Cost-model evaluations charged so far.
    threads : int
        Threads the solver may use (1 unless the caller gives more: ``solve(..., threads=)``).
        An execution resource like the time limit, not a parameter: the answer of a solver
        must not depend on it (exhaustive, for one, gives the same decision for any number).
    """

    def __init__(self, inst: Instance, time_limit: float | None, seed: int, threads: int = 1):
        self.instance = inst
        self.time_limit = time_limit
        self.seed = seed
        self.threads = threads
        self.rng = np.random.default_rng(seed)
        self.evaluations = 0
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def time_left(self) -> float:
        """Seconds left before the time limit (``inf`` without one)."""
        if self.time_limit is None:
            return math.inf
        return self.time_limit - self.elapsed()

    def out_of_time(self) -> bool:
        return self.time_left() <= 0

    def charge(self, n: int) -> None:
        """Count ``n`` evaluations that the solver made inside its own kernels."""
        self.evaluations += int(n)

    def evaluate_many(self, X, **kw):
        """:func:`offbench.cost.evaluate_many`, charged one evaluation per row."""
        from .cost import evaluate_many

        out = evaluate_many(self.instance, X, **kw)
        self.evaluations += int(np.shape(X)[0])
        return out

    def evaluate(self, decision):
        """:func:`offbench.cost.evaluate`, charged one evaluation."""
        from .cost import evaluate

        self.evaluations += 1
        return evaluate(self.instance, decision)


# ------------------------------------------------------------------------------ solvers
class Solver:
    """Base class of every solver (see the module docstring).

    Class attributes declare the solver: ``name``, ``version``, ``guarantee``, ``params``,
    ``requires`` (importable modules it needs, e.g. ``("torch",)``), ``tracks``.
    ``__init__`` only validates and stores parameters.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    guarantee: ClassVar[str] = "heuristic"
    params: ClassVar[tuple[Param, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()
    tracks: ClassVar[tuple[str, ...]] = ("static",)
    #: Whether every decision returned with status optimal/feasible is feasible (checked by
    #: ``offbench.testing.check_solver``). Learned solvers may propose infeasible decisions,
    #: which the metrics score at the all-device cost.
    promises_feasible: ClassVar[bool] = True
    #: The part this solver plays in offbench's reference chain (:mod:`offbench.reference`), as
    #: data: None (none); ``"exact"`` (asked for a proof, in increasing ``reference_rank``, on
    #: the instances where :meth:`exact_for` holds; its ``optimal`` answer is the reference, its
    #: name the provenance); ``"incumbent"`` (a heuristic whose best decision is the reference
    #: when nothing is proven); ``"check"`` (run beside every proven optimum: beating it is a
    #: bug). Only the solvers of the ``offbench_solvers`` package are consulted: a plug-in's
    #: declaration is never trusted.
    reference_role: ClassVar[str | None] = None
    reference_rank: ClassVar[int] = 0

    @classmethod
    def exact_for(cls, inst: Instance) -> bool:
        """Whether the reference chain should ask this solver for a proof on ``inst`` (its
        ``optimal`` answers there are proofs). Default: False."""
        return False

    @classmethod
    def lower_bound(cls, inst: Instance, deadline: float | None = None) -> float | None:
        """A proven lower bound on ``inst``'s optimum that the reference chain may use when
        this solver proves nothing (``deadline``: a ``time.perf_counter()`` value); None when
        it has none (the default)."""
        return None

    def __init__(self, **params: Any):
        declared = {p.name: p for p in self.params}
        _params.check_known(params, declared, f"solver {self.id}", error=SolverError)
        values = {}
        for p in self.params:
            values[p.name] = p.validate(self.id, params[p.name]) if p.name in params else p.default
        self.param_values = values

    def __getattr__(self, item):
        # Parameters read as attributes: self.passes.
        values = self.__dict__.get("param_values")
        if values is not None and item in values:
            return values[item]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {item!r}")

    id: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.id = f"{cls.name}-v{cls.version}" if cls.name else ""

    @classmethod
    def missing_requirements(cls) -> list[str]:
        """Modules in ``requires`` that cannot be imported here.

        Looked up once per class when everything is there (a ``find_spec`` per module costs up
        to a millisecond, which every decision of a learner would otherwise pay); a missing
        module is looked up again each time, so installing it in a running process is seen."""
        if cls.__dict__.get("_requirements_present"):
            return []
        missing = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        if not missing:
            cls._requirements_present = True
        return missing

    @classmethod
    def describe(cls) -> dict:
        doc = (cls.__doc__ or "").strip().splitlines()
        return {
            "id": cls.id, "name": cls.name, "version": cls.version, "guarantee": cls.guarantee,
            "tracks": list(cls.tracks), "requires": list(cls.requires),
            "promises_feasible": cls.promises_feasible,
            "summary": doc[0] if doc else "",
            "params": [{"name": p.name, "type": p.type_name, "default": p.default,
                        "written": p.format(p.default), "allowed": p.describe(), "doc": p.doc}
                       for p in cls.params],
        }

    # -- what subclasses write
    def _solve(self, inst: Instance, ctx: Context) -> Proposal:
        raise NotImplementedError(f"solver {self.id} does not implement _solve")

    # -- what callers use
    def solve(self, inst: Instance, *, time_limit: float | None = None, seed: int = 0,
              threads: int | None = None) -> Result:
        """Solve one instance; never raises for a solver's failure (status ``error``).

        Parameters
        ----------
        inst : Instance
        time_limit : float, optional
            Seconds; the solver stops and reports ``timeout`` with its best decision.
        seed : int
            Seeds every random choice: the same seed gives the same result.
        threads : int, optional
            Threads the solver may use (``ctx.threads``; default 1). Solvers that do not
            parallelize ignore it.
        """
        return self._run(self._solve, inst, time_limit, seed, threads)

    def _run(self, method, inst: Instance, time_limit: float | None, seed: int,
             threads: int | None = None) -> Result:
        """Call ``method(inst, ctx)`` (``_solve``, or ``decide`` for a learning solver) under the
        protections of :meth:`solve`: timing, pricing by the cost model, errors as results."""
        if time_limit is not None and not (time_limit > 0):
            raise SolverError(f"time_limit must be a number > 0 or None. Got {time_limit!r}.")
        if threads is not None:
            from ._numba import check_threads

            try:
                threads = check_threads(threads)
            except ValueError as e:
                raise SolverError(str(e)) from None
        ctx = Context(inst, time_limit, int(seed), threads or 1)
        base = dict(solver=self.id, seed=int(seed), params=dict(self.param_values))
        missing = self.missing_requirements()
        if missing:
            from ._deps import install_hint

            return Result(status="error", decision=None, cost=None, feasible=None, bound=None,
                          wall_time=0.0, error=f"{self.id} needs {', '.join(missing)}, which "
                          f"is not installed ({install_hint(missing)})", **base)
        _watch_sigint()
        try:
            with stdout_to_stderr():  # a solver's chatter, native libraries' banners included
                prop = method(inst, ctx)
            wall = ctx.elapsed()
        except (SystemExit, KeyboardInterrupt) as e:
            if isinstance(e, KeyboardInterrupt) and _SIGINT.is_set():
                raise  # the user pressed Ctrl-C: stop, and record nothing
            how = "called sys.exit" if isinstance(e, SystemExit) else "raised KeyboardInterrupt"
            return Result(status="error", decision=None, cost=None, feasible=None, bound=None,
                          wall_time=ctx.elapsed(), evaluations=ctx.evaluations,
                          error=f"the solver {how}{_short_args(e)} instead of returning",
                          info={"traceback": traceback.format_exc(limit=20)}, **base)
        except Unsupported as e:
            return Result(status="error", decision=None, cost=None, feasible=None, bound=None,
                          wall_time=ctx.elapsed(), evaluations=ctx.evaluations,
                          error=f"unsupported: {e}", **base)
        except Exception as e:  # a solver's crash is a result row, never a crash of the caller
            return Result(status="error", decision=None, cost=None, feasible=None, bound=None,
                          wall_time=ctx.elapsed(), evaluations=ctx.evaluations,
                          error=f"{type(e).__name__}: {e}",
                          info={"traceback": traceback.format_exc(limit=20)}, **base)
        return self._finish(inst, ctx, prop, wall, base)

    def _finish(self, inst: Instance, ctx: Context, prop: Proposal, wall: float, base: dict) -> Result:
        from .cost import as_decision, evaluate

        problem = _malformed(prop)
        claims = _non_finite_claims(prop)
        if problem is not None:  # a solver's own mistake: its error row, never the caller's crash
            return Result(status="error", decision=None, cost=None, feasible=None, bound=None,
                          wall_time=wall, evaluations=ctx.evaluations, error=problem,
                          info={"non_finite_claims": claims} if claims else {}, **base)
        info = dict(prop.info)
        if claims:  # kept for the referee (a NaN bound is dropped below, never silently)
            info["non_finite_claims"] = claims
        status = prop.status
        if status not in ("optimal", "feasible", "timeout"):
            return Result(status="error", decision=None, cost=None, feasible=None, bound=None,
                          wall_time=wall, evaluations=ctx.evaluations, info=info,
                          error=f"solver returned an unknown status {status!r}", **base)
        if prop.decision is None:
            return Result(status="error" if status != "timeout" else "timeout", decision=None,
                          cost=None, feasible=None, bound=_finite(prop.bound), wall_time=wall,
                          evaluations=ctx.evaluations, info=info,
                          error=None if status == "timeout" else "solver returned no decision",
                          **base)
        try:
            x = as_decision(inst, prop.decision)
        except UserError as e:
            return Result(status="error", decision=None, cost=None, feasible=None, bound=None,
                          wall_time=wall, evaluations=ctx.evaluations, info=info,
                          error=f"invalid decision: {e}", **base)
        ev = evaluate(inst, x)
        bound = _finite(prop.bound)
        error = None
        if status == "optimal" and bound is None:
            bound = ev.cost
        if prop.objective is not None:
            info["objective"] = float(prop.objective)
            diff = abs(prop.objective - ev.cost)
            if diff > 1e-6 * max(1.0, abs(ev.cost)):
                info["objective_mismatch"] = diff
                if self.guarantee == "exact":
                    error = (f"the solver's objective {prop.objective!r} differs from the cost "
                             f"model's {ev.cost!r}: its model is wrong or badly scaled")
        if bound is not None and bound > ev.cost + BOUND_RTOL * max(1.0, abs(ev.cost)):
            error = f"claimed lower bound {bound!r} exceeds the cost {ev.cost!r} of its own decision"
        if status == "optimal" and not ev.feasible:
            error = "claimed optimal, but the decision is infeasible"
        if error is not None:
            status = "error"
        return Result(status=status, decision=x, cost=ev.cost, feasible=ev.feasible, bound=bound,
                      wall_time=wall, evaluations=ctx.evaluations, info=info, error=error, **base)


def _malformed(prop) -> str | None:
    """Why what ``_solve`` returned is not a well-formed :class:`Proposal`, or None."""
    if not isinstance(prop, Proposal):
        what = "None" if prop is None else f"an object of type {type(prop).__name__}"
        return f"the solver returned {what}, not a Proposal"
    if not isinstance(prop.info, dict):
        return f"the solver's Proposal.info is a {type(prop.info).__name__}, not a dict"
    if not isinstance(prop.status, str):
        return f"the solver's status is a {type(prop.status).__name__}, not a string"
    for key in ("objective", "bound"):
        v = getattr(prop, key)
        if v is None:
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            return f"the solver's {key} is a {type(v).__name__}, not a number or None"
        try:
            v = float(v)
        except OverflowError:
            return f"the solver's {key} is an integer too large for a float"
        if key == "objective" and not math.isfinite(v):
            return f"the solver's objective {v!r} is not a finite number"
    return None


def _non_finite_claims(prop) -> dict:
    """The objective and bound of a Proposal that are NaN or infinite, as text (``"nan"``):
    the referee flags them (:mod:`offbench.run.referee`)."""
    out = {}
    if not isinstance(prop, Proposal):
        return out
    for key in ("objective", "bound"):
        v = getattr(prop, key, None)
        if isinstance(v, (float, np.floating)) and not math.isfinite(float(v)):
            out[key] = repr(float(v))
    return out


def _short_args(e: BaseException) -> str:
    args = ", ".join(repr(a) for a in e.args)
    return f"({args[:100]})"


_REDIRECT_LOCK = threading.Lock()
_REDIRECT = {"depth": 0, "saved": None}


@contextlib.contextmanager
def stdout_to_stderr():
    """Send what is written to file descriptor 1 (by Python after a flush, or by native code: a
    MILP back end's banner) to descriptor 2 while a solver runs.

    Standard output may carry a program's JSON (``offbench solve``, ``offbench run --jsonl``, in
    this process or in a worker whose descriptors are the parent's), so a solver never writes
    there. The redirection is process-wide: concurrent solves in threads share it (the first in
    redirects, the last out restores), and output of other threads during a solve goes to
    standard error too.
    """
    with _REDIRECT_LOCK:
        if _REDIRECT["depth"] == 0:
            try:
                sys.stdout.flush()
            except (OSError, ValueError, AttributeError):
                pass
            try:
                saved = os.dup(1)
                os.dup2(2, 1)
            except OSError:  # no descriptors 1 and 2 (a daemon): nothing to guard
                saved = None
            _REDIRECT["saved"] = saved
        _REDIRECT["depth"] += 1
    try:
        yield
    finally:
        with _REDIRECT_LOCK:
            _REDIRECT["depth"] -= 1
            if _REDIRECT["depth"] == 0 and _REDIRECT["saved"] is not None:
                try:
                    sys.stdout.flush()  # what the solver printed goes where it was redirected
                except (OSError, ValueError, AttributeError):
                    pass
                os.dup2(_REDIRECT["saved"], 1)
                os.close(_REDIRECT["saved"])
                _REDIRECT["saved"] = None


#: Set when the user presses Ctrl-C (SIGINT) during a solve: a KeyboardInterrupt then stops the
#: caller, while one that a solver raises itself is that solver's error row.
_SIGINT = threading.Event()


def _on_sigint(signum, frame):
    _SIGINT.set()
    raise KeyboardInterrupt


def _watch_sigint() -> None:
    """Install :func:`_on_sigint` in place of Python's default SIGINT handler (same behaviour,
    plus the flag), once, from the main thread; clear the flag for the solve that starts."""
    _SIGINT.clear()
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                signal.signal(signal.SIGINT, _on_sigint)
        except (ValueError, OSError):  # not the main interpreter
            pass


def _finite(v) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


class LearningSolver(Solver):
    """A solver that learns from a stream of frames of one structure (same devices, jobs and
    layer counts).

    The tracks call ``start`` once per stream with the first frame (to size networks), then for
    each frame ``decide`` (timed: decision latency; evaluations charged to ``ctx``) and ``learn``
    (not timed) with the frame, the decision taken and its cost-model evaluation. A static solve
    (``solve``) of a learning solver trains on the instance alone within the time limit; the
    tracks are how learned solvers are scored.
    """

    guarantee: ClassVar[str] = "learned"
    tracks: ClassVar[tuple[str, ...]] = ("online", "generalization", "adaptation")
    promises_feasible: ClassVar[bool] = False

    def start(self, structure: Instance, seed: int) -> None:
        raise NotImplementedError(f"solver {self.id} does not implement start")

    def decide(self, frame: Instance, ctx: Context) -> Proposal:
        raise NotImplementedError(f"solver {self.id} does not implement decide")

    def learn(self, frame: Instance, decision: np.ndarray, ctx: Context) -> dict | None:
        """Learn from one frame and the decision taken on it (not timed; evaluations charged).

        May return a small dict of numbers saying what was learned (``{"loss": 0.12,
        "epsilon": 0.05, "K": 3}``): the tracks store it with the frame (the ``info`` of its
        frame row). None says nothing. Anything else stops the stream with an error.
        """
        raise NotImplementedError(f"solver {self.id} does not implement learn")

    def step(self, frame: Instance, *, time_limit: float | None = None, seed: int = 0) -> Result:
        """Decide one frame of a stream: :meth:`decide` under the protections of
        :meth:`Solver.solve` (timed, priced by the cost model, a failure becomes an ``error``
        result). The tracks call this, then :meth:`learn`."""
        return self._run(self.decide, frame, time_limit, seed)


# ------------------------------------------------------------------------------ discovery
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
    return resolve(name, solver_dirs)(**(params or {}))


def parse_params(cls: type[Solver], pairs: Sequence[str]) -> dict:
    """Parse ``["k=v", ...]`` from the command line against the solver's declared params
    (:func:`offbench.params.parse_assignments`: unknown names get "did you mean", a name given
    twice is refused, values read as :meth:`offbench.params.Param.parse` reads them)."""
    return _params.parse_assignments(pairs, {p.name: p for p in cls.params}, cls.id, error=SolverError)


def solve(inst: Instance, solver: str = "milp", *, time_limit: float | None = None, seed: int = 0,
          params: dict | None = None, solver_dirs: Sequence[str | Path] = (),
          threads: int | None = None) -> Result:
    """Solve one instance with a solver given by ID or name (SPEC.md section 5).

    ``threads``: the threads the solver may use (:class:`Context`; exhaustive walks blocks of
    placements on them, with the same answer for any number)."""
    return make_solver(solver, params, solver_dirs).solve(inst, time_limit=time_limit, seed=seed,
                                                          threads=threads)
