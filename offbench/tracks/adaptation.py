"""The adaptation track: a stream that switches environment, and how fast a learner recovers.

A stream starts in one environment (pretraining: decide and learn) and switches to another at
``switch_at`` (the family's drift scenario; same structure). Learning goes on; the row reports
the mean ratio over the first ``window`` frames after the switch and the frames after it until
the moving mean stays under :attr:`AdaptationTrack.threshold` (1.02, SPEC.md section 6). Its
tables are drawn as adaptation curves around the switch.

**Meta-training phase** (``meta_frames``, default 0: none). Before each stream, after the
solver's ``start``, the track draws ``meta_frames`` frames from the family's *training*
environments (split ``train`` in its definition) other than the ones the stream itself visits
(its start and ``switch_to`` environments: the test environment is never seen), round-robin in
the family's order: meta frame ``k`` is the next frame of environment ``k mod E``. Environment
``j`` draws them from ``Family.stream(meta_seed(seed, j), ...)``, ``seed`` being the stream
source's seed, so every solver of a run meets the same meta frames, whatever its own seed. The
solver is given them in one of two ways:

* ``solver.learn_meta(frames_by_env, context)`` when it defines it (a meta-learner: DMRO's
  Reptile, :mod:`offbench_solvers.dmro`): ``frames_by_env`` maps each environment's name to its
  frames in order (so the learner can group tasks), and ``context(frame)`` makes the
  :class:`~offbench.solver.Context` through which every cost-model evaluation is priced and
  counted. It may return a dict of numbers (stored in ``info.meta``).
* otherwise, each meta frame in the round-robin order is decided and learned from, as a stream
  frame is (``step`` then ``learn``): the "pretrained on the union" baseline.

The phase is unscored (no frame rows); its evaluations are counted in ``info.meta_evaluations``
(shown in the table's "meta evals" column) and its time in ``info.meta.time``. A learner never
sees references or optima here either. Before ``start`` the solver's ``budget`` counts the meta
frames in ``learn_frames`` and says how many with ``meta_frames``. Static solvers (per-frame
baselines) skip the phase. The settings that pick the frames (family, environments, seed) are
part of the job's key.
"""

from __future__ import annotations

import time

import numpy as np

from .base import Setting, register
from .stream import StreamTrack, frame_seed, learn_metrics

#: Tag of the seed sequence of the meta-training streams (``b"meta"``).
_META_TAG = 0x6D657461


def meta_seed(seed: int, j: int) -> int:
    """The stream seed of the ``j``-th meta-training environment of a source of ``seed``."""
    return int(np.random.SeedSequence([int(seed), _META_TAG, int(j)]).generate_state(1)[0])


def meta_environments(fam, source_spec: dict) -> list[str]:
    """The family's training environments that a stream of ``source_spec`` does not visit."""
    visited = {fam.environment(source_spec.get("environment")).name}
    if source_spec.get("switch_to") is not None:
        visited.add(fam.environment(source_spec["switch_to"]).name)
    return [n for n, e in fam.environments.items() if e.split == "train" and n not in visited]


