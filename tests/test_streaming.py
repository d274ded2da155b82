"""Training streamed from parquet: every row once per epoch, a bounded chunk at a time,
deterministic for a seed, learning like the resident matrix; a run above the limit streams
and leaves no matrix file behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
import torch

from core.errors import TrainingError
from core.model.config import PreprocessConfig, VAEConfig
from core.model.ddp import train_vae_ddp
from core.model.preprocessing import PreprocessingPipeline
from core.model.streaming import (
    RESIDENT_ENV,
    MatrixFile,
    StreamedRows,
    resident_limit_bytes,
    streams,
    write_matrix,
)
from core.model.training import train_vae
from core.pipeline.execute import execute_run
from core.runs.files import DIAGNOSTICS_FILE, MODEL_MATRIX_FILE
from core.runs.store import create_run

CPU = torch.device("cpu")
CFG = VAEConfig(latent_dim=3, hidden_dims=(32, 16), batch_size=16, n_epochs=8, dropout=0.0)


@pytest.fixture(scope="module")
def X_demo(demo_dataset: Path) -> npt.NDArray[np.float32]:
    """The real demo segments (windows), preprocessed as a run does."""
    df = pl.read_parquet(demo_dataset / "features.parquet").filter(
        pl.col("segment_type") == "window"
    )
    return PreprocessingPipeline().fit_transform(df)


@pytest.fixture
def matrix(X_demo: npt.NDArray[np.float32], tmp_path: Path) -> MatrixFile:
    """The demo matrix in row groups of 32 rows, so an epoch has several chunks."""
    return write_matrix(tmp_path / "m.parquet", X_demo, group_rows=32)


def _sorted_rows(a: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return a[np.lexsort(a.T[::-1])]


def test_an_epoch_reads_every_row_once_a_bounded_chunk_at_a_time(
    X_demo: npt.NDArray[np.float32], matrix: MatrixFile
) -> None:
    rows = StreamedRows(matrix, CPU, seed=3, chunk_groups=2)
    assert (rows.n_rows, rows.n_cols) == X_demo.shape == matrix.shape()
    assert rows.max_chunk_rows == 64 and rows.n_groups == -(-X_demo.shape[0] // 32)
    epochs = []
    for _ in range(2):
        chunks = [c.numpy() for c in rows.chunks()]
        assert all(c.shape[0] <= rows.max_chunk_rows for c in chunks)
        assert len(chunks) == -(-rows.n_groups // 2)
        epoch = np.concatenate(chunks)
        np.testing.assert_array_equal(_sorted_rows(epoch), _sorted_rows(X_demo))
        epochs.append(epoch)
    assert not np.array_equal(epochs[0], epochs[1])  # the groups are mixed anew each epoch
    again = StreamedRows(matrix, CPU, seed=3, chunk_groups=2)
    np.testing.assert_array_equal(np.concatenate([c.numpy() for c in again.chunks()]), epochs[0])


@pytest.mark.parametrize("ensemble", [1, 3])
def test_streamed_training_is_deterministic_and_learns_like_the_resident_matrix(
    X_demo: npt.NDArray[np.float32], matrix: MatrixFile, ensemble: int
) -> None:
    cfg = VAEConfig(**{**CFG.to_dict(), "ensemble": ensemble})
    a = train_vae(matrix, cfg, device="cpu")
    b = train_vae(matrix, cfg, device="cpu")
    resident = train_vae(X_demo, cfg, device="cpu")
    assert a.extra["data"].startswith("streamed from parquet")
    assert resident.extra["data"] == "resident on the device"
    assert [m.total for m in a.history] == [m.total for m in b.history]
    assert len(a.members) == ensemble - 1
    first, last = a.history[0].total, a.history[-1].total
    assert last < first  # it learns
    # Same model, data and epochs; only the batches differ (chunks shuffled within): the
    # final loss lands where the resident matrix's does.
    assert last == pytest.approx(resident.history[-1].total, rel=0.05)


def test_a_matrix_file_that_cannot_train_says_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(TrainingError, match=r"Cannot read the model matrix bad\.parquet"):
        train_vae(MatrixFile(bad), CFG, device="cpu")
    few = write_matrix(tmp_path / "few.parquet", np.zeros((5, 4), dtype=np.float32))
    with pytest.raises(TrainingError, match="fewer than one batch"):
        train_vae(few, CFG, device="cpu")
    with pytest.raises(TrainingError, match="2-D"):
        write_matrix(tmp_path / "v.parquet", np.zeros(4, dtype=np.float32))
    with pytest.raises(TrainingError, match="fewer than one batch"):  # before any rank starts
        train_vae_ddp(few, CFG, world_size=2, backend="gloo")


def test_the_limit_comes_from_the_environment_or_the_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(RESIDENT_ENV, raising=False)
    assert resident_limit_bytes(CPU) == 4096 * 2**20
    assert not streams(500_000 * 49 * 4, CPU)  # a five-league season's matrix stays resident
    monkeypatch.setenv(RESIDENT_ENV, "0.5")
    assert resident_limit_bytes(CPU) == 2**19 and streams(2**20, CPU)
    monkeypatch.setenv(RESIDENT_ENV, "lots")
    with pytest.raises(TrainingError, match=f"{RESIDENT_ENV}='lots' is not a number"):
        resident_limit_bytes(CPU)


def test_a_run_above_the_limit_streams_its_matrix_and_removes_it(
    demo_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RESIDENT_ENV, "0.001")  # 1 kB: the demo matrix streams
    vae = VAEConfig(latent_dim=3, hidden_dims=(32, 16), batch_size=32, n_epochs=4, random_state=11)
    run, _ = create_run(demo_dataset / "features.parquet", vae, PreprocessConfig())
    execute_run(run.run_id)
    assert run.status().state == "done", run.status()
    diag = json.loads(run.artifact_path(DIAGNOSTICS_FILE).read_text())
    assert diag["training_data"].startswith("streamed from parquet")
    assert not run.artifact_path(MODEL_MATRIX_FILE).exists()
    assert run.latents().height == diag["rows_retained"]
