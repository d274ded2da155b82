"""Match timelines: both teams' tactical states window by window, with goals and substitutions.

A team's windows in one match, in time order, form a state sequence. Optional smoothing
treats the mixture states as noisy observations of a hidden tactical state that tends to
persist: a categorical hidden Markov model (hmmlearn ``CategoricalHMM``) whose emission
matrix is fixed (the observed state is the hidden one with probability ``1 - noise``)
and whose start and transition probabilities are learned from every sequence of the run;
Viterbi then gives the smoothed sequence, and the learned transition matrix says how
sticky each state is and where it tends to go.

The latent states come from :mod:`core.services.states`, fitted on the run's distinct
dimensions only; :class:`RunTimeline` says which (``dims_used``) and carries the one-axis
flag for a run with a single distinct dimension.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from core.errors import TimelineError

logger = logging.getLogger(__name__)

# Match clock at the start of each period (minutes), as StatsBomb counts it.
PERIOD_START_MINUTE: dict[int, float] = {1: 0.0, 2: 45.0, 3: 90.0, 4: 105.0, 5: 120.0}
DEFAULT_NOISE = 0.3  # probability that a window's mixture state is not its hidden state
HMM_FIT_SAMPLE = 20_000  # windows (whole sequences) the transition matrix is learned from


def match_minute(period: pl.Expr, time_s: pl.Expr) -> pl.Expr:
    """Match clock in minutes from ``period`` and seconds into the period."""
    offset = period.replace_strict(PERIOD_START_MINUTE, default=0.0, return_dtype=pl.Float64)
    return offset + time_s / 60.0


def order_sequences(frame: pl.DataFrame) -> pl.DataFrame:
    """Segments sorted into per-(match, team) sequences in time order."""
    return frame.sort(["match_id", "team_id", "period", "start_time"])


def sequences_of(frame: pl.DataFrame, column: str = "state") -> tuple[np.ndarray, np.ndarray]:
    """``(values, lengths)`` of ``column`` over every (match, team) sequence, as hmmlearn wants.

    ``frame`` must already be ordered (see :func:`order_sequences`).
    """
    lengths = frame.group_by(["match_id", "team_id"], maintain_order=True).len()["len"].to_numpy()
    return frame[column].to_numpy(), lengths.astype(np.int64)


def count_switches(states: np.ndarray, lengths: Sequence[int] | np.ndarray | None = None) -> int:
    """Number of state changes between consecutive windows within each sequence."""
    s = np.asarray(states)
    if s.size < 2:
        return 0
    change = s[1:] != s[:-1]
    if lengths is not None:
        ends = np.cumsum(np.asarray(lengths))[:-1]  # first index of each next sequence
        change[ends - 1] = False  # a new sequence starting is not a switch
    return int(change.sum())


def transition_counts(
    states: np.ndarray, lengths: Sequence[int] | np.ndarray, n_states: int
) -> np.ndarray:
    """Observed (n_states, n_states) counts of state ``i`` followed by state ``j``."""
    s = np.asarray(states, dtype=np.int64)
    counts = np.zeros((n_states, n_states), dtype=np.int64)
    if s.size < 2:
        return counts
    keep = np.ones(s.size - 1, dtype=bool)
    ends = np.cumsum(np.asarray(lengths))[:-1]
    keep[ends - 1] = False
    np.add.at(counts, (s[:-1][keep], s[1:][keep]), 1)
    return counts


def _sequence_sample(
    states: np.ndarray, lengths: np.ndarray, size: int, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """Whole sequences drawn at random until about ``size`` windows (all when fewer)."""
    if states.size <= size:
        return states, lengths
    rng = np.random.default_rng(random_state)
    order = rng.permutation(lengths.size)
    keep = np.sort(order[: int(np.searchsorted(np.cumsum(lengths[order]), size)) + 1])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    idx = np.concatenate([np.arange(starts[i], starts[i] + lengths[i]) for i in keep])
    return states[idx], lengths[keep]


@dataclass(frozen=True)
class Smoothing:
    """A fitted sticky HMM over mixture states and the smoothed (Viterbi) states."""

    smoothed: np.ndarray  # (n,) hidden state per window, same order as the input
    transmat: np.ndarray  # (K, K) learned P(next hidden state | current)
    startprob: np.ndarray  # (K,)
    emission: np.ndarray  # (K, K) fixed P(observed state | hidden state)
    switches_before: int
    switches_after: int


def smooth_states(
    states: np.ndarray,
    lengths: Sequence[int] | np.ndarray,
    n_states: int,
    *,
    noise: float = DEFAULT_NOISE,
    n_iter: int = 30,
    random_state: int = 0,
) -> Smoothing:
    """Smooth state sequences with a categorical HMM (fixed emissions, learned transitions).

    ``noise`` is the chance that a window's observed state differs from its hidden state
    (spread evenly over the other states); larger values smooth more. The transitions are
    learned from a seeded sample of whole sequences (about ``HMM_FIT_SAMPLE`` windows);
    Viterbi then decodes every sequence.
    """
    from hmmlearn.hmm import CategoricalHMM

    s = np.asarray(states, dtype=np.int64)
    lens = np.asarray(lengths, dtype=np.int64)
    if s.ndim != 1 or lens.sum() != s.size or (lens <= 0).any():
        raise TimelineError(
            f"lengths (sum {int(lens.sum())}) must split the {s.size} states into non-empty sequences."
        )
    if not 0.0 <= noise < 1.0:
        raise TimelineError(f"noise must be in [0, 1), got {noise!r}.")
    if s.size and (s.min() < 0 or s.max() >= n_states):
        raise TimelineError(f"states must lie in 0..{n_states - 1}, got {s.min()}..{s.max()}.")
    if n_states == 1:
        return Smoothing(s.copy(), np.ones((1, 1)), np.ones(1), np.ones((1, 1)), 0, 0)
    off = noise / (n_states - 1)
    emission = np.full((n_states, n_states), off)
    np.fill_diagonal(emission, 1.0 - noise)
    stay = 0.8
    transmat = np.full((n_states, n_states), (1 - stay) / (n_states - 1))
    np.fill_diagonal(transmat, stay)
    model = CategoricalHMM(
        n_components=n_states,
        n_features=n_states,
        params="st",
        init_params="",
        n_iter=n_iter,
        random_state=random_state,
        implementation="scaling",  # ~7x faster than "log" here, same result
    )
    model.startprob_ = np.full(n_states, 1.0 / n_states)
    model.transmat_ = transmat
    model.emissionprob_ = emission
    X = s.reshape(-1, 1)
    fit_X, fit_lens = _sequence_sample(s, lens, HMM_FIT_SAMPLE, random_state)
    model.fit(fit_X.reshape(-1, 1), fit_lens)
    _, smoothed = model.decode(X, lens, algorithm="viterbi")
    smoothed = np.asarray(smoothed, dtype=np.int64)
    return Smoothing(
        smoothed=smoothed,
        transmat=np.asarray(model.transmat_),
        startprob=np.asarray(model.startprob_),
        emission=emission,
        switches_before=count_switches(s, lens),
        switches_after=count_switches(smoothed, lens),
    )


def match_markers(events: pl.DataFrame, match_id: int) -> pl.DataFrame:
    """Goals and substitutions of one match: ``minute, period, team_id, kind, player_name``.

    Goals are shots with outcome ``goal`` and own goals (``own_goal_for``, credited to the
    team that benefits); substitutions are ``substitution`` events (the player going off).
    """
    return matches_markers(events, [match_id]).drop("match_id")


def matches_markers(events: pl.DataFrame, match_ids: Sequence[int]) -> pl.DataFrame:
    """:func:`match_markers` of several matches in one pass over ``events`` (a season's
    events are millions of rows), with a ``match_id`` column first."""
    need = {"match_id", "period", "time_s", "team_id", "type", "outcome", "player_name"}
    missing = sorted(need - set(events.columns))
    if missing:
        raise TimelineError(f"events lack column(s) {missing}; pass the dataset's events.parquet.")
    ev = events.filter(pl.col("match_id").is_in(list(match_ids)) & (pl.col("period") <= 4))
    kind = (
        pl.when((pl.col("type") == "shot") & (pl.col("outcome") == "goal"))
        .then(pl.lit("goal"))
        .when(pl.col("type") == "own_goal_for")
        .then(pl.lit("own goal"))
        .when(pl.col("type") == "substitution")
        .then(pl.lit("substitution"))
    )
    return (
        ev.with_columns(
            kind.alias("kind"),
            match_minute(pl.col("period"), pl.col("time_s")).alias("minute"),
        )
        .filter(pl.col("kind").is_not_null())
        .select("match_id", "minute", "period", "time_s", "team_id", "kind", "player_name")
        .sort("match_id", "minute")
    )


def match_timeline(frame: pl.DataFrame, match_id: int) -> pl.DataFrame:
    """Both teams' windows of one match in time order with their state.

    ``frame`` is a run's latents with a ``state`` column (see
    :func:`core.services.states.states_frame`). Returns ``team_id, team_name, period, start_minute,
    end_minute, state`` (plus ``state_label``/``smoothed_state`` when present),
    ``segment_id`` and ``draw_end_minute`` (where the next window starts, for tiling bars).
    """
    rows = frame.filter(pl.col("match_id") == match_id)
    if rows.height == 0:
        raise TimelineError(f"match {match_id} has no segments in this run.")
    extra = [
        c
        for c in ("state_label", "smoothed_state", "state_prob", "score_state")
        if c in rows.columns
    ]
    end = match_minute(pl.col("period"), pl.col("end_time"))
    start = match_minute(pl.col("period"), pl.col("start_time"))
    return (
        rows.sort(["team_id", "period", "start_time"])
        .select(
            "segment_id",
            "team_id",
            *([c for c in ("team_name",) if c in rows.columns]),
            "period",
            start.alias("start_minute"),
            end.alias("end_minute"),
            "state",
            *extra,
        )
        .with_columns(
            # Windows overlap (e.g. 5 min every 2.5 min): a chart draws each one up to the
            # next window's start so the bars tile the match without hiding each other.
            pl.min_horizontal(
                pl.col("start_minute").shift(-1).over(["team_id", "period"]),
                pl.col("end_minute"),
            )
            .fill_null(pl.col("end_minute"))
            .alias("draw_end_minute")
        )
    )
