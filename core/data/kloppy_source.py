"""Any kloppy ``EventDataset`` to the neutral event table, so every provider kloppy reads is a source.

kloppy already puts each provider's events into one model; this module only translates
that model into :data:`core.data.schema.EVENT_SCHEMA`: coordinates onto the 120 x 80 pitch
in the acting team's attacking direction (kloppy's own transform, which maps pitch
landmarks such as the penalty box exactly), period clocks in seconds from the period
start, kloppy's event types and qualifiers onto the neutral vocabulary, and teams, lineups
and match metadata. Concepts kloppy (or the provider) lacks stay empty here; which
features that costs is recorded per provider in :mod:`core.features.registry`.

Derived where kloppy has no field (documented, and the reason a StatsBomb match through
this path differs slightly from the fast reader in :mod:`core.data.statsbomb`):

- ``possession`` numbers a new possession whenever the team in possession changes, a
  period starts or play restarts with a set piece; the team in possession is kloppy's
  ``ball_owning_team``, else the team of the last on-ball action. StatsBomb also splits
  some possessions at other stoppages (about one in six of its possessions), so
  possession-based features and possession segments differ most from the fast reader.
- ``counterpress`` and ``aerial_won`` are false (kloppy has no such flag); an aerial duel
  won is a ``duel`` with a won result instead.
- ``play_pattern`` is ``from_counter`` where kloppy marks a counter-attack, else
  ``regular_play``.
- An own goal (a kloppy shot with result ``OWN_GOAL``, or a Wyscout v2 touch or clearance
  tagged own goal) becomes ``own_goal_against`` for the scorer's team plus an
  ``own_goal_for`` row for the other team, as StatsBomb has it; it is never a shot (the
  Wyscout touch or clearance keeps its own row).
- The attacking direction is checked per team and period (:func:`_fix_direction`): shots
  and open-play passes only, never set pieces (Wyscout v2 goal kicks start on a
  placeholder point).
- An Impect shot's end lies on the goal line (x = 120): kloppy 3.19 reads the target point
  with an x beyond the pitch. Impect's ball receptions are ``ball_receipt`` rows, and its
  goal markers (the shot already says goal) stay ``unknown`` without a warning.
- Wyscout v2's take-ons, carries, dispossessions and recoveries come from its tags and
  sub-events (:mod:`core.data.wyscout_v2`, before the pitch transform).
- A feed without the fouled side of a foul gets a ``foul_won`` row for the other team of
  each foul committed; Metrica's foul event is the fouled side
  (:func:`core.data.kloppy_events.foul_rows`). A pass across half the pitch's width is a
  switch where the feed has no flag. Shots carry ``body_part`` (head, foot, other).
- Shots without provider xG get the product's modelled xG (:mod:`core.data.xg_model`)
  when :func:`modelled_xg_enabled`; otherwise they stay null and extraction nulls the
  match's xG features.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import polars as pl
from kloppy.domain import (
    EventDataset,
    Orientation,
    Provider,
    ShotResult,
)

from core.data.kloppy_events import (
    GENERIC_NAMES,
    ON_BALL_TYPES,
    PROVIDER_GENERIC_NAMES,
    QUIET_GENERIC_NAMES,
    QUIET_TYPES,
    SOURCE_TEAM,
    event_row,
    foul_rows,
    has_fouled_side,
    neutral_type,
    own_goal_rows,
    snake,
    stable_id,
    team_name,
)
from core.data.schema import (
    EVENT_SCHEMA,
    PITCH_LENGTH,
    PITCH_WIDTH,
    UNKNOWN_TYPE,
    match_label,
)
from core.data.wyscout_v2 import derive_concepts, own_goal_record
from core.data.xg_model import ARTEFACT_PATH, fill_modelled_xg

logger = logging.getLogger(__name__)

# Match-clock minute at which each period starts.
PERIOD_START_MINUTE: Final[dict[int, int]] = {1: 0, 2: 45, 3: 90, 4: 105, 5: 120}
# A period whose first event is this far after the period start (or before it) has a
# clock that does not fit its events (e.g. metadata from another feed); it is re-based.
CLOCK_SLACK_S: Final = 300.0
# No period lasts longer than this (a half with a very long stoppage): an event timed
# beyond it, or before the period start, is mistimed and dropped (and reported).
MAX_PERIOD_S: Final = 75 * 60.0
# A team's period is mirrored when at least this many of its shots lie on average in its
# own half; with fewer shots, when at least MIN_DIRECTION_PASSES open-play passes go
# backwards on average (see _wrong_way). On the World Cup 2018 (Wyscout v2, placeholders
# removed) every correct team-period's passes gain 0.36 yd or more on average.
MIN_DIRECTION_EVIDENCE: Final = 3
MIN_DIRECTION_PASSES: Final = 20
MIRRORED: Final = "_mirrored"  # a working column of _fix_direction
# Where a goal kick without a start (Wyscout v2's placeholder) is taken: the middle of the
# six-yard line, where most of StatsBomb's goal kicks start (its mode on the World Cup 2018
# and NWSL 2018; the side of the box would need the kicker's foot, which no feed gives).
GOAL_KICK_SPOT: Final = (6.0, PITCH_WIDTH / 2)
# The modelled-xG switch: "1" fills the xG of shots the feed gives none with the product's
# model (core.data.xg_model), "0" leaves it null (extraction then nulls the match's xG
# features, as for a feed without xG); unset, it is on once the fitted model exists.
MODELLED_XG_ENV: Final = "TACTICAL_MODELLED_XG"


def modelled_xg_enabled() -> bool:
    """Whether shots without provider xG get modelled xG (see :data:`MODELLED_XG_ENV`)."""
    value = os.environ.get(MODELLED_XG_ENV, "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    return ARTEFACT_PATH.is_file()


@dataclass
class KloppyEvents:
    """The neutral event table of one kloppy dataset, its match row and what was noticed."""

    events: pl.DataFrame
    match: dict[str, Any]
    lineups: pl.DataFrame  # team_id, team_name, ground, player_id, player_name, starting
    unknown_types: list[str] = field(default_factory=list)
    rebased_periods: dict[int, float] = field(default_factory=dict)  # period -> seconds moved
    warnings: list[str] = field(default_factory=list)


def to_product_pitch(dataset: EventDataset) -> EventDataset:
    """``dataset`` on the 120 x 80 pitch, each event in its acting team's attacking direction.

    Events without a team (referee and ball-out markers of some feeds) have no attacking
    direction and are left out; no feature counts them.
    """
    with_team = dataset.filter(lambda event: event.team is not None)
    return with_team.transform(
        to_orientation=Orientation.ACTION_EXECUTING_TEAM,
        to_coordinate_system=Provider.STATSBOMB,
    )


def period_offsets(dataset: EventDataset) -> dict[int, float]:
    """Seconds to add to each period's kloppy timestamps so the period clock fits its events.

    kloppy's timestamps count from the period start in the metadata. Where the first event
    of a period lies before that start, or more than :data:`CLOCK_SLACK_S` after it, the
    metadata's clock belongs to something else (kloppy's Metrica fixture pairs the events
    with a tracking snippet's metadata); the period is then re-based on its first event.
    """
    first: dict[int, float] = {}
    for event in dataset.records:
        pid = event.period.id
        t = event.timestamp.total_seconds()
        first[pid] = min(first.get(pid, t), t)
    return {pid: -t for pid, t in first.items() if t < 0 or t > CLOCK_SLACK_S}


def _impect_shot_ends(frame: pl.DataFrame) -> pl.DataFrame:
    """Impect shots end on the goal line (x = 120), not 54 yards past it.

    kloppy 3.19 reads an Impect shot's end from its target point on the goal plane but
    sets its x to 100 in Impect's metre coordinates, whose goal line is at x = 52.5; the
    target point's y (across the goal mouth) is kept.
    """
    on_goal_plane = (pl.col("type") == "shot") & pl.col("end_x").is_not_null()
    return frame.with_columns(
        pl.when(on_goal_plane).then(pl.lit(PITCH_LENGTH)).otherwise(pl.col("end_x")).alias("end_x")
    )


def _direction_evidence(frame: pl.DataFrame) -> pl.DataFrame:
    """Per period and source team: its shots' count and mean x, its open-play passes' count
    and mean forward gain (end x - x). Set pieces say nothing: a Wyscout v2 goal kick
    starts on a placeholder point, and restarts go anywhere."""
    shot = (pl.col("type") == "shot") & pl.col("x").is_not_null()
    open_pass = (
        (pl.col("type") == "pass")
        & pl.col("set_piece").is_null()
        & pl.col("x").is_not_null()
        & pl.col("end_x").is_not_null()
    )
    return frame.group_by("period", SOURCE_TEAM).agg(
        shot.sum().alias("shots"),
        pl.col("x").filter(shot).mean().alias("shot_x"),
        open_pass.sum().alias("passes"),
        (pl.col("end_x") - pl.col("x")).filter(open_pass).mean().alias("gain"),
    )


def _wrong_way(evidence: pl.DataFrame) -> pl.DataFrame:
    """The ``period, source team`` pairs whose play points at their own goal.

    Shots decide when there are at least :data:`MIN_DIRECTION_EVIDENCE` of them (their
    mean x in the team's own half); with fewer, the open-play passes (at least
    :data:`MIN_DIRECTION_PASSES`) going backwards on average, unless the few shots lie in
    the opponent's half.
    """
    half = PITCH_LENGTH / 2
    by_shots = (pl.col("shots") >= MIN_DIRECTION_EVIDENCE) & (pl.col("shot_x") < half)
    by_passes = (
        (pl.col("shots") < MIN_DIRECTION_EVIDENCE)
        & (pl.col("passes") >= MIN_DIRECTION_PASSES)
        & (pl.col("gain") < 0)
        & ~(pl.col("shot_x") >= half).fill_null(False)
    )
    return evidence.filter(by_shots | by_passes).select("period", SOURCE_TEAM)


def _fix_direction(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[tuple[int, int]]]:
    """Mirror each team's period whose shots and open-play passes say it points the wrong way.

    kloppy's orientation for a feed comes from its metadata; when that belongs to another
    recording (kloppy's Metrica fixture), every event of a period points at the own goal.
    A Wyscout v2 file may have one team's period the wrong way round (the penalty
    shoot-outs of the World Cup 2018, Russia's first half against Spain). Each team's
    whole period is mirrored, with the rows derived from its records for the other team
    (fouls won, own goals for). Returns the frame and the ``(period, team id)`` mirrored.
    """
    wrong = _wrong_way(_direction_evidence(frame)).sort("period", SOURCE_TEAM)
    flip = [(int(p), int(t)) for p, t in wrong.iter_rows() if t is not None]
    if not flip:
        return frame, []
    mirrored = pl.col(MIRRORED).fill_null(False)
    marked = frame.join(
        wrong.with_columns(pl.lit(True).alias(MIRRORED)),
        on=["period", SOURCE_TEAM],
        how="left",
        maintain_order="left",
    )
    return marked.with_columns(
        *[
            pl.when(mirrored).then(size - pl.col(c)).otherwise(pl.col(c)).alias(c)
            for c, size in (
                ("x", PITCH_LENGTH),
                ("end_x", PITCH_LENGTH),
                ("y", PITCH_WIDTH),
                ("end_y", PITCH_WIDTH),
            )
        ]
    ).drop(MIRRORED), flip


def goal_kick_starts(frame: pl.DataFrame) -> pl.DataFrame:
    """Goal kicks without a start start at :data:`GOAL_KICK_SPOT`, with their pass length.

    Run after the direction check: the spot is in the kicker's own six-yard box whichever
    way his team's period was recorded.
    """
    x0, y0 = GOAL_KICK_SPOT
    missing = (
        (pl.col("type") == "pass") & (pl.col("set_piece") == "goal_kick") & pl.col("x").is_null()
    )
    length = ((pl.col("end_x") - x0) ** 2 + (pl.col("end_y") - y0) ** 2).sqrt()
    return frame.with_columns(
        pl.when(missing).then(pl.lit(x0)).otherwise(pl.col("x")).alias("x"),
        pl.when(missing).then(pl.lit(y0)).otherwise(pl.col("y")).alias("y"),
        pl.when(missing).then(length).otherwise(pl.col("pass_length")).alias("pass_length"),
    )


def _with_possessions(frame: pl.DataFrame) -> pl.DataFrame:
    """``possession_team_id`` and ``possession`` from ball ownership (see the module doc)."""
    on_ball_team = pl.when(pl.col("type").is_in(list(ON_BALL_TYPES))).then(pl.col("team_id"))
    owner = (
        pl.coalesce(pl.col("owner_id"), on_ball_team)
        .forward_fill()
        .over("period", order_by="index")
        .backward_fill()
    )
    frame = frame.with_columns(owner.alias("possession_team_id"))
    changed = (
        (pl.col("possession_team_id") != pl.col("possession_team_id").shift(1))
        | (pl.col("period") != pl.col("period").shift(1))
        | pl.col("set_piece").is_not_null()
    ).fill_null(True)
    return frame.with_columns(changed.cum_sum().cast(pl.Int64).alias("possession"))


def _rows_of(
    event: Any,
    row: dict[str, Any],
    other: tuple[int, str] | None,
    provider: str,
    own_goals: set[int],
) -> list[dict[str, Any]]:
    """The neutral rows of one kloppy event: its row, or the rows of both sides (own goals,
    fouls) where the feed records one side only."""
    if row["type"] == "shot" and event.result == ShotResult.OWN_GOAL:
        return own_goal_rows(row, other)
    if provider == "wyscout" and _first_own_goal(event, own_goals):
        own_goal = {**row, "event_id": f"{row['event_id']}-own-goal", "outcome": None}
        return [row, *own_goal_rows(own_goal, other)]
    if row["type"] == "foul_committed" and has_fouled_side(event):
        return foul_rows(row, other, provider)
    return [row]


def _first_own_goal(event: Any, seen: set[int]) -> bool:
    """Whether ``event`` is a Wyscout v2 own goal (a tag on a touch or clearance) whose raw
    record has not given one yet (kloppy may read one record as two events)."""
    record = own_goal_record(event)
    if record is None or record in seen:
        return False
    seen.add(record)
    return True


def _lineups(dataset: EventDataset) -> pl.DataFrame:
    rows = [
        {
            "team_id": stable_id(team.team_id),
            "team_name": team_name(team),
            "ground": str(team.ground.value) if team.ground is not None else None,
            "player_id": stable_id(player.player_id),
            "player_name": player.full_name or player.name,
            "starting": bool(player.starting),
        }
        for team in dataset.metadata.teams
        for player in team.players
    ]
    return pl.DataFrame(
        rows,
        schema={
            "team_id": pl.Int64,
            "team_name": pl.String,
            "ground": pl.String,
            "player_id": pl.Int64,
            "player_name": pl.String,
            "starting": pl.Boolean,
        },
    )


def _score(dataset: EventDataset, events: pl.DataFrame, ids: list[int]) -> tuple[int, int]:
    """Home and away goals: the metadata's score when it has one, else the events' goals."""
    score = dataset.metadata.score
    if score is not None and all(isinstance(v, int) for v in (score.home, score.away)):
        return int(score.home), int(score.away)
    goals = events.filter(
        (pl.col("period") <= 4)  # shoot-outs (period 5) are not goals
        & (
            ((pl.col("type") == "shot") & (pl.col("outcome") == "goal"))
            | (pl.col("type") == "own_goal_for")
        )
    )
    counted = goals.get_column("team_id").to_list()
    return counted.count(ids[0]), counted.count(ids[1])


def _match_row(
    dataset: EventDataset, events: pl.DataFrame, match_id: int, record: dict[str, Any]
) -> dict[str, Any]:
    teams = dataset.metadata.teams
    ids = [stable_id(t.team_id) or 0 for t in teams]
    home, away = team_name(teams[0]), team_name(teams[1])
    home_score, away_score = _score(dataset, events, ids)
    date = record.get("match_date")
    if date is None and isinstance(dataset.metadata.date, datetime):
        date = dataset.metadata.date.date().isoformat()
    competition, season = record.get("competition"), record.get("season")
    return {
        "match_id": match_id,
        "home_team_id": ids[0],
        "home_team_name": home,
        "away_team_id": ids[1],
        "away_team_name": away,
        "home_score": home_score,
        "away_score": away_score,
        "match_date": date,
        "competition": competition,
        "season": season,
        "has_360": False,
        "label": match_label(home, away, home_score, away_score, competition, date),
    }


def kloppy_events(
    dataset: EventDataset,
    match_id: int,
    *,
    record: dict[str, Any] | None = None,
    modelled_xg: bool | None = None,
) -> KloppyEvents:
    """The neutral event table, match row and lineups of one kloppy event dataset.

    ``record`` may add what the files do not say (``competition``, ``season``,
    ``match_date``). ``modelled_xg`` fills shots without provider xG from the product's
    model (``None``: :func:`modelled_xg_enabled`). Raises ``ValueError`` for a dataset
    without two teams or events.
    """
    teams = dataset.metadata.teams
    if len(teams) != 2:
        raise ValueError(f"the dataset names {len(teams)} teams; a match needs 2")
    if not dataset.records:
        raise ValueError("the dataset holds no events")
    provider = str(getattr(dataset.metadata.provider, "value", None) or "")
    if provider == "wyscout":
        dataset = derive_concepts(dataset)
    offsets = period_offsets(dataset)
    pitched = to_product_pitch(dataset)
    generic_names = {**GENERIC_NAMES, **PROVIDER_GENERIC_NAMES.get(provider, {})}
    quiet_generic = QUIET_GENERIC_NAMES.get(provider, frozenset())
    team_of = {stable_id(t.team_id): (stable_id(t.team_id) or 0, team_name(t)) for t in teams}
    other = {a: team_of[b] for a, b in zip(team_of, reversed(list(team_of)), strict=True)}
    rows: list[dict[str, Any]] = []
    unknown: set[str] = set()
    own_goals: set[int] = set()  # raw records already counted as an own goal
    for event in pitched.records:
        kind = neutral_type(event, generic_names)
        if (
            kind == UNKNOWN_TYPE
            and event.event_type.value not in QUIET_TYPES
            and snake(str(event.event_name)) not in quiet_generic
        ):
            unknown.add(str(event.event_name))
        row = event_row(event, kind)
        pid = event.period.id
        row["period"] = pid
        row["time_s"] = event.timestamp.total_seconds() + offsets.get(pid, 0.0)
        rows.extend(_rows_of(event, row, other.get(row["team_id"]), provider, own_goals))
    # Every row decides the column types (the default reads 100): a match whose first set
    # piece, xG or body part comes later would otherwise fail on a column read as null.
    frame = pl.DataFrame(
        rows,
        schema_overrides={"xg": pl.Float64, "pass_length": pl.Float64, "body_part": pl.String},
        infer_schema_length=None,
    )
    if provider == "impect":
        frame = _impect_shot_ends(frame)
    mistimed = frame.filter(~pl.col("time_s").is_between(0.0, MAX_PERIOD_S)).height
    frame, mirrored = _fix_direction(
        frame.filter(pl.col("time_s").is_between(0.0, MAX_PERIOD_S)).sort(
            "period", "time_s", maintain_order=True
        )
    )
    frame = (
        goal_kick_starts(frame)
        .with_columns(
            pl.lit(match_id, dtype=pl.Int64).alias("match_id"),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("index"),
            (
                pl.col("period").replace_strict(PERIOD_START_MINUTE, default=0) * 60
                + pl.col("time_s").floor()
            )
            .cast(pl.Int64)
            .alias("clock"),
        )
        .with_columns(
            (pl.col("clock") // 60).alias("minute"),
            (pl.col("clock") % 60).alias("second"),
        )
    )
    if modelled_xg if modelled_xg is not None else modelled_xg_enabled():
        frame = fill_modelled_xg(frame)
    events = _with_possessions(frame).select(EVENT_SCHEMA.names()).cast(EVENT_SCHEMA)
    warnings = [
        f"period {p} clock re-based by {s:+.1f} s: its first event does not fit the "
        "metadata's period start"
        for p, s in sorted(offsets.items())
    ]
    if not all(t.name for t in teams):
        warnings.append(
            "the data does not name the teams (for Impect, add the squads.json file); "
            "they are called by their ids"
        )
    if mistimed:
        warnings.append(
            f"{mistimed} events dropped: their time lies outside their period "
            f"(before its start or over {MAX_PERIOD_S / 60:.0f} minutes into it)"
        )
    names = {tid: name for tid, name in team_of.values()}
    warnings += [
        f"period {p} of {names.get(t, t)} mirrored: its shots lay in its own half or its "
        "open-play passes went backwards, so the feed's attacking direction was the other "
        "way round"
        for p, t in mirrored
    ]
    return KloppyEvents(
        events=events,
        match=_match_row(dataset, events, match_id, record or {}),
        lineups=_lineups(dataset),
        unknown_types=sorted(unknown),
        rebased_periods=offsets,
        warnings=warnings,
    )
