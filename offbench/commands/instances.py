"""``offbench instances ...``: instance families, streams and frozen sets.

::

    offbench instances list [--json]                      the families (and frozen sets)
    offbench instances show ID [--json]                   what a family models, sizes, sources
    offbench instances generate ID --seed S --count N --out DIR [--start I] [--format json|npz]
    offbench instances stream ID --seed S --frames N --out DIR [--environment E]
                              [--switch-at T --switch-to E2]
    offbench instances freeze [SET ...] [--force] [--no-references] [--time-limit S]
    offbench instances verify-sets [SET ...] [--no-resolve] [--time-limit S]

``verify-sets`` (with no SET: every set on disk and every set a family declares) exits 1, naming
the set and the member, when a frozen set no longer matches its family (a digest changed), its
declaration (family, seed, count, format) or the cost model (a reference decision's cost
changed), when a proven optimum recomputed differs, or when a declared set is not frozen; 0 when
every set checked is sound; 2 when a SET named is no set at all.
"""

from __future__ import annotations

import json
import sys

from ._util import families_dir_option, int_option, positive_float, seed_int, use_families_dirs


_count = int_option("--count", 1, "a number of instances", None)
_frames = int_option("--frames", 1, "a number of frames", None)


def add_parser(sub):
    p = sub.add_parser("instances", help="instance families, frame streams and frozen sets",
                       description="Instance families (instances/*.toml), frame streams and "
                                   "frozen instance sets with reference optima.")
    s = p.add_subparsers(dest="instances_command", metavar="ACTION", parser_class=type(p))

    q = s.add_parser("list", help="list the families and the frozen sets")
    q.add_argument("--json", action="store_true", help="one JSON object for programs")
    families_dir_option(q)
    q.set_defaults(func=run_list)

    q = s.add_parser("show", help="what a family models, its sizes, sources and history")
    q.add_argument("id", metavar="ID", help="family ID (dmro-v1), name (dmro) or preset (capacitated-v1:medium)")
    q.add_argument("--json", action="store_true", help="one JSON object for programs")
    families_dir_option(q)
    q.set_defaults(func=run_show)

    q = s.add_parser("generate", help="write instances of a family to a folder (with a manifest)")
    _output_args(q)
    q.add_argument("--count", type=_count, required=True, metavar="N", help="how many instances")
    q.add_argument("--start", type=seed_int, default=0, metavar="I", help="first index (default 0)")
    q.set_defaults(func=run_generate)

    q = s.add_parser("stream", help="write the frames of a stream to a folder (with a manifest)")
    _output_args(q)
    q.add_argument("--frames", type=_frames, required=True, metavar="N", help="how many frames")
    q.add_argument("--environment", default=None, metavar="E",
                   help="the family's environment to draw frames in (default: its first)")
    q.add_argument("--switch-at", type=seed_int, default=None, metavar="T",
                   help="the first frame drawn in --switch-to, in [1, N - 1]")
    q.add_argument("--switch-to", default=None, metavar="E2",
                   help="the environment the stream switches to at --switch-at")
    q.set_defaults(func=run_stream)

    q = s.add_parser("freeze", help="build frozen sets declared by the families, with references")
    q.add_argument("sets", nargs="*", metavar="SET", help="set IDs (dmro-v1/test); none: every "
                   "declared set not yet frozen")
    q.add_argument("--force", action="store_true", help="rebuild sets that are already frozen")
    q.add_argument("--no-references", action="store_true", help="write the sets without references")
    q.add_argument("--time-limit", type=positive_float, default=None, metavar="S",
                   help="seconds per reference (default: the set's declared limit)")
    q.set_defaults(func=run_freeze)

    q = s.add_parser("verify-sets", help="regenerate frozen sets and check digests and optima")
    q.add_argument("sets", nargs="*", metavar="SET", help="set IDs or folders; none: every frozen set")
    q.add_argument("--no-resolve", action="store_true",
                   help="do not recompute proven optima (digests and reference costs only)")
    q.add_argument("--time-limit", type=positive_float, default=None, metavar="S",
                   help="seconds per recomputed optimum (default: the set's declared limit)")
    q.add_argument("--verbose", action="store_true",
                   help="let the solvers' own output (HiGHS) reach the terminal; by default it "
                        "goes to a log file whose name is printed")
    q.set_defaults(func=run_verify)

    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])
    return p


