"""The team report drawn with matplotlib (mplsoccer for the pitch): PNG figures and a PDF.

Static figures, because the report leaves the app: a coach prints it or drops it into
slides. Every figure and every PDF page carries the data credit StatsBomb's licence asks
for. Figures are bare ``matplotlib.figure.Figure`` objects (no pyplot), so drawing in a
server thread touches no global state.
"""

from __future__ import annotations

import io
import textwrap
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib as mpl
import numpy as np
import polars as pl
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter
from mplsoccer import Pitch

from core.analysis.timeline import matches_markers
from core.data.opendata import CREDIT
from core.errors import TimelineError
from core.views.palettes import QUALITATIVE
from core.views.pitch import EVENT_STYLES, event_kind
from core.views.report import TeamReport, moment_events

A4_LANDSCAPE = (11.69, 8.27)  # inches
PNG_DPI = 150  # the figures' files (zip): print quality
SCREEN_DPI = 100  # on the page: 10-11 inch figures drawn 1000-1100 px wide, as shown
_POINT_MARKERS = {"pressure": "x", "shot": "*", "goal": "*"}
_LINE_KINDS = ("pass_complete", "pass_incomplete", "carry", "shot", "goal")


@contextmanager
def _style() -> Iterator[None]:
    """Readable print defaults, without touching the process-wide matplotlib state."""
    with mpl.rc_context(
        {
            "font.size": 10,
            "axes.titlesize": 12,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "pdf.fonttype": 3,
        }
    ):
        yield


def _figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _credit(fig: Figure) -> None:
    fig.text(0.01, 0.008, CREDIT, fontsize=7, color="#555555", ha="left", va="bottom")


MANY_MATCHES = 20  # beyond it the timeline's rows are thinner and their labels one line
TIMELINE_TOP_IN, TIMELINE_BOTTOM_IN = 0.6, 1.7  # the title above; axis and legend below
LEGEND_GAP_IN = 0.55  # from the timeline's axes down to its legend: tick labels and axis title


def _colour(state: int) -> str:
    return QUALITATIVE[state % len(QUALITATIVE)]


# --- the three drawings, each on given axes ---------------------------------------------


def draw_shares(ax: Axes, report: TeamReport) -> None:
    """Grouped horizontal bars: the team's state shares beside its opponent's and the average."""
    shares = report.shares
    y = np.arange(shares.height)
    groups = (
        ("team", report.team_name, "#1f4e79"),
        ("opponent", report.opponent_name, "#c0504d"),
        ("competition", f"average team ({report.competition})", "#9a9a9a"),
    )
    h = 0.26
    for i, (col, name, colour) in enumerate(groups):
        values = shares[col].to_numpy()
        bars = ax.barh(y + (i - 1) * h, values, height=h, color=colour, label=name)
        ax.bar_label(bars, labels=[f"{v:.0%}" for v in values], padding=2, fontsize=8)
    ax.set_yticks(y, [textwrap.fill(label, 30) for label in shares["label"].to_list()])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("share of windows in each state")
    ax.set_title(f"How {report.team_name} spent its time ({report.scope})", loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.4, -0.18), ncol=3, frameon=False)


