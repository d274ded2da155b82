"""Wyscout v2's tags and sub-events turned into the concepts kloppy leaves out, before the neutral mapping.

kloppy (3.19) reads a Wyscout v2 feed into its event model but keeps several concepts only
in the raw event: a take-on is a ground attacking duel tagged "take on left/right", a
carry is the "Acceleration" sub-event (kloppy makes it a recovery, as it does every plain
"Touch"), and the feed has no ball-recovery or dispossessed events at all. This module,
the only one that speaks Wyscout v2's tag ids (kloppy's ``wyscout_tags`` names them),
rewrites a v2 :class:`~kloppy.domain.EventDataset` so that the neutral mapping in
:mod:`core.data.kloppy_events` finds those concepts as kloppy events:

- a ground attacking duel tagged take-on (503 left, 504 right) is a take-on, complete when
  tagged accurate (1801; without an accuracy tag, when tagged won, 703);
- any other ground attacking duel tagged lost (701) is the carrier being dispossessed;
- an "Acceleration" is a carry from its first to its second position;
- a ball recovery is a team's first open-play action (pass, touch, acceleration,
  clearance, shot) after the opponent left the ball loose (an inaccurate pass, a
  clearance, a shot or a touch) with no duel, save or stoppage between; an action tagged
  interception (1401) is an interception instead (kloppy already makes those). A touch
  that recovers the ball is the recovery; before any other recovering action a recovery
  is inserted. Every other plain touch is a ball receipt (it marks who has the ball);
- a goalkeeper leaving his line is a goalkeeper event;
- placeholder points ((0,0) or (100,100), where the feed has no location) are not kept as
  real points: a corner's start stays (it is the corner), any other placeholder start
  (goal kicks: all of them; save attempts) and every placeholder end point is left empty
  (a goal kick without a start then starts on the six-yard line,
  :func:`core.data.kloppy_source.goal_kick_starts`, once the direction is settled);
- a goal kick carries no accuracy tag (none of the 1,109 on the World Cup 2018): it is
  complete when the kicker's team makes the next on-ball action (pass, shot, touch, run,
  clearance, take-on, interception, recovery), aerial and ground duels skipped, and
  incomplete when the opponent does or play stops first (kloppy already marks one that
  goes out);
- an own goal is a tag (102) on a touch, clearance or shot, never a shot result:
  :func:`own_goal_record` tells the neutral mapping to add the own-goal rows.

Fouls won are derived for every provider in :mod:`core.data.kloppy_events`;
:data:`FOUL_WON_SUB_EVENTS` says which v2 fouls have a fouled side.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Final

from kloppy.domain import (
    CarryResult,
    DatasetTransformer,
    EventDataset,
    EventType,
    PassResult,
    Point,
    Provider,
    SetPieceQualifier,
    SetPieceType,
    TakeOnResult,
    build_coordinate_system,
)
from kloppy.domain.services.event_factory import EventFactory

logger = logging.getLogger(__name__)

# Wyscout v2 tag ids (kloppy's infra/serializers/event/wyscout/wyscout_tags.py).
TAKE_ON_TAGS: Final = frozenset({503, 504})  # take on left, take on right
LOST: Final = 701
WON: Final = 703
ACCURATE: Final = 1801
NOT_ACCURATE: Final = 1802
INTERCEPTION: Final = 1401
OWN_GOAL: Final = 102
# Where a v2 feed has no location it writes one of these points (Wyscout's 0-100 pitch).
PLACEHOLDERS: Final = frozenset({(0.0, 0.0), (100.0, 100.0)})

# Wyscout v2 event and sub-event ids (kloppy's wyscout_events.py).
FREE_KICK_EVENT: Final = 3
GOALKEEPER_LEAVING_LINE: Final = 4  # kloppy keeps it generic; StatsBomb's keeper sweeping
GROUND_ATTACKING_DUEL: Final = 11
ACCELERATION: Final = 70
# Foul sub-events with a fouled player: foul, late card foul, out of game foul, violent
# foul (not a hand ball 21, protest 24, simulation 25 or time wasting 26).
FOUL_WON_SUB_EVENTS: Final = frozenset({20, 22, 23, 27})

# kloppy event types after which the ball is loose for the other team, and those that
# break a recovery (a duel decides the ball; a save, foul or stoppage restarts play).
_ON_BALL: Final = frozenset(
    {EventType.PASS, EventType.SHOT, EventType.CLEARANCE, EventType.CARRY, EventType.MISCONTROL}
)
_BREAKS: Final = frozenset(
    {
        EventType.DUEL,
        EventType.TAKE_ON,
        EventType.GOALKEEPER,
        EventType.FOUL_COMMITTED,
        EventType.BALL_OUT,
        EventType.CARD,
        EventType.GENERIC,
    }
)
_FACTORY: Final = EventFactory()
# Event fields every rewritten event keeps from the event it replaces.
_BASE_FIELDS: Final = (
    "event_id",
    "raw_event",
    "coordinates",
    "team",
    "player",
    "ball_owning_team",
    "ball_state",
    "period",
    "timestamp",
    "related_event_ids",
    "freeze_frame",
    "statistics",
    "qualifiers",  # the counter-attack flag, kept
)


def is_v2(dataset: EventDataset) -> bool:
    """Whether a kloppy Wyscout dataset was read from the v2 format (tags and sub-event names)."""
    raw = next((e.raw_event for e in dataset.records if isinstance(e.raw_event, dict)), None)
    return raw is not None and "subEventId" in raw and "tags" in raw


def tags(event: Any) -> frozenset[int]:
    """The tag ids of an event's raw Wyscout v2 record (empty without one)."""
    raw = getattr(event, "raw_event", None)
    if not isinstance(raw, dict):
        return frozenset()
    return frozenset(int(t["id"]) for t in raw.get("tags") or [] if isinstance(t, dict))


