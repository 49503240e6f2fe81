"""A replay memory: a fixed-size ring buffer of named numpy columns, sampled with a seeded
generator (so the same seed draws the same batches)."""

from __future__ import annotations

import numpy as np


class ReplayMemory:
    """The last ``capacity`` rows of named columns (DROO's and DDLO's memory, DQN's buffer).

    Parameters
    ----------
    capacity : int
        Rows kept; the oldest is overwritten first.
    columns : dict
        ``name -> (shape, dtype)`` of one row, e.g. ``{"x": ((466,), np.float32),
        "y": ((50,), np.int8)}``.

    Examples
    --------
    >>> m = ReplayMemory(4, {"x": ((2,), np.float32), "y": ((), np.int64)})
    >>> m.add(x=[1, 2], y=3); len(m)
    1
    """

    def __init__(self, capacity: int, columns: dict):
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ValueError(f"capacity must be an int >= 1, got {capacity!r}")
        if not columns:
            raise ValueError("a replay memory needs at least one column")
        self.capacity = int(capacity)
        self.data = {k: np.zeros((self.capacity, *tuple(shape)), dtype=dtype)
                     for k, (shape, dtype) in columns.items()}
        self.size = 0
        self.next = 0
        self.added = 0

    def __len__(self) -> int:
        return self.size

    def add(self, **row) -> None:
        """Store one row (every column given)."""
        if set(row) != set(self.data):
            raise ValueError(f"a row needs exactly the columns {sorted(self.data)}, got {sorted(row)}")
        i = self.next
        for k, v in row.items():
            self.data[k][i] = v
        self.next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        self.added += 1

    def add_many(self, **rows) -> None:
        """Store ``n`` rows at once (every column given, each with ``n`` rows first), as ``n``
        calls of :meth:`add` in order would."""
        if set(rows) != set(self.data):
            raise ValueError(f"rows need exactly the columns {sorted(self.data)}, got {sorted(rows)}")
        n = len(next(iter(rows.values())))
        if any(len(v) != n for v in rows.values()):
            raise ValueError("every column needs the same number of rows")
        if n > self.capacity:  # only the last `capacity` rows survive, as with add
            rows = {k: v[n - self.capacity:] for k, v in rows.items()}
            self.added += n - self.capacity
            self.next = (self.next + n - self.capacity) % self.capacity
            n = self.capacity
        if self.next + n <= self.capacity:  # one slice (the same rows as the index array below)
            idx = slice(self.next, self.next + n)
        else:
            idx = (self.next + np.arange(n)) % self.capacity
        for k, v in rows.items():
            self.data[k][idx] = v
        self.next = (self.next + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        self.added += n

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict:
        """``batch_size`` rows drawn uniformly with replacement (copies)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay memory")
        idx = rng.integers(0, self.size, size=int(batch_size))
        return {k: v[idx] for k, v in self.data.items()}

    def sample_many(self, k: int, batch_size: int, rng: np.random.Generator) -> dict:
        """``k`` batches at once, each column ``(k, batch_size, ...)``: the same rows (the same
        draws from ``rng``) as ``k`` calls of :meth:`sample`, stacked."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay memory")
        idx = rng.integers(0, self.size, size=(int(k), int(batch_size)))
        # np.take of whole rows: the same copies as v[idx], fewer of numpy's indexing checks
        return {k_: np.take(v, idx, axis=0) for k_, v in self.data.items()}

    def recent(self, n: int) -> dict:
        """The last ``min(n, len)`` rows, oldest first (copies)."""
        n = min(int(n), self.size)
        idx = (self.next - n + np.arange(n)) % self.capacity
        return {k: v[idx] for k, v in self.data.items()}