def _output_args(q) -> None:
    """The arguments that ``generate`` and ``stream`` share."""
    q.add_argument("id", metavar="ID", help="family ID (dmro-v1), name (dmro) or preset "
                   "(capacitated-v1:medium)")
    q.add_argument("--seed", type=seed_int, required=True, metavar="S",
                   help="seed of the draw (the same seed gives the same digests everywhere)")
    q.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    q.add_argument("--format", choices=("json", "npz"), default="json",
                   help="file format (default: json)")
    q.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="change a generator parameter (repeatable); the family ID then says so")
    q.add_argument("--force", action="store_true",
                   help="replace DIR when it holds an instance set written before")
    families_dir_option(q)


def _family(args):
    from ..families import get_family

    use_families_dirs(args)
    fam = get_family(args.id)
    return fam.with_assignments(getattr(args, "param", None) or [])


def _user_dirs() -> set:
    from ..families import families_dirs

    return {p.resolve() for p in families_dirs()}


def _jobs(fam) -> str:
    """``"dags"`` when a family version's instances are version 2 (some job a DAG, SPEC.md
    section 7), else ``"chains"``. Nothing in a definition declares it, so it is read off an
    instance: the ``version`` of the first member of a frozen set of this version when it has
    one (offbench writes 2 exactly when some job is a DAG, ``Instance.to_dict``; the set is the
    version's own draw, which ``verify-sets`` checks), else the instance the family draws first
    (seed 0, index 0). The set is read for speed: deadline-v1's first draw loads the cost
    model's kernels and a DAG's validation Numba's, about 2 s where reading a member takes ms."""
    from ..instance_sets import MANIFEST, set_path

    ids = [fam.set_id(spec) for spec in fam.sets]
    for sid in sorted(ids, key=lambda sid: sid.split("/")[0] != fam.id):  # this preset's first
        man = set_path(sid) / MANIFEST
        try:
            first = man.parent / json.loads(man.read_text(encoding="utf-8"))["members"][0]["file"]
            if first.suffix == ".npz":
                import numpy as np

                with np.load(first, allow_pickle=False) as z:
                    version = int(z["version"])
            else:
                version = json.loads(first.read_text(encoding="utf-8"))["version"]
        except (OSError, ValueError, LookupError, TypeError):
            continue  # not frozen here (or damaged, which verify-sets reports): draw one
        return "dags" if version == 2 else "chains"
    return "dags" if fam.generate(0, 0).is_dag else "chains"


def _version_line(fam) -> str:
    """What this version is, in one line: the heading of its own section of the family's doc
    (``Version 2: workflow DAGs ...``, as ``offbench instances show NAME-vN`` prints it first;
    :func:`offbench.families.family.version_doc`), or the family's description for version 1
    and a version without a section of its own."""
    from ..families.family import version_doc

    first = version_doc(fam._def.doc, fam.version).splitlines()[0]
    if fam.version > 1 and first.startswith(f"Version {fam.version}"):
        return " ".join(first.split())
    return fam.description


def run_list(args) -> int:
    from ..families import list_families
    from ..instance_sets import list_sets

    use_families_dirs(args)
    fams = list_families()
    sets = list_sets()
    user = _user_dirs()
    rows = [(f, _jobs(f), bool(f._spec.get("preview")), _version_line(f)) for f in fams]
    if args.json:
        out = {"families": [{"id": f.id, "name": f.name, "version": f.version,
                             "latest": f.version == f.latest_version, "preview": preview,
                             "jobs": jobs, "description": f.description,
                             "version_description": line,
                             "presets": list(f.presets), "environments": list(f.environments),
                             "definition": str(f.definition_path),
                             "user": f.definition_path.parent in user}
                            for f, jobs, preview, line in rows],
               "sets": sets}
        sys.stdout.write(json.dumps(out) + "\n")
        return 0
    width = max(len(f.id) for f in fams)
    print(f"{'ID':<{width}}  JOBS    PREVIEW  DESCRIPTION")
    for f, jobs, preview, line in rows:
        extra = f" (presets: {', '.join(f.presets)})" if f.presets else ""
        if f.definition_path.parent in user:
            extra += f" [user family: {f.definition_path}]"
        print(f"{f.id:<{width}}  {'DAGs' if jobs == 'dags' else 'chains':<6}  "
              f"{'yes' if preview else 'no':<7}  {line}{extra}")
    print()
    print("JOBS: chains (version-1 instances) or DAGs (version 2, SPEC.md section 7; solvers that "
          "take them: the DAG column of offbench solvers). A preview is used only when named: "
          "the bare name means the newest version that is not one.")
    print("Frozen sets: " + (", ".join(sets) if sets else "none (offbench instances freeze)"))
    return 0


