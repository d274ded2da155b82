"""The supervisor of one job: ``python -m core.jobs.supervisor JOB_ID``.

:meth:`core.jobs.manager.JobManager.spawn` starts this small process, detached, in place of
the worker. It starts the worker (``python -m core job-worker JOB_ID``) as its child, in a
process group of its own, and watches it until it ends, so a job's end is recorded on disk
whether or not anyone reads it:

- the worker exits without having recorded a final state (``kill -9``, the out-of-memory
  killer, a segfault, an exit before it started): the job, and its run for a training job,
  become ``failed`` with how it ended and the log tail, at most ``SUPERVISE_POLL_S`` later;
- the worker freezes (``SIGSTOP``, a deadlock): its heartbeat is older than
  ``FROZEN_AFTER_S`` while it is stopped or uses no CPU, so it is killed and recorded
  ``failed`` as frozen;
- a cancel asked meanwhile is recorded ``cancelled`` instead.

The worker asks the kernel to kill it if this process dies (``PR_SET_PDEATHSIG``), so a
worker never runs unsupervised; readers still reconcile a job whose processes are all gone
(:meth:`JobManager.get_job`). This module imports no torch and no numba: it stays small.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from core.infra.process import process_cpu_ticks, process_state
from core.jobs import queue
from core.jobs.manager import JobManager, default_manager
from core.jobs.records import (
    FROZEN_AFTER_S,
    HEARTBEAT_TIMEOUT_S,
    SUPERVISE_POLL_S,
    SUPERVISOR_ENV,
    JobInfo,
)

logger = logging.getLogger(__name__)


@dataclass
class _Watch:
    """What the supervisor remembers about its worker between looks."""

    cpu: int | None = None
    cpu_changed_at: float = 0.0
    stopped_since: float | None = None


def _ended_reason(pid: int, returncode: int) -> str:
    """How a worker that ended without recording a final state ended, in words."""
    if returncode < 0:
        sig = signal.Signals(-returncode)
        why = {
            signal.SIGKILL: "killed with SIGKILL (kill -9, or the out-of-memory killer)",
            signal.SIGSEGV: "crashed (segmentation fault)",
            signal.SIGABRT: "aborted (SIGABRT)",
            signal.SIGTERM: "terminated (SIGTERM)",
        }.get(sig, f"killed by {sig.name}")
        return f"The worker process (pid {pid}) died: {why}, without reporting a result"
    return (
        f"The worker process (pid {pid}) died: it exited with code {returncode} without "
        "reporting a result"
    )


def _frozen_reason(job: JobInfo, pid: int, watch: _Watch, now: float) -> str | None:
    """Why the worker counts as frozen now, or None while it shows signs of life."""
    state = process_state(pid)
    if state in ("T", "t"):
        watch.stopped_since = watch.stopped_since or now
    else:
        watch.stopped_since = None
    cpu = process_cpu_ticks(pid)
    if cpu != watch.cpu:
        watch.cpu, watch.cpu_changed_at = cpu, now
    # Only this worker's own beats count: until it records its pid, the heartbeat on record
    # belongs to an earlier attempt (a retried run keeps its old status record).
    own = job.pid == pid and job.heartbeat is not None
    beat_age = time.time() - job.heartbeat if own and job.heartbeat is not None else None
    if watch.stopped_since is not None and now - watch.stopped_since >= FROZEN_AFTER_S:
        return (
            f"The worker process (pid {pid}) was stopped (SIGSTOP) for "
            f"{now - watch.stopped_since:.0f} s and was killed"
        )
    if beat_age is None or beat_age < FROZEN_AFTER_S:
        return None
    if now - watch.cpu_changed_at >= FROZEN_AFTER_S:
        return (
            f"The worker process (pid {pid}) froze: no heartbeat for {beat_age:.0f} s and no "
            "CPU used; it was killed"
        )
    if beat_age >= HEARTBEAT_TIMEOUT_S:
        return (
            f"The worker process (pid {pid}) stopped responding ({beat_age:.0f} s without a "
            "heartbeat) and was killed"
        )
    return None


def _kill_group(pid: int, proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def supervise(manager: JobManager, job_id: str) -> int:
    """Start the job's worker and watch it to its end; the worker's exit code (or 1)."""
    job = manager.read(job_id)
    if job.is_final:
        return 0
    env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
    # stdout/stderr are inherited: the job's log file this process writes to.
    proc = subprocess.Popen(
        manager.worker_command(job_id), env=env, stdin=subprocess.DEVNULL, process_group=0
    )

    def forward(signum: int, frame: object) -> None:
        # SIGTERM (e.g. at shutdown) goes to the worker, which ends the job cleanly.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    watch = _Watch(cpu_changed_at=time.monotonic())
    while True:
        try:
            returncode = proc.wait(timeout=SUPERVISE_POLL_S)
            break
        except subprocess.TimeoutExpired:
            pass
        job = manager.read(job_id)
        if not job.is_active:
            continue  # the worker has recorded its end and is exiting
        reason = _frozen_reason(job, proc.pid, watch, time.monotonic())
        if reason is not None:
            _kill_group(proc.pid, proc)
            manager.record_death(job_id, reason)
            return 1
    if manager.read(job_id).is_active:
        manager.record_death(job_id, _ended_reason(proc.pid, returncode))
        return returncode if returncode > 0 else 1
    return returncode


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m core.jobs.supervisor JOB_ID\n")
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    manager = default_manager()
    try:
        return supervise(manager, args[0])
    finally:
        # This job's worker has ended: its slot goes to the oldest job waiting for one.
        try:
            queue.spawn_waiting(manager, ended=args[0])
        except Exception:  # never let a neighbour's trouble change this job's exit code
            logger.exception("could not start the jobs waiting for a worker slot")


if __name__ == "__main__":
    sys.exit(main())
