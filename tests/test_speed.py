"""Where people wait (issue 13): numba's cache, exact neighbours for UMAP, the PCA layout,
states computed inside the run, mixtures sized to their space, stage time estimates.

No timing is asserted here (speed is measured in bench/); these tests check that the fast
paths compute the same things the slow ones did.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from core.analysis.latents import exact_neighbors, pca_layout, umap_embedding
from core.analysis.mixtures import (
    MAX_FULL_DIMS,
    plan_space,
    select_mixture,
    silhouette_on_sample,
)
from core.infra.numba_cache import NUMBA_CACHE_ENV, numba_cache_dir, setup_numba_cache
from core.infra.paths import runs_root
from core.model.precision import resolve_precision
from core.pipeline.stages import estimate_umap_seconds
from core.runs.files import DIAGNOSTICS_FILE
from core.runs.states_store import load_states
from core.runs.store import Run
from core.services.states import states_cached


class TestNumbaCache:
    def test_folder_under_runs_root_unless_user_chose_one(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        from numba.core import config

        try:
            monkeypatch.delenv(NUMBA_CACHE_ENV, raising=False)
            folder = setup_numba_cache()
            assert folder == runs_root() / "_cache" / "numba" and folder.is_dir()
            assert os.environ[NUMBA_CACHE_ENV] == str(folder)
            monkeypatch.setenv(NUMBA_CACHE_ENV, str(tmp_path / "mine"))
            assert numba_cache_dir() == tmp_path / "mine"
            assert setup_numba_cache() == tmp_path / "mine"
        finally:
            # setup_numba_cache re-read numba's configuration: give numba the session's
            # cache folder back (conftest's) for the rest of the session.
            monkeypatch.undo()
            config.reload_config()

    def test_umap_functions_are_cached_on_disk(self, demo_run: Run) -> None:
        # The run's UMAP (and this one) compiled umap's layout code into the cache folder,
        # so the next process loads it instead of compiling.
        umap_embedding(demo_run.latent_matrix()[:60], random_state=3)
        from umap.umap_ import smooth_knn_dist

        # Its dispatcher caches in that folder (which outlives the test session, so files
        # alone could be an earlier session's).
        path = Path(smooth_knn_dist._cache.cache_path)
        assert path.is_relative_to(numba_cache_dir()), path
        index_files = [p.name for p in numba_cache_dir().rglob("*.nbi")]
        assert any("optimize_layout_euclidean" in name for name in index_files), index_files
        assert any("smooth_knn_dist" in name for name in index_files)


class TestProjection:
    def test_exact_neighbors_match_brute_force(self, demo_run: Run) -> None:
        z = demo_run.latent_matrix()
        idx, dist = exact_neighbors(z, 5)
        d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=2))
        np.testing.assert_array_equal(idx[:, 0], np.arange(z.shape[0]))  # itself first
        np.testing.assert_allclose(dist, np.sort(d, axis=1)[:, :5], rtol=1e-5, atol=1e-5)

    def test_seeded_umap_is_reproducible_and_keeps_neighbours(self, demo_run: Run) -> None:
        z = demo_run.latent_matrix()
        emb = umap_embedding(z, random_state=11)
        np.testing.assert_array_equal(umap_embedding(z, random_state=11), emb)
        # Most of a code's nearest latent neighbours stay near it on the map.
        near_z, _ = exact_neighbors(z, 6)
        near_map, _ = exact_neighbors(emb, 16)
        pairs = zip(near_z, near_map, strict=True)
        kept = np.mean([len(set(a[1:]) & set(b[1:])) / 5 for a, b in pairs])
        assert kept > 0.5, kept

    def test_pca_layout_is_the_top_two_components(self, demo_run: Run) -> None:
        z = demo_run.latent_matrix()
        xy = pca_layout(z)
        assert xy.shape == (z.shape[0], 2)
        np.testing.assert_allclose(xy.mean(axis=0), 0.0, atol=1e-9)
        eig = np.sort(np.linalg.eigvalsh(np.cov(z, rowvar=False)))[::-1]
        np.testing.assert_allclose(xy.var(axis=0, ddof=1), eig[:2], rtol=1e-6)
        np.testing.assert_array_equal(pca_layout(z), xy)  # signs fixed: same picture
        assert pca_layout(z[:, :1]).shape == (z.shape[0], 2)

    def test_umap_estimate_grows_with_size(self) -> None:
        small, large = estimate_umap_seconds(224), estimate_umap_seconds(100_000)
        assert 0 < small < large
        assert estimate_umap_seconds(5_000, parallel=True) < estimate_umap_seconds(5_000)


class TestMixturePlan:
    def test_small_spaces_are_fitted_whole(self) -> None:
        X = np.random.default_rng(0).normal(size=(300, 12))
        X_fit, plan = plan_space(X)
        np.testing.assert_array_equal(X_fit, X)
        assert plan.components is None and plan.covariance_type == "full"
        assert plan.method == "full covariance on 12 columns; BIC curve on 300 rows"

    def test_wide_spaces_run_on_principal_components(self) -> None:
        rng = np.random.default_rng(1)
        centres = rng.normal(scale=6.0, size=(3, MAX_FULL_DIMS + 16))
        labels = rng.integers(0, 3, size=900)
        X = centres[labels] + rng.normal(size=(900, MAX_FULL_DIMS + 16))
        X_fit, plan = plan_space(X)
        assert plan.components is not None and plan.components <= MAX_FULL_DIMS
        assert X_fit.shape == (900, plan.components)
        assert plan.variance is not None and plan.variance >= 0.5
        assert "principal components of 80 columns" in plan.method
        record = plan.to_dict()
        assert record["components"] == plan.components and record["columns"] == 80
        # The reduced mixture still finds the planted states; silhouette is scored on
        # every column, as for an unreduced fit.
        fit = select_mixture(X_fit, (2, 5), random_state=0)
        assert fit.best_k == 3
        assert silhouette_on_sample(X, fit.labels) > 0.3


def test_states_are_computed_by_the_run(demo_run: Run) -> None:
    # The run wrote states/ as one of its stages: no page has asked for them.
    assert states_cached(demo_run)
    states = load_states(demo_run)
    assert states is not None
    for space in ("latent", "features"):
        plan = states.summary[space]["plan"]
        assert plan["covariance_type"] == "full"
        assert plan["method"].startswith("full covariance on ")
    diag = json.loads(demo_run.artifact_path(DIAGNOSTICS_FILE).read_text())
    projection = diag["projection"]
    assert projection["method"] == "umap" and projection["reproducible"] is True
    assert projection["random_state"] == demo_run.config().vae.random_state
    # The run trained as resolve_precision("auto") says (bfloat16 on a native-bf16 CPU).
    assert diag["precision"] == resolve_precision("auto", torch.device("cpu"))


def test_states_and_umap_stages_report_progress(demo_dataset: Path) -> None:
    from core.model.config import PreprocessConfig, VAEConfig
    from core.pipeline.execute import execute_run
    from core.runs.store import create_run

    vae = VAEConfig(latent_dim=3, hidden_dims=(16,), batch_size=32, n_epochs=3, random_state=5)
    run, _ = create_run(demo_dataset / "features.parquet", vae, PreprocessConfig())
    calls: list[tuple[int, int, str]] = []
    execute_run(run.run_id, progress=lambda d, t, m: calls.append((d, t, m)))
    msgs = [m for _, _, m in calls]
    assert any(m.startswith("UMAP of") for m in msgs)
    states = [m for m in msgs if m.startswith("states: ")]
    assert any("BIC for K=" in m for m in states) and any("profiles" in m for m in states)
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1]
    assert run.status().state == "done" and states_cached(run)


def test_a_fast_map_run_lays_out_on_every_core_and_says_so(demo_dataset: Path) -> None:
    """``reproducible_map=False`` (``--fast-map``, the Train page's checkbox off): UMAP gets
    no seed (every core), config.json and diagnostics.json record it; the default leaves
    config.json, and so every existing run id, as it was."""
    import dataclasses

    from core.model.config import PreprocessConfig, VAEConfig
    from core.pipeline.execute import execute_run
    from core.runs.config import run_id_for
    from core.runs.store import create_run

    seeded = VAEConfig(latent_dim=3, hidden_dims=(16,), batch_size=32, n_epochs=3, random_state=6)
    assert "reproducible_map" not in seeded.to_dict() and seeded.map_seed == 6
    fast = dataclasses.replace(seeded, reproducible_map=False)
    assert fast.to_dict()["reproducible_map"] is False and fast.map_seed is None
    assert VAEConfig.from_dict(fast.to_dict()) == fast
    features = demo_dataset / "features.parquet"
    prep = PreprocessConfig()
    assert run_id_for(features, seeded, prep) != run_id_for(features, fast, prep)
    run, _ = create_run(features, fast, prep)
    execute_run(run.run_id)
    assert run.status().state == "done"
    assert (
        json.loads(run.artifact_path("config.json").read_text())["vae"]["reproducible_map"] is False
    )
    projection = json.loads(run.artifact_path(DIAGNOSTICS_FILE).read_text())["projection"]
    assert projection == {**projection, "reproducible": False, "random_state": None}
    assert projection["threads"] == "all cores"
    assert run.umap().height == run.latents().height
