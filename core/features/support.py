"""Which providers can supply each feature.

A feature needs the concepts (event kinds or flags) its definition counts; a provider
supplies the concepts its feed, as kloppy reads it, carries. A feature a provider cannot
supply is null in its datasets, never 0. "statsbomb" is the fast reader (360 included when
a match has its 360 file); every other provider is read through kloppy. What each feature
means is :mod:`core.features.registry`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from core.features.registry import FEATURES, feature_info, feature_names

CONCEPTS: Final[dict[str, str]] = {
    "xg": "shot expected goals",
    "cross": "a cross flag on passes",
    "switch": "a switch-of-play flag on passes",
    "through_ball": "a through-ball flag on passes",
    "pass_end": "pass end locations",
    "carry": "carry events (every carry, not only long runs)",
    "take_on": "take-on (dribble) events",
    "pressure": "pressure events",
    "counterpress": "a counter-press flag on pressures",
    "under_pressure": "an under-pressure flag on actions",
    "recovery": "ball recovery events",
    "interception": "interception events",
    "duel": "duel events with a won/lost result",
    "foul": "fouls committed",
    "foul_won": "fouls won (suffered)",
    "clearance": "clearance events",
    "block": "block events",
    "dispossessed": "dispossessed events",
    "set_piece": "set-piece types on passes",
    "counter": "a counter-attack flag",
    "360": "360 freeze frames",
}
_ENTRIES: Final = ("pass_end", "carry")
FEATURE_NEEDS: Final[dict[str, tuple[str, ...]]] = {
    "t1_xg_per_min": ("xg",),
    "t1_crosses_per_min": ("cross",),
    "t1_carries_per_min": ("carry",),
    "t1_take_ons_per_min": ("take_on",),
    "t1_take_on_success": ("take_on",),
    "t1_pressures_per_min": ("pressure",),
    "t1_counterpress_share": ("pressure", "counterpress"),
    "t1_recoveries_per_min": ("recovery",),
    "t1_interceptions_per_min": ("interception",),
    "t1_duels_won_per_min": ("duel",),
    "t1_fouls_per_min": ("foul",),
    "t1_fouls_won_per_min": ("foul_won",),
    "t1_clearances_per_min": ("clearance",),
    "t1_blocks_per_min": ("block",),
    "t1_under_pressure_share": ("under_pressure",),
    "t1_set_piece_share": ("set_piece",),
    "t1_counter_share": ("counter",),
    "t1_ball_losses_per_min": ("dispossessed", "take_on"),
    "t1_corners_per_min": ("set_piece",),
    "t1_xg_conceded_per_min": ("xg",),
    "t2_ppda": ("duel", "interception", "foul"),
    # Pressures count where the feed has them; the height stands without them.
    "t2_defensive_action_height": ("duel", "interception"),
    "t2_pressure_height": ("pressure",),
    "t2_high_press_share": ("pressure",),
    "t2_high_turnovers_per_min": ("recovery", "interception"),
    "t2_progressive_passes_per_min": ("pass_end",),
    "t2_progressive_carries_per_min": ("carry",),
    "t2_final_third_entries_per_min": _ENTRIES,
    "t2_box_entries_per_min": _ENTRIES,
    "t2_deep_completions_per_min": ("pass_end", "cross"),
    "t2_forward_pass_share": ("pass_end",),
    "t2_long_ball_share": ("pass_end",),
    "t2_switch_share": ("switch",),
    "t2_through_ball_share": ("through_ball",),
    "t2_mean_pass_length": ("pass_end",),
    "t2_xg_per_shot": ("xg",),
    "t2_own_half_losses_per_min": ("dispossessed", "take_on"),
    "t2_final_third_entries_conceded_per_min": _ENTRIES,
    "t2_box_entries_conceded_per_min": _ENTRIES,
    **{f.name: ("360",) for f in FEATURES if f.tier == 3},
}
# fmt: off
_DERIVED: Final = frozenset({"switch", "foul_won"})  # from pass ends and fouls committed
_OPTA_FAMILY: Final = frozenset({
    "xg", "cross", "switch", "through_ball", "pass_end", "take_on", "recovery",
    "interception", "duel", "foul", "foul_won", "clearance", "block", "dispossessed",
    "set_piece", "counter",
})
_WYSCOUT: Final = frozenset({
    "xg", "cross", "through_ball", "pass_end", "carry", "take_on", "recovery",
    "interception", "duel", "foul", "clearance", "dispossessed", "set_piece", "counter",
}) | _DERIVED
_IMPECT: Final = frozenset({
    "pass_end", "carry", "recovery", "interception", "duel", "foul", "clearance", "block",
    "set_piece",
}) | _DERIVED
# fmt: on
# What each provider's feed carries as kloppy reads it, with what core.data derives from
# it (checked on kloppy's fixture files and the shared Wyscout World Cup 2018). Wyscout:
# v2's take-ons, carries, dispossessions and recoveries are derived from its tags and
# sub-events (core.data.wyscout_v2); v3 has take-ons and carries itself but no recoveries
# or dispossessions (a v3 match counts 0 for them). Every provider with pass end points
# has switches (a pass across half the width, StatsBomb's own rule); every provider
# without a fouled side of its own gets it from the fouls committed. Opta and Stats
# Perform: no carries, pressures or an under-pressure flag. Sportec and Metrica: passes,
# shots, fouls and set pieces, Metrica also carries and recoveries. Impect: no xG,
# take-ons, pressures or counters; its cross and under-pressure flags are left out too,
# as kloppy's fixture leaves them blank (a feed without them would count 0, not null).
# xG counts as supplied where the feed may carry it; a match whose shots carry none has
# its xG features nulled at extraction unless modelled xG fills them
# (core.data.kloppy_source.modelled_xg_enabled).
PROVIDER_CONCEPTS: Final[dict[str, frozenset[str]]] = {
    "statsbomb": frozenset(CONCEPTS),
    "wyscout": _WYSCOUT,
    "opta": _OPTA_FAMILY,
    "statsperform": _OPTA_FAMILY,
    "sportec": frozenset({"pass_end", "foul", "set_piece"}) | _DERIVED,
    "metrica": frozenset({"pass_end", "carry", "recovery", "foul", "set_piece"}) | _DERIVED,
    "impect": _IMPECT,
}
PROVIDER_NAMES: Final[tuple[str, ...]] = tuple(PROVIDER_CONCEPTS)


def _check_provider(provider: str) -> frozenset[str]:
    try:
        return PROVIDER_CONCEPTS[provider]
    except KeyError:
        raise KeyError(
            f"{provider!r} is not a known provider; known: {', '.join(PROVIDER_NAMES)}"
        ) from None


def feature_providers(name: str) -> tuple[str, ...]:
    """The providers that can supply feature ``name``."""
    needs = FEATURE_NEEDS.get(feature_info(name).name, ())
    return tuple(p for p, have in PROVIDER_CONCEPTS.items() if set(needs) <= have)


def missing_concepts(name: str, provider: str) -> list[str]:
    """What ``provider``'s feed lacks for feature ``name``, in words (empty when supplied)."""
    have = _check_provider(provider)
    return [CONCEPTS[c] for c in FEATURE_NEEDS.get(name, ()) if c not in have]


