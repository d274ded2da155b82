"""Background jobs with real detached worker processes on the demo features.

Every transition: queued -> running -> done, attach, cancel, kill -9 -> failed with the log
tail, one CPU training job at a time (the next waits queued), visibility from a fresh
process (an app restart), and extraction jobs.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from core.errors import (
    ConfigError,
    InvalidJobIdError,
    JobError,
    JobNotFoundError,
    RunBusyError,
    TrainingError,
)
from core.infra.paths import datasets_root, runs_root
from core.infra.process import process_alive
from core.jobs.api import (
    cancel_job,
    delete_run,
    get_job,
    list_jobs,
    start_training,
    submit_extraction,
    wait_job,
)
from core.jobs.manager import JobManager, default_manager
from core.jobs.queue import worker_counts
from core.jobs.records import HEARTBEAT_TIMEOUT_S, JobCancelled, JobInfo
from core.model.config import MAX_EPOCHS, PreprocessConfig, VAEConfig
from core.model.devices import DeviceInfo
from core.runs.store import list_runs
from core.views.jobs import job_lines
from core.views.sweep import with_queue_places
from tests.helpers import run_python, wait_for

pytestmark = pytest.mark.slow

QUICK = VAEConfig(latent_dim=2, hidden_dims=(16,), n_epochs=25, batch_size=32, random_state=101)
# Long enough that it is still training whenever the test acts on it.
LONG = dataclasses.replace(QUICK, n_epochs=MAX_EPOCHS, random_state=202)


def _training(job_id: str) -> Callable[[], bool]:
    def cond() -> bool:
        job = get_job(job_id)
        assert job.is_active, job
        return job.state == "running" and job.message.startswith("epoch")

    return cond


@pytest.fixture
def features(demo_dataset: Path) -> Iterator[Path]:
    yield demo_dataset / "features.parquet"
    # A failed test must not leave a training job holding the CPU for the next ones.
    for job in list_jobs():
        if job.is_active:
            cancel_job(job.job_id)


def test_training_job_lifecycle_attach_and_restart(features: Path) -> None:
    req = start_training(features, QUICK, PreprocessConfig())
    assert req.job is not None and not req.existed
    job_id = req.job.job_id
    assert req.job.state == "queued" and req.job.supervisor_pid is not None
    assert req.run.status().job_id == job_id

    # A second request for the same configuration attaches to the same job.
    again = start_training(features, QUICK, PreprocessConfig())
    assert again.existed and again.job is not None and again.job.job_id == job_id
    assert again.run == req.run

    seen: list[JobInfo] = []
    final = wait_job(job_id, timeout=240, progress=seen.append)
    assert final.state == "done", final.error
    states = [j.state for j in seen]
    assert "running" in states
    assert states.index("running") < len(states) - 1  # running observed before done
    progress = [j.progress for j in seen if j.state == "running"]
    assert progress == sorted(progress)
    assert (
        final.progress == 1.0 and final.eta_s == 0.0 and final.result == {"run_id": req.run.run_id}
    )
    assert final.device == "cpu"
    wait_for(lambda: not process_alive(final.pid), 10, "the worker to exit after done")

    st = req.run.status()
    assert st.state == "done" and st.job_id == job_id
    assert req.run.metrics().height == QUICK.n_epochs
    assert req.run.interpretation().height == 5 * QUICK.latent_dim

    # Done: returned at once, no job.
    t0 = time.monotonic()
    done = start_training(features, QUICK, PreprocessConfig())
    assert done.job is None and done.existed and done.run == req.run
    assert time.monotonic() - t0 < 2.0

    # An app restart: a fresh manager and a fresh process see the same job from disk.
    assert JobManager().get_job(job_id) == get_job(job_id)
    assert job_id in [j.job_id for j in list_jobs("train")]
    out = run_python(
        "-c",
        f"from core.jobs.api import get_job; j = get_job({job_id!r}); print(j.state, j.run_id)",
        timeout=120,
        check=True,
    )
    assert out.stdout.split() == ["done", req.run.run_id]


def test_kill_9_reports_failed_with_log_tail(features: Path) -> None:
    req = start_training(features, LONG, PreprocessConfig())
    assert req.job is not None
    job_id = req.job.job_id
    wait_for(_training(job_id), 120, "the job to train")
    pid = get_job(job_id).pid
    assert pid is not None and process_alive(pid)
    # Visible as running from a fresh process (app restarted while it trains).
    out = run_python(
        "-c",
        f"from core.jobs.api import get_job; print(get_job({job_id!r}).state)",
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "running"

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: get_job(job_id).state == "failed", 10, "the killed job to read failed")
    job = get_job(job_id)
    assert f"pid {pid}" in (job.error or "") and "died" in (job.error or "")
    assert job.log_tail and "Training beta-VAE" in job.log_tail
    assert "Training beta-VAE" in (job.error or "")
    st = req.run.status()
    assert st.state == "failed" and "died" in (st.error or "")
    assert req.run.metrics().height >= 1  # epochs written before the kill are kept

    # Asking again retries the failed run in a new job.
    retry = start_training(features, LONG, PreprocessConfig())
    assert retry.job is not None and retry.job.job_id != job_id and retry.run == req.run
    assert cancel_job(retry.job.job_id).state == "cancelled"


def test_silent_worker_is_reported_failed_and_killed(features: Path) -> None:
    """A worker that is alive but frozen (SIGSTOP: no heartbeat) is failed after the timeout."""
    req = start_training(features, dataclasses.replace(LONG, random_state=606), PreprocessConfig())
    assert req.job is not None
    job_id = req.job.job_id
    wait_for(_training(job_id), 120, "the job to train")
    pid = get_job(job_id).pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    # Pretend the last heartbeat is older than the timeout (the frozen worker cannot write).
    # A training job's state is its run's status record.
    req.run.update_status(heartbeat=time.time() - HEARTBEAT_TIMEOUT_S - 5)
    job = get_job(job_id)
    assert job.state == "failed" and "stopped responding" in (job.error or "")
    wait_for(lambda: not process_alive(pid), 10, "the frozen worker to be killed")
    assert req.run.status().state == "failed"


def test_cancel_stops_within_seconds(features: Path) -> None:
    vae = dataclasses.replace(LONG, random_state=303)
    req = start_training(features, vae, PreprocessConfig())
    assert req.job is not None
    job_id = req.job.job_id
    wait_for(_training(job_id), 120, "the job to train")
    pid = get_job(job_id).pid
    t0 = time.monotonic()
    job = cancel_job(job_id)
    elapsed = time.monotonic() - t0
    assert job.state == "cancelled" and elapsed < 5.0, (job, elapsed)
    wait_for(lambda: not process_alive(pid), 5, "the worker to exit")
    assert req.run.status().state == "cancelled"
    assert req.run.metrics().height >= 1
    assert cancel_job(job_id).state == "cancelled"  # idempotent


def test_one_cpu_training_job_at_a_time(features: Path) -> None:
    first = start_training(
        features, dataclasses.replace(LONG, random_state=404), PreprocessConfig()
    )
    assert first.job is not None
    first_id = first.job.job_id
    wait_for(_training(first_id), 120, "the first job to train")
    second = start_training(
        features, dataclasses.replace(LONG, random_state=405), PreprocessConfig()
    )
    assert second.job is not None
    second_id = second.job.job_id
    wait_for(lambda: "busy" in get_job(second_id).message, 60, "the second job to wait")
    # It keeps waiting while the first trains: its worker goes on beating (alive) and its
    # record stays queued; a start on the busy CPU fails the wait at the poll that sees it.
    beat_before = get_job(second_id).heartbeat
    assert beat_before is not None

    def still_waiting() -> bool:
        waiting = get_job(second_id)
        assert waiting.state == "queued" and "busy" in waiting.message, waiting
        assert get_job(first_id).state == "running"
        return (waiting.heartbeat or 0.0) > beat_before

    wait_for(still_waiting, 30, "a heartbeat of the waiting worker")
    waiting = get_job(second_id)
    assert waiting.state == "queued" and process_alive(waiting.pid)
    assert second.run.status().state == "queued"

    assert cancel_job(first_id).state == "cancelled"
    wait_for(_training(second_id), 60, "the second job to take the CPU")
    assert get_job(second_id).device == "cpu"
    assert cancel_job(second_id).state == "cancelled"


def test_cancel_a_queued_job(features: Path) -> None:
    a = start_training(features, dataclasses.replace(LONG, random_state=505), PreprocessConfig())
    b = start_training(features, dataclasses.replace(LONG, random_state=506), PreprocessConfig())
    assert a.job is not None and b.job is not None
    ids = [a.job.job_id, b.job.job_id]
    wait_for(
        lambda: any(get_job(i).message.startswith("epoch") for i in ids), 120, "one job to train"
    )
    training, waiting = ids if get_job(ids[0]).message.startswith("epoch") else ids[::-1]
    assert get_job(waiting).state == "queued"
    t0 = time.monotonic()
    job = cancel_job(waiting)
    assert job.state == "cancelled" and time.monotonic() - t0 < 5.0
    run = a.run if waiting == ids[0] else b.run
    assert run.status().state == "cancelled"
    assert get_job(training).state == "running"
    assert cancel_job(training).state == "cancelled"


def test_jobs_bound_to_slots_wait_as_records_not_processes(features: Path) -> None:
    """Issue 22: with ``slots=1`` a second job starts no process while the first trains; it
    starts when the first ends (its supervisor hands the slot on), and a third, cancelled
    while it waits, ends at once without ever having a process."""
    manager = default_manager()
    a = start_training(
        features, dataclasses.replace(LONG, random_state=515), PreprocessConfig(), slots=1
    )
    assert a.job is not None
    a_id = a.job.job_id
    # A free slot starts it at once; a slot still held by an earlier test's ending job
    # (its supervisor exiting) is handed on when that supervisor exits.
    wait_for(lambda: get_job(a_id).supervisor_pid is not None, 30, "a slot for a")
    wait_for(_training(a_id), 120, "the first job to train")
    b = start_training(
        features, dataclasses.replace(LONG, random_state=516), PreprocessConfig(), slots=1
    )
    c = start_training(
        features, dataclasses.replace(LONG, random_state=517), PreprocessConfig(), slots=1
    )
    assert b.job is not None and c.job is not None
    for waiting in (b.job, c.job):
        job = get_job(waiting.job_id)  # a reader: reconciling never calls it dead
        assert job.state == "queued" and job.supervisor_pid is None and job.pid is None, job
        assert "waiting for a worker slot" in job.message
    wait_for(lambda: worker_counts(manager) == (1, 2), 10, "one worker, two waiting")
    # The Train page's job list gives each waiting job its place in the queue.
    messages = {line.job_id: line.message for line in job_lines("train")}
    assert messages[b.job.job_id] == "waiting for a worker slot (1 at a time): next to start"
    assert messages[c.job.job_id] == "waiting for a worker slot (1 at a time): 1 job ahead of it"
    # The Sweep page's cells table says the same of each cell (its run) that waits.
    cells = pl.DataFrame({"run_id": [a.run.run_id, b.run.run_id, c.run.run_id]})
    queue = with_queue_places(cells)["queue"].to_list()
    assert queue == [None, "next to start", "1 job ahead"]
    t0 = time.monotonic()
    assert cancel_job(c.job.job_id).state == "cancelled" and time.monotonic() - t0 < 5.0
    assert c.run.status().state == "cancelled"
    wait_for(lambda: worker_counts(manager) == (1, 1), 10, "one worker, one waiting")
    assert cancel_job(a.job.job_id).state == "cancelled"
    wait_for(_training(b.job.job_id), 120, "the waiting job to take the freed slot")
    assert get_job(b.job.job_id).supervisor_pid is not None
    wait_for(lambda: worker_counts(manager) == (1, 0), 10, "one worker, none waiting")
    assert cancel_job(b.job.job_id).state == "cancelled"
    with pytest.raises(ConfigError, match="slots"):
        start_training(features, QUICK, PreprocessConfig(), slots=0)


def test_bad_training_input_fails_before_any_run_or_job(features: Path, tmp_path: Path) -> None:
    runs_before = {r.run_id for r in list_runs()}
    jobs_before = {j.job_id for j in list_jobs()}
    with pytest.raises(TrainingError, match="latent_dim=500"):
        start_training(features, dataclasses.replace(QUICK, latent_dim=500), PreprocessConfig())
    bad = datasets_root() / "no-segment-type" / "features.parquet"
    bad.parent.mkdir(exist_ok=True)
    pl.read_parquet(features).drop("segment_type").write_parquet(bad)
    with pytest.raises(ValueError, match="segment_type"):
        start_training(bad, QUICK, PreprocessConfig())
    assert {r.run_id for r in list_runs()} == runs_before
    assert {j.job_id for j in list_jobs()} == jobs_before


def test_extraction_job(demo_dataset: Path) -> None:
    job = submit_extraction("demo", "demo-copy")
    assert job.kind == "extract" and job.state == "queued"
    seen: list[JobInfo] = []
    final = wait_job(job.job_id, timeout=300, progress=seen.append)
    assert final.state == "done", final.error
    # Progress never goes back and ends complete, with the summary of what was extracted.
    progress = [j.progress for j in seen]
    assert progress == sorted(progress) and progress[-1] == final.progress == 1.0
    assert final.result is not None
    out = Path(final.result["out_dir"])
    assert out == demo_dataset.parent / "demo-copy"
    assert final.message == f"extracted to {out}"
    copy = pl.read_parquet(out / "features.parquet")
    original = pl.read_parquet(demo_dataset / "features.parquet")
    assert copy.shape == original.shape
    assert copy.sort("segment_id").equals(original.sort("segment_id"))
    matches = pl.read_parquet(demo_dataset / "matches.parquet")
    assert final.result["matches"] == matches.height == 3
    assert final.result["segments"] == original.height


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 80])
def test_extraction_refuses_bad_names(name: str) -> None:
    with pytest.raises(JobError, match="not allowed"):
        submit_extraction("demo", name)


def test_extraction_refuses_bad_source_and_filters(tmp_path: Path, demo_dataset: Path) -> None:
    with pytest.raises(JobError, match="already exists"):
        submit_extraction("demo", demo_dataset.name)
    with pytest.raises(JobError, match="neither 'demo' nor a folder"):
        submit_extraction(tmp_path / "missing", "x1")
    with pytest.raises(JobError, match="Unknown extraction filter"):
        submit_extraction("demo", "x2", colour="red")


def test_job_ids_are_checked() -> None:
    for bad in ("../../etc", "20261126T084012-3f9a0c/..", "x"):
        with pytest.raises(InvalidJobIdError):
            get_job(bad)
    # A well-formed id without a job is "not found" (not "invalid"); the message names the
    # job, never a server path.
    with pytest.raises(JobNotFoundError) as missing:
        get_job("20000101T000000-000000")
    assert type(missing.value) is JobNotFoundError
    assert str(missing.value) == "No job 20000101T000000-000000; it may have been cleaned up."
    assert str(runs_root()) not in str(missing.value)


def test_queued_jobs_spread_over_free_gpus(tmp_path: Path) -> None:
    """The slot logic the worker runs, with a two-GPU device list (this machine has none)."""
    devices = [
        DeviceInfo(0, "cuda", "GPU A", 80.0),
        DeviceInfo(1, "cuda", "GPU B", 80.0),
        DeviceInfo(0, "cpu", "CPU", None),
    ]
    mgr = JobManager(tmp_path / "jobs", devices=devices)
    ids = [mgr.submit_job("train", {"run_id": "x"}, spawn=False).job_id for _ in range(4)]
    flag = tmp_path / "cancel"
    result: dict[str, str] = {}

    def third() -> None:
        try:
            with mgr.device_slot(ids[2], 1, flag) as dev:
                result["device"] = dev
        except JobCancelled:
            result["device"] = "cancelled"

    with mgr.device_slot(ids[0], 1, flag) as d0, mgr.device_slot(ids[1], 1, flag) as d1:
        assert {d0, d1} == {"cuda:0", "cuda:1"}  # one job per GPU, never the CPU
        waiter = threading.Thread(target=third)
        waiter.start()
        # Both GPUs busy: the third job says it waits (a slot taken instead, e.g. the CPU,
        # would end the thread without that message) and holds no device.
        wait_for(lambda: "busy" in mgr.get_job(ids[2]).message, 10, "the third job to wait")
        assert result == {}
        assert mgr.get_job(ids[2]).state == "queued"
    waiter.join(10)
    assert result["device"] in {"cuda:0", "cuda:1"}
    # A data-parallel job takes every GPU at once.
    with mgr.device_slot(ids[3], 2, flag) as ddp:
        assert ddp == "ddp:2xcuda"
    # A cancel flag ends the wait.
    with mgr.device_slot(ids[0], 1, flag), mgr.device_slot(ids[1], 1, flag):
        flag.touch()
        with pytest.raises(JobCancelled), mgr.device_slot(ids[2], 1, flag):
            pass


def test_delete_refuses_a_run_its_job_is_computing(features: Path) -> None:
    req = start_training(features, dataclasses.replace(LONG, random_state=707), PreprocessConfig())
    assert req.job is not None
    with pytest.raises(RunBusyError, match=req.job.job_id):
        delete_run(req.run.run_id)
    assert cancel_job(req.job.job_id).state == "cancelled"
    delete_run(req.run.run_id)
    assert not req.run.path.exists()
