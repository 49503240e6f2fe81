"""The :class:`Family` type: one version (and preset) of an instance family, and its generation.

A :class:`Family` joins a definition (:mod:`offbench.families.definition`) with its generator
module's declared parameters (:mod:`offbench.families.param`) and draws static instances and frame
streams (:mod:`offbench.streams`) from seeded ``numpy.random.SeedSequence`` streams (see the
package docstring for the determinism contract).

Generation is on the path of every job of a run (a job is built where it runs), so it checks
once what it hands out: a scenario's nominal instance is assembled as a draft
(:func:`offbench.families._common.draft_instance`), quantized, and validated once; a static
instance skips even that, because the frame drawn from the draft is validated (every field of
a frame is the nominal one, or the nominal one times a finite factor). The parameters and the
stream settings of an environment are validated once per family object.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import re
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..instance import Instance
from ..params import check_known, parse_assignments
from ..streams import FrameProcess, Scenario, Variation, quantize
from ._common import _instance_fields, draft_replace
from .definition import Environment, SetSpec, _Definition
from .ids import salt
from .param import Argument, FamilyError, FParam

__all__ = ["Family"]

#: SeedSequence name spaces.
_NS_INSTANCE, _NS_STREAM = 1, 2
_PART_STRUCTURE, _PART_ENV, _PART_FRAMES = 1, 2, 3


def entropy_words(values: Sequence[int]) -> np.ndarray:
    """The ``uint32`` words that :class:`numpy.random.SeedSequence` makes of a list of
    non-negative ints (each int's 32-bit words, least significant first; 0 is one word), as one
    array: ``SeedSequence(entropy_words(v))`` has the pool, and so every stream, of
    ``SeedSequence(list(v))``, built in a quarter of the time (numpy converts a list int by int,
    an array of words at once; 8 of the 25 us of a ``_seq`` on a loaded machine). Pinned against
    numpy's own conversion by ``tests/test_run_overhead.py``."""
    words = []
    for v in values:
        v = int(v)
        if v < 0:  # what SeedSequence refuses, refused by SeedSequence itself
            return np.random.SeedSequence(list(values)).entropy
        if v == 0:
            words.append(0)
        while v:
            words.append(v & 0xFFFFFFFF)
            v >>= 32
    return np.array(words, dtype=np.uint32)


def seed_words(salt_: int, ns: int, seed: int, index: int, part: int, extra: int) -> np.ndarray:
    """The entropy words of the generator stream ``(salt, ns, seed, index, part, extra)``:
    different tuples, different words.

    With ``seed`` and ``index`` below ``2**32`` (every set, test and run so far) these are
    :func:`entropy_words` of the tuple, SeedSequence's own words for the list, so those streams
    and every digest are the ones they always were. Those words are the values' 32-bit words
    concatenated without lengths, which is one-to-one only while each value is one word: seed
    ``2**32`` (words 0, 1) with index 2 gives the words of seed 0 with index ``1 + 2 * 2**32``
    (words 1, 2). So a seed or an index of ``2**32`` or more is written with each of the two
    preceded by its number of words: a code without such overlaps, and at least 3 words longer
    than the short form, so that it never gives the words of a tuple below ``2**32`` either
    (``ns``, ``part`` and ``extra`` are one word each; the salt's words lead both forms). Kept
    rather than refusing large seeds: the API and the command line take any non-negative int,
    and the short form costs one comparison more."""
    if seed < 4294967296 and index < 4294967296:
        return entropy_words((salt_, ns, seed, index, part, extra))
    s, i = entropy_words((seed,)), entropy_words((index,))
    return np.concatenate((entropy_words((salt_, ns, len(s))), s, entropy_words((len(i),)), i,
                           entropy_words((part, extra)))).astype(np.uint32)


_VERSION_HEADER = re.compile(r"Version ([1-9][0-9]*)\b")


def version_doc(doc: str, version: int, name: str = "") -> str:
    """The part of a definition's ``doc`` that describes ``version``.

    A doc is sections, each a line at the left margin and its indented text. A section headed
    ``Version N...`` describes what version N changes; the others describe the family as
    version 1 defines it (its sizes, environments, ...). Version 1, or a version without a
    section of its own, shows those; a version with a section shows that section first, then
    the sections of the versions it builds on (newest first), then version 1's under a line that
    says whose they are, so that version 1's sizes are never read as its own. Sections of later
    versions are left out (version 1 names them: ``offbench instances show NAME-v2``)."""
    sections: list[tuple[int, list[str]]] = []  # (version, lines); 1: version 1's own
    for line in doc.strip("\n").splitlines():
        if line and not line[0].isspace() or not sections:
            m = _VERSION_HEADER.match(line)
            sections.append((int(m.group(1)) if m else 1, []))
        sections[-1][1].append(line)
    text = {v: "\n\n".join("\n".join(lines).strip("\n") for w, lines in sections if w == v)
            for v, _ in sections}
    if version not in text or version == 1:
        later = sorted(v for v in text if v > version)
        return text[1] + ("" if not later or not name else "\n\nLater versions describe "
                          "themselves: " + ", ".join(f"offbench instances show {name}-v{v}"
                                                     for v in later) + ".")
    return "\n\n".join(
        [text[v] for v in sorted(text, reverse=True) if 1 < v <= version] +
        [f"Version 1, which version {version} builds on: what follows, up to the parameters, "
         f"describes\nversion 1 (its sizes and environments are version 1's; version "
         f"{version}'s are above).", text[1]])


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as e:  # a broken installation, not a user's mistake
        raise ImportError(f"the generator module {name!r} of a family cannot be imported: {e}") from e


class Family:
    """One version (and preset) of an instance family.

    Get one with :func:`get_family`. Attributes: ``id`` (``"dmro-v1"``), ``name``, ``version``,
    ``description`` (one line), ``doc`` (what it models, sizes, sources, version history),
    ``params`` (the generator parameters in force), ``presets``, ``preset``, ``environments``,
    ``default_environment``, ``sets`` (declared frozen sets).
    """

    def __init__(self, definition: _Definition, version: int, preset: str | None = None,
                 overrides: Mapping[str, Any] | None = None):
        self._def = definition
        self.name = definition.name
        self.version = int(version)
        spec = definition.versions[self.version]
        self._spec = spec
        self._module = None
        self.description = definition.description
        presets = spec.get("presets", {}) or {}
        self.presets: dict[str, dict] = {k: dict(v) for k, v in presets.items()}
        if self.presets:
            default = spec.get("default_preset", next(iter(self.presets)))
            preset = preset or default
            if preset not in self.presets:
                close = difflib.get_close_matches(preset, list(self.presets), n=3)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise FamilyError(f"family {self.name}-v{self.version} has no preset {preset!r}.{hint} "
                                  f"Presets: {', '.join(self.presets)}.")
        elif preset is not None:
            raise FamilyError(f"family {self.name}-v{self.version} has no presets; got {preset!r}")
        self.preset = preset
        base = dict(spec.get("params", {}))
        if preset is not None:
            base.update(self.presets[preset])
        declared = self._declared()
        self._check_known(base, f"definition of {self.name}-v{self.version}")

        def written(k: str) -> str:  # the family, and where its definition gives k's value
            at = f"presets.{preset}" if preset is not None and k in self.presets[preset] else "params"
            return f"{self.name} ([v{self.version}.{at}] of {definition.path})"

        self.overrides: dict[str, Any] = {}
        for k, v in (overrides or {}).items():
            self._check_known({k: v}, "the parameters given")
            v = declared[k].validate(self.name, v)
            if k in base and declared[k].validate(written(k), base[k]) == v:
                continue  # not a change: the ID (and so the instances) stay the family's own
            self.overrides[k] = v
        base.update(self.overrides)
        missing = [p.name for p in declared.values() if p.name not in base]
        if missing:
            raise FamilyError(f"definition of {self.name}-v{self.version} lacks parameters {missing}")
        self.params: dict[str, Any] = {
            k: declared[k].validate(self.name if k in self.overrides else written(k), base[k])
            for k in declared}
        self._check_params(self.params)
        self.environments: dict[str, Environment] = {}
        for ename, e in (spec.get("environments", {}) or {}).items():
            env = Environment(name=ename, split=e.get("split", "any"),
                              description=" ".join(str(e.get("description", "")).split()),
                              params=dict(e.get("params", {})), stream=dict(e.get("stream", {})))
            if env.split not in ("train", "heldout", "any"):
                raise FamilyError(f"environment {ename} of {self.name}: split must be train, heldout or any")
            bad = set(env.params) & set(self._structural())
            if bad:
                raise FamilyError(f"environment {ename} of {self.name} changes structural parameters "
                                  f"{sorted(bad)}: a stream cannot switch to it")
            self._check_known(env.params, f"environment {ename} of {self.name}")
            self.environments[ename] = env
        if not self.environments:
            self.environments["default"] = Environment("default", "any", "the family's parameters")
        for k in self.overrides:  # an environment's value wins: a change that every one undoes
            if all(k in e.params for e in self.environments.values()):
                said = ", ".join(f"{e.name}: {declared[k].format(declared[k].validate(self.name, e.params[k]))}"
                                 for e in list(self.environments.values())[:4])
                more = ", ..." if len(self.environments) > 4 else ""
                raise FamilyError(
                    f"The {k!r} parameter of family {self.name} is set by every one of its "
                    f"environments ({said}{more}), so changing it would change nothing: choose an "
                    f"environment instead (Family.stream(environment=...), "
                    f"offbench instances stream --environment).")
        self.default_environment = spec.get("default_environment", next(iter(self.environments)))
        if self.default_environment not in self.environments:
            raise FamilyError(f"{self.name}: default_environment {self.default_environment!r} is not defined")
        self.static_environments = spec.get("static_environments", "default")
        if self.static_environments not in ("default", "all"):
            raise FamilyError(f"{self.name}: static_environments must be 'default' or 'all'")
        self._stream = dict(spec.get("stream", {}))
        self.sets: tuple[SetSpec, ...] = tuple(
            SetSpec(split=s["split"], seed=int(s["seed"]), count=int(s["count"]),
                    preset=s.get("preset"), time_limit=float(s.get("time_limit", 60.0)),
                    format=s.get("format", "json"), doc=" ".join(str(s.get("doc", "")).split()))
            for s in spec.get("sets", [])
        )
        self.id = self._make_id()
        self._salt = salt(self.id)
        self._env_cache: dict[str, tuple[dict[str, Any], Variation]] = {}
        for env in self.environments.values():  # every environment must be valid here and now
            self.params_for(env)
            self.variation(env)

    # -------------------------------------------------------------- identity
    def _make_id(self) -> str:
        text = f"{self.name}-v{self.version}"
        if self.preset is not None:
            text += f":{self.preset}"
        if self.overrides:
            declared = self._declared()
            text += "[" + ",".join(f"{k}={declared[k].format(v)}" for k, v in sorted(self.overrides.items())) + "]"
        return text

    def __repr__(self) -> str:
        return f"Family({self.id!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Family) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def module(self):
        """The generator module (imported on first use)."""
        if self._module is None:
            self._module = _module(self._def.generator_for(self.version))
        return self._module

    def _declared(self) -> dict[str, FParam]:
        return {p.name: p for p in self.module.PARAMS}

    def _structural(self) -> frozenset[str]:
        return frozenset(getattr(self.module, "STRUCTURAL", ()))

    def _check_known(self, d: Mapping[str, Any], where: str) -> None:
        check_known(d, self._declared(), f"family {self.name}", error=FamilyError, where=where)

    def _check_params(self, p: Mapping[str, Any], where: str = "") -> None:
        check = getattr(self.module, "check", None)
        if check is not None:
            msg = check(p)
            if msg:
                raise FamilyError(f"family {self.name}{where}: {msg}")

    def with_params(self, **overrides: Any) -> "Family":
        """The same family with some generator parameters changed (its ID says which).

        Raises
        ------
        FamilyError
            For an unknown parameter or a bad value.
        """
        merged = {**self.overrides, **overrides}
        return Family(self._def, self.version, self.preset, merged)

    def with_text_params(self, raw: Mapping[str, str], where: str) -> "Family":
        """:meth:`with_params` from values as written (in an ID or on the command line:
        ``n_devices=10``, ``distance_m=2.5:5.2``, ``models=alexnet+vgg16``)."""
        self._check_known(raw, where)
        declared = self._declared()
        return self.with_params(**{k: declared[k].parse(self.name, v) for k, v in raw.items()})

    def with_assignments(self, pairs: Sequence[str], option: str = "--param") -> "Family":
        """:meth:`with_params` from ``NAME=VALUE`` pairs as written on the command line
        (:func:`offbench.params.parse_assignments`: unknown names get "did you mean", a name
        given twice is refused)."""
        values = parse_assignments(pairs, self._declared(), self.name, error=FamilyError,
                                   option=option, where=option)
        return self.with_params(**values) if values else self

    def with_preset(self, preset: str) -> "Family":
        """The same family and version with another size preset (overrides are kept)."""
        return Family(self._def, self.version, preset, self.overrides)

    @property
    def history(self) -> tuple[tuple[int, str, str], ...]:
        """``(version, date, change)`` of every version, oldest first."""
        return self._def.history

    @property
    def sources(self) -> tuple[str, ...]:
        return self._def.sources

    @property
    def definition_path(self) -> Path:
        return self._def.path

    @property
    def latest_version(self) -> int:
        return self._def.latest

    @property
    def doc(self) -> str:
        """What the family models, sizes, sources, parameters and version history."""
        declared = self._declared()
        lines = [f"{self.id}: {self.description}", "", version_doc(self._def.doc, self.version, self.name), ""]
        lines.append("Parameters (in force):")
        for k, v in self.params.items():
            p = declared[k]
            val = p.format(v)
            lines.append(f"  {k} = {val}    {p.doc}")
        if self.presets:
            lines += ["", "Size presets:"]
            for name, vals in self.presets.items():
                mark = " (this one)" if name == self.preset else ""
                lines.append(f"  {name}{mark}: " + ", ".join(f"{k}={declared[k].format(declared[k].validate(self.name, v))}"
                                                              for k, v in vals.items()))
        lines += ["", f"Environments (streams; default {self.default_environment}):"]
        for e in self.environments.values():
            detail = ", ".join(f"{k}={v}" for k, v in {**e.params, **e.stream}.items())
            lines.append(f"  {e.name} [{e.split}] {e.description}" + (f" ({detail})" if detail else ""))
        v = self.variation()
        lines += ["", "Frame variation in streams: " + ", ".join(f"{k}={val}" for k, val in v.to_dict().items())]
        if self.sets:
            lines += ["", "Frozen sets:"]
            for s in self.sets:
                sid = self.set_id(s)
                lines.append(f"  {sid}: seed {s.seed}, {s.count} instances. {s.doc}".rstrip())
        if self.sources:
            lines += ["", "Sources:"] + [f"  - {s}" for s in self.sources]
        lines += ["", "Version history:"] + [f"  v{ver} ({date}): {change}" for ver, date, change in self.history]
        return "\n".join(lines)

    def set_id(self, spec: SetSpec) -> str:
        """The ID of a declared frozen set (``dmro-v1/test``, ``capacitated-v1:small/test``)."""
        fid = f"{self.name}-v{self.version}" + (f":{spec.preset}" if spec.preset else "")
        if spec.preset is None and self.presets:
            fid += f":{self._spec.get('default_preset', next(iter(self.presets)))}"
        return f"{fid}/{spec.split}"

    # -------------------------------------------------------------- generation
    def _seq(self, ns: int, seed: int, index: int, part: int, extra: int = 0) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(
            seed_words(self._salt, ns, seed, index, part, extra)))

    def _check_seed(self, what: str, v: Any, low: int = 0, high: int | None = None) -> int:
        if type(v) is int and v >= low and (high is None or v <= high):
            return v  # the common case, without building the argument's declaration
        return Argument(what, int, low=low, high=high).validate(self.id, v)

    def environment(self, name: str | None = None) -> Environment:
        """An environment by name (None: the default one); unknown names get "did you mean"."""
        if name is None:
            name = self.default_environment
        if isinstance(name, Environment):
            name = name.name
        if name not in self.environments:
            close = difflib.get_close_matches(str(name), list(self.environments), n=3, cutoff=0.4)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise FamilyError(f"family {self.id} has no environment {name!r}.{hint} "
                              f"Environments: {', '.join(self.environments)}.")
        return self.environments[name]

    def params_for(self, environment: str | Environment | None = None) -> dict[str, Any]:
        """The generator parameters in an environment (validated; a new dict on every call)."""
        return dict(self._settings(self.environment(environment))[0])

    def variation(self, environment: str | Environment | None = None) -> Variation:
        """The stream settings (:class:`offbench.streams.Variation`) in an environment."""
        return self._settings(self.environment(environment))[1]

    def _settings(self, env: Environment) -> tuple[dict[str, Any], Variation]:
        """An environment's validated parameters and stream settings, validated once (a family
        is immutable once built; what is cached here is never handed out to be changed)."""
        got = self._env_cache.get(env.name)
        if got is not None:
            return got
        declared = self._declared()
        p = dict(self.params)
        where = f"[v{self.version}.environments.{env.name}] of {self._def.path}"
        for k, v in env.params.items():
            p[k] = declared[k].validate(f"{self.name} ({where})", v)
        self._check_params(p, f" ({where})" if env.params else "")
        try:
            var = Variation.from_dict({**self._stream, **env.stream})
        except (TypeError, ValueError) as e:
            raise FamilyError(f"stream settings of {self.id}, environment {env.name}: {e}") from None
        self._env_cache[env.name] = (p, var)
        return p, var

    def _scenario(self, env: Environment, rng_structure, rng_env, *, check: bool = True) -> Scenario:
        """The scenario drawn from these generators. ``check=False`` leaves its nominal
        instance a draft (not validated) for callers that validate every frame drawn from it."""
        p, var = self._settings(env)
        base, snr = self.module.build(dict(p), rng_structure, rng_env)
        return Scenario(base=_quantize_instance(base, check=check),
                        snr=np.asarray(snr, dtype=np.float64), variation=var, environment=env.name)

    def _env_code(self, env: Environment) -> int:
        return salt(env.name) & 0x7FFFFFFF

    def static_environment(self, index: int) -> Environment:
        """The environment that instance ``index`` of :meth:`generate` is drawn in."""
        if self.static_environments == "all":
            envs = list(self.environments.values())
            return envs[index % len(envs)]
        return self.environment(None)

    def scenario(self, seed: int, index: int = 0, environment: str | None = None) -> Scenario:
        """The scenario (nominal instance and variation) behind instance ``(seed, index)``."""
        seed = self._check_seed("seed", seed)
        index = self._check_seed("index", index)
        env = self.environment(environment) if environment is not None else self.static_environment(index)
        return self._scenario(env, self._seq(_NS_INSTANCE, seed, index, _PART_STRUCTURE),
                              self._seq(_NS_INSTANCE, seed, index, _PART_ENV, self._env_code(env)))

    def generate(self, seed: int, index: int) -> Instance:
        """Instance ``index`` of seed ``seed``: one frame of a freshly drawn scenario, with every
        device on (streams switch devices off and on; static instances do not).

        Deterministic per (family ID, seed, index) and independent of other indices; named
        ``f"{id}/s{seed}/{index}"``.
        """
        seed = self._check_seed("seed", seed)
        index = self._check_seed("index", index)
        env = self.static_environment(index)
        # The nominal instance stays a draft: the frame drawn from it is validated (FrameProcess
        # builds it with Instance.replace), and its every field is the nominal one or the nominal
        # one times a finite factor.
        sc = self._scenario(env, self._seq(_NS_INSTANCE, seed, index, _PART_STRUCTURE),
                            self._seq(_NS_INSTANCE, seed, index, _PART_ENV, self._env_code(env)),
                            check=False)
        proc = FrameProcess(sc, self._seq(_NS_INSTANCE, seed, index, _PART_FRAMES),
                            name=f"{self.id}/s{seed}", switching=False)
        return _renamed(proc.next(), f"{self.id}/s{seed}/{index}")

    def _member_seqs(self, seed: int, index: int, env: Environment) -> tuple:
        """The structure, environment and frame generators of static instance ``(seed,
        index)`` drawn in ``env``: those :meth:`generate` draws from."""
        return (self._seq(_NS_INSTANCE, seed, index, _PART_STRUCTURE),
                self._seq(_NS_INSTANCE, seed, index, _PART_ENV, self._env_code(env)),
                self._seq(_NS_INSTANCE, seed, index, _PART_FRAMES))

    def generate_many(self, seed: int, indices) -> list[Instance]:
        """``[self.generate(seed, i) for i in indices]``, the same instances bit for bit, with
        the arithmetic of members of one structure done once for all of them
        (:mod:`offbench.families.batch`: what a run's block of members takes)."""
        from .batch import generate_many

        return generate_many(self, seed, indices)

    def instances(self, seed: int, count: int, start: int = 0) -> list[Instance]:
        """Instances ``start .. start + count - 1`` of a seed."""
        count = self._check_seed("count", count)
        start = self._check_seed("start", start)
        return self.generate_many(seed, range(start, start + count))

    def stream(self, seed: int, n_frames: int, *, environment: str | None = None,
               switch_at: int | None = None, switch_to: str | None = None) -> Iterator[Instance]:
        """Frames of one fixed structure whose parameters vary (see :mod:`offbench.streams`).

        Parameters
        ----------
        seed : int
        n_frames : int
            How many frames.
        environment : str, optional
            Where the stream starts (default :attr:`default_environment`).
        switch_at : int, optional
            The first frame drawn in ``switch_to`` (the drift scenario), in ``[1, n_frames - 1]``;
            frames before it are the same as a stream that does not switch.
        switch_to : str, optional
            The environment after the switch; same structure, so the decision length is kept.

        Yields
        ------
        Instance
            Frame ``t`` named ``f"{id}/s{seed}/stream/{t}"``.
        """
        seed = self._check_seed("seed", seed)
        n_frames = self._check_seed("n_frames", n_frames)
        env = self.environment(environment)
        if (switch_at is None) != (switch_to is None):
            raise FamilyError("switch_at and switch_to go together: give both or neither")
        env2 = None
        if switch_at is not None:
            if n_frames < 2:
                raise FamilyError(f"a stream of {n_frames} frame cannot switch environment: "
                                  "switch_at needs n_frames >= 2")
            switch_at = self._check_seed("switch_at", switch_at, 1, n_frames - 1)
            env2 = self.environment(switch_to)
        return self._stream_iter(seed, n_frames, env, switch_at, env2)

    def _stream_iter(self, seed, n_frames, env, switch_at, env2) -> Iterator[Instance]:
        rs = lambda e: self._seq(_NS_STREAM, seed, 0, _PART_STRUCTURE)  # noqa: E731
        re_ = lambda e: self._seq(_NS_STREAM, seed, 0, _PART_ENV, self._env_code(e))  # noqa: E731
        sc = self._scenario(env, rs(env), re_(env), check=False)  # every frame is validated
        proc = FrameProcess(sc, self._seq(_NS_STREAM, seed, 0, _PART_FRAMES), name=f"{self.id}/s{seed}/stream")
        for t in range(n_frames):
            if env2 is not None and t == switch_at:
                sc2 = self._scenario(env2, rs(env2), re_(env2), check=False)
                if not sc.same_structure(sc2):  # a bug in a generator module: structure leaked
                    raise RuntimeError(f"{self.id}: environments {env.name} and {env2.name} "
                                       "produced different structures for one seed")
                proc.switch(sc2)
            yield proc.next()

    def stream_scenario(self, seed: int, environment: str | None = None) -> Scenario:
        """The scenario that :meth:`stream` draws around in an environment."""
        seed = self._check_seed("seed", seed)
        env = self.environment(environment)
        return self._scenario(env, self._seq(_NS_STREAM, seed, 0, _PART_STRUCTURE),
                              self._seq(_NS_STREAM, seed, 0, _PART_ENV, self._env_code(env)))

    def summary(self) -> dict[str, Any]:
        """A JSON-able description (what ``offbench instances show --json`` prints)."""
        declared = self._declared()
        return {
            "id": self.id, "name": self.name, "version": self.version,
            "latest_version": self.latest_version, "preset": self.preset,
            "description": self.description,
            "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params.items()},
            "param_docs": {k: p.doc for k, p in declared.items()},
            "presets": self.presets,
            "environments": {e.name: {"split": e.split, "description": e.description,
                                      "params": dict(e.params), "stream": dict(e.stream)}
                             for e in self.environments.values()},
            "default_environment": self.default_environment,
            "stream": self.variation().to_dict(),
            "sets": [self.set_id(s) for s in self.sets],
            "sources": list(self.sources),
            "history": [{"version": v, "date": d, "change": c} for v, d, c in self.history],
            "definition": str(self.definition_path),
        }