def draw_timeline(ax: Axes, report: TeamReport, events: pl.DataFrame | None = None) -> None:
    """One row per match: the team's windows coloured by state, match minute on x; with
    ``events``, the goals too (filled star: the team's, open star: the opponent's).

    Every bar is one rectangle of a single collection and the goals are two scatters, however
    many matches (a season's team has 40-80): a few artists to draw, not hundreds."""
    tl = report.timeline
    matches = tl.select("match_id", "match_label").unique("match_id", maintain_order=True)
    row_of = {int(m): row for row, m in enumerate(matches["match_id"].to_list())}
    ordered = tl.with_columns(
        pl.col("match_id").replace_strict(row_of, return_dtype=pl.Int64).alias("_row")
    ).sort("_row", maintain_order=True)
    rows = ordered["_row"].to_numpy()
    start = ordered["start_minute"].to_numpy().astype(float)
    stop = ordered["end_minute"].to_numpy().astype(float)
    # Windows overlap; draw each up to the next one's start (same match) so the bars tile it.
    nxt = np.append(start[1:], np.inf)
    nxt[np.append(rows[1:] != rows[:-1], True)] = np.inf
    end = np.where((nxt > start) & (nxt < stop), nxt, stop)
    bars = [
        [(a, r - 0.35), (b, r - 0.35), (b, r + 0.35), (a, r + 0.35)]
        for a, b, r in zip(start, end, rows, strict=True)
    ]
    colours = [_colour(int(s)) for s in ordered["state"].to_list()]
    ax.add_collection(PolyCollection(bars, facecolors=colours, edgecolors="none"))
    goals = _goals(events, list(row_of))
    if goals is not None and goals.height:
        goals = goals.with_columns(
            pl.col("match_id").replace_strict(row_of, return_dtype=pl.Int64).alias("_row")
        )
        _draw_goals(ax, goals, report.team_id)
    few = matches.height <= MANY_MATCHES  # else a season's rows: one smaller line each
    ax.set_yticks(
        range(matches.height),
        [textwrap.fill(str(m), 32) if few else textwrap.shorten(str(m), 44) for m in
         matches["match_label"]],
        fontsize=None if few else 7,
    )  # fmt: skip
    ax.set_ylim(matches.height - 0.5, -0.5)
    ax.set_xlabel("match minute")
    last = tl["end_minute"].to_numpy()
    ax.set_xlim(0, max(95.0, float(np.nanmax(last)) + 1.0 if last.size else 95.0))
    ax.set_title(f"{report.team_name}'s states, match by match", loc="left")
    handles: list[Artist] = [
        Patch(color=_colour(s), label=textwrap.shorten(f"{s}: {lab}", 60))
        for s, lab in report.labels.items()
    ]
    if events is not None:
        handles += [
            Line2D([], [], marker="*", color="black", linestyle="", markersize=11, label="goal"),
            Line2D([], [], marker="*", markerfacecolor="white", markeredgecolor="black",
                   linestyle="", markersize=11, label="goal conceded"),
        ]  # fmt: skip
    # Below the minute axis, the same distance however tall the axes are (in inches).
    axes_in = ax.get_position().height * ax.get_figure().get_figheight()  # type: ignore[union-attr]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.4, -LEGEND_GAP_IN / axes_in),
        ncol=min(len(handles), 3),
        frameon=False,
        fontsize=8,
    )


def _goals(events: pl.DataFrame | None, match_ids: list[int]) -> pl.DataFrame | None:
    """The goals of ``match_ids``, None without events (or without the columns they need:
    the states still show)."""
    if events is None or not events.height:
        return None
    try:
        return matches_markers(events, match_ids).filter(pl.col("kind") != "substitution")
    except TimelineError:
        return None


def _draw_goals(ax: Axes, goals: pl.DataFrame, team_id: int) -> None:
    """The goals on their match's row (``_row``): the team's filled, the opponent's open."""
    for ours, face in ((True, "black"), (False, "white")):
        part = goals.filter((pl.col("team_id") == team_id) == ours)
        if part.height:
            ax.scatter(part["minute"].to_numpy(), part["_row"].to_numpy(), marker="*", s=160,
                       facecolors=face, edgecolors="black", linewidths=1.0, zorder=5)  # fmt: skip


