"""Adam on torch's multi-tensor ("foreach") path, without the optimizer's per-step Python, and
mostly in two Numba passes.

``torch.optim.Adam(params, lr, foreach=True)`` on CPU tensors runs, per step, eight
``torch._foreach_*`` calls over the parameters (the moments' updates, the square root, the bias
corrections, the update itself), each a pass over every parameter's memory; around them it
spends about as much CPU again in Python: the optimizer's step hooks and profiler record,
``_init_group``'s per-parameter state lookups, grouping the tensors by device and dtype, a
``.item()`` of every parameter's step tensor, lists of per-parameter bias corrections.
:class:`ForeachAdam` keeps the state itself and computes exactly torch's numbers (bitwise:
``tests/test_learn_adam.py`` checks parameters, moments and step counts against torch's
optimizer over many steps, with tensors of every size class, vector bodies and scalar tails).

**Why not torch's own fast path.** ``torch.optim.Adam(fused=True)`` runs on CPU in torch 2.13
and is faster (one step on the networks below, one torch thread, thread CPU, medians of 280 at
load 3.2: fused 133 us, foreach 346 us, this module 259 us), but its numbers are not the
foreach path's, and DMRO's shipped weights and
published results are pinned bitwise to the foreach path (tests/test_learned_fingerprint.py,
test_learned_fused.py, test_learned_adapt.py). Measured (torch 2.13.0+cpu, this build) on
dmro-v1's networks (``parallel_mlp(4, 76, (120, 80), 15)``, 80,540 parameters), lr 0.005,
``fused=True`` against ``foreach=True`` from the same weights: with the same random gradients
(normal, times 0.01) given to both, 2,531 parameters differ after one step and 7,626 after 10;
with each network's own gradients of ``tier_loss`` on the same random batches (4 x 128 rows),
2,535 after one step and 38,401 after 10. ``foreach=True`` itself is the reference; what it
costs is its Python, which this module removes.

**The foreach calls.** While parameters miss gradients now and then (their step counts part)
or before every parameter has its state, it makes torch's own ``_foreach_*`` calls with torch's
own arguments.

**Two passes.** Once every parameter has its state at one step count (from the second step of
a network whose parameters all get gradients), the step is one Numba pass for the moments, torch's
own ``_foreach_sqrt`` of the second moments, and one Numba pass for the update, with the
roundings of torch's kernels on this build (found element by element against them, and what
the test checks): ``lerp_`` with weight ``w = 1 - beta1`` (in float32) is ATen's two branches,
``fma(w, g - m, m)`` where ``|w| < 0.5`` (beta1 > 0.5, DMRO's 0.9) and ``fma(w - 1, g - m, g)``
otherwise (ATen's vectorized ``lerp`` is an explicit fused multiply-add of either, and its
scalar tail, ``m + w (g - m)`` or ``g - (g - m)(1 - w)``, is compiled to the same; checked
against ``torch.lerp`` element by element for beta1 from 0 to 0.99, 0.5 and its float32
neighbours among them, sizes 1 to 100,003), ``mul_`` then
``addcmul_`` is ``fma((1 - beta2) g, g, beta2 v)`` (the compiler contracts ``self + value * t1 *
t2``), ``div_``, ``add_`` and ``addcdiv_`` are ``p + (step_size m) / (s / bc2_sqrt + eps)`` in
float32, every scalar rounded to float32 first. The square root stays torch's: ATen computes it
with MKL's vector math, which is not the correctly rounded IEEE square root (16% of the
entries differ by an ulp from numpy's), so no pass of ours may take it.

Measured on dmro-v1's networks (K = 4, 76 -> 120 -> 80 -> 15: 80,540 parameters), one step
alone, two shared cores at load 4.5, medians of 300: torch's optimizer 570-610 us of CPU, the
two passes 285-337 us; in the training loop (after forward and backward) 1.43-1.49 ms against
1.09-1.10 ms.

The passes are taken only where :func:`passes_match_torch` has found them to give torch's
numbers at the optimizer's own hyper-parameters (once per process for each set), else the
foreach calls do every step.

What it covers is what DMRO's online optimizer uses: Adam with any betas in [0, 1) (DMRO's
(0.9, 0.999)), eps >= 0 (1e-8), a float learning rate >= 0 (checked as torch's optimizer checks
them, a ValueError naming the one that is wrong), no weight decay, no amsgrad, not maximizing,
real float CPU parameters (the passes: float32, contiguous). A parameter without a gradient at
a step is skipped, and its step count stays (as torch's optimizer does). The step count is a
Python int (torch keeps a float32 tensor per parameter, exact up to 2**24 steps; its
``.item()`` is the same float).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import types
from numba.extending import intrinsic

from .._numba import jit


@intrinsic
def _fma32(typingctx, a, b, c):
    """``a * b + c`` in float32 with one rounding (LLVM's ``fma``: the instruction where there is one)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@jit
def _adam_moments(g, m, v, w1, from_grad, b2, c2):
    """The moments' updates of one flat float32 parameter, element by element, with the
    roundings of torch's calls (see "Two passes" in the module docstring). ``lerp_(exp_avg,
    grad, w)``: ``fma(w1, g - m, m)`` where ``w1`` is ``w`` (``|w| < 0.5``), else
    ``fma(w1, g - m, g)`` where ``w1`` is ``w - 1`` (``from_grad``); one loop each, so that
    neither carries a branch per element."""
    if from_grad:
        for i in range(g.shape[0]):
            gi = g[i]
            m[i] = _fma32(w1, gi - m[i], gi)               # lerp_(exp_avg, grad, w), |w| >= 0.5
            v[i] = _fma32(c2 * gi, gi, v[i] * b2)          # mul_(beta2); addcmul_(grad, grad, 1 - beta2)
    else:
        for i in range(g.shape[0]):
            gi = g[i]
            m[i] = _fma32(w1, gi - m[i], m[i])             # lerp_(exp_avg, grad, w), |w| < 0.5
            v[i] = _fma32(c2 * gi, gi, v[i] * b2)          # mul_(beta2); addcmul_(grad, grad, 1 - beta2)


@jit
def _adam_update(p, m, s, bc2_sqrt, eps, step_size):
    """The parameter's update from the new first moment and ``s``, torch's square root of the
    second: ``div_(bc2_sqrt)``, ``add_(eps)``, ``addcdiv_(exp_avg, denom, step_size)``."""
    for i in range(p.shape[0]):
        p[i] = p[i] + (step_size * m[i]) / (s[i] / bc2_sqrt + eps)


@jit
def _adam_moments_all(gs, ms, vs, w1, from_grad, b2, c2):
    for k in range(len(gs)):
        _adam_moments(gs[k], ms[k], vs[k], w1, from_grad, b2, c2)


@jit
def _adam_update_all(ps, ms, ss, bc2_sqrt, eps, step_size):
    for k in range(len(ps)):
        _adam_update(ps[k], ms[k], ss[k], bc2_sqrt, eps, step_size)


def _flat_view(t):
    """A flat numpy view of a contiguous CPU tensor (its memory, not a copy)."""
    a = t.detach().numpy()
    assert a.flags.c_contiguous
    return a.reshape(-1)


def _lerp_weight(beta1: float):
    """``(w1, from_grad)`` for :func:`_adam_moments`: torch's lerp weight ``w = 1 - beta1`` as the
    kernel sees it (float32), ``is_lerp_weight_small`` (``|w| < 0.5``) choosing ATen's branch."""
    w = np.float32(1 - beta1)
    if abs(w) < np.float32(0.5):
        return w, False
    return np.float32(w - np.float32(1)), True


def passes_match_torch(lr: float = 0.005, betas=(0.9, 0.999), eps: float = 1e-8) -> bool:
    """Whether the two passes give torch's numbers on this machine (its build and CPU choose
    torch's kernels) at these hyper-parameters (``beta1`` chooses lerp's branch): three steps on
    tensors with vector bodies and scalar tails, both ways, parameters and both moments compared
    byte for byte; checked once per process for each set of hyper-parameters. Where they do not,
    :class:`ForeachAdam` makes torch's foreach calls every step (the same numbers, at the
    foreach path's speed)."""
    beta1, beta2 = betas
    return _passes_match_torch(float(lr), float(beta1), float(beta2), float(eps))


@functools.lru_cache(maxsize=None)
def _passes_match_torch(lr: float, beta1: float, beta2: float, eps: float) -> bool:
    import torch

    g = torch.Generator().manual_seed(0)
    shapes = [(3,), (13,), (64,), (4, 1, 15), (1001,)]
    ref = [torch.randn(*s, generator=g) for s in shapes]
    ours = [t.clone() for t in ref]
    a = ForeachAdam(ours, lr=lr, betas=(beta1, beta2), eps=eps, fused=False)
    b = ForeachAdam(ref, lr=lr, betas=(beta1, beta2), eps=eps, fused=False)
    for step in range(3):
        grads = [torch.randn(t.shape, generator=g) * 10.0 ** (step - 1) for t in ref]
        for t, u, gr in zip(ours, ref, grads):
            t.grad, u.grad = gr.clone(), gr
        if step == 0:
            a.step()
        else:
            if a._flat is None:
                a._flat = tuple(tuple(_flat_view(t) for t in ts) for ts in (a.params, a.exp_avgs, a.exp_avg_sqs))
            a._passes()
        b.step()
    return all(x.numpy().tobytes() == y.numpy().tobytes()
               for xs, ys in ((ours, ref), (a.exp_avgs, b.exp_avgs), (a.exp_avg_sqs, b.exp_avg_sqs))
               for x, y in zip(xs, ys))


def _number(value, what: str, low: float, high: float | None = None) -> float:
    """``value`` as a float in ``[low, high)`` (``[low, inf)`` without ``high``), else a
    ValueError naming ``what`` (as torch.optim.Adam checks them)."""
    bounds = f"in [{low:g}, {high:g})" if high is not None else f">= {low:g}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number {bounds}, got {value!r}") from None
    if not (low <= x and (high is None or x < high)):
        raise ValueError(f"{what} must be {bounds}, got {value!r}")
    return x


