"""Never lose or corrupt a run: bad configs, bad run folders, races, dead and frozen workers,
paths that leave their root, uploads, and the smaller refusals (issue 10).

Everything here is real: real runs on the demo features, real CLI processes, real job
workers killed with real signals, and the dashboard rendered by Streamlit's AppTest.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core.errors import (
    ConfigError,
    DatasetImportError,
    FeaturesFileError,
    RunNotFoundError,
    TrainingError,
    UnsafePathError,
)
from core.features.datasets import (
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_MB,
    UPLOAD_CHUNK_BYTES,
    import_features_stream,
    list_datasets,
    load_features,
)
from core.infra.paths import data_root, datasets_root, runs_root
from core.infra.process import process_alive
from core.jobs.api import cancel_job, delete_run, list_jobs, start_training
from core.model.config import PreprocessConfig, VAEConfig
from core.pipeline.prepare import check_training_input
from core.runs.store import Run, create_run, get_run, list_runs
from tests.helpers import APP, PROJECT_ROOT, cli, healthy, wait_for

QUICK = VAEConfig(latent_dim=2, hidden_dims=(16,), n_epochs=30, batch_size=32)
LONG = dataclasses.replace(QUICK, n_epochs=50_000)


@pytest.fixture
def features(demo_dataset: Path) -> Iterator[Path]:
    yield demo_dataset / "features.parquet"
    for job in list_jobs():  # a failed test must not leave a job holding the CPU
        if job.is_active:
            cancel_job(job.job_id)


# --- 1. configs: validated at construction, a stored bad one marks the run broken ---------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("beta", math.inf),
        ("beta", math.nan),
        ("beta", None),
        ("learning_rate", math.inf),
        ("learning_rate", 0.0),
        ("dropout", math.nan),
        ("lr_factor", math.inf),
        ("early_stopping_min_delta", math.nan),
        ("n_epochs", 10**9),
        ("latent_dim", True),
        ("batch_size", 2.5),
        ("hidden_dims", "64,32"),
        ("random_state", -1),
    ],
)
def test_vae_config_refuses_non_finite_and_out_of_range(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        VAEConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("pca_variance_threshold", math.nan), ("null_column_threshold", math.inf), ("max_tier", 1.5)],
)
def test_preprocess_config_refuses_bad_values(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        PreprocessConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("flag", ["--beta", "--lr"])
def test_cli_refuses_inf_before_any_run_exists(features: Path, flag: str) -> None:
    before = {r.run_id for r in list_runs()}
    out = cli("train", "--features", str(features), flag, "inf", "--epochs", "2")
    assert out.returncode == 2, out.stderr
    assert "finite" in out.stderr and "Traceback" not in out.stderr
    assert {r.run_id for r in list_runs()} == before


def test_bad_run_folders_read_as_broken_not_errors(bad_runs: dict[str, Run]) -> None:
    listed = {r.run_id for r in list_runs()}
    assert {r.run_id for r in bad_runs.values()} <= listed  # listed, so they can be deleted
    broken = bad_runs["config"].status()
    assert broken.state == "broken" and "config.json" in (broken.error or "")
    assert bad_runs["config"].problem() is not None
    torn = bad_runs["status"].status()
    assert torn.state == "broken" and "status.json" in (torn.error or "")
    metrics_run = bad_runs["metrics"]
    assert metrics_run.status().state == "done"
    table = metrics_run.metrics()
    n_lines = len((metrics_run.path / "metrics.jsonl").read_text().splitlines())
    assert table.height == n_lines - 1  # only the corrupt line is skipped
    assert "1 corrupt line" in (metrics_run.metrics_warning() or "")
    # A broken run can be deleted like any other.
    delete_run(bad_runs["status"].run_id)
    with pytest.raises(RunNotFoundError):
        get_run(bad_runs["status"].run_id)


def _healthy(at: AppTest, where: str) -> None:
    healthy(at, where)
    assert [t.value for t in at.title] == ["Train"], where


# --- 2. one writer per run -----------------------------------------------------------------


@pytest.mark.slow
def test_same_configuration_from_two_cli_processes_trains_once(features: Path) -> None:
    args = [
        "train", "--features", str(features), "--latent-dim", "2", "--hidden-dims", "16",
        "--epochs", "60", "--batch-size", "32", "--seed", "8080",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "core", *args],
            cwd=PROJECT_ROOT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    folders = {o[0].strip().splitlines()[-1] for o in outs}
    assert len(folders) == 1, outs  # both name the same run
    run = Run(Path(folders.pop()).name, Path(next(iter(o[0] for o in outs)).strip()))
    epochs = run.metrics()["epoch"].to_list()
    assert epochs == list(range(1, len(epochs) + 1)), epochs  # each epoch exactly once
    log = (run.path / "log.txt").read_text()
    assert log.count("Training beta-VAE") == 1, log
    followed = [o[1] for o in outs if "already training" in o[1]]
    trained_directly = [o[1] for o in outs if "already training" not in o[1]]
    assert len(trained_directly) >= 1 and len(followed) + len(trained_directly) == 2


# --- 4. jobs supervised without a reader ---------------------------------------------------


def _status_file(run: Run) -> dict[str, object]:
    """status.json as on disk (no reconciling reader involved)."""
    data: dict[str, object] = json.loads((run.path / "status.json").read_text())
    return data


def _worker_training(run: Run) -> int:
    """Wait until the run's job worker trains; its pid (read from disk only)."""

    def training() -> bool:
        st = run.status()
        return st.state == "running" and st.stage == "training" and (st.epoch or 0) >= 1

    wait_for(training, 120, "the job to train")
    pid = run.status().pid
    assert pid is not None and process_alive(pid)
    return pid


