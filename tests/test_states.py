"""Tactical states: mixtures recover planted structure; per-run states are real and cached."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score

from core.analysis.mixtures import (
    direction_words,
    feature_short_name,
    select_mixture,
    silhouette_on_sample,
    state_agreement,
    state_labels,
    state_profiles,
)
from core.errors import StatesError
from core.runs.states_store import load_states, states_dir
from core.services.states import get_states, states_frame

if TYPE_CHECKING:
    from core.runs.store import Run


def planted_blobs(
    n: int, k: int, d: int, *, seed: int = 0, spread: float = 8.0
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` Gaussian clusters with unequal sizes in ``d`` dimensions, centres ``spread`` apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(k, d))
    sizes = rng.dirichlet(np.full(k, 5.0))
    truth = rng.choice(k, size=n, p=sizes)
    X = centres[truth] + rng.normal(size=(n, d))
    return X, truth


class TestSelectMixture:
    def test_recovers_planted_clusters_and_k(self) -> None:
        X, truth = planted_blobs(3000, 4, 5)
        fit = select_mixture(X, (2, 7), random_state=0)
        assert fit.best_k == 4
        assert adjusted_rand_score(truth, fit.labels) > 0.9
        assert list(fit.k_values) == [2, 3, 4, 5, 6, 7]
        assert int(np.argmin(fit.bic)) == 2  # the BIC curve bottoms out at the planted K

    def test_sample_path_on_many_rows(self) -> None:
        # K chosen on a 2,000-row sample, then refitted on all 40,000 rows.
        X, truth = planted_blobs(40_000, 5, 8, seed=1)
        fit = select_mixture(X, (2, 8), random_state=3, sample_size=2_000)
        assert fit.sample_size == 2_000
        assert fit.best_k == 5
        assert fit.labels.shape == (40_000,)
        assert adjusted_rand_score(truth, fit.labels) > 0.9

    def test_states_numbered_by_size_with_probabilities(self) -> None:
        X, _ = planted_blobs(2000, 3, 4, seed=2)
        fit = select_mixture(X, [3], random_state=0)
        counts = np.bincount(fit.labels)
        assert (np.diff(counts) <= 0).all()
        assert np.allclose(fit.weights, np.sort(fit.weights)[::-1], atol=0.02)
        assert ((fit.probabilities > 0.3) & (fit.probabilities <= 1.0)).all()
        assert fit.means.shape == (3, 4) and fit.covariances.shape == (3, 4, 4)

    def test_bad_input_is_refused_with_reason(self) -> None:
        X, _ = planted_blobs(200, 2, 3)
        X[5, 1] = np.nan
        with pytest.raises(StatesError, match="NaN or infinite"):
            select_mixture(X, (2, 3))
        with pytest.raises(StatesError, match="k_range"):
            select_mixture(np.zeros((50, 2)), (0, 3))
        with pytest.raises(StatesError, match="too few"):
            select_mixture(np.zeros((3, 2)), (2, 4))


def test_silhouette_high_on_blobs_and_nan_for_one_state() -> None:
    X, truth = planted_blobs(20_000, 3, 4, seed=4)
    s = silhouette_on_sample(X, truth, sample_size=1500, random_state=0)
    assert 0.6 < s <= 1.0
    # A different seed draws another sample: close, not identical.
    s2 = silhouette_on_sample(X, truth, sample_size=1500, random_state=1)
    assert s2 != s and abs(s2 - s) < 0.05
    assert np.isnan(silhouette_on_sample(X, np.zeros(len(X), dtype=int)))


def test_agreement_of_a_relabelled_copy() -> None:
    a = np.array([0, 0, 1, 1, 2, 2, 2])
    b = np.array([2, 2, 0, 0, 1, 1, 1])
    ari, table = state_agreement(a, b)
    assert ari == pytest.approx(1.0)
    assert table.tolist() == [[0, 0, 2], [2, 0, 0], [0, 3, 0]]
    ari_bad, _ = state_agreement(a, np.array([0, 1, 0, 1, 0, 1, 0]))
    assert ari_bad < 0.1
    with pytest.raises(StatesError, match="differ in length"):
        state_agreement(a, b[:-1])


def test_profiles_in_feature_units_ignore_missing_values() -> None:
    values = np.array(
        [[10.0, 1.0], [20.0, np.nan], [30.0, 3.0], [40.0, 5.0]],
    )
    labels = np.array([0, 0, 1, 1])
    prof = state_profiles(values, labels, ["t2_ppda", "t1_shots"])
    row = prof.filter((pl.col("state") == 0) & (pl.col("feature") == "t2_ppda")).row(0, named=True)
    assert row["state_mean"] == pytest.approx(15.0)
    assert row["population_mean"] == pytest.approx(25.0)
    assert row["population_std"] == pytest.approx(np.std([10, 20, 30, 40], ddof=1))
    assert row["effect"] == pytest.approx(-10 / np.std([10, 20, 30, 40], ddof=1))
    shots0 = prof.filter((pl.col("state") == 0) & (pl.col("feature") == "t1_shots")).row(
        0, named=True
    )
    assert shots0["state_mean"] == pytest.approx(1.0)  # the NaN is ignored, not zero
    assert shots0["population_mean"] == pytest.approx(3.0)
    shares = prof.group_by("state").agg(pl.col("share").first())["share"]
    assert shares.sum() == pytest.approx(1.0)


def test_labels_name_the_most_distinctive_features() -> None:
    rng = np.random.default_rng(0)
    n = 600
    labels = np.repeat([0, 1, 2], n // 3)
    values = rng.normal(size=(n, 3)) * [2.0, 0.1, 5.0] + [10.0, 0.5, 40.0]
    values[labels == 1, 0] -= 6.0  # state 1: low PPDA (pressing high)
    values[labels == 1, 2] += 10.0  # ... and a higher defensive line
    values[labels == 2, 1] += 0.4  # state 2: more long balls
    names = ["t2_ppda", "t2_long_ball_share", "t2_defensive_action_height"]
    prof = state_profiles(values, labels, names)
    lab = state_labels(prof, n_features=2)
    by_state = dict(zip(lab["state"], lab["label"], strict=True))
    assert by_state[1] == "low PPDA, high defensive action height"
    assert by_state[2].startswith("high long ball share")
    assert lab.filter(pl.col("state") == 1)["top_features"][0].to_list() == [
        "t2_ppda",
        "t2_defensive_action_height",
    ]
    assert len(set(by_state.values())) == 3  # labels are unique
    lab_dir = state_labels(prof, directions={"t2_ppda": "lower = more intense pressing"})
    assert lab_dir.filter(pl.col("state") == 1)["label"][0].startswith("more intense pressing")


def test_names_and_direction_words() -> None:
    assert feature_short_name("t2_ppda") == "PPDA"
    assert feature_short_name("t1_xg_per_shot") == "xG per shot"
    assert feature_short_name("t2_box_entries_per_min") == "box entries"
    assert direction_words("higher = more pressing") == ("more pressing", "less pressing")
    assert direction_words("lower = more intense pressing") == (
        "less intense pressing",
        "more intense pressing",
    )
    assert direction_words("higher = more direct, long-ball play") == ("more direct", "less direct")
    assert direction_words("higher = safer, more accurate passing") == ("high", "low")
    assert direction_words(None) == ("high", "low")


def test_registry_directions_make_readable_labels() -> None:
    from core.features.registry import feature_info

    values = np.array([[8.0, 0.2], [9.0, 0.3], [20.0, 0.1], [21.0, 0.05]])
    prof = state_profiles(values, np.array([0, 0, 1, 1]), ["t2_ppda", "t2_long_ball_share"])
    directions = {f: feature_info(f).direction for f in ("t2_ppda", "t2_long_ball_share")}
    lab = state_labels(prof, directions=directions)
    assert lab["label"].to_list() == [
        "more intense pressing, more direct",
        "less intense pressing, less direct",
    ]


# --- on a real trained run ---------------------------------------------------------------------


def test_run_states_are_computed_once_and_cached(demo_run: Run) -> None:
    calls: list[tuple[int, int, str]] = []
    result = get_states(
        demo_run, k_range=(2, 5), recompute=True, progress=lambda *a: calls.append(a)
    )
    assert calls and calls[-1][0] == calls[-1][1]  # progress reached its total
    folder = states_dir(demo_run)
    for name in ("assignments.parquet", "bic.parquet", "profiles.parquet", "labels.parquet",
                 "mixtures.npz", "summary.json"):  # fmt: skip
        assert (folder / name).is_file(), name
    latents = demo_run.latents()
    assert result.assignments.height == latents.height
    assert result.assignments["segment_id"].to_list() == latents["segment_id"].to_list()
    for space in ("latent", "features"):
        k = result.summary[space]["best_k"]
        assert 2 <= k <= 5
        assert result.assignments[f"{space}_state"].max() == k - 1
        assert result.bic.filter(pl.col("space") == space).height == 4
        sil = result.summary[space]["silhouette"]
        assert sil is None or -1.0 <= sil <= 1.0
    assert -1.0 <= result.summary["ari"] <= 1.0
    assert result.contingency.sum() == latents.height
    # The cache answers the second request: same numbers, no recomputation.
    mtime = (folder / "summary.json").stat().st_mtime_ns
    again = get_states(demo_run, k_range=(2, 5), progress=lambda *a: pytest.fail("recomputed"))
    assert (folder / "summary.json").stat().st_mtime_ns == mtime
    assert again.summary == json.loads((folder / "summary.json").read_text())
    assert again.assignments.equals(result.assignments)
    loaded = load_states(demo_run)
    assert loaded is not None and np.array_equal(loaded.contingency, result.contingency)


def test_run_profiles_are_in_feature_units(demo_run: Run) -> None:
    result = get_states(demo_run, k_range=(2, 5))
    pipeline = demo_run.load_pipeline()
    feature = pipeline.feature_columns_[0]
    frame = states_frame(demo_run, result, space="latent")
    raw = pl.read_parquet(Path(demo_run.features_path), columns=["segment_id", feature])
    joined = frame.select("segment_id", "state").join(raw, on="segment_id")
    expected = joined.filter(pl.col("state") == 0)[feature].drop_nulls().mean()
    prof = result.profiles.filter(
        (pl.col("space") == "latent") & (pl.col("state") == 0) & (pl.col("feature") == feature)
    )
    assert prof["state_mean"][0] == pytest.approx(expected)
    assert prof["population_mean"][0] == pytest.approx(joined[feature].drop_nulls().mean())
    labels = result.labels.filter(pl.col("space") == "latent")
    assert labels.height == result.summary["latent"]["best_k"]
    assert labels["share"].sum() == pytest.approx(1.0)
    assert labels["label"].n_unique() == labels.height
    assert frame["state_label"].null_count() == 0
