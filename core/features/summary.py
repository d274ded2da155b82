"""What a dataset holds: counts per match, team and tier, and each feature's coverage."""

from __future__ import annotations

from typing import Any

import polars as pl

from core.features.registry import feature_columns, feature_tier

# --- dataset summary ---------------------------------------------------------------------


def dataset_overview(features: pl.DataFrame) -> dict[str, Any]:
    """Headline counts of a features table: matches, teams, competitions, segments, features by tier, 360 coverage.

    360 coverage is the share of segments with at least one non-null tier-3 feature;
    ``features_empty`` counts feature columns without a single value (e.g. 360 features
    without 360 files, or what a provider cannot supply); ``providers`` lists the providers
    named in the table's ``provider`` column.
    """
    names = feature_columns(features.columns)
    tiers: dict[int, int] = {}
    for name in names:
        tier = feature_tier(name) or 0
        tiers[tier] = tiers.get(tier, 0) + 1
    t3 = [n for n in names if feature_tier(n) == 3]
    coverage = (
        float(features.select(pl.any_horizontal(pl.col(t3).is_not_null()).mean()).item())
        if t3 and features.height
        else 0.0
    )

    def n_unique(col: str) -> int:
        return int(features[col].n_unique()) if col in features.columns else 0

    by_type: dict[str, int] = {}
    if "segment_type" in features.columns:
        counts = features["segment_type"].value_counts()
        by_type = dict(
            zip(counts["segment_type"].to_list(), counts["count"].to_list(), strict=True)
        )
    empty = 0
    if names and features.height:
        filled = features.select(pl.col(names).count()).row(0)
        empty = sum(1 for c in filled if c == 0)
    providers: list[str] = []
    if "provider" in features.columns:
        providers = sorted(str(p) for p in features["provider"].drop_nulls().unique())
    return {
        "matches": n_unique("match_id"),
        "teams": n_unique("team_id"),
        "competitions": n_unique("competition"),
        "segments": features.height,
        "segments_by_type": by_type,
        "features": len(names),
        "features_by_tier": dict(sorted(tiers.items())),
        "coverage_360": coverage,
        "features_empty": empty,
        "providers": providers,
    }


def feature_coverage(features: pl.DataFrame) -> pl.DataFrame:
    """Share of segments with a non-null, finite value per feature: ``name``, ``coverage``."""
    names = feature_columns(features.columns)
    if not names or features.height == 0:
        return pl.DataFrame(schema={"name": pl.String, "coverage": pl.Float64})
    shares = features.select(
        [
            (pl.col(n).is_not_null() & pl.col(n).cast(pl.Float64).is_finite()).mean().alias(n)
            for n in names
        ]
    ).row(0)
    return pl.DataFrame(
        {"name": names, "coverage": list(shares)},
        schema={"name": pl.String, "coverage": pl.Float64},
    )
