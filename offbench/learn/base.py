"""The base of learned solvers with torch models: seeding, weights in safetensors, provenance.

A :class:`TorchLearningSolver` is a :class:`~offbench.solver.LearningSolver` whose
:meth:`~TorchLearningSolver.start` seeds everything (:func:`~offbench.learn.seed_everything`),
lets the subclass :meth:`~TorchLearningSolver.build` its networks for the stream's structure,
and then, when the ``weights`` parameter names a file, loads them. Model state is saved and
loaded with safetensors only (a file of named tensors and string metadata: loading it never
runs code, unlike torch's or SB3's pickle-based files). The sha256 of the weights a solver
started from is in :meth:`~TorchLearningSolver.provenance`, so a run can record which weights a
row used.

A subclass writes::

    class MyLearner(TorchLearningSolver):
        name = "my-learner"
        params = (Param("lr", float, 0.01, low=0), WEIGHTS_PARAM)

        def build(self, structure):          # networks, optimizer, memory
            self.net = mlp(...)
        def modules(self):                   # what save/load cover
            return {"net": self.net}
        def decide(self, frame, ctx): ...
        def learn(self, frame, decision, ctx): ...   # returns a dict of numbers
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from typing import ClassVar

from ..errors import UserError
from ..instance import Instance
from ..solver import LearningSolver, Param, SolverError
from .features import dag_key, same_structure, structure_difference
from .seeding import seed_everything

#: The parameter that starts a learned solver from saved weights.
WEIGHTS_PARAM = Param("weights", "path", None, allow_none=True, exists="file",
                      doc="a safetensors file of this solver's saved model state to start from")

FORMAT = "offbench-weights"


class WeightsError(SolverError):
    """Saved weights that cannot be used (a missing file, another solver's or structure's, a
    tensor with NaN or infinite values): a mistake in the solver's ``weights`` parameter."""


