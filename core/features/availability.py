"""Which features a dataset (or a provider, before extracting) can supply, and why the others are null.

The Data page lists this beside a dataset; it reads the extraction's ``summary.json``
when it says, else the features table (its ``provider`` column and the registry), else
treats a column that is null everywhere as unavailable.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from core.features.datasets import Dataset
from core.features.registry import feature_columns, feature_names
from core.features.support import (
    PROVIDER_NAMES,
    definition_differs,
    feature_providers,
    feature_source,
    missing_concepts,
    unavailable_features,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureAvailability:
    """The features a dataset or provider supplies, and each unavailable one with why."""

    providers: list[str]  # empty when not recorded
    available: list[str]
    unavailable: dict[str, str] = field(default_factory=dict)  # name -> why it is null

    @property
    def provider(self) -> str | None:
        """The one provider, ``None`` when unknown or mixed."""
        return self.providers[0] if len(self.providers) == 1 else None

    def frame(self) -> pl.DataFrame:
        """``name``, ``available``, ``why`` for every registered feature, catalogue order;
        with one known provider also ``built_from`` (what the feature is built from for it)
        and ``differs`` (its definition differs between providers)."""
        names = feature_names()
        frame = pl.DataFrame(
            {
                "name": names,
                "available": [n not in self.unavailable for n in names],
                "why": [self.unavailable.get(n, "") for n in names],
            }
        )
        provider = self.provider
        if provider not in PROVIDER_NAMES:
            return frame
        return frame.with_columns(
            pl.Series("built_from", [feature_source(n, str(provider)) for n in names]),
            pl.Series("differs", [definition_differs(n) for n in names]),
        )


def provider_availability(providers: str | list[str]) -> FeatureAvailability:
    """What one provider (or every one of several, together) can supply, from the registry."""
    wanted = [providers] if isinstance(providers, str) else sorted(set(providers))
    why: dict[str, list[str]] = {}
    for provider in wanted:
        for name in unavailable_features(provider):
            lacks = " or ".join(missing_concepts(name, provider))
            why.setdefault(name, []).append(f"{provider} data has no {lacks}")
    unavailable = {n: "; ".join(why[n]) for n in feature_names() if n in why}
    available = [n for n in feature_names() if n not in unavailable]
    return FeatureAvailability(wanted, available, unavailable)


def availability_frame() -> pl.DataFrame:
    """One row per feature, one Boolean column per provider: can it supply the feature."""
    names = feature_names()
    return pl.DataFrame(
        {
            "name": names,
            **{p: [p in feature_providers(n) for n in names] for p in PROVIDER_NAMES},
        }
    )


def _from_summary(path: Path) -> FeatureAvailability | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "features_available" not in data:
        return None
    unavailable = {str(k): str(v) for k, v in (data.get("features_unavailable") or {}).items()}
    provider = data.get("provider")
    return FeatureAvailability(
        [str(provider)] if provider else [],
        [str(n) for n in data["features_available"]],
        unavailable,
    )


def dataset_availability(folder: str | Path) -> FeatureAvailability:
    """The features the dataset in ``folder`` supplies (see the module doc for the sources)."""
    dataset = Dataset(Path(folder))
    from_summary = _from_summary(dataset.summary_path)
    if from_summary is not None:
        return from_summary
    features = pl.read_parquet(dataset.features_path)
    names = feature_columns(features.columns)
    if "provider" in features.columns:
        providers = sorted(str(p) for p in features["provider"].drop_nulls().unique())
        known = [p for p in providers if p in PROVIDER_NAMES]
        if known:
            by_registry = provider_availability(known)
            return FeatureAvailability(
                providers,
                [n for n in names if n not in by_registry.unavailable],
                {n: w for n, w in by_registry.unavailable.items() if n in names},
            )
    empty = [n for n in names if features.height and features[n].null_count() == features.height]
    return FeatureAvailability(
        [],
        [n for n in names if n not in empty],
        dict.fromkeys(empty, "null in every segment"),
    )
