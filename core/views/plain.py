"""Plain-language readings of a run's results, for coaches and analysts new to the model.

What the run found (one headline, one line per pattern), what the tactical states are,
and what a stability score means. Pure functions over a run's tables; pages draw them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from core.features.names import display_name, same_concept

if TYPE_CHECKING:
    from core.analysis.ensemble import EnsembleReport
    from core.runs.store import Run

STABLE_JACCARD = 0.6  # top-5 features mostly the same across seeds
PARTLY_JACCARD = 0.3
STABLE_CODE_R = 0.8  # the matched dimension's codes follow this run's closely


NAME_SHARE = 0.6
"""A second evidence feature joins a pattern's name only when it loads at least this share of
the first's |r| (weaker pairs read as arbitrary: "fouls /min & switch share")."""


@dataclass(frozen=True)
class Pattern:
    """One distinct latent dimension read as a pattern of play.

    ``features`` name it: for a reproduced pattern the features that load on it in every
    seed that found it (the ensemble's evidence), for an unconfirmed one its own top
    features, which only describe it (an unconfirmed pattern is not named).
    """

    dim: str  # "z0"
    features: list[str]  # code names of its top features, strongest first
    signs: list[int]  # +1 when the feature rises with the dimension
    reproduced: bool = True  # found again by other seeds of the run's ensemble
    found_in: int = 1  # trainings that found it (the run's own counts as one)
    n_seeds: int = 1  # trainings in the run's ensemble

    @property
    def name(self) -> str:
        """``"possession share & field tilt"``; ``"unconfirmed axis z7"`` when not reproduced;
        ``"unnamed pattern z2"`` when reproduced but no top feature loads on it in every seed."""
        if not self.reproduced:
            return f"unconfirmed axis {self.dim}"
        if not self.features:  # found again, but no top feature is shared by every seed
            return f"unnamed pattern {self.dim}"
        return " & ".join(display_name(f) for f in self.features)

    @property
    def support(self) -> str:
        """``"found in 3 of 3 trainings"`` / ``"unconfirmed: found by 1 of 3 trainings"``."""
        if self.n_seeds < 2:
            return "unconfirmed: trained with one seed"
        found = f"found in {self.found_in} of {self.n_seeds} trainings"
        return found if self.reproduced else f"unconfirmed: {found}"

    @property
    def reading(self) -> str:
        """``"possession share and field tilt fall as z0 rises"``."""
        names = [display_name(f) for f in self.features]
        if not names:
            return f"no feature loads on {self.dim} in every seed"
        if len(set(self.signs)) == 1:
            verb = "rise" if self.signs[0] > 0 else "fall"
            if len(names) == 1:
                verb += "s"
            return f"{' and '.join(names)} {verb} as {self.dim} rises"
        parts = [
            f"{n} {'rises' if s > 0 else 'falls'}" for n, s in zip(names, self.signs, strict=True)
        ]
        return f"{', '.join(parts)} as {self.dim} rises"


def _name_features(evidence: Sequence[str], r: Mapping[str, float], n_features: int) -> list[str]:
    """The evidence features a name uses: the strongest, then others of another concept
    that load at least :data:`NAME_SHARE` as strongly."""
    if not evidence:
        return []
    first = evidence[0]
    chosen = [first]
    top = abs(r.get(first, 0.0))
    for f in evidence[1:]:
        if len(chosen) >= n_features:
            break
        if any(same_concept(f, c) for c in chosen):
            continue
        if top > 0 and abs(r.get(f, 0.0)) >= NAME_SHARE * top:
            chosen.append(f)
    return chosen