def _raw_id(event: Any, key: str) -> int | None:
    raw = getattr(event, "raw_event", None)
    value = raw.get(key) if isinstance(raw, dict) else None
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):  # a sub-event given by name only
        return None


def sub_event(event: Any) -> int | None:
    """The Wyscout v2 sub-event id of an event (``None`` when it has none)."""
    return _raw_id(event, "subEventId")


def own_goal_record(event: Any) -> int | None:
    """The raw record id of a v2 own goal (tag 102: a touch, clearance or shot into the own
    net), ``None`` for any other event.

    kloppy may read one raw record as two events (an interception before an action tagged
    interception, 1401, both with the record): the caller counts each record once.
    """
    if OWN_GOAL not in tags(event):
        return None
    return _raw_id(event, "id") or id(event.raw_event)


def _raw_point(event: Any, i: int) -> tuple[float, float] | None:
    positions = event.raw_event.get("positions") or []
    if len(positions) <= i or not isinstance(positions[i], dict):
        return None
    try:
        return float(positions[i]["x"]), float(positions[i]["y"])
    except (KeyError, TypeError, ValueError):
        return None


def _set_piece(event: Any) -> SetPieceType | None:
    found = [q.value for q in event.qualifiers or [] if isinstance(q, SetPieceQualifier)]
    return found[0] if found else None


def _without_placeholders(event: Any) -> Any:
    """``event`` with its placeholder points replaced or emptied (see the module doc)."""
    if not isinstance(getattr(event, "raw_event", None), dict):
        return event
    changes: dict[str, Any] = {}
    if _raw_point(event, 0) in PLACEHOLDERS and event.coordinates is not None:
        kind = _set_piece(event) if event.event_type == EventType.PASS else None
        if kind != SetPieceType.CORNER_KICK:
            changes["coordinates"] = None
    if _raw_point(event, 1) in PLACEHOLDERS:
        for attr in ("receiver_coordinates", "end_coordinates"):
            if getattr(event, attr, None) is not None:
                changes[attr] = None
    return replace(event, **changes) if changes else event


# kloppy event types that show which team has the ball after a goal kick.
_HAS_BALL: Final = frozenset(
    {
        EventType.PASS,
        EventType.SHOT,
        EventType.CLEARANCE,
        EventType.CARRY,
        EventType.TAKE_ON,
        EventType.INTERCEPTION,
        EventType.RECOVERY,
        EventType.MISCONTROL,
    }
)
# ... and those after which play stops before anyone has it.
_STOPS: Final = frozenset({EventType.BALL_OUT, EventType.FOUL_COMMITTED, EventType.CARD})


def _goal_kick_results(records: list[Any]) -> list[Any]:
    """Goal kicks without a result judged by who has the ball next (see the module doc)."""
    out = list(records)
    for i, event in enumerate(records):
        if (
            event.event_type != EventType.PASS
            or event.result is not None
            or _set_piece(event) != SetPieceType.GOAL_KICK
        ):
            continue
        complete = False
        for later in records[i + 1 :]:
            if later.period.id != event.period.id or later.event_type in _STOPS:
                break
            if later.event_type in _HAS_BALL or _is_touch(later):
                complete = later.team == event.team
                break
        out[i] = replace(event, result=PassResult.COMPLETE if complete else PassResult.INCOMPLETE)
    return out


def _base(event: Any, **changes: Any) -> dict[str, Any]:
    return {**{f: getattr(event, f, None) for f in _BASE_FIELDS}, **changes}


def _take_on(event: Any, found: frozenset[int]) -> Any:
    rated = ACCURATE in found or NOT_ACCURATE in found  # else judged by the duel's result
    complete = ACCURATE in found if rated else WON in found
    result = TakeOnResult.COMPLETE if complete else TakeOnResult.INCOMPLETE
    return _FACTORY.build_take_on(**_base(event, result=result))