class ForeachAdam:
    """Adam with torch's foreach arithmetic (see the module docstring).

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        Real floating-point CPU parameters.
    lr : float
        The learning rate (>= 0).
    betas : tuple of float
    eps : float
    fused : bool
        Take the two passes when they apply (and :func:`passes_match_torch` says that they
        reproduce torch's kernels on this machine); False: torch's foreach calls every step.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, fused: bool = True):
        import torch

        self.params = list(params)
        if not self.params:
            raise ValueError("ForeachAdam needs at least one parameter")
        for p in self.params:
            if p.device.type != "cpu" or not p.is_floating_point() or p.is_complex():
                raise ValueError(f"ForeachAdam takes real floating-point CPU parameters, got "
                                 f"{p.dtype} on {p.device}")
        self.lr = _number(lr, "lr", 0.0)
        self.eps = _number(eps, "eps", 0.0)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be two numbers (beta1, beta2), got {betas!r}") from None
        self.beta1 = _number(beta1, "betas[0] (beta1)", 0.0, 1.0)
        self.beta2 = _number(beta2, "betas[1] (beta2)", 0.0, 1.0)
        self.exp_avgs: list = [None] * len(self.params)
        self.exp_avg_sqs: list = [None] * len(self.params)
        self.steps = [0] * len(self.params)
        self._all = None  # the moments' lists when every parameter has its state (the usual case)
        self.fused = bool(fused)
        # flat float32 views of the parameters and moments while every parameter has its state at
        # one step count: the two passes' operands
        self._flat = None
        self._no_grad = torch.no_grad
        self._lerp = _lerp_weight(self.beta1)

    def zero_grad(self) -> None:
        """Drop the gradients (``set_to_none``, as ``Optimizer.zero_grad`` by default)."""
        for p in self.params:
            p.grad = None

    def _passes(self) -> None:
        """The step in two Numba passes around torch's square root (see "Two passes")."""
        import torch

        n = self.steps[0] + 1
        self.steps = [n] * len(self.params)
        beta1, beta2 = self.beta1, self.beta2
        P, M, V = self._flat
        _adam_moments_all(tuple(p.grad.detach().numpy().reshape(-1) for p in self.params), M, V,
                          *self._lerp, np.float32(beta2), np.float32(1 - beta2))
        # torch's own square root (MKL's vector math on this build, not IEEE's correctly
        # rounded one), on the moments as torch keeps them
        S = tuple(t.numpy().reshape(-1) for t in torch._foreach_sqrt(self._all[1]))
        _adam_update_all(P, M, S, np.float32((1 - beta2 ** float(n)) ** 0.5),
                         np.float32(self.eps), np.float32((self.lr / (1 - beta1 ** float(n))) * -1))

    def step(self) -> None:
        """One Adam step on the parameters that have a gradient."""
        import torch

        ps = self.params
        grads = [p.grad for p in ps]
        if self._flat is not None and None not in grads:  # every parameter at the same step
            self._passes()
            return
        if self._all is not None and None not in grads:
            params, exp_avgs, exp_avg_sqs = ps, self._all[0], self._all[1]
            idx = None
        else:
            idx = [i for i, g in enumerate(grads) if g is not None]
            if not idx:
                return
            self._flat = None  # the step counts may part here
            for i in idx:
                if self.exp_avgs[i] is None:
                    self.exp_avgs[i] = torch.zeros_like(ps[i], memory_format=torch.preserve_format)
                    self.exp_avg_sqs[i] = torch.zeros_like(ps[i], memory_format=torch.preserve_format)
            if len(idx) == len(ps):
                self._all = (self.exp_avgs, self.exp_avg_sqs)
            params = [ps[i] for i in idx]
            grads = [grads[i] for i in idx]
            exp_avgs = [self.exp_avgs[i] for i in idx]
            exp_avg_sqs = [self.exp_avg_sqs[i] for i in idx]
        beta1, beta2, lr = self.beta1, self.beta2, self.lr
        steps = self.steps
        for i in (range(len(ps)) if idx is None else idx):
            steps[i] += 1
        ns = steps if idx is None else [steps[i] for i in idx]
        # torch's _multi_tensor_adam (capturable off), call for call
        with self._no_grad():
            torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
            torch._foreach_mul_(exp_avg_sqs, beta2)
            torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
            step_size = [(lr / (1 - beta1 ** float(n))) * -1 for n in ns]
            bias_correction2_sqrt = [(1 - beta2 ** float(n)) ** 0.5 for n in ns]
            denom = torch._foreach_sqrt(exp_avg_sqs)
            torch._foreach_div_(denom, bias_correction2_sqrt)
            torch._foreach_add_(denom, self.eps)
            torch._foreach_addcdiv_(params, exp_avgs, denom, step_size)
        if (self.fused and self._all is not None and len(set(steps)) == 1
                and all(p.dtype == torch.float32 and p.is_contiguous() for p in ps)
                and passes_match_torch(self.lr, (self.beta1, self.beta2), self.eps)):
            self._flat = tuple(tuple(_flat_view(t) for t in ts) for ts in (ps, self.exp_avgs, self.exp_avg_sqs))
