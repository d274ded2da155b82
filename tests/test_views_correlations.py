"""The Correlations page's heatmap, built by ``core.views.correlations`` from a real run: each
cell is checked against r computed here from the run's own latents and features."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from scipy import stats

from core.features.datasets import load_features
from core.model.imputation import impute_missing
from core.views.correlations import correlation_heatmap, heatmap_matrices

if TYPE_CHECKING:
    from core.runs.store import Run


def _independent_r(run: Run, dim: str, feature: str) -> float:
    """Pearson r of one latent and one feature over the run's segments, from the files."""
    latents = run.latents().select("segment_id", dim)
    features = load_features(run.features_path).select("segment_id", feature)
    joined = latents.join(features, on="segment_id", how="left", maintain_order="left")
    pipe = run.load_pipeline()
    median = pipe.medians_[list(pipe.feature_columns_).index(feature)]
    x = impute_missing(joined[feature].cast(pl.Float64).to_numpy()[:, None], [median])[:, 0]
    return float(stats.pearsonr(joined[dim].to_numpy(), x).statistic)


def test_a_heatmap_cell_is_the_runs_correlation(demo_run: Run) -> None:
    corr = demo_run.correlations()
    r, p, names = heatmap_matrices(corr, None, "pearson")
    rows = [0, 1]
    hm = correlation_heatmap(
        r,
        p,
        names,
        rows=rows,
        row_labels=["first", "second"],
        method="pearson",
        order_by="tier",
        correction=None,
        definitions={},
    )
    z = np.asarray(hm.figure.data[0].z)
    assert z.shape == (2, len(names)) and hm.n_cells == 2 * len(names)
    assert hm.n_significant is None and list(hm.figure.data[0].y) == ["first", "second"]
    for col in (0, len(names) // 2, len(names) - 1):
        feature = hm.feature_names[col]
        want = _independent_r(demo_run, corr.latent_names[1], feature)
        assert np.isclose(z[1, col], want, atol=1e-6, equal_nan=True), (feature, z[1, col], want)


def test_masking_blanks_the_cells_above_alpha(demo_run: Run) -> None:
    corr = demo_run.correlations()
    r, p, names = heatmap_matrices(corr, None, "spearman")
    k = len(corr.latent_names)
    hm = correlation_heatmap(
        r,
        p,
        names,
        rows=list(range(k)),
        row_labels=corr.latent_names,
        method="spearman",
        order_by="cluster",
        correction="bonferroni",
        definitions={},
    )
    z = np.asarray(hm.figure.data[0].z, dtype=np.float64)
    # Bonferroni by hand: a cell stays when p * (number of finite p) <= 0.05.
    finite = np.isfinite(p)
    kept_by_hand = int(((p * finite.sum() <= 0.05) & finite & np.isfinite(r)).sum())
    assert hm.n_significant == kept_by_hand == int(np.isfinite(z).sum())
    assert 0 < kept_by_hand < z.size  # the demo run has both kinds of cells
    assert sorted(hm.feature_names) == sorted(names)  # clustering only reorders
    assert "adjusted p" in hm.figure.data[0].hovertemplate
