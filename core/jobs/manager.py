"""The job store and its control: submit, read, reconcile, cancel and wait for jobs.

A job is a folder ``jobs_root()/<job_id>/`` holding ``job.json``, ``log.txt`` (the
worker's stdout and stderr) and, once someone asks, a ``cancel`` flag file. The worker
(:mod:`core.jobs.worker`) is ``python -m core job-worker JOB_ID`` started in a new session,
so it outlives the Streamlit script that started it; every reader, in any process, sees the
same files. Nothing lives in memory.

A training job's state is its run's ``status.json`` (one status record per run): this
module reads it from there and writes it there. Extraction and states jobs keep theirs in
``job.json``. A worker that dies without reporting (``kill -9``, out of memory) is noticed
by whoever reads the job next (its pid is gone or a zombie, or its heartbeat stopped) and
reported ``failed`` with its log tail: reconciling is this package's job alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import (
    InvalidJobIdError,
    JobError,
    JobNotFoundError,
    RunNotFoundError,
    UnsafePathError,
)
from core.infra.io import atomic_write_json, read_json
from core.infra.locks import file_lock
from core.infra.paths import PROJECT_ROOT, display_path, jobs_root, resolve_under
from core.infra.process import age_s, process_alive, process_start_time, tail_text, utc_now
from core.jobs import queue, slots
from core.jobs.records import (
    CANCEL_FLAG,
    DEVICE_LOCKS,
    HEARTBEAT_TIMEOUT_S,
    JOB_FILE,
    JOB_ID_RE,
    JOB_KINDS,
    JOBS_ROOT_ENV,
    LOCK_FILE,
    LOG_FILE,
    LOG_TAIL_LINES,
    SPAWN_TIMEOUT_S,
    STATE_FIELDS,
    JobInfo,
    job_ids,
    new_job_id,
)
from core.runs.status import FINAL_STATES, RunStatus
from core.runs.store import Run, get_run

if TYPE_CHECKING:  # devices imports torch: pages reading jobs never need it
    from core.model.devices import DeviceInfo

logger = logging.getLogger(__name__)

# Popen handles of workers this process started: polled so killed children are reaped
# (a zombie still answers kill(pid, 0)).
_CHILDREN: list[subprocess.Popen[bytes]] = []


def _reap() -> None:
    for proc in list(_CHILDREN):
        if proc.poll() is not None:
            _CHILDREN.remove(proc)


class JobManager:
    """Jobs stored under ``root`` (default ``jobs_root()``); stateless apart from the path."""

    def __init__(self, root: Path | None = None, devices: list[DeviceInfo] | None = None) -> None:
        self.root = Path(root) if root is not None else jobs_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self._devices = devices  # None: detect when a worker first needs one

    # -- files ----------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        """Folder of ``job_id``; refuses anything that is not a job id."""
        if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
            raise InvalidJobIdError(
                f"{job_id!r} is not a job id (expected e.g. '20261126T084012-3f9a0c')."
            )
        try:
            return resolve_under(self.root, job_id)
        except UnsafePathError as exc:
            raise InvalidJobIdError(str(exc)) from exc

    def log_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / LOG_FILE

    def cancel_flag(self, job_id: str) -> Path:
        return self.job_dir(job_id) / CANCEL_FLAG

    def log_tail(self, job_id: str, n: int = LOG_TAIL_LINES) -> str:
        """Last ``n`` lines of the worker's log."""
        return tail_text(self.log_path(job_id), n)

    def _read_file(self, job_id: str) -> JobInfo:
        path = self.job_dir(job_id) / JOB_FILE
        try:
            return JobInfo.from_dict(read_json(path))
        except FileNotFoundError:
            raise JobNotFoundError(f"No job {job_id}; it may have been cleaned up.") from None
        except (ValueError, TypeError, OSError) as exc:
            # A torn or hand-edited record: shown as a broken job, never a failed read.
            logger.warning("job %s: unreadable job.json (%s)", job_id, exc)
            return JobInfo(
                job_id=job_id,
                kind="unknown",
                state="broken",
                message="job record unreadable",
                error=f"Job {job_id}'s record (job.json) is unreadable ({type(exc).__name__}).",
            )

    @staticmethod
    def _state_record(job: JobInfo) -> tuple[Run, RunStatus] | None:
        """The run whose status record holds this job's state, and that record (None: the
        state is in job.json: an extraction job, or a job that has ended)."""
        if job.kind != "train" or not job.run_id or job.is_final:
            return None
        try:
            run = get_run(job.run_id)
        except RunNotFoundError:
            return None
        st = run.status()
        return (run, st) if st.job_id == job.job_id else None

    @staticmethod
    def _with_state(job: JobInfo, st: RunStatus) -> JobInfo:
        """``job`` with its state fields (and last update) read from the run's record."""
        record = st.to_dict()
        state = {k: record[k] for k in STATE_FIELDS}
        return JobInfo.from_dict(
            {**job.to_dict(), **state, "updated_at": st.updated_at or job.updated_at}
        )

    def read(self, job_id: str) -> JobInfo:
        """The job as stored, without reconciling a dead worker."""
        job = self._read_file(job_id)
        held = self._state_record(job)
        return job if held is None else self._with_state(job, held[1])

    @contextlib.contextmanager
    def _locked(self, job_id: str) -> Iterator[None]:
        with file_lock(self.job_dir(job_id) / LOCK_FILE):
            yield

    def update(self, job_id: str, **changes: Any) -> JobInfo:
        """Record ``changes`` under the job's lock: state fields go to the job's status record
        (its run's ``status.json`` for a training job), the rest to ``job.json``."""
        with self._locked(job_id):
            return self._write_locked(job_id, **changes)

    def _write_locked(self, job_id: str, **changes: Any) -> JobInfo:
        current = self._read_file(job_id)
        held = self._state_record(current)
        if held is None:
            data = {**current.to_dict(), **changes, "updated_at": utc_now()}
            info = JobInfo.from_dict(data)
            atomic_write_json(self.job_dir(job_id) / JOB_FILE, info.to_dict())
            return info
        run, st = held
        state = {k: v for k, v in changes.items() if k in STATE_FIELDS}
        facts = {k: v for k, v in changes.items() if k not in STATE_FIELDS}
        if state:
            try:
                st = run.update_status(**state)
            except OSError as exc:
                if state.get("state") not in FINAL_STATES:
                    raise
                return self._end_in_job_file(current, run, state, facts, exc)
            if state.get("state") in FINAL_STATES:
                # The job ends: job.json keeps its final state from now on.
                record = st.to_dict()
                facts.update({k: record[k] for k in STATE_FIELDS})
        if facts:  # a state-only update (heartbeat, progress) leaves job.json alone
            current = JobInfo.from_dict({**current.to_dict(), **facts, "updated_at": utc_now()})
            atomic_write_json(self.job_dir(job_id) / JOB_FILE, current.to_dict())
        return self._with_state(current, st)

    def _end_in_job_file(
        self,
        current: JobInfo,
        run: Run,
        state: dict[str, Any],
        facts: dict[str, Any],
        exc: OSError,
    ) -> JobInfo:
        """Record a training job's end in ``job.json`` when its run folder cannot be written
        (read-only, full disk, removed): the job ends with the disk error named, and readers
        show that state for the run too (:func:`core.jobs.api.run_status`)."""
        disk = disk_error_text(f"Run {run.run_id}'s folder", exc)
        logger.error("job %s: %s", current.job_id, disk)
        error = state.get("error")
        ended = {**state, "error": f"{error}\n{disk}" if error else disk}
        info = JobInfo.from_dict({**current.to_dict(), **facts, **ended, "updated_at": utc_now()})
        atomic_write_json(self.job_dir(current.job_id) / JOB_FILE, info.to_dict())
        return info

    # -- submit ---------------------------------------------------------------------------------
    def submit_job(
        self, kind: str, params: dict[str, Any], *, run_id: str | None = None, spawn: bool = True
    ) -> JobInfo:
        """Write a queued job and start its detached worker process."""
        if kind not in JOB_KINDS:
            raise JobError(f"Unknown job kind {kind!r}; choose one of {JOB_KINDS}.")
        json.dumps(params)  # params must survive the trip through job.json
        job_id = new_job_id()
        folder = self.job_dir(job_id)
        folder.mkdir(parents=True)
        now = utc_now()
        info = JobInfo(
            job_id=job_id,
            kind=kind,
            params=dict(params),
            run_id=run_id,
            created_at=now,
            updated_at=now,
            message="queued",
        )
        atomic_write_json(folder / JOB_FILE, info.to_dict())
        if spawn:
            info = self.spawn(job_id)
        logger.info("Submitted %s job %s", kind, job_id)
        return info

    def worker_command(self, job_id: str) -> list[str]:
        """The worker's command line (its supervisor starts it)."""
        return [sys.executable, "-m", "core", "job-worker", job_id]

    def supervisor_command(self, job_id: str) -> list[str]:
        """The detached supervisor's command line (it owns the worker, see
        :mod:`core.jobs.supervisor`)."""
        return [sys.executable, "-m", "core.jobs.supervisor", job_id]

    def spawn(self, job_id: str) -> JobInfo:
        """Start the job's detached supervisor (which starts the worker) and record its pid;
        the worker records its own."""
        folder = self.job_dir(job_id)
        env = os.environ.copy()
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env[JOBS_ROOT_ENV] = str(self.root)
        with (folder / LOG_FILE).open("ab") as log:
            proc = subprocess.Popen(
                self.supervisor_command(job_id),
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _CHILDREN.append(proc)
        return self.update(
            job_id, supervisor_pid=proc.pid, supervisor_start=process_start_time(proc.pid)
        )

    # -- read -----------------------------------------------------------------------------------
    def get_job(self, job_id: str) -> JobInfo:
        """The job's current state; a dead worker is recorded as failed (with its log tail)."""
        _reap()
        return self._reconcile(self.read(job_id))

    def list_jobs(self, kind: str | None = None) -> list[JobInfo]:
        """Every job, newest first (optionally only one kind)."""
        _reap()
        jobs: list[JobInfo] = []
        for job_id in job_ids(self.root):
            try:
                job = self._reconcile(self.read(job_id))
            except (JobNotFoundError, json.JSONDecodeError):
                continue
            except OSError as exc:  # one job's disk fault never hides the others
                logger.warning("job %s: %s", job_id, exc)
                job = JobInfo(
                    job_id=job_id,
                    kind="unknown",
                    state="broken",
                    message="job record unreadable",
                    error=disk_error_text(f"Job {job_id}'s folder", exc),
                )
            if kind is None or job.kind == kind:
                jobs.append(job)
        jobs.sort(key=lambda j: (j.created_at, j.job_id), reverse=True)
        if any(queue.is_waiting(j) for j in jobs):  # a slot a dead supervisor left unpassed
            started = queue.spawn_waiting(self)
            jobs = [self.read(j.job_id) if j.job_id in started else j for j in jobs]
        return jobs

    def _reconcile(self, job: JobInfo) -> JobInfo:
        reason = self._death_reason(job) if job.is_active else None
        if reason is None:
            return job
        with self._locked(job.job_id):
            job = self.read(job.job_id)  # the worker may have finished meanwhile
            if not job.is_active or self._death_reason(job) is None:
                return job
            if self.cancel_flag(job.job_id).exists():
                return self._write_locked(
                    job.job_id,
                    state="cancelled",
                    message="cancelled",
                    finished_at=utc_now(),
                    eta_s=None,
                )
            return self._record_death_locked(job.job_id, reason)

    def record_death(self, job_id: str, reason: str) -> JobInfo:
        """Record that the job's worker ended without reporting (``reason`` says how): the
        job and its run become ``failed`` with the log tail, or ``cancelled`` when a cancel
        was asked. A job already final is left as it is."""
        with self._locked(job_id):
            job = self.read(job_id)
            if not job.is_active:
                return job
            if self.cancel_flag(job_id).exists():
                return self._write_locked(
                    job_id,
                    state="cancelled",
                    message="cancelled",
                    finished_at=utc_now(),
                    eta_s=None,
                )
            return self._record_death_locked(job_id, reason)

    def _record_death_locked(self, job_id: str, reason: str) -> JobInfo:
        logger.warning("job %s: %s", job_id, reason)
        tail = self.log_tail(job_id)
        return self._write_locked(
            job_id,
            state="failed",
            error=f"{reason}. Last lines of its log:\n{tail}" if tail else reason,
            log_tail=tail,
            message="failed: worker died",
            finished_at=utc_now(),
            eta_s=None,
        )

    @staticmethod
    def _unstarted_reason(job: JobInfo) -> str | None:
        """Why a job whose worker has recorded no pid is dead, or None while it may start."""
        if job.supervisor_pid is not None:
            alive = process_alive(job.supervisor_pid, job.supervisor_start)
            # While it lives, the supervisor watches its worker start.
            return None if alive else "The job's supervisor died before its worker started"
        if job.slots is not None:
            return None  # waiting for a worker slot: no process yet (core.jobs.queue)
        age = age_s(job.created_at)
        if age > SPAWN_TIMEOUT_S:
            return f"The worker process never started ({age:.0f}s after submission)"
        return None

    def _death_reason(self, job: JobInfo) -> str | None:
        if job.pid is None:
            return self._unstarted_reason(job)
        if not process_alive(job.pid, job.pid_start):
            return (
                f"The worker process (pid {job.pid}) died without reporting a result "
                "(killed, e.g. kill -9, or out of memory)"
            )
        if job.state == "running" and job.heartbeat is not None:
            silent = time.time() - job.heartbeat
            if silent > HEARTBEAT_TIMEOUT_S:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(job.pid, signal.SIGKILL)
                return (
                    f"The worker process (pid {job.pid}) stopped responding "
                    f"({silent:.0f}s without a heartbeat) and was killed"
                )
        return None

    # -- control --------------------------------------------------------------------------------
    def cancel_job(
        self, job_id: str, *, wait: bool = True, grace_s: float = 3.0, kill_after_s: float = 3.0
    ) -> JobInfo:
        """Ask a job to stop: a flag the worker checks every epoch and between stages; after
        ``grace_s`` seconds SIGTERM to its process group, after ``kill_after_s`` more SIGKILL.

        With ``wait=False`` only the flag is set (the worker stops at its next check).
        """
        job = self.get_job(job_id)
        if job.is_final:
            return job
        self.cancel_flag(job_id).touch()
        job = self.update(job_id, cancel_requested=True, message="cancelling")
        if job.pid is None or not process_alive(job.pid, job.pid_start):
            return self._finish_cancel(job_id)
        if not wait:
            return job
        if self._wait_final(job_id, grace_s):
            return self.get_job(job_id)
        self._signal_until_dead(job.pid, job.pid_start, kill_after_s)
        return self._finish_cancel(job_id)

    @staticmethod
    def _signal_until_dead(pid: int, pid_start: str | None, kill_after_s: float) -> None:
        """SIGTERM the worker's process group, then SIGKILL it if it outlives ``kill_after_s``."""
        for sig, wait_s in ((signal.SIGTERM, kill_after_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                _reap()
                if not process_alive(pid, pid_start):
                    return
                time.sleep(0.05)

    def _finish_cancel(self, job_id: str) -> JobInfo:
        with self._locked(job_id):
            job = self.read(job_id)
            if job.is_active:
                job = self._write_locked(
                    job_id,
                    state="cancelled",
                    message="cancelled",
                    finished_at=utc_now(),
                    eta_s=None,
                )
        return job

    def _wait_final(self, job_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get_job(job_id).is_final:
                return True
            time.sleep(0.1)
        return False

    def wait_job(
        self,
        job_id: str,
        timeout: float | None = None,
        *,
        progress: Callable[[JobInfo], None] | None = None,
        poll_s: float = 0.5,
    ) -> JobInfo:
        """Block until the job is final (or ``timeout``), calling ``progress`` on each poll."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if progress:
                progress(job)
            if job.is_final or (deadline is not None and time.monotonic() >= deadline):
                return job
            time.sleep(poll_s)

    # -- devices --------------------------------------------------------------------------------
    def devices(self) -> list[DeviceInfo]:
        """The devices jobs may train on (detected on first use unless given)."""
        if self._devices is None:
            from core.model.devices import detect_devices

            self._devices = detect_devices()
        return self._devices

    @contextlib.contextmanager
    def device_slot(self, job_id: str, world_size: int, cancel_flag: Path) -> Iterator[str]:
        """Hold an exclusive lock on a free device (all devices for DDP) while training."""

        def waiting(message: str) -> None:
            self.update(job_id, message=message)

        with slots.device_slot(
            self.root / DEVICE_LOCKS, self.devices(), world_size, cancel_flag, waiting
        ) as device:
            yield device


def disk_error_text(what: str, exc: OSError) -> str:
    """One line saying that ``what`` could not be read or written, and the disk's reason."""
    where = f" ({display_path(exc.filename)})" if exc.filename else ""
    why = exc.strerror or str(exc) or type(exc).__name__
    return (
        f"{what} could not be written or read{where}: {why} [{type(exc).__name__}, a disk "
        "error: a read-only or full disk, or a folder without write permission]. Fix the "
        "disk, then start the run again."
    )


def default_manager() -> JobManager:
    """The manager of ``jobs_root()`` (or of the folder a worker inherited)."""
    override = os.environ.get(JOBS_ROOT_ENV)
    return JobManager(Path(override) if override else None)
