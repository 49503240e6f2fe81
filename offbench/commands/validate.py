"""``offbench validate INSTANCE...``: check instance files against SPEC.md section 3.

Every file is checked: a good one gets an ``ok`` line on stdout, a bad one a line naming it and
what is wrong on stderr, and the command goes on to the next; the status is 2 if any was bad
(one file alone: its one-line message, as every command gives). An instance with DAG jobs
(version 2) says so first: how many jobs are DAGs, with how many nodes and edges.
The ``manifest.json`` that ``offbench instances generate`` writes beside its instances is
named as a manifest, not an instance (``offbench validate DIR/*.json`` is the common call).
"""

from __future__ import annotations

import sys


def add_parser(sub):
    p = sub.add_parser("validate", help="check instance files (each bad one named; exit 2 if any is bad)",
                       description="Check instance files against SPEC.md section 3: each file is "
                                   "checked, each bad one named with what is wrong, and the "
                                   "status is 2 if any was bad.")
    p.add_argument("instances", nargs="+", metavar="INSTANCE",
                   help="instance files (.json or .npz); many may be given")
    p.set_defaults(func=run)
    return p


def _shown(path: str) -> str:
    return path if len(path) <= 200 else f"{path[:100]}...{path[-50:]}"


def _dag_note(inst) -> str:
    """For an instance with DAG jobs (version 2, SPEC.md section 7): ``version 2, DAG jobs: 3 of 4
    (60 nodes, 93 edges); ``; for chains nothing (a version-2 file whose jobs are all
    chains is the same instance as version 1, with the same digest)."""
    if not inst.is_dag:
        return ""
    dag = inst.job_is_dag
    nodes = int(inst.layers_per_job[dag].sum())
    return (f"version 2, DAG jobs: {int(dag.sum())} of {inst.n_jobs} ({nodes} nodes, "
            f"{inst.n_edges} edges); ")


def run(args) -> int:
    from ..errors import UserError
    from ..instance import is_generator_manifest, load_instance_named

    bad = 0
    for path in args.instances:
        shown = _shown(path)
        if is_generator_manifest(path):
            print(f"{shown}: skipped: the manifest that `offbench instances generate` writes, "
                  "not an instance", file=sys.stderr)
            continue
        try:
            inst = load_instance_named(path)
        except UserError as e:  # the file named; go on: one of several may be bad
            msg = " ".join(str(e).split())
            if len(args.instances) == 1:  # one file: its message is the one line
                raise UserError(msg) from None
            bad += 1
            print(f"offbench validate: {msg}", file=sys.stderr)
            continue
        print(f"{path}: ok: {_dag_note(inst)}{inst.n_devices} devices, {inst.n_jobs} jobs, "
              f"{inst.n_layers} layers{', capacities' if inst.has_capacities else ''}"
              f"{', deadlines' if inst.has_deadlines else ''}; digest {inst.digest}")
    if bad:
        raise UserError(f"{bad} of {len(args.instances)} files are not valid instances (each "
                        "named above)")
    return 0
