"""A team report a coach can take into a meeting: state shares, timeline, key segments, words.

:func:`build_team_report` is pure polars/numpy over a run's segments with their tactical
state (``core.services.states.states_frame`` rows); :func:`team_report` wires it to a run.
The figures and the PDF are drawn by ``core.views.report_figures``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from core.analysis.timeline import match_minute
from core.errors import FingerprintError
from core.features.segments import in_window
from core.model.latents import latent_columns

if TYPE_CHECKING:
    from core.runs.store import Run

N_KEY_SEGMENTS = 2  # most typical and most unusual segments drawn on the pitch
CLOSE = 0.05  # share differences below this read as "about the same"


@dataclass(frozen=True)
class TeamReport:
    """Everything the team report shows, for one team (and optionally one opponent or match)."""

    team_id: int
    team_name: str
    scope: str  # "all 3 matches", "against Italy (1 match)", "Turkey 0-3 Italy · Euro 2020"
    opponent_name: str  # the named opponent, or "its opponents"
    competition: str  # the competition(s) the average is taken over
    n_segments: int  # the team's segments in scope
    n_matches: int
    labels: dict[int, str]  # state -> plain label
    # state, label, team, opponent, competition: shares of windows (each column sums to 1)
    shares: pl.DataFrame
    # match_id, match_label, period, start_minute, end_minute, state (team's windows in scope)
    timeline: pl.DataFrame
    # segment_id, match_id, match_label, period, start_time, end_time, minute, state,
    # state_label, distance (from the team's mean position, on the distinct dims)
    typical: pl.DataFrame
    unusual: pl.DataFrame
    sentences: list[str] = field(default_factory=list)
    dims: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"Team report: {self.team_name}"


def _shares(frame: pl.DataFrame, states: Sequence[int]) -> list[float]:
    """Share of ``frame``'s rows in each of ``states`` (zeros for an empty frame)."""
    if frame.height == 0:
        return [0.0] * len(states)
    counts = dict(frame.group_by("state").len().iter_rows())
    return [counts.get(s, 0) / frame.height for s in states]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _largest(diff: pl.DataFrame, column: str) -> dict[str, Any]:
    """The row with the largest |difference|; on a tie, the one the team plays more."""
    return diff.sort([pl.col(column).abs().round(6), pl.col(column)], descending=[True, True]).row(
        0, named=True
    )


def report_sentences(
    team: str, opponent: str, shares: pl.DataFrame, n_segments: int, competition: str = ""
) -> list[str]:
    """Three plain sentences: the team's usual state, its clearest difference from the
    competition average, and from its opponent(s)."""
    rows = shares.sort("team", descending=True)
    top = rows.row(0, named=True)
    first = (
        f"{team} spent {_pct(top['team'])} of its {n_segments} windows in the state "
        f"'{top['label']}', more than in any other."
    )
    diff = shares.with_columns(
        (pl.col("team") - pl.col("competition")).alias("_vs_comp"),
        (pl.col("team") - pl.col("opponent")).alias("_vs_opp"),
    )
    average = f"the average team in {competition}" if competition else "the average team"
    vc = _largest(diff, "_vs_comp")
    gap = abs(vc["_vs_comp"])
    if gap < CLOSE:
        second = (
            f"Its mix of states is close to that of {average} (within {100 * CLOSE:.0f} points)."
        )
    elif vc["state"] == top["state"]:
        word = "more" if vc["_vs_comp"] > 0 else "less"
        second = (
            f"That is {100 * gap:.0f} points {word} than {average} ({_pct(vc['competition'])})."
        )
    else:
        word = "more" if vc["_vs_comp"] > 0 else "less"
        second = (
            f"Its clearest difference from {average}: {word} time in "
            f"'{vc['label']}' ({_pct(vc['team'])} against {_pct(vc['competition'])})."
        )
    vo = _largest(diff, "_vs_opp")
    if shares["opponent"].sum() == 0:  # no opponent segments in the run (one team only)
        third = f"The run holds no segments of {opponent} to compare {team} with."
    elif abs(vo["_vs_opp"]) < CLOSE:
        third = f"{team} and {opponent} spent their time in much the same states."
    else:
        word = "more" if vo["_vs_opp"] > 0 else "less"
        third = (
            f"Compared with {opponent}, {team} was {word} often in '{vo['label']}' "
            f"({_pct(vo['team'])} against {_pct(vo['opponent'])})."
        )
    return [first, second, third]


