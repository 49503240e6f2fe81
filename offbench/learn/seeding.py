"""One seeding function for every learned solver.

Bitwise reproducibility on a CPU needs three things, all set here: the seeds of every random
source (Python's ``random``, numpy's legacy global state, torch), deterministic torch kernels
(``torch.use_deterministic_algorithms(True)``), and a fixed thread count (a parallel reduction
sums in an order that depends on the threads). A learner's own randomness then comes from the
:class:`numpy.random.Generator` this returns, and from torch's global generator seeded here.
"""

from __future__ import annotations

import os
import random
import sys

import numpy as np


def job_threads() -> int:
    """The threads a job may use: ``OMP_NUM_THREADS`` (which the runner sets from the run spec's
    ``threads_per_job``), or 1 when it is unset or not a positive int."""
    try:
        n = int(os.environ.get("OMP_NUM_THREADS", "1"))
    except ValueError:
        return 1
    return max(1, n)


def seed_everything(seed: int, *, threads: int | None = -1, torch: bool = True) -> np.random.Generator:
    """Seed Python, numpy and (when ``torch``) torch; make torch deterministic.

    Parameters
    ----------
    seed : int
        Any int >= 0.
    threads : int or None
        Torch's intra-op threads; -1 (the default): :func:`job_threads`, one per job unless the
        run spec says otherwise; None leaves them as they are.
    torch : bool
        Import and seed torch too (needs the ``offbench[torch]`` extra).

    Returns
    -------
    numpy.random.Generator
        Seeded from ``seed``: the learner's own source of randomness.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    seed = int(seed)
    if threads == -1:
        threads = job_threads()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if torch:
        import torch as th

        th.manual_seed(seed)
        th.use_deterministic_algorithms(True)
        if threads is not None:
            th.set_num_threads(int(threads))
    elif threads is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))
    return np.random.default_rng(seed)
