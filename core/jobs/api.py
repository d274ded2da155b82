"""What pages and commands call: submit, read and stop jobs; train a configuration in the
background; extract a dataset; refit a run's tactical states; read a run's status with a
dead worker noticed; delete runs.

Every function works on the default job store (``jobs_root()``, or the folder a worker
inherited); tests that need another store use :class:`~core.jobs.manager.JobManager`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.data.opendata import OPEN_DATA_SOURCE
from core.errors import (
    ConfigError,
    DatasetImportError,
    JobError,
    JobNotFoundError,
    RunBusyError,
    RunNotFoundError,
)
from core.features.datasets import Dataset
from core.features.executors import parse_executor
from core.infra.locks import file_lock
from core.infra.paths import data_root, resolve_under
from core.infra.process import process_alive, utc_now
from core.jobs import queue, worker
from core.jobs.manager import JobManager, default_manager, disk_error_text
from core.jobs.records import DEVICE_LOCKS, LOG_TAIL_LINES, JobInfo, TrainRequest
from core.model.config import PreprocessConfig, VAEConfig, check_world_size
from core.pipeline.prepare import check_training_input
from core.runs.config import run_id_for
from core.runs.status import RunStatus
from core.runs.store import Run, create_run, get_run, remove_run

EXTRACTION_FILTERS = frozenset(
    {"competitions", "seasons", "match_ids", "max_matches", "workers", "provider", "executor"}
)


def submit_job(kind: str, params: dict[str, Any], *, run_id: str | None = None) -> JobInfo:
    """Queue a job of ``kind`` ("train", "extract" or "states") and start its worker."""
    return default_manager().submit_job(kind, params, run_id=run_id)


def get_job(job_id: str) -> JobInfo:
    """Current state of a job (a dead worker reads as failed, with its log tail)."""
    return default_manager().get_job(job_id)


def list_jobs(kind: str | None = None) -> list[JobInfo]:
    """Every job, newest first."""
    return default_manager().list_jobs(kind)


def cancel_job(job_id: str, *, wait: bool = True, grace_s: float = 3.0) -> JobInfo:
    """Stop a job (flag, then SIGTERM after ``grace_s``, then SIGKILL); returns its state."""
    return default_manager().cancel_job(job_id, wait=wait, grace_s=grace_s)


def wait_job(
    job_id: str,
    timeout: float | None = None,
    *,
    progress: Callable[[JobInfo], None] | None = None,
) -> JobInfo:
    """Block until the job ends (or ``timeout`` seconds)."""
    return default_manager().wait_job(job_id, timeout, progress=progress)


def job_log_tail(job_id: str, n: int = LOG_TAIL_LINES) -> str:
    """Last ``n`` lines of a job's log."""
    return default_manager().log_tail(job_id, n)


def run_worker(job_id: str) -> int:
    """Entry of the hidden ``job-worker`` command."""
    return worker.run_worker(default_manager(), job_id)


# --- runs, as seen through their jobs ---------------------------------------------------------


def run_status(run: Run) -> RunStatus:
    """The run's status, with a computing process that died recorded as failed.

    A run computed by a job is reconciled through the job (which keeps the worker's log
    tail); a run computed in-process (the ``train`` command) whose process is gone is
    marked failed here.
    """
    st = run.status()
    if not st.is_active:
        return st
    if st.job_id:
        job = None
        with contextlib.suppress(JobNotFoundError):
            job = default_manager().get_job(st.job_id)
        now = run.status()
        if job is not None and job.is_final and now.is_active and now.job_id == job.job_id:
            # The job ended but could not write the run's folder (a disk error): its own
            # record holds the end, which is the run's too.
            return dataclasses.replace(
                now,
                state=job.state,
                error=job.error,
                message=job.message,
                log_tail=job.log_tail,
                finished_at=job.finished_at,
                eta_s=None,
            )
        return now
    if st.state == "running" and st.pid and not process_alive(st.pid, st.pid_start):
        time.sleep(0.05)  # the process may have written its final state as it exited
        again = run.status()
        if again.state == "running" and not process_alive(again.pid, again.pid_start):
            return run.update_status(
                state="failed",
                error=(
                    f"The process computing this run (pid {again.pid}) died during stage "
                    f"'{again.stage}' without reporting an error (killed?)."
                ),
                finished_at=utc_now(),
            )
        return again
    return st


