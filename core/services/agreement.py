"""Cross-provider agreement on the same matches: pair two providers' matches and teams,
then measure how far their features (and the patterns of runs trained on them) agree.

Providers name some countries differently (Wyscout's "Korea Republic" is StatsBomb's
"South Korea"): names are compared through :func:`team_key`. Matches are paired by their
two teams and, where both providers give a date, the date; Wyscout's v2 files carry no
date, so a team pair met once pairs at once, and a pair met twice (Belgium and England in
the 2018 World Cup: group stage and third-place play-off) by the score, then by order
(date, else match id). The maths is :mod:`core.analysis.agreement`.
"""

from __future__ import annotations

import logging
import math
import os
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import polars as pl

from core.analysis.agreement import (
    KEYS,
    MIN_PAIRS,
    PAIR_COLUMNS,
    PATTERNS,
    WINDOW,
    PatternDim,
    ProviderAxes,
    check_columns,
    feature_agreement,
    pattern_dims,
    provider_axes,
    team_rank_spearman,
    team_scores,
)
from core.errors import FeaturesFileError
from core.features.datasets import Dataset, load_features
from core.features.registry import feature_columns
from core.features.support import PROVIDER_CONCEPTS, common_features

if TYPE_CHECKING:
    from core.runs.store import Run

logger = logging.getLogger(__name__)

# Country names as one provider writes them -> the name used for pairing (after accents,
# case and spacing are normalised by team_key).
TEAM_ALIASES: Final[dict[str, str]] = {
    "korea republic": "south korea",
    "republic of korea": "south korea",
    "korea dpr": "north korea",
    "ir iran": "iran",
    "iran islamic republic": "iran",
    "usa": "united states",
    "united states of america": "united states",
    "cote d'ivoire": "ivory coast",
    "china pr": "china",
    "czechia": "czech republic",
    "turkiye": "turkey",
    "bosnia-herzegovina": "bosnia and herzegovina",
    "fyr macedonia": "north macedonia",
    "cabo verde": "cape verde",
}
PAIR_SCHEMA: Final = {
    "match_id_a": pl.Int64,
    "team_id_a": pl.Int64,
    "match_id_b": pl.Int64,
    "team_id_b": pl.Int64,
    "team": pl.String,
}