def unavailable_features(provider: str, *, lacking: tuple[str, ...] = ()) -> list[str]:
    """Features ``provider`` cannot supply (also those needing a concept in ``lacking``)."""
    have = _check_provider(provider) - set(lacking)
    return [n for n in feature_names() if not set(FEATURE_NEEDS.get(n, ())) <= have]


def available_features(provider: str) -> list[str]:
    """Features ``provider`` can supply, in catalogue order."""
    missing = set(unavailable_features(provider))
    return [n for n in feature_names() if n not in missing]


def common_features(providers: Iterable[str]) -> list[str]:
    """Features every one of ``providers`` can supply (all features for none)."""
    missing: set[str] = set()
    for provider in set(providers):
        missing |= set(unavailable_features(provider))
    return [n for n in feature_names() if n not in missing]


# How a provider supplies a concept where it is not simply the feed's own events of that
# kind: derived, or counted differently from StatsBomb's (the reference definitions).
_V2: Final = "Wyscout v2"
_SWITCH_RULE: Final = (
    "passes that travel across at least half the pitch's width (40 of 80 yards): "
    "StatsBomb's own switch rule, applied to the pass end points"
)
_FOUL_WON_RULE: Final = "the other team of each foul committed (derived)"
_XG_RULE: Final = (
    "the feed's shot xG; a shot without one gets the product's modelled xG "
    "(core.data.xg_model) where that is switched on, else the xG features are null"
)
CONCEPT_SOURCES: Final[dict[str, dict[str, str]]] = {
    "take_on": {
        "wyscout": f"{_V2}: ground attacking duels tagged take-on left/right (503/504), "
        "complete when tagged accurate (1801); v3: its take-on events",
    },
    "carry": {
        "wyscout": f"{_V2}: the 'Acceleration' sub-event (a run with the ball, first to "
        "second position); v3: its carries. Only long runs: far fewer than StatsBomb's "
        "carries, which include every move with the ball",
    },
    "recovery": {
        "wyscout": "derived: a team's first open-play action (pass, touch, run, clearance, "
        "shot) after the opponent left the ball loose (an inaccurate pass, a clearance, a "
        "shot or a touch) with no duel, save or stoppage between; actions tagged "
        "interception count as interceptions instead",
    },
    "dispossessed": {
        "wyscout": f"{_V2}: ground attacking duels without a take-on tag that are lost (701)",
    },
    "interception": {
        "wyscout": "every action tagged interception (1401): a broader tag than StatsBomb's "
        "interceptions, about four times as many per match",
    },
    "duel": {
        "wyscout": "both players' duel events (attacking, defending, aerial, loose ball), "
        "take-ons and lost attacking duels left out: many more duels won than StatsBomb's "
        "tackles, 50-50s and aerials won",
    },
    "foul": {"metrica": "the other team of each 'FAULT RECEIVED' event (derived)"},
    "counter": {
        "wyscout": "the counter-attack tag (kloppy's CounterAttackQualifier) on the events its "
        "analysts put in a counter: other events than StatsBomb's play pattern 'From "
        "Counter' (every event of a possession that started as one), about a fifth as many",
    },
    "through_ball": {
        "wyscout": "the 'through' tag, set on about one pass in sixty: a broader definition "
        "than StatsBomb's through-ball flag (about one pass in a thousand in its 2018 data)",
    },
    "foul_won": {
        "wyscout": f"{_FOUL_WON_RULE}, hand balls, protests, simulations and time wasting left out",
        "sportec": _FOUL_WON_RULE,
        "impect": _FOUL_WON_RULE,
        "metrica": "Metrica's 'FAULT RECEIVED' events (kloppy reads them as fouls committed)",
    },
    "switch": {p: _SWITCH_RULE for p in ("wyscout", "opta", "statsperform", "sportec")}
    | {p: _SWITCH_RULE for p in ("metrica", "impect")},
    "xg": {p: _XG_RULE for p in ("wyscout", "opta", "statsperform", "sportec", "metrica")}
    | {"impect": _XG_RULE},
}
# Features whose definition differs for a provider that lacks a concept the feature uses
# where it can (not one it needs): feature -> (that concept, what it means then).
FEATURE_NOTES: Final[dict[str, tuple[str, str]]] = {
    "t2_defensive_action_height": (
        "pressure",
        "without pressure events the height is that of duels, interceptions, recoveries, "
        "blocks, clearances and fouls only (StatsBomb's includes its pressures)",
    ),
}


