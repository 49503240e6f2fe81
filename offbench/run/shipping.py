"""An instance and its cost tables as they travel to a sandbox: one block of bytes.

A sandbox (:mod:`offbench.run.sandbox`) used to get each job's instance as a pickle (numpy's
pickling of each array: 45 us to write and 36 to read for a dmro-v1 member's 13 arrays) and then
built the member's cost tables again (:func:`offbench.cost.build_tables`, 72 us), although the
process that sends the job has them already (it priced the member with them for its record, and
judges the answer with them). :func:`ship` packs the instance's fields and its tables into one
``bytes`` object laid out array by array (:class:`Shipped`); the sandbox makes each array a view
of those bytes (:meth:`Shipped.unpack`), with the tables cached on the instance as
:func:`offbench.cost.tables` caches them, so that it builds nothing.

Written by hand: numpy's arrays pickled out of band (protocol 5) still cost their per-array
reduce, which is what this avoids (one ``bytes.join`` on the sending side, one ``np.ndarray``
view per array on the other), and a shared-memory segment (:mod:`multiprocessing.shared_memory`,
a sealed memfd) would save only the copy through the pipe (a few microseconds a member) for file
descriptors to pass, seal and release per message. Here nothing is shared: the sandbox gets its own
copy (bytes, so its arrays are read-only views that cannot be made writeable, as an unpickled
generated member's are), and the sender keeps judging with its own instance and tables; what a
solver does to its copy reaches no one. The layout of the bytes (each array's dtype, shape,
order and offset) depends only on the arrays' dtypes, shapes and strides, so it is computed once
per structure (a family's members share one) and pickled once per message; the blocks travel
after the message's pickle (:func:`dumps`, :func:`loads`), not inside it.

Measured (issue 14; ``offbench run --family dmro-v1 --count 8400 --solver all-device --reference
none -j 2``, CPU of each process of the tree, marginal over a 400-member run, three runs each
alternated with the code before, load 3-4): the sandbox 267 against 336 us a job, the builder
671 against 648 (packing costs more than pickling the instance alone), 1.03 against 1.07 ms a
job in all, with :attr:`~offbench.run.sandbox.Sandbox.GATHER`.
"""

from __future__ import annotations

import pickle
import struct
from itertools import chain

import numpy as np

#: Arrays start at multiples of this many bytes of the block (so that each is aligned as numpy
#: and Numba expect, as an unpickled array is).
ALIGN = 16
_PAD = [b"\0" * k for k in range(ALIGN)]
#: Layouts computed, by structure (cleared when it holds more than this many).
_LAYOUTS: dict = {}
_LAYOUTS_MAX = 256


class Layout:
    """Where each array of an instance's fields and tables lies in a :class:`Shipped` block:
    the instance's class, the field names of its arrays, and per array (fields first, then the
    tables) its dtype, shape, order (0: C, 1: Fortran, sent as its C-ordered transpose, 2: not
    contiguous, sent as a C-ordered copy) and offset; ``pads``: the zero bytes after each."""

    __slots__ = ("cls", "keys", "specs", "pads", "size")

    def __init__(self, cls, keys, specs, pads, size):
        self.cls, self.keys, self.specs, self.pads, self.size = cls, keys, specs, pads, size

    def __getstate__(self):
        return (self.cls, self.keys, self.specs, self.pads, self.size)

    def __setstate__(self, state):
        self.cls, self.keys, self.specs, self.pads, self.size = state


def _layout(cls, keys: tuple, arrays: list) -> Layout | None:
    """The layout of these arrays, or None where one cannot travel as bytes (an ndarray
    subclass, objects)."""
    specs, pads = [], []
    off = 0
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype.hasobject:
            return None
        if a.flags.c_contiguous:
            order = 0
        elif a.flags.f_contiguous:
            order = 1
        else:
            order = 2
        specs.append((a.dtype, a.shape, order, off))
        off += a.nbytes
        pad = -off % ALIGN
        pads.append(_PAD[pad])
        off += pad
    return Layout(cls, keys, tuple(specs), tuple(pads), off)


class Shipped:
    """An instance with its cost tables, packed for a sandbox (:func:`ship`): the scalar
    fields, the :class:`Layout` and the bytes of every array. :meth:`unpack` (in the sandbox)
    gives the instance, once per object (jobs of one instance in one message share it, as
    pickle shares an instance they hold)."""

    __slots__ = ("layout", "scalars", "data", "_inst")

    def __init__(self, layout: Layout, scalars: dict, data: bytes):
        self.layout, self.scalars, self.data, self._inst = layout, scalars, data, None

    def __reduce_ex__(self, protocol):
        # Pickled by :func:`dumps`, the bytes go out of band (pickle's large bytes after small
        # objects cost 20 us per member in band); pickled elsewhere, in band.
        data = pickle.PickleBuffer(self.data) if protocol >= 5 else self.data
        return (_rebuild, (self.layout, self.scalars, data))

    def unpack(self):
        """The instance (its arrays read-only views of :attr:`data`), its cost tables cached
        on it as :func:`offbench.cost.tables` would have built them."""
        if self._inst is not None:
            return self._inst
        from ..cost import Tables

        lay, buf = self.layout, self.data
        views = []
        for dtype, shape, order, off in lay.specs:
            if order == 1:
                views.append(np.ndarray(shape[::-1], dtype, buf, off).T)
            else:
                views.append(np.ndarray(shape, dtype, buf, off))
        inst = object.__new__(lay.cls)
        d = inst.__dict__
        d.update(self.scalars)
        n = len(lay.keys)
        d.update(zip(lay.keys, views[:n]))
        d["_offbench_tables"] = Tables(*views[n:])
        self._inst = inst
        return inst


