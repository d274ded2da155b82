"""What the Match timeline page reads and draws: the matches and windows the sidebar's
filters keep, the state bars with goals and substitutions, and how states follow each other
(observed transition probabilities, the HMM's learned matrix)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import plotly.graph_objects as go
import polars as pl

from core.analysis.timeline import match_markers, match_timeline
from core.errors import TimelineError
from core.infra.arrays import FloatArray
from core.runs.store import Run
from core.services.timeline import RunTimeline, load_events
from core.views.palettes import QUALITATIVE
from core.views.table import Filters, filter_frame, filter_options

MARKER_SYMBOLS = (("goal", "star"), ("own goal", "star-open"), ("substitution", "triangle-down"))


# --- what the filters keep ----------------------------------------------------------------


def timeline_matches(meta: pl.DataFrame, filters: Filters) -> dict[int, str]:
    """The matches on offer (id -> label): those the competition and team filters keep (a
    team's own matches); the match filter only preselects among them."""
    scoped = filter_frame(meta, filters.only("competitions", "team_ids"))
    return filter_options(scoped, Filters()).matches


def match_windows(timeline: RunTimeline, match_id: int, filters: Filters) -> pl.DataFrame:
    """One match's windows (``match_timeline``) that the filters keep: the rows of the
    filtered teams that play in it (both teams when none does), the windows of the period
    and score-state filters."""
    windows = match_timeline(timeline.frame, int(match_id))
    present = set(windows["team_id"].to_list())
    scope = filters.only("team_ids", "periods", "score_states")
    scope = replace(scope, team_ids=tuple(t for t in scope.team_ids if t in present))
    return filter_frame(windows, scope)


def team_names(windows: pl.DataFrame) -> dict[int, str]:
    """Team id -> name of the teams in ``windows`` (the id as text without names), by id."""
    if "team_name" in windows.columns:
        teams = windows.select("team_id", "team_name").unique(maintain_order=True).sort("team_id")
        return {int(t): str(n) for t, n in teams.iter_rows()}
    return {int(t): str(t) for t in sorted(windows["team_id"].unique().to_list())}


def state_labels(timeline: RunTimeline) -> dict[int, str]:
    """State -> its label."""
    labels = timeline.labels
    return dict(zip(labels["state"].to_list(), labels["label"].to_list(), strict=True))


def match_events(
    run: Run, match_id: int, teams: Sequence[int]
) -> tuple[pl.DataFrame | None, str | None]:
    """Goals and substitutions of the match by ``teams``, or None and why they are missing.

    Events are optional context: no ``events.parquet`` or missing columns
    (:class:`TimelineError`), an unreadable (OSError) or corrupt (PolarsError) file give
    None and the reason, never an error.
    """
    try:
        markers = match_markers(load_events(run, int(match_id)), int(match_id))
    except (TimelineError, OSError, pl.exceptions.PolarsError) as exc:
        return None, str(exc)
    return markers.filter(pl.col("team_id").is_in(list(teams))), None


def markers_table(markers: pl.DataFrame, names: Mapping[int, str]) -> pl.DataFrame:
    """The goals and substitutions as rows: minute, team, kind, player."""
    return markers.with_columns(
        pl.col("team_id").replace_strict(dict(names), default=None).alias("team")
    ).select("minute", "team", "kind", "player_name")


# --- the state bars -------------------------------------------------------------------------


def timeline_figure(
    windows: pl.DataFrame,
    labels: Mapping[int, str],
    n_states: int,
    markers: pl.DataFrame | None = None,
    *,
    smoothed: bool = False,
) -> go.Figure:
    """One row of bars per team (and one of its smoothed states with ``smoothed``), each
    window coloured by its state; goals and substitutions as markers. A bar's customdata
    is ``(start minute, end minute, segment_id)``: what a click opens."""
    colour = {s: QUALITATIVE[s % len(QUALITATIVE)] for s in range(n_states)}
    names = team_names(windows)
    rows: list[tuple[int, str, str]] = []  # (team, column, row name)
    for t, name in names.items():
        rows.append((t, "state", name))
        if smoothed:
            rows.append((t, "smoothed_state", f"{name} · smoothed"))
    fig = go.Figure()
    shown_states: set[int] = set()
    for team_id, column, row_name in rows:
        part = windows.filter(pl.col("team_id") == team_id)
        for s in sorted(part[column].unique().to_list()):
            sel = part.filter(pl.col(column) == s)
            start = sel["start_minute"].to_numpy()
            fig.add_trace(
                go.Bar(
                    x=sel["draw_end_minute"].to_numpy() - start,
                    base=start,
                    y=[row_name] * sel.height,
                    orientation="h",
                    name=f"{s}: {labels.get(s, s)}",
                    legendgroup=str(s),
                    legendrank=s,
                    showlegend=s not in shown_states,
                    marker_color=colour[s],
                    customdata=np.stack(
                        [start, sel["end_minute"].to_numpy(), sel["segment_id"].to_numpy()],
                        axis=1,
                    ),
                    hovertemplate=f"{row_name}<br>%{{customdata[0]:.1f}}'-%{{customdata[1]:.1f}}'"
                    f"<br>state {s}: {labels.get(s, s)}<extra></extra>",
                )
            )
            shown_states.add(s)
    if markers is not None:
        _add_markers(fig, markers, names)
    fig.update_layout(
        barmode="overlay",
        height=170 + 70 * len(rows),
        xaxis_title="match minute",
        # Above the chart, clear of the axis title below it.
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        yaxis={"autorange": "reversed"},
    )
    return fig


def _add_markers(fig: go.Figure, markers: pl.DataFrame, names: Mapping[int, str]) -> None:
    for kind, symbol in MARKER_SYMBOLS:
        sel = markers.filter(pl.col("kind") == kind)
        if sel.height == 0:
            continue
        fig.add_trace(
            go.Scatter(
                x=sel["minute"].to_list(),
                y=[names.get(t, str(t)) for t in sel["team_id"].to_list()],
                mode="markers",
                name=kind,
                marker={"symbol": symbol, "size": 14 if "goal" in kind else 10, "color": "black"},
                customdata=sel["player_name"].fill_null("").to_list(),
                hovertemplate=f"{kind} %{{x:.0f}}'<br>%{{customdata}}<extra></extra>",
            )
        )


# --- how states follow each other -----------------------------------------------------------


def transition_probabilities(counts: np.ndarray) -> FloatArray:
    """Row-normalised transition counts: row = this window's state, column = the next
    window's; a state never followed by another has a row of zeros."""
    observed = np.asarray(counts, dtype=np.float64)
    totals = observed.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        probabilities = observed / totals
    return np.asarray(np.nan_to_num(probabilities), dtype=np.float64)


def transition_figure(
    matrix: np.ndarray, names: list[str], colorscale: str, title: str
) -> go.Figure:
    """Heatmap of a state transition matrix: row = from, column = to, probabilities 0-1."""
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            colorscale=colorscale,
            zmin=0,
            zmax=1,
            texttemplate="%{z:.2f}",
            hovertemplate="from %{y}<br>to %{x}<br>%{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        height=120 + 45 * len(names),
        yaxis={"autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig
