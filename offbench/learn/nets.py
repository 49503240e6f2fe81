"""Small network builders (torch, imported when called)."""

from __future__ import annotations

from typing import Sequence

_ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "none")


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, *, activation: str = "relu",
        out_activation: str = "none"):
    """A multilayer perceptron ``in_dim -> hidden... -> out_dim`` as a ``torch.nn.Sequential``.

    DROO's and DDLO's networks are ``mlp(n_in, (120, 80), n_out, out_activation="sigmoid")``.
    Weights are initialized by torch's defaults from its global generator (seed it first with
    :func:`offbench.learn.seed_everything`).
    """
    import torch.nn as nn

    for name, a in (("activation", activation), ("out_activation", out_activation)):
        if a not in _ACTIVATIONS:
            raise ValueError(f"{name} must be one of {_ACTIVATIONS}, got {a!r}")
    dims = [int(in_dim), *(int(h) for h in hidden), int(out_dim)]
    if any(d < 1 for d in dims):
        raise ValueError(f"layer sizes must be >= 1, got {dims}")
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU}
    layers = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        last = i == len(dims) - 2
        name = out_activation if last else activation
        if name != "none":
            layers.append(act[name]())
    return nn.Sequential(*layers)


def n_parameters(module) -> int:
    """The number of trainable numbers in a module."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))
