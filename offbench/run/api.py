"""Running a benchmark from Python in one call: :func:`run_benchmark`.

``offbench.run(spec, store=...)`` (the package called as a function) and
:func:`offbench.results.run` both come here, so that the run package never imports the modules
above it (imports point one way: results -> run).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..store import DEFAULT_STORE


def run_benchmark(spec=None, store: str | os.PathLike = DEFAULT_STORE, *, jobs: int | None = None,
                  progress: bool = False):
    """Run a benchmark into a store, as ``offbench run`` does (resuming: jobs already in the
    store are skipped). ``spec``: None for the built-in benchmark, a TOML/YAML file, or a dict
    of run-spec keys (:mod:`offbench.run.spec`); ``jobs``: worker processes (default: CPUs; 0:
    in this process); ``progress``: show the progress bar on standard error. Returns the
    :class:`~offbench.run.RunSummary`."""
    from ..progress import Progress
    from .executors import make_executor
    from .loop import run
    from .spec import default_spec, load_spec_file, parse_spec

    if spec is None:
        raw = default_spec()
    elif isinstance(spec, dict):
        raw = spec
    else:
        raw = load_spec_file(Path(spec))
    parsed = parse_spec(raw)
    with make_executor(jobs, None, threads=parsed.threads_per_job) as ex:
        return run(parsed, store, executor=ex, progress=Progress("auto" if progress else "quiet"))
