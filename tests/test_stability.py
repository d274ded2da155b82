"""Stability across seeds: Hungarian matching of dimensions and top-5 agreement."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest
from scipy.stats import pearsonr

from core.analysis.stability import (
    cross_correlation,
    match_dimensions,
    top_k_agreement,
    top_k_sets,
)
from core.errors import StabilityError
from core.jobs.seeds import seed_runs, start_seed_runs
from core.services.stability import seed_config, stability_report

if TYPE_CHECKING:
    from core.runs.store import Run


def permuted_flipped_copy(
    Z: np.ndarray, perm: np.ndarray, signs: np.ndarray, noise: float, seed: int = 0
) -> np.ndarray:
    """Column ``perm[i]`` of the copy is ``signs[i] * Z[:, i]`` plus noise."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(Z)
    out[:, perm] = Z * signs + noise * rng.normal(size=Z.shape)
    return out


def test_cross_correlation_equals_scipy() -> None:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(300, 3))
    B = A @ rng.normal(size=(3, 4)) + rng.normal(size=(300, 4))
    C = cross_correlation(A, B)
    for i in range(3):
        for j in range(4):
            assert C[i, j] == pytest.approx(pearsonr(A[:, i], B[:, j])[0], abs=1e-10)


def test_hungarian_recovers_a_permuted_sign_flipped_copy() -> None:
    rng = np.random.default_rng(1)
    # Correlated codes make the greedy choice ambiguous; the assignment must still be exact.
    Z = rng.normal(size=(3000, 8)) @ (np.eye(8) + 0.3 * rng.normal(size=(8, 8)))
    perm = rng.permutation(8)
    signs = rng.choice([-1, 1], size=8)
    m = match_dimensions(Z, permuted_flipped_copy(Z, perm, signs, noise=0.5))
    assert m.match.tolist() == perm.tolist()
    assert m.sign.tolist() == signs.tolist()
    assert (m.abs_corr > 0.7).all()
    # Aligning the copy with the match gives back the original codes (up to the noise).
    copy = permuted_flipped_copy(Z, perm, signs, noise=0.0)
    assert np.allclose(copy[:, m.match] * m.sign, Z)


def test_matching_with_fewer_dimensions_marks_the_unmatched() -> None:
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(500, 4))
    other = Z[:, [2, 0, 1]] * [1, -1, 1]
    m = match_dimensions(Z, other)
    assert m.match.tolist() == [1, 2, 0, -1]
    assert m.sign.tolist() == [-1, 1, 1, 1]
    assert m.abs_corr[3] == 0.0


def test_bad_codes_are_refused() -> None:
    with pytest.raises(StabilityError, match="same segments"):
        cross_correlation(np.zeros((10, 2)), np.zeros((9, 2)))


def test_top_k_sets() -> None:
    R = np.array([[0.1, -0.9, 0.5, 0.0], [0.3, 0.2, -0.1, 0.8]])
    assert top_k_sets(R, 2).tolist() == [
        [False, True, True, False],
        [True, False, False, True],
    ]


def test_agreement_is_one_for_a_relabelled_copy_and_drops_for_noise() -> None:
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(2000, 4))
    # 12 features: dimension i drives features 3i..3i+2.
    W = np.zeros((4, 12))
    for i in range(4):
        W[i, 3 * i : 3 * i + 3] = [1.0, 0.8, -0.6]
    X = Z @ W + 0.3 * rng.normal(size=(2000, 12))
    perm = np.array([1, 3, 0, 2])
    signs = np.array([-1, 1, -1, 1])
    Z2 = permuted_flipped_copy(Z, perm, signs, noise=0.1)
    R0 = cross_correlation(Z, X)
    R2 = cross_correlation(Z2, X)
    m = match_dimensions(Z, Z2)
    table = top_k_agreement([R0, R2], [None, m], k=3)
    assert table["mean_jaccard"].to_list() == pytest.approx([1.0] * 4)
    assert (table["profile_r"].to_numpy() > 0.99).all()
    assert (table["mean_abs_corr"].to_numpy() > 0.99).all()
    # A seed whose dimension 0 tracks unrelated features lowers only that dimension.
    R_bad = R2.copy()
    R_bad[perm[0]] = np.roll(R_bad[perm[0]], 6)
    table = top_k_agreement([R0, R2, R_bad], [None, m, m], k=3)
    jac = table["mean_jaccard"].to_numpy()
    assert jac[0] == pytest.approx(1 / 3)  # pairs (0,1)=1, (0,2)=0, (1,2)=0
    assert table["min_jaccard"][0] == 0.0
    assert jac[1:] == pytest.approx([1.0, 1.0, 1.0])
    assert table["n_runs"].to_list() == [3, 3, 3, 3]


