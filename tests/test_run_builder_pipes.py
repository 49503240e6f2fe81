"""A pool's builder process (:class:`offbench.run.units.Builder`) reads its tasks while it
writes results: the runner's write of a task larger than a pipe's buffer must not wait for the
builder to finish writing a result larger than one, which the runner is not reading yet (before
the builder read its tasks on a thread of its own, the two waited on each other for good: a
3,000-member run with tasks of 512 members hung with no row)."""

from __future__ import annotations

import pickle
import threading

from offbench.run.units import BuilderPool, Unit

SETTINGS = {"references": False, "ref_time_limit": None, "ref_kill_after": None, "threads": 1,
            "run_id": 0, "families_dirs": []}


def _units(start: int, n: int) -> list:
    """Members of dmro-v1 (seed 0) with no job: each comes back with its record (its JSON),
    about a kilobyte each."""
    return [Unit("s", i, ("family", "dmro-v1", 0, i), None, None, True, [])
            for i in range(start, start + n)]


def test_a_large_task_is_taken_while_a_large_result_is_written():
    pool = BuilderPool(1, 1)
    try:
        first = _units(0, 300)
        pool.submit(first, SETTINGS)  # its result: several hundred kB, more than a pipe holds
        # A second task of more than a pipe holds, sent while the first's result waits unread.
        big = dict(SETTINGS, padding="x" * (1 << 20))
        second = _units(300, 2)
        assert len(pickle.dumps((second, big))) > (1 << 20)
        sent = threading.Event()

        def send():
            pool.submit(second, big)
            sent.set()

        t = threading.Thread(target=send, daemon=True)
        t.start()
        assert sent.wait(60), "the runner's write of a task waited on the builder's result"
        got = [pool.next_done() for _ in range(2)]
        assert [tok for tok, _, _ in got] == [0, 1]
        assert all(err is None for _, _, err in got)
        results = got[0][1] + got[1][1]
        assert [r.member for r in results] == list(range(302))
        assert all(r.error is None and r.record is not None for r in results)
        assert len(pickle.dumps(got[0][1])) > (1 << 17)
    finally:
        pool.close()
