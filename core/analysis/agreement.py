"""Do two providers say the same thing about the same team-matches? Pure maths, no I/O.

Two segment-feature tables of the same matches (say StatsBomb as provider A and Wyscout as
provider B) and a pairing of their team-matches (:data:`PAIR_COLUMNS`, made by
:mod:`core.services.agreement`) give, per feature, how well the providers agree across
team-matches: the number of team-matches, Pearson r, and the ratio of the means (B / A).

Team-match means are **minute-weighted**: each window segment weighs its length in minutes
(``end_time - start_time``), and a segment whose feature is null weighs nothing for that
feature. Windows are used, not possessions: a possession segment belongs to the team on the
ball, so possession share is 1 in all of them, and the two providers cut possessions
differently. Rates also get a per-team-match total (the mean rate times the minutes the
team-match's windows span), for figures people quote per match (xG).

The latent level: in a trained run, the dimension that tracks possession, directness and
pressing is found by the same rule as ``../shared/tools/latent_truth.py`` (the largest
|r| to the pattern's features, patterns in that order, each excluding the dims taken), then
each team's codes are averaged over its segments and the teams ranked in both providers.
The axes themselves: the window segments both providers cut (same team, period and start)
are paired, each of run A's axes is matched to one of run B's by ``|r|`` of their codes
(Hungarian, as the seeds of an ensemble are matched) and called found again at ``|r| >=``
:data:`core.analysis.ensemble.FOUND_R`; the canonical correlations of the two code spaces say
how many directions the two models share however each one's axes cut them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

from core.analysis.ensemble import FOUND_R
from core.analysis.stability import match_dimensions
from core.errors import FeaturesFileError
from core.features.registry import feature_columns

logger = logging.getLogger(__name__)

PAIR_COLUMNS: Final = ("match_id_a", "team_id_a", "match_id_b", "team_id_b")
"""A pairing: one row per team-match present in both providers."""
KEYS: Final = ("match_id", "team_id")
WINDOW: Final = "window"
MIN_PAIRS: Final = 3  # fewer pairs than this have no correlation
TOTAL: Final = "total"  # the ``aggregate`` of a per-team-match total row
MEAN: Final = "mean"

# Patterns of the latent level, in the order they are taken, each with its features and the
# direction in which a feature reads the pattern (+1: more of the feature is more of it).
PATTERNS: Final[dict[str, dict[str, int]]] = {
    "possession": {"t1_possession_share": 1},
    "directness": {
        "t2_long_ball_share": 1,
        "t2_passes_per_possession": -1,
        "t2_mean_pass_length": 1,
    },
    "pressing": {
        "t2_pressure_height": 1,
        "t2_defensive_action_height": 1,
        "t2_high_press_share": 1,
        "t2_ppda": -1,
        "t1_pressures_per_min": 1,
    },
}

# Why the providers disagree on a feature (r < 0.8 on World Cup 2018): what each reader
# (core.data.statsbomb vs core.data.kloppy_events / kloppy_source) puts into the event
# table that core.features.compute counts. Provider semantics, nothing fitted.
_PASS_ENDS: Final = (
    "Pass end points differ: StatsBomb's end is where the pass was received or stopped, in "
    "decimal yards; Wyscout v2's second position is an integer percentage of the pitch, and "
    "2.6% of its passes start or end on a placeholder corner ((0,0) or (100,100): every goal "
    "kick's start, blocked crosses' ends), which the Wyscout path keeps as real points. "
)
_DUELS: Final = (
    "Wyscout v2 records every duel once per player (ground attacking and defending, aerial, "
    "loose ball; won, lost or neutral), the attacker's included, about 8x StatsBomb's duel "
    "events; StatsBomb's Duel is a tackle or a lost aerial (the aerial's winner is a flag on "
    "his next action, a 50-50 its own event). "
)
_INTERCEPTIONS: Final = (
    "Wyscout v2 has no interception event: kloppy makes one from the interception tag, which "
    "Wyscout sets on any pass, touch, duel or clearance that cuts out an opponent's pass "
    "(about 4x StatsBomb's Interception events, which a loose ball picked up is not: that is "
    "a Ball Recovery). "
)
_POSSESSIONS: Final = (
    "Possessions are cut differently: StatsBomb's own possession ids (split at some "
    "stoppages) against the Wyscout path's, derived from the team of the last on-ball "
    "action (v2 has no ball-owning team) and restarts; Wyscout's shorter possessions (about "
    "0.7x the duration) move each possession's first and last on-ball points."
)
DEFINITION_NOTES: Final[dict[str, str]] = {
    "t1_interceptions_per_min": _INTERCEPTIONS,
    "t1_duels_won_per_min": _DUELS
    + "StatsBomb's duels won add the aerial-won flags and 50-50s won; Wyscout's add every "
    "attacking ground duel its dribbler won.",
    "t1_clearances_per_min": (
        "Where a clearance ends and a (head) pass begins differs: Wyscout's Clearance is a "
        "sub-event of 'Others on the ball' and a defensive header after an air duel is often "
        "a Head pass there; StatsBomb's Clearance takes headed and footed clearances alike."
    ),
    "t1_counter_share": (
        "StatsBomb's play pattern 'From Counter' marks every event of a possession that "
        "started as a counter-attack; Wyscout's counter-attack tag (kloppy's "
        "CounterAttackQualifier) marks the events its analysts put in a counter: different "
        "events, and about a fifth as many."
    ),
    "t2_ppda": _DUELS
    + _INTERCEPTIONS
    + "PPDA's defensive actions (duels, interceptions, fouls, dribbled past) are so about "
    "3.5x as many in Wyscout and PPDA about 0.3x; Wyscout has no dribbled-past event.",
    "t2_progressive_passes_per_min": _PASS_ENDS
    + "Only completed passes count, and Wyscout's 'accurate' tag is set on more forward "
    "passes than StatsBomb's complete outcome.",
    "t2_deep_completions_per_min": _PASS_ENDS
    + "Of the passes ending within 20 yards of goal, Wyscout tags 52% accurate, StatsBomb "
    "has 30% complete: a ball into the box that a defender touches first is incomplete in "
    "StatsBomb more often than inaccurate in Wyscout.",
    "t2_through_ball_share": (
        "StatsBomb 1.0 data flags few through balls (about one in a thousand passes); "
        "Wyscout's 'through' tag is set on about one pass in sixty: a broader definition."
    ),
    "t2_direct_speed": _POSSESSIONS,
    "t2_possession_duration": _POSSESSIONS,
    "t2_passes_per_possession": _POSSESSIONS,
    "t2_attack_width": (
        "Both providers spread a window's on-ball actions alike on average (ratio 1.0), but "
        "team-matches differ little (8% coefficient of variation), so Wyscout's integer-"
        "percent locations and the different action sets (StatsBomb's 2018 files hold no "
        "carries; Wyscout's take-ons are tagged duels) are enough to lower r."
    ),
    "t2_forward_pass_share": _PASS_ENDS
    + "A goal kick from the (100,100) placeholder reads as a backward pass; team-matches "
    "differ little (7% coefficient of variation), so small definition noise lowers r.",
    "t2_switch_share": _PASS_ENDS
    + "StatsBomb flags switches itself; the Wyscout path calls a pass across half the "
    "width a switch, which a cross ending on a placeholder corner also is.",
    "t2_shot_distance": (
        "Shot locations: Wyscout's integer percentages against StatsBomb's decimal yards, few "
        "shots per team-match, and periods the Wyscout path mirrors wrongly (its direction "
        "check counts goal kicks, whose Wyscout start is a placeholder corner at x 0 or 120) "
        "put some shots in the shooter's own half."
    ),
    "t1_xg_per_min": (
        "StatsBomb's xG is its own model's; Wyscout's open data carry none, so the Wyscout "
        "path's xG is the product's model (core.data.xg_model: location, body part, set "
        "piece), fitted on StatsBomb shots."
    ),
    "t1_carries_per_min": (
        "StatsBomb's 2018 open-data files (data version 1.0) hold no Carry events, so carries "
        "count 0 there (r undefined); Wyscout's carries are its 'Acceleration' sub-events."
    ),
    "t2_progressive_carries_per_min": (
        "StatsBomb's 2018 open-data files hold no Carry events (0 there, r undefined); "
        "Wyscout's carries are its 'Acceleration' sub-events."
    ),
    "t1_take_ons_per_min": (
        "StatsBomb's Dribble is every take-on attempt; Wyscout's is a ground attacking duel "
        "tagged take-on left or right (core.data.wyscout_v2), about two thirds as many."
    ),
    "t1_take_on_success": (
        "A StatsBomb Dribble completes by its outcome; a Wyscout take-on by its accurate tag "
        "(else won): different judgements on few attempts per team-match."
    ),
    "t1_recoveries_per_min": (
        "StatsBomb's Ball Recovery is coded by its analysts; Wyscout v2 has none, so the "
        "Wyscout path derives one as a team's first open-play action after the opponent left "
        "the ball loose with no duel between (core.data.wyscout_v2)."
    ),
    "t1_ball_losses_per_min": (
        "Dispossessions: StatsBomb codes Dispossessed events; the Wyscout path takes every "
        "ground attacking duel tagged lost (not a take-on), plus failed take-ons, whose "
        "definitions differ (see take-ons)."
    ),
    "t2_own_half_losses_per_min": (
        "Ball losses (see t1_ball_losses_per_min) and failed passes in the own half; the "
        "failed passes include Wyscout's goal kicks, which carry no accuracy tag."
    ),
    "t2_high_turnovers_per_min": (
        "Regains high up (recoveries and interceptions at x >= 76.3) inherit both "
        "definition differences: Wyscout's interceptions are tags on any cutting action, its "
        "recoveries are derived."
    ),
    "t2_defensive_action_height": _DUELS
    + _INTERCEPTIONS
    + "Wyscout has no pressure events, which are most of StatsBomb's defensive actions.",
}


def definition_note(feature: str) -> str | None:
    """Why the two providers' definitions of ``feature`` differ, where it is known."""
    return DEFINITION_NOTES.get(feature)