def run_patterns(
    interpretation: pl.DataFrame,
    distinct: Sequence[str],
    n_features: int = 2,
    *,
    ensemble: EnsembleReport | None = None,
) -> list[Pattern]:
    """The distinct dimensions, reproduced ones first, each with the features that name it.

    ``interpretation`` is the run's top-5 table (``latent_dim, rank, feature, pearson_r``);
    ``ensemble`` the run's seed ensemble (None for a run without one: every pattern is then
    unconfirmed). A reproduced pattern is named from its evidence (the features loading on
    it in every seed that found it), an unconfirmed one is described by its own top features.
    """
    out: list[Pattern] = []
    n_seeds = ensemble.n_seeds if ensemble is not None else 1
    reproduced = set(ensemble.reproduced) if ensemble is not None else set()
    for dim in distinct:
        part = interpretation.filter(pl.col("latent_dim") == dim).sort("rank")
        if part.is_empty():
            continue
        r = dict(
            zip(part["feature"].to_list(), part["pearson_r"].fill_null(0).to_list(), strict=True)
        )
        axis = ensemble.axis(dim) if ensemble is not None else None
        if dim in reproduced and axis is not None:
            feats = _name_features(axis.evidence, r, n_features)
            sign_of = dict(zip(axis.evidence, axis.evidence_signs, strict=True))
            signs = [sign_of[f] for f in feats]
        else:
            feats = _name_features(part["feature"].to_list(), r, n_features)
            signs = [1 if r[f] >= 0 else -1 for f in feats]
        out.append(
            Pattern(
                dim=dim,
                features=feats,
                signs=signs,
                reproduced=dim in reproduced,
                found_in=axis.found_in if axis is not None else 1,
                n_seeds=n_seeds,
            )
        )
    return sorted(out, key=lambda p: (not p.reproduced, -p.found_in))


def patterns_of(run: Run) -> list[Pattern]:
    """:func:`run_patterns` of a stored run (its distinct dims and its seed ensemble)."""
    return run_patterns(run.interpretation(), run.dim_quality().distinct, ensemble=run.ensemble())


def patterns_headline(patterns: Sequence[Pattern]) -> str:
    """``"5 patterns found again in 3 of 3 trainings, 1 more in 2 of 3; 3 unconfirmed"``."""
    if not patterns:
        return "no distinct pattern"
    n_seeds = patterns[0].n_seeds
    if n_seeds < 2:
        return (
            f"{len(patterns)} distinct {'axes' if len(patterns) != 1 else 'axis'}, all "
            "unconfirmed (trained with one seed)"
        )
    rep = [p for p in patterns if p.reproduced]
    in_all = sum(p.found_in == n_seeds for p in rep)
    parts = [
        f"{in_all} pattern{'s' if in_all != 1 else ''} found again in {n_seeds} of {n_seeds} trainings"
    ]
    if len(rep) > in_all:
        parts.append(f"{len(rep) - in_all} more in fewer of them")
    n_un = len(patterns) - len(rep)
    if n_un:
        parts.append(f"{n_un} unconfirmed")
    return ", ".join(parts)


def run_headline(patterns: Sequence[Pattern], states: pl.DataFrame | None = None) -> str:
    """The Overview's first sentence(s): how many patterns other seeds find again, named,
    how many are unconfirmed, and the states if known.

    ``states``: the run's latent state labels (``label``, ``share``), or None when the
    states have not been computed yet.
    """
    if not patterns:
        return (
            "This run found **no distinct pattern**: every latent dimension collapsed or copies "
            "another. Retrain it on the **Train** page with the recommended preset."
        )
    rep = [p for p in patterns if p.reproduced]
    n_seeds = patterns[0].n_seeds
    if n_seeds < 2:
        head = (
            f"This run trained **one seed**, so none of its **{len(patterns)} distinct "
            f"{'axes' if len(patterns) != 1 else 'axis'}** is confirmed: a pattern counts once "
            "another seed finds it again. Retrain with the recommended preset (3 seeds)."
        )
    elif not rep:
        head = (
            f"**No pattern was found again** across the run's {n_seeds} trainings: its "
            f"{len(patterns)} axes are unconfirmed, so read none of them as a finding."
        )
    else:
        named = [f"**{p.name}**" for p in rep]
        listed = named[0] if len(rep) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        head = f"**{patterns_headline(patterns)}**: {listed}."
        n_un = len(patterns) - len(rep)
        if n_un:
            head += (
                f" The {n_un} unconfirmed one{'s' if n_un != 1 else ''} came out of one "
                "training only: do not build conclusions on them."
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
    if len(patterns) == 1:
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
