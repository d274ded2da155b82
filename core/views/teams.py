"""What the Team fingerprints page reads and draws: the teams and segments the sidebar's
filters keep, their fingerprints (overall or per match), state-share and mean-position
charts, and the segments offered for "similar segments"."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import plotly.graph_objects as go
import polars as pl

from core.analysis.timeline import match_minute
from core.model.latents import latent_columns
from core.runs.store import Run
from core.services.fingerprints import TeamView, team_view
from core.views.palettes import QUALITATIVE
from core.views.table import Filters, filter_frame


@dataclass(frozen=True)
class TeamScope:
    """A run's teams as the sidebar's filters leave them.

    ``view`` holds every team in the scope of the competition, match, period and
    score-state filters (the candidates of "similar segments"); ``shown`` only the teams
    the team filter keeps (every team without one): whose fingerprints the page draws.
    """

    view: TeamView
    shown: TeamView
    overall: pl.DataFrame  # fingerprints of the shown teams, one row per team
    team_name: dict[int, str]  # every team of ``view``
    total: int  # all the run's segments

    @property
    def pool(self) -> pl.DataFrame:
        return self.view.segments

    @property
    def frame(self) -> pl.DataFrame:
        return self.shown.segments

    @property
    def teams(self) -> list[int]:
        """The shown teams, in fingerprint order."""
        return [int(t) for t in self.overall["team_id"].to_list()]

    @property
    def pool_teams(self) -> list[int]:
        """Every team of the scope, by name."""
        return sorted(self.team_name, key=lambda t: self.team_name[t])

    def fingerprints(
        self, match_labels: Mapping[int, str], *, per_match: bool, show_all: bool
    ) -> tuple[pl.DataFrame, list[str]]:
        """The shown teams' fingerprints (per team, or per team and match) and a row name
        for each: ``"Italy"``, or ``"Italy · Turkey 0-3 Italy · ..."`` per match."""
        if not per_match:
            names = [str(self.team_name.get(t, t)) for t in self.teams]
            return self.overall, names
        fp = self.shown.fingerprints(per_match=True, show_all=show_all)
        names = [
            f"{self.team_name.get(t, t)} · {match_labels.get(m, m)}"
            for t, m in zip(fp["team_id"].to_list(), fp["match_id"].to_list(), strict=True)
        ]
        return fp, names

    def pair(self, team_a: int, team_b: int) -> tuple[pl.DataFrame, list[str]]:
        """The fingerprints of two shown teams (in fingerprint order) and their names."""
        fp = self.overall.filter(pl.col("team_id").is_in([team_a, team_b]))
        return fp, [str(self.team_name.get(t, t)) for t in fp["team_id"].to_list()]


def team_scope(run: Run, filters: Filters, *, show_all: bool = False) -> TeamScope:
    """The run's teams under the sidebar's ``filters``: every filter narrows the segments,
    the team filter picks whose fingerprints are shown."""
    scope = filters.without("team_ids")
    narrow: Callable[[pl.DataFrame], pl.DataFrame] | None = (
        (lambda f: filter_frame(f, scope)) if scope.active else None
    )
    view = team_view(run, narrow=narrow, show_all=show_all)
    shown = replace(view, segments=filter_frame(view.segments, filters.only("team_ids")))
    names = view.segments.select("team_id", "team_name").unique("team_id")
    return TeamScope(
        view=view,
        shown=shown,
        overall=shown.fingerprints(show_all=show_all),
        team_name={int(t): str(n) for t, n in names.iter_rows()},
        total=run.latents().height,
    )


def match_labels(meta: pl.DataFrame) -> dict[int, str]:
    """Match id -> label, from a segment table's metadata."""
    if "match_label" not in meta.columns:
        return {}
    return dict(meta.select("match_id", "match_label").unique("match_id").iter_rows())


def share_figure(
    fp: pl.DataFrame, names: Sequence[str], labels: Mapping[int, str], n_states: int, title: str
) -> go.Figure:
    """Stacked bars: each row's share of windows in each state."""
    fig = go.Figure()
    for s in range(n_states):
        fig.add_trace(
            go.Bar(
                y=list(names),
                x=fp[f"share_{s}"].to_list(),
                orientation="h",
                name=f"{s}: {labels.get(s, s)}",
                marker_color=QUALITATIVE[s % len(QUALITATIVE)],
                hovertemplate="%{y}<br>%{x:.0%}" + f" in state {s}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        title={"text": title, "y": 0.98, "yanchor": "top"},
        xaxis={"title": "share of windows", "tickformat": ".0%", "range": [0, 1]},
        height=190 + 32 * len(names),
        # Above the bars, clear of the axis title below them.
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
        yaxis={"autorange": "reversed"},
    )
    return fig


def means_figure(
    comparison: pl.DataFrame, names: tuple[str, str], dim_label: Callable[[str], str]
) -> go.Figure:
    """Grouped bars: two teams' mean latent position (the ``*_mean`` rows of
    ``compare_teams``), each dimension named by ``dim_label``."""
    means = comparison.filter(pl.col("quantity").str.ends_with("_mean"))
    dims = [dim_label(q.removesuffix("_mean")) for q in means["quantity"].to_list()]
    fig = go.Figure()
    for col, name, colour in (
        ("team_a", names[0], QUALITATIVE[0]),
        ("team_b", names[1], QUALITATIVE[2]),
    ):
        fig.add_trace(go.Bar(x=dims, y=means[col].to_list(), name=name, marker_color=colour))
    fig.update_layout(
        barmode="group",
        title="Mean latent position",
        yaxis_title="mean code",
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def segment_choices(frame: pl.DataFrame, team_id: int, labels: Mapping[int, str]) -> dict[str, str]:
    """One team's segments in match order, id -> ``"<match> · 12' · state 3"``."""
    own = frame.filter(pl.col("team_id") == team_id).sort("match_id", "period", "start_time")
    own = own.with_columns(match_minute(pl.col("period"), pl.col("start_time")).alias("_minute"))
    return {
        str(sid): f"{labels.get(m, m)} · {minute:.0f}' · state {s}"
        for sid, m, minute, s in own.select(
            "segment_id", "match_id", "_minute", "state"
        ).iter_rows()
    }


def similar_table(
    view: TeamView, segment_id: str, team_id: int, n: int, labels: Mapping[int, str]
) -> pl.DataFrame:
    """The ``n`` segments of ``team_id`` nearest ``segment_id`` (distinct dims), with their
    match label and minute, nearest first."""
    near = view.similar(segment_id, team_id=int(team_id), n=n)
    near = near.with_columns(
        pl.col("match_id").replace_strict(dict(labels), default=None).alias("match"),
        match_minute(pl.col("period"), pl.col("start_time")).alias("minute"),
    )
    return near.select(
        "distance",
        "match",
        "minute",
        "state",
        "state_label",
        "segment_id",
        *latent_columns(near.columns),
    )