def check_columns(frame: pl.DataFrame, needed: Sequence[str], what: str) -> None:
    """Raise ``FeaturesFileError`` naming the columns of ``needed`` that ``frame`` lacks."""
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise FeaturesFileError(
            f"{what} lacks the column(s) {missing}; it needs {list(needed)}. A features table "
            "comes from `python -m core features`; a pairing from core.services.agreement."
        )


def team_match_means(
    features: pl.DataFrame, columns: Sequence[str], *, segment_type: str | None = WINDOW
) -> pl.DataFrame:
    """One row per ``match_id, team_id``: each feature's minute-weighted mean over the
    team-match's segments (nulls weigh nothing), and ``minutes`` spanned by its segments
    (summed over periods: last end minus first start)."""
    check_columns(features, [*KEYS, "start_time", "end_time", "period", *columns], "features")
    rows = features
    if segment_type is not None and "segment_type" in features.columns:
        rows = features.filter(pl.col("segment_type") == segment_type)
    w = (pl.col("end_time") - pl.col("start_time")).clip(0.0) / 60.0
    means = [
        ((pl.col(c) * w).sum() / w.filter(pl.col(c).is_not_null()).sum()).alias(c) for c in columns
    ]
    spans = (
        rows.group_by(*KEYS, "period")
        .agg(((pl.col("end_time").max() - pl.col("start_time").min()) / 60.0).alias("m"))
        .group_by(*KEYS)
        .agg(pl.col("m").sum().alias("minutes"))
    )
    return (
        rows.group_by(*KEYS)
        .agg(*means)
        .join(spans, on=list(KEYS), how="left")
        .with_columns(pl.col(c).fill_nan(None) for c in columns)
        .sort(*KEYS)
    )


