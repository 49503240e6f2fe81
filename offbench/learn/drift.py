"""Noticing that a stream's environment has changed, from the frames alone.

A learner on a stream is not told when its environment changes (the adaptation track's switch,
the drift scenario of SPEC.md section 6); it can observe it. The frames of one environment of a
family such as ``dmro-v1`` share a **profile**: the shape of what each job computes and sends,
fixed by the DNN its device runs. A frame scales a job's work by a random factor (its operations
and the bits it sends between layers alike: :class:`offbench.streams.FrameProcess`), switches
devices off (their jobs are empty) and fades the channel; none of this changes the *shape*: each
layer's share of the job's operations, and each layer's output bits per operation of the job.
A new DNN changes the shape at once. :class:`ProfileWatch` keeps the profile of the frames
learned from and says that the environment changed when a frame's differs (beyond the
quantization of frame numbers, a relative ``1e-4``) from one that held for at least ``stable``
learned frames in a row. A stream whose profile changes every frame (a family that draws its
jobs per frame) never holds one for long, so the watch never fires there; nor on a stationary
stream. A change of the channel alone (the same DNN over another bandwidth) keeps the profile
and is not seen.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit
from ..instance import Instance

#: Relative difference of two profiles' entries that counts as a change (frame numbers are
#: quantized to about 6 significant digits).
TOLERANCE = 1e-4


def frame_profile(frame: Instance) -> np.ndarray:
    """A frame's profile, ``(2, n_layers)``: each layer's share of its job's operations and its
    output bits per operation of its job; NaN for the layers of an empty job (no operations)."""
    ops = frame.ops
    lens = frame.layers_per_job
    tot = np.add.reduceat(ops, frame.layer_offsets[:-1]) if ops.size else np.zeros(0)
    per_layer = np.repeat(np.where(tot > 0, tot, np.nan), lens)
    return np.stack([ops / per_layer, frame.out_bits / per_layer])


class Profiler:
    """:func:`frame_profile` for the frames of one structure, bitwise the same numbers (the same
    sums and divisions) with the index arrays that the structure fixes (each job's first layer,
    each layer's job and output boundary) found once: a learner that watches every frame of a
    stream keeps one (measured: 13 us of CPU per dmro-v1 frame for :func:`frame_profile`, which
    also builds the frame's cached ``layer_job`` and ``out_bits``, about 6 us for this)."""

    def __init__(self, structure: Instance):
        off = structure.layer_offsets
        self.n_layers = int(structure.n_layers)
        self.starts = off[:-1]
        self.layer_job = np.repeat(np.arange(structure.n_jobs), np.diff(off))
        self.b_out = np.arange(self.n_layers) + self.layer_job + 1  # a node's shared output

    def __call__(self, frame: Instance) -> np.ndarray:
        if self.n_layers == 0:
            return frame_profile(frame)
        ops = frame.ops
        tot = np.add.reduceat(ops, self.starts)
        per_layer = np.where(tot > 0, tot, np.nan)[self.layer_job]
        out = np.empty((2, self.n_layers))
        np.divide(ops, per_layer, out=out[0])
        np.divide(frame.bits[self.b_out], per_layer, out=out[1])
        return out


@jit
def _profile_differs(ops, bits, tot, layer_job, b_out, recorded, limit, has_recorded, out):
    """:meth:`Profiler.__call__` after the job sums (``out``: the profile) and
    :meth:`ProfileWatch.differs` of it (True without a recorded profile), the same divisions
    and comparisons."""
    differs = not has_recorded
    for l in range(ops.shape[0]):
        t = tot[layer_job[l]]
        per = t if t > 0 else np.nan
        out[0, l] = ops[l] / per
        out[1, l] = bits[b_out[l]] / per
        if has_recorded and not differs:
            if abs(out[0, l] - recorded[0, l]) > limit[0, l] or abs(out[1, l] - recorded[1, l]) > limit[1, l]:
                differs = True
    return differs


def watch_frame(profiler: "Profiler", watch: "ProfileWatch", frame: Instance,
                tot: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """``(profiler(frame), watch.differs(profile))`` in one kernel call after the job sums, bitwise
    (a learner that watches every frame: measured at load 8, 51 us of CPU per dmro-v1 frame for
    the two in sequence, numpy's eight calls; see the module docstring of ``solvers/dmro.py``).
    ``tot``: the job sums ``np.add.reduceat(frame.ops, profiler.starts)``, when the caller has
    them already (DMRO's job features take the same sums)."""
    if profiler.n_layers == 0:
        profile = profiler(frame)
        return profile, watch.differs(profile)
    if tot is None:
        tot = np.add.reduceat(frame.ops, profiler.starts)
    out = np.empty((2, profiler.n_layers))
    rec = watch.profile
    has = rec is not None
    differs = _profile_differs(frame.ops, frame.bits, tot, profiler.layer_job, profiler.b_out,
                               rec if has else out, watch._limit if has else out, has, out)
    return out, bool(differs)


class ProfileWatch:
    """The profile of the last frames learned from, and whether a frame's differs from it.

    Parameters
    ----------
    stable : int
        Learned frames in a row with one profile before a different one counts as a change
        (>= 1).

    :meth:`changed` only reads (a decision may consult it without learning); :meth:`observe`,
    called when a frame is learned from, records the frame's profile and returns whether it was
    a change. Both take the frame's :func:`frame_profile`.
    """

    def __init__(self, stable: int):
        if stable < 1:
            raise ValueError(f"stable must be >= 1, got {stable}")
        self.stable = int(stable)
        self._profile: np.ndarray | None = None
        self._limit: np.ndarray | None = None
        self.run = 0

    @property
    def profile(self) -> np.ndarray | None:
        """The recorded profile (None before the first frame)."""
        return self._profile

    @profile.setter
    def profile(self, profile: np.ndarray | None) -> None:
        self._profile = profile
        # what a frame's profile may differ by, entry by entry (computed once per recorded profile)
        self._limit = None if profile is None else TOLERANCE * np.abs(profile)

    def differs(self, profile: np.ndarray) -> bool:
        """Whether a frame's profile (:func:`frame_profile`) differs from the recorded one
        (entries of empty jobs, NaN in either, are not compared), however long that held."""
        if self._profile is None:
            return True
        return bool((np.abs(profile - self._profile) > self._limit).any())  # NaN: False

    def changed(self, profile: np.ndarray) -> bool:
        """Whether a frame's profile differs from one held for ``stable`` learned frames."""
        return self.run >= self.stable and self.differs(profile)

    def observe(self, profile: np.ndarray, differs: bool | None = None) -> bool:
        """Record a learned frame's profile; True when it is a change (see :meth:`changed`).
        ``differs``: :meth:`differs` of this profile, when the caller has it already."""
        if not (self.differs(profile) if differs is None else differs):
            self.run += 1
            known = np.isfinite(profile)  # jobs met for the first time join the profile
            if not known.all():
                profile = np.where(known, profile, self.profile)
            self.profile = profile
            return False
        change = self.run >= self.stable
        self.profile, self.run = profile, 1
        return change
