"""The only module that speaks StatsBomb: raw JSON files to the neutral event and 360 tables.

Everything else in ``core`` uses the vocabulary of :mod:`core.data.schema`. StatsBomb's
event coordinates are already in the acting team's attacking direction (x 0-120 towards the
opponent's goal), so events need no flipping; 360 frames are too, except for a few frames
that StatsBomb ships mirrored, which are detected and flipped back here.
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import polars as pl

from core.data.schema import (
    EVENT_SCHEMA,
    FRAME_SCHEMA,
    FREEZE_FRAME_SCHEMA,
    PITCH_LENGTH,
    PITCH_WIDTH,
    UNKNOWN_TYPE,
)
from core.data.statsbomb_spec import (
    SB_360_JSON_SCHEMA,
    SB_AERIAL_WON_KEYS,
    SB_EVENT_JSON_SCHEMA,
    SB_EVENT_TYPES,
    SB_PASS_HEIGHTS,
    SB_SET_PIECES,
    SB_WON_OUTCOMES,
)
from core.data.xg_model import fill_modelled_xg
from core.errors import StatsBombFormatError

logger = logging.getLogger(__name__)

# A frame is mirrored when its actor stands this much nearer the mirrored event location
# than the event location itself (360 positions differ from event positions by a few yards).
MIRROR_MARGIN: Final = 5.0
# An event this many seconds out of order with its neighbours (and their median) is misdated.
OUT_OF_ORDER_S: Final = 60.0
# Events on each side of an event that its time is checked against (in index order).
NEIGHBOURS: Final = 10

# StatsBomb's shot body parts in the neutral vocabulary (:data:`core.data.schema.BODY_PARTS`).
SB_BODY_PARTS: Final[dict[str, str]] = {
    "Head": "head",
    "Left Foot": "foot",
    "Right Foot": "foot",
    "Other": "other",
}
# The events-file schema plus the shot's body part.
_SHOT_STRUCT = SB_EVENT_JSON_SCHEMA["shot"]
assert isinstance(_SHOT_STRUCT, pl.Struct)
EVENT_JSON_SCHEMA: Final = pl.Schema(
    {
        **SB_EVENT_JSON_SCHEMA,
        "shot": pl.Struct(
            [*_SHOT_STRUCT.fields, pl.Field("body_part", pl.Struct({"name": pl.String()}))]
        ),
    }
)


@dataclass(frozen=True)
class ParsedEvents:
    """The neutral event table of one match plus what the reader noticed on the way."""

    events: pl.DataFrame
    unknown_types: list[str]
    misdated: list[dict[str, Any]]  # events dropped because clock and timestamp disagree


def read_json_bytes(path: Path) -> bytes:
    """The bytes of a ``.json`` or ``.json.gz`` file, decompressed."""
    data = path.read_bytes()
    if path.suffix == ".gz" or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise StatsBombFormatError(
                f"{path.name} is not a readable gzip file ({exc}); download it again."
            ) from exc
    return data


def _loads(path: Path) -> Any:
    try:
        return orjson.loads(read_json_bytes(path))
    except orjson.JSONDecodeError as exc:
        raise StatsBombFormatError(
            f"{path.name} is not valid JSON ({exc}); the file is truncated or corrupt, "
            "download it again."
        ) from exc


def _snake(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "_").str.strip_chars("_")


def _field(struct: str, *path: str) -> pl.Expr:
    expr = pl.col(struct)
    for name in path:
        expr = expr.struct.field(name)
    return expr


def retime_misplaced(time_s: pl.Expr) -> pl.Expr:
    """``time_s`` with each misplaced event moved to the time of the play around it.

    Evaluate per period over events in index order (``.over("period")``). An event is
    misplaced when its time is more than :data:`OUT_OF_ORDER_S` after the earliest of the
    :data:`NEIGHBOURS` events following it or before the latest of those preceding it,
    *and* that far from the median time of its neighbourhood: of two events out of order,
    the one that disagrees with the play around it moves. It takes the time of the last
    well-placed event before it (the next one at the start of a period). Short runs of
    misplaced events are caught too: up to :data:`NEIGHBOURS` inside a period, about half
    as many at its start or end, where the neighbourhood is one-sided.
    """
    window = 2 * NEIGHBOURS + 1
    later_min = time_s.reverse().rolling_min(NEIGHBOURS, min_samples=1).reverse().shift(-1)
    earlier_max = time_s.rolling_max(NEIGHBOURS, min_samples=1).shift(1)
    out_of_order = (time_s > later_min + OUT_OF_ORDER_S) | (time_s < earlier_max - OUT_OF_ORDER_S)
    median = time_s.rolling_median(window, min_samples=1, center=True)
    misplaced = out_of_order.fill_null(False) & ((time_s - median).abs() > OUT_OF_ORDER_S)
    # Null where misplaced; written as time_s + ... so the result keeps time_s's name.
    kept = time_s + pl.when(misplaced).then(None).otherwise(0.0)
    return kept.forward_fill().backward_fill().fill_null(time_s)


def parse_events(data: bytes, match_id: int, *, name: str = "events") -> ParsedEvents:
    """StatsBomb events JSON (bytes) to the neutral event table of :data:`EVENT_SCHEMA`."""
    stripped = data.lstrip()
    if not stripped.startswith(b"["):
        raise StatsBombFormatError(
            f"{name} does not hold a JSON list of events; is it a StatsBomb events file?"
        )
    try:
        raw = pl.read_json(data, schema=EVENT_JSON_SCHEMA)
    except Exception as exc:  # polars raises several error kinds for broken JSON
        raise StatsBombFormatError(
            f"{name} is not valid StatsBomb events JSON ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}); the file is truncated or corrupt, download it again."
        ) from exc
    if raw.height == 0:
        raise StatsBombFormatError(f"{name} holds no events.")
    missing = raw.select(
        pl.col("period").is_null().sum(), _field("type", "name").is_null().sum()
    ).row(0)
    if any(missing):
        raise StatsBombFormatError(
            f"{name}: {max(missing)} events lack a period or type; not a StatsBomb events file."
        )

    sb_type = _field("type", "name")
    neutral_type = sb_type.replace_strict(SB_EVENT_TYPES, default=UNKNOWN_TYPE)
    unknown = (
        raw.filter(~sb_type.is_in(list(SB_EVENT_TYPES))).get_column("type").struct.field("name")
    )
    unknown_types = sorted(unknown.unique().to_list())

    sb_outcome = pl.coalesce(
        _field("pass", "outcome", "name"),
        _field("shot", "outcome", "name"),
        _field("duel", "outcome", "name"),
        _field("dribble", "outcome", "name"),
        _field("interception", "outcome", "name"),
        _field("goalkeeper", "outcome", "name"),
        _field("50_50", "outcome", "name"),
    )
    is_pass = sb_type == "Pass"
    won = sb_outcome.is_in(SB_WON_OUTCOMES)
    success = (
        pl.when(is_pass)
        .then(sb_outcome.is_null())
        .when(sb_type == "Shot")
        .then(sb_outcome == "Goal")
        .when(sb_type == "Dribble")
        .then(sb_outcome == "Complete")
        .when(sb_type == "Duel")
        .then(won.fill_null(False))
        .when(sb_type.is_in(["Interception", "50/50"]))
        .then(won.fill_null(False))
        .when(sb_type == "Ball Recovery")
        .then(~_field("ball_recovery", "recovery_failure").fill_null(False))
        .otherwise(None)
    )
    outcome = (
        pl.when(is_pass & sb_outcome.is_null())
        .then(pl.lit("complete"))
        .otherwise(_snake(sb_outcome).replace({"off_t": "off_target"}))
    )
    end_loc = pl.coalesce(
        _field("pass", "end_location"),
        _field("carry", "end_location"),
        _field("shot", "end_location"),
        _field("goalkeeper", "end_location"),
    )
    ts = pl.col("timestamp")
    time_s = (
        ts.str.slice(0, 2).cast(pl.Float64()) * 3600
        + ts.str.slice(3, 2).cast(pl.Float64()) * 60
        + ts.str.slice(6).cast(pl.Float64())
    )
    # The winner of an aerial duel is flagged on the action he won it with (a pass, clearance,
    # shot or miscontrol); there is no won Duel event for it.
    aerial_won = pl.any_horizontal(
        [_field(key, "aerial_won").fill_null(False) for key in SB_AERIAL_WON_KEYS]
    )
    set_piece = pl.coalesce(
        _field("pass", "type", "name"), _field("shot", "type", "name")
    ).replace_strict(SB_SET_PIECES, default=None, return_dtype=pl.String())

    events = raw.select(
        pl.lit(match_id, dtype=pl.Int64()).alias("match_id"),
        pl.col("id").alias("event_id"),
        pl.col("index"),
        pl.col("period"),
        time_s.alias("time_s"),
        pl.col("minute"),
        pl.col("second"),
        _field("team", "id").alias("team_id"),
        _field("team", "name").alias("team_name"),
        _field("player", "id").alias("player_id"),
        _field("player", "name").alias("player_name"),
        neutral_type.alias("type"),
        outcome.alias("outcome"),
        success.alias("success"),
        pl.col("location").list.get(0, null_on_oob=True).alias("x"),
        pl.col("location").list.get(1, null_on_oob=True).alias("y"),
        end_loc.list.get(0, null_on_oob=True).alias("end_x"),
        end_loc.list.get(1, null_on_oob=True).alias("end_y"),
        pl.col("possession"),
        _field("possession_team", "id").alias("possession_team_id"),
        _snake(_field("play_pattern", "name")).alias("play_pattern"),
        pl.col("under_pressure").fill_null(False),
        pl.col("counterpress").fill_null(False),
        aerial_won.alias("aerial_won"),
        _field("shot", "statsbomb_xg").alias("xg"),
        pl.lit(False).alias("xg_modelled"),
        _field("shot", "body_part", "name")
        .replace_strict(SB_BODY_PARTS, default=None, return_dtype=pl.String())
        .alias("body_part"),
        _field("pass", "length").alias("pass_length"),
        _field("pass", "height", "name")
        .replace_strict(SB_PASS_HEIGHTS, default=None, return_dtype=pl.String())
        .alias("pass_height"),
        (is_pass & _field("pass", "cross").fill_null(False)).alias("pass_cross"),
        (is_pass & _field("pass", "switch").fill_null(False)).alias("pass_switch"),
        (is_pass & _field("pass", "through_ball").fill_null(False)).alias("pass_through_ball"),
        set_piece.alias("set_piece"),
        pl.col("duration"),
    ).sort("index")
    # An event whose match clock disagrees with its timestamp by more than a minute, given
    # the period's kick-off minute, is misdated (e.g. an own goal at 44:51 of period 2).
    offset = pl.col("minute") * 60 + pl.col("second") - pl.col("time_s").floor()
    consistent = (offset - offset.median().over("period")).abs() <= OUT_OF_ORDER_S
    misdated = events.filter(~consistent)
    events = events.filter(consistent)
    # A few provider events carry a timestamp that does not fit the play around them (e.g.
    # a ball receipt at 00:00.189 after the 46th minute; kloppy's fixture appends three
    # events at 48:01 of period 2 with first-half indices). Such an event is out of order
    # with its index neighbours *and* far from their median time; only it is moved, to the
    # time of the play it belongs to. Legitimate gaps (a long stoppage) break no order.
    retimed = retime_misplaced(pl.col("time_s")).over("period")
    n_moved = events.select((retimed != pl.col("time_s")).sum()).item()
    if n_moved:
        logger.debug("%s: %d misplaced event(s) moved to the time of their play", name, n_moved)
    events = events.with_columns(retimed.alias("time_s"))
    # StatsBomb gives every shot its xG; a shot that lacks one gets the product's model.
    events = fill_modelled_xg(events)
    return ParsedEvents(
        events=events.cast(EVENT_SCHEMA),
        unknown_types=unknown_types,
        misdated=misdated.select("index", "period", "minute", "second", "type").to_dicts(),
    )


def read_events(path: Path, match_id: int) -> ParsedEvents:
    """Read a StatsBomb events file (``.json`` or ``.json.gz``) into the neutral table."""
    return parse_events(read_json_bytes(path), match_id, name=path.name)


def parse_three_sixty(
    data: bytes, events: pl.DataFrame, *, name: str = "360"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """StatsBomb 360 JSON to (:data:`FREEZE_FRAME_SCHEMA` players, :data:`FRAME_SCHEMA` frames).

    Players are in the acting team's attacking direction. A frame whose actor stands near
    the *mirrored* event location is flipped back (x -> 120 - x, y -> 80 - y), as is its
    visible area; without an actor, a teammate keeper in the opponent's half (or an
    opposing keeper in the own half) marks a mirrored frame.
    """
    match_id = int(events.get_column("match_id")[0])
    try:
        raw = pl.read_json(data, schema=SB_360_JSON_SCHEMA)
    except Exception as exc:
        raise StatsBombFormatError(
            f"{name} is not valid StatsBomb 360 JSON ({type(exc).__name__}); the file is "
            "truncated or corrupt, download it again."
        ) from exc
    raw = raw.filter(pl.col("event_uuid").is_not_null()).rename({"event_uuid": "event_id"})
    players = (
        raw.select("event_id", "freeze_frame")
        .explode("freeze_frame")
        .drop_nulls("freeze_frame")
        .unnest("freeze_frame")
        .select(
            "event_id",
            pl.col("teammate").fill_null(False),
            pl.col("actor").fill_null(False),
            pl.col("keeper").fill_null(False),
            pl.col("location").list.get(0, null_on_oob=True).alias("x"),
            pl.col("location").list.get(1, null_on_oob=True).alias("y"),
        )
        .drop_nulls(["x", "y"])
    )
    ev_loc = events.select("event_id", pl.col("x").alias("ev_x"), pl.col("y").alias("ev_y"))
    actor = (
        players.filter(pl.col("actor"))
        .group_by("event_id")
        .agg(pl.col("x").first().alias("ax"), pl.col("y").first().alias("ay"))
        .join(ev_loc, on="event_id", how="inner")
        .select(
            "event_id",
            (
                ((pl.col("ax") - pl.col("ev_x")) ** 2 + (pl.col("ay") - pl.col("ev_y")) ** 2).sqrt()
                > (
                    (PITCH_LENGTH - pl.col("ax") - pl.col("ev_x")) ** 2
                    + (PITCH_WIDTH - pl.col("ay") - pl.col("ev_y")) ** 2
                ).sqrt()
                + MIRROR_MARGIN
            ).alias("mirror_actor"),
        )
    )
    keeper = (
        players.filter(pl.col("keeper"))
        .group_by("event_id")
        .agg(
            (
                (pl.col("teammate") & (pl.col("x") > PITCH_LENGTH / 2))
                | (~pl.col("teammate") & (pl.col("x") < PITCH_LENGTH / 2))
            )
            .all()
            .alias("mirror_keeper")
        )
    )
    flags = (
        raw.select("event_id")
        .join(actor, on="event_id", how="left")
        .join(keeper, on="event_id", how="left")
        .select(
            "event_id",
            pl.coalesce("mirror_actor", "mirror_keeper", pl.lit(False)).alias("mirrored"),
        )
    )
    flip_x = pl.when(pl.col("mirrored")).then(PITCH_LENGTH - pl.col("x")).otherwise(pl.col("x"))
    flip_y = pl.when(pl.col("mirrored")).then(PITCH_WIDTH - pl.col("y")).otherwise(pl.col("y"))
    players = (
        players.join(flags, on="event_id", how="left")
        .with_columns(flip_x.alias("x"), flip_y.alias("y"))
        .select(
            pl.lit(match_id, dtype=pl.Int64()).alias("match_id"), *FREEZE_FRAME_SCHEMA.names()[1:]
        )
    )

    # Visible area: flat [x0, y0, x1, y1, ...]; flipped like the players, area by shoelace.
    even = pl.int_range(pl.len()) % 2 == 0
    flipped_area = pl.col("visible_area").list.eval(
        pl.when(even).then(PITCH_LENGTH - pl.element()).otherwise(PITCH_WIDTH - pl.element())
    )
    frames = raw.select("event_id", "visible_area").join(flags, on="event_id", how="left")
    frames = frames.with_columns(
        pl.when(pl.col("mirrored"))
        .then(flipped_area)
        .otherwise(pl.col("visible_area"))
        .alias("visible_area")
    )
    nx = pl.col("x").shift(-1).fill_null(pl.col("x").first())
    ny = pl.col("y").shift(-1).fill_null(pl.col("y").first())
    area = (
        frames.select(
            "event_id",
            pl.col("visible_area").list.gather_every(2).alias("x"),
            pl.col("visible_area").list.gather_every(2, offset=1).alias("y"),
        )
        .explode(["x", "y"])
        .group_by("event_id")
        .agg(((pl.col("x") * ny - nx * pl.col("y")).sum().abs() / 2).alias("area"))
    )
    frames = frames.join(area, on="event_id", how="left").select(
        pl.lit(match_id, dtype=pl.Int64()).alias("match_id"),
        "event_id",
        "visible_area",
        (pl.col("area").fill_null(0.0) / (PITCH_LENGTH * PITCH_WIDTH))
        .clip(0.0, 1.0)
        .alias("visible_fraction"),
        "mirrored",
    )
    return players.cast(FREEZE_FRAME_SCHEMA), frames.cast(FRAME_SCHEMA)


def read_three_sixty(path: Path, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read a StatsBomb 360 file for a match whose events are ``events``."""
    return parse_three_sixty(read_json_bytes(path), events, name=path.name)


