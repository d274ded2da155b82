"""Notebook-layout export and the engine commands (`train`, `export`, `jobs`, `demo`)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest
import torch

from core.demo import demo_configs, ensure_demo
from core.errors import ArtifactMissingError
from core.model.config import PreprocessConfig, VAEConfig
from core.model.vae import TacticalVAEModule
from core.runs.store import Run, create_run, get_run
from core.services.export import EXPORT_FILES, export_run
from tests.helpers import cli

if TYPE_CHECKING:
    from tests.conftest import DemoExport


class TestExport:
    def test_writes_every_notebook_artifact(self, demo_run: Run, demo_export: DemoExport) -> None:
        out = demo_export.folder
        assert sorted(p.name for p in demo_export.written) == sorted(EXPORT_FILES)
        assert sorted(p.name for p in out.iterdir()) == sorted(EXPORT_FILES)
        cfg = demo_run.config().vae

        ckpt = torch.load(out / "vae_model.pt", weights_only=True)
        assert ckpt["config_hidden_dims"] == tuple(cfg.hidden_dims)
        assert ckpt["config_latent_dim"] == cfg.latent_dim and ckpt["config_beta"] == cfg.beta
        assert ckpt["training_losses"] == pytest.approx(demo_run.metrics()["total"].to_list())
        module = TacticalVAEModule(ckpt["input_dim"], cfg.latent_dim, cfg.hidden_dims, cfg.dropout)
        module.load_state_dict(ckpt["state_dict"])  # the notebook's reload path works

        codes = np.load(out / "latent_codes.npy", allow_pickle=False)
        assert codes.dtype == np.float32
        np.testing.assert_allclose(codes, demo_run.latent_matrix(), atol=1e-6)
        with np.load(out / "correlation_matrix.npz", allow_pickle=False) as npz:
            corr = demo_run.correlations()
            np.testing.assert_array_equal(npz["corr"], corr.pearson_r)
            np.testing.assert_array_equal(npz["pval"], corr.pearson_p)
            assert npz["feature_names"].tolist() == corr.feature_names
        assert pl.read_parquet(out / "latent_interpretation.parquet").equals(
            demo_run.interpretation()
        )
        # The pivot gains the status of each dimension beside its name.
        pivot = pl.read_csv(out / "latent_interpretation_pivot.csv")
        assert pivot.drop("dim_status").equals(demo_run.interpretation_pivot())
        assert pivot.columns[:2] == ["dim", "dim_status"]
        prep = json.loads((out / "preprocessing_pipeline.json").read_text())
        assert prep["feature_columns"] == corr.feature_names
        for png in [n for n in EXPORT_FILES if n.endswith(".png")]:
            data = (out / png).read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, png
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    def test_refuses_unfinished_and_foreign_runs(self, demo_dataset: Path, tmp_path: Path) -> None:
        run, _ = create_run(
            demo_dataset / "features.parquet",
            VAEConfig(latent_dim=2, hidden_dims=(8,), n_epochs=1, batch_size=16, random_state=77),
            PreprocessConfig(),
        )
        with pytest.raises(ArtifactMissingError, match="queued"):
            export_run(run.run_id, tmp_path)
        with pytest.raises(LookupError, match="not a run id"):
            export_run("../../etc", tmp_path)


@pytest.mark.slow
class TestCli:
    def test_train_then_reuse_then_export(self, demo_dataset: Path, tmp_path: Path) -> None:
        features = str(demo_dataset / "features.parquet")
        args = ["train", "--features", features, "--epochs", "3", "--latent-dim", "2",
                "--hidden-dims", "16,8", "--batch-size", "32", "--beta", "1", "--seed", "9"]  # fmt: skip
        first = cli(*args)
        assert first.returncode == 0, first.stderr
        folder = Path(first.stdout.strip().splitlines()[-1])
        assert folder.is_dir() and (folder / "umap.parquet").is_file()
        run = get_run(folder.name)
        assert run.status().state == "done"
        cfg = run.config().vae
        assert (cfg.n_epochs, cfg.latent_dim, cfg.hidden_dims, cfg.beta, cfg.random_state) == (
            3,
            2,
            (16, 8),
            1.0,
            9,
        )
        assert "train" in first.stderr  # the progress bar

        t0 = time.monotonic()
        second = cli(*args)
        assert second.returncode == 0 and second.stdout.strip().splitlines()[-1] == str(folder)
        assert "already exists" in second.stderr
        assert time.monotonic() - t0 < 60  # no training, no UMAP

        out = tmp_path / "export"
        exported = cli("export", folder.name, "--out", str(out))
        assert exported.returncode == 0, exported.stderr
        assert sorted(p.name for p in out.iterdir()) == sorted(EXPORT_FILES)

    def test_clear_errors(self, demo_dataset: Path, tmp_path: Path) -> None:
        bad = cli("export", "../../etc", "--out", str(tmp_path))
        assert bad.returncode == 2 and "not a run id" in bad.stderr
        missing = cli("train", "--features", str(tmp_path / "none.parquet"))
        assert missing.returncode == 2 and "does not exist" in missing.stderr
        big = cli(
            "train",
            "--features",
            str(demo_dataset / "features.parquet"),
            "--latent-dim",
            "999",
            "--batch-size",
            "16",
        )
        assert big.returncode == 2 and "latent_dim=999" in big.stderr
        cfg = cli("train", "--features", str(demo_dataset / "features.parquet"), "--dropout", "1.5")
        assert cfg.returncode == 2 and "dropout" in cfg.stderr

    def test_jobs_listing(self) -> None:
        res = cli("jobs")
        assert res.returncode == 0
        assert res.stdout.startswith(("no jobs", "job "))


@pytest.mark.slow
def test_ensure_demo_is_the_recommended_preset_and_idempotent(demo_dataset: Path) -> None:
    from core.model.presets import RECOMMENDED, batch_size_for

    features = demo_dataset / "features.parquet"
    vae, prep = demo_configs(features)
    n_windows = pl.read_parquet(features).filter(pl.col("segment_type") == "window").height
    default = RECOMMENDED
    # The recommended preset, its batch shrunk for the demo's few hundred windows.
    assert dataclasses.replace(vae, batch_size=default.batch_size) == default
    assert vae.batch_size == batch_size_for(n_windows, default) <= n_windows
    assert prep == PreprocessConfig()

    calls: list[tuple[int, int, str]] = []
    run = ensure_demo(progress=lambda d, t, m: calls.append((d, t, m)), timeout=300)
    assert run.status().state == "done"
    assert run.config().vae == vae
    assert run.metrics().height <= default.n_epochs
    assert calls and calls[-1][0] == calls[-1][1]
    t0 = time.monotonic()
    assert ensure_demo() == run
    assert time.monotonic() - t0 < 2.0
