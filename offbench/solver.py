"""The solver interface and the result type (finding solvers: :mod:`offbench.discovery`).

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

import difflib
import inspect
import functools
import importlib
import importlib.util
import math
import pkgutil
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np

from . import params as _params
from ._stdio import SIGINT, stdout_to_stderr, watch_sigint  # noqa: F401 - stdout_to_stderr is public here
from .errors import UserError
from .instance import Instance

GUARANTEES = ("exact", "bounded", "heuristic", "learned")
STATUSES = ("optimal", "feasible", "timeout", "error")
TRACKS = ("static", "online", "generalization", "adaptation")
ENTRY_POINT_GROUP = "offbench.solvers"

#: Relative slack allowed between a proven bound and a cost before it is called a bug.
BOUND_RTOL = 1e-6


#: The longest summary shown whole; a longer one is cut at its last sentence end before this, or
#: at a word with "..." (written by hand: textwrap.shorten collapses but cuts only at words).
SUMMARY_MAX = 200
_SENTENCE_END = re.compile(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)\.\s(?=[A-Z(])")  # not "et al. 2018"


def solver_summary(cls) -> str:
    """A solver's summary: the first paragraph of its docstring on one line.

    The first *line* cut milp's mid-sentence ("... over Lagrangian-reduced"); a paragraph
    wrapped over lines is read whole (:meth:`Solver.describe`, ``offbench solvers``)."""
    para = " ".join(inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].split())
    if len(para) <= SUMMARY_MAX:
        return para
    head = para[:SUMMARY_MAX]
    ends = [m.start() for m in _SENTENCE_END.finditer(head)]
    if ends:
        return head[:ends[-1] + 1]
    cut = head.rfind(" ")
    return head[:cut if cut > 0 else SUMMARY_MAX].rstrip(",;:") + " ..."


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
        self.evaluations = 0
        self.started = time.perf_counter()

    @functools.cached_property
    def rng(self) -> np.random.Generator:
        """``numpy.random.default_rng(seed)``, made when first used (a solver that draws
        nothing, such as all-device, does not pay for it: a tenth of a trivial job)."""
        return np.random.default_rng(self.seed)

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
    #: Whether this solver handles DAG jobs (SPEC.md section 7). A solver that leaves it False
    #: is never run on an instance with a DAG job: :meth:`solve` (and a learner's ``step``)
    #: answers status ``error`` with an ``unsupported:`` message naming the solver and the
    #: instance, which leaderboards count as refused. ``offbench.testing.check_solver`` runs
    #: its checks on DAG instances too for a solver that sets it.
    handles_dag: ClassVar[bool] = False

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
        return {
            "id": cls.id, "name": cls.name, "version": cls.version, "guarantee": cls.guarantee,
            "tracks": list(cls.tracks), "requires": list(cls.requires),
            "promises_feasible": cls.promises_feasible,
            "handles_dag": bool(cls.handles_dag),
            "summary": solver_summary(cls),
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
        refusal = dag_refusal(type(self), inst)
        if refusal is not None:
            return Result(status="error", decision=None, cost=None, feasible=None, bound=None,
                          wall_time=0.0, error=f"unsupported: {refusal}", **base)
        watch_sigint()
        try:
            with stdout_to_stderr():  # a solver's chatter, native libraries' banners included
                prop = method(inst, ctx)
            wall = ctx.elapsed()
        except (SystemExit, KeyboardInterrupt) as e:
            if isinstance(e, KeyboardInterrupt) and SIGINT.is_set():
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
        except SolverError:
            # A mistake in the solver's parameters found only once it runs (a weights file that
            # cannot be used, an n_steps that does not fit the instance): the caller's mistake,
            # raised as a bad parameter is at construction (``offbench solve`` exits 2 with its
            # message), not a crash of the solver with a traceback. A run's job records it as
            # that job's error; the other jobs go on.
            raise
        except Exception as e:  # a solver's crash is a result row, never a crash of the caller
            return Result(status="error", decision=None, cost=None, feasible=None, bound=None,
                          wall_time=ctx.elapsed(), evaluations=ctx.evaluations,
                          error=f"{type(e).__name__}: {e}",
                          info={"traceback": traceback.format_exc(limit=20)}, **base)
        return self._finish(inst, ctx, prop, wall, base)

    def _finish(self, inst: Instance, ctx: Context, prop: Proposal, wall: float, base: dict) -> Result:
        from .cost import as_decision, evaluate
        from .errors import DecisionError

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
            if _is_boolean(prop.decision):
                # SPEC.md section 4: a decision is tiers 0, 1, 2; a mask is not one (it would
                # read as device/edge and could never say cloud).
                raise DecisionError("decision: expected integers (tiers 0, 1, 2), got booleans")
            x = as_decision(inst, prop.decision)
        except UserError as e:
            return Result(status="error", decision=None, cost=None, feasible=None, bound=None,
                          wall_time=wall, evaluations=ctx.evaluations, info=info,
                          error=f"invalid decision: {e}", **base)
        # The solver's own claim goes through ``evaluate``, the function a plugin that patches
        # the cost model in its own process patches (tests/adversarial: its rows are flagged
        # by the referee, which prices with its pristine ``cost_feasible``).
        ev = evaluate(inst, x)
        cost, feasible = float(ev.cost), bool(ev.feasible)
        bound = _finite(prop.bound)
        error = None
        if status == "optimal" and bound is None:
            bound = cost
        if prop.objective is not None:
            info["objective"] = float(prop.objective)
            diff = abs(prop.objective - cost)
            if diff > 1e-6 * max(1.0, abs(cost)):
                info["objective_mismatch"] = diff
                if self.guarantee == "exact":
                    error = (f"the solver's objective {prop.objective!r} differs from the cost "
                             f"model's {cost!r}: its model is wrong or badly scaled")
        if bound is not None and bound > cost + BOUND_RTOL * max(1.0, abs(cost)):
            error = f"claimed lower bound {bound!r} exceeds the cost {cost!r} of its own decision"
        if status == "optimal" and not feasible:
            error = "claimed optimal, but the decision is infeasible"
        if error is not None:
            status = "error"
        return Result(status=status, decision=x, cost=cost, feasible=feasible, bound=bound,
                      wall_time=wall, evaluations=ctx.evaluations, info=info, error=error, **base)


def dag_refusal(cls: type[Solver], inst: Instance) -> str | None:
    """Why solver ``cls`` refuses ``inst`` (a DAG instance, and the solver does not declare
    ``handles_dag``), or None. The message names the solver and the instance."""
    if cls.handles_dag is True or not getattr(inst, "is_dag", False):
        return None
    n = int(np.count_nonzero(inst.job_is_dag))
    what = f"instance {inst.name!r}" if inst.name else f"instance {inst.digest[:12]}"
    return (f"{cls.id or cls.__name__} does not handle DAG jobs (SPEC.md section 7), and "
            f"{what} has {n} of {inst.n_jobs} jobs that are DAGs; use a solver that declares "
            f"handles_dag (offbench solvers)")


def _is_boolean(decision) -> bool:
    """Whether a solver's decision is booleans (a numpy bool array, or a sequence of bools)."""
    dtype = getattr(decision, "dtype", None)
    if dtype is not None:
        return getattr(dtype, "kind", None) == "b"
    try:
        return len(decision) > 0 and all(type(v) is bool for v in decision)
    except TypeError:
        return False


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

    def check_inputs(self, structure: Instance | None = None) -> None:
        """Check this solver's parameters against a stream's structure (its first frame; None
        when not known) without running it, raising :class:`SolverError` for a mistake (a
        weights file that cannot be used, a value that does not fit the structure).

        ``offbench run`` calls it for every learner and stream source before any job runs, and
        ``offbench solve`` before solving, so that such a mistake is refused up front (exit
        status 2) instead of becoming every job's error row. It must be cheap: no network is
        built. The default checks nothing; :meth:`start` still refuses what this misses."""

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
