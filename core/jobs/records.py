"""What a job is on disk: ``job.json`` as :class:`JobInfo`, its ids, and the fields of its
state that live in the run's status record for a training job."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.runs.status import ACTIVE_STATES, FINAL_STATES
from core.runs.store import Run

JOB_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{6}$")
JOB_FILE = "job.json"
LOG_FILE = "log.txt"
CANCEL_FLAG = "cancel"
LOCK_FILE = ".job.lock"
DEVICE_LOCKS = ".devices"
JOBS_ROOT_ENV = "TACTICAL_JOBS_ROOT"  # the worker inherits it, so it finds the same folder

JOB_KINDS: tuple[str, ...] = ("train", "extract", "states")
HEARTBEAT_S = 2.0  # how often a worker proves it is alive
HEARTBEAT_TIMEOUT_S = 180.0  # a running job silent this long is reported failed
# A worker whose heartbeat is this old while it uses no CPU (or is stopped, SIGSTOP) is
# frozen: its supervisor kills it and records the job failed (a busy worker whose
# heartbeat thread is starved still burns CPU and gets HEARTBEAT_TIMEOUT_S).
FROZEN_AFTER_S = 5.0
SUPERVISE_POLL_S = 0.5  # how often a supervisor looks at its worker
SUPERVISOR_ENV = "TACTICAL_SUPERVISOR_PID"  # set for a worker owned by a supervisor
SPAWN_TIMEOUT_S = 60.0  # a queued job whose worker never recorded a pid
PROGRESS_EVERY_S = 0.5  # at most this often a job.json rewrite for progress
LOG_TAIL_LINES = 30

# The fields of a job's state. For a training job they live in its run's status.json (the
# one status record of the run) while the job is the run's current job; job.json keeps the
# job's own facts (kind, params, worker pid, result) and, once the job ends, a copy of its
# final state so a later retry of the same run cannot rewrite this job's history.
STATE_FIELDS: frozenset[str] = frozenset(
    {
        "state",
        "progress",
        "eta_s",
        "message",
        "error",
        "log_tail",
        "heartbeat",
        "device",
        "started_at",
        "finished_at",
    }
)


class JobTerminated(BaseException):
    """Raised inside a worker when it receives SIGTERM (cancel after the grace period)."""


class JobCancelled(Exception):
    """The cancel flag was seen; unwinds the worker to a clean ``cancelled`` state."""


@dataclass(frozen=True)
class JobInfo:
    """A job as its readers see it: ``job.json``, with a training job's state read from its run."""

    job_id: str
    kind: str  # "train", "extract" or "states" (refit a run's tactical states)
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
    supervisor_pid: int | None = None  # the process that owns the worker and records its end
    supervisor_start: str | None = None  # its kernel start time
    device: str | None = None  # torch device it holds ("cuda:1", "cpu") while training
    run_id: str | None = None  # the run a training (or states) job computes
    result: dict[str, Any] | None = None  # what a finished job produced (extraction summary)
    cancel_requested: bool = False
    # Started only while fewer training workers than this are alive (core.jobs.queue);
    # None: its worker starts at once.
    slots: int | None = None
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
        if not isinstance(data, dict):
            raise ValueError(f"a job record is a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class TrainRequest:
    """What ``start_training`` did: the run, the job computing it (None when the run is
    already done), and whether the run existed before the call."""

    run: Run
    job: JobInfo | None
    existed: bool


def new_job_id() -> str:
    """A sortable job id: UTC time to the second plus 6 random hex digits."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def summary_dict(summary: object) -> dict[str, Any]:
    """A finished job's result as JSON-safe data, whatever object the work returned."""
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        data = dataclasses.asdict(summary)
    elif hasattr(summary, "to_dict"):
        data = dict(summary.to_dict())
    else:
        data = {"summary": str(summary)}
    safe: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return safe


def job_ids(root: Path) -> list[str]:
    """The ids of every job folder under ``root`` holding a record (in no particular order)."""
    return [
        entry.name
        for entry in root.iterdir()
        if JOB_ID_RE.match(entry.name) and (entry / JOB_FILE).is_file()
    ]
