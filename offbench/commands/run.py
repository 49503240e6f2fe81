"""``offbench run [CONFIG]``: run a benchmark into the results store and print its leaderboard.

With no CONFIG, runs the small built-in benchmark (``offbench/data/default_run.toml``). Options
given here replace the matching part of the spec (``--solver`` replaces its solver list, and so
on). Running the same command again resumes: jobs already in the store are skipped.
"""

from __future__ import annotations

import shlex
import sys

from ..errors import UserError
from ._util import INT64_MAX, families_dir_option, int_option, positive_float, use_families_dirs


def add_parser(sub):
    from ..store import DEFAULT_STORE
    from ..tracks import names as track_names

    p = sub.add_parser(
        "run", help="run a benchmark (default: the small built-in one) and print its leaderboard",
        description="Run solvers over instance sources into the results store, then print the "
                    "leaderboard of this run's jobs. Resumes: jobs already in the store are "
                    "skipped. Options replace the matching part of CONFIG.")
    p.add_argument("config", nargs="?", metavar="CONFIG",
                   help="run spec (.toml, .yaml); default: the built-in benchmark")
    p.add_argument("--store", default=DEFAULT_STORE, metavar="PATH",
                   help="results store, an SQLite file (default: %(default)s)")
    p.add_argument("-j", "--jobs", type=_jobs, default=None, metavar="N",
                   help="worker processes (default: the number of CPUs; 0: run in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on Dask: tcp://host:port of a scheduler, or 'local' to start a local "
                        "cluster of -j worker processes")
    p.add_argument("--solver", action="append", default=[], metavar="NAME[:k=v,...]",
                   help="solver to run, with parameters (repeatable; replaces the spec's solvers)")
    p.add_argument("--family", action="append", default=[], metavar="ID",
                   help="instances from a family, e.g. capacitated-v1:small (repeatable; replaces "
                        "the spec's sources)")
    p.add_argument("--count", type=_count, default=10, metavar="N",
                   help="instances drawn from each --family (default: %(default)s)")
    p.add_argument("--instance-seed", type=_seed, default=0, metavar="S",
                   help="seed of the --family draws (default: %(default)s)")
    p.add_argument("--set", action="append", default=[], metavar="REF",
                   help="a frozen instance set ID or folder (repeatable; replaces the spec's sources)")
    p.add_argument("--instances", action="append", default=[], metavar="PATH",
                   help="instance files or a folder of them (repeatable; replaces the spec's sources)")
    p.add_argument("--seeds", type=_seeds, default=None, metavar="S,S,...",
                   help="solver seeds (replaces the spec's seeds)")
    p.add_argument("--time-limit", type=positive_float, default=None, metavar="S",
                   help="seconds per solve (replaces the spec's time limits)")
    p.add_argument("--track", action="append", default=[], choices=track_names(), help="track (repeatable)")
    p.add_argument("--reference", choices=("auto", "none"), default=None,
                   help="compute references and cost ratios (auto) or not (none)")
    p.add_argument("--solvers-dir", action="append", default=[], metavar="DIR",
                   help="also load solvers from the .py files of this folder (repeatable)")
    families_dir_option(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("--quiet", action="store_true", help="print nothing but problems and the table")
    out.add_argument("--jsonl", action="store_true",
                     help="print one JSON object per finished job on stdout (no table)")
    out.add_argument("--progress", action="store_true",
                     help="show the progress bar even when stderr is not a terminal")
    p.add_argument("--format", choices=("md", "csv", "latex"), default=None,
                   help="format of the leaderboard printed at the end (default: aligned tables "
                        "under a provenance summary)")
    p.add_argument("--no-leaderboard", action="store_true", help="do not print the leaderboard")
    p.add_argument("--verbose", action="store_true",
                   help="let solvers' own output (HiGHS banners, ...) reach the terminal; by "
                        "default it goes to a log file per run beside the store (logs/)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (sources, solvers, job count) and stop (builds no "
                        "instance but the first of each generated source, which checks its "
                        "arguments)")
    p.set_defaults(func=run)
    return p


#: The largest count, seed or index a store keeps (SQLite's 64-bit integers).
_jobs = int_option("-j", 0, "a number of worker processes")
_count = int_option("--count", 1, "a number of instances")
_seed = int_option("--instance-seed", 0, "an integer")


def _seeds(text: str) -> list[int]:
    out = []
    for part in [t for t in text.replace(" ", "").split(",") if t]:
        try:
            v = int(part)
        except ValueError:
            raise UserError(f"--seeds: expected integers >= 0 separated by commas, got {text!r}") from None
        if v < 0:
            raise UserError(f"--seeds: expected integers >= 0, got {v}")
        if v > INT64_MAX:
            raise UserError(f"--seeds: a seed is at most 2**63 - 1 = {INT64_MAX} (the store keeps "
                            f"64-bit integers), got {v}")
        if v in out:
            raise UserError(f"--seeds {text}: seed {v} is given twice")
        out.append(v)
    if not out:
        raise UserError(f"--seeds: expected at least one seed, got {text!r}")
    return out


def run(args) -> int:
    from ..progress import Progress
    from ..run import (apply_overrides, default_spec, load_spec_file, make_executor, parse_spec,
                       plan as make_plan, run as run_spec)

    use_families_dirs(args)
    raw = load_spec_file(args.config) if args.config else default_spec()
    raw = apply_overrides(
        raw, solvers=args.solver, families=args.family, sets=args.set,
        instance_paths=args.instances, seeds=args.seeds, time_limit=args.time_limit,
        tracks=args.track, solvers_dirs=args.solvers_dir, reference=args.reference,
        count=args.count, instance_seed=args.instance_seed, families_dirs=args.families_dir)
    spec = parse_spec(raw, where=args.config or "the run spec of the command line")
    plan = make_plan(spec)
    check_learners(plan)
    if args.dry_run:
        print(_describe_plan(plan))
        return 0
    mode = "jsonl" if args.jsonl else "quiet" if args.quiet else "bar" if args.progress else "auto"
    command = "offbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    import contextlib

    from ..store import Store

    # The store first: a --store that cannot be written is named as such, not its logs folder.
    Store.check_writable(args.store)
    log = None
    if not args.verbose:
        import os
        import time
        from pathlib import Path

        from ..progress import SolverLog

        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"
        logs = Path(args.store).parent / "logs"
        try:
            logs.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"--store {args.store}: cannot create the solvers' logs folder {logs} "
                            f"beside it ({e.strerror or e}); give a --store in a writable folder, "
                            "or --verbose (no log)") from None
        log = SolverLog(logs / f"run-{stamp}.log")
    try:
        with log if log is not None else contextlib.nullcontext():
            progress = Progress(mode)
            executor = make_executor(args.jobs, args.scheduler, threads=spec.threads_per_job)
            with executor:
                summary = run_spec(spec, args.store, executor=executor, progress=progress,
                                   command=command, plan_=plan)
    except KeyboardInterrupt:
        print(f"offbench run: interrupted; finished jobs are in {args.store}; run the same "
              "command again to resume", file=sys.stderr)
        return 130
    if log is not None and log.written and not args.jsonl:
        print(f"offbench run: solvers' own output is in {log.path} (--verbose shows it here)",
              file=sys.stderr)
    if not args.jsonl and not args.no_leaderboard:
        from ..leaderboard import build, render

        with Store.open_readonly(args.store) as store:
            board = build(store, keys=summary.keys,
                          sources=[(s.name, s.digest) for s in plan.sources])
        if args.format:
            sys.stdout.write(render(board, args.format))
        else:
            from ..leaderboard.render import print_terminal

            print_terminal(board)
        sys.stdout.flush()
    return 0 if summary.ok and not summary.dropped else 1