def read_lineup_teams(path: Path) -> list[tuple[int, str]]:
    """The (team id, team name) pairs of a StatsBomb lineups file."""
    data = _loads(path)
    if not isinstance(data, list) or not all(
        isinstance(t, dict) and "team_id" in t and "team_name" in t for t in data
    ):
        raise StatsBombFormatError(f"{path.name} is not a StatsBomb lineups file (team list).")
    return [(int(t["team_id"]), str(t["team_name"])) for t in data]


def read_matches_file(path: Path) -> list[dict[str, Any]]:
    """Match records of one ``matches/<competition>/<season>.json`` in neutral keys."""
    data = _loads(path)
    if not isinstance(data, list):
        raise StatsBombFormatError(f"{path.name} is not a StatsBomb matches file (a list).")
    out = []
    for m in data:
        try:
            out.append(
                {
                    "match_id": int(m["match_id"]),
                    "home_team_id": int(m["home_team"]["home_team_id"]),
                    "home_team_name": str(m["home_team"]["home_team_name"]),
                    "away_team_id": int(m["away_team"]["away_team_id"]),
                    "away_team_name": str(m["away_team"]["away_team_name"]),
                    "home_score": m.get("home_score"),
                    "away_score": m.get("away_score"),
                    "match_date": m.get("match_date"),
                    "competition": (m.get("competition") or {}).get("competition_name"),
                    "competition_id": (m.get("competition") or {}).get("competition_id"),
                    "season": (m.get("season") or {}).get("season_name"),
                    "season_id": (m.get("season") or {}).get("season_id"),
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StatsBombFormatError(
                f"{path.name}: a match record lacks {exc}; not a StatsBomb matches file."
            ) from exc
    return out


def read_competitions(path: Path) -> list[dict[str, Any]]:
    """Records of ``competitions.json``: competition/season ids and names."""
    data = _loads(path)
    if not isinstance(data, list):
        raise StatsBombFormatError(f"{path.name} is not a StatsBomb competitions file.")
    return [
        {
            "competition_id": c.get("competition_id"),
            "season_id": c.get("season_id"),
            "competition": c.get("competition_name"),
            "season": c.get("season_name"),
        }
        for c in data
        if isinstance(c, dict)
    ]
