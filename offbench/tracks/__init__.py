"""The tracks of SPEC.md section 6, one object each in one registry.

A track says how a job runs and how it is scored; everything about it lives in its own file:

``static`` (:mod:`offbench.tracks.static`)
    One instance, one solve, one row scored against the instance's reference.
``online`` (:mod:`offbench.tracks.online`)
    Learn while deciding a stream; mean ratio over the final window, frames to 1.01.
``generalization`` (:mod:`offbench.tracks.generalization`)
    Learn on the first frames, decide the held-out rest without learning.
``adaptation`` (:mod:`offbench.tracks.adaptation`)
    A stream that switches environment; ratio right after the switch, frames to 1.02.

:mod:`offbench.tracks.base` defines the :class:`Track` type and the registry; the learning
tracks share the loop of :mod:`offbench.tracks.stream`; a job's result is an
:class:`~offbench.tracks.outcome.Outcome` (:mod:`offbench.tracks.outcome`), scored by
:mod:`offbench.tracks.scoring`. The run spec, the planner (:mod:`offbench.run`), the leaderboard
and the plots read the tracks from the registry: adding a track is adding one file to this
folder that subclasses :class:`Track` (or :class:`StreamTrack`) and calls :func:`register`; it is
imported with this package, in the runner and in every worker. (A track registered from
elsewhere, as the tests do, exists only in the process that registered it: run it in-process.)
"""

from __future__ import annotations

from .base import (WARM_UP_TIME_LIMIT, Setting, Track, TrackError, get, names, order, register,
                   run_job, score_missing, unregister, warm_up)
from .outcome import OVERRUN_FACTOR, OVERRUN_SLACK, Outcome, decision_text, overrun
from .scoring import score, score_outcome
from .stream import StreamTrack, frame_seed, learn_metrics

# The built-in tracks register themselves, in this order (the order of tables).
from .static import STATIC  # noqa: E402
from .online import ONLINE  # noqa: E402
from .generalization import GENERALIZATION  # noqa: E402
from .adaptation import ADAPTATION  # noqa: E402


def _import_track_files() -> None:
    """Import every other module of this folder: a track file dropped here registers itself
    (after the built-ins, in file-name order), in this process and in every worker."""
    import importlib
    import pkgutil

    shared = {"base", "outcome", "scoring", "stream", "static", "online", "generalization",
              "adaptation"}
    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if m.name not in shared and not m.name.startswith("_"):
            importlib.import_module(f"{__name__}.{m.name}")


_import_track_files()

#: Convergence thresholds of the online and adaptation tracks (SPEC.md section 6).
ONLINE_THRESHOLD = ONLINE.threshold
ADAPTATION_THRESHOLD = ADAPTATION.threshold

__all__ = ["ADAPTATION", "ADAPTATION_THRESHOLD", "GENERALIZATION", "ONLINE", "ONLINE_THRESHOLD",
           "OVERRUN_FACTOR", "OVERRUN_SLACK", "Outcome", "STATIC", "Setting", "StreamTrack",
           "Track", "TrackError", "WARM_UP_TIME_LIMIT", "decision_text", "frame_seed", "get",
           "learn_metrics", "names", "order", "overrun", "register", "run_job", "score",
           "score_missing", "score_outcome", "unregister", "warm_up"]
