"""The loop that the learning tracks share: frames one after another, decide, learn.

A learning solver (:class:`~offbench.solver.LearningSolver`) starts untrained (``start`` with
the first frame), then for each frame ``decide`` (timed: the decision latency, evaluations
charged) and, while the track lets it learn (:meth:`StreamTrack.learns_until`), ``learn`` from
the frame and its decision (not timed). ``learn`` may return a small dict of numbers (loss,
epsilon, K, ...): it is stored with that frame (the ``info`` of its frame row). Every frame is
scored against its own reference; the frames until the moving mean stays under the track's
threshold count a window only if every frame in it was solved (:func:`frame_solved`, SPEC.md
section 6: an unsolved frame is scored at the all-device fallback, which may be near 1). A static solver on a learning track is a per-frame baseline:
``solve`` on each frame, nothing learned.

Each learning track (online, generalization, adaptation) is a :class:`StreamTrack` that says
which frames it learns on, which it scores, which it summarizes, and its threshold.
"""

from __future__ import annotations

import math
import numbers
import time

import numpy as np

from ..families.family import entropy_words
from .base import Track
from .outcome import Outcome, decision_solved
from .scoring import score, score_outcome


#: First word of the long form of :func:`frame_seed` (``b"fram"``).
_LONG_FRAME_TAG = 0x6672616D