def paired_means(
    a: pl.DataFrame, b: pl.DataFrame, pairs: pl.DataFrame, columns: Sequence[str]
) -> pl.DataFrame:
    """The pairing with each side's team-match means: ``<feature>_a``, ``<feature>_b``
    (and ``minutes_a``, ``minutes_b``); ``a`` and ``b`` are :func:`team_match_means` tables."""
    check_columns(pairs, PAIR_COLUMNS, "the pairing")

    def side(means: pl.DataFrame, s: str) -> pl.DataFrame:
        keep = [*KEYS, "minutes", *columns]
        return means.select(keep).rename({c: f"{c}_{s}" for c in keep})

    return pairs.join(side(a, "a"), on=[f"{k}_a" for k in KEYS], how="inner").join(
        side(b, "b"), on=[f"{k}_b" for k in KEYS], how="inner"
    )


def pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Pearson r over the pairs where both are finite, and how many there were (r is nan
    below :data:`MIN_PAIRS` pairs or when either side is constant)."""
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < MIN_PAIRS or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return math.nan, n
    return float(np.corrcoef(x[ok], y[ok])[0, 1]), n


def _values(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame.get_column(column).cast(pl.Float64).fill_null(math.nan).to_numpy()


def _row(feature: str, aggregate: str, xa: np.ndarray, xb: np.ndarray) -> dict[str, object]:
    r, n = pearson(xa, xb)
    ok = np.isfinite(xa) & np.isfinite(xb)
    mean_a = float(xa[ok].mean()) if n else math.nan
    mean_b = float(xb[ok].mean()) if n else math.nan
    note = definition_note(feature) if not (r >= 0.8) else None  # nan reads as "no agreement"
    return {
        "feature": feature,
        "aggregate": aggregate,
        "n": n,
        "r": r,
        "mean_a": mean_a,
        "mean_b": mean_b,
        "ratio": mean_b / mean_a if mean_a else math.nan,
        "definition_note": note,
    }


AGREEMENT_SCHEMA: Final = {
    "feature": pl.String,
    "aggregate": pl.String,
    "n": pl.Int64,
    "r": pl.Float64,
    "mean_a": pl.Float64,
    "mean_b": pl.Float64,
    "ratio": pl.Float64,
    "definition_note": pl.String,
}


def feature_agreement(
    a: pl.DataFrame,
    b: pl.DataFrame,
    pairs: pl.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    totals: Sequence[str] = (),
    segment_type: str | None = WINDOW,
) -> pl.DataFrame:
    """Per feature: ``feature, aggregate, n, r, mean_a, mean_b, ratio, definition_note``.

    ``a`` and ``b`` are segment-feature tables, ``pairs`` maps their team-matches
    (:data:`PAIR_COLUMNS`). ``columns`` defaults to the features both tables hold; ``n`` counts
    the team-matches where both means exist (0 where a provider has the feature all null).
    Each feature is compared on its minute-weighted team-match mean (``aggregate`` "mean");
    a feature in ``totals`` (a per-minute rate) gets a second row, "total": the mean rate
    times the minutes spanned, per team-match. ``ratio`` is ``mean_b / mean_a``;
    ``definition_note`` says why the definitions differ where r < 0.8 and it is known.
    """
    if columns is None:
        columns = [c for c in feature_columns(a.columns) if c in b.columns]
    columns = list(columns)
    unknown = [c for c in totals if c not in columns]
    if unknown:
        raise ValueError(f"totals {unknown} are not among the compared features")
    joined = paired_means(
        team_match_means(a, columns, segment_type=segment_type),
        team_match_means(b, columns, segment_type=segment_type),
        pairs,
        columns,
    )
    if joined.is_empty():
        logger.warning("no paired team-match has segments in both tables")
    rows = [_row(c, MEAN, _values(joined, f"{c}_a"), _values(joined, f"{c}_b")) for c in columns]
    for c in totals:
        xa = _values(joined, f"{c}_a") * _values(joined, "minutes_a")
        xb = _values(joined, f"{c}_b") * _values(joined, "minutes_b")
        rows.append(_row(c, TOTAL, xa, xb))
    return pl.DataFrame(rows, schema=AGREEMENT_SCHEMA)


def team_rank_spearman(scores_a: Mapping[str, float], scores_b: Mapping[str, float]) -> float:
    """Spearman rank correlation of the teams both mappings score (team -> score); nan below
    :data:`MIN_PAIRS` common teams with finite scores or when either side is constant."""
    teams = sorted(t for t in scores_a.keys() & scores_b.keys())
    xa = np.array([scores_a[t] for t in teams], dtype=np.float64)
    xb = np.array([scores_b[t] for t in teams], dtype=np.float64)
    ok = np.isfinite(xa) & np.isfinite(xb)
    if ok.sum() < MIN_PAIRS or np.ptp(xa[ok]) == 0 or np.ptp(xb[ok]) == 0:
        return math.nan
    from scipy import stats  # imported here: the pages' process stays light

    return float(stats.spearmanr(xa[ok], xb[ok]).statistic)


@dataclass(frozen=True)
class PatternDim:
    """The latent dim that tracks a pattern: by which feature, how strongly, which way."""

    pattern: str
    dim: str | None  # None: no candidate dim correlates with any of the pattern's features
    feature: str | None
    r: float  # signed r of the dim to ``feature``
    sign: int  # +1 when higher codes read as more of the pattern, -1 when less

    @property
    def abs_r(self) -> float:
        return abs(self.r)


def pattern_dims(
    r: np.ndarray,
    latent_names: Sequence[str],
    feature_names: Sequence[str],
    candidates: Sequence[str],
    patterns: Mapping[str, Mapping[str, int]] = PATTERNS,
) -> dict[str, PatternDim]:
    """Which of ``candidates`` tracks each pattern, patterns in order, each excluding dims
    already taken; ``r`` is latent x feature (rows ``latent_names``, columns ``feature_names``).
    A pattern whose features are not among ``feature_names`` gets ``dim=None``."""
    if r.shape != (len(latent_names), len(feature_names)):
        raise ValueError(
            f"r has shape {r.shape}; expected ({len(latent_names)}, {len(feature_names)})"
        )
    row = {n: i for i, n in enumerate(latent_names)}
    col = {n: i for i, n in enumerate(feature_names)}
    unknown = [d for d in candidates if d not in row]
    if unknown:
        raise ValueError(f"candidate dims {unknown} are not among {list(latent_names)}")
    taken: set[str] = set()
    out: dict[str, PatternDim] = {}
    for pattern, features in patterns.items():
        best: tuple[float, str, str] | None = None
        for d in candidates:
            if d in taken:
                continue
            for f in features:
                v = abs(r[row[d], col[f]]) if f in col else math.nan
                if np.isfinite(v) and (best is None or v > best[0]):
                    best = (float(v), d, f)
        if best is None:
            out[pattern] = PatternDim(pattern, None, None, math.nan, 1)
            continue
        _, d, f = best
        signed = float(r[row[d], col[f]])
        out[pattern] = PatternDim(pattern, d, f, signed, int(np.sign(signed) or 1) * features[f])
        taken.add(d)
    return out


def team_scores(
    codes: pl.DataFrame, dim: str, *, team: str = "team", sign: int = 1
) -> dict[str, float]:
    """Each team's mean code on ``dim`` over its segments, times ``sign`` (so that higher
    reads as more of the pattern)."""
    check_columns(codes, [team, dim], "the codes table")
    means = codes.group_by(team).agg(pl.col(dim).cast(pl.Float64).mean())
    return {str(t): sign * float(v) for t, v in means.iter_rows() if v is not None}


# --- axes found again in the other provider ----------------------------------------------------


@dataclass(frozen=True)
class ProviderAxes:
    """How run A's axes fare in run B's, over the window segments both providers cut alike.

    ``matched[i]`` is B's axis assigned to A's ``dims_a[i]`` (Hungarian on ``|r|`` of the
    codes, as seeds are matched), ``r[i]`` their signed correlation; ``canonical`` are the
    canonical correlations of the two code spaces, largest first: how many directions the
    two models share whichever way each one's axes cut them."""

    dims_a: list[str]
    matched: list[str | None]
    r: list[float]
    canonical: list[float]
    n_windows: int

    @property
    def found(self) -> list[str]:
        """A's axes found again in B (matched ``|r| >=`` :data:`FOUND_R`)."""
        return [d for d, v in zip(self.dims_a, self.r, strict=True) if abs(v) >= FOUND_R]

    def shared_directions(self, threshold: float = FOUND_R) -> int:
        """How many canonical correlations reach ``threshold``."""
        return sum(c >= threshold for c in self.canonical)