@pytest.mark.slow
def test_killed_worker_is_failed_on_disk_within_10s_with_no_reader(features: Path) -> None:
    req = start_training(features, dataclasses.replace(LONG, random_state=9001), PreprocessConfig())
    pid = _worker_training(req.run)
    os.kill(pid, signal.SIGKILL)
    took = wait_for(lambda: _status_file(req.run)["state"] == "failed", 10, "failed on disk")
    status = _status_file(req.run)
    assert "SIGKILL" in str(status["error"]) and f"pid {pid}" in str(status["error"])
    assert "Training beta-VAE" in str(status["log_tail"])
    assert req.job is not None
    job_file = json.loads(
        (runs_root() / "_jobs" / req.job.job_id / "job.json").read_text()
    )  # the job's own record holds the final state too
    assert job_file["state"] == "failed"
    print(f"kill -9 -> failed on disk in {took:.1f} s")


@pytest.mark.slow
def test_frozen_worker_is_killed_and_failed_within_10s(features: Path) -> None:
    req = start_training(features, dataclasses.replace(LONG, random_state=9002), PreprocessConfig())
    pid = _worker_training(req.run)
    os.kill(pid, signal.SIGSTOP)
    took = wait_for(lambda: _status_file(req.run)["state"] == "failed", 10, "failed on disk")
    assert "stopped" in str(_status_file(req.run)["error"])
    wait_for(lambda: not process_alive(pid), 10, "the frozen worker to be killed")
    print(f"SIGSTOP -> failed on disk in {took:.1f} s")


@pytest.mark.slow
def test_train_page_follows_a_running_job_after_a_restart(features: Path) -> None:
    """A fresh session (the app restarted) finds the running job on disk and shows its
    curves; ``?run=`` restores the curves of any run."""
    req = start_training(features, dataclasses.replace(LONG, random_state=9003), PreprocessConfig())
    _worker_training(req.run)
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("pages/train.py").run()
    _healthy(at, "train")
    assert at.session_state["train_watch_run"] == req.run.run_id
    assert any(req.run.run_id in m.value for m in at.markdown)
    assert req.job is not None
    cancel_job(req.job.job_id)


def test_train_page_restores_curves_from_the_url(demo_run: Run) -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["run"] = demo_run.run_id
    at.switch_page("pages/train.py").run()
    _healthy(at, "train")
    assert at.session_state["train_watch_run"] == demo_run.run_id
    keys = [el.proto.id for el in at.get("plotly_chart")]
    assert any(k.endswith("loss_curves") for k in keys), keys


# --- 5. paths: symlinks never get around the root guard ------------------------------------


