"""Per-layer operations and output sizes of real DNNs, as the chains that jobs are made of.

A *profile* is a DNN cut into a chain of units (SPEC.md section 1): for each unit, its name, the
multiply-accumulates it does, and the size of what crosses the cut after it; plus the size of the
model's input. Profiles come from two places:

* a table shipped with offbench (``offbench/data/profiles.json``), read without torch by
  :func:`load_builtin_profile` and :func:`get_profile`, for the built-in models
  ``alexnet``, ``vgg16``, ``resnet18`` and ``mobilenet_v2`` (3x224x224 input, 1000 classes);
* live profiling with torch (imported only then): :func:`profile_model` for a chain of your own,
  ``get_profile(name, live=True)`` for a built-in one. ``python -m offbench.profiles`` rewrites
  the table, and the test suite checks that live profiling reproduces it exactly.

A DNN as a DAG of layers (skip connections, branches, attention: SPEC.md section 7's jobs) is
:mod:`offbench.dag_profiles`'s, which traces modules with ``torch.fx``.

What is counted
---------------
Multiply-accumulates (MACs), per sample (batch of one), of the layers that do the arithmetic:

* ``Conv1d/2d/3d``, grouped and depthwise included:
  ``output elements * (in_channels / groups) * kernel volume``;
* ``ConvTranspose1d/2d/3d``: ``input elements * (out_channels / groups) * kernel volume``;
* ``Linear``: ``output elements * in_features``.

Bias additions, batch norm, activations, pooling, residual additions and dropout count 0. This
is the convention of the published figures (torchvision's model tables, fvcore, the MobileNetV2
paper's "multiply-adds"), and the built-in profiles match them: AlexNet 0.714 GMAC, VGG-16
15.47, ResNet-18 1.814, MobileNetV2 0.301. A module with parameters of its own that is none of
the above (an LSTM, attention) is not counted: profiling warns about it.

FLOPs are ``2 * MACs`` (one multiply and one add). **Instance ops are FLOPs**:
:attr:`Profile.ops` is ``2 * MACs`` per unit, because device and server speeds are quoted in
FLOP/s. The table holds both numbers.

What crosses a cut
------------------
``output_bits`` of a unit is the number of tensor elements that must be sent if the chain is
cut after it, times ``bits_per_element`` (32 for float32 by default; 8 for int8, say).
``input_bits`` is the model's input; :attr:`Profile.bits` is ``input_bits`` followed by every
unit's ``output_bits`` — the ``L + 1`` values of a job's ``bits`` in an instance.

Granularity
-----------
``"block"`` (the default): the units are the items of the chain as given — for the built-in
models a layer (a convolution with its batch norm and activation), a pooling, or a whole
residual block. ``"layer"``: every item that is itself a chain (an ``nn.Sequential``) is opened
into its items, recursively, and the built-in residual blocks are opened into their layers;
every cut inside a residual block also carries the block's input, which the skip connection
still needs, so its ``output_bits`` include it, and the shortcut projection and the addition
belong to the block's last layer. Both granularities have the same total. A layer with its
batch norm and activation is never split (they are fused in deployment, and a cut between them
would only repeat the same tensor). AlexNet and VGG-16 have no residual blocks: there the two
granularities are the same chain.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import json
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import UserError

__all__ = [
    "CONVENTION", "GRANULARITIES", "DEFAULT_BITS_PER_ELEMENT", "LayerProfile", "Profile",
    "UnknownModelError", "builtin_models", "resolve_model_name", "load_builtin_profile",
    "get_profile", "profile_model", "build_table", "table_text", "write_table",
]

#: How the ``macs`` of a profile are counted (also written into the table and ``--json``).
CONVENTION = "MACs of convolution and linear layers, per sample; FLOPs = 2 * MACs"
GRANULARITIES = ("block", "layer")
DEFAULT_BITS_PER_ELEMENT = 32

TABLE_FORMAT = "offbench-profiles"
TABLE_VERSION = 1
_TABLE_DIR, _TABLE_FILE = "data", "profiles.json"


@dataclass(frozen=True)
class _Builtin:
    """A built-in model: its title and the builder in :mod:`offbench._zoo_models`."""

    title: str
    builder: str
    input_shape: tuple[int, ...] = (3, 224, 224)


_BUILTINS = {
    "alexnet": _Builtin("AlexNet (torchvision variant)", "alexnet"),
    "vgg16": _Builtin("VGG-16", "vgg16"),
    "resnet18": _Builtin("ResNet-18", "resnet18"),
    "mobilenet_v2": _Builtin("MobileNetV2 (width 1.0)", "mobilenet_v2"),
}


class UnknownModelError(UserError, LookupError):
    """A model name that is not one of the built-in models."""


@dataclass(frozen=True)
class LayerProfile:
    """One unit of a profiled chain.

    Attributes
    ----------
    name : str
        Its path in the model (``"layer2_0.conv1"``).
    macs : int
        Multiply-accumulates it does, per sample.
    output_elements : int
        Tensor elements that cross a cut after it.
    output_bits : int
        ``output_elements * bits_per_element``.
    """

    name: str
    macs: int
    output_elements: int
    output_bits: int

    @property
    def flops(self) -> int:
        """``2 * macs``."""
        return 2 * self.macs


class _Work:
    """The work of a profile's units (``_units``: a chain's layers, a DAG's nodes) and of the
    whole model; shared by :class:`Profile` and :class:`offbench.dag_profiles.DagProfile`."""

    __slots__ = ()

    @property
    def macs(self) -> tuple[int, ...]:
        """Multiply-accumulates of each unit."""
        return tuple(unit.macs for unit in self._units)

    @property
    def flops(self) -> tuple[int, ...]:
        """FLOPs (``2 * MACs``) of each unit."""
        return tuple(unit.flops for unit in self._units)

    @property
    def ops(self) -> tuple[int, ...]:
        """A job's ``ops`` (SPEC.md sections 1 and 7): FLOPs of each unit."""
        return self.flops

    @property
    def total_macs(self) -> int:
        """Multiply-accumulates of the whole model."""
        return sum(self.macs)

    @property
    def total_flops(self) -> int:
        """FLOPs of the whole model."""
        return 2 * self.total_macs


