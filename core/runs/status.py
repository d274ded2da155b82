"""The one status record of a run: ``status.json``, written by whoever computes the run
(the pipeline inside a job worker, or the CLI in-process) and read purely by everyone else.

A training job has no state of its own while it lives: :mod:`core.jobs` reads and writes
this record for it. Only :mod:`core.jobs` reconciles a record whose process died.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

RunState = Literal["queued", "running", "done", "failed", "cancelled"]
RUN_STATES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
FINAL_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled"})
ACTIVE_STATES: frozenset[str] = frozenset({"queued", "running"})


@dataclass(frozen=True)
class RunStatus:
    """Contents of ``status.json``: where a run is and who is computing it."""

    state: str = "queued"  # queued | running | done | failed | cancelled
    stage: str = "queued"  # queued, loading, preprocessing, training, encoding, ... done
    progress: float = 0.0  # 0..1 over the whole run (training + analyses)
    eta_s: float | None = None  # estimated seconds left, None when unknown
    message: str = ""  # one human line on what is happening
    error: str | None = None  # why it failed (names the epoch for a non-finite loss)
    log_tail: str | None = None  # last lines of the worker's log, kept when it died
    pid: int | None = None  # process computing it
    pid_start: str | None = None  # that process's kernel start time (guards pid reuse)
    heartbeat: float | None = None  # unix time of the last sign of life
    job_id: str | None = None  # background job computing it, if any
    device: str | None = None  # torch device name
    epoch: int | None = None  # last finished epoch
    n_epochs: int | None = None  # epochs planned
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunStatus:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
