"""Planning: a run spec expanded into jobs (:func:`plan`).

A **job** (:class:`Job`) is a pure function of (instance or frame stream, solver ID, validated
parameters, seed, track, track settings), with a key that is unique in the store
(:data:`offbench.store.KEY_COLUMNS`). Which sources a track runs on, its job settings and its
default hard limit come from the track (:mod:`offbench.tracks`); the combinations left out are
listed with why (:attr:`Plan.skipped`). Reference jobs are planned by the run loop
(:mod:`offbench.run.loop`), for the instances that still have work to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import tracks
from ..store import canonical_json
from .sources import Source, expand_source
from .spec import RunSpec, SpecError


@dataclass
class Job:
    """One unit of work: a pure function of its fields (see the module docstring).

    ``kind`` is ``"solve"`` (one row in ``results``) or ``"reference"`` (one row in ``refs``).
    """

    kind: str
    index: int
    source: str
    digest: str
    track: str = "static"
    solver_id: str | None = None
    params: dict = field(default_factory=dict)
    param_hash: str = ""
    seed: int = 0
    track_config: dict = field(default_factory=dict)
    time_limit: float | None = None
    kill_after: float | None = None
    solver_dirs: tuple[str, ...] = ()
    threads: int = 1
    instance: Any = None
    frames: tuple | None = None
    reference: dict | None = None
    frame_refs: tuple | None = None
    score: bool = True

    @property
    def key(self) -> tuple:
        """The store key (:data:`offbench.store.KEY_COLUMNS` order)."""
        from .. import __version__

        return (self.digest, self.solver_id, self.param_hash, self.seed, self.track,
                canonical_json(self.track_config), __version__)

    def label(self) -> str:
        if self.kind == "reference":
            return f"reference {self.source}:{self.digest[:8]}"
        return f"{self.solver_id} {self.track} {self.source}:{self.digest[:8]} seed {self.seed}"


@dataclass
class Plan:
    """A spec expanded: its sources, every solve job, and the combinations left out (with why)."""

    spec: RunSpec
    sources: list[Source]
    jobs: list[Job]
    skipped: list[str]


def plan(spec: RunSpec) -> Plan:
    """Expand a spec into sources and solve jobs (references are planned by :func:`run`)."""
    sources = [expand_source(s) for s in spec.sources]
    jobs: list[Job] = []
    skipped: list[str] = []
    seen: set[tuple] = set()
    score = spec.reference["mode"] == "auto"
    for src in sources:
        for name in spec.tracks:
            track = tracks.get(name)
            if track.stream != src.stream:
                continue
            n = len(src.instances)
            settings = spec.track_settings.get(name, {})
            why = track.skip_reason(src.spec, n, settings)
            if why is not None:
                skipped.append(f"{name} track on {src.name}: {why}")
                continue
            for sv in spec.solvers:
                if sv.sources is not None and src.name not in sv.sources:
                    continue
                ok, why = track.can_run(sv.tracks, sv.learns)
                if not ok:
                    skipped.append(f"{sv.id} on {name} track ({src.name}): {why}")
                    continue
                tc = {"time_limit": sv.time_limit, "reference": spec.reference["mode"],
                      **track.job_config(src.spec, n, settings)}
                kill = sv.kill_after
                if kill is None and sv.time_limit is not None:
                    kill = track.default_kill_after(sv.time_limit, n)
                members = [None] if src.stream else src.instances
                for inst in members:
                    for seed in sv.seeds:
                        job = Job(kind="solve", index=len(jobs), source=src.name,
                                  digest=src.digest if src.stream else inst.digest, track=name,
                                  solver_id=sv.id, params=sv.params, param_hash=sv.param_hash,
                                  seed=seed, track_config=tc, time_limit=sv.time_limit,
                                  kill_after=kill, solver_dirs=tuple(spec.solvers_dirs),
                                  threads=spec.threads_per_job, score=score,
                                  instance=None if src.stream else inst,
                                  frames=tuple(src.instances) if src.stream else None)
                        if job.key in seen:
                            continue
                        seen.add(job.key)
                        jobs.append(job)
    if not jobs:
        raise SpecError("run spec: no jobs: no solver can run on any track of any source "
                        + ("(" + "; ".join(skipped[:3]) + ")" if skipped else
                           "(the static track needs instance sources; the learning tracks need "
                           "a stream source)"))
    return Plan(spec, sources, jobs, skipped)