def _quantize_instance(inst: Instance, *, check: bool = True) -> Instance:
    """Round every float of an instance to 6 significant digits (see :mod:`offbench.streams`):
    the scalars and float arrays (integer and boolean arrays, the name and absent optional
    arrays are left as they are). Validated with ``check``, else a draft
    (:func:`offbench.families._common.draft_replace`)."""
    d = inst.__dict__
    scalars, candidates = _quantized_fields()
    arrays = [name for name in candidates if d[name] is not None and d[name].dtype.kind == "f"]
    # quantize is elementwise: one call over everything gives what a call per field gives.
    q = quantize(np.concatenate([np.array([d[n] for n in scalars], dtype=np.float64)]
                                + [d[n] for n in arrays]))
    changes = {n: float(v) for n, v in zip(scalars, q[:len(scalars)].tolist())}
    at = len(scalars)
    for n in arrays:
        size = d[n].size
        changes[n] = q[at:at + size]
        at += size
    return inst.replace(**changes) if check else draft_replace(inst, **changes)


@functools.lru_cache(maxsize=None)
def _quantized_fields() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The float fields of an instance, and its array fields (quantized when float)."""
    spec = _instance_fields()[1]
    return (tuple(name for name, kind, _ in spec if kind == "float"),
            tuple(name for name, kind, _ in spec if kind == "array"))


def _renamed(inst: Instance, name: str) -> Instance:
    """``inst`` under another name, not validated again (only the name changes; what pickling
    keeps, the fields and the digest, is copied)."""
    out = object.__new__(type(inst))
    out.__dict__.update(inst.__getstate__())
    object.__setattr__(out, "name", str(name))
    return out
