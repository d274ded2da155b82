"""Team fingerprints: where a team sits in latent space and how it spends its time in states.

Pure polars/numpy over a run's latents (``segment_id``, ``team_id``, ``team_name``,
``match_id``, ``z0..z{k-1}``) and one state per segment; :func:`run_fingerprints` wires
them to a run and its cached states.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from core.errors import FingerprintError
from core.model.latents import latent_columns

if TYPE_CHECKING:
    from core.runs.store import Run


def _latent_columns(latents: pl.DataFrame) -> list[str]:
    """The ``z0..z{k-1}`` columns of a latents table, in order (an error when there are none)."""
    cols = latent_columns(latents.columns)
    if not cols:
        raise FingerprintError(
            f"No latent columns z0..z(k-1) among {latents.columns[:12]}; pass a run's latents()."
        )
    return cols


def team_fingerprints(
    latents: pl.DataFrame,
    states: np.ndarray | pl.Series | Sequence[int],
    n_states: int,
    *,
    by: Sequence[str] = ("team_id",),
) -> pl.DataFrame:
    """Mean latent position and state shares per group (a team, or team and match).

    Returns one row per group with ``by`` columns, ``team_name`` (when present),
    ``n_segments``, ``z<i>_mean`` for every latent and ``share_<s>`` for every state
    ``0..n_states-1`` (shares of a row sum to 1).
    """
    missing = [c for c in by if c not in latents.columns]
    if missing:
        raise FingerprintError(f"latents lack grouping column(s) {missing}.")
    st = np.asarray(states, dtype=np.int64)
    if st.shape[0] != latents.height:
        raise FingerprintError(
            f"{st.shape[0]} states for {latents.height} segments; pass one state per segment."
        )
    if st.size and (st.min() < 0 or st.max() >= n_states):
        raise FingerprintError(f"states must lie in 0..{n_states - 1}, got {st.min()}..{st.max()}.")
    zs = _latent_columns(latents)
    frame = latents.with_columns(pl.Series("_state", st))
    aggs: list[pl.Expr] = [pl.len().alias("n_segments")]
    if "team_name" in latents.columns and "team_name" not in by:
        aggs.append(pl.col("team_name").first())
    aggs += [pl.col(z).mean().alias(f"{z}_mean") for z in zs]
    aggs += [(pl.col("_state") == s).mean().alias(f"share_{s}") for s in range(n_states)]
    return frame.group_by(list(by), maintain_order=True).agg(aggs).sort(list(by))


def compare_teams(fingerprints: pl.DataFrame, team_a: int, team_b: int) -> pl.DataFrame:
    """Two teams' fingerprints side by side: ``quantity, team_a, team_b, difference``."""
    rows = {}
    for team in (team_a, team_b):
        hit = fingerprints.filter(pl.col("team_id") == team)
        if hit.height != 1:
            raise FingerprintError(
                f"team_id {team} has {hit.height} fingerprint rows; expected one (overall "
                "fingerprints grouped by team_id)."
            )
        rows[team] = hit
    quantities = [c for c in fingerprints.columns if c.endswith("_mean") or c.startswith("share_")]
    a = rows[team_a].select(quantities).row(0)
    b = rows[team_b].select(quantities).row(0)
    va = np.asarray(a, dtype=np.float64)
    vb = np.asarray(b, dtype=np.float64)
    return pl.DataFrame({"quantity": quantities, "team_a": va, "team_b": vb, "difference": va - vb})


def similar_segments(
    latents: pl.DataFrame,
    segment_id: str,
    *,
    team_id: int | None = None,
    n: int = 10,
) -> pl.DataFrame:
    """The ``n`` segments closest to ``segment_id`` in latent space (Euclidean on z).

    With ``team_id``, only that team's segments are candidates (the selected segment itself
    is never returned). Adds ``distance`` and sorts by it.
    """
    from core.analysis.latents import nearest_segments

    zs = _latent_columns(latents)
    hit = latents.filter(pl.col("segment_id") == segment_id)
    if hit.height == 0:
        raise FingerprintError(f"segment {segment_id!r} is not in this run's latents.")
    cands = latents.filter(pl.col("segment_id") != segment_id)
    if team_id is not None:
        cands = cands.filter(pl.col("team_id") == team_id)
        if cands.height == 0:
            raise FingerprintError(f"team_id {team_id} has no segments in this run.")
    # The query goes last so its row is known; nearest_segments excludes it.
    Z = np.vstack([cands.select(zs).to_numpy(), hit.select(zs).to_numpy()[:1]])
    rows, dist = nearest_segments(Z, cands.height, k=n)
    return cands[rows].with_columns(pl.Series("distance", dist))


@dataclass(frozen=True)
class TeamView:
    """A run's segments with their tactical state (latent mixture), for team comparisons."""

    segments: pl.DataFrame  # states_frame rows: metadata, z0..z{k-1}, state, prob
    labels: pl.DataFrame  # state, label, n, share, top_features of the space
    n_states: int

    def fingerprints(self, *, per_match: bool = False) -> pl.DataFrame:
        """Fingerprints per team, or per team and match."""
        by = ("team_id", "match_id") if per_match else ("team_id",)
        return team_fingerprints(self.segments, self.segments["state"], self.n_states, by=by)


def team_view(
    run: Run,
    *,
    space: str = "latent",
    narrow: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> TeamView:
    """The run's segments and states (computed and cached on first use), narrowed by
    ``narrow`` (e.g. a page's filters) before any fingerprint is taken."""
    from core.analysis.states import get_states, states_frame

    result = get_states(run)
    frame = states_frame(run, result, space=space)
    if narrow is not None:
        frame = narrow(frame)
    return TeamView(
        segments=frame,
        labels=result.labels.filter(pl.col("space") == space),
        n_states=int(result.summary[space]["best_k"]),
    )


def run_fingerprints(
    run: Run, *, space: str = "latent", per_match: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A run's team fingerprints (per team, or per team and match) and its state labels."""
    view = team_view(run, space=space)
    return view.fingerprints(per_match=per_match), view.labels
