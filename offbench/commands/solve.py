"""``offbench solve INSTANCE --solver NAME``: solve one instance; prints one JSON object.

Exit status: 0 when the solver answered (its row, whatever its status: a solver's crash is an
``error`` row, not a failure of the command), :data:`EXIT_REFUSED` (3) when it **refused** the
instance (``status: error`` with ``unsupported: <why>``: the instance is outside its scope,
SPEC.md section 6), 2 for a mistake in the command (a missing file, an unknown solver or
parameter).
"""

from __future__ import annotations

from ._util import positive_float, seed_int


def add_parser(sub):
    p = sub.add_parser("solve", help="solve one instance; prints one JSON object",
                       description="Solve one instance with a solver (see `offbench solvers`).",
                       epilog="Exit status: 0 the solver answered (the JSON row says how, "
                              "errors included); 3 the solver refused the instance (status "
                              "error, 'unsupported: ...'); 2 a mistake in the command.")
    p.add_argument("instance", metavar="INSTANCE", help="instance file (.json or .npz)")
    p.add_argument("--solver", required=True, help="solver ID (milp-v1) or name (milp: latest version)")
    p.add_argument("--time-limit", type=positive_float, default=None, metavar="S", help="seconds")
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
    from ..instance import load_instance
    from ..discovery import parse_params, resolve
    from ._util import print_json, stdout_to_stderr

    inst = load_instance(args.instance)
    cls = resolve(args.solver, args.solvers_dir)
    solver = cls(**parse_params(cls, args.param))
    with stdout_to_stderr():
        result = solver.solve(inst, time_limit=args.time_limit, seed=args.seed,
                              threads=args.threads)
    print_json(result.to_dict())
    from ..leaderboard.build import refused

    return EXIT_REFUSED if refused(result.to_dict()) else 0


#: The exit status of ``offbench solve`` when the solver refused the instance.
EXIT_REFUSED = 3