def test_agreement_leaves_out_a_dimension_another_seed_lacks() -> None:
    rng = np.random.default_rng(4)
    Z = rng.normal(size=(800, 3))
    X = np.hstack([Z, Z**2, rng.normal(size=(800, 4))])
    Z2 = Z[:, [1, 0]] * [1, -1]  # a seed with only two dimensions: z2 has no partner
    m = match_dimensions(Z, Z2)
    table = top_k_agreement([cross_correlation(Z, X), cross_correlation(Z2, X)], [None, m], k=2)
    assert table["n_runs"].to_list() == [2, 2, 1]
    assert table["mean_jaccard"][:2].to_list() == pytest.approx([1.0, 1.0])
    assert table["mean_jaccard"][2] is None or np.isnan(table["mean_jaccard"][2])
    assert np.isnan(table["profile_r"][2]) and np.isnan(table["mean_abs_corr"][2])


def test_reference_must_come_first() -> None:
    with pytest.raises(StabilityError, match="reference"):
        top_k_agreement([np.zeros((2, 3))], [match_dimensions(np.eye(3), np.eye(3))])


# --- on real runs -------------------------------------------------------------------------------


def test_seed_runs_and_report_on_real_runs(demo_run: Run) -> None:
    from core.pipeline.execute import execute_run
    from core.runs.store import create_run

    cfg = demo_run.config()
    before = seed_runs(demo_run, seeds=(4711,))
    assert [s.state for s in before] == ["missing"]
    with pytest.raises(StabilityError, match="No finished seed run"):
        stability_report(demo_run, seed_runs(demo_run, (4711,)))
    other, _ = create_run(cfg.features_path, seed_config(demo_run, 4711), cfg.preprocess)
    assert other.run_id == before[0].run_id  # the id is found by content hash
    if other.status().state != "done":  # another test may have trained it already
        execute_run(other.run_id)
    report = stability_report(demo_run, seed_runs(demo_run, (4711,)))
    # Only distinct dimensions are matched: the reference's against the seed run's.
    dims = demo_run.dim_quality().distinct
    other_dims = other.dim_quality().distinct
    assert report.dims == dims
    assert report.run_ids == [demo_run.run_id, other.run_id]
    assert report.n_segments == demo_run.latents().height
    assert report.dimensions["dim"].to_list() == dims
    n_matched = min(len(dims), len(other_dims))
    assert sorted(report.dimensions["n_runs"].to_list()) == sorted(
        [2] * n_matched + [1] * (len(dims) - n_matched)
    )
    jac = report.dimensions["mean_jaccard"].drop_nulls().drop_nans().to_numpy()
    assert ((jac >= 0.0) & (jac <= 1.0)).all()
    # The matched dims are distinct dims of the other run, each used once.
    matched = report.matches["matched_dim"].drop_nulls().to_list()
    assert len(matched) == n_matched == len(set(matched))
    assert set(matched) <= set(other_dims)
    assert report.excluded.is_empty()
    # Recompute the agreement by hand for a matched dim: |top5 ∩ top5| / |top5 ∪ top5|.
    first = report.matches.filter(pl.col("matched_dim").is_not_null()).row(0, named=True)
    row = report.dimensions.filter(pl.col("dim") == first["dim"]).row(0, named=True)
    ref_top = set(row["top_features"])
    other_top = set(first["top_features"])
    assert row["mean_jaccard"] == pytest.approx(len(ref_top & other_top) / len(ref_top | other_top))
    assert 0.0 <= first["abs_corr"] <= 1.0


@pytest.mark.slow
def test_seed_runs_train_as_background_jobs(demo_run: Run) -> None:
    from core.jobs.api import wait_job

    requests = start_seed_runs(demo_run, seeds=(demo_run.config().seed, 13))
    assert len(requests) == 1  # the run's own seed is not trained again
    req = requests[0]
    assert req.run.config().vae.random_state == 13
    assert req.job is not None  # a background job, not trained in this process
    again = start_seed_runs(demo_run, seeds=(13,))[0]
    # A second request, made while the first one's job still works, attaches to that job
    # and run instead of training again.
    assert again.existed and again.run.run_id == req.run.run_id
    assert again.job is not None and again.job.job_id == req.job.job_id
    job = wait_job(req.job.job_id, timeout=300)
    assert job.state == "done", job
    found = {s.seed: s.state for s in seed_runs(demo_run, seeds=(13,))}
    assert found == {13: "done"}
    report = stability_report(demo_run, seed_runs(demo_run, (13,)))
    assert report.run_ids == [demo_run.run_id, req.run.run_id]
    assert report.dimensions["dim"].to_list() == demo_run.dim_quality().distinct
    assert set(report.dimensions["n_runs"].to_list()) <= {1, 2}
