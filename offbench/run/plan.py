"""Planning: a run spec expanded into jobs (:func:`plan`), lazily.

A **job** (:class:`Job`) is a pure function of (instance or frame stream, solver ID, validated
parameters, seed, track, track settings), with a key that is unique in the store
(:data:`offbench.store.KEY_COLUMNS`). Which sources a track runs on, its job settings and its
default hard limit come from the track (:mod:`offbench.tracks`); the combinations left out are
listed with why (:attr:`Plan.skipped`). Reference jobs are planned by the run loop
(:mod:`offbench.run.loop`), for the instances that still have work to do.

A plan holds no instance and no job list: per source it holds the job *templates* (track,
solver, parameters, seed, settings: :class:`Template`), and :meth:`Plan.blocks` walks the
sources in runs of consecutive members (:class:`Block`), from which the run loop makes the jobs
of the members it builds (:func:`make_job`). So a plan of a million instances costs what its
templates cost. :attr:`Plan.jobs` builds the whole list (small plans, tests, ``--dry-run``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Iterator

from .. import tracks
from ..store import canonical_json
from .sources import Source, expand_source
from .spec import RunSpec, SpecError


@dataclass
class Job:
    """One unit of work: a pure function of its fields (see the module docstring).

    ``kind`` is ``"solve"`` (one row in ``results``) or ``"reference"`` (one row in ``refs``).
    ``member`` is the instance's position in its source (a stream job: 0).
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
    member: int = 0
    key_rest: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> tuple:
        """The store key (:data:`offbench.store.KEY_COLUMNS` order)."""
        if self.key_rest is not None:
            return (self.digest, *self.key_rest)
        from .. import __version__

        return (self.digest, self.solver_id, self.param_hash, self.seed, self.track,
                canonical_json(self.track_config), __version__)

    def label(self) -> str:
        if self.kind == "reference":
            return f"reference {self.source}:{self.digest[:8]}"
        return f"{self.solver_id} {self.track} {self.source}:{self.digest[:8]} seed {self.seed}"


@dataclass(frozen=True, eq=False)
class Template:
    """One (track, solver, parameters, seed, settings) combination of a source: a job once
    given a member (:func:`make_job`)."""

    track: str
    solver_id: str
    params: dict
    param_hash: str
    seed: int
    track_config: dict
    time_limit: float | None
    kill_after: float | None
    solver_dirs: tuple
    threads: int
    score: bool

    def key(self, digest: str) -> tuple:
        """The store key of this template's job on the instance ``digest``."""
        return (digest, *self.key_rest)

    @functools.cached_property
    def key_rest(self) -> tuple:
        """The key without its digest (:data:`offbench.store.KEY_COLUMNS` order)."""
        from .. import __version__

        return (self.solver_id, self.param_hash, self.seed, self.track,
                canonical_json(self.track_config), __version__)


def make_job(t: Template, src: Source, member: int, digest: str, instance=None, frames=None,
             index: int = 0) -> Job:
    """The job of template ``t`` on member ``member`` of ``src`` (its instance, or for a stream
    its frames; None where it is built elsewhere, as on a Dask worker)."""
    return Job(kind="solve", index=index, source=src.name, digest=digest, track=t.track,
               solver_id=t.solver_id, params=t.params, param_hash=t.param_hash, seed=t.seed,
               track_config=t.track_config, time_limit=t.time_limit, kill_after=t.kill_after,
               solver_dirs=t.solver_dirs, threads=t.threads, score=t.score, instance=instance,
               frames=frames, member=member, key_rest=t.key_rest)


@dataclass
class Block:
    """Members ``start .. stop - 1`` of one source and the templates to run on each."""

    source: Source
    start: int
    stop: int
    templates: list[Template]

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass
class Plan:
    """A spec expanded: its sources, the templates of each, and the combinations left out."""

    spec: RunSpec
    sources: list[Source]
    templates: list[list[Template]]
    skipped: list[str]

    @property
    def n_jobs(self) -> int:
        """How many solve jobs the plan has (a stream source counts one member)."""
        return sum((1 if s.stream else s.count) * len(t) for s, t in zip(self.sources, self.templates))

    def blocks(self, size: int = 2048) -> Iterator[Block]:
        """The plan in runs of at most ``size`` consecutive members of one source."""
        for src, tpls in zip(self.sources, self.templates):
            if not tpls:
                continue
            n = 1 if src.stream else src.count
            for a in range(0, n, max(1, size)):
                yield Block(src, a, min(n, a + size), tpls)

    @property
    def jobs(self) -> list[Job]:
        """Every solve job, built (each member built once; for small plans and tests)."""
        out: list[Job] = []
        seen: set[tuple] = set()
        for b in self.blocks():
            src = b.source
            for t in b.templates:
                for m in range(b.start, b.stop):
                    if src.stream:
                        job = make_job(t, src, 0, src.digest, frames=tuple(src.members),
                                       index=len(out))
                    else:
                        inst = src.build(m)
                        job = make_job(t, src, m, inst.digest, instance=inst, index=len(out))
                    if job.key not in seen:
                        seen.add(job.key)
                        out.append(job)
        return out


def plan(spec: RunSpec) -> Plan:
    """Expand a spec into sources and their job templates (references are planned by
    :func:`~offbench.run.loop.run`). Jobs come in the order: source, track, solver, member,
    seed; a template repeated within a source (a solver listed twice alike) is planned once."""
    sources = [expand_source(s) for s in spec.sources]
    templates: list[list[Template]] = []
    skipped: list[str] = []
    score = spec.reference["mode"] == "auto"
    for src in sources:
        mine: list[Template] = []
        seen: set[tuple] = set()
        templates.append(mine)
        for name in spec.tracks:
            track = tracks.get(name)
            if track.stream != src.stream:
                continue
            n = src.count
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
                for seed in sv.seeds:
                    t = Template(track=name, solver_id=sv.id, params=sv.params,
                                 param_hash=sv.param_hash, seed=seed, track_config=tc,
                                 time_limit=sv.time_limit, kill_after=kill,
                                 solver_dirs=tuple(spec.solvers_dirs),
                                 threads=spec.threads_per_job, score=score)
                    k = t.key("")
                    if k in seen:
                        continue
                    seen.add(k)
                    mine.append(t)
    if not any(t and s.count for s, t in zip(sources, templates)):
        raise SpecError("run spec: no jobs: no solver can run on any track of any source "
                        + ("(" + "; ".join(skipped[:3]) + ")" if skipped else
                           "(the static track needs instance sources; the learning tracks need "
                           "a stream source)"))
    return Plan(spec, sources, templates, skipped)