@dataclass(frozen=True)
class Profile(_Work):
    """A DNN as a chain of units with their work and output sizes.

    Attributes
    ----------
    model : str
        The model's name (``"resnet18"``).
    granularity : str
        ``"block"`` or ``"layer"``.
    input_shape : tuple of int
        Shape of one input sample (``(3, 224, 224)``).
    bits_per_element : int
        Bits per tensor element used for ``*_bits``.
    input_bits : int
        Size of the model's input.
    layers : tuple of LayerProfile
        The units, in order.
    """

    model: str
    granularity: str
    input_shape: tuple[int, ...]
    bits_per_element: int
    input_bits: int
    layers: tuple[LayerProfile, ...]

    @property
    def _units(self) -> tuple[LayerProfile, ...]:
        return self.layers

    @property
    def bits(self) -> tuple[int, ...]:
        """A job's ``bits`` (SPEC.md section 1): the input, then each unit's output."""
        return (self.input_bits, *(layer.output_bits for layer in self.layers))

    def to_dict(self) -> dict[str, Any]:
        """The profile as ``offbench profile --json`` prints it.

        Returns
        -------
        dict
            ``{"model", "convention", "total_macs", "input_bits", "layers": [{"name", "macs",
            "output_bits"}, ...]}``.
        """
        return {
            "model": self.model,
            "convention": CONVENTION,
            "total_macs": self.total_macs,
            "input_bits": self.input_bits,
            "layers": [
                {"name": layer.name, "macs": layer.macs, "output_bits": layer.output_bits}
                for layer in self.layers
            ],
        }


# --------------------------------------------------------------------------------------------
# Names and arguments


def builtin_models() -> tuple[str, ...]:
    """Names of the built-in models, sorted."""
    return tuple(sorted(_BUILTINS))


def _name_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_KEYS = {_name_key(name): name for name in _BUILTINS}


def resolve_model_name(name: str) -> str:
    """The canonical name of a built-in model, forgiving case, dashes and underscores.

    Parameters
    ----------
    name : str
        ``"ResNet-18"``, ``"resnet18"``, ``"MobileNetV2"``, ...

    Returns
    -------
    str
        One of :func:`builtin_models`.

    Raises
    ------
    UnknownModelError
        With the closest built-in names ("did you mean ...").
    """
    return _resolve_name(name, _KEYS, builtin_models(), "model")


def _resolve_name(name: str, keys: dict[str, str], choices: Sequence[str], kind: str) -> str:
    """``keys[_name_key(name)]``, or an :class:`UnknownModelError` naming the closest of
    ``keys`` and every one of ``choices`` (``kind``: "model", "DAG model")."""
    key = _name_key(str(name))
    if key in keys:
        return keys[key]
    close = [keys[match] for match in difflib.get_close_matches(key, list(keys), n=3, cutoff=0.7)]
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownModelError(
        f"unknown {kind} {name!r}.{hint} Built-in {kind}s: {', '.join(choices)}."
    )


