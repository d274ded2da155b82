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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from core.errors import FingerprintError
from core.model.latents import latent_columns

if TYPE_CHECKING:
    from core.runs.store import Run


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


@dataclass(frozen=True)
class TeamView:
    """A run's segments with their tactical state (latent mixture), for team comparisons.

    ``dims`` are the latent columns fingerprints and distances use (the run's distinct
    dims); ``segments`` holds only those z columns unless the view was made with
    ``show_all=True``, when it holds every z column (``dim_status`` says what each is).
    """

    segments: pl.DataFrame  # states_frame rows: metadata, z columns, state, prob
    labels: pl.DataFrame  # state, label, n, share, top_features of the space
    n_states: int
    dims: list[str] = field(default_factory=list)  # distinct dims, most informative first
    dim_status: dict[str, str] = field(default_factory=dict)  # z column -> status
    one_axis_message: str | None = None  # "the states are slices of one axis (z0)"

    def fingerprints(self, *, per_match: bool = False, show_all: bool = False) -> pl.DataFrame:
        """Fingerprints per team, or per team and match: mean codes of ``dims`` (of every
        z column of ``segments`` with ``show_all``) and state shares."""
        by = ("team_id", "match_id") if per_match else ("team_id",)
        return team_fingerprints(
            self.segments, self.segments["state"], self.n_states, by=by, dims=self._dims(show_all)
        )

    def similar(self, segment_id: str, *, team_id: int | None = None, n: int = 10) -> pl.DataFrame:
        """:func:`similar_segments` among the view's segments, on its distinct dims."""
        return similar_segments(
            self.segments, segment_id, team_id=team_id, n=n, dims=self._dims(False)
        )

    def _dims(self, show_all: bool) -> list[str] | None:
        if not self.dims:
            return None
        if not show_all:
            return list(self.dims)
        rest = [c for c in latent_columns(self.segments.columns) if c not in self.dims]
        return [*self.dims, *rest]


def team_view(
    run: Run,
    *,
    space: str = "latent",
    narrow: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    show_all: bool = False,
) -> TeamView:
    """The run's segments and states (computed and cached on first use), narrowed by
    ``narrow`` (e.g. a page's filters) before any fingerprint is taken.

    The segments keep only the run's distinct latent columns (the dims its states were
    fitted on), or every latent column with ``show_all``.
    """
    from core.analysis.states import get_states, states_frame

    result = get_states(run)
    frame = states_frame(run, result, space=space)
    dims = result.dims_used
    status = dict(result.summary.get("dim_status", {}))
    if dims and not show_all:
        frame = frame.drop([c for c in latent_columns(frame.columns) if c not in dims])
    if narrow is not None:
        frame = narrow(frame)
    return TeamView(
        segments=frame,
        labels=result.labels.filter(pl.col("space") == space),
        n_states=int(result.summary[space]["best_k"]),
        dims=dims,
        dim_status=status,
        one_axis_message=result.one_axis_message if space == "latent" else None,
    )


def run_fingerprints(
    run: Run, *, space: str = "latent", per_match: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A run's team fingerprints (per team, or per team and match) and its state labels."""
    view = team_view(run, space=space)
    return view.fingerprints(per_match=per_match), view.labels