def delete_run(run_id: str, *, force: bool = False) -> None:
    """Delete a run folder. Refuses a run a live process is computing unless ``force``."""
    run = get_run(run_id)
    st = run_status(run)
    if not force and st.is_active:
        live = st.state == "running" and process_alive(st.pid, st.pid_start)
        if st.job_id:
            with contextlib.suppress(JobNotFoundError):
                live = live or get_job(st.job_id).is_active
        if live:
            raise RunBusyError(
                f"Run {run_id} is {st.state}"
                f"{' in job ' + st.job_id if st.job_id else ' in process ' + str(st.pid)}; "
                "cancel it first."
            )
    remove_run(run_id)


def _attach(run: Run) -> TrainRequest | None:
    """The request to return when ``run`` is done or being computed now (None: start it)."""
    st = run_status(run)
    if st.state == "done":
        return TrainRequest(run, None, True)
    if st.is_active and st.job_id:
        with contextlib.suppress(JobNotFoundError):
            job = get_job(st.job_id)
            if job.is_active:
                return TrainRequest(run, job, True)
    if st.state == "running" and st.job_id is None and process_alive(st.pid, st.pid_start):
        return TrainRequest(run, None, True)  # computed in-process (CLI `train`) now
    return None


def start_training(
    features_path: str | os.PathLike[str],
    vae_cfg: VAEConfig,
    prep_cfg: PreprocessConfig,
    *,
    world_size: int = 1,
    trusted: bool = False,
    slots: int | None = None,
) -> TrainRequest:
    """The run for this configuration, trained in a background job if it is not yet.

    ``features_path`` comes from a user (a page), so it must lie under ``data_root()``,
    symlinks resolved (``UnsafePathError`` otherwise); ``trusted`` skips that check for a
    path the engine itself recorded (a finished run's own features file).

    A done run is returned at once (``job`` None); a run being computed returns the job
    computing it (a second request attaches, it never trains twice); otherwise the run is
    created (or retried after a failure/cancel) and a training job is queued. Bad input
    (wrong schema, no features, too few rows, latent_dim > features) raises here, before
    any run or job exists.

    With ``slots`` the job's worker starts only while fewer than ``slots`` training workers
    are alive (:mod:`core.jobs.queue`): a sweep's cells and a study's seed runs wait as
    records, not as processes.
    """
    world_size = check_world_size(world_size)  # ConfigError past this machine's cores/GPUs
    if slots is not None and (not isinstance(slots, int) or slots < 1):
        raise ConfigError(f"slots must be a whole number >= 1, got {slots!r}.")
    if not trusted:
        features_path = resolve_under(data_root(), features_path)
    run_id = run_id_for(features_path, vae_cfg, prep_cfg)
    with contextlib.suppress(RunNotFoundError):
        if get_run(run_id).status().state == "done":
            return TrainRequest(get_run(run_id), None, True)
    manager = default_manager()
    with file_lock(manager.root / DEVICE_LOCKS / f"submit-{run_id}.lock"):
        with contextlib.suppress(RunNotFoundError):
            attached = _attach(get_run(run_id))
            if attached is not None:
                return attached
        # New, failed, cancelled, or queued without a live job: (re)start it, input checked first.
        check_training_input(features_path, vae_cfg, prep_cfg)
        try:
            return _queue_training(manager, features_path, vae_cfg, prep_cfg, world_size, slots)
        except OSError as exc:
            raise JobError(disk_error_text(f"Run {run_id}'s folder", exc)) from exc


def _queue_training(
    manager: JobManager,
    features_path: str | os.PathLike[str],
    vae_cfg: VAEConfig,
    prep_cfg: PreprocessConfig,
    world_size: int,
    slots: int | None = None,
) -> TrainRequest:
    """Create (or reuse) the run and queue a training job for it, its status reset; its
    worker starts now, or with ``slots`` when one of them is free."""
    run, existed = create_run(features_path, vae_cfg, prep_cfg)
    job = manager.submit_job(
        "train",
        {"run_id": run.run_id, "world_size": world_size},
        run_id=run.run_id,
        spawn=False,
    )
    # The run's status record becomes this job's state before its worker starts, so the
    # worker's "running" is never overwritten.
    run.update_status(
        state="queued",
        stage="queued",
        job_id=job.job_id,
        error=None,
        log_tail=None,
        progress=0.0,
        pid=None,
        pid_start=None,
        heartbeat=None,  # a retry starts fresh: the last attempt's beat is long stale
        device=None,
        message="queued",
        started_at=None,
        finished_at=None,
        eta_s=None,
    )
    if slots is None:
        return TrainRequest(run, manager.spawn(job.job_id), existed)
    manager.update(
        job.job_id, slots=slots, message=f"queued: waiting for a worker slot ({slots} at a time)"
    )
    queue.spawn_waiting(manager)
    return TrainRequest(run, manager.read(job.job_id), existed)


