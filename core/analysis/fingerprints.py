"""Team fingerprints: where a team sits in latent space and how it spends its time in states.

Pure polars/numpy over a run's latents (``segment_id``, ``team_id``, ``team_name``,
``match_id``, ``z0..z{k-1}``) and one state per segment; :func:`run_fingerprints` wires
them to a run and its cached states.

On a run, only its *distinct* latent dimensions are used (``run.dim_quality().distinct``,
the dims its states are fitted on): :func:`team_view` keeps those z columns (all of them
with ``show_all=True``), so mean positions and distances between segments are not padded
with collapsed or duplicated dimensions. The pure functions take ``dims`` to choose the
columns, all latent columns when it is None.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from core.errors import FingerprintError
from core.model.latents import latent_columns


def _latent_columns(latents: pl.DataFrame, dims: Sequence[str] | None = None) -> list[str]:
    """The latent columns to use: ``dims`` (checked), else every ``z<i>`` column in order.

    An error when there are none, or when a dim of ``dims`` is not a column.
    """
    if dims is not None:
        cols = list(dims)
        missing = [c for c in cols if c not in latents.columns]
        if missing:
            raise FingerprintError(
                f"latent dim(s) {missing} are not columns of the segments "
                f"({latent_columns(latents.columns)})."
            )
    else:
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
    dims: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Mean latent position and state shares per group (a team, or team and match).

    Returns one row per group with ``by`` columns, ``team_name`` (when present),
    ``n_segments``, ``z<i>_mean`` for every latent of ``dims`` (every latent column when
    None) and ``share_<s>`` for every state ``0..n_states-1`` (shares of a row sum to 1).
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
    zs = _latent_columns(latents, dims)
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
    dims: Sequence[str] | None = None,
) -> pl.DataFrame:
    """The ``n`` segments closest to ``segment_id`` in latent space (Euclidean on the
    latent columns ``dims``, every ``z<i>`` column of ``latents`` when None).

    With ``team_id``, only that team's segments are candidates (the selected segment itself
    is never returned). Adds ``distance`` and sorts by it.
    """
    from core.analysis.latents import nearest_segments

    zs = _latent_columns(latents, dims)
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
