"""The in-process executor's hard limit (``SIGALRM``): its handler is installed once for a
run of jobs (:meth:`offbench.run.InProcessExecutor.run`), a job over its limit is stopped and
the next one runs under its own, and the handler that was there before is put back when the
jobs are done or the caller stops early; :func:`~offbench.run.execute_with_alarm` called alone
installs and restores it itself."""

from __future__ import annotations

import signal

from offbench.run import InProcessExecutor, execute_with_alarm
from tests.test_run_loose_ends import _job


def _mine(signum, frame):  # a handler of the caller's, to be put back
    raise AssertionError("the caller's handler must not fire")


def test_a_run_of_jobs_installs_the_alarm_once_and_puts_back_the_callers_handler():
    old = signal.signal(signal.SIGALRM, _mine)
    try:
        jobs = [_job(0, "fx-sleep-v1", {"seconds": 5.0}, kill_after=0.3),
                _job(1, "fx-sleep-v1", {"seconds": 0.0}, kill_after=60.0),
                _job(2, "fx-sleep-v1", {"seconds": 5.0}, kill_after=0.3)]
        seen = []
        for job, out in InProcessExecutor().run(jobs, lambda j: None):
            assert signal.getsignal(signal.SIGALRM) is not _mine  # installed for the run
            assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # disarmed between jobs
            seen.append((job.index, out.status))
        assert seen == [(0, "timeout"), (1, "feasible"), (2, "timeout")]
        assert signal.getsignal(signal.SIGALRM) is _mine
        # a caller that stops early: the handler is put back when the generator closes
        gen = InProcessExecutor().run(jobs[1:2] * 3, lambda j: None)
        next(gen)
        gen.close()
        assert signal.getsignal(signal.SIGALRM) is _mine
        # alone: installed and restored around the one job
        out = execute_with_alarm(_job(3, "fx-sleep-v1", {"seconds": 5.0}, kill_after=0.3))
        assert out.status == "timeout" and "kill_after=0.3" in out.error
        assert signal.getsignal(signal.SIGALRM) is _mine
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
