"""PreprocessingPipeline: column selection, null handling, z-scores, PCA, persistence, bad input."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from core.errors import ConfigError
from core.model.config import PreprocessConfig
from core.model.preprocessing import (
    MissingColumnsError,
    NoFeatureColumnsError,
    NotFittedError,
    NoUsableFeaturesError,
    PreprocessingError,
    PreprocessingPipeline,
    TooFewRowsError,
)

FEATURE_RE = re.compile(r"^t\d+_")


@pytest.fixture(scope="module")
def demo_features(demo_dataset: Path) -> pl.DataFrame:
    return pl.read_parquet(demo_dataset / "features.parquet")


def small_frame() -> pl.DataFrame:
    """Hand-made segments whose statistics are known exactly."""
    return pl.DataFrame(
        {
            "match_id": [1, 1, 2, 2, 3, 3],
            "team_id": [10, 20, 10, 20, 30, 40],
            "segment_type": ["window"] * 6,
            "tactic_note": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # starts with t, not a feature
            "t_bare": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],  # no tier digit, not a feature
            "t1_passes": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
            "t1_shots": [1.0, None, 3.0, 1.0, 2.0, 5.0],
            "t2_ppda": [5.0, 6.0, 7.0, 8.0, 9.0, 11.0],
            "t2_const": [3.0] * 6,
            "t3_line": [None, None, None, None, 40.0, 41.0],  # 67% null
            "t3_empty": [None] * 6,
            "t12_tier12": [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        },
        schema_overrides={"t3_empty": pl.Float64},
    )


class TestSelection:
    def test_only_tier_pattern_columns_never_metadata(self) -> None:
        pipe = PreprocessingPipeline(feature_prefix="t")
        pipe.fit(small_frame())
        assert pipe.feature_columns_ == ["t1_passes", "t1_shots", "t2_ppda", "t12_tier12"]
        assert pipe._feature_columns == pipe.feature_columns_
        assert "team_id" not in pipe.candidate_columns(small_frame())
        assert "tactic_note" not in pipe.candidate_columns(small_frame())

    def test_real_demo_features_select_only_feature_columns(
        self, demo_features: pl.DataFrame
    ) -> None:
        pipe = PreprocessingPipeline()
        X = pipe.fit_transform(demo_features)
        assert pipe.feature_columns_, "the demo features must yield model columns"
        assert all(FEATURE_RE.match(c) for c in pipe.feature_columns_)
        assert not {"team_id", "match_id", "period", "match_minute"} & set(pipe.feature_columns_)
        assert X.dtype == np.float32
        assert X.shape == (demo_features.height, len(pipe.feature_columns_))
        assert np.isfinite(X).all()
        # z-scores: each kept column has mean 0 and unit (population) std on the fit data
        np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-4)
        np.testing.assert_allclose(X.std(axis=0), 1.0, atol=1e-3)
        # every dropped or kept feature is accounted for
        candidates = pipe.candidate_columns(demo_features)
        assert sorted(
            pipe.feature_columns_ + pipe.dropped_null_ + pipe.dropped_constant_
        ) == sorted(candidates)


class TestNullsAndConstants:
    def test_dropped_columns_are_reported(self) -> None:
        pipe = PreprocessingPipeline().fit(small_frame())
        assert pipe.dropped_null_ == ["t3_line", "t3_empty"]
        assert pipe.dropped_constant_ == ["t2_const"]
        assert pipe.null_fractions_["t1_shots"] == pytest.approx(1 / 6)
        assert pipe.null_fractions_["t3_empty"] == 1.0

    def test_all_null_column_dropped_even_at_threshold_one(self) -> None:
        pipe = PreprocessingPipeline(null_column_threshold=1.0).fit(small_frame())
        assert "t3_line" in pipe.feature_columns_  # 67% null is allowed at threshold 1.0
        assert pipe.dropped_null_ == ["t3_empty"]

    def test_median_imputation_uses_fitted_median(self) -> None:
        df = small_frame()
        pipe = PreprocessingPipeline()
        X = pipe.fit_transform(df)
        col = pipe.feature_columns_.index("t1_shots")
        shots = np.array([1.0, 3.0, 1.0, 2.0, 5.0])
        filled = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 5.0])  # median of observed = 2
        expected = (filled - filled.mean()) / filled.std()
        assert np.median(shots) == 2.0
        np.testing.assert_allclose(X[:, col], expected, rtol=1e-6)
        assert pipe.get_retained_row_mask(df).all()

    def test_drop_rows_keeps_complete_rows_and_mask_matches(self) -> None:
        df = small_frame()
        pipe = PreprocessingPipeline(null_strategy="drop_rows")
        X = pipe.fit_transform(df)
        mask = pipe.get_retained_row_mask(df)
        assert mask.tolist() == [True, False, True, True, True, True]
        assert X.shape[0] == 5 == pipe.n_rows_retained_
        passes = df.filter(pl.Series(mask))["t1_passes"].to_numpy()
        col = pipe.feature_columns_.index("t1_passes")
        np.testing.assert_allclose(X[:, col], (passes - passes.mean()) / passes.std(), rtol=1e-6)

    def test_from_config(self) -> None:
        cfg = PreprocessConfig(null_strategy="drop_rows", null_column_threshold=0.9)
        pipe = PreprocessingPipeline.from_config(cfg)
        assert pipe.null_strategy == "drop_rows"
        assert pipe.null_column_threshold == 0.9


class TestTransform:
    def test_transform_equals_fit_transform_on_same_data(self) -> None:
        df = small_frame()
        pipe = PreprocessingPipeline()
        np.testing.assert_array_equal(pipe.fit_transform(df), pipe.transform(df))

    def test_transform_new_data_reuses_fitted_statistics(self) -> None:
        pipe = PreprocessingPipeline().fit(small_frame())
        new = small_frame().with_columns(pl.col("t1_passes") * 2)
        X = pipe.transform(new)
        col = pipe.feature_columns_.index("t1_passes")
        passes = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
        np.testing.assert_allclose(
            X[:, col], (2 * passes - passes.mean()) / passes.std(), rtol=1e-6
        )

    def test_to_feature_units_inverts_the_zscores(self) -> None:
        df = small_frame()
        pipe = PreprocessingPipeline()
        X = pipe.fit_transform(df)
        back = pipe.to_feature_units(X)
        expected = df.select(pipe.feature_columns_).fill_null(2.0).to_numpy()
        np.testing.assert_allclose(back, expected, rtol=1e-5)
        np.testing.assert_allclose(pipe.inverse_transform(X), expected, rtol=1e-5)
        # one segment (1-D) works too: z = 1 of t2_ppda is mean + std
        one = np.zeros(len(pipe.feature_columns_))
        one[pipe.feature_columns_.index("t2_ppda")] = 1.0
        ppda = np.array([5.0, 6.0, 7.0, 8.0, 9.0, 11.0])
        units = pipe.to_feature_units(one)
        assert units[pipe.feature_columns_.index("t2_ppda")] == pytest.approx(
            ppda.mean() + ppda.std()
        )

    def test_missing_column_in_transform_is_named(self) -> None:
        pipe = PreprocessingPipeline().fit(small_frame())
        with pytest.raises(MissingColumnsError, match="t2_ppda"):
            pipe.transform(small_frame().drop("t2_ppda"))

    def test_unfitted_pipeline_refuses_transform(self) -> None:
        with pytest.raises(NotFittedError, match="fit"):
            PreprocessingPipeline().transform(small_frame())

    def test_pandas_input_is_accepted(self) -> None:
        df = small_frame()
        X_pl = PreprocessingPipeline().fit_transform(df)
        X_pd = PreprocessingPipeline().fit_transform(df.to_pandas())
        np.testing.assert_allclose(X_pd, X_pl)


class TestPCA:
    def test_variance_threshold_keeps_fewest_components(self, demo_features: pl.DataFrame) -> None:
        pipe = PreprocessingPipeline(pca_variance_threshold=0.8)
        X = pipe.fit_transform(demo_features)
        ratio = pipe.explained_variance_ratio_
        assert ratio is not None and pipe.components_ is not None
        k = X.shape[1]
        assert k == pipe.n_output_dims == len(ratio) < len(pipe.feature_columns_)
        assert ratio.sum() >= 0.8 - 1e-9
        assert ratio[:-1].sum() < 0.8  # one component fewer would not reach the threshold
        # principal component scores are uncorrelated, with decreasing variance
        cov = np.cov(X.astype(np.float64), rowvar=False)
        off = cov - np.diag(np.diag(cov))
        assert np.abs(off).max() < 1e-4 * np.diag(cov).max()
        assert np.all(np.diff(np.diag(cov)) <= 1e-6)

    def test_full_pca_round_trips_to_feature_units(self, demo_features: pl.DataFrame) -> None:
        pipe = PreprocessingPipeline(pca_variance_threshold=1.0)
        X = pipe.fit_transform(demo_features)
        plain = PreprocessingPipeline().fit_transform(demo_features)
        np.testing.assert_allclose(
            pipe.inverse_transform(X),
            PreprocessingPipeline().fit(demo_features).to_feature_units(plain),
            rtol=1e-3,
            atol=1e-3,
        )


class TestPersistence:
    @pytest.mark.parametrize("name", ["pre.json", "preprocessing_pipeline.pkl", "pre.npz"])
    def test_save_load_round_trip(self, tmp_path: Path, name: str) -> None:
        df = small_frame()
        pipe = PreprocessingPipeline(pca_variance_threshold=0.9)
        X = pipe.fit_transform(df)
        path = pipe.save(tmp_path / name)
        if not name.endswith(".npz"):
            data = json.loads(path.read_text())  # JSON even for the notebook's .pkl name
            assert data["feature_columns"] == pipe.feature_columns_
            assert data["dropped_constant"] == ["t2_const"]
        loaded = PreprocessingPipeline.load(path)
        assert loaded.feature_columns_ == pipe.feature_columns_
        assert loaded.dropped_null_ == pipe.dropped_null_
        np.testing.assert_array_equal(loaded.transform(df), X)
        assert list(tmp_path.iterdir()) == [path]  # no temp files left behind

    def test_pickle_file_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "evil.pkl"
        path.write_bytes(pickle.dumps({"feature_columns": ["t1_a"]}))
        with pytest.raises(PreprocessingError, match="pickle"):
            PreprocessingPipeline.load(path)

    def test_malformed_json_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "pre.json"
        path.write_text(json.dumps({"format_version": 1, "feature_prefix": "t"}))
        with pytest.raises(PreprocessingError, match="missing or malformed"):
            PreprocessingPipeline.load(path)


class TestBadInput:
    def test_no_feature_columns(self) -> None:
        df = small_frame().select("match_id", "team_id", "tactic_note")
        with pytest.raises(NoFeatureColumnsError, match=r"t1_passes"):
            PreprocessingPipeline().fit(df)

    def test_too_few_rows(self) -> None:
        with pytest.raises(TooFewRowsError, match="at least 2"):
            PreprocessingPipeline().fit(small_frame().head(1))

    def test_drop_rows_leaving_too_few_rows(self) -> None:
        df = pl.DataFrame({"t1_a": [1.0, None, 3.0], "t1_b": [None, 2.0, 5.0]})
        with pytest.raises(TooFewRowsError, match="impute_median"):
            PreprocessingPipeline(null_strategy="drop_rows", null_column_threshold=1.0).fit(df)

    def test_everything_constant(self) -> None:
        df = pl.DataFrame({"team_id": [1, 2, 3], "t1_a": [2.0, 2.0, 2.0], "t2_b": [0.0] * 3})
        with pytest.raises(NoUsableFeaturesError, match="constant"):
            PreprocessingPipeline().fit(df)

    def test_all_null_columns(self) -> None:
        df = pl.DataFrame(
            {"t1_a": [None, None, None], "t1_b": [None, None, 1.0]},
            schema={"t1_a": pl.Float64, "t1_b": pl.Float64},
        )
        with pytest.raises(NoUsableFeaturesError, match="null"):
            PreprocessingPipeline().fit(df)

    def test_non_numeric_feature_column(self) -> None:
        df = pl.DataFrame({"t1_a": [1.0, 2.0, 3.0], "t1_label": ["x", "y", "z"]})
        with pytest.raises(PreprocessingError, match="t1_label"):
            PreprocessingPipeline().fit(df)

    def test_infinite_values(self) -> None:
        df = pl.DataFrame({"t1_a": [1.0, 2.0, 3.0], "t2_ratio": [1.0, float("inf"), 0.5]})
        with pytest.raises(PreprocessingError, match="t2_ratio"):
            PreprocessingPipeline().fit(df)

    def test_bad_settings(self) -> None:
        with pytest.raises(PreprocessingError, match="null_strategy"):
            PreprocessingPipeline(null_strategy="zero").fit(small_frame())
        with pytest.raises(ConfigError, match="pca_variance_threshold"):
            PreprocessConfig(pca_variance_threshold=1.5)