def _key_segments(
    team: pl.DataFrame, dims: Sequence[str], n: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``n`` segments nearest to and farthest from the team's mean position."""
    Z = team.select(dims).to_numpy().astype(np.float64)
    spread = Z.std(axis=0)
    spread[~np.isfinite(spread) | (spread == 0)] = 1.0
    dist = np.sqrt((((Z - Z.mean(axis=0)) / spread) ** 2).sum(axis=1))
    ranked = team.with_columns(pl.Series("distance", dist)).sort("distance")
    cols = [
        c
        for c in (
            "segment_id",
            "match_id",
            "match_label",
            "period",
            "start_time",
            "end_time",
            "minute",
            "state",
            "state_label",
            "distance",
        )
        if c in ranked.columns
    ]
    ranked = ranked.select(cols)
    return ranked.head(n), ranked.reverse().head(n)


def _scope_words(
    team: pl.DataFrame, opponent_name: str | None, match_label: str | None
) -> tuple[str, int]:
    n_matches = int(team["match_id"].n_unique()) if team.height else 0
    plural = "match" if n_matches == 1 else "matches"
    if match_label is not None:
        return match_label, n_matches
    if opponent_name is not None:
        return f"against {opponent_name} ({n_matches} {plural})", n_matches
    if n_matches == 1:
        return "its one match in the run", n_matches
    return f"its {n_matches} {plural} in the run", n_matches


def build_team_report(
    frame: pl.DataFrame,
    labels: Mapping[int, str],
    team_id: int,
    *,
    opponent_id: int | None = None,
    match_id: int | None = None,
    match_labels: Mapping[int, str] | None = None,
    dims: Sequence[str] | None = None,
    n_key: int = N_KEY_SEGMENTS,
) -> TeamReport:
    """The report of ``team_id`` from a run's segments with states (``states_frame`` rows).

    ``opponent_id`` keeps the team's matches against that opponent; ``match_id`` one match.
    The opponent column holds the states of the teams the team faced in those matches
    (the chosen opponent, or every opponent); the competition column those of every team
    of the team's competition(s) in the run.
    """
    needed = {"segment_id", "match_id", "team_id", "period", "start_time", "end_time", "state"}
    missing = needed - set(frame.columns)
    if missing:
        raise FingerprintError(f"The run's segments lack column(s) {sorted(missing)}.")
    match_labels = dict(match_labels or {})
    frame = frame.with_columns(
        match_minute(pl.col("period"), pl.col("start_time")).alias("minute"),
        pl.col("match_id")
        .replace_strict(match_labels, default=None, return_dtype=pl.String)
        .fill_null(pl.format("Match {}", pl.col("match_id")))
        .alias("match_label"),
    )
    own = frame.filter(pl.col("team_id") == team_id)
    if own.height == 0:
        raise FingerprintError(f"Team {team_id} has no segments in this run; pick another team.")
    team_name = str(own["team_name"][0]) if "team_name" in own.columns else f"Team {team_id}"
    scoped = own
    if opponent_id is not None and "opponent_id" in own.columns:
        scoped = scoped.filter(pl.col("opponent_id") == opponent_id)
    if match_id is not None:
        scoped = scoped.filter(pl.col("match_id") == match_id)
    if scoped.height == 0:
        raise FingerprintError(
            f"{team_name} has no segments for that opponent or match; pick another one."
        )
    matches = scoped["match_id"].unique().to_list()
    faced = frame.filter(pl.col("match_id").is_in(matches) & (pl.col("team_id") != team_id))
    if opponent_id is not None:
        faced = faced.filter(pl.col("team_id") == opponent_id)
    opponent_name: str | None = None
    if faced.height and "team_name" in faced.columns and faced["team_id"].n_unique() == 1:
        opponent_name = str(faced["team_name"][0])
    if "competition" in frame.columns and scoped["competition"].drop_nulls().len():
        comps = scoped["competition"].drop_nulls().unique().sort().to_list()
        field_ = frame.filter(pl.col("competition").is_in(comps))
        competition = ", ".join(str(c) for c in comps)
    else:
        field_, competition = frame, "all segments of the run"
    states = sorted(int(s) for s in frame["state"].unique().to_list())
    shares = pl.DataFrame(
        {
            "state": states,
            "label": [str(labels.get(s, f"state {s}")) for s in states],
            "team": _shares(scoped, states),
            "opponent": _shares(faced, states),
            "competition": _shares(field_, states),
        },
        schema={
            "state": pl.Int64,
            "label": pl.String,
            "team": pl.Float64,
            "opponent": pl.Float64,
            "competition": pl.Float64,
        },
    )
    label = match_labels.get(match_id) if match_id is not None else None
    scope, n_matches = _scope_words(
        scoped, opponent_name if opponent_id is not None else None, label
    )
    opp_words = opponent_name or "its opponents"
    dims = list(dims) if dims else latent_columns(frame.columns)
    typical, unusual = _key_segments(scoped, dims, n_key)
    timeline = scoped.sort("match_id", "period", "start_time").select(
        "match_id",
        "match_label",
        "period",
        pl.col("minute").alias("start_minute"),
        match_minute(pl.col("period"), pl.col("end_time")).alias("end_minute"),
        "state",
    )
    return TeamReport(
        team_id=int(team_id),
        team_name=team_name,
        scope=scope,
        opponent_name=opp_words,
        competition=competition,
        n_segments=scoped.height,
        n_matches=n_matches,
        labels={s: str(labels.get(s, f"state {s}")) for s in states},
        shares=shares,
        timeline=timeline,
        typical=typical,
        unusual=unusual,
        sentences=report_sentences(team_name, opp_words, shares, scoped.height, competition),
        dims=dims,
    )


def report_teams(frame: pl.DataFrame) -> dict[int, str]:
    """team_id -> team name of every team with segments, by name."""
    cols = ["team_id", "team_name"] if "team_name" in frame.columns else ["team_id"]
    teams = frame.select(cols).unique("team_id").drop_nulls("team_id")
    if "team_name" not in teams.columns:
        teams = teams.with_columns(pl.format("Team {}", pl.col("team_id")).alias("team_name"))
    teams = teams.sort("team_name")
    return dict(zip(teams["team_id"].to_list(), teams["team_name"].to_list(), strict=True))


def report_opponents(frame: pl.DataFrame, team_id: int) -> dict[int, str]:
    """opponent_id -> name of every team ``team_id`` faced in the run."""
    own = frame.filter(pl.col("team_id") == team_id)
    faced = frame.filter(
        pl.col("match_id").is_in(own["match_id"].unique().to_list())
        & (pl.col("team_id") != team_id)
    )
    return report_teams(faced)


def report_matches(
    frame: pl.DataFrame,
    team_id: int,
    opponent_id: int | None,
    match_labels: Mapping[int, str],
) -> dict[int, str]:
    """match_id -> label of the team's matches (against ``opponent_id`` when given)."""
    own = frame.filter(pl.col("team_id") == team_id)
    if opponent_id is not None and "opponent_id" in own.columns:
        own = own.filter(pl.col("opponent_id") == opponent_id)
    ids = sorted(int(m) for m in own["match_id"].unique().to_list())
    return {m: str(match_labels.get(m, f"Match {m}")) for m in ids}


def run_report_inputs(run: Run) -> tuple[pl.DataFrame, dict[int, str], dict[int, str], list[str]]:
    """A run's segments with states, state labels, match labels and the distinct dims."""
    from core.features.datasets import Dataset
    from core.services.fingerprints import team_view

    view = team_view(run)
    labels = dict(zip(view.labels["state"].to_list(), view.labels["label"].to_list(), strict=True))
    matches = Dataset.of_features(run.features_path).matches()
    match_labels: dict[int, str] = {}
    if matches is not None and "label" in matches.columns:
        match_labels = dict(
            zip(matches["match_id"].to_list(), matches["label"].to_list(), strict=True)
        )
    return view.segments, labels, match_labels, list(view.dims)


def team_report(
    run: Run, team_id: int, *, opponent_id: int | None = None, match_id: int | None = None
) -> TeamReport:
    """The team report of ``team_id`` on ``run`` (its states are computed on first use)."""
    frame, labels, match_labels, dims = run_report_inputs(run)
    return build_team_report(
        frame,
        labels,
        team_id,
        opponent_id=opponent_id,
        match_id=match_id,
        match_labels=match_labels,
        dims=dims,
    )


def typical_segment(
    frame: pl.DataFrame,
    team_id: int,
    *,
    match_id: int | None = None,
    dims: Sequence[str] | None = None,
) -> str:
    """The segment id of the team's most typical segment (nearest its mean position),
    within one match when ``match_id`` is given: what a fingerprint row opens."""
    own = frame.filter(pl.col("team_id") == team_id)
    if match_id is not None:
        own = own.filter(pl.col("match_id") == match_id)
    if own.height == 0:
        raise FingerprintError(f"Team {team_id} has no segments there; pick another row.")
    typical, _ = _key_segments(own, list(dims) if dims else latent_columns(own.columns), 1)
    return str(typical["segment_id"][0])


def moment_events(events: pl.DataFrame, team_id: int, moment: Mapping[str, object]) -> pl.DataFrame:
    """The team's own events inside one key moment (a row of ``typical``/``unusual``), by
    the window rule of the features (:func:`core.features.segments.in_window`)."""
    period = events.filter(
        (pl.col("match_id") == moment["match_id"]) & (pl.col("period") == moment["period"])
    )
    period_end = period["time_s"].max() if period.height else moment["end_time"]
    return period.filter(
        (pl.col("team_id") == team_id)
        & in_window(
            pl.col("time_s"),
            pl.lit(moment["start_time"]),
            pl.lit(moment["end_time"]),
            pl.lit(period_end),
        )
    ).sort("time_s")


def state_example(
    assignments: pl.DataFrame,
    state: int,
    *,
    space: str = "latent",
    among: Sequence[str] | None = None,
) -> str:
    """The segment that most surely belongs to ``state`` (highest mixture probability), among
    the segment ids ``among`` when given (e.g. the sidebar's filtered segments).

    ``assignments`` is a run's states table (``segment_id``, ``<space>_state``,
    ``<space>_prob``): what a state row opens on the pitch.
    """
    rows = assignments.filter(pl.col(f"{space}_state") == state)
    if among is not None:
        rows = rows.filter(pl.col("segment_id").is_in(list(among)))
    if rows.height == 0:
        raise FingerprintError(f"No segment in state {state} passes the filters; widen them.")
    return str(rows.sort(f"{space}_prob", descending=True)["segment_id"][0])