def _check_granularity(granularity: str) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(
            f"The 'granularity' parameter must be one of {', '.join(map(repr, GRANULARITIES))}. "
            f"Got {granularity!r}."
        )
    return granularity


def _check_bits_per_element(bits_per_element: int) -> int:
    if isinstance(bits_per_element, bool) or not isinstance(bits_per_element, int) \
            or bits_per_element < 1:
        raise ValueError(
            "The 'bits_per_element' parameter must be an int in [1, inf) "
            f"(32 for float32, 8 for int8). Got {bits_per_element!r}."
        )
    return bits_per_element


def _check_input_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
        raise ValueError(
            "The 'input_shape' parameter must be the shape of one sample, without the batch "
            f"dimension, as positive ints (e.g. (3, 224, 224)). Got {input_shape!r}."
        )
    return shape


# --------------------------------------------------------------------------------------------
# The shipped table (no torch)


def _read_shipped_table(file_name: str, table_format: str, version: int,
                        module: str) -> dict[str, Any]:
    """The JSON table ``offbench/data/<file_name>``, checked to be ``table_format`` of
    ``version`` (else a RuntimeError telling to regenerate it with ``python -m <module>``)."""
    resource = importlib.resources.files("offbench") / _TABLE_DIR / file_name
    table = json.loads(resource.read_text(encoding="utf-8"))
    if table.get("format") != table_format or table.get("version") != version:
        raise RuntimeError(
            f"offbench/{_TABLE_DIR}/{file_name} is not an {table_format} table of version "
            f"{version}; regenerate it with `python -m {module}`."
        )
    return table


@functools.lru_cache(maxsize=1)
def _read_table() -> dict[str, Any]:
    return _read_shipped_table(_TABLE_FILE, TABLE_FORMAT, TABLE_VERSION, "offbench.profiles")


def load_builtin_profile(name: str, granularity: str = "block", *,
                         bits_per_element: int = DEFAULT_BITS_PER_ELEMENT) -> Profile:
    """The profile of a built-in model, read from the shipped table (torch is not needed).

    Parameters
    ----------
    name : str
        A built-in model (see :func:`builtin_models`); case, dashes and underscores are
        forgiven.
    granularity : {"block", "layer"}
        Residual blocks as one unit, or opened into their layers.
    bits_per_element : int
        Bits per tensor element of the transferred outputs (32 for float32).

    Returns
    -------
    Profile

    Raises
    ------
    UnknownModelError
        When ``name`` is not a built-in model; the message names the closest ones.
    """
    model = resolve_model_name(name)
    _check_granularity(granularity)
    _check_bits_per_element(bits_per_element)
    entry = _read_table()["models"][model]
    layers = tuple(
        LayerProfile(unit["name"], unit["macs"], unit["output_elements"],
                     unit["output_elements"] * bits_per_element)
        for unit in entry["granularities"][granularity]["layers"]
    )
    return Profile(model, granularity, tuple(entry["input_shape"]), bits_per_element,
                   entry["input_elements"] * bits_per_element, layers)


def get_profile(name: str, granularity: str = "block", *,
                bits_per_element: int = DEFAULT_BITS_PER_ELEMENT, live: bool = False) -> Profile:
    """The profile of a built-in model: from the shipped table, or profiled live with torch.

    Parameters
    ----------
    name : str
        A built-in model: ``"alexnet"``, ``"vgg16"``, ``"resnet18"`` or ``"mobilenet_v2"``.
    granularity : {"block", "layer"}
        Residual blocks as one unit, or opened into their layers.
    bits_per_element : int
        Bits per tensor element of the transferred outputs (32 for float32).
    live : bool
        Build the model (on torch's ``meta`` device: no weights, no arithmetic) and profile it,
        instead of reading the table. Needs torch.

    Returns
    -------
    Profile

    Raises
    ------
    UnknownModelError
        When ``name`` is not a built-in model; the message names the closest ones.

    Examples
    --------
    >>> p = get_profile("resnet18", granularity="block")
    >>> len(p.layers), p.total_macs
    (12, 1814073344)
    """
    if not live:
        return load_builtin_profile(name, granularity, bits_per_element=bits_per_element)
    model = resolve_model_name(name)
    spec = _BUILTINS[model]
    torch = _import_torch()
    from . import _zoo_models

    with torch.device("meta"):
        chain = getattr(_zoo_models, spec.builder)()
    return profile_model(chain, spec.input_shape, granularity,
                         bits_per_element=bits_per_element, name=model)


# --------------------------------------------------------------------------------------------
# Live profiling (torch, imported here only)


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "Profiling a model live needs torch: pip install 'offbench[torch]'. The built-in "
            "profiles can be read without it (get_profile(name) or load_builtin_profile(name))."
        ) from exc
    return torch