def weights_digest(path: str | Path) -> str:
    """The sha256 of a weights file (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_OTHER_STRUCTURE = ("weights {path}: saved for another structure (devices, jobs, layers per job or "
                    "a DAG job's edges differ from this stream's)")


def _structure_meta(s: Instance) -> dict:
    """What a weights file records of the structure it was saved for."""
    structure = {"n_devices": int(s.n_devices), "job_device": s.job_device.tolist(),
                 "layer_offsets": s.layer_offsets.tolist()}
    key = dag_key(s)
    if key is not None:  # DAG jobs: their edges, as a digest (chains: no key, as before)
        h = hashlib.sha256()
        for a in key:
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
        structure["dag_sha256"] = h.hexdigest()
    return structure


def _read_weights(path: Path, solver_id: str) -> tuple[dict, dict]:
    """A weights file's offbench metadata and its tensors, refused with :class:`WeightsError`
    when it is missing, not safetensors, not offbench weights, another solver's, or holds a
    tensor with NaN or infinite values (a damaged or diverged file: loaded, it would decide
    with NaN scores and train with a NaN loss without a word)."""
    from safetensors import safe_open
    import torch

    if not path.is_file():
        raise WeightsError(f"weights {path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # a truncated or foreign file
        raise WeightsError(f"weights {path}: not a safetensors file ({type(e).__name__}: {e})") from None
    try:
        meta = json.loads(meta[FORMAT])
    except (KeyError, ValueError):
        raise WeightsError(f"weights {path}: not offbench weights (no {FORMAT!r} metadata)") from None
    if not isinstance(meta, dict) or meta.get("solver") != solver_id:
        got = meta.get("solver") if isinstance(meta, dict) else None
        raise WeightsError(f"weights {path}: saved by {got!r}, not by {solver_id}")
    for k in sorted(tensors):
        v = tensors[k]
        if v.is_floating_point() or v.is_complex():
            bad = int((~torch.isfinite(v)).sum())
            if bad:
                raise WeightsError(f"weights {path}: tensor {k!r} has {bad} NaN or infinite "
                                   f"value(s) of {v.numel()}: a damaged file, or weights saved "
                                   "after training diverged")
    return meta, tensors


def _chain_key(frame: Instance) -> tuple:
    """What :func:`~offbench.learn.features.same_structure` compares of a frame of chains, as
    bytes (with the dtypes, so that equal keys mean equal arrays)."""
    jd, lo = frame.job_device, frame.layer_offsets
    return (int(frame.dev_speed.size), jd.dtype.str, jd.tobytes(), lo.dtype.str, lo.tobytes())


class TorchLearningSolver(LearningSolver):
    """A learning solver with torch models (see the module docstring)."""

    abstract: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("torch", "safetensors")

    # -- what subclasses write
    def build(self, structure: Instance) -> None:
        """Create the networks (sized by ``structure``), optimizers and memories."""
        raise NotImplementedError(f"solver {self.id} does not implement build")

    def modules(self) -> dict:
        """The ``torch.nn.Module`` objects whose state :meth:`save` and :meth:`load` cover."""
        raise NotImplementedError(f"solver {self.id} does not implement modules")

    # -- the protocol
    def start(self, structure: Instance, seed: int) -> None:
        """Seed (Python, numpy, torch; deterministic torch; the job's threads), build, and load
        the ``weights`` parameter's file when it is set. ``self.rng`` is the learner's own
        generator."""
        self.rng = seed_everything(int(seed))
        self.structure = structure
        self._structure_key = None if structure.is_dag else _chain_key(structure)
        self.loaded_from = None
        self.loaded_sha256 = None
        self.build(structure)
        w = self.param_values.get("weights")
        if w:
            self.load(w)

    def provenance(self) -> dict:
        """What a run records about this solver's model: the weights file it started from and
        that file's sha256 (both None when it started untrained)."""
        return {"weights": getattr(self, "loaded_from", None),
                "weights_sha256": getattr(self, "loaded_sha256", None)}

    # -- weights
    def _metadata(self) -> dict:
        # One metadata key: safetensors writes its metadata map in no fixed order, and a digest
        # must not depend on it.
        return {FORMAT: json.dumps({"solver": self.id, "structure": _structure_meta(self.structure)},
                                   sort_keys=True)}

    def check_inputs(self, structure: Instance | None = None) -> None:
        """Check the ``weights`` file without building the model: a readable safetensors file
        of offbench weights saved by this solver, every tensor finite, and (with ``structure``,
        a stream's first frame) saved for that structure. Tensor names and shapes are checked
        by :meth:`load`, once the model is built."""
        super().check_inputs(structure)
        w = self.param_values.get("weights")
        if not w:
            return
        meta, _ = _read_weights(Path(w), self.id)
        if structure is not None and meta.get("structure") != _structure_meta(structure):
            raise WeightsError(_OTHER_STRUCTURE.format(path=w))

    def state_tensors(self) -> dict:
        """Every module's state as ``"module.tensor" -> tensor`` (contiguous CPU copies)."""
        if not hasattr(self, "structure"):
            raise RuntimeError(f"solver {self.id} has no model before start()")
        out = {}
        for mname, mod in self.modules().items():
            for k, v in mod.state_dict().items():
                out[f"{mname}.{k}"] = v.detach().to("cpu").contiguous().clone()
        return out

    def save(self, path: str | Path) -> str:
        """Write the model state to a safetensors file; return its sha256."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self._weights_bytes())
        tmp.replace(path)
        return weights_digest(path)

    def _weights_bytes(self) -> bytes:
        from safetensors.torch import save

        return save(self.state_tensors(), metadata=self._metadata())

    def weights_sha256(self) -> str:
        """The sha256 of the current model state, as :meth:`save` would write it."""
        return hashlib.sha256(self._weights_bytes()).hexdigest()

    def load(self, path: str | Path) -> str:
        """Load a file written by :meth:`save` (same solver, same structure); return its sha256.

        Raises
        ------
        WeightsError
            A missing or unreadable file, another solver's weights, another structure, a tensor
            with NaN or infinite values, or tensors whose names or shapes differ from this
            model's.
        """
        path = Path(path)
        meta, tensors = _read_weights(path, self.id)
        if meta.get("structure") != _structure_meta(self.structure):
            raise WeightsError(_OTHER_STRUCTURE.format(path=path))
        mine = self.state_tensors()
        if set(mine) != set(tensors):
            diff = sorted(set(mine) ^ set(tensors))
            raise WeightsError(f"weights {path}: tensors differ from this model's (e.g. {diff[0]!r}); "
                               "were the solver's parameters (network sizes) the same?")
        for k, v in tensors.items():
            if tuple(v.shape) != tuple(mine[k].shape):
                raise WeightsError(f"weights {path}: {k} has shape {tuple(v.shape)}, this model's "
                                   f"is {tuple(mine[k].shape)}")
        for mname, mod in self.modules().items():
            prefix = mname + "."
            mod.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                                strict=True)
        self.loaded_from = str(path)
        self.loaded_sha256 = weights_digest(path)
        return self.loaded_sha256

    def check_frame(self, frame: Instance) -> None:
        """Refuse a frame of another structure than the one :meth:`start` sized the model for.

        A frame of chains whose devices, job devices and layer offsets are byte for byte the
        structure's (same dtypes) is the same structure at once (a dictionary-free comparison of
        a few bytes: 2 us of CPU instead of 7 for :func:`~offbench.learn.features.same_structure`
        per frame); anything else is decided by :func:`~offbench.learn.features.same_structure`."""
        if not frame.is_dag and _chain_key(frame) == self.__dict__.get("_structure_key"):
            return
        if not same_structure(self.structure, frame):
            raise UserError(f"solver {self.id}: frame {frame.name!r} has another structure than "
                            f"the stream's first frame ({structure_difference(self.structure, frame)}); "
                            "a stream keeps one structure")
