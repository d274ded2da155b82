"""Team fingerprints of a run: its segments with their states (cached), narrowed by a
page's filters, then the pure fingerprint maths of :mod:`core.analysis.fingerprints`.

Only the run's *distinct* latent dimensions are used (``run.dim_quality().distinct``, the
dims its states are fitted on): :func:`team_view` keeps those z columns (all of them with
``show_all=True``), so mean positions and distances between segments are not padded with
collapsed or duplicated dimensions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from core.analysis.fingerprints import similar_segments, team_fingerprints
from core.model.latents import latent_columns
from core.services.states import get_states, states_frame

if TYPE_CHECKING:
    from core.runs.store import Run


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
