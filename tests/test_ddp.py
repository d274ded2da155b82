"""Data-parallel training (torch DDP, gloo on CPU, 2 processes) matches single-process training.

Tolerance: with dropout 0 every rank draws the same global permutation and noise and the
per-sample-mean loss makes DDP's averaged gradient equal the full-batch gradient, so the
curves differ only by float rounding: ``DDP_LOSS_RTOL`` (1e-4) relative per epoch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
import torch

from core.model.config import VAEConfig
from core.model.ddp import DDP_LOSS_RTOL, train_vae_ddp
from core.model.metrics import EpochMetrics, read_metrics_jsonl
from core.model.preprocessing import PreprocessingPipeline
from core.model.training import train_vae
from core.model.vae import load_module

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A batch of 48 rarely divides the segment count, so a short last batch is split too.
CFG = VAEConfig(
    latent_dim=3, hidden_dims=(32, 16), beta=2.0, batch_size=48, n_epochs=5, dropout=0.0
)


@pytest.fixture(scope="module")
def X_demo(demo_dataset: Path) -> npt.NDArray[np.float32]:
    df = pl.read_parquet(demo_dataset / "features.parquet").filter(
        pl.col("segment_type") == "window"
    )
    return PreprocessingPipeline().fit_transform(df)


@pytest.fixture(scope="module")
def single(X_demo: npt.NDArray[np.float32]) -> list[EpochMetrics]:
    return train_vae(X_demo, CFG, device="cpu").history


def assert_same_curve(a: list[EpochMetrics], b: list[EpochMetrics]) -> None:
    assert [m.epoch for m in a] == [m.epoch for m in b]
    for ma, mb in zip(a, b, strict=True):
        for key in ("total", "recon", "kl"):
            assert getattr(mb, key) == pytest.approx(getattr(ma, key), rel=DDP_LOSS_RTOL), (
                ma.epoch,
                key,
            )
        np.testing.assert_allclose(mb.kl_per_dim, ma.kl_per_dim, rtol=1e-3, atol=1e-6)
        assert mb.lr == ma.lr


def test_gloo_two_ranks_match_single_process(
    X_demo: npt.NDArray[np.float32], single: list[EpochMetrics]
) -> None:
    seen: list[int] = []

    class Seen:
        def on_epoch_end(self, metrics: EpochMetrics) -> None:
            seen.append(metrics.epoch)

    res = train_vae_ddp(X_demo, CFG, world_size=2, backend="gloo", callbacks=[Seen()])
    assert seen == [1, 2, 3, 4, 5]
    assert res.device == "ddp:2xcpu" and not res.cancelled
    assert_same_curve(single, res.history)
    ref = train_vae(X_demo, CFG, device="cpu").module
    for (k, v), w in zip(ref.state_dict().items(), res.module.state_dict().values(), strict=True):
        torch.testing.assert_close(w, v, rtol=1e-3, atol=1e-4, msg=k)


def test_ddp_cancel_from_the_calling_process(X_demo: npt.NDArray[np.float32]) -> None:
    seen: list[int] = []

    class Seen:
        def on_epoch_end(self, metrics: EpochMetrics) -> None:
            seen.append(metrics.epoch)

    cfg = VAEConfig(**{**CFG.to_dict(), "n_epochs": 400})
    res = train_vae_ddp(
        X_demo, cfg, world_size=2, callbacks=[Seen()], should_stop=lambda: len(seen) >= 2
    )
    assert res.cancelled
    assert 2 <= len(res.history) < 400 and [m.epoch for m in res.history] == seen


def test_torchrun_entry_writes_metrics_and_model(
    X_demo: npt.NDArray[np.float32], single: list[EpochMetrics], tmp_path: Path
) -> None:
    np.save(tmp_path / "X.npy", X_demo)
    (tmp_path / "cfg.json").write_text(json.dumps(CFG.to_dict()))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "core.model.ddp", "--data", str(tmp_path / "X.npy"),
            "--config", str(tmp_path / "cfg.json"), "--out", str(out),
        ],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "result.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs"] == 5
    assert_same_curve(single, read_metrics_jsonl(out / "metrics.jsonl"))
    module = load_module(out / "model.pt")
    assert module.input_dim == X_demo.shape[1] and module.latent_dim == 3


def test_gloo_ranks_streaming_a_matrix_file_match_single_process_streaming(
    X_demo: npt.NDArray[np.float32], tmp_path: Path
) -> None:
    """Every rank streams the same chunks (none holds the matrix) and takes its rows of
    each batch: the curve is single-process streaming's."""
    from core.model.streaming import write_matrix

    matrix = write_matrix(tmp_path / "m.parquet", X_demo, group_rows=64)
    single = train_vae(matrix, CFG, device="cpu")
    res = train_vae_ddp(matrix, CFG, world_size=2, backend="gloo")
    assert res.extra["data"] == "streamed from parquet by every rank"
    assert_same_curve(single.history, res.history)