def _draw_events(pitch: Pitch, ax: Axes, events: pl.DataFrame) -> None:
    """Passes (arrows), carries (dotted), shots (lines + star), pressures (crosses)."""
    if events.is_empty():
        return
    frame = events.with_columns(event_kind(events["type"], events["outcome"]).alias("_kind"))
    frame = frame.filter(
        pl.col("_kind").is_not_null() & pl.col("x").is_not_null() & pl.col("y").is_not_null()
    )
    for kind, style in EVENT_STYLES.items():
        part = frame.filter(pl.col("_kind") == kind)
        if part.is_empty():
            continue
        x = part["x"].to_numpy().astype(float)
        y = part["y"].to_numpy().astype(float)
        ex = part["end_x"].fill_null(float("nan")).to_numpy().astype(float)
        ey = part["end_y"].fill_null(float("nan")).to_numpy().astype(float)
        line = np.isfinite(ex) & np.isfinite(ey) & (kind in _LINE_KINDS)
        if kind.startswith("pass") and line.any():
            pitch.arrows(x[line], y[line], ex[line], ey[line], ax=ax, color=style.color,
                         width=1.2, headwidth=4, headlength=4, zorder=3)  # fmt: skip
        elif line.any():
            pitch.lines(x[line], y[line], ex[line], ey[line], ax=ax, color=style.color, lw=1.2,
                        linestyle="dotted" if kind == "carry" else "solid", zorder=2)  # fmt: skip
        points = np.ones_like(line) if kind in _POINT_MARKERS else ~line
        if points.any():
            pitch.scatter(x[points], y[points], ax=ax, color=style.color,
                          marker=_POINT_MARKERS.get(kind, "o"),
                          s=70 if kind in ("shot", "goal") else 25, zorder=4)  # fmt: skip


def _segment_title(row: dict[str, object], what: str) -> str:
    minute = float(str(row.get("minute") or 0.0))
    state = row.get("state_label") or f"state {row.get('state')}"
    return textwrap.fill(f"{what}: {row.get('match_label')} · {minute:.0f}' · {state}", 58)


def draw_segments(
    fig: Figure,
    report: TeamReport,
    events: pl.DataFrame | None,
    rect: tuple[float, float, float, float] = (0.03, 0.1, 0.94, 0.78),
) -> None:
    """The most typical (top row) and most unusual (bottom row) segments, each on a pitch."""
    cols = max(report.typical.height, report.unusual.height, 1)
    pitch = Pitch(pitch_type="statsbomb", line_color="#9aa9a0", pitch_color="#f4f8f5", linewidth=1)
    left, bottom, width, height = rect
    cell_w, cell_h = width / cols, height / 2
    for r, (frame, what) in enumerate(
        ((report.typical, "Most typical"), (report.unusual, "Most unusual"))
    ):
        for c, row in enumerate(frame.iter_rows(named=True)):
            ax = fig.add_axes(
                (
                    left + c * cell_w + 0.01,
                    bottom + (1 - r) * cell_h + 0.01,
                    cell_w - 0.02,
                    cell_h - 0.07,
                )
            )
            pitch.draw(ax=ax)
            if events is not None and events.height:
                _draw_events(pitch, ax, moment_events(events, report.team_id, row))
            ax.set_title(_segment_title(row, what), fontsize=9, loc="left")
    if events is None:
        fig.text(0.5, 0.5, "No events file beside the features: the pitches stay empty.",
                 ha="center")  # fmt: skip
    handles = [Patch(color=s.color, label=s.label) for s in EVENT_STYLES.values()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
               bbox_to_anchor=(0.5, bottom - 0.07), fontsize=8)  # fmt: skip


# --- standalone figures (PNG) and the PDF -------------------------------------------------


def shares_figure(report: TeamReport) -> Figure:
    with _style():
        fig = _figure((10.0, 1.8 + 0.9 * report.shares.height))
        draw_shares(fig.add_axes((0.3, 0.3, 0.64, 0.58)), report)
        _credit(fig)
    return fig


def timeline_figure(report: TeamReport, events: pl.DataFrame | None = None) -> Figure:
    """The timeline at a height that grows with the matches only: fixed margins (title above,
    axis and legend below) and a row per match, thinner for a season's many rows."""
    n = report.timeline["match_id"].n_unique()
    row_in = 0.6 if n <= MANY_MATCHES else 0.3
    height = TIMELINE_TOP_IN + TIMELINE_BOTTOM_IN + row_in * n
    with _style():
        fig = _figure((10.0, height))
        axes = (0.28, TIMELINE_BOTTOM_IN / height, 0.68, row_in * n / height)
        draw_timeline(fig.add_axes(axes), report, events)
        _credit(fig)
    return fig