def _rebuild(layout, scalars, data):
    return Shipped(layout, scalars, data)


def ship(inst):
    """``inst`` packed for a sandbox (:class:`Shipped`), its cost tables built here if they
    are not yet (they are cached on ``inst``, where this process's referee finds them); the
    instance itself where it holds an array that cannot travel as bytes (objects, an ndarray
    subclass): it is then pickled, and the sandbox builds its tables, as before."""
    from ..cost import tables

    try:
        t = tables(inst)
    except Exception:  # the sandbox meets the same error when it builds them: the job's own
        return inst
    state = inst.__getstate__()
    keys = tuple([k for k, v in state.items() if isinstance(v, np.ndarray)])
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    arrays = [state[k] for k in keys]
    arrays += t
    # The layout depends on these only (the same for every member of one structure).
    sig = (type(inst), keys, *[(type(a), a.dtype, a.shape, a.strides) for a in arrays])
    lay = _LAYOUTS.get(sig, False)
    if lay is False:
        lay = _layout(type(inst), keys, arrays)
        if len(_LAYOUTS) >= _LAYOUTS_MAX:
            _LAYOUTS.clear()
        _LAYOUTS[sig] = lay
    if lay is None:
        return inst
    if any(spec[2] for spec in lay.specs):
        arrays = [a if spec[2] == 0 else a.T if spec[2] == 1 else np.ascontiguousarray(a)
                  for a, spec in zip(arrays, lay.specs)]
    parts = chain.from_iterable(zip(arrays, lay.pads))
    return Shipped(lay, scalars, b"".join(parts))


def ship_jobs(jobs, memo: dict | None = None) -> list:
    """The sandbox's copies of these jobs (:func:`~offbench.run.execute.sandbox_job`), each
    instance packed (:func:`ship`) once however many of the jobs hold it."""
    from .execute import sandbox_job

    memo = {} if memo is None else memo
    out = []
    for job in jobs:
        sj = sandbox_job(job)
        inst = sj.instance
        if inst is not None:
            s = memo.get(id(inst))
            if s is None:
                try:
                    packed = ship(inst)
                except Exception:  # (not expected) the instance is pickled, as before
                    packed = inst
                s = memo[id(inst)] = (packed, inst)  # (the instance kept: its id stays its own)
            sj.instance = s[0]
        out.append(sj)
    return out


def unship(job) -> None:
    """In the sandbox: a job's packed instance (:class:`Shipped`) made an instance again."""
    if type(job.instance) is Shipped:
        job.instance = job.instance.unpack()


#: A :func:`dumps` message starts with this (a pickle never does: it starts with ``0x80``), then
#: the number of buffers and the pickle's length, then each buffer's length (8-byte integers).
MAGIC = b"OBSHIP01"
_I = struct.Struct("<q")


def dumps(obj) -> bytes:
    """``obj`` (jobs, with :class:`Shipped` instances) as one message: a pickle whose
    :class:`Shipped` bytes travel out of band, after it, each at a multiple of :data:`ALIGN`
    bytes from the message's start (so that the sandbox's views of them are aligned)."""
    bufs: list = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
    if not bufs:
        return head
    sizes = [memoryview(b).nbytes for b in bufs]
    preamble = MAGIC + _I.pack(len(bufs)) + _I.pack(len(head)) + b"".join(_I.pack(n) for n in sizes)
    parts = [preamble, head]
    at = len(preamble) + len(head)
    for b, n in zip(bufs, sizes):
        pad = -at % ALIGN
        if pad:
            parts.append(_PAD[pad])
            at += pad
        parts.append(b.raw())
        at += n
    return b"".join(parts)


def loads(data: bytes):
    """What :func:`dumps` sent (or a plain pickle); the :class:`Shipped` bytes are read-only
    views of ``data``."""
    if not data.startswith(MAGIC):
        return pickle.loads(data)
    mv = memoryview(data)
    at = len(MAGIC)
    n = _I.unpack_from(data, at)[0]
    head_len = _I.unpack_from(data, at + 8)[0]
    sizes = [_I.unpack_from(data, at + 16 + 8 * k)[0] for k in range(n)]
    at += 16 + 8 * n
    head = mv[at:at + head_len]
    at += head_len
    bufs = []
    for size in sizes:
        at += -at % ALIGN
        bufs.append(mv[at:at + size])
        at += size
    return pickle.loads(head, buffers=bufs)