def frame_seed(seed: int, frame: int) -> int:
    """The seed of one frame of a stream job: a pure function of (job seed, frame index).

    With both below ``2**32`` (every spec so far) it is the first word of
    ``SeedSequence([seed, frame])``, as it always was. That list's words run together without
    lengths, and SeedSequence pads a list shorter than its pool (4 words) with zeros, so seed
    ``5 + 3 * 2**32`` with frame 0 (words 5, 3, 0) would give seed 5's frame 3 (words 5, 3, then
    the padding): the same frame in two streams. So a seed or a frame of ``2**32`` or more is
    written as a tag, then each value preceded by its number of words: at least 5 words, longer
    than the pool, so it meets neither the short form nor another long one."""
    seed, frame = int(seed), int(frame)
    if 0 <= seed < 4294967296 and 0 <= frame < 4294967296:
        words = [seed, frame]
    else:
        s, f = entropy_words((seed,)), entropy_words((frame,))
        words = np.concatenate(([_LONG_FRAME_TAG, s.size], s, [f.size], f)).astype(np.uint32)
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def learn_metrics(value) -> dict:
    """Check what ``learn`` returned: None (nothing to say) or a dict of numbers by name.

    Returns the dict with plain ``int``/``float`` values (a non-finite float becomes None: JSON
    has no NaN). Raises TypeError otherwise (the stream then stops with that error).
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"learn must return None or a dict of numbers (loss, epsilon, ...), "
                        f"got {type(value).__name__}")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise TypeError(f"learn returned a metric named {k!r}; names must be strings")
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise TypeError(f"learn returned metric {k!r} = {v!r}; metrics must be numbers")
        if isinstance(v, numbers.Integral):
            out[k] = int(v)
        else:
            f = float(v)
            out[k] = f if math.isfinite(f) else None
    return out


def frame_solved(row: dict) -> bool:
    """Whether a frame row is solved (SPEC.md section 6): the rule of
    :func:`~offbench.tracks.outcome.decision_solved`. The leaderboard's rule for rows
    (:func:`offbench.leaderboard.build.solved`) adds refusals and referee flags, which a frame
    row does not carry (a flagged frame flags its whole job)."""
    return decision_solved(row)


class StreamTrack(Track):
    """A learning track: runs on frame streams with the shared decide-and-learn loop."""

    stream = True
    failed_column = "failed frames"
    figures = ("learning",)

    def can_run(self, solver_tracks, learns):
        if self.name in solver_tracks:
            return True, ""
        if not learns and "static" in solver_tracks:
            return True, ""  # a static solver runs on a stream as a per-frame baseline
        return False, f"its tracks are {', '.join(solver_tracks)}"

    def job_config(self, source_spec, n, settings):
        return {"frames": n, **settings}

    def default_kill_after(self, time_limit, n):
        return (2 * time_limit + 10.0) * n + 30.0

    def learns_until(self, track_config: dict, n: int) -> int:
        """Frames ``0 .. k-1`` are learned from (all of them, by default)."""
        return n

    def pretrain(self, solver, job) -> dict:
        """Unscored work a learning solver does after ``start`` and before the stream's first
        frame (the adaptation track's meta-training phase); returns what goes into the row's
        ``info``. Nothing, by default."""
        return {}

    def budget(self, job) -> dict:
        """What a learning solver is told before ``start`` (its ``budget`` attribute): the
        frames it will decide and the frames it will learn from, so that schedules fit."""
        return {"frames": len(job.frames),
                "learn_frames": min(len(job.frames), self.learns_until(job.track_config, len(job.frames)))}

    def warm_up(self, job, solver_cls, time_limit):
        from ..solver import Context, LearningSolver

        solver = solver_cls(**job.params)
        inst = job.frames[0]
        if isinstance(solver, LearningSolver):
            solver.budget = self.budget(job)
            solver.start(inst, int(job.seed))
            solver.decide(inst, Context(inst, time_limit, int(job.seed)))
        else:
            solver.solve(inst, time_limit=time_limit, seed=job.seed)

    def score_missing(self, job, out):
        """A stream job without any decision: its ratio is that of its summary frames, each
        scored at the all-device cost (no frame rows are made up: the store holds only what a
        solver did)."""
        if not (job.score and job.frame_refs is not None):
            return
        part = list(self.scored_frames(job.track_config, len(job.frames)))
        summary, _ = self.summary_window(job.track_config, part)
        out.ratio = (float(np.mean([score(job.frames[k], job.frame_refs[k], None, None)[0]
                                    for k in summary])) if summary else None)
        out.counted_infeasible = True

    def unreached(self, job, n_rows: int) -> list:
        """The fallback ratios (SPEC.md section 6) of the frames after the first ``n_rows`` of a
        stream that stopped: failed frames, so that a learner that stops after one good frame
        does not have its summary taken over that frame alone. Empty where the job is not
        scored (no references: the sandbox's copy; the referee scores)."""
        if not (job.score and job.frame_refs is not None):
            return []
        return [score(job.frames[k], job.frame_refs[k], None, None)[0]
                for k in range(n_rows, len(job.frames))]

    def run(self, job, solver_cls, started=None) -> Outcome:
        from ..metrics import frames_until_stays_below
        from ..solver import Context, LearningSolver

        frames = job.frames
        refs = job.frame_refs
        cfg = job.track_config
        solver = solver_cls(**job.params)
        learning = isinstance(solver, LearningSolver)
        learn_until = self.learns_until(cfg, len(frames))
        rows: list[dict] = []
        learn_time = 0.0
        learn_evals = 0
        aborted = None
        if started is not None:
            started()
        pre: dict = {}
        if learning:
            try:
                solver.budget = self.budget(job)  # before start: schedules are sized by it
                solver.start(frames[0], int(job.seed))
            except Exception as e:
                aborted = f"start failed: {type(e).__name__}: {e}"
            if aborted is None:
                try:
                    pre = self.pretrain(solver, job)
                except Exception as e:
                    aborted = f"meta-training failed: {type(e).__name__}: {e}"
        for k, frame in enumerate(frames if aborted is None else ()):
            fs = frame_seed(job.seed, k)
            if learning:
                # A failed decision is that frame's error row; the stream goes on.
                res = solver.step(frame, time_limit=job.time_limit, seed=fs)
            else:
                res = solver.solve(frame, time_limit=job.time_limit, seed=fs)
            fo = Outcome.from_result(res)
            fo.mark_overrun(job.time_limit)
            if job.score and refs is not None:
                score_outcome(frame, refs[k], fo)
            else:
                fo.counted_infeasible = fo.unscored_infeasible
            metrics: dict = {}
            if learning and res.decision is not None and k < learn_until:
                lctx = Context(frame, None, fs)
                t0 = time.perf_counter()
                try:
                    metrics = learn_metrics(solver.learn(frame, res.decision, lctx))
                except Exception as e:
                    rows.append(fo.frame_row(k, frame.digest))
                    aborted = f"learn failed at frame {k}: {type(e).__name__}: {e}"
                    break
                learn_time += time.perf_counter() - t0
                learn_evals += lctx.evaluations
            rows.append(fo.frame_row(k, frame.digest, metrics))
        out = self._summary(rows, len(frames), cfg, learning, learn_time, learn_evals, aborted,
                            frames_until_stays_below, self.unreached(job, len(rows)))
        out.info.update(pre)
        if learning and hasattr(solver, "provenance"):  # e.g. the weights a learner started from
            out.info["provenance"] = solver.provenance()
        return out

    def _summary(self, rows, n_frames, cfg, learning, learn_time, learn_evals, aborted,
                 frames_until_stays_below, unreached=()) -> Outcome:
        """The row of a stream job: the summary ratio over its window, and what happened.
        ``unreached``: the fallback ratios of the frames after the last row of a stream that
        stopped, each a failed frame (never stored as a frame row: nothing was decided)."""
        n = len(rows)
        full = rows + [{"frame": n + i, "ratio": x, "counted_infeasible": True, "status": "error",
                        "decision": None, "feasible": None, "cost": None, "wall_time": 0.0,
                        "evaluations": 0} for i, x in enumerate(unreached)]
        part = [full[k] for k in self.scored_frames(cfg, len(full))]
        ratios = [r["ratio"] for r in part]
        scored = bool(part) and all(r is not None for r in ratios)
        summary_rows, window = self.summary_window(cfg, part)
        mean = (float(np.mean([r["ratio"] for r in summary_rows])) if scored and summary_rows else None)
        info = {
            "frames": n,
            "scored_frames": len(part),
            "window": window if any(s.name == "window" for s in self.settings) else None,
            # (inf, a positive cost against a reference cost of 0, is not JSON: None)
            "mean_ratio": mean if mean is None or math.isfinite(mean) else None,
            # converged only over windows whose every frame was solved (SPEC.md section 6)
            "frames_to_threshold": (frames_until_stays_below(ratios, window, self.threshold,
                                                             [frame_solved(r) for r in part])
                                    if scored and self.threshold is not None else None),
            "threshold": self.threshold,
            "infeasible_frames": sum(1 for r in part if r["counted_infeasible"]),
            "error_frames": sum(1 for r in part if r["status"] == "error"),
            "timeout_frames": sum(1 for r in part if r["status"] == "timeout"),
            "learning": learning,
            **({"unreached_frames": len(unreached)} if unreached else {}),
            "learn_time": learn_time,
            "learn_evaluations": learn_evals,
        }
        if aborted is None and n < n_frames:
            aborted = "the stream stopped early"
        costs = [r["cost"] for r in summary_rows]
        return Outcome(
            status="error" if aborted else "feasible",
            cost=(float(np.mean(costs)) if costs and all(c is not None for c in costs) else None),
            wall_time=float(sum(r["wall_time"] for r in part)),
            evaluations=int(sum(r["evaluations"] for r in part)),
            error=aborted, info=info, frames=rows, ratio=mean)
