"""The model matrix of a run: its segments filtered like the notebook, the preprocessing
fitted, and the named features beside it for the correlations (missing values filled by
the one rule of :mod:`core.model.imputation`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from core.errors import FeaturesFileError, TrainingError
from core.features.datasets import load_features
from core.features.registry import feature_tier
from core.model.config import PreprocessConfig, VAEConfig
from core.model.imputation import impute_missing

MIN_RUN_SEGMENTS = 10  # below this the map (UMAP needs 4) and the states mean nothing


@dataclass(frozen=True)
class PreparedData:
    """The model matrix and the segments (rows) it describes."""

    X: np.ndarray  # (n, d) float32, what the VAE sees
    segments: pl.DataFrame  # retained rows of the filtered features table
    features: np.ndarray  # (n, m) float64 named features (nulls imputed) for correlations
    feature_names: list[str]
    pipeline: Any  # fitted PreprocessingPipeline
    dropped_tier_columns: list[str]


def prepare(df: pl.DataFrame, prep: PreprocessConfig) -> PreparedData:
    """Filter segments and tiers like the notebook, then fit the preprocessing."""
    from core.model.preprocessing import PreprocessingPipeline

    seg = df.filter(pl.col("segment_type") == prep.segment_type)
    if seg.is_empty():
        available = sorted(df["segment_type"].unique().drop_nulls().to_list())
        raise FeaturesFileError(
            f"No '{prep.segment_type}' segments in the features file (it has {available}). "
            "Choose another segment type."
        )
    dropped = [
        c for c in seg.columns if (tier := feature_tier(c)) is not None and tier > prep.max_tier
    ]
    seg = seg.drop(dropped)
    pipeline = PreprocessingPipeline.from_config(prep)
    X = pipeline.fit_transform(seg)
    mask = pipeline.get_retained_row_mask(seg)
    kept = seg.filter(pl.Series(mask))
    names = list(pipeline.feature_columns_)
    named = kept.select([pl.col(c).cast(pl.Float64) for c in names]).to_numpy()
    named = impute_missing(named, pipeline.medians_)  # the one rule: training medians
    return PreparedData(
        X=np.asarray(X, dtype=np.float32),
        segments=kept,
        features=named,
        feature_names=names,
        pipeline=pipeline,
        dropped_tier_columns=dropped,
    )


def check_training_input(
    features_path: str | os.PathLike[str], vae_cfg: VAEConfig, prep_cfg: PreprocessConfig
) -> tuple[int, int]:
    """Fail now, with the reason, if this configuration cannot train on this file.

    Loads the features, filters and preprocesses them exactly as :func:`execute_run` will,
    and checks the shapes against ``vae_cfg``. Returns ``(n_segments, n_inputs)``.
    """
    from core.model.checks import check_trainable

    data = prepare(load_features(features_path), prep_cfg)
    if data.X.shape[0] < MIN_RUN_SEGMENTS:
        raise TrainingError(
            f"Need at least {MIN_RUN_SEGMENTS} segments for a run (the map and the analyses "
            f"need them), got {data.X.shape[0]}. Add matches to the dataset."
        )
    check_trainable(data.X.shape[0], data.X.shape[1], vae_cfg)
    return int(data.X.shape[0]), int(data.X.shape[1])
