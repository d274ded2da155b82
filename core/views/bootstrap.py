"""The demo's first start, as a state machine the Overview page follows.

On a first start (no run, no dataset) the Overview extracts the demo matches in a
background job, then trains the default run, showing progress until it is done. What to
do next is a pure function of what is observed (:func:`next_step`), so every transition
is tested without Streamlit; the page only observes, acts and draws.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from core.demo import DEMO_DATASET, demo_dataset_dir, ensure_demo
from core.features.datasets import Dataset
from core.jobs.api import list_jobs, run_status, submit_extraction
from core.jobs.records import JobInfo
from core.runs.status import RunStatus
from core.views.jobs import clamp_progress, fmt_seconds

BootAction = Literal[
    "idle",  # nothing to build or follow
    "start_extraction",  # first start: submit the demo extraction
    "wait_for_job",  # following, but no extraction job recorded yet
    "follow_extraction",  # the extraction is running: show its progress
    "extraction_failed",  # say why, stop following
    "request_run",  # features ready: ask for the demo run (starts training if needed)
    "follow_training",  # the run is training: show its progress
    "training_failed",  # say why, stop following
    "open_run",  # the run is done: make it the active run, stop following
]
# Steps after which the session stops following the build.
ENDING: frozenset[str] = frozenset({"extraction_failed", "training_failed", "open_run"})
EXTRACTION_FAILED = (
    "Extracting the demo matches failed: {error}. Check that kloppy 3.19.1 is installed "
    "(its wheel ships the demo files), then reload."
)
TRAINING_FAILED = "Training the default run failed: {error}. Open **Train** to retry."


@dataclass(frozen=True)
class BootState:
    """What the Overview observes of the demo build on one pass."""

    following: bool  # this session started (or follows) the build
    first_start: bool  # no run and no dataset exists yet
    job: JobInfo | None  # the newest demo extraction job
    features_ready: bool  # the demo features file exists
    run_id: str | None = None  # the demo run, once requested
    run_status: RunStatus | None = None  # its status, once requested


@dataclass(frozen=True)
class BootStep:
    """What to do on this pass, and what to show."""

    action: BootAction
    text: str = ""
    progress: float | None = None  # 0..1 for the follow steps

    @property
    def ends(self) -> bool:
        """Whether the session stops following the build after this step."""
        return self.action in ENDING


def next_step(state: BootState) -> BootStep:
    """The next step of the demo build for what was observed (pure)."""
    job = state.job
    if not state.following and not (job is not None and job.is_active):
        if state.first_start and (job is None or job.is_final):
            return BootStep("start_extraction")
        return BootStep("idle")
    if not state.features_ready:
        return _extraction_step(job)
    if state.run_status is None:
        return BootStep("request_run")
    return _training_step(state.run_id, state.run_status)


def _extraction_step(job: JobInfo | None) -> BootStep:
    if job is None:
        return BootStep("wait_for_job", "Waiting for the extraction job to start…")
    if job.state == "failed":
        return BootStep("extraction_failed", EXTRACTION_FAILED.format(error=job.error))
    return BootStep(
        "follow_extraction",
        f"Extracting features: {job.message or job.state} · time left {fmt_seconds(job.eta_s)}",
        clamp_progress(job.progress),
    )


def _training_step(run_id: str | None, status: RunStatus) -> BootStep:
    if status.state == "done":
        return BootStep("open_run")
    if status.state == "failed":
        return BootStep("training_failed", TRAINING_FAILED.format(error=status.error))
    return BootStep(
        "follow_training",
        f"Training run {run_id}: {status.message or status.stage} · "
        f"time left {fmt_seconds(status.eta_s)}",
        clamp_progress(status.progress),
    )


# --- observing and acting (files and jobs; what the page calls) --------------------------------


def demo_extraction() -> JobInfo | None:
    """The newest extraction job building the demo dataset, if any."""
    for job in list_jobs("extract"):
        if (job.params or {}).get("name") == DEMO_DATASET:
            return job
    return None


def observe(*, following: bool, first_start: bool) -> BootState:
    """The demo build as it stands on disk (jobs and the features file)."""
    return BootState(
        following=following,
        first_start=first_start,
        job=demo_extraction(),
        features_ready=Dataset(demo_dataset_dir()).features_path.is_file(),
    )


def start_extraction() -> JobInfo:
    """Submit the demo extraction (``JobError`` when it is refused)."""
    return submit_extraction("demo", DEMO_DATASET)


def request_run(state: BootState) -> BootState:
    """``state`` with the demo run's id and status, its training started if it is not
    trained yet (idempotent: a run training or done is only read)."""
    run = ensure_demo(wait=False)
    return dataclasses.replace(state, run_id=run.run_id, run_status=run_status(run))
