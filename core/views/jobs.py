"""Background jobs as pages list them: one line per job, time left in words, and whether
any is still running (so a page knows to keep polling)."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import JobNotFoundError
from core.jobs.api import get_job, list_jobs
from core.jobs.queue import is_waiting
from core.jobs.records import JobInfo

JOBS_LISTED = 12  # a page lists (and polls on) the newest this many jobs of a kind


def fmt_seconds(seconds: float | None) -> str:
    """``"1 min 05 s"`` / ``"42 s"`` / ``"1 h 02 min"`` / ``"–"`` for a time left."""
    if seconds is None:
        return "–"
    s = max(round(seconds), 0)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def clamp_progress(progress: float) -> float:
    """A progress value a progress bar accepts (0..1)."""
    return min(max(progress, 0.0), 1.0)


@dataclass(frozen=True)
class JobLine:
    """One job as the jobs table shows it."""

    job_id: str
    label: str  # the run it trains, the dataset it extracts, else its id
    state: str
    heading: str  # "**label** · `state`  \ncreated"
    active: bool
    progress: float  # 0..1, for active jobs
    message: str  # what it is doing (active) or how it ended
    time_left: str  # "time left: 42 s" (active jobs)
    finished: str  # "finished 2026-01-01 10:00:00", "" while running or unknown
    error: str | None  # "Failed: ..." for a failed job
    log_tail: str | None  # kept on failure


def queue_place(ahead: int) -> str:
    """A waiting job's place in words: ``"next to start"``, ``"2 jobs ahead"``."""
    return "next to start" if ahead == 0 else f"{ahead} job{'s' * (ahead != 1)} ahead"


def queue_message(job: JobInfo, ahead: int) -> str:
    """A waiting job's place in the queue for a worker slot (``ahead``: jobs before it)."""
    slots = f"{job.slots} at a time" if job.slots else "one at a time"
    place = queue_place(ahead) + (" of it" if ahead else "")
    return f"waiting for a worker slot ({slots}): {place}"


def queue_places(jobs: list[JobInfo]) -> dict[str, int]:
    """For each job waiting for a worker slot, how many waiting jobs start before it (the
    queue starts the oldest first, :func:`core.jobs.queue.spawn_waiting`)."""
    waiting = sorted((j for j in jobs if is_waiting(j)), key=lambda j: (j.created_at, j.job_id))
    return {j.job_id: i for i, j in enumerate(waiting)}


def job_line(job: JobInfo, ahead: int | None = None) -> JobLine:
    """What the jobs table shows of ``job`` (``ahead``: its place when it waits for a slot)."""
    label = job.run_id or (job.params.get("name") if job.params else None) or job.job_id
    finished = (job.finished_at or "").replace("T", " ")[:19]
    failed = job.state == "failed"
    message = job.message or job.state
    if ahead is not None and is_waiting(job):
        message = queue_message(job, ahead)
    return JobLine(
        job_id=job.job_id,
        label=str(label),
        state=job.state,
        heading=f"**{label}** · `{job.state}`  \n{job.created_at.replace('T', ' ')[:19]}",
        active=job.is_active,
        progress=clamp_progress(job.progress),
        message=message,
        time_left=f"time left: {fmt_seconds(job.eta_s)}",
        finished=f"finished {finished}" if finished else "",
        error=f"Failed: {job.error or 'no error recorded'}" if failed else None,
        log_tail=job.log_tail if failed else None,
    )


def job_lines(kind: str, limit: int = JOBS_LISTED) -> list[JobLine]:
    """The newest ``limit`` jobs of ``kind`` (``"train"``, ``"extract"``), newest first; a
    job waiting for a worker slot says how many start before it."""
    jobs = list_jobs(kind)
    places = queue_places(jobs)
    return [job_line(j, places.get(j.job_id)) for j in jobs[:limit]]


def jobs_active(kind: str, limit: int = JOBS_LISTED) -> bool:
    """Whether any of the newest ``limit`` jobs of ``kind`` is queued or running."""
    return any(j.is_active for j in list_jobs(kind)[:limit])


def find_job(job_id: str) -> JobInfo | None:
    """Job ``job_id``, or None when it no longer exists (its folder was removed)."""
    try:
        return get_job(job_id)
    except JobNotFoundError:
        return None
