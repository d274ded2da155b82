"""The one status record of a run: ``status.json``, written by whoever computes the run
(the pipeline inside a job worker, or the CLI in-process) and read purely by everyone else.

A training job has no state of its own while it lives: :mod:`core.jobs` reads and writes
this record for it. Only :mod:`core.jobs` reconciles a record whose process died.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

RunState = Literal["queued", "running", "done", "failed", "cancelled", "broken"]
RUN_STATES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled", "broken")
# "broken": the run folder's config.json or status.json cannot be read (edited by hand,
# written by an old build, a disk fault). Nothing can compute it; it can be deleted.
FINAL_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled", "broken"})
ACTIVE_STATES: frozenset[str] = frozenset({"queued", "running"})


@dataclass(frozen=True)
class RunStatus:
    """Contents of ``status.json``: where a run is and who is computing it."""

    state: str = "queued"  # queued | running | done | failed | cancelled | broken
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
        """The record from stored JSON, value by value: a field of the wrong kind (a torn
        or hand-edited file) takes its default rather than failing the whole read."""
        if not isinstance(data, dict):
            raise ValueError(f"a run status is a JSON object, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if (value is None and f.default is None) or (
                value is not None and _fits(f.name, value)
            ):
                kwargs[f.name] = value
        if kwargs.get("state") not in RUN_STATES:
            kwargs.pop("state", None)
        return cls(**kwargs)


_NUMBER_FIELDS = frozenset({"progress", "eta_s", "heartbeat"})
_INT_FIELDS = frozenset({"pid", "epoch", "n_epochs"})


def _fits(name: str, value: Any) -> bool:
    """True when a stored value has the kind its field needs."""
    if isinstance(value, bool):
        return False
    if name in _NUMBER_FIELDS:
        return isinstance(value, int | float) and math.isfinite(value)
    if name in _INT_FIELDS:
        return isinstance(value, int)
    return isinstance(value, str)
