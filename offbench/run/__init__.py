"""``offbench run``, one file per stage; imports point one way (commands -> run -> tracks ->
solver -> cost).

:mod:`offbench.run.spec`
    The run spec: parsing and validating TOML/YAML specs and command-line overrides
    (:func:`parse_spec`, :class:`RunSpec`, :class:`SolverSpec`, :class:`SpecError`).
:mod:`offbench.run.sources`
    Instance sources expanded (:func:`expand_source`): generated members as descriptors, built
    where their jobs run; files read when their jobs run; sets and streams held.
:mod:`offbench.run.plan`
    The spec expanded into job templates, walked in blocks of members; each job a pure function
    of its key (:func:`plan`, :class:`Job`).
:mod:`offbench.run.execute`
    Running one job where it lands: warm-up, the track, the outcome (:func:`execute`).
:mod:`offbench.run.sandbox`
    The worker process that runs jobs over a pipe and can be killed at the hard limit.
:mod:`offbench.run.executors`
    In-process, pool and Dask executors (:func:`make_executor`).
:mod:`offbench.run.provenance`
    Commit, machine and library versions recorded with each run.
:mod:`offbench.run.loop`
    The run loop that fills the results store block by block, in batches, resuming
    (:func:`run`, :class:`RunSummary`).

Time limits: ``time_limit`` is given to the solver, which must stop by it; a solver that returns
well after it (over ``1.5 * time_limit + 1 s``, :data:`offbench.tracks.OVERRUN_FACTOR`) gets
status ``timeout``, keeping its decision. ``kill_after`` (default ``2 * time_limit + 10 s``) is
the hard wall-clock limit of the executors. The first job of each solver (ID and parameters) in
each process is solved once untimed first (with at most
:data:`offbench.tracks.WARM_UP_TIME_LIMIT` seconds) and that answer discarded, so imports and JIT
compilation are neither measured as latency nor charged to the time limit; the hard limit covers
that warm-up and, afresh, the timed solve.
"""

from .execute import ReferenceOutcome, execute, execute_with_alarm, failed_outcome, solver_class
from .executors import DaskExecutor, Executor, InProcessExecutor, PoolExecutor, make_executor
from .loop import RunSummary, run
from .plan import Job, Plan, plan
from .provenance import git_commit, library_versions, machine_info
from .sources import Source, expand_source
from .spec import (RunSpec, SolverSpec, SpecError, apply_overrides, default_spec,
                   default_spec_path, load_spec_file, param_hash, parse_spec)

__all__ = ["DaskExecutor", "Executor", "InProcessExecutor", "Job", "Plan", "PoolExecutor",
           "ReferenceOutcome", "RunSpec", "RunSummary", "SolverSpec", "Source", "SpecError",
           "apply_overrides", "default_spec", "default_spec_path", "execute",
           "execute_with_alarm", "expand_source", "failed_outcome", "git_commit",
           "library_versions", "load_spec_file", "machine_info", "make_executor", "param_hash",
           "parse_spec", "plan", "run", "solver_class"]


class _CallableModule(type(__import__("sys"))):
    """``offbench.run`` is this package and, called, runs a benchmark:
    ``offbench.run(spec, store=...)`` is :func:`offbench.run.api.run_benchmark` (as is
    :func:`offbench.results.run`)."""

    def __call__(self, spec=None, store=None, **kw):
        from .api import run_benchmark

        return run_benchmark(spec, **({"store": store} if store is not None else {}), **kw)


__import__("sys").modules[__name__].__class__ = _CallableModule
