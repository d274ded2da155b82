"""Background jobs: training and extraction in their own detached processes, state on disk.

A job is a folder ``jobs_root()/<job_id>/`` holding ``job.json`` (kind, params, state,
pid, progress, time left, message, error), ``log.txt`` (the worker's stdout and stderr) and,
once someone asks, a ``cancel`` flag file. The worker is ``python -m core job-worker
JOB_ID`` started in a new session, so it outlives the Streamlit script (and the app) that
started it; every reader, in any process, sees the same files. Nothing lives in memory.

States: ``queued -> running -> done | failed | cancelled``. A worker that dies without
reporting (``kill -9``, out of memory) is noticed by whoever reads the job next (its pid
is gone or a zombie, or its heartbeat stopped) and reported ``failed`` with its log tail.

Devices: a training job holds an exclusive ``flock`` on one device's lock file while it
trains; with several GPUs, queued jobs spread over the free ones (``devices.assign_device``)
and wait, ``queued``, while all are busy. Without a GPU one training job runs at a time on
the CPU (two would only halve each other's speed). Locks die with their process, so a
killed job never blocks a device.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from core.errors import InvalidJobIdError, JobError, JobNotFoundError
from core.infra.io import atomic_write_json, read_json
from core.infra.paths import PROJECT_ROOT, UnsafePathError, datasets_root, jobs_root, resolve_under
from core.model.config import PreprocessConfig, VAEConfig
from core.runs.store import (
    ACTIVE_STATES,
    FINAL_STATES,
    Run,
    RunNotFoundError,
    create_run,
    file_lock,
    get_run,
    process_alive,
    process_start_time,
    run_id_for,
    tail_text,
    utc_now,
)

if TYPE_CHECKING:
    from core.model.devices import DeviceInfo

logger = logging.getLogger(__name__)

JOB_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{6}$")
DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
JOB_FILE = "job.json"
LOG_FILE = "log.txt"
CANCEL_FLAG = "cancel"
LOCK_FILE = ".job.lock"
DEVICE_LOCKS = ".devices"

JOB_KINDS: tuple[str, ...] = ("train", "extract")
HEARTBEAT_S = 2.0  # how often a worker proves it is alive
HEARTBEAT_TIMEOUT_S = 180.0  # a running job silent this long is reported failed
SPAWN_TIMEOUT_S = 60.0  # a queued job whose worker never recorded a pid
PROGRESS_EVERY_S = 0.5  # at most this often a job.json rewrite for progress
LOG_TAIL_LINES = 30


class JobTerminated(BaseException):
    """Raised inside a worker when it receives SIGTERM (cancel after the grace period)."""


@dataclass(frozen=True)
class JobInfo:
    """Contents of ``job.json``."""

    job_id: str
    kind: str  # "train" or "extract"
    params: dict[str, Any] = field(default_factory=dict)
    state: str = "queued"  # queued | running | done | failed | cancelled
    progress: float = 0.0  # 0..1
    eta_s: float | None = None  # seconds left (estimate), None when unknown
    message: str = ""  # one human line: what it is doing now
    error: str | None = None  # why it failed
    log_tail: str | None = None  # last lines of the worker log, kept on failure
    pid: int | None = None  # worker process id
    pid_start: str | None = None  # its kernel start time (guards against pid reuse)
    heartbeat: float | None = None  # unix time of the worker's last sign of life
    device: str | None = None  # torch device it holds ("cuda:1", "cpu") while training
    run_id: str | None = None  # the run a training job computes
    result: dict[str, Any] | None = None  # what a finished job produced (extraction summary)
    cancel_requested: bool = False
    created_at: str = ""
    updated_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class TrainRequest:
    """What :func:`start_training` did: the run, the job computing it (None when the run
    is already done), and whether the run existed before the call."""

    run: Run
    job: JobInfo | None
    existed: bool


def _new_job_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


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

    def log_tail(self, job_id: str, n: int = LOG_TAIL_LINES) -> str:
        """Last ``n`` lines of the worker's log."""
        return tail_text(self.log_path(job_id), n)

    def _read(self, job_id: str) -> JobInfo:
        path = self.job_dir(job_id) / JOB_FILE
        try:
            return JobInfo.from_dict(read_json(path))
        except FileNotFoundError:
            raise JobNotFoundError(f"No job {job_id} in {self.root}.") from None

    @contextlib.contextmanager
    def _locked(self, job_id: str) -> Iterator[None]:
        with file_lock(self.job_dir(job_id) / LOCK_FILE):
            yield

    def _update(self, job_id: str, **changes: Any) -> JobInfo:
        """Read-modify-write ``job.json`` under the job's file lock."""
        with self._locked(job_id):
            return self._write_locked(job_id, **changes)

    def _write_locked(self, job_id: str, **changes: Any) -> JobInfo:
        current = self._read(job_id).to_dict()
        current.update(changes, updated_at=utc_now())
        info = JobInfo.from_dict(current)
        atomic_write_json(self.job_dir(job_id) / JOB_FILE, info.to_dict())
        return info

    # -- submit ---------------------------------------------------------------------------------
    def submit_job(
        self, kind: str, params: dict[str, Any], *, run_id: str | None = None, spawn: bool = True
    ) -> JobInfo:
        """Write a queued job and start its detached worker process."""
        if kind not in JOB_KINDS:
            raise JobError(f"Unknown job kind {kind!r}; choose one of {JOB_KINDS}.")
        json.dumps(params)  # params must survive the trip through job.json
        job_id = _new_job_id()
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
            info = self._spawn(job_id)
        logger.info("Submitted %s job %s", kind, job_id)
        return info

    def worker_command(self, job_id: str) -> list[str]:
        """The detached worker's command line."""
        return [sys.executable, "-m", "core", "job-worker", job_id]

    def _spawn(self, job_id: str) -> JobInfo:
        folder = self.job_dir(job_id)
        env = os.environ.copy()
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env[jobs_root_env()] = str(self.root)
        with (folder / LOG_FILE).open("ab") as log:
            proc = subprocess.Popen(
                self.worker_command(job_id),
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _CHILDREN.append(proc)
        with self._locked(job_id):
            current = self._read(job_id)
            if current.pid is None:  # the worker may already have written its own
                return self._write_locked(
                    job_id, pid=proc.pid, pid_start=process_start_time(proc.pid)
                )
            return current

    # -- read -----------------------------------------------------------------------------------
    def get_job(self, job_id: str) -> JobInfo:
        """The job's current state; a dead worker is recorded as failed (with its log tail)."""
        _reap()
        return self._reconcile(self._read(job_id))

    def list_jobs(self, kind: str | None = None) -> list[JobInfo]:
        """Every job, newest first (optionally only one kind)."""
        _reap()
        jobs: list[JobInfo] = []
        for entry in self.root.iterdir():
            if not JOB_ID_RE.match(entry.name) or not (entry / JOB_FILE).is_file():
                continue
            try:
                job = self._reconcile(self._read(entry.name))
            except (JobNotFoundError, json.JSONDecodeError):
                continue
            if kind is None or job.kind == kind:
                jobs.append(job)
        jobs.sort(key=lambda j: (j.created_at, j.job_id), reverse=True)
        return jobs

    def _reconcile(self, job: JobInfo) -> JobInfo:
        if not job.is_active:
            return job
        reason = self._death_reason(job)
        if reason is None:
            return job
        with self._locked(job.job_id):
            job = self._read(job.job_id)  # the worker may have finished meanwhile
            if not job.is_active or self._death_reason(job) is None:
                return job
            cancelled = (self.job_dir(job.job_id) / CANCEL_FLAG).exists()
            tail = self.log_tail(job.job_id)
            if cancelled:
                job = self._write_locked(
                    job.job_id,
                    state="cancelled",
                    message="cancelled",
                    finished_at=utc_now(),
                    eta_s=None,
                )
            else:
                logger.warning("job %s: %s", job.job_id, reason)
                job = self._write_locked(
                    job.job_id,
                    state="failed",
                    error=f"{reason}. Last lines of its log:\n{tail}" if tail else reason,
                    log_tail=tail,
                    message="failed: worker died",
                    finished_at=utc_now(),
                    eta_s=None,
                )
        self._mirror_run(job)
        return job

    def _death_reason(self, job: JobInfo) -> str | None:
        if job.pid is None:
            age = _age_s(job.created_at)
            if age > SPAWN_TIMEOUT_S:
                return f"The worker process never started ({age:.0f}s after submission)"
            return None
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
                return f"The worker process (pid {job.pid}) stopped responding ({silent:.0f}s without a heartbeat) and was killed"
        return None

    def _mirror_run(self, job: JobInfo) -> None:
        """Copy a terminal job state into its run's status (if the run still says active)."""
        if job.kind != "train" or not job.run_id or not job.is_final:
            return
        try:
            run = get_run(job.run_id)
        except RunNotFoundError:
            return
        st = run._status_raw()
        if st is not None and st.is_active and st.job_id in (None, job.job_id):
            run.update_status(
                state=job.state,
                error=job.error,
                finished_at=job.finished_at or utc_now(),
                eta_s=None,
                message=job.message,
            )

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
        (self.job_dir(job_id) / CANCEL_FLAG).touch()
        job = self._update(job_id, cancel_requested=True, message="cancelling")
        if job.pid is None or not process_alive(job.pid, job.pid_start):
            return self._finish_cancel(job_id)
        if not wait:
            return job
        if self._wait_final(job_id, grace_s):
            return self.get_job(job_id)
        pid = job.pid
        for sig, wait_s in ((signal.SIGTERM, kill_after_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                _reap()
                if not process_alive(pid, job.pid_start):
                    break
                time.sleep(0.05)
            else:
                continue
            break
        return self._finish_cancel(job_id)

    def _finish_cancel(self, job_id: str) -> JobInfo:
        with self._locked(job_id):
            job = self._read(job_id)
            if job.is_active:
                job = self._write_locked(
                    job_id,
                    state="cancelled",
                    message="cancelled",
                    finished_at=utc_now(),
                    eta_s=None,
                )
        self._mirror_run(job)
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

    # -- the worker side ------------------------------------------------------------------------
    def run_worker(self, job_id: str) -> int:
        """Body of ``python -m core job-worker JOB_ID``; returns the process exit code."""
        job = self._read(job_id)
        if job.is_final:
            return 0
        pid = os.getpid()
        self._update(job_id, pid=pid, pid_start=process_start_time(pid), heartbeat=time.time())
        signal.signal(signal.SIGTERM, _raise_terminated)
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(job_id, stop), name="job-heartbeat", daemon=True
        )
        beat.start()
        cancel_flag = self.job_dir(job_id) / CANCEL_FLAG
        try:
            if job.kind == "train":
                self._work_train(job, cancel_flag)
            elif job.kind == "extract":
                self._work_extract(job, cancel_flag)
            else:
                raise JobError(f"Unknown job kind {job.kind!r}.")
            return 0
        except (JobTerminated, JobCancelled, KeyboardInterrupt):
            final: dict[str, Any] = {
                "state": "cancelled",
                "message": "cancelled",
                "finished_at": utc_now(),
            }
            # The run first: whoever sees the job final must also see the run final.
            self._mirror_run(dataclasses.replace(self._read(job_id), **final))
            self._update(job_id, eta_s=None, **final)
            logger.info("job %s cancelled", job_id)
            return 0
        except Exception as exc:
            logger.exception("job %s failed", job_id)
            final = {
                "state": "failed",
                "error": f"{type(exc).__name__}: {exc}",
                "log_tail": self.log_tail(job_id),
                "message": f"failed: {type(exc).__name__}",
                "finished_at": utc_now(),
            }
            self._mirror_run(dataclasses.replace(self._read(job_id), **final))
            self._update(job_id, eta_s=None, **final)
            return 1
        finally:
            stop.set()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _heartbeat(self, job_id: str, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):
                job = self._update(job_id, heartbeat=time.time())
                if job.run_id and job.state == "running":
                    run = get_run(job.run_id)
                    st = run._status_raw()
                    if st is not None and st.state == "running":
                        run.update_status(heartbeat=time.time())

    def _progress_writer(
        self, job_id: str, eta_hint: Callable[[], float | None] | None = None
    ) -> Callable[[int, int, str], None]:
        started = time.monotonic()
        last = [0.0]
        last_kind = [""]

        def progress(done: int, total: int, message: str) -> None:
            now = time.monotonic()
            kind = message.split(" ", 1)[0]  # "epoch", "encoding", "UMAP:", ...
            if now - last[0] < PROGRESS_EVERY_S and done < total and kind == last_kind[0]:
                return  # throttle repeats (epochs), never a new stage
            last[0] = now
            last_kind[0] = kind
            frac = done / total if total else 0.0
            hint = eta_hint() if eta_hint is not None else None
            eta = (
                hint
                if hint is not None
                else ((now - started) / frac * (1 - frac) if frac > 0 else None)
            )
            self._update(
                job_id,
                progress=round(frac, 4),
                eta_s=None if eta is None else round(eta, 1),
                message=message,
                heartbeat=time.time(),
            )

        return progress

    def _work_train(self, job: JobInfo, cancel_flag: Path) -> None:
        from core.runs.pipeline import execute_run

        run_id = str(job.params["run_id"])
        world_size = int(job.params.get("world_size", 1))
        run = get_run(run_id)
        self._update(job.job_id, message="waiting for a free device")
        with self.device_slot(job.job_id, world_size, cancel_flag) as device:
            self._update(
                job.job_id,
                state="running",
                device=device,
                started_at=utc_now(),
                message=f"training on {device}",
            )

            def training_eta() -> float | None:
                # The run's own estimate (epoch times) beats extrapolating from job start.
                st = run._status_raw()
                return st.eta_s if st is not None and st.stage == "training" else None

            execute_run(
                run_id,
                device=None if device.startswith("ddp") else device,
                progress=self._progress_writer(job.job_id, training_eta),
                should_stop=cancel_flag.exists,
                world_size=world_size,
                job_id=job.job_id,
            )
        st = run.status()
        if st.state == "cancelled":
            raise JobCancelled()
        if st.state != "done":
            raise JobError(st.error or f"run {run_id} ended in state {st.state}")
        self._update(
            job.job_id,
            state="done",
            progress=1.0,
            eta_s=0.0,
            message=st.message,
            finished_at=utc_now(),
            result={"run_id": run_id},
        )

    def _work_extract(self, job: JobInfo, cancel_flag: Path) -> None:
        from core.features.extract import extract_features

        params = job.params
        out_dir = Path(params["out_dir"])
        self._update(job.job_id, state="running", started_at=utc_now(), message="extracting")
        writer = self._progress_writer(job.job_id)

        def progress(done: int, total: int, message: str) -> None:
            if cancel_flag.exists():
                raise JobCancelled()
            writer(done, total, message)

        summary = extract_features(
            params["source"],
            out_dir,
            window_s=float(params.get("window_s", 300)),
            stride_s=float(params.get("stride_s", 150)),
            progress=progress,
            **params.get("filters", {}),
        )
        result = _summary_dict(summary)
        result["out_dir"] = str(out_dir)
        self._update(
            job.job_id,
            state="done",
            progress=1.0,
            eta_s=0.0,
            finished_at=utc_now(),
            message=f"extracted to {out_dir}",
            result=result,
        )

    @contextlib.contextmanager
    def device_slot(self, job_id: str, world_size: int, cancel_flag: Path) -> Iterator[str]:
        """Hold an exclusive lock on a free device (all devices for DDP) while training."""
        from core.model.devices import assign_device, detect_devices

        devices = self._devices if self._devices is not None else detect_devices()
        gpus = [d.torch_name for d in devices if d.kind == "cuda"]
        lock_dir = self.root / DEVICE_LOCKS
        lock_dir.mkdir(exist_ok=True)
        held: list[IO[str]] = []
        waited = False
        try:
            while True:
                if cancel_flag.exists():
                    raise JobCancelled()
                if world_size > 1:
                    wanted = gpus[:world_size] if len(gpus) >= world_size else ["cpu"]
                    held = [h for h in (_try_lock(lock_dir, n) for n in wanted) if h is not None]
                    if len(held) == len(wanted):
                        kind = "cuda" if wanted[0] != "cpu" else "cpu"
                        yield f"ddp:{world_size}x{kind}"
                        return
                    _release(held)
                    held = []
                else:
                    busy: set[str] = set()
                    while (name := assign_device(busy, devices)) is not None:
                        handle = _try_lock(lock_dir, name)
                        if handle is not None:
                            held = [handle]
                            yield name
                            return
                        busy.add(name)
                if not waited:
                    waited = True
                    self._update(job_id, message="queued: every device is busy with another job")
                time.sleep(1.0)
        finally:
            _release(held)


class JobCancelled(Exception):
    """The cancel flag was seen; unwinds the worker to a clean ``cancelled`` state."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise JobTerminated()


def _try_lock(lock_dir: Path, device: str) -> IO[str] | None:
    fh = (lock_dir / f"{device.replace(':', '_')}.lock").open("a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh


def _release(handles: list[IO[str]]) -> None:
    for fh in handles:
        with contextlib.suppress(OSError):
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()


def _summary_dict(summary: Any) -> dict[str, Any]:
    import dataclasses

    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        data = dataclasses.asdict(summary)
    elif hasattr(summary, "to_dict"):
        data = dict(summary.to_dict())
    else:
        data = {"summary": str(summary)}
    # Keep job.json JSON-safe whatever the summary holds.
    safe: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return safe


def _age_s(iso: str) -> float:
    try:
        t = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - t).total_seconds()


def jobs_root_env() -> str:
    """Environment variable the worker inherits so it finds the same jobs folder."""
    return "TACTICAL_JOBS_ROOT"


def _default_manager() -> JobManager:
    override = os.environ.get(jobs_root_env())
    return JobManager(Path(override) if override else None)


# --- module-level API (what pages call) ------------------------------------------------------


def submit_job(kind: str, params: dict[str, Any], *, run_id: str | None = None) -> JobInfo:
    """Queue a job of ``kind`` ("train" or "extract") and start its worker."""
    return _default_manager().submit_job(kind, params, run_id=run_id)


def get_job(job_id: str) -> JobInfo:
    """Current state of a job (a dead worker reads as failed, with its log tail)."""
    return _default_manager().get_job(job_id)


def list_jobs(kind: str | None = None) -> list[JobInfo]:
    """Every job, newest first."""
    return _default_manager().list_jobs(kind)


def cancel_job(job_id: str, *, wait: bool = True, grace_s: float = 3.0) -> JobInfo:
    """Stop a job (flag, then SIGTERM after ``grace_s``, then SIGKILL); returns its state."""
    return _default_manager().cancel_job(job_id, wait=wait, grace_s=grace_s)


def wait_job(
    job_id: str,
    timeout: float | None = None,
    *,
    progress: Callable[[JobInfo], None] | None = None,
) -> JobInfo:
    """Block until the job ends (or ``timeout`` seconds)."""
    return _default_manager().wait_job(job_id, timeout, progress=progress)


def job_log_tail(job_id: str, n: int = LOG_TAIL_LINES) -> str:
    """Last ``n`` lines of a job's log."""
    return _default_manager().log_tail(job_id, n)


def run_worker(job_id: str) -> int:
    """Entry of the hidden ``job-worker`` command."""
    return _default_manager().run_worker(job_id)


def check_training_input(
    features_path: str | os.PathLike[str], vae_cfg: VAEConfig, prep_cfg: PreprocessConfig
) -> tuple[int, int]:
    """Fail now, with the reason, if this configuration cannot train on this file.

    Loads the features, filters and preprocesses them exactly as the job will, and checks
    the shapes against ``vae_cfg``. Returns ``(n_segments, n_inputs)``.
    """
    from core.model.training import check_trainable
    from core.runs.pipeline import load_features, prepare

    data = prepare(load_features(features_path), prep_cfg)
    check_trainable(data.X.shape[0], data.X.shape[1], vae_cfg)
    return int(data.X.shape[0]), int(data.X.shape[1])


def start_training(
    features_path: str | os.PathLike[str],
    vae_cfg: VAEConfig,
    prep_cfg: PreprocessConfig,
    *,
    world_size: int = 1,
) -> TrainRequest:
    """The run for this configuration, trained in a background job if it is not yet.

    A done run is returned at once (``job`` None); a run being computed returns the job
    computing it (a second request attaches, it never trains twice); otherwise the run is
    created (or retried after a failure/cancel) and a training job is queued. Bad input
    (wrong schema, no features, too few rows, latent_dim > features) raises here, before
    any run or job exists.
    """
    run_id = run_id_for(features_path, vae_cfg, prep_cfg)
    with contextlib.suppress(RunNotFoundError):
        if get_run(run_id).status().state == "done":
            return TrainRequest(get_run(run_id), None, True)
    manager = _default_manager()
    with file_lock(manager.root / DEVICE_LOCKS / f"submit-{run_id}.lock"):
        try:
            run: Run | None = get_run(run_id)
        except RunNotFoundError:
            run = None
        if run is not None:
            st = run.status()
            if st.state == "done":
                return TrainRequest(run, None, True)
            if st.is_active and st.job_id:
                with contextlib.suppress(JobNotFoundError):
                    job = manager.get_job(st.job_id)
                    if job.is_active:
                        return TrainRequest(run, job, True)
            if st.state == "running" and st.job_id is None and process_alive(st.pid, st.pid_start):
                return TrainRequest(run, None, True)  # computed in-process (CLI `train`) now
        # New, failed, cancelled, or queued without a live job: (re)start it, input checked first.
        check_training_input(features_path, vae_cfg, prep_cfg)
        run, existed = create_run(features_path, vae_cfg, prep_cfg)
        job = manager.submit_job(
            "train",
            {"run_id": run.run_id, "world_size": world_size},
            run_id=run.run_id,
            spawn=False,
        )
        # Status before the worker starts, so the worker's "running" is never overwritten.
        run.update_status(
            state="queued",
            stage="queued",
            job_id=job.job_id,
            error=None,
            progress=0.0,
            pid=None,
            pid_start=None,
            message="queued",
            finished_at=None,
            eta_s=None,
        )
        job = manager._spawn(job.job_id)
    return TrainRequest(run, job, existed)


def submit_extraction(
    source: str | os.PathLike[str],
    name: str,
    window_s: float = 300.0,
    stride_s: float = 150.0,
    *,
    overwrite: bool = False,
    **filters: Any,
) -> JobInfo:
    """Queue a feature extraction of ``source`` ("demo" or an open-data folder) into
    ``datasets_root()/<name>``. ``filters``: competitions, seasons, match_ids, max_matches,
    workers (as ``core.features.extract.extract_features``). An existing dataset is refused unless
    ``overwrite``."""
    if not DATASET_NAME_RE.match(name):
        raise JobError(
            f"Dataset name {name!r} is not allowed: use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (at most 64 characters)."
        )
    try:
        out_dir = resolve_under(datasets_root(), name)
    except UnsafePathError as exc:
        raise JobError(str(exc)) from exc
    if (out_dir / "features.parquet").exists() and not overwrite:
        raise JobError(
            f"Dataset {name!r} already exists ({out_dir}); runs trained on it refer to its "
            "features. Choose another name, or pass overwrite=True to replace it."
        )
    if window_s <= 0 or stride_s <= 0:
        raise JobError(f"window_s and stride_s must be > 0, got {window_s} and {stride_s}.")
    src = str(source)
    if src != "demo" and not Path(src).expanduser().is_dir():
        raise JobError(
            f"Source {src!r} is neither 'demo' nor a folder; give the root of a StatsBomb "
            "open-data copy (the folder holding data/competitions.json)."
        )
    allowed = {"competitions", "seasons", "match_ids", "max_matches", "workers"}
    unknown = sorted(set(filters) - allowed)
    if unknown:
        raise JobError(f"Unknown extraction filter(s) {unknown}; allowed: {sorted(allowed)}.")
    params = {
        "source": src if src == "demo" else str(Path(src).expanduser().resolve()),
        "name": name,
        "out_dir": str(out_dir),
        "window_s": float(window_s),
        "stride_s": float(stride_s),
        "filters": {k: v for k, v in filters.items() if v is not None},
    }
    return submit_job("extract", params)
