"""Plain-language readings of a run's results, for coaches and analysts new to the model.

What the run found (one headline, one line per pattern), what the tactical states are,
and what a stability score means. Pure functions over a run's tables; pages draw them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from core.features.names import display_name

STABLE_JACCARD = 0.6  # top-5 features mostly the same across seeds
PARTLY_JACCARD = 0.3
STABLE_CODE_R = 0.8  # the matched dimension's codes follow this run's closely


@dataclass(frozen=True)
class Pattern:
    """One distinct latent dimension read as a pattern of play."""

    dim: str  # "z0"
    features: list[str]  # code names of its top features, strongest first
    signs: list[int]  # +1 when the feature rises with the dimension

    @property
    def name(self) -> str:
        """``"possession share & field tilt"``."""
        return " & ".join(display_name(f) for f in self.features)

    @property
    def reading(self) -> str:
        """``"possession share and field tilt fall as z0 rises"``."""
        names = [display_name(f) for f in self.features]
        if len(set(self.signs)) == 1:
            verb = "rise" if self.signs[0] > 0 else "fall"
            if len(names) == 1:
                verb += "s"
            return f"{' and '.join(names)} {verb} as {self.dim} rises"
        parts = [
            f"{n} {'rises' if s > 0 else 'falls'}" for n, s in zip(names, self.signs, strict=True)
        ]
        return f"{', '.join(parts)} as {self.dim} rises"


def run_patterns(
    interpretation: pl.DataFrame, distinct: Sequence[str], n_features: int = 2
) -> list[Pattern]:
    """The distinct dimensions, in order, each named by its ``n_features`` top features.

    ``interpretation`` is the run's top-5 table (``latent_dim, rank, feature, pearson_r``).
    """
    out: list[Pattern] = []
    for dim in distinct:
        part = interpretation.filter(pl.col("latent_dim") == dim).sort("rank").head(n_features)
        if part.is_empty():
            continue
        out.append(
            Pattern(
                dim=dim,
                features=part["feature"].to_list(),
                signs=[1 if r >= 0 else -1 for r in part["pearson_r"].fill_null(0).to_list()],
            )
        )
    return out


def run_headline(patterns: Sequence[Pattern], states: pl.DataFrame | None = None) -> str:
    """The Overview's first sentence(s): how many patterns, named, and the states if known.

    ``states``: the run's latent state labels (``label``, ``share``), or None when the
    states have not been computed yet.
    """
    if not patterns:
        return (
            "This run found **no distinct pattern**: every latent dimension collapsed or copies "
            "another. Retrain it on the **Train** page with the recommended preset."
        )
    n = len(patterns)
    named = [f"**{p.name}**" for p in patterns]
    listed = named[0] if n == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    head = (
        f"This run found **{n} distinct pattern{'s' if n != 1 else ''}** in how teams play: "
        f"{listed}."
    )
    if states is not None and states.height:
        rows = states.sort("share", descending=True)
        parts = [
            f"'{lab}' ({share:.0%})"
            for lab, share in zip(rows["label"].to_list(), rows["share"].to_list(), strict=True)
        ]
        head += (
            f" Grouping the segments by them gives **{states.height} tactical states**: "
            + ", ".join(parts)
            + "."
        )
    if n == 1:
        head += " With a single pattern the states are only slices of one axis."
    return head


def stability_reading(
    mean_jaccard: float | None, mean_abs_corr: float | None, n_runs: int | None = None
) -> str:
    """A plain verdict on one dimension's stability across seeds."""
    if mean_jaccard is None or (n_runs is not None and n_runs < 2):
        return "Not enough seed runs yet to judge."
    code = mean_abs_corr if mean_abs_corr is not None else 0.0
    if mean_jaccard >= STABLE_JACCARD and code >= STABLE_CODE_R:
        return "Stable: every seed finds this pattern and it means the same thing. Trust it."
    if mean_jaccard >= STABLE_JACCARD:
        return (
            "Same meaning, looser fit: seeds name the same features, but the segments' values "
            "differ somewhat. Trust its meaning, not exact values."
        )
    if mean_jaccard >= PARTLY_JACCARD:
        return (
            "Partly stable: seeds find a similar pattern but its top features shift. Read it "
            "with care."
        )
    return "Unstable: its meaning changes with the seed. Do not build conclusions on it."
