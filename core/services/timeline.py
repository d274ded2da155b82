"""A run's timeline: every window's (smoothed) state in sequence order, and a match's events.

The latent states come from :mod:`core.services.states`, fitted on the run's distinct
dimensions only; :class:`RunTimeline` says which (``dims_used``) and carries the one-axis
flag for a run with a single distinct dimension. The sequence maths (ordering, switches,
transition counts, the HMM smoothing, match markers) is :mod:`core.analysis.timeline`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from core.analysis.timeline import (
    DEFAULT_NOISE,
    Smoothing,
    order_sequences,
    sequences_of,
    smooth_states,
    transition_counts,
)
from core.errors import TimelineError
from core.features.datasets import Dataset
from core.model.latents import latent_columns
from core.services.states import get_states, states_frame

if TYPE_CHECKING:
    from core.runs.store import Run


@dataclass(frozen=True)
class RunTimeline:
    """A run's segments with (smoothed) states, the smoothing model, and its events."""

    frame: pl.DataFrame  # latents + state, state_label, state_prob (+ smoothed_state)
    smoothing: Smoothing | None
    observed_transitions: np.ndarray  # (K, K) counts of consecutive window states
    n_states: int
    labels: pl.DataFrame  # state, label
    dims_used: list[str] = field(default_factory=list)  # latent dims the states are fitted on
    one_axis_message: str | None = None  # "the states are slices of one axis (z0)", or None


def run_timeline(
    run: Run, *, space: str = "latent", smooth: bool = False, noise: float = DEFAULT_NOISE
) -> RunTimeline:
    """States of every window of ``run`` in sequence order, optionally HMM-smoothed.

    The frame keeps only the latent columns the states were fitted on (the run's distinct
    dims).
    """
    result = get_states(run)
    n_states = int(result.summary[space]["best_k"])
    frame = order_sequences(states_frame(run, result, space=space))
    dims = result.dims_used
    if dims:
        frame = frame.drop([c for c in latent_columns(frame.columns) if c not in dims])
    states, lengths = sequences_of(frame)
    smoothing = None
    if smooth:
        smoothing = smooth_states(states, lengths, n_states, noise=noise)
        frame = frame.with_columns(pl.Series("smoothed_state", smoothing.smoothed))
    return RunTimeline(
        frame=frame,
        smoothing=smoothing,
        observed_transitions=transition_counts(states, lengths, n_states),
        n_states=n_states,
        labels=result.labels.filter(pl.col("space") == space).select("state", "label"),
        dims_used=dims,
        one_axis_message=result.one_axis_message if space == "latent" else None,
    )


def load_events(run: Run, match_id: int) -> pl.DataFrame:
    """The compact events of one match from the run's dataset folder (``events.parquet``)."""
    path = Dataset.of_features(run.features_path).events_path
    if not path.exists():
        raise TimelineError(
            f"{path} not found: the run's dataset has no events.parquet. Re-extract the "
            "features with `python -m core features` to get goals and substitutions."
        )
    return pl.scan_parquet(path).filter(pl.col("match_id") == match_id).collect()
