"""Runs that recover (issue 24): a retried run starts with a fresh heartbeat, and a run
folder the disk will not write ends its job recorded with the disk error, never breaking a
listing or another run.

Real detached job workers on the demo features; the unwritable folder is made immutable
(``chattr +i`` as root, where permissions do not bind) or read-only (``chmod`` otherwise).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.infra.paths import runs_root
from core.infra.process import process_alive
from core.jobs.api import cancel_job, get_job, list_jobs, run_status, start_training
from core.jobs.records import HEARTBEAT_TIMEOUT_S
from core.model.config import MAX_EPOCHS, PreprocessConfig, VAEConfig
from core.runs.store import Run, list_runs
from tests.helpers import cli, wait_for

pytestmark = pytest.mark.slow

LONG = VAEConfig(
    latent_dim=2, hidden_dims=(16,), n_epochs=MAX_EPOCHS, batch_size=32, random_state=2401
)


@pytest.fixture
def features(demo_dataset: Path) -> Iterator[Path]:
    yield demo_dataset / "features.parquet"
    for job in list_jobs():  # a failed test must not leave a job holding the CPU
        if job.is_active:
            cancel_job(job.job_id)


def _training(run: Run, min_epoch: int = 1) -> None:
    def cond() -> bool:
        st = run_status(run)
        assert st.is_active, st
        return st.state == "running" and (st.epoch or 0) >= min_epoch

    wait_for(cond, 120, f"run {run.run_id} to train")


def test_a_run_retried_long_after_it_failed_starts_with_a_fresh_heartbeat(
    features: Path,
) -> None:
    first = start_training(features, LONG, PreprocessConfig())
    assert first.job is not None
    _training(first.run)
    assert cancel_job(first.job.job_id).state == "cancelled"
    # The cancelled attempt's last beat, as it reads 756 s later.
    first.run.update_status(heartbeat=time.time() - 756.0)
    assert HEARTBEAT_TIMEOUT_S < 756.0

    retry = start_training(features, LONG, PreprocessConfig())
    assert retry.job is not None and retry.job.job_id != first.job.job_id
    assert retry.run.status().heartbeat is None  # queued with no beat of its own yet
    _training(retry.run, min_epoch=2)
    time.sleep(2.0)  # several supervisor polls later it is still training
    st = run_status(retry.run)
    assert st.state == "running", st.error
    job = get_job(retry.job.job_id)
    assert job.state == "running" and job.heartbeat is not None
    assert time.time() - job.heartbeat < 10.0
    assert cancel_job(retry.job.job_id).state == "cancelled"


@contextlib.contextmanager
def _unwritable(folder: Path) -> Iterator[None]:
    """``folder`` refuses new files for the ``with`` block (as a read-only disk would)."""
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None:
            pytest.skip("chattr is needed to make a folder unwritable for root")
        made = subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip(f"this file system has no immutable flag: {made.stderr!r}")
        try:
            yield
        finally:
            subprocess.run([chattr, "-i", str(folder)], check=True)
    else:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)


def test_an_unwritable_run_folder_fails_its_job_with_the_disk_error(
    features: Path, demo_run: Run
) -> None:
    req = start_training(features, dataclasses.replace(LONG, random_state=2402), PreprocessConfig())
    assert req.job is not None
    job_id = req.job.job_id
    _training(req.run)
    pid = get_job(job_id).pid
    with _unwritable(req.run.path):
        wait_for(lambda: get_job(job_id).is_final, 30, "the job to end")
        job = get_job(job_id)
        assert job.state == "failed", job
        error = job.error or ""
        assert "could not be written" in error and "disk error" in error, error
        assert "kill -9" not in error and "out of memory" not in error, error
        # The job's own record holds its end (the run folder could not take it).
        record = json.loads((runs_root() / "_jobs" / job_id / "job.json").read_text())
        assert record["state"] == "failed" and "could not be written" in record["error"]
        st = run_status(req.run)
        assert st.state == "failed" and "could not be written" in (st.error or "")
        # Listings and other runs are unaffected.
        assert job_id in [j.job_id for j in list_jobs()]
        assert req.run in list_runs() and demo_run in list_runs()
        assert run_status(demo_run).state == "done"
        out = cli("jobs", timeout=120)
        assert out.returncode == 0, out.stderr
        assert job_id in out.stdout
    if pid is not None:
        wait_for(lambda: not process_alive(pid), 10, "the worker to exit")