class AdaptationTrack(StreamTrack):
    name = "adaptation"
    doc = "a stream that changes environment: ratio right after the switch, frames to 1.02"
    settings = (Setting("window", 20, 1, "frames after the switch that are averaged"),
                Setting("meta_frames", 0, 0, "meta-training frames drawn round-robin from the "
                        "family's training environments before each stream (0: none)"))
    threshold = 1.02
    ratio_column = "ratio after switch"
    figures = ("adaptation",)
    #: Extra leaderboard columns: (title, key of the row's ``info``), a mean over runs.
    info_columns = (("meta evals", "meta_evaluations"),)

    @property
    def columns(self):
        return (*super().columns, *(c for c, _ in self.info_columns))

    def _meta_family(self, source_spec):
        from ..families import get_family

        return get_family(source_spec["family"])

    def skip_reason(self, source_spec, n, settings):
        if "switch_at" not in source_spec:
            return "the stream has no switch_at/switch_to"
        if settings.get("meta_frames", 0) > 0:
            if "family" not in source_spec:
                return "adaptation.meta_frames needs a family's stream (this one is random frames)"
            envs = meta_environments(self._meta_family(source_spec), source_spec)
            if not envs:
                return (f"adaptation.meta_frames: family {source_spec['family']} has no training "
                        "environment that the stream does not visit")
        return None

    def job_config(self, source_spec, n, settings):
        cfg = {"frames": n, "switch_at": source_spec["switch_at"], **settings}
        m = int(cfg.pop("meta_frames", 0))
        if m > 0:  # absent when 0, so that the keys of runs without the phase are unchanged
            fam = self._meta_family(source_spec)
            cfg.update(meta_frames=m, meta_family=fam.id,
                       meta_environments=meta_environments(fam, source_spec),
                       meta_seed=int(source_spec.get("seed", 0)))
        return cfg

    def budget(self, job):
        b = super().budget(job)
        m = int(job.track_config.get("meta_frames", 0))
        if m:
            b.update(learn_frames=b["learn_frames"] + m, meta_frames=m)
        return b

    def meta_frames(self, track_config: dict) -> list[tuple[str, object]]:
        """The meta-training frames of a job, ``(environment, frame)`` in round-robin order."""
        from ..families import get_family

        m = int(track_config.get("meta_frames", 0))
        if m <= 0:
            return []
        fam = get_family(track_config["meta_family"])
        envs = list(track_config["meta_environments"])
        counts = [len(range(j, m, len(envs))) for j in range(len(envs))]
        streams = [fam.stream(meta_seed(track_config["meta_seed"], j), c, environment=env)
                   for j, (env, c) in enumerate(zip(envs, counts)) if c]
        return [(envs[k % len(envs)], next(streams[k % len(envs)])) for k in range(m)]

    def pretrain(self, solver, job):
        from ..learn.features import same_structure, structure_difference
        from ..solver import Context

        cfg = job.track_config
        drawn = self.meta_frames(cfg)
        if not drawn:
            return {}
        for env, frame in drawn[:len(cfg["meta_environments"])]:
            if not same_structure(job.frames[0], frame):
                raise ValueError(f"the meta-training frames of {cfg['meta_family']} ({env}) have "
                                 "another structure than the stream's "
                                 f"({structure_difference(job.frames[0], frame)})")
        contexts: list = []

        def context(frame):
            ctx = Context(frame, None, int(job.seed))
            contexts.append(ctx)
            return ctx

        t0 = time.perf_counter()
        report: dict = {}
        evaluations = 0
        if callable(getattr(solver, "learn_meta", None)):
            by_env: dict = {}
            for env, frame in drawn:
                by_env.setdefault(env, []).append(frame)
            report = learn_metrics(solver.learn_meta(by_env, context))
            mode = "learn_meta"
        else:  # the "pretrained on the union" baseline: decide and learn, frame by frame
            n = len(job.frames)
            for k, (_, frame) in enumerate(drawn):
                fs = frame_seed(job.seed, n + k)  # seeds apart from the stream's frames 0..n-1
                res = solver.step(frame, time_limit=job.time_limit, seed=fs)
                evaluations += int(res.evaluations or 0)
                if res.decision is not None:
                    solver.learn(frame, res.decision, context(frame))
            mode = "decide+learn"
        evaluations += sum(c.evaluations for c in contexts)
        return {"meta_evaluations": int(evaluations),
                "meta": {"frames": len(drawn), "mode": mode, "time": time.perf_counter() - t0,
                         "environments": list(cfg["meta_environments"]), **report}}

    def scored_frames(self, track_config, n):
        return range(min(int(track_config["switch_at"]), n), n)

    def summary_window(self, track_config, part):
        window = max(1, min(int(track_config.get("window", 50)), max(len(part), 1)))
        return part[:window], window

    def notes(self, track_config):
        notes = [f"new environment from frame {track_config.get('switch_at')}; ratio after switch: "
                 f"mean over its first {track_config.get('window')} frames; frames to "
                 f"{self.threshold:g}: median over runs of the frames after the switch until the "
                 f"moving mean stays under {self.threshold:g}; latency, evaluations and "
                 "infeasibility over the frames after the switch"]
        m = track_config.get("meta_frames")
        if m:
            notes.append(f"meta-training before each stream: {m} frames of {track_config.get('meta_family')} "
                         f"round-robin over {', '.join(track_config.get('meta_environments', []))} "
                         "(unscored; learn_meta where the solver has it, else decide and learn); "
                         "meta evals: their cost-model evaluations, mean over runs")
        return notes


ADAPTATION = register(AdaptationTrack())