# Features counted by one rule from concepts a provider records by another definition than
# StatsBomb's (the reference), so their values are not comparable across the two: feature
# -> provider -> why (measured on the World Cup 2018, StatsBomb against Wyscout v2, the same
# 128 team-matches: bench/bench_wyscout.py).
_WY_PASS_ENDS: Final = (
    "Wyscout v2's pass ends are integer percentages of the pitch, and its 'accurate' tag is "
    "set on more forward passes than StatsBomb's complete outcome (a ball into the box that "
    "a defender touches first is incomplete in StatsBomb more often)"
)
_WY_POSSESSIONS: Final = (
    "possessions are derived from the team of the last on-ball action (Wyscout v2 has no "
    "possession ids): shorter than StatsBomb's own (about 0.7x the duration)"
)
PROVIDER_FEATURE_NOTES: Final[dict[str, dict[str, str]]] = {
    "t1_crosses_per_min": {
        "wyscout": "Wyscout v2's 'Cross' sub-event, not StatsBomb's cross flag: about 1.1x as "
        "many, headed and cut-back balls counted differently",
    },
    "t1_clearances_per_min": {
        "wyscout": "Wyscout v2's 'Clearance' sub-event: a defensive header after an air duel is "
        "often a head pass there; StatsBomb's clearances take headed and footed alike",
    },
    "t2_progressive_passes_per_min": {"wyscout": _WY_PASS_ENDS},
    "t2_deep_completions_per_min": {"wyscout": _WY_PASS_ENDS},
    "t2_possession_duration": {"wyscout": _WY_POSSESSIONS},
    "t2_direct_speed": {"wyscout": _WY_POSSESSIONS},
    "t2_attack_width": {
        "wyscout": "other on-ball actions (Wyscout's take-ons are tagged duels, StatsBomb's 2018 "
        "files hold no carries) on integer-percent locations; team-matches differ little, so "
        "small definition noise lowers the agreement",
    },
    "t2_shot_distance": {
        "wyscout": "shot locations in integer percentages of the pitch against StatsBomb's "
        "decimal yards, on few shots per team-match",
    },
}