def team_key(name: str) -> str:
    """A team name as pairing compares it: no accents, lower case, single spaces, aliases."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    key = " ".join(plain.lower().replace("&", "and").replace("’", "'").split())
    return TEAM_ALIASES.get(key, key)


@dataclass
class MatchPairing:
    """Team-matches present in both providers, and what could not be paired."""

    pairs: pl.DataFrame  # PAIR_COLUMNS + team (provider A's name)
    unpaired_a: list[int] = field(default_factory=list)
    unpaired_b: list[int] = field(default_factory=list)
    paired_by: dict[str, int] = field(default_factory=dict)  # how: date / teams / score / order

    @property
    def n_matches(self) -> int:
        return self.pairs.get_column("match_id_a").n_unique()


@dataclass(frozen=True)
class MatchTeams:
    match_id: int
    teams: dict[str, int]  # team key -> team id
    names: dict[str, str]  # team key -> name as written
    goals: tuple[int, ...] | None  # goals per team key, in sorted key order
    date: str | None

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(sorted(self.teams))


def teams_from_features(features: pl.DataFrame) -> list[MatchTeams]:
    teams = features.select("match_id", "team_id", "team_name").unique().sort("match_id")
    out = []
    for (mid,), rows in teams.group_by("match_id", maintain_order=True):
        names = {team_key(str(n)): str(n) for n in rows.get_column("team_name")}
        ids = dict(zip(names, rows.get_column("team_id").to_list(), strict=True))
        out.append(MatchTeams(int(str(mid)), ids, names, None, None))
    return out


def teams_from_matches(matches: pl.DataFrame) -> list[MatchTeams]:
    out = []
    for m in matches.iter_rows(named=True):
        names = {team_key(m["home_team_name"]): m["home_team_name"]}
        names[team_key(m["away_team_name"])] = m["away_team_name"]
        if len(names) != 2:
            raise FeaturesFileError(f"match {m['match_id']} names one team twice: {names}")
        ids = {team_key(m["home_team_name"]): m["home_team_id"]}
        ids[team_key(m["away_team_name"])] = m["away_team_id"]
        score = {team_key(m["home_team_name"]): m["home_score"]}
        score[team_key(m["away_team_name"])] = m["away_score"]
        goals = None if None in score.values() else tuple(score[k] for k in sorted(score))
        date = str(m["match_date"])[:10] if m.get("match_date") else None
        out.append(MatchTeams(int(m["match_id"]), ids, names, goals, date))
    return out


def _order(m: MatchTeams) -> tuple[str, int]:
    return (m.date or "", m.match_id)


def _pair_group(
    a: list[MatchTeams], b: list[MatchTeams], by: dict[str, int]
) -> list[tuple[MatchTeams, MatchTeams]]:
    """Pair the matches of one team pair (the rule in the module doc)."""
    if all(m.date for m in a + b):
        by_date = {m.date: m for m in b}
        found = [(m, by_date[m.date]) for m in a if m.date in by_date]
        by["date"] += len(found)
        return found
    if len(a) == 1 and len(b) == 1:
        by["teams"] += 1
        return [(a[0], b[0])]
    found = []
    left_a, left_b = list(a), list(b)
    for m in a:
        same = [o for o in left_b if m.goals is not None and o.goals == m.goals]
        if len(same) == 1 and sum(o.goals == m.goals for o in left_a) == 1:
            found.append((m, same[0]))
            left_a.remove(m)
            left_b.remove(same[0])
            by["score"] += 1
    for m, o in zip(sorted(left_a, key=_order), sorted(left_b, key=_order), strict=False):
        found.append((m, o))
        by["order"] += 1
    return found


def pair_matches(a: Sequence[MatchTeams], b: Sequence[MatchTeams]) -> MatchPairing:
    """Pair provider A's matches with provider B's (see the module doc) and map their teams."""
    groups_a: dict[tuple[str, ...], list[MatchTeams]] = defaultdict(list)
    groups_b: dict[tuple[str, ...], list[MatchTeams]] = defaultdict(list)
    for m in a:
        groups_a[m.key].append(m)
    for m in b:
        groups_b[m.key].append(m)
    by: dict[str, int] = defaultdict(int)
    paired = [
        p
        for key in groups_a
        if key in groups_b
        for p in _pair_group(groups_a[key], groups_b[key], by)
    ]
    rows = [
        (ma.match_id, ma.teams[k], mb.match_id, mb.teams[k], ma.names[k])
        for ma, mb in paired
        for k in ma.key
    ]
    done_a = {ma.match_id for ma, _ in paired}
    done_b = {mb.match_id for _, mb in paired}
    return MatchPairing(
        pairs=pl.DataFrame(rows, schema=PAIR_SCHEMA, orient="row"),
        unpaired_a=sorted(m.match_id for m in a if m.match_id not in done_a),
        unpaired_b=sorted(m.match_id for m in b if m.match_id not in done_b),
        paired_by=dict(by),
    )


def _matches_of(path: str | os.PathLike[str], features: pl.DataFrame) -> list[MatchTeams]:
    """The matches of a features file: its ``matches.parquet`` when there, else the teams
    named in the features (no date, no score)."""
    matches = Dataset.of_features(path).matches()
    return teams_from_matches(matches) if matches is not None else teams_from_features(features)


def table_provider(features: pl.DataFrame) -> str:
    """The one provider that wrote ``features`` (its ``provider`` column)."""
    if "provider" not in features.columns:
        raise FeaturesFileError(
            "the features table has no provider column; re-extract it with "
            "`python -m core features` to compare providers"
        )
    names = features.get_column("provider").drop_nulls().unique().to_list()
    if len(names) != 1 or names[0] not in PROVIDER_CONCEPTS:
        raise FeaturesFileError(f"the features table mixes or lacks providers: {names}")
    return str(names[0])


def shared_features(a: pl.DataFrame, b: pl.DataFrame) -> list[str]:
    """Features both tables' providers can supply and both tables hold for some window
    segment (a feature still null everywhere in one of them is not supplied there)."""

    def supplied(frame: pl.DataFrame) -> set[str]:
        rows = frame.filter(pl.col("segment_type") == WINDOW)
        counts = rows.select(pl.col(feature_columns(frame.columns)).count()).row(0, named=True)
        return {c for c, n in counts.items() if n > 0}

    both = supplied(a) & supplied(b)
    return [c for c in common_features([table_provider(a), table_provider(b)]) if c in both]


@dataclass
class AgreementReport:
    """Per-feature agreement of two providers over their paired team-matches."""

    table: pl.DataFrame  # core.analysis.agreement.feature_agreement's columns
    pairing: MatchPairing
    provider_a: str
    provider_b: str
    shared: list[str]  # features both supply (see shared_features)


def provider_agreement(
    features_a: str | os.PathLike[str],
    features_b: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    totals: Sequence[str] = ("t1_xg_per_min",),
) -> AgreementReport:
    """The agreement table of two extracted ``features.parquet`` files of the same matches.

    ``columns`` defaults to every feature column both files hold (those a provider cannot
    supply come out with ``n`` = 0); ``totals`` also get a per-team-match total row.
    """
    a, b = load_features(features_a), load_features(features_b)
    pairing = pair_matches(_matches_of(features_a, a), _matches_of(features_b, b))
    if pairing.pairs.is_empty():
        raise FeaturesFileError(
            "no match of the two features files has the same two teams; are they the same "
            "competition?"
        )
    if pairing.unpaired_a or pairing.unpaired_b:
        logger.warning(
            "unpaired matches: %d of A %s, %d of B %s",
            len(pairing.unpaired_a),
            pairing.unpaired_a[:5],
            len(pairing.unpaired_b),
            pairing.unpaired_b[:5],
        )
    cols = [c for c in feature_columns(a.columns) if c in b.columns] if columns is None else columns
    table = feature_agreement(a, b, pairing.pairs, cols, totals=[t for t in totals if t in cols])
    return AgreementReport(
        table, pairing, table_provider(a), table_provider(b), shared_features(a, b)
    )


def feature_team_ranks(
    features_a: str | os.PathLike[str],
    features_b: str | os.PathLike[str],
    columns: Sequence[str],
) -> dict[str, float]:
    """Per feature: the Spearman rank correlation of the teams' mean values over their
    window segments (teams keyed by :func:`team_key`), the feature-level counterpart of
    :func:`latent_agreement`; nan for a feature null in one table."""

    def means(path: str | os.PathLike[str]) -> pl.DataFrame:
        rows = load_features(path).filter(pl.col("segment_type") == WINDOW)
        team = pl.col("team_name").map_elements(team_key, return_dtype=pl.String)
        present = [c for c in columns if c in rows.columns]
        return rows.with_columns(team.alias("team")).group_by("team").agg(pl.col(present).mean())

    a, b = means(features_a), means(features_b)

    def scores(frame: pl.DataFrame, column: str) -> dict[str, float]:
        if column not in frame.columns:
            return {}
        return {
            str(t): float(v) for t, v in frame.select("team", column).iter_rows() if v is not None
        }

    return {c: team_rank_spearman(scores(a, c), scores(b, c)) for c in columns}


@dataclass(frozen=True)
class RunPatterns:
    """The dims of one run that track each pattern, and each team's oriented mean code."""

    dims: dict[str, PatternDim]
    scores: dict[str, dict[str, float]]  # pattern -> team key -> mean code (oriented)