def test_symlinked_dataset_folders_and_files_are_refused(features: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(features, outside / "features.parquet")
    linked_folder = datasets_root() / "linked-folder"
    linked_folder.symlink_to(outside, target_is_directory=True)
    linked_file = datasets_root() / "linked-file"
    linked_file.mkdir()
    (linked_file / "features.parquet").symlink_to("/etc/hostname")
    try:
        names = {d.name for d in list_datasets()}
        assert "linked-folder" not in names and "linked-file" not in names
        for bad in (linked_folder / "features.parquet", linked_file / "features.parquet"):
            with pytest.raises(UnsafePathError, match="symbolic link") as refused:
                start_training(bad, QUICK, PreprocessConfig())
            assert str(data_root()) not in str(refused.value)  # no server paths
        with pytest.raises(UnsafePathError):
            start_training(outside / "features.parquet", QUICK, PreprocessConfig())
    finally:
        linked_folder.unlink()
        shutil.rmtree(linked_file)


# --- 6. uploads stream with one limit ------------------------------------------------------


class _CountingStream(io.BytesIO):
    """A stream that records the largest read asked of it."""

    largest = 0

    def read(self, size: int | None = -1) -> bytes:
        self.largest = max(self.largest, size if size is not None and size >= 0 else 1 << 62)
        return super().read(size)


def test_upload_limit_is_one_number_everywhere() -> None:
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB
    assert MAX_UPLOAD_BYTES == MAX_UPLOAD_MB * 2**20
    page = (PROJECT_ROOT / "pages" / "data.py").read_text()
    assert "MAX_UPLOAD_MB" in page and "200" not in page.split("MAX_UPLOAD_MB", 1)[0][-200:]


def test_upload_is_streamed_and_refused_while_streaming(features: Path) -> None:
    leftovers = set(datasets_root().glob(".upload-*"))
    big = _CountingStream(b"\0" * (3 * UPLOAD_CHUNK_BYTES))
    with pytest.raises(DatasetImportError, match="upload limit of 2 MB"):
        import_features_stream(big, "too-big", max_bytes=2 * UPLOAD_CHUNK_BYTES)
    assert big.largest == UPLOAD_CHUNK_BYTES  # read in chunks, never whole
    assert big.tell() <= 3 * UPLOAD_CHUNK_BYTES
    assert not (datasets_root() / "too-big").exists()
    good = _CountingStream(features.read_bytes())
    imported = import_features_stream(good, "streamed-upload")
    try:
        assert good.largest == UPLOAD_CHUNK_BYTES
        assert imported.segments == pl.read_parquet(features).height
    finally:
        shutil.rmtree(imported.path)
    assert set(datasets_root().glob(".upload-*")) == leftovers  # no temporary file left


# --- 7. smaller refusals -------------------------------------------------------------------


def test_too_few_segments_fail_the_pre_check(features: Path) -> None:
    tiny = datasets_root() / "three-rows" / "features.parquet"
    tiny.parent.mkdir(exist_ok=True)
    pl.read_parquet(features).filter(pl.col("segment_type") == "window").head(3).write_parquet(tiny)
    try:
        with pytest.raises(TrainingError, match="at least 10 segments"):
            check_training_input(tiny, QUICK, PreprocessConfig())
        before = {r.run_id for r in list_runs()}
        with pytest.raises(TrainingError):
            start_training(tiny, QUICK, PreprocessConfig())
        assert {r.run_id for r in list_runs()} == before
    finally:
        shutil.rmtree(tiny.parent)


@pytest.mark.slow  # a CLI process of its own (seconds of imports)
def test_export_onto_an_existing_file_is_a_clear_error(demo_run: Run, tmp_path: Path) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    out = cli("export", demo_run.run_id, "--out", str(target), timeout=180)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "is an existing file" in out.stderr
    assert target.read_text() == "keep me"


def test_errors_name_datasets_and_runs_not_server_paths(demo_dataset: Path) -> None:
    with pytest.raises(RunNotFoundError) as missing_run:
        get_run("0123456789ab")
    with pytest.raises(FeaturesFileError) as missing_file:
        load_features(datasets_root() / "gone" / "features.parquet")
    with pytest.raises(UnsafePathError) as escaped:
        start_training(data_root() / ".." / "x.parquet", QUICK, PreprocessConfig())
    for exc in (missing_run.value, missing_file.value, escaped.value):
        assert str(data_root()) not in str(exc) and str(runs_root()) not in str(exc), exc
    assert "datasets/gone/features.parquet" in str(missing_file.value)


def test_a_created_run_is_never_half_written(features: Path) -> None:
    """create_run on a run id whose folder holds only a status (a crash between the two
    writes) completes it instead of failing."""
    cfg = dataclasses.replace(QUICK, random_state=9004)
    run, _ = create_run(features, cfg, PreprocessConfig())
    (run.path / "config.json").unlink()
    assert run.run_id not in {r.run_id for r in list_runs()}  # not listed while incomplete
    again, existed = create_run(features, cfg, PreprocessConfig())
    assert not existed and again.config().vae == cfg
    shutil.rmtree(run.path)
