"""The generalization track: train on the first frames, score the held-out rest.

The decide-and-learn loop of :mod:`offbench.tracks.stream` on one seed's stream, learning only
on the first ``train_frames`` frames (the training budget); the frames after them are held out
(never seen in training) and decided without learning. The row reports the mean ratio over the
held-out frames. A stream of ``train_frames`` frames or fewer is skipped (nothing held out).
"""

from __future__ import annotations

from .base import Setting, register
from .stream import StreamTrack


class GeneralizationTrack(StreamTrack):
    name = "generalization"
    doc = "train on the first frames, then decide held-out frames without learning"
    settings = (Setting("train_frames", 100, 1, "frames learned from; the rest are held out"),)
    ratio_column = "held-out ratio"
    figures = ("learning",)

    def skip_reason(self, source_spec, n, settings):
        if n <= settings["train_frames"]:
            return (f"the stream has {n} frames, not more than generalization.train_frames = "
                    f"{settings['train_frames']}")
        return None

    def learns_until(self, track_config, n):
        return int(track_config["train_frames"])

    def scored_frames(self, track_config, n):
        return range(min(int(track_config["train_frames"]), n), n)

    def notes(self, track_config):
        held = track_config.get("frames", 0) - track_config.get("train_frames", 0)
        return [f"trained (decide and learn) on the first {track_config.get('train_frames')} "
                f"frames; held-out ratio: mean over the other {held} frames, decided without "
                "learning; latency, evaluations and infeasibility over the held-out frames"]


GENERALIZATION = register(GeneralizationTrack())