def run_patterns(run: Run) -> RunPatterns:
    """Which of ``run``'s distinct dims tracks possession, directness and pressing (in that
    order, each excluding those taken), and every team's mean code on each, oriented so that
    higher reads as more of the pattern; teams are keyed by :func:`team_key`."""
    corr = run.correlations()
    dims = pattern_dims(
        corr.pearson_r, corr.latent_names, corr.feature_names, run.dim_quality().distinct
    )
    codes = run.latents()
    if "team_name" not in codes.columns:
        raise FeaturesFileError(f"run {run.run_id}'s latents carry no team_name column")
    codes = codes.with_columns(
        pl.col("team_name").map_elements(team_key, return_dtype=pl.String).alias("team")
    )
    scores = {
        p: team_scores(codes, d.dim, sign=d.sign) if d.dim is not None else {}
        for p, d in dims.items()
    }
    return RunPatterns(dims, scores)


def latent_agreement(run_a: Run, run_b: Run) -> pl.DataFrame:
    """Per pattern (possession, directness, pressing): the dim and feature found in each run,
    |r|, the number of teams both rank and the Spearman rank correlation of the teams."""
    pa, pb = run_patterns(run_a), run_patterns(run_b)
    rows: list[dict[str, Any]] = []
    for p in PATTERNS:
        da, db = pa.dims[p], pb.dims[p]
        common = pa.scores[p].keys() & pb.scores[p].keys()
        rows.append(
            {
                "pattern": p,
                "dim_a": da.dim,
                "feature_a": da.feature,
                "abs_r_a": da.abs_r,
                "dim_b": db.dim,
                "feature_b": db.feature,
                "abs_r_b": db.abs_r,
                "n_teams": len(common),
                "spearman": team_rank_spearman(pa.scores[p], pb.scores[p]) if common else math.nan,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"abs_r_a": pl.Float64, "abs_r_b": pl.Float64})


