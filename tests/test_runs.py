"""The run store: deterministic ids, atomic status, readers for every artifact, refusals."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from core.errors import ArtifactMissingError, InvalidRunIdError, RunNotFoundError
from core.infra.io import atomic_write_json, atomic_write_parquet
from core.infra.paths import runs_root
from core.jobs.api import delete_run, run_status
from core.model.config import PreprocessConfig, VAEConfig
from core.model.encoding import encode_means
from core.runs.config import run_id_for
from core.runs.store import Run, create_run, get_run, list_runs

SMALL = VAEConfig(latent_dim=3, hidden_dims=(16,), n_epochs=2, batch_size=32, random_state=3)


@pytest.fixture
def features_copy(demo_dataset: Path, tmp_path: Path) -> Path:
    """A private copy of the demo features (tests here change mtimes and bytes)."""
    dst = tmp_path / "features.parquet"
    shutil.copy2(demo_dataset / "features.parquet", dst)
    return dst


class TestRunIds:
    def test_deterministic_and_sensitive(self, features_copy: Path) -> None:
        prep = PreprocessConfig()
        rid = run_id_for(features_copy, SMALL, prep)
        assert re.fullmatch(r"[0-9a-f]{12}", rid), rid  # 12 lowercase hex digits
        assert run_id_for(features_copy, VAEConfig(**SMALL.to_dict()), prep) == rid
        # Same bytes with a new mtime, or at another path: same content, same run.
        os.utime(features_copy, (1_000_000, 1_000_000))
        assert run_id_for(features_copy, SMALL, prep) == rid
        other = features_copy.with_name("copy.parquet")
        shutil.copy(features_copy, other)
        assert run_id_for(other, SMALL, prep) == rid
        # Anything that changes the result changes the id.
        assert run_id_for(features_copy, dataclasses.replace(SMALL, random_state=4), prep) != rid
        assert run_id_for(features_copy, dataclasses.replace(SMALL, beta=2.0), prep) != rid
        assert run_id_for(features_copy, SMALL, PreprocessConfig(max_tier=3)) != rid
        df = pl.read_parquet(features_copy)
        df.head(df.height - 1).write_parquet(other)
        assert run_id_for(other, SMALL, prep) != rid

    def test_missing_features_file(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match="does not exist"):
            run_id_for(tmp_path / "nope.parquet", SMALL, PreprocessConfig())


class TestStore:
    def test_create_get_list_delete(self, features_copy: Path) -> None:
        prep = PreprocessConfig()
        run, existed = create_run(features_copy, SMALL, prep)
        assert not existed
        assert run.path == runs_root() / run.run_id
        assert {p.name for p in run.path.iterdir() if not p.name.startswith(".")} == {
            "config.json",
            "status.json",
        }
        st = run.status()
        assert st.state == "queued" and st.progress == 0.0 and st.n_epochs == 2
        cfg = run.config()
        assert cfg.vae == SMALL and cfg.preprocess == prep and cfg.seed == 3
        assert cfg.features_path == features_copy.resolve()
        assert run.features_path == features_copy.resolve()

        again, existed = create_run(features_copy, SMALL, prep)
        assert existed and again == run
        assert get_run(run.run_id) == run
        assert run in list_runs()

        delete_run(run.run_id)
        assert not run.path.exists()
        assert run not in list_runs()
        with pytest.raises(RunNotFoundError, match=run.run_id):
            get_run(run.run_id)

    def test_list_skips_jobs_and_junk_and_sorts_newest_first(self, features_copy: Path) -> None:
        a, _ = create_run(
            features_copy, dataclasses.replace(SMALL, random_state=11), PreprocessConfig()
        )
        b, _ = create_run(
            features_copy, dataclasses.replace(SMALL, random_state=12), PreprocessConfig()
        )
        (runs_root() / "_jobs").mkdir(exist_ok=True)
        (runs_root() / "notes").mkdir(exist_ok=True)
        (runs_root() / "abcdefabcdef").mkdir(exist_ok=True)  # run-shaped, but no config.json
        ids = [r.run_id for r in list_runs()]
        assert "abcdefabcdef" not in ids and "notes" not in ids and "_jobs" not in ids
        assert ids.index(b.run_id) < ids.index(a.run_id)

    @pytest.mark.parametrize(
        "bad", ["../../etc", "..", "/etc/passwd", "ABCDEF123456", "abc", "0123456789ab/..", ""]
    )
    def test_refuses_ids_that_are_not_ours(self, bad: str) -> None:
        with pytest.raises(InvalidRunIdError, match="not a run id"):
            get_run(bad)
        with pytest.raises(InvalidRunIdError):
            delete_run(bad)

    def test_symlinked_run_outside_store_is_refused(self, tmp_path: Path) -> None:
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        link = runs_root() / "0123456789ab"
        link.symlink_to(outside)
        try:
            with pytest.raises(InvalidRunIdError, match="outside"):
                get_run("0123456789ab")
        finally:
            link.unlink()

    def test_missing_artifacts_name_the_file(self, features_copy: Path) -> None:
        run, _ = create_run(
            features_copy, dataclasses.replace(SMALL, random_state=21), PreprocessConfig()
        )
        for reader, name in [
            (run.metrics, "metrics.jsonl"),
            (run.latents, "latents.parquet"),
            (run.correlations, "correlations.npz"),
            (run.interpretation, "interpretation.parquet"),
            (run.interpretation_pivot, "interpretation_pivot.csv"),
            (run.umap, "umap.parquet"),
            (run.diagnostics, "diagnostics.json"),
            (run.load_model, "model.pt"),
            (run.load_pipeline, "preprocessing.json"),
        ]:
            with pytest.raises(ArtifactMissingError, match=name.replace(".", r"\.")) as info:
                reader()
            assert "queued" in str(info.value)

    def test_status_updates_merge_and_leave_no_temp_files(self, features_copy: Path) -> None:
        run, _ = create_run(
            features_copy, dataclasses.replace(SMALL, random_state=22), PreprocessConfig()
        )
        run.update_status(state="running", stage="training", progress=0.5, pid=os.getpid())
        st = run.update_status(eta_s=12.0)
        assert (st.state, st.stage, st.progress, st.eta_s) == ("running", "training", 0.5, 12.0)
        assert run.status() == st
        assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]

    def test_running_status_of_dead_process_reads_failed(self, features_copy: Path) -> None:
        run, _ = create_run(
            features_copy, dataclasses.replace(SMALL, random_state=23), PreprocessConfig()
        )
        # A pid that cannot exist (above pid_max).
        run.update_status(state="running", stage="umap", pid=2**22 + 7)
        assert run.status().state == "running"  # reading the record never changes it
        st = run_status(run)  # the jobs package notices the dead process
        assert st.state == "failed"
        assert "umap" in (st.error or "") and "died" in (st.error or "")
        assert run.status() == st

    def test_metrics_reader_ignores_a_torn_last_line(self, features_copy: Path) -> None:
        run, _ = create_run(
            features_copy, dataclasses.replace(SMALL, random_state=24), PreprocessConfig()
        )
        lines = [
            '{"epoch": 1, "total": 3.5, "recon": 3.0, "kl": 0.5, "kl_per_dim": [0.1, 0.2, 0.2], "lr": 0.001, "seconds": 0.1}',
            '{"epoch": 2, "total": 3.0, "recon": 2.6, "kl": 0.4, "kl_per_dim": [0.1, 0.1, 0.2], "lr": 0.001, "seconds": 0.1}',
            '{"epoch": 3, "tot',
        ]
        run.artifact_path("metrics.jsonl").write_text("\n".join(lines))
        m = run.metrics()
        assert m.columns == [
            "epoch",
            "total",
            "recon",
            "kl",
            "lr",
            "seconds",
            "kl_z0",
            "kl_z1",
            "kl_z2",
        ]
        assert m["epoch"].to_list() == [1, 2]
        assert m["kl_z2"].to_list() == [0.2, 0.2]


class TestDemoRunArtifacts:
    def test_every_reader(self, demo_run: Run) -> None:
        cfg = demo_run.config()
        k = cfg.vae.latent_dim
        st = demo_run.status()
        assert st.state == "done" and st.progress == 1.0 and st.stage == "done"

        m = demo_run.metrics()
        assert m.height == cfg.vae.n_epochs or demo_run.diagnostics()["stopped_early"]
        assert m.columns[:6] == ["epoch", "total", "recon", "kl", "lr", "seconds"]
        assert [c for c in m.columns if c.startswith("kl_z")] == [f"kl_z{i}" for i in range(k)]
        np.testing.assert_allclose(
            m.select([f"kl_z{i}" for i in range(k)]).to_numpy().sum(axis=1), m["kl"], rtol=1e-6
        )
        assert m["total"][-1] < m["total"][0]  # it learned

        lat = demo_run.latents()
        zcols = [f"z{i}" for i in range(k)]
        assert lat.columns[0] == "segment_id" and lat.columns[-k:] == zcols
        assert {"match_id", "team_id", "start_time", "period"} <= set(lat.columns)
        assert not [c for c in lat.columns if c.startswith("t1_") or c.startswith("t2_")]
        assert lat["segment_id"].is_unique().all()

        # The saved model and preprocessing reproduce the stored latents.
        model = demo_run.load_model()
        pipe = demo_run.load_pipeline()
        feats = pl.read_parquet(cfg.features_path)
        seg = feats.filter(pl.col("segment_id").is_in(lat["segment_id"].implode()))
        seg = seg.join(lat.select("segment_id").with_row_index("i"), on="segment_id").sort("i")
        z = encode_means(model, pipe.transform(seg))
        np.testing.assert_allclose(z, lat.select(zcols).to_numpy(), atol=1e-5)

        corr = demo_run.correlations()
        assert corr.pearson_r.shape == corr.spearman_r.shape == (k, len(pipe.feature_columns_))
        assert corr.feature_names == pipe.feature_columns_
        long = corr.frame("spearman")
        assert long.height == k * len(corr.feature_names)

        assert demo_run.interpretation().height == 5 * k
        assert demo_run.interpretation_pivot().columns == ["dim", "#1", "#2", "#3", "#4", "#5"]
        assert demo_run.umap().height == lat.height
        diag = demo_run.diagnostics()
        assert diag["latent_dim"] == k and diag["n_segments"] == lat.height
        sd = torch.load(demo_run.artifact_path("model.pt"), weights_only=True)
        assert set(sd) == set(model.state_dict())


def test_atomic_writers_replace_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": float("nan"), "b": np.float32(1.5), "c": (1, 2)})
    assert (
        target.read_text().strip().replace(" ", "").replace("\n", "")
        == '{"a":null,"b":1.5,"c":[1,2]}'
    )
    df = pl.DataFrame({"a": [1, 2]})
    atomic_write_parquet(tmp_path / "x.parquet", df)
    assert pl.read_parquet(tmp_path / "x.parquet").equals(df)
    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": object()})
    # The failed write left the old file intact and no temporary file behind.
    assert '"b"' in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json", "x.parquet"]


def test_run_equality_is_by_id_and_path(tmp_path: Path) -> None:
    assert Run("0123456789ab", tmp_path) == Run("0123456789ab", tmp_path)
    assert Run("0123456789ab", tmp_path) != Run("0123456789ac", tmp_path)
