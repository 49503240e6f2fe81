"""The pieces every learned solver stands on, in one place (imported, never copied).

* :mod:`~offbench.learn.seeding`: :func:`seed_everything` (Python, numpy, torch; deterministic
  algorithms; one thread unless told).
* :mod:`~offbench.learn.features`: what a learner may observe of a frame (its
  :class:`~offbench.instance.Instance`), normalized in one documented way, as one vector per
  frame, per job and per layer.
* :mod:`~offbench.learn.pricing`: candidate decisions priced by the cost model in one
  ``evaluate_many`` call per frame, every evaluation charged to the context.
* :mod:`~offbench.learn.memory`: a seeded replay memory (numpy ring buffer).
* :mod:`~offbench.learn.nets`: small MLP builders (torch, imported lazily).
* :mod:`~offbench.learn.base`: :class:`TorchLearningSolver`, a :class:`~offbench.solver.LearningSolver`
  whose model state is saved and loaded with safetensors (never pickle), with the weights'
  sha256 digest for a run's provenance.

A learner never sees the reference, the optimum or other solvers' decisions: only frames, its
own decisions and the cost-model prices of its own candidates (charged as evaluations).
PyTorch is imported only by the functions that need it, so ``import offbench.learn`` works
without it.
"""

from __future__ import annotations

from .base import TorchLearningSolver, WeightsError, weights_digest
from .features import (FrameFeatures, SCALES, frame_features, frame_vector, job_features,
                       layer_features, global_features, same_structure, dag_key,
                       structure_difference)
from .memory import ReplayMemory
from .pricing import Pricing, price
from .seeding import seed_everything

__all__ = [
    "TorchLearningSolver", "WeightsError", "weights_digest", "FrameFeatures", "SCALES",
    "frame_features", "frame_vector", "job_features", "layer_features", "global_features",
    "same_structure", "dag_key", "structure_difference", "ReplayMemory", "Pricing", "price", "seed_everything",
]
