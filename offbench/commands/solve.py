"""``offbench solve INSTANCE --solver NAME``: solve one instance; prints one JSON object.

Exit status: 0 when the solver answered (its row, whatever its status: a solver's crash is an
``error`` row, not a failure of the command, and so is a solver stopped at its hard limit, a
``timeout`` row without a decision), :data:`EXIT_REFUSED` (3) when it **refused** the instance
(``status: error`` with ``unsupported: <why>``: the instance is outside its scope, SPEC.md
section 6), 2 for a mistake in the command (a missing file, an unknown solver or parameter, a
parameter the solver refuses once it runs: a weights file it cannot use, an ``n_steps`` that does
not fit the instance; :class:`~offbench.solver.SolverError`, raised by the solve).

The hard limit (``--kill-after``; by default ``offbench run``'s, ``2 * time limit + 10`` s with
a time limit, none without, plus the import allowance,
:data:`~offbench.run.execute.IMPORT_ALLOWANCE`: the solve is cold, with no untimed warm-up as a
run's first job has, so a first solve that compiles a solver's kernels with a cold cache, half
a minute on a busy machine, must not be stopped for it) is the in-process alarm
(:func:`offbench.run.execute.call_with_alarm`, ``SIGALRM``: it stops Python code, not a long
call inside compiled code). An explicit ``--kill-after`` is the limit itself.
"""

from __future__ import annotations

from ._util import positive_float, seed_int


def add_parser(sub):
    p = sub.add_parser("solve", help="solve one instance; prints one JSON object",
                       description="Solve one instance with a solver (see `offbench solvers`).",
                       epilog="Exit status: 0 the solver answered (the JSON row says how, "
                              "errors and a stop at the hard limit included); 3 the solver "
                              "refused the instance (status error, 'unsupported: ...'); 2 a "
                              "mistake in the command.")
    p.add_argument("instance", metavar="INSTANCE", help="instance file (.json or .npz)")
    p.add_argument("--solver", required=True, help="solver ID (milp-v1) or name (milp: latest version)")
    p.add_argument("--time-limit", type=positive_float, default=None, metavar="S", help="seconds")
    p.add_argument("--kill-after", type=positive_float, default=None, metavar="S",
                   help="hard limit in seconds: a solver still running then is stopped, and "
                        "its row says timeout (default: 2 * time limit + 10 with a time limit, "
                        "plus 300 s for imports and a first compilation; none without)")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N",
                   help="the solver's seed (default: 0)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a solver parameter (repeatable)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads the solver may use (default 1; the answer does not depend on it)")
    p.add_argument("--solvers-dir", action="append", default=[], metavar="DIR",
                   help="also load solvers from the .py files of this folder (repeatable)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..discovery import guarded_solve, instantiate, parse_params, resolve
    from ..run.execute import call_with_alarm
    from ..instance import load_instance_named
    from ._util import print_json, stdout_to_stderr

    inst = load_instance_named(args.instance)
    cls = resolve(args.solver, args.solvers_dir)
    solver = instantiate(cls, parse_params(cls, args.param))
    from ..solver import LearningSolver

    if isinstance(solver, LearningSolver):  # its parameters against the instance, up front
        solver.check_inputs(inst)
    kill_after, allowance = args.kill_after, 0.0
    if kill_after is None and args.time_limit is not None:
        from ..run.execute import IMPORT_ALLOWANCE
        from ..tracks import get

        kill_after = get("static").default_kill_after(args.time_limit, 1)
        allowance = IMPORT_ALLOWANCE
    limit = None if kill_after is None else kill_after + allowance
    with stdout_to_stderr():
        result, stopped = call_with_alarm(
            lambda: guarded_solve(solver, inst, time_limit=args.time_limit, seed=args.seed,
                                  threads=args.threads), limit)
    if stopped is not None:
        result = _stopped(solver, args, kill_after, allowance, stopped)
    print_json(result.to_dict())
    from ..leaderboard.build import refused

    return EXIT_REFUSED if refused(result.to_dict()) else 0


#: The exit status of ``offbench solve`` when the solver refused the instance.
EXIT_REFUSED = 3


def _stopped(solver, args, kill_after: float, allowance: float, elapsed: float):
    """The row of a solve stopped at its hard limit: ``timeout``, no decision."""
    from ..solver import Result

    tl = "no time limit" if args.time_limit is None else f"time limit {args.time_limit:g} s"
    if allowance:
        tl += f"; with the import allowance {allowance:g} s: {kill_after + allowance:g} s in all"
    return Result(solver=solver.id, status="timeout", decision=None, cost=None, feasible=None,
                  bound=None, wall_time=elapsed, seed=int(args.seed),
                  params=dict(solver.param_values),
                  error=f"stopped at the hard limit kill_after={kill_after:g} s ({tl}); no "
                        f"decision (a first solve with a cold compilation cache may need a "
                        f"larger --kill-after)",
                  info={"stopped_by": "SIGALRM in this process (offbench solve)"})
