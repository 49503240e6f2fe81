"""The online track: learn from a stream of frames while deciding them.

A learning solver starts untrained and decides, then learns from, every frame of one stream
(:mod:`offbench.tracks.stream`). Every frame is scored; the row reports the mean cost ratio over
the final ``window`` frames and, in ``info``, the frames until the moving mean stays under
:attr:`OnlineTrack.threshold` (1.01, SPEC.md section 6). Its tables are drawn as learning curves.
"""

from __future__ import annotations

from .base import Setting, register
from .stream import StreamTrack


class OnlineTrack(StreamTrack):
    name = "online"
    doc = "learn while deciding a stream: mean ratio over the final window, frames to 1.01"
    settings = (Setting("window", 50, 1, "final window of the online track (frames)"),)
    threshold = 1.01
    ratio_column = "final ratio"
    figures = ("learning",)

    def summary_window(self, track_config, part):
        window = max(1, min(int(track_config.get("window", 50)), max(len(part), 1)))
        return part[-window:], window

    def notes(self, track_config):
        return [f"final ratio: mean over the last {track_config.get('window')} frames of each "
                f"stream; frames to {self.threshold:g}: median over runs of the frames until the "
                f"moving mean stays under {self.threshold:g} (never: most runs never do)"]


ONLINE = register(OnlineTrack())
