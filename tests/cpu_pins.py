"""Digests of floating-point results, pinned per CPU model.

Numba compiles for the host CPU (its vector width decides the order of a vectorized sum), torch
chooses its kernels by instruction set, and numpy's ``exp``/``log`` take an AVX-512 path where
there is one. A digest of float results taken on one CPU model therefore need not hold on
another: ``evaluate_many``'s pin, taken on an AVX-512 machine, did not hold on a ``znver3`` one
(tests/test_threads.py), nor did the milp-scale manifest before ``random_instance`` stopped
using numpy's ``exp``. The tests that pin such digests (bit-for-bit guards of speed-ups) keep one
per CPU model, as Numba names it (``llvmlite.binding.get_host_cpu_name()``); on a model without
a pin they say so (a skip naming the model), rather than fail on arithmetic that is right but
rounded in another order. What does not depend on the CPU (decisions equal across thread counts,
a streamed run equal to a whole one) is asserted everywhere by the tests themselves.
"""

from __future__ import annotations

import llvmlite.binding as _llvm
import pytest

CPU = _llvm.get_host_cpu_name()


def pinned(pins: dict):
    """``pins[CPU]``, or skip the test: no digest was taken on this CPU model."""
    if CPU not in pins:
        pytest.skip(f"no digest pinned for CPU model {CPU!r} (pinned on {', '.join(sorted(pins))}): "
                    "take it at the pinning commit on this model and add it")
    return pins[CPU]