def submit_extraction(
    source: str | os.PathLike[str],
    name: str,
    window_s: float = 300.0,
    stride_s: float = 150.0,
    *,
    overwrite: bool = False,
    open_data_url: str | None = None,
    **filters: Any,
) -> JobInfo:
    """Queue a feature extraction of ``source`` ("demo", an open-data folder, or "opendata":
    StatsBomb's open data over HTTP from ``open_data_url``, downloaded first into the cache)
    into ``datasets_root()/<name>``. ``filters``: competitions, seasons, match_ids,
    max_matches, workers, executor (``"dask://HOST:PORT"``: a Dask cluster; as
    ``core.features.extract.extract_features``). An existing
    dataset is refused unless ``overwrite``."""
    try:
        dataset = Dataset.named(name)
    except DatasetImportError as exc:
        raise JobError(str(exc)) from exc
    if dataset.exists() and not overwrite:
        raise JobError(
            f"Dataset {name!r} already exists ({dataset.path}); runs trained on it refer to "
            "its features. Choose another name, or pass overwrite=True to replace it."
        )
    from core.features.extract import check_window_stride  # here: the pages import this module

    try:
        window_s, stride_s = check_window_stride(window_s, stride_s)
    except ConfigError as exc:
        raise JobError(str(exc)) from exc
    src = str(source)
    named = src in ("demo", OPEN_DATA_SOURCE)
    if src == OPEN_DATA_SOURCE and not filters.get("competitions"):
        raise JobError("An open-data extraction needs competitions=[id] (and seasons=[id]).")
    if not named and not Path(src).expanduser().is_dir():
        raise JobError(
            f"Source {src!r} is neither 'demo' nor a folder; give the root of a StatsBomb "
            "open-data copy (the folder holding data/competitions.json)."
        )
    unknown = sorted(set(filters) - EXTRACTION_FILTERS)
    if unknown:
        raise JobError(
            f"Unknown extraction filter(s) {unknown}; allowed: {sorted(EXTRACTION_FILTERS)}."
        )
    if filters.get("executor") is not None:  # checked now, not when the job reaches it
        try:
            filters["executor"] = str(filters["executor"]).strip() or None
            parse_executor(filters["executor"])
        except ConfigError as exc:
            raise JobError(str(exc)) from exc
    params = {
        "source": src if named else str(Path(src).expanduser().resolve()),
        "open_data_url": open_data_url,
        "name": name,
        "out_dir": str(dataset.path),
        "window_s": float(window_s),
        "stride_s": float(stride_s),
        "filters": {k: v for k, v in filters.items() if v is not None},
    }
    return submit_job("extract", params)


# --- tactical states, refitted in the background -----------------------------------------------


def states_job(run_id: str) -> JobInfo | None:
    """The newest states job of run ``run_id`` (running or ended), or None."""
    jobs = [j for j in list_jobs("states") if j.run_id == run_id]
    return jobs[0] if jobs else None


def submit_states(run_id: str, k_range: tuple[int, int], *, recompute: bool = True) -> JobInfo:
    """Refit run ``run_id``'s tactical states over ``k_range`` in a background job
    (:func:`core.services.states.get_states` in a worker process, into the run's
    ``states/`` cache), or the states job already running for that run: one per run.

    ``recompute=False`` lets the worker read a cache that matches ``k_range`` meanwhile.
    """
    low, high = (int(k) for k in k_range)
    if not 1 <= low <= high:
        raise JobError(f"A K range is two whole numbers 1 <= low <= high, got {k_range}.")
    run = get_run(run_id)  # RunNotFoundError for an unknown run, before any job exists
    manager = default_manager()
    with file_lock(manager.root / DEVICE_LOCKS / f"states-{run.run_id}.lock"):
        current = states_job(run.run_id)
        if current is not None and current.is_active:
            return current
        return manager.submit_job(
            "states",
            {"run_id": run.run_id, "k_range": [low, high], "recompute": bool(recompute)},
            run_id=run.run_id,
        )