def run_show(args) -> int:
    fam = _family(args)
    if args.json:
        sys.stdout.write(json.dumps(fam.summary()) + "\n")
    else:
        print(fam.doc)
    return 0


def run_generate(args) -> int:
    from pathlib import Path

    from ..instance_sets import write_generated

    fam = _family(args)
    s = write_generated(fam, args.seed, args.count, Path(args.out), start=args.start,
                        fmt=args.format, force=args.force)
    print(f"wrote {len(s)} instances of {fam.id} (seed {args.seed}, indices {args.start}.."
          f"{args.start + args.count - 1}) to {args.out}; set digest {s.digest}")
    return 0


def run_stream(args) -> int:
    from ..instance_sets import _manifest, check_target, write_set

    fam = _family(args)
    out = check_target(args.out, force=args.force)
    frames = list(fam.stream(args.seed, args.frames, environment=args.environment,
                             switch_at=args.switch_at, switch_to=args.switch_to))
    env = fam.environment(args.environment).name
    man = _manifest(f"{fam.id}/s{args.seed}/stream", fam.id, None, 0, frames, args.format,
                    stream={"seed": args.seed, "frames": args.frames, "environment": env,
                            "switch_at": args.switch_at, "switch_to": args.switch_to},
                    created_by=" ".join(["offbench", "instances", "stream", fam.id, "--seed",
                                         str(args.seed), "--frames", str(args.frames)]),
                    references={})
    write_set(out, frames, man, fmt=args.format, force=args.force)
    print(f"wrote {len(frames)} frames of {fam.id} ({env}"
          + (f", switching to {args.switch_to} at frame {args.switch_at}" if args.switch_at is not None else "")
          + f") to {args.out}")
    return 0


def run_freeze(args) -> int:
    from ..instance_sets import MANIFEST, declared_sets, freeze_set, set_path

    targets = list(args.sets)
    if not targets:
        targets = [sid for sid, _, _ in declared_sets()
                   if args.force or not (set_path(sid) / MANIFEST).exists()]
        if not targets:
            print("every declared set is frozen (use --force to rebuild them)")
            return 0
    for sid in targets:
        s = freeze_set(sid, references=not args.no_references, time_limit=args.time_limit,
                       force=args.force,
                       progress=lambda line: print(line, flush=True))
        print(f"froze {sid}: {len(s)} instances, {len(s.references)} references, digest {s.digest[:16]}")
    return 0


def run_verify(args) -> int:
    from ..instance_sets import declared_sets, find_set, list_sets, load_set, verify_set

    declared = [sid for sid, _, _ in declared_sets()]
    targets = list(args.sets) or sorted(set(list_sets()) | set(declared))
    for sid in targets:  # a name that is no set is the user's mistake (exit 2), checked first
        if find_set(sid) is None and sid not in declared:
            load_set(sid)  # raises the "no instance set ..., did you mean" error
    if not targets:
        print("no frozen sets to verify")
        return 0
    import contextlib
    import os
    import tempfile

    from ..progress import SolverLog

    log = None
    if not args.verbose:
        fd, name = tempfile.mkstemp(prefix="offbench-verify-sets-", suffix=".log")
        os.close(fd)
        log = SolverLog(name)
    bad = 0
    for sid in targets:
        with log if log is not None else contextlib.nullcontext():
            problems = verify_set(sid, resolve=not args.no_resolve, time_limit=args.time_limit)
        if problems:
            bad += 1
            for line in problems:
                print(f"FAIL {line}", file=sys.stderr)
        else:
            note = "" if load_set(sid).references else " (no references)"
            print(f"ok   {sid}{note}")
    if log is not None and log.path.exists() and log.path.stat().st_size:
        print(f"the solvers' own output is in {log.path} (--verbose shows it here)", file=sys.stderr)
    if bad:
        print(f"{bad} of {len(targets)} sets failed verification", file=sys.stderr)
        return 1
    return 0