def _carry(event: Any, to_dataset: DatasetTransformer) -> Any:
    """A carry from an acceleration's two raw positions, moved into the dataset's coordinates."""
    positions = event.raw_event.get("positions") or []
    if len(positions) < 2:
        return _generic(event, "ball_receipt")
    start, end = (Point(x=float(p["x"]), y=float(p["y"])) for p in positions[:2])
    carry = _FACTORY.build_carry(
        **_base(
            event,
            result=CarryResult.COMPLETE,
            coordinates=start,
            end_coordinates=end,
            end_timestamp=None,
        )
    )
    return to_dataset.transform_event(carry)


def _generic(event: Any, name: str, **changes: Any) -> Any:
    return _FACTORY.build_generic(**_base(event, result=None, event_name=name, **changes))


def _recovery(event: Any, **changes: Any) -> Any:
    return _FACTORY.build_recovery(**_base(event, result=None, **changes))


def _renamed(event: Any, to_dataset: DatasetTransformer) -> Any:
    """One v2 event as the concept it stands for (unchanged when it needs no rewrite)."""
    kind = event.event_type
    name = sub_event(event)
    if kind == EventType.DUEL and name == GROUND_ATTACKING_DUEL:
        found = tags(event)
        if found & TAKE_ON_TAGS:
            return _take_on(event, found)
        if LOST in found:
            return _generic(event, "dispossessed")
    if kind == EventType.GENERIC and _raw_id(event, "eventId") == GOALKEEPER_LEAVING_LINE:
        return _generic(event, "goalkeeper")
    if kind == EventType.RECOVERY:
        return (
            _carry(event, to_dataset) if name == ACCELERATION else _generic(event, "ball_receipt")
        )
    return event


def _leaves_ball_loose(event: Any) -> bool:
    kind = event.event_type
    if kind == EventType.PASS:
        return bool(event.result not in (PassResult.COMPLETE, PassResult.OFFSIDE))
    if kind == EventType.GENERIC:
        return str(event.event_name) == "ball_receipt"
    return kind in (EventType.CLEARANCE, EventType.SHOT, EventType.MISCONTROL)


def _is_touch(event: Any) -> bool:
    return event.event_type == EventType.GENERIC and str(event.event_name) == "ball_receipt"


def _with_recoveries(events: Iterable[Any], teams: tuple[Any, Any]) -> list[Any]:
    """``events`` with ball recoveries marked (see the module doc); touches that recover become one."""
    out: list[Any] = []
    loose_for: Any = None  # the team for whom the ball is loose, None when it is not
    period = None
    for event in events:
        if event.period.id != period:
            period, loose_for = event.period.id, None
        kind = event.event_type
        on_ball = kind in _ON_BALL or _is_touch(event)
        loose = _leaves_ball_loose(event)
        if kind == EventType.INTERCEPTION:
            loose_for = None
        elif on_ball and loose_for is not None and event.team == loose_for:
            if INTERCEPTION in tags(event):
                pass  # an interception (kloppy inserts it) already regains the ball
            elif _is_touch(event):
                event = _recovery(event)
            elif not _is_set_piece(event):
                out.append(_recovery(event, event_id=f"recovery-{event.event_id}"))
        if kind in _BREAKS and not on_ball:
            loose_for = None
        elif on_ball:
            other = teams[1] if event.team == teams[0] else teams[0]
            loose_for = other if loose else None
        out.append(event)
    return out


def _is_set_piece(event: Any) -> bool:
    return _raw_id(event, "eventId") == FREE_KICK_EVENT


def derive_concepts(dataset: EventDataset) -> EventDataset:
    """A Wyscout v2 dataset with take-ons, carries, dispossessions and recoveries, placeholder
    points and goal-kick results fixed (module doc).

    Any other dataset (Wyscout v3 included) is returned unchanged.
    """
    if not is_v2(dataset):
        return dataset
    home, away = dataset.metadata.teams
    system = dataset.metadata.coordinate_system
    dims = system.pitch_dimensions
    raw_system = build_coordinate_system(
        Provider.WYSCOUT, pitch_length=dims.pitch_length, pitch_width=dims.pitch_width
    )
    to_dataset = DatasetTransformer(from_coordinate_system=raw_system, to_coordinate_system=system)
    renamed = [_without_placeholders(_renamed(e, to_dataset)) for e in dataset.records]
    records = _with_recoveries(_goal_kick_results(renamed), (home, away))
    counts: dict[str, int] = {}
    for event in records:
        key = str(event.event_name)
        counts[key] = counts.get(key, 0) + 1
    logger.debug("Wyscout v2 events after deriving concepts: %s", counts)
    return replace(dataset, records=records)
