"""execute_run on real demo features: bad input fails clearly, divergence and cancel keep state."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from core.errors import FeaturesFileError, RunBusyError, TrainingError
from core.features.datasets import load_features
from core.infra.process import process_start_time
from core.jobs.api import run_status
from core.model.config import PreprocessConfig, VAEConfig
from core.model.preprocessing import PreprocessingError
from core.model.training import NonFiniteLossError
from core.pipeline.execute import execute_run
from core.runs.store import Run, create_run, get_run

TINY = VAEConfig(
    latent_dim=2, hidden_dims=(16,), n_epochs=3, batch_size=32, dropout=0.0, random_state=5
)


@pytest.fixture(scope="module")
def demo_features(demo_dataset: Path) -> pl.DataFrame:
    return pl.read_parquet(demo_dataset / "features.parquet")


def _write(df: pl.DataFrame, tmp_path: Path, name: str = "features.parquet") -> Path:
    path = tmp_path / name
    df.write_parquet(path)
    return path


def _feature_cols(df: pl.DataFrame) -> list[str]:
    return [c for c in df.columns if c[:1] == "t" and c[1:2].isdigit()]


def _run_failing(
    path: Path, vae: VAEConfig, prep: PreprocessConfig | None = None
) -> tuple[Run, BaseException]:
    run, _ = create_run(path, vae, prep or PreprocessConfig())
    with pytest.raises(Exception) as info:
        execute_run(run.run_id)
    st = run.status()
    assert st.state == "failed"
    assert st.error == str(info.value)
    return run, info.value


class TestBadInput:
    def test_wrong_schema(self, demo_features: pl.DataFrame, tmp_path: Path) -> None:
        path = _write(demo_features.drop("segment_type", "period"), tmp_path)
        _, err = _run_failing(path, TINY)
        assert isinstance(err, FeaturesFileError)
        assert "segment_type" in str(err) and "period" in str(err)

    def test_not_parquet(self, tmp_path: Path) -> None:
        path = tmp_path / "features.parquet"
        path.write_text("match_id,team_id\n1,2\n")
        with pytest.raises(FeaturesFileError, match="not a readable parquet"):
            load_features(path)

    def test_no_feature_columns(self, demo_features: pl.DataFrame, tmp_path: Path) -> None:
        path = _write(demo_features.drop(_feature_cols(demo_features)), tmp_path)
        _, err = _run_failing(path, TINY)
        assert "no feature columns" in str(err)

    def test_all_nan_and_constant_columns_are_dropped_and_reported(
        self, demo_features: pl.DataFrame, tmp_path: Path
    ) -> None:
        feats = _feature_cols(demo_features)
        df = demo_features.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(feats[0]), pl.lit(1.5).alias(feats[1])
        )
        run, _ = create_run(_write(df, tmp_path), TINY, PreprocessConfig())
        execute_run(run.run_id)
        assert run.status().state == "done"
        diag = run.diagnostics()
        assert feats[0] in diag["dropped_null_columns"]
        assert feats[1] in diag["dropped_constant_columns"]
        assert feats[0] not in run.correlations().feature_names

    def test_every_feature_null(self, demo_features: pl.DataFrame, tmp_path: Path) -> None:
        df = demo_features.with_columns(
            [pl.lit(None, dtype=pl.Float64).alias(c) for c in _feature_cols(demo_features)]
        )
        _, err = _run_failing(_write(df, tmp_path), TINY)
        assert isinstance(err, PreprocessingError)
        assert "null" in str(err)

    def test_fewer_rows_than_a_batch(self, demo_features: pl.DataFrame, tmp_path: Path) -> None:
        small = demo_features.filter(pl.col("segment_type") == "window").head(20)
        _, err = _run_failing(_write(small, tmp_path), TINY)
        assert isinstance(err, TrainingError)
        assert "batch_size=32" in str(err) and "20 segments" in str(err)

    def test_latent_dim_larger_than_features(
        self, demo_features: pl.DataFrame, tmp_path: Path
    ) -> None:
        keep = _feature_cols(demo_features)[:3]
        df = demo_features.drop([c for c in _feature_cols(demo_features) if c not in keep])
        _, err = _run_failing(_write(df, tmp_path), dataclasses.replace(TINY, latent_dim=6))
        assert isinstance(err, TrainingError)
        assert "latent_dim=6" in str(err)

    def test_unknown_segment_type(self, demo_features: pl.DataFrame, tmp_path: Path) -> None:
        df = demo_features.filter(pl.col("segment_type") == "window")
        _, err = _run_failing(
            _write(df, tmp_path), TINY, PreprocessConfig(segment_type="possession")
        )
        assert "No 'possession' segments" in str(err) and "window" in str(err)

    def test_failure_loses_nothing_already_computed(
        self, demo_run: Run, demo_features: pl.DataFrame, tmp_path: Path
    ) -> None:
        before = {p.name: p.stat().st_mtime_ns for p in demo_run.path.iterdir()}
        _run_failing(_write(demo_features.drop("match_id"), tmp_path), TINY)
        after = {p.name: p.stat().st_mtime_ns for p in demo_run.path.iterdir()}
        assert after == before
        assert get_run(demo_run.run_id).status().state == "done"


def test_divergence_fails_naming_the_epoch_and_keeps_metrics(demo_dataset: Path) -> None:
    # Full-batch steps with learning rate 1.0 blow the demo model up within a few epochs.
    path = demo_dataset / "features.parquet"
    n = pl.read_parquet(path).filter(pl.col("segment_type") == "window").height
    vae = dataclasses.replace(TINY, n_epochs=40, learning_rate=1.0, batch_size=n)
    run, err = _run_failing(path, vae)
    assert isinstance(err, NonFiniteLossError)
    assert err.epoch > 1  # some epochs finished before the divergence
    error = run.status().error or ""
    assert f"epoch {err.epoch}" in error and "not finite" in error
    lines = run.artifact_path("metrics.jsonl").read_text().splitlines()
    assert len(lines) == err.epoch - 1 == len(err.history)
    assert run.metrics()["epoch"].to_list() == list(range(1, err.epoch))
    assert all(np.isfinite(json.loads(line)["total"]) for line in lines)
    assert not run.has("latents.parquet")


def test_cancel_between_epochs(demo_dataset: Path) -> None:
    vae = dataclasses.replace(TINY, n_epochs=500, random_state=99)
    run, _ = create_run(demo_dataset / "features.parquet", vae, PreprocessConfig())
    seen: list[int] = []

    def progress(done: int, total: int, message: str) -> None:
        if message.startswith("epoch"):
            seen.append(done)

    execute_run(run.run_id, progress=progress, should_stop=lambda: len(seen) >= 5)
    st = run.status()
    assert st.state == "cancelled"
    assert 5 <= run.metrics().height < 500
    assert not run.has("latents.parquet") and not run.has("model.pt")


def test_progress_and_stages(demo_dataset: Path) -> None:
    vae = dataclasses.replace(TINY, n_epochs=4, random_state=123)
    run, _ = create_run(demo_dataset / "features.parquet", vae, PreprocessConfig())
    calls: list[tuple[int, int, str]] = []
    execute_run(run.run_id, progress=lambda d, t, m: calls.append((d, t, m)))
    msgs = [m for _, _, m in calls]
    assert sum(m.startswith("epoch") for m in msgs) == 4
    for stage in ("encoding", "correlating", "ranking", "UMAP", "VAE health"):
        assert any(m.startswith(stage) for m in msgs), stage
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1]
    st = run.status()
    assert st.state == "done" and st.pid is not None and st.finished_at
    assert "log.txt" in {p.name for p in run.path.iterdir()}
    assert "UMAP" in run.log_tail()


def test_refuses_a_run_another_live_process_computes(demo_dataset: Path) -> None:
    vae = dataclasses.replace(TINY, random_state=321)
    run, _ = create_run(demo_dataset / "features.parquet", vae, PreprocessConfig())
    other = subprocess.Popen(["sleep", "30"])
    try:
        run.update_status(
            state="running",
            stage="training",
            pid=other.pid,
            pid_start=process_start_time(other.pid),
        )
        with pytest.raises(RunBusyError, match=f"process {other.pid}"):
            execute_run(run.run_id)
        st = run.status()
        assert st.state == "running" and st.pid == other.pid  # untouched
    finally:
        other.kill()
        other.wait()
    assert run.status().state == "running"  # reading the record never changes it
    assert run_status(run).state == "failed"  # the jobs package notices the dead process
    execute_run(run.run_id)  # a retry starts clean and finishes
    assert run.status().state == "done" and run.metrics().height == vae.n_epochs
