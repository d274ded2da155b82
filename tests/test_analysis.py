"""Correlations, interpretation tables, UMAP and VAE diagnostics on the demo run's real latents."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from core.analysis.latents import (
    diagnostics,
    interpretation_pivot,
    interpretation_table,
    pearson_matrix,
    spearman_matrix,
    umap_embedding,
)
from core.features.datasets import load_features
from core.pipeline.prepare import prepare
from core.runs.store import Run


@pytest.fixture(scope="module")
def real(demo_run: Run) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(posterior means, named feature matrix, feature names) of the demo run."""
    cfg = demo_run.config()
    data = prepare(load_features(cfg.features_path), cfg.preprocess)
    z = demo_run.latent_matrix()
    assert z.shape[0] == data.features.shape[0] > 100
    return z, data.features, data.feature_names


def _scipy_loop(z: np.ndarray, x: np.ndarray, fn: object) -> tuple[np.ndarray, np.ndarray]:
    r = np.empty((z.shape[1], x.shape[1]))
    p = np.empty_like(r)
    for i in range(z.shape[1]):
        for j in range(x.shape[1]):
            res = fn(z[:, i], x[:, j])  # type: ignore[operator]
            r[i, j], p[i, j] = res.statistic, res.pvalue
    return r, p


class TestPearson:
    def test_equals_scipy_on_real_latents(
        self, real: tuple[np.ndarray, np.ndarray, list[str]]
    ) -> None:
        z, x, _ = real
        r, p = pearson_matrix(z, x)
        ref_r, ref_p = _scipy_loop(z, x, stats.pearsonr)
        assert r.shape == (z.shape[1], x.shape[1])
        np.testing.assert_allclose(r, ref_r, rtol=0, atol=1e-6)
        np.testing.assert_allclose(p, ref_p, rtol=0, atol=1e-6)
        # Not a trivial match: the real data holds strong and weak correlations.
        assert np.nanmax(np.abs(r)) > 0.3
        assert (p < 1e-3).any() and (p > 0.05).any()

    def test_equals_scipy_feature_vs_feature(
        self, real: tuple[np.ndarray, np.ndarray, list[str]]
    ) -> None:
        _, x, _ = real
        r, p = pearson_matrix(x[:, :4], x)
        ref_r, ref_p = _scipy_loop(x[:, :4], x, stats.pearsonr)
        np.testing.assert_allclose(r, ref_r, rtol=0, atol=1e-6)
        np.testing.assert_allclose(p, ref_p, rtol=0, atol=1e-6)
        np.testing.assert_allclose(np.diag(r[:, :4]), 1.0, atol=1e-12)

    def test_stored_correlations_are_the_run_latents(
        self, demo_run: Run, real: tuple[np.ndarray, np.ndarray, list[str]]
    ) -> None:
        z, x, names = real
        corr = demo_run.correlations()
        assert corr.feature_names == names
        r, p = pearson_matrix(z, x)
        np.testing.assert_allclose(corr.pearson_r, r, atol=1e-12)
        np.testing.assert_allclose(corr.pearson_p, p, atol=1e-12)

    def test_constant_column_gives_nan_not_a_crash(
        self, real: tuple[np.ndarray, np.ndarray, list[str]]
    ) -> None:
        z, x, _ = real
        x2 = x[:, :3].copy()
        x2[:, 1] = 2.5
        r, p = pearson_matrix(z, x2)
        assert np.isnan(r[:, 1]).all() and np.isnan(p[:, 1]).all()
        assert np.isfinite(r[:, [0, 2]]).all()

    def test_bad_input(self, real: tuple[np.ndarray, np.ndarray, list[str]]) -> None:
        z, x, _ = real
        with pytest.raises(ValueError, match="same rows"):
            pearson_matrix(z, x[:-1])
        bad = x.copy()
        bad[0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            pearson_matrix(z, bad)
        with pytest.raises(ValueError, match="at least 3 rows"):
            pearson_matrix(z[:2], x[:2])


def test_spearman_equals_scipy(real: tuple[np.ndarray, np.ndarray, list[str]]) -> None:
    z, x, _ = real
    r, p = spearman_matrix(z, x[:, :10])
    ref_r, ref_p = _scipy_loop(z, x[:, :10], stats.spearmanr)
    np.testing.assert_allclose(r, ref_r, rtol=0, atol=1e-6)
    np.testing.assert_allclose(p, ref_p, rtol=0, atol=1e-6)


def _notebook_table(
    corr: np.ndarray, pval: np.ndarray, feature_names: list[str], top_k: int = 5
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The notebook's section 7, verbatim apart from names."""
    table_rows: list[dict[str, object]] = []
    for zi in range(corr.shape[0]):
        abs_corr = np.abs(corr[zi])
        top_idx = np.argsort(abs_corr)[::-1][:top_k]
        for rank, fi in enumerate(top_idx, start=1):
            table_rows.append(
                {
                    "latent_dim": f"z{zi}",
                    "rank": rank,
                    "feature": feature_names[fi],
                    "pearson_r": round(float(corr[zi, fi]), 4),
                    "abs_r": round(float(abs_corr[fi]), 4),
                    "p_value": float(pval[zi, fi]),
                }
            )
    df_interp = pl.DataFrame(table_rows)
    pivot_rows: list[dict[str, object]] = []
    for zi in range(corr.shape[0]):
        dim_df = df_interp.filter(pl.col("latent_dim") == f"z{zi}").sort("rank")
        row: dict[str, object] = {"dim": f"z{zi}"}
        for rank_i in range(top_k):
            row[f"#{rank_i + 1}"] = (
                f"{dim_df['feature'][rank_i]} ({dim_df['pearson_r'][rank_i]:+.3f})"
            )
        pivot_rows.append(row)
    return df_interp, pl.DataFrame(pivot_rows)


def test_interpretation_matches_notebook(demo_run: Run) -> None:
    corr = demo_run.correlations()
    table = interpretation_table(corr.pearson_r, corr.pearson_p, corr.feature_names, k=5)
    ref_table, ref_pivot = _notebook_table(corr.pearson_r, corr.pearson_p, corr.feature_names)
    assert table.columns == ["latent_dim", "rank", "feature", "pearson_r", "abs_r", "p_value"]
    assert table.height == 5 * corr.pearson_r.shape[0]
    assert table.equals(ref_table)
    pivot = interpretation_pivot(table)
    assert pivot.equals(ref_pivot)
    # The stored artifacts are the same tables, plus each dimension's quality status.
    stored = demo_run.interpretation()
    assert stored.drop("dim_status").equals(ref_table)
    status = demo_run.dim_quality().status
    assert stored["dim_status"].to_list() == [status[d] for d in stored["latent_dim"]]
    assert demo_run.interpretation_pivot().equals(ref_pivot)
    # Rank 1 really is the largest |r| of its latent.
    best = np.nanmax(np.abs(corr.pearson_r), axis=1).round(4)
    assert table.filter(pl.col("rank") == 1)["abs_r"].to_list() == best.tolist()


def test_interpretation_ranks_nan_last_and_caps_k() -> None:
    r = np.array([[np.nan, 0.2, -0.9]])
    p = np.array([[np.nan, 0.5, 0.01]])
    table = interpretation_table(r, p, ["a", "b", "c"], k=5)
    assert table["feature"].to_list() == ["c", "b", "a"]
    assert table["pearson_r"][0] == -0.9
    assert interpretation_pivot(table).row(0) == ("z0", "c (-0.900)", "b (+0.200)", "a (+nan)")


class TestUmap:
    def test_real_latents(self, demo_run: Run) -> None:
        z = demo_run.latent_matrix()
        emb = umap_embedding(z, random_state=7)
        assert emb.shape == (z.shape[0], 2)
        assert np.isfinite(emb).all()
        assert emb.std(axis=0).min() > 0.1  # a spread-out map, not a point
        # Fixed seed: reproducible.
        np.testing.assert_allclose(umap_embedding(z, random_state=7), emb)
        stored = demo_run.umap()
        assert stored.columns == ["segment_id", "umap_x", "umap_y"]
        assert stored["segment_id"].to_list() == demo_run.latents()["segment_id"].to_list()

    def test_small_n(self, demo_run: Run) -> None:
        z = demo_run.latent_matrix()
        calls: list[tuple[int, int, str]] = []
        emb = umap_embedding(
            z[:6], random_state=1, progress=lambda d, t, m: calls.append((d, t, m))
        )
        assert emb.shape == (6, 2) and np.isfinite(emb).all()
        assert calls[0][0] == 0 and calls[-1][:2] == (1, 1)
        with pytest.raises(ValueError, match="at least 4 segments"):
            umap_embedding(z[:3])

    def test_beyond_fit_max_umap_fits_a_sample_and_places_the_rest(self) -> None:
        """Issue 22: 3,000 codes of 5 clusters, UMAP fitted on 800. Every code gets a finite
        position, the same again from the same seed, and the placed codes land among their
        own cluster: a placed code's 10 nearest fitted points on the map are of its cluster."""
        from sklearn.neighbors import KNeighborsClassifier

        rng = np.random.default_rng(4)
        centres = rng.normal(scale=6.0, size=(5, 6))
        labels = rng.integers(0, 5, size=3000)
        z = centres[labels] + rng.normal(size=(3000, 6))
        emb = umap_embedding(z, random_state=3, fit_max=800)
        assert emb.shape == (3000, 2) and np.isfinite(emb).all()
        np.testing.assert_allclose(umap_embedding(z, random_state=3, fit_max=800), emb)
        fitted = np.sort(np.random.default_rng(3).choice(3000, size=800, replace=False))
        placed = np.setdiff1d(np.arange(3000), fitted)
        # The fitted codes' layout is UMAP's own on them.
        np.testing.assert_allclose(emb[fitted], umap_embedding(z[fitted], random_state=3))
        knn = KNeighborsClassifier(n_neighbors=10).fit(emb[fitted], labels[fitted])
        assert knn.score(emb[placed], labels[placed]) >= 0.95


def test_diagnostics_flags_collapsed_dimension(demo_run: Run) -> None:
    z = demo_run.latent_matrix()
    k = z.shape[1]
    z2 = z.copy()
    z2[:, 0] = 0.001 * z2[:, 0]  # a dimension that barely varies: collapsed
    kl = np.linspace(0.0, 1.0, k)
    d = diagnostics(z2, kl)
    assert d["latent_dim"] == k
    assert d["kl_per_dim"] == pytest.approx(kl.tolist())
    assert d["posterior_mean_variance"][0] < 0.01
    assert "z0" in d["collapsed_dims"] and "z0" not in d["active_dims"]
    assert d["active_units"] == k - len(d["collapsed_dims"])
    assert any("collapsed" in w for w in d["warnings"])
    stored = demo_run.diagnostics()
    assert stored["active_units"] == int((z.var(axis=0) > 0.01).sum())
    assert len(stored["kl_per_dim"]) == k
    with pytest.raises(ValueError, match="kl_per_dim"):
        diagnostics(z, [0.1])
