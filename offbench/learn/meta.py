"""First-order meta-learning: one Reptile step (Nichol, Achiam, Schulman 2018).

Given a model's current initialization ``theta`` and a batch of tasks, Reptile adapts a copy of
``theta`` to each task with a few steps of an ordinary optimizer (the *inner* loop), then moves
``theta`` towards the mean of the adapted weights (the *outer* step)::

    theta <- theta + outer_lr * mean_over_tasks(phi_task - theta)

No second derivatives are taken (first order). MRLCO (Wang et al., IEEE TPDS 2021) meta-trains
its offloading policy this way with inner lr 5e-4, outer lr 5e-4, 10 tasks per meta-batch and 1
inner step; the learners that call :func:`reptile_step` state the values they use and why.
"""

from __future__ import annotations

from typing import Callable, Sequence


def reptile_step(module, tasks: Sequence[Callable], *, inner_steps: int, inner_lr: float,
                 outer_lr: float) -> dict:
    """One Reptile meta-update of ``module``'s parameters, in place.

    Parameters
    ----------
    module : torch.nn.Module
        Its parameters are the initialization ``theta``; on return they hold the new one.
    tasks : sequence of callables
        ``task(module, step) -> loss`` (a scalar tensor) on that task's data; called
        ``inner_steps`` times per task, in order.
    inner_steps : int
        Optimizer steps per task (>= 1).
    inner_lr : float
        The inner optimizer's (Adam's) learning rate; it starts afresh for every task.
    outer_lr : float
        The outer step size, in (0, 1]: 1 takes the mean of the adapted weights.

    Returns
    -------
    dict
        ``{"meta_loss": mean over tasks of the first inner loss, "meta_step": the norm of the
        outer update}``.
    """
    import torch

    if inner_steps < 1 or not tasks:
        raise ValueError(f"need inner_steps >= 1 and at least one task, got {inner_steps}, {len(tasks)}")
    if not (0 < outer_lr <= 1):
        raise ValueError(f"outer_lr must be in (0, 1], got {outer_lr}")
    params = [p for p in module.parameters() if p.requires_grad]
    theta = [p.detach().clone() for p in params]
    acc = [torch.zeros_like(p) for p in params]
    first_losses = []
    for task in tasks:
        with torch.no_grad():
            for p, t in zip(params, theta):
                p.copy_(t)
        opt = torch.optim.Adam(params, lr=inner_lr)
        for s in range(int(inner_steps)):
            loss = task(module, s)
            if s == 0:
                first_losses.append(float(loss.detach()))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            for a, p, t in zip(acc, params, theta):
                a.add_(p - t)
    n = float(len(tasks))
    norm2 = 0.0
    with torch.no_grad():
        for p, t, a in zip(params, theta, acc):
            step = a * (outer_lr / n)
            norm2 += float((step * step).sum())
            p.copy_(t + step)
    return {"meta_loss": sum(first_losses) / n, "meta_step": norm2 ** 0.5}
