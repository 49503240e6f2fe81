"""``offbench validate INSTANCE...``: check instance files against SPEC.md section 3."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("validate", help="check instance files (exit 2 with a message if one is bad)",
                       description="Check instance files against SPEC.md section 3.")
    p.add_argument("instances", nargs="+", metavar="INSTANCE", help="instance file (.json or .npz)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..errors import InstanceError, UserError
    from ..instance import load_instance

    for path in args.instances:
        try:
            inst = load_instance(path)
        except InstanceError as e:  # name the file: one of several may be bad
            shown = path if len(path) <= 200 else f"{path[:100]}...{path[-50:]}"
            raise UserError(str(e) if str(e).startswith(shown) else f"{shown}: {e}") from None
        print(f"{path}: ok: {inst.n_devices} devices, {inst.n_jobs} jobs, {inst.n_layers} layers"
              f"{', capacities' if inst.has_capacities else ''}"
              f"{', deadlines' if inst.has_deadlines else ''}; digest {inst.digest}")
    return 0