def check_learners(plan) -> None:
    """Refuse, before any job runs, a learner's parameter that cannot work: each learner's
    :meth:`~offbench.solver.LearningSolver.check_inputs` against each stream source's first frame
    (for other sources, without a structure): a weights file that is not offbench weights of
    this solver, holds NaN or infinite values or was saved for another structure; an
    ``n_steps`` that does not divide a frame's steps. Cheap (no network is built); what it
    cannot see (tensor shapes) is still refused by the job's ``start``, as that job's error."""
    from ..discovery import resolve
    from ..run.spec import SpecError
    from ..solver import LearningSolver, SolverError

    seen = set()
    for src, templates in zip(plan.sources, plan.templates):
        for t in templates:
            key = (t.solver_id, t.param_hash, t.solver_dirs, src.name if src.stream else None)
            if key in seen:
                continue
            seen.add(key)
            cls = resolve(t.solver_id, list(t.solver_dirs))
            if not issubclass(cls, LearningSolver):
                continue
            try:
                cls(**t.params).check_inputs(src.members[0] if src.stream and src.members else None)
            except SolverError as e:
                on = f" on source {src.name!r}" if src.stream else ""
                raise SpecError(f"solver {t.solver_id}{on}: {e}") from None


def _describe_plan(plan) -> str:
    lines = [f"run spec {plan.spec.name!r}: {plan.n_jobs} jobs"]
    for s in plan.sources:
        # A generated source's digest is over every member's: known once they are built, which
        # a dry run does not do (only member 0 was built, to check the generator's arguments).
        digest = (f"digest {s.digest[:12]}" if s.digest_known else
                  "digest known once its members are built (they are built where their jobs run)")
        lines.append(f"  source {s.name} ({s.kind}): {s.count} "
                     f"{'frames' if s.stream else 'instances'}, {digest}")
    for sv in plan.spec.solvers:
        params = ", ".join(f"{k}={v}" for k, v in sv.params.items())
        lines.append(f"  solver {sv.id}({params}) seeds {list(sv.seeds)} time limit "
                     f"{sv.time_limit if sv.time_limit is not None else 'none'}")
    lines.append(f"  tracks {', '.join(plan.spec.tracks)}; references {plan.spec.reference['mode']}")
    for s in plan.skipped:
        lines.append(f"  left out: {s}")
    return "\n".join(lines)