def canonical_correlations(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Canonical correlations of the columns of ``A`` (n, p) and ``B`` (n, q), largest first
    (min(rank A, rank B) of them): the singular values of the product of orthonormal bases of
    the centred column spaces. A constant column adds nothing."""
    a, b = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"need (n, p) and (n, q) with the same n, got {a.shape} and {b.shape}")

    def basis(x: np.ndarray) -> np.ndarray:
        u, s, _ = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
        return u[:, s > s.max(initial=0.0) * 1e-10]

    qa, qb = basis(a), basis(b)
    if qa.shape[1] == 0 or qb.shape[1] == 0:
        return np.zeros(0)
    return np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), 0.0, 1.0)


def provider_axes(
    codes_a: np.ndarray, codes_b: np.ndarray, dims_a: Sequence[str], dims_b: Sequence[str]
) -> ProviderAxes:
    """Match A's axes to B's over paired window segments (rows of ``codes_a`` and ``codes_b``
    are the same team and time window, read by each provider) and measure the shared space."""
    a, b = np.asarray(codes_a, dtype=np.float64), np.asarray(codes_b, dtype=np.float64)
    if a.shape != (a.shape[0], len(dims_a)) or b.shape != (a.shape[0], len(dims_b)):
        raise ValueError(
            f"codes of shape {a.shape} and {b.shape} do not fit {len(dims_a)} and "
            f"{len(dims_b)} dims over the same windows"
        )
    if a.shape[0] < MIN_PAIRS:
        raise ValueError(f"need at least {MIN_PAIRS} paired windows, got {a.shape[0]}")
    m = match_dimensions(a, b)
    matched = [dims_b[j] if j >= 0 else None for j in m.match]
    r = [float(s * c) for s, c in zip(m.sign, m.abs_corr, strict=True)]
    canonical = [float(c) for c in canonical_correlations(a, b)]
    return ProviderAxes(list(dims_a), matched, r, canonical, int(a.shape[0]))
