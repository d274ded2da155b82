"""Bounded training workers: jobs that wait for a worker slot instead of all starting at once.

A sweep of 20 cells, or a stability study's seed runs, used to start every cell's worker at
once: 20 supervisors and 20 workers, each importing torch, of which all but one (on a CPU,
one per GPU otherwise) only waited for a device lock. A job submitted with ``slots`` (see
:func:`core.jobs.api.start_training`) is written ``queued`` with no process; it is started
by :func:`spawn_waiting` when fewer than ``slots`` training workers are alive:

- right after it is submitted, when a slot is free;
- by the supervisor of each training job as that job ends (:mod:`core.jobs.supervisor`);
- by any reader listing jobs (the pages poll), so a waiting job still starts when a
  supervisor was killed before it could hand its slot on.

Oldest first; one process decides at a time (a file lock), so two callers never fill the
same slot. Cancelling a waiting job ends it at once: it has no process.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Protocol

from core.errors import JobNotFoundError
from core.infra.locks import file_lock
from core.infra.process import process_alive
from core.jobs.records import DEVICE_LOCKS, JobInfo, job_ids

logger = logging.getLogger(__name__)


class JobManager(Protocol):
    """What this module needs of :class:`core.jobs.manager.JobManager` (which calls it)."""

    root: Path

    def read(self, job_id: str) -> JobInfo: ...

    def spawn(self, job_id: str) -> JobInfo: ...

    def cancel_flag(self, job_id: str) -> Path: ...


SPAWN_LOCK = "spawn.lock"


def is_waiting(job: JobInfo) -> bool:
    """A job submitted with a slot bound whose processes have not been started yet."""
    return job.slots is not None and job.is_active and job.supervisor_pid is None


def _holds_worker(job: JobInfo) -> bool:
    """A training job whose supervisor (and so, perhaps, its worker) is alive now, whatever
    its recorded state: a worker that has written ``done`` may still be exiting."""
    return (
        job.kind == "train"
        and job.supervisor_pid is not None
        and process_alive(job.supervisor_pid, job.supervisor_start)
    )


def _stored_jobs(manager: JobManager) -> list[JobInfo]:
    """Every readable job as stored, oldest first (no reconciling: no recursion)."""
    jobs = []
    for job_id in job_ids(manager.root):
        with contextlib.suppress(JobNotFoundError, json.JSONDecodeError, OSError):
            jobs.append(manager.read(job_id))
    jobs.sort(key=lambda j: (j.created_at, j.job_id))
    return jobs


def worker_counts(manager: JobManager) -> tuple[int, int]:
    """``(alive, waiting)``: training workers alive now, jobs waiting for a slot."""
    jobs = _stored_jobs(manager)
    return sum(_holds_worker(j) for j in jobs), sum(is_waiting(j) for j in jobs)


def spawn_waiting(manager: JobManager, *, ended: str | None = None) -> list[str]:
    """Start the oldest waiting jobs while fewer training workers than their ``slots`` are
    alive; the ids started. ``ended``: the job of the supervisor calling, whose worker has
    exited (the supervisor itself is still alive and is not counted)."""
    started: list[str] = []
    lock_dir = manager.root / DEVICE_LOCKS
    lock_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_dir / SPAWN_LOCK):
        jobs = _stored_jobs(manager)
        alive = sum(_holds_worker(j) for j in jobs if j.job_id != ended)
        for job in jobs:
            if not is_waiting(job) or job.slots is None or alive >= job.slots:
                continue
            if manager.cancel_flag(job.job_id).exists():
                continue  # being cancelled: it never needs a process
            manager.spawn(job.job_id)
            started.append(job.job_id)
            alive += 1
    if started:
        logger.info("Started %d waiting job(s): %s", len(started), ", ".join(started))
    return started