def segments_figure(report: TeamReport, events: pl.DataFrame | None) -> Figure:
    with _style():
        fig = _figure((11.0, 7.0))
        fig.suptitle(
            f"{report.team_name}: most typical and most unusual moments (attacking left to right)",
            x=0.03, ha="left", fontsize=12,
        )  # fmt: skip
        draw_segments(fig, report, events)
        _credit(fig)
    return fig


def report_figures(report: TeamReport, events: pl.DataFrame | None) -> dict[str, Figure]:
    """The report's three figures by file stem: ``shares``, ``timeline``, ``segments``."""
    return {
        "shares": shares_figure(report),
        "timeline": timeline_figure(report, events),
        "segments": segments_figure(report, events),
    }


def figure_png(fig: Figure, dpi: int = PNG_DPI) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _page(report: TeamReport, heading: str) -> Figure:
    fig = _figure(A4_LANDSCAPE)
    fig.text(0.04, 0.95, report.title, fontsize=18, weight="bold", va="top")
    fig.text(0.04, 0.905, heading, fontsize=10, color="#333333", va="top")
    _credit(fig)
    return fig


def report_pages(report: TeamReport, events: pl.DataFrame | None) -> list[Figure]:
    """The report's A4 landscape pages: words and shares, timeline, pitches."""
    scope = (
        f"{report.scope} · {report.n_segments} windows · states fitted on the model's "
        f"distinct dimensions ({', '.join(report.dims)})"
    )
    with _style():
        first = _page(report, scope)
        y = 0.84
        for sentence in report.sentences:
            for line in textwrap.wrap(sentence, 125):
                first.text(0.05, y, line, fontsize=12, va="top")
                y -= 0.032
            y -= 0.015
        top = y - 0.06
        draw_shares(first.add_axes((0.3, 0.16, 0.64, max(top - 0.16, 0.2))), report)
        second = _page(report, f"Timeline · {scope}")
        draw_timeline(second.add_axes((0.28, 0.35, 0.68, 0.48)), report, events)
        third = _page(
            report,
            "Most typical moments: nearest to the team's average position in the model; "
            "most unusual: farthest from it. Attacking left to right.",
        )
        draw_segments(third, report, events, rect=(0.03, 0.12, 0.94, 0.76))
    return [first, second, third]


def report_pdf(report: TeamReport, events: pl.DataFrame | None) -> bytes:
    """The report as a 3-page A4 landscape PDF whose title names the team."""
    buf = io.BytesIO()
    meta = {"Title": report.title, "Subject": CREDIT, "Creator": "Tactical states"}
    with PdfPages(buf, metadata=meta) as pdf:
        for page in report_pages(report, events):
            pdf.savefig(page)
    return buf.getvalue()


def report_pngs(
    report: TeamReport, events: pl.DataFrame | None, dpi: int = PNG_DPI
) -> dict[str, bytes]:
    """The report's figures as PNG bytes by file stem (``SCREEN_DPI`` for the page)."""
    figures = report_figures(report, events)
    return {stem: figure_png(fig, dpi) for stem, fig in figures.items()}


def zip_pngs(report: TeamReport, pngs: dict[str, bytes]) -> bytes:
    """PNG figures in one zip (``<stem>.png``), with a README holding the words and credit."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for stem, png in pngs.items():
            zf.writestr(f"{stem}.png", png)
        zf.writestr("README.txt", "\n".join([report.title, *report.sentences, "", CREDIT]) + "\n")
    return buf.getvalue()


def report_pngs_zip(report: TeamReport, events: pl.DataFrame | None) -> bytes:
    """The report's figures as PNG files in one zip (``<stem>.png``), plus the credit."""
    return zip_pngs(report, report_pngs(report, events))
