"""Match timelines: HMM smoothing, switch and transition counts, goals and substitutions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest

from core.analysis.timeline import (
    TimelineError,
    count_switches,
    match_markers,
    match_timeline,
    smooth_states,
    transition_counts,
)
from core.services.timeline import load_events, run_timeline

if TYPE_CHECKING:
    from core.runs.store import Run


def sticky_sequences(
    n_seq: int, length: int, k: int, *, stay: float, noise: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True sticky Markov sequences and a noisy observation of them (``noise`` flips)."""
    rng = np.random.default_rng(seed)
    n = n_seq * length
    jumps = rng.random(n) > stay
    jumps[::length] = True  # every sequence starts fresh
    starts = np.flatnonzero(jumps)
    values = rng.integers(k, size=starts.size)
    true = values[np.searchsorted(starts, np.arange(n), side="right") - 1]
    flip = rng.random(n) < noise
    observed = np.where(flip, rng.integers(k, size=n), true)
    return true, observed, np.full(n_seq, length)


def test_hmm_smoothing_reduces_switches_and_recovers_truth() -> None:
    true, observed, lengths = sticky_sequences(60, 40, 4, stay=0.93, noise=0.3)
    sm = smooth_states(observed, lengths, 4)
    assert sm.switches_before == count_switches(observed, lengths)
    assert sm.switches_after < sm.switches_before / 3
    assert (sm.smoothed == true).mean() > (observed == true).mean() + 0.1
    assert np.allclose(sm.transmat.sum(axis=1), 1.0)
    assert (np.diag(sm.transmat) > 0.8).all()  # the learned chain is sticky, like the truth
    assert sm.smoothed.shape == observed.shape


def test_smoothing_learns_from_a_sample_of_many_sequences() -> None:
    # 24,000 windows: the transitions are learned on ~20,000 of them, all are decoded.
    true, observed, lengths = sticky_sequences(600, 40, 6, stay=0.9, noise=0.25, seed=5)
    sm = smooth_states(observed, lengths, 6)
    assert sm.smoothed.shape == (24_000,)
    assert (sm.smoothed == true).mean() > 0.9 > (observed == true).mean()
    assert sm.switches_after < sm.switches_before / 3


def test_smoothing_keeps_a_clean_sequence() -> None:
    states = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0, 0, 0])
    sm = smooth_states(states, [states.size], 3, noise=0.05)
    assert sm.smoothed.tolist() == states.tolist()


def test_smoothing_refuses_bad_input() -> None:
    with pytest.raises(TimelineError, match="lengths"):
        smooth_states(np.zeros(5, dtype=int), [2, 2], 2)
    with pytest.raises(TimelineError, match=r"0\.\.1"):
        smooth_states(np.array([0, 2]), [2], 2)


def test_switches_and_transitions_stop_at_sequence_boundaries() -> None:
    states = np.array([0, 0, 1, 1, 2, 0, 0])
    lengths = [4, 3]  # [0 0 1 1] [2 0 0]: the 1 -> 2 step crosses sequences
    assert count_switches(states, lengths) == 2
    assert count_switches(states) == 3
    counts = transition_counts(states, lengths, 3)
    assert counts.tolist() == [[2, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert counts.sum() == states.size - len(lengths)


def _demo_shots_subs(match_id: int) -> tuple[dict[int, int], int]:
    """Goals per team and substitutions counted straight from the raw StatsBomb file."""
    from core.data.sources import demo_match_files

    files = [f for f in demo_match_files() if str(match_id) in str(f.events)]
    raw = json.loads(Path(files[0].events).read_text())
    goals: dict[int, int] = {}
    subs = 0
    for e in raw:
        t = e["type"]["name"]
        if e["period"] > 4:
            continue
        if (t == "Shot" and e["shot"]["outcome"]["name"] == "Goal") or t == "Own Goal For":
            goals[e["team"]["id"]] = goals.get(e["team"]["id"], 0) + 1
        subs += t == "Substitution"
    return goals, subs


def test_goals_and_substitutions_of_a_real_match(demo_dataset: Path) -> None:
    events = pl.read_parquet(demo_dataset / "events.parquet")
    markers = match_markers(events, 3788741)  # Turkey 0-3 Italy, Euro 2020
    goals = markers.filter(pl.col("kind").is_in(["goal", "own goal"]))
    assert goals.height == 3
    assert goals["team_id"].n_unique() == 1  # all Italy's (one an own goal by Turkey)
    assert markers.filter(pl.col("kind") == "own goal").height == 1
    assert (goals["minute"] > 45).all()  # all three came in the second half
    expected_goals, _ = _demo_shots_subs(3788741)
    assert dict(goals.group_by("team_id").len().iter_rows()) == expected_goals
    assert markers["minute"].is_sorted()
    with pytest.raises(TimelineError, match="events lack"):
        match_markers(events.drop("outcome"), 3788741)


def test_substitutions_of_a_real_match(demo_dataset: Path) -> None:
    events = pl.read_parquet(demo_dataset / "events.parquet")
    markers = match_markers(events, 3788741)
    _, expected_subs = _demo_shots_subs(3788741)
    assert expected_subs == 9
    assert markers.filter(pl.col("kind") == "substitution").height == expected_subs


def test_run_timeline_for_a_match(demo_run: Run) -> None:
    tl = run_timeline(demo_run, smooth=True)
    assert tl.smoothing is not None
    assert tl.smoothing.switches_after <= tl.smoothing.switches_before
    assert tl.smoothing.transmat.shape == (tl.n_states, tl.n_states)
    assert (
        tl.observed_transitions.sum()
        == tl.frame.height - tl.frame.select(pl.struct("match_id", "team_id").n_unique()).item()
    )
    match_id = int(tl.frame["match_id"][0])
    timeline = match_timeline(tl.frame, match_id)
    assert timeline["team_id"].n_unique() == 2  # both teams
    assert timeline.height == demo_run.latents().filter(pl.col("match_id") == match_id).height
    assert (timeline["end_minute"] > timeline["start_minute"]).all()
    assert "smoothed_state" in timeline.columns and "state_label" in timeline.columns
    first_half = timeline.filter(pl.col("period") == 1)
    assert first_half["start_minute"].min() == pytest.approx(0.0)
    events = load_events(demo_run, match_id)
    assert events["match_id"].unique().to_list() == [match_id]
    with pytest.raises(TimelineError, match="no segments"):
        match_timeline(tl.frame, -1)