def features_from_only(concept: str) -> list[str]:
    """Features built from ``concept`` alone, in catalogue order (a match whose own data
    lacks the concept has them null; features that also count other events keep those)."""
    if concept not in CONCEPTS:
        raise KeyError(f"{concept!r} is not a concept; known: {', '.join(CONCEPTS)}")
    return [n for n in feature_names() if FEATURE_NEEDS.get(n, ()) == (concept,)]


# Why a feature is null in a match whose provider supplies it: the concept the match's own
# data lacks (core.features.match_tables.lacking_concepts).
MATCH_LACKS: Final[dict[str, str]] = {
    "location": "the matches' events carry no locations",
    "xg": "the matches' shots carry no xG",
    "carry": "the matches hold no carry events (StatsBomb's 2018 open-data files, data "
    "version 1.0, have none)",
}


LOCATION_FREE: Final = frozenset({"t2_passes_per_possession", "t2_possession_duration"})
"""The spatial-tier features computed without any event location."""


def needs_location(name: str) -> bool:
    """Whether feature ``name`` is computed from event locations: every tier-2 and tier-3
    feature but :data:`LOCATION_FREE` (a match without locations has them null, not 0)."""
    info = feature_info(name)
    return info.tier >= 2 and info.name not in LOCATION_FREE


def match_lacks_reason(name: str) -> str:
    """Why feature ``name`` is null in matches whose provider supplies it, in words."""
    needs = FEATURE_NEEDS.get(feature_info(name).name, ())
    found = next((MATCH_LACKS[c] for c in needs if c in MATCH_LACKS), None)
    if found is None and needs_location(name):
        return MATCH_LACKS["location"]
    return found or MATCH_LACKS["xg"]


def definition_differs(name: str) -> bool:
    """Whether feature ``name`` is built differently for some provider (see :func:`feature_source`)."""
    info = feature_info(name)
    return (
        info.name in FEATURE_NOTES
        or info.name in PROVIDER_FEATURE_NOTES
        or any(CONCEPT_SOURCES.get(c) for c in FEATURE_NEEDS.get(info.name, ()))
    )


def not_comparable(provider: str) -> dict[str, str]:
    """The features ``provider`` supplies under a definition other than StatsBomb's (the
    reference), each with how it differs: their values are not comparable across the two."""
    have = _check_provider(provider)
    missing = set(unavailable_features(provider))
    out = {
        name: note
        for name, (concept, note) in FEATURE_NOTES.items()
        if concept not in have and name not in missing
    }
    out |= {
        name: notes[provider]
        for name, notes in PROVIDER_FEATURE_NOTES.items()
        if provider in notes and name not in missing
    }
    return out


def feature_source(name: str, provider: str) -> str:
    """What feature ``name`` is built from for ``provider``, in words, for the pages."""
    info = feature_info(name)
    have = _check_provider(provider)
    missing = missing_concepts(info.name, provider)
    if missing:
        return f"Not available from {provider}: its data has no {' or '.join(missing)}."
    needs = FEATURE_NEEDS.get(info.name, ())
    parts = [CONCEPT_SOURCES.get(c, {}).get(provider) or CONCEPTS[c] for c in needs]
    text = "; ".join(parts) if parts else "passes, shots and event locations and times"
    concept, note = FEATURE_NOTES.get(info.name, ("", ""))
    noted = f" Note: {note}." if concept and concept not in have else ""
    differs = PROVIDER_FEATURE_NOTES.get(info.name, {}).get(provider)
    noted += f" Not comparable with StatsBomb's: {differs}." if differs else ""
    return f"Built from {text} ({provider}).{noted}"
