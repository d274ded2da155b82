"""The worker side of a job: ``python -m core job-worker JOB_ID`` runs here.

It records its pid, proves it is alive with a heartbeat, takes a device slot for training,
and writes the job's final state whatever happens: ``done``, ``cancelled`` (cancel flag,
SIGTERM, Ctrl-C) or ``failed`` with the error and the log tail. Kinds: ``train`` (a run,
on a device), ``extract`` (a dataset) and ``states`` (a run's tactical states refitted over
another K range, on the CPU).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import JobError
from core.infra.numba_cache import setup_numba_cache
from core.infra.process import die_with_parent, process_start_time, utc_now
from core.jobs.manager import JobManager
from core.jobs.records import (
    HEARTBEAT_S,
    PROGRESS_EVERY_S,
    SUPERVISOR_ENV,
    JobCancelled,
    JobInfo,
    JobTerminated,
    summary_dict,
)
from core.runs.store import get_run

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


def _raise_terminated(signum: int, frame: object) -> None:
    raise JobTerminated()


def run_worker(manager: JobManager, job_id: str) -> int:
    """Body of ``python -m core job-worker JOB_ID``; returns the process exit code."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if supervisor:
        die_with_parent()  # never outlive the supervisor that records this job's end
        if str(os.getppid()) != supervisor:
            return 1  # the supervisor died while this process was starting
    job = manager.read(job_id)
    if job.is_final:
        return 0
    setup_numba_cache()  # before anything imports numba: compiled UMAP code is reused
    pid = os.getpid()
    manager.update(job_id, pid=pid, pid_start=process_start_time(pid), heartbeat=time.time())
    signal.signal(signal.SIGTERM, _raise_terminated)
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(manager, job_id, stop), name="job-heartbeat", daemon=True
    )
    beat.start()
    cancel_flag = manager.cancel_flag(job_id)
    try:
        if job.kind == "train":
            _work_train(manager, job, cancel_flag)
        elif job.kind == "extract":
            _work_extract(manager, job, cancel_flag)
        elif job.kind == "states":
            _work_states(manager, job, cancel_flag)
        else:
            raise JobError(f"Unknown job kind {job.kind!r}.")
        return 0
    except (JobTerminated, JobCancelled, KeyboardInterrupt):
        manager.update(
            job_id, state="cancelled", message="cancelled", finished_at=utc_now(), eta_s=None
        )
        logger.info("job %s cancelled", job_id)
        return 0
    # Whatever the work raised, the job must end recorded as failed with the reason.
    except Exception as exc:
        logger.exception("job %s failed", job_id)
        manager.update(
            job_id,
            state="failed",
            error=f"{type(exc).__name__}: {exc}",
            log_tail=manager.log_tail(job_id),
            message=f"failed: {type(exc).__name__}",
            finished_at=utc_now(),
            eta_s=None,
        )
        return 1
    finally:
        stop.set()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _heartbeat(manager: JobManager, job_id: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        # A missed beat is harmless (the next one follows); the thread must never die.
        with contextlib.suppress(Exception):
            manager.update(job_id, heartbeat=time.time())


def _progress_writer(manager: JobManager, job_id: str) -> Progress:
    """A throttled ``progress(done, total, message)`` that records progress and time left."""
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
        eta = (now - started) / frac * (1 - frac) if frac > 0 else None
        manager.update(
            job_id,
            progress=round(frac, 4),
            eta_s=None if eta is None else round(eta, 1),
            message=message,
            heartbeat=time.time(),
        )

    return progress


def _work_train(manager: JobManager, job: JobInfo, cancel_flag: Path) -> None:
    from core.pipeline.execute import execute_run

    run_id = str(job.params["run_id"])
    world_size = int(job.params.get("world_size", 1))
    run = get_run(run_id)
    manager.update(job.job_id, message="waiting for a free device")
    with manager.device_slot(job.job_id, world_size, cancel_flag) as device:
        manager.update(
            job.job_id,
            state="running",
            device=device,
            started_at=utc_now(),
            message=f"training on {device}",
        )
        # The pipeline writes the run's status record (this job's state) itself.
        execute_run(
            run_id,
            device=None if device.startswith("ddp") else device,
            should_stop=cancel_flag.exists,
            world_size=world_size,
            job_id=job.job_id,
        )
    st = run.status()
    if st.state == "cancelled":
        raise JobCancelled()
    if st.state != "done":
        raise JobError(st.error or f"run {run_id} ended in state {st.state}")
    _done(manager, job.job_id, st.message, {"run_id": run_id})


def _done(manager: JobManager, job_id: str, message: str, result: dict[str, Any]) -> None:
    """Record a job that ended well: ``done``, full progress, its message and result."""
    manager.update(
        job_id,
        state="done",
        progress=1.0,
        eta_s=0.0,
        finished_at=utc_now(),
        message=message,
        result=result,
    )


def _cancellable_progress(manager: JobManager, job_id: str, cancel_flag: Path) -> Progress:
    """:func:`_progress_writer` that raises :class:`JobCancelled` once cancel is asked."""
    writer = _progress_writer(manager, job_id)

    def progress(done: int, total: int, message: str) -> None:
        if cancel_flag.exists():
            raise JobCancelled()
        writer(done, total, message)

    return progress


def _work_extract(manager: JobManager, job: JobInfo, cancel_flag: Path) -> None:
    from core.data.opendata import OPEN_DATA_SOURCE, fetch_open_data
    from core.features.datasets import Dataset
    from core.features.extract import extract_features
    from core.infra.io import atomic_write_json

    params: dict[str, Any] = job.params
    out_dir = Path(params["out_dir"])
    manager.update(job.job_id, state="running", started_at=utc_now(), message="extracting")
    progress = _cancellable_progress(manager, job.job_id, cancel_flag)

    source, filters = params["source"], dict(params.get("filters", {}))
    download_skips: list[tuple[str, str]] = []
    if source == OPEN_DATA_SOURCE:  # download into the cache, then extract it as a folder
        fetched = fetch_open_data(
            filters.get("competitions"),
            filters.get("seasons"),
            url=params.get("open_data_url"),
            match_ids=filters.pop("match_ids", None),
            max_matches=filters.get("max_matches"),
            progress=progress,
        )
        source, filters["match_ids"] = str(fetched.folder), fetched.match_ids
        download_skips = fetched.skipped
    summary = extract_features(
        source,
        out_dir,
        window_s=float(params.get("window_s", 300)),
        stride_s=float(params.get("stride_s", 150)),
        progress=progress,
        **filters,
    )
    if download_skips:  # the matches the server lacked belong among the skipped files
        summary.skipped[:0] = download_skips
        atomic_write_json(Dataset(out_dir).summary_path, summary.to_dict())
    result = summary_dict(summary)
    result["out_dir"] = str(out_dir)
    _done(manager, job.job_id, f"extracted to {out_dir}", result)


def _work_states(manager: JobManager, job: JobInfo, cancel_flag: Path) -> None:
    """Refit the run's tactical states over the job's K range into its ``states/`` cache."""
    from core.services.states import get_states

    run = get_run(str(job.params["run_id"]))
    low, high = (int(k) for k in job.params["k_range"])
    manager.update(job.job_id, state="running", started_at=utc_now(), message="fitting mixtures")
    progress = _cancellable_progress(manager, job.job_id, cancel_flag)

    result = get_states(
        run,
        k_range=(low, high),
        recompute=bool(job.params.get("recompute", True)),
        progress=progress,
    )
    summary = result.summary
    _done(
        manager,
        job.job_id,
        f"states: K={summary['latent']['best_k']} (latent), "
        f"K={summary['features']['best_k']} (features)",
        {
            "run_id": run.run_id,
            "k_values": summary["params"]["k_values"],
            "latent_k": summary["latent"]["best_k"],
            "features_k": summary["features"]["best_k"],
        },
    )