def _counted_types(nn) -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """(convolutions, transposed convolutions, modules with parameters that do no MACs)."""
    conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    conv_t = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    no_macs = tuple(getattr(nn, kind) for kind in (
        "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LayerNorm", "GroupNorm",
        "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "RMSNorm", "PReLU", "Embedding",
    ) if hasattr(nn, kind))
    return conv, conv_t, no_macs


class _MacCounter:
    """Forward hooks that add up the MACs of convolution and linear modules as they run."""

    def __init__(self, nn):
        self._linear = nn.Linear
        self._conv, self._conv_t, _ = _counted_types(nn)
        self.macs = 0

    def counts(self, module) -> bool:
        return isinstance(module, (self._linear, *self._conv, *self._conv_t))

    def hook(self, module, inputs, output) -> None:
        if isinstance(module, self._linear):
            self.macs += output.numel() * module.in_features
        elif isinstance(module, self._conv):
            self.macs += (output.numel() * (module.in_channels // module.groups)
                          * math.prod(module.kernel_size))
        else:
            self.macs += (inputs[0].numel() * (module.out_channels // module.groups)
                          * math.prod(module.kernel_size))

    def take(self) -> int:
        """The MACs counted since the last call."""
        macs, self.macs = self.macs, 0
        return macs


def _chain_items(model) -> list[tuple[str, Any]]:
    torch = _import_torch()
    nn = torch.nn
    if isinstance(model, nn.Sequential):
        return list(model.named_children())
    if isinstance(model, (list, tuple)) and model \
            and all(isinstance(item, nn.Module) for item in model):
        return [(str(index), item) for index, item in enumerate(model)]
    raise TypeError(
        "The 'model' parameter must be a chain: an nn.Sequential or a non-empty list of "
        f"nn.Module, each taking the previous one's output tensor. Got {type(model).__name__}. "
        "Wrap a model whose forward() is not a chain as one module, or rewrite it as a sequence."
    )


def profile_model(model, input_shape: Sequence[int], granularity: str = "block", *,
                  bits_per_element: int = DEFAULT_BITS_PER_ELEMENT,
                  name: str = "model") -> Profile:
    """Profile a chain of torch modules: MACs and output size of each unit.

    The chain is run once on a batch of one zero sample, on the device and dtype of the model's
    first parameter (torch's ``meta`` device works, and computes nothing), in eval mode and
    without gradients; the modules' training flags are restored afterwards.

    Parameters
    ----------
    model : nn.Sequential or list of nn.Module
        The chain; each item takes the previous item's output tensor.
    input_shape : sequence of int
        Shape of one input sample, without the batch dimension (``(3, 224, 224)``).
    granularity : {"block", "layer"}
        ``"block"``: the chain's items are the units. ``"layer"``: items that are themselves
        ``nn.Sequential`` are opened into their items, recursively (see the module docstring).
    bits_per_element : int
        Bits per tensor element of the transferred outputs (32 for float32).
    name : str
        The model's name in the profile.

    Returns
    -------
    Profile

    Raises
    ------
    TypeError
        When ``model`` is not a chain, or a unit does not return one tensor.

    Warns
    -----
    UserWarning
        For modules with parameters whose MACs are not counted (see the module docstring).

    Examples
    --------
    >>> import torch.nn as nn  # doctest: +SKIP
    >>> chain = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())  # doctest: +SKIP
    >>> p = profile_model(chain, (3, 10, 10))  # doctest: +SKIP
    >>> p.macs, p.bits  # doctest: +SKIP
    ((13824, 0), (9600, 16384, 16384))
    """
    torch = _import_torch()
    from ._zoo_models import Fused, Residual

    items = _chain_items(model)
    shape = _check_input_shape(input_shape)
    _check_granularity(granularity)
    _check_bits_per_element(bits_per_element)

    nn = torch.nn
    counter = _MacCounter(nn)
    _, _, no_macs = _counted_types(nn)
    modules = list({id(m): m for _, item in items for m in item.modules()}.values())
    for module in modules:
        if not counter.counts(module) and not isinstance(module, no_macs) \
                and any(True for _ in module.parameters(recurse=False)):
            warnings.warn(
                f"{type(module).__name__} has parameters but offbench.profiles counts the MACs of "
                "convolution and linear layers only: its work is counted as 0.",
                stacklevel=2,
            )
    reference = next((t for m in modules
                      for t in (*m.parameters(recurse=False), *m.buffers(recurse=False))
                      if t.is_floating_point()), None)
    x = torch.zeros((1, *shape), dtype=reference.dtype if reference is not None else torch.float32,
                    device=reference.device if reference is not None else "cpu")

    def is_chain(module) -> bool:
        return isinstance(module, nn.Sequential) and not isinstance(module, Fused)

    def elements(label: str, value) -> int:
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"unit {label!r} returned {type(value).__name__}, not a tensor: a "
                            "chain passes one tensor from unit to unit.")
        return value.numel()

    units: list[tuple[str, int, int]] = []

    def walk(parts: Iterable[tuple[str, Any]], x, prefix: str, carried: int):
        # ``carried``: elements that every cut here must also send (skip connections around it).
        for part_name, module in parts:
            label = prefix + part_name
            if granularity == "layer" and is_chain(module):
                x = walk(module.named_children(), x, label + ".", carried)
            elif granularity == "layer" and isinstance(module, Residual) and len(module.body) > 1:
                identity = x
                body = list(module.body.named_children())
                x = walk(body[:-1], x, label + ".", carried + identity.numel())
                last_name, last = body[-1]
                x = module.merge(last(x), identity)
                units.append((f"{label}.{last_name}", counter.take(),
                              elements(label, x) + carried))
            else:
                x = module(x)
                units.append((label, counter.take(), elements(label, x) + carried))
        return x

    training = [(m, m.training) for m in modules]
    handles = [m.register_forward_hook(counter.hook) for m in modules if counter.counts(m)]
    try:
        for module in modules:
            module.train(False)
        with torch.no_grad():
            walk(items, x, "", 0)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in training:
            module.training = mode

    layers = tuple(LayerProfile(label, macs, count, count * bits_per_element)
                   for label, macs, count in units)
    return Profile(str(name), granularity, shape, bits_per_element,
                   math.prod(shape) * bits_per_element, layers)


# --------------------------------------------------------------------------------------------
# Writing the table


def build_table() -> dict[str, Any]:
    """Profile every built-in model live, at both granularities, as the shipped table.

    Returns
    -------
    dict
        The content of ``offbench/data/profiles.json``.
    """
    models: dict[str, Any] = {}
    for model, spec in _BUILTINS.items():
        granularities = {}
        for granularity in GRANULARITIES:
            profile = get_profile(model, granularity, live=True)
            granularities[granularity] = {
                "total_macs": profile.total_macs,
                "total_flops": profile.total_flops,
                "layers": [
                    {"name": unit.name, "macs": unit.macs, "flops": unit.flops,
                     "output_elements": unit.output_elements, "output_bits": unit.output_bits}
                    for unit in profile.layers
                ],
            }
        models[model] = {
            "title": spec.title,
            "input_shape": list(spec.input_shape),
            "input_elements": math.prod(spec.input_shape),
            "input_bits": math.prod(spec.input_shape) * DEFAULT_BITS_PER_ELEMENT,
            "granularities": granularities,
        }
    return {
        "format": TABLE_FORMAT,
        "version": TABLE_VERSION,
        "generated_by": "python -m offbench.profiles",
        "convention": CONVENTION,
        "bits_per_element": DEFAULT_BITS_PER_ELEMENT,
        "models": models,
    }


def table_text(table: dict[str, Any]) -> str:
    """The table as JSON text: indented, with each unit and each shape on one line."""
    text = json.dumps(table, indent=2)
    innermost = r"\{[^{}\[\]]*\}|\[[^{}\[\]]*\]"
    return re.sub(innermost, lambda m: json.dumps(json.loads(m.group())), text) + "\n"


def _write_table_text(path: str | Path | None, file_name: str, text: str) -> Path:
    """Write a table's text to ``path``, by default ``offbench/data/<file_name>``."""
    target = Path(path) if path is not None else \
        Path(__file__).resolve().parent / _TABLE_DIR / file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def write_table(path: str | Path | None = None) -> Path:
    """Profile the built-in models live (needs torch) and write the table.

    Parameters
    ----------
    path : str or Path, optional
        Where to write; by default ``offbench/data/profiles.json`` beside this module.

    Returns
    -------
    Path
        The file written.
    """
    target = _write_table_text(path, _TABLE_FILE, table_text(build_table()))
    _read_table.cache_clear()
    return target


if __name__ == "__main__":
    written = write_table()
    for model_name in builtin_models():
        block = load_builtin_profile(model_name, "block")
        print(f"{model_name:<14} {block.total_macs / 1e9:7.3f} GMAC  "
              f"{len(block.layers):3d} blocks  "
              f"{len(load_builtin_profile(model_name, 'layer').layers):3d} layers")
    print(f"wrote {written}")
