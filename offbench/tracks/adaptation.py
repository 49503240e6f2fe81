"""The adaptation track: a stream that switches environment, and how fast a learner recovers.

A stream starts in one environment (pretraining: decide and learn) and switches to another at
``switch_at`` (the family's drift scenario; same structure). Learning goes on; the row reports
the mean ratio over the first ``window`` frames after the switch and the frames after it until
the moving mean stays under :attr:`AdaptationTrack.threshold` (1.02, SPEC.md section 6).
Meta-training over several environments is a solver's own business inside ``start``/``learn``
on the pretraining frames. Its tables are drawn as adaptation curves around the switch.
"""

from __future__ import annotations

from .base import Setting, register
from .stream import StreamTrack


class AdaptationTrack(StreamTrack):
    name = "adaptation"
    doc = "a stream that changes environment: ratio right after the switch, frames to 1.02"
    settings = (Setting("window", 20, 1, "frames after the switch that are averaged"),)
    threshold = 1.02
    ratio_column = "ratio after switch"
    figures = ("adaptation",)

    def skip_reason(self, source_spec, n, settings):
        if "switch_at" not in source_spec:
            return "the stream has no switch_at/switch_to"
        return None

    def job_config(self, source_spec, n, settings):
        return {"frames": n, "switch_at": source_spec["switch_at"], **settings}

    def scored_frames(self, track_config, n):
        return range(min(int(track_config["switch_at"]), n), n)

    def summary_window(self, track_config, part):
        window = max(1, min(int(track_config.get("window", 50)), max(len(part), 1)))
        return part[:window], window

    def notes(self, track_config):
        return [f"new environment from frame {track_config.get('switch_at')}; ratio after switch: "
                f"mean over its first {track_config.get('window')} frames; frames to "
                f"{self.threshold:g}: median over runs of the frames after the switch until the "
                f"moving mean stays under {self.threshold:g}; latency, evaluations and "
                "infeasibility over the frames after the switch"]


ADAPTATION = register(AdaptationTrack())