WINDOW_KEYS: Final = ("period", "start_time")
"""With the paired team-match, what makes two providers' window segments the same window."""


def swap_sides(pairs: pl.DataFrame) -> pl.DataFrame:
    """The same pairing read from provider B's side (B's columns named as A's)."""
    swap = {"match_id_a": "match_id_b", "team_id_a": "team_id_b"}
    swap |= {v: k for k, v in swap.items()}
    return pairs.select([pl.col(c).alias(swap.get(c, c)) for c in pairs.columns])


def paired_codes(
    run_a: Run, run_b: Run, pairs: pl.DataFrame, dims: tuple[Sequence[str], Sequence[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """The codes of the window segments both runs hold for the same team-match (``pairs``,
    :data:`PAIR_COLUMNS`), period and start: rows of the two arrays are the same window."""
    check_columns(pairs, PAIR_COLUMNS, "the pairing")

    def windows(run: Run, side: str, names: Sequence[str]) -> pl.DataFrame:
        codes = run.latents().filter(pl.col("segment_type") == WINDOW)
        need = [*KEYS, *WINDOW_KEYS, *names]
        check_columns(codes, need, f"run {run.run_id}'s codes")
        renamed = {c: f"{c}_{side}" for c in (*KEYS, *names)}
        return codes.select(need).rename(renamed)

    a = windows(run_a, "a", dims[0])
    b = windows(run_b, "b", dims[1])
    joined = (
        pairs.select(PAIR_COLUMNS)
        .join(a, on=["match_id_a", "team_id_a"])
        .join(b, on=["match_id_b", "team_id_b", *WINDOW_KEYS])
        .sort(["match_id_a", "team_id_a", *WINDOW_KEYS])
    )
    return (
        joined.select([f"{d}_a" for d in dims[0]]).to_numpy().astype(np.float64),
        joined.select([f"{d}_b" for d in dims[1]]).to_numpy().astype(np.float64),
    )


def axis_agreement(run_a: Run, run_b: Run, pairs: pl.DataFrame) -> ProviderAxes:
    """Which of run A's distinct axes run B finds again over the windows both providers cut
    alike (:func:`core.analysis.agreement.provider_axes`), and the canonical correlations
    of their code spaces."""
    dims = (run_a.dim_quality().distinct, run_b.dim_quality().distinct)
    codes_a, codes_b = paired_codes(run_a, run_b, pairs, dims)
    if codes_a.shape[0] < MIN_PAIRS:
        raise FeaturesFileError(
            f"runs {run_a.run_id} and {run_b.run_id} share {codes_a.shape[0]} window "
            "segments; are they window runs of the same matches?"
        )
    return provider_axes(codes_a, codes_b, *dims)


__all__ = [
    "PAIR_COLUMNS",
    "AgreementReport",
    "MatchPairing",
    "MatchTeams",
    "RunPatterns",
    "axis_agreement",
    "feature_team_ranks",
    "latent_agreement",
    "pair_matches",
    "paired_codes",
    "provider_agreement",
    "run_patterns",
    "shared_features",
    "swap_sides",
    "team_key",
]
