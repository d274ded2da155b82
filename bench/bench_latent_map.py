"""Latent map at 100,000 segments: server time to build the map, and from a click to the inspector.

Replicates a real run's segments (latents, UMAP positions, features, metadata, events)
to 100,000 rows, then times what the Latent map page does on the server:

* ``table``: joining latents, projection and features into a ``SegmentTable`` (once per
  run and file version; cached by the page),
* ``map[...]``: colouring + ``latent_map_figure`` + what ``st.plotly_chart`` does with it
  (``return_figure_from_figure_or_data`` and ``plotly.io.to_json``), goal < 1.5 s,
* ``click``: summary, z-score profile, five nearest segments, the segment's events and the
  pitch drawing serialised, goal < 0.3 s,
* ``lasso``: comparing a 10,000-segment selection with the rest,
* ``page``: the whole Latent map page script (sidebar and filters included) run by
  Streamlit's AppTest over a copy of the run rewritten to 100,000 segments, first with a
  cold cache, then a rerun after a click (inspector open).

Uses the newest finished run under ``TACTICAL_RUNS_ROOT`` (``--run`` picks another); with
none, it builds the demo run in a temporary folder first (a minute or two).

    .venv/bin/python -m bench.bench_latent_map [--n 100000] [--run RUN_ID]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.io
import plotly.tools
import polars as pl

GOALS = {"map": 1.5, "click": 0.3}


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls, and the last result."""
    times = []
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def ensure_run(run_id: str | None) -> Any:
    from core.runs.store import get_run, list_runs

    if run_id:
        return get_run(run_id)
    done = [r for r in list_runs() if r.status().state == "done"]
    if done:
        return done[0]
    # No run yet: build the demo features and a small run in a throwaway root.
    root = Path(tempfile.mkdtemp(prefix="bench-latent-map-"))
    os.environ["TACTICAL_DATA_ROOT"] = str(root / "data")
    os.environ["TACTICAL_RUNS_ROOT"] = str(root / "runs")
    from core.features.extract import extract_features
    from core.infra.paths import datasets_root
    from core.model.config import PreprocessConfig, VAEConfig
    from core.pipeline.execute import execute_run
    from core.runs.store import create_run

    print(f"no finished run found: building the demo run in {root}", flush=True)
    out = datasets_root() / "demo"
    extract_features("demo", out)
    run, _ = create_run(
        out / "features.parquet",
        VAEConfig(latent_dim=8, hidden_dims=(64, 32), batch_size=64, n_epochs=30),
        PreprocessConfig(),
    )
    execute_run(run.run_id)
    return run


def _replicate(frame: pl.DataFrame, copies: int, n: int, *, match_col: bool = True) -> pl.DataFrame:
    """``copies`` stacked copies of ``frame``, cut to ``n`` rows, with distinct ids per copy."""
    parts = []
    for c in range(copies):
        part = frame.with_columns(pl.lit(c, dtype=pl.Int64).alias("_copy"))
        parts.append(part)
    big = pl.concat(parts).head(n)
    exprs = []
    if "segment_id" in big.columns:
        exprs.append(pl.format("{}#{}", "segment_id", "_copy").alias("segment_id"))
    if match_col and "match_id" in big.columns:
        # Each copy plays as different matches, so filters and labels stay realistic.
        exprs.append((pl.col("match_id") * 1000 + pl.col("_copy")).alias("match_id"))
    return big.with_columns(exprs).drop("_copy")


def write_big_root(run: Any, big: BigFrames) -> Path:
    """A temporary data and runs root holding ``run`` rewritten to the big tables
    (``<root>/data``, ``<root>/runs``); the caller removes it."""
    root = Path(tempfile.mkdtemp(prefix="bench-latent-map-page-"))
    data = root / "data" / "datasets" / "big"
    data.mkdir(parents=True)
    big.features.write_parquet(data / "features.parquet")
    big.matches.unique("match_id").write_parquet(data / "matches.parquet")
    big.events.write_parquet(data / "events.parquet")
    run_dir = root / "runs" / run.run_id
    shutil.copytree(run.path, run_dir)
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["features_path"] = str(data / "features.parquet")
    cfg["dataset"] = "big"
    (run_dir / "config.json").write_text(json.dumps(cfg))
    big.latents.write_parquet(run_dir / "latents.parquet")
    big.umap.write_parquet(run_dir / "umap.parquet")
    return root


def _page_times(run: Any, big: BigFrames) -> tuple[float, float]:
    """Seconds to open the app and the Latent map (cold caches), and to rerun after a click."""
    from streamlit.testing.v1 import AppTest

    latents = big.latents
    root = write_big_root(run, big)
    try:
        os.environ["TACTICAL_DATA_ROOT"] = str(root / "data")
        os.environ["TACTICAL_RUNS_ROOT"] = str(root / "runs")
        app = Path(__file__).resolve().parent.parent / "app.py"
        at = AppTest.from_file(str(app), default_timeout=300)
        at.session_state["active_run"] = run.run_id
        t0 = time.perf_counter()
        at.run()  # Overview; the sidebar's filters load the segment table (cold cache)
        at.switch_page("pages/latent-map.py").run()
        cold = time.perf_counter() - t0
        if len(at.get("plotly_chart")) != 1:
            raise RuntimeError("the Latent map page did not draw its map")
        at.session_state["inspect_row"] = latents.height // 2
        at.run()  # the first click also loads events.parquet into the cache
        at.session_state["inspect_row"] = latents.height // 3
        t0 = time.perf_counter()
        at.run()
        click = time.perf_counter() - t0
        if at.exception:
            raise RuntimeError(f"the page raised: {at.exception[0].value}")
        if len(at.get("plotly_chart")) != 2:
            raise RuntimeError("the inspector did not draw the segment's pitch")
        return cold, click
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class BigFrames:
    """A run's tables replicated to the benchmark's size."""

    real_segments: int
    copies: int
    latents: pl.DataFrame
    umap: pl.DataFrame
    features: pl.DataFrame
    matches: pl.DataFrame
    events: pl.DataFrame


def big_frames(run: Any, n: int, rng: np.random.Generator) -> BigFrames:
    """The run's latents, UMAP, features, matches and events replicated to ``n`` segments."""
    cfg = run.config()
    data_dir = cfg.features_path.parent
    latents, umap = run.latents(), run.umap()
    features = pl.read_parquet(cfg.features_path)
    matches = pl.read_parquet(data_dir / "matches.parquet")
    events = pl.read_parquet(data_dir / "events.parquet")
    copies = -(-n // latents.height)
    big_latents = _replicate(latents, copies, n)
    big_umap = _replicate(umap, copies, n, match_col=False).with_columns(
        pl.col("umap_x") + pl.Series(rng.normal(0, 0.05, n)),
        pl.col("umap_y") + pl.Series(rng.normal(0, 0.05, n)),
    )
    big_features = _replicate(
        features.filter(pl.col("segment_id").is_in(latents["segment_id"].implode())), copies, n
    )
    return BigFrames(
        real_segments=latents.height,
        copies=copies,
        latents=big_latents,
        umap=big_umap,
        features=big_features,
        matches=_replicate(matches, copies, matches.height * copies),
        events=_replicate(events, copies, events.height * copies),
    )


def _print_report(rows: list[tuple[str, float, float | None]], sizes: dict[str, int]) -> bool:
    """The timing table; True when a step missed its goal."""
    print(f"\n{'step':34s} {'seconds':>9s} {'goal':>7s} {'ratio':>7s}")
    failed = False
    for name, t, goal in rows:
        if goal is None:
            print(f"{name:34s} {t:9.4f} {'':>7s} {'':>7s}")
        else:
            ratio = t / goal
            failed |= ratio > 1
            print(f"{name:34s} {t:9.4f} {goal:7.2f} {ratio:7.2f}")
    print(
        "\nfigure JSON sent per map: "
        + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items())
    )
    print("ratio = time / goal (below 1 meets the goal); medians of repeated calls, one process")
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="segments on the map")
    parser.add_argument("--run", default=None, help="run id (default: newest finished run)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from core.analysis.latents import nearest_segments
    from core.features.registry import registry_frame
    from core.views.inspector import (
        segment_events,
        segment_profile,
        segment_summary,
        selection_contrast,
    )
    from core.views.latent_map import color_spec, latent_map_figure
    from core.views.pitch import segment_pitch_figure
    from core.views.table import build_segment_table

    run = ensure_run(args.run)
    rng = np.random.default_rng(0)
    big = big_frames(run, args.n, rng)
    big_latents, big_umap, big_features = big.latents, big.umap, big.features
    big_matches, big_events = big.matches, big.events
    reg = registry_frame()
    names = run.correlations().feature_names
    print(
        f"run {run.run_id}: {big.real_segments:,} real segments x {big.copies} copies -> "
        f"{big_latents.height:,} segments, {big_events.height:,} events, "
        f"{len(names)} features, {run.config().vae.latent_dim} latents",
        flush=True,
    )

    rows: list[tuple[str, float, float | None]] = []
    t_table, table = _timed(
        lambda: build_segment_table(
            big_latents, big_umap, big_features, feature_names=names, matches=big_matches
        ),
        args.repeat,
    )
    rows.append(("table (once per run, cached)", t_table, None))

    def serve(fig: Any) -> str:
        # What st.plotly_chart does with a figure before it leaves the server.
        figure = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
        return str(plotly.io.to_json(figure, validate=False))

    sizes: dict[str, int] = {}
    for mode, extra in (("dominant", {}), ("team", {}), ("match", {}), ("latent", {"latent": 0})):

        def build(mode: str = mode, extra: dict[str, int] = extra) -> str:
            spec = color_spec(table, mode, **extra)
            return serve(latent_map_figure(table, spec, None, highlight=5, neighbours=[1, 2]))

        t, payload = _timed(build, args.repeat)
        sizes[mode] = len(payload)
        rows.append((f"map[{mode}]", t, GOALS["map"]))

    clicked = table.n // 2

    def click() -> str:
        summary = segment_summary(table, clicked)
        segment_profile(table, clicked, reg)
        nearest_segments(table.latents, clicked, k=5)
        seg_events = segment_events(big_events, summary)
        return serve(segment_pitch_figure(seg_events))

    t_click, _ = _timed(click, args.repeat * 3)
    rows.append(("click -> inspector", t_click, GOALS["click"]))
    t_near, _ = _timed(lambda: nearest_segments(table.latents, clicked, k=5), args.repeat * 3)
    rows.append(("  of which nearest_segments", t_near, None))

    selected = np.zeros(table.n, dtype=bool)
    selected[rng.choice(table.n, size=min(10_000, table.n // 2), replace=False)] = True
    t_lasso, _ = _timed(lambda: selection_contrast(table, selected, reg), args.repeat)
    rows.append(("lasso 10k -> contrast", t_lasso, None))

    cold, rerun = _page_times(run, big)
    rows.append(("page: open app + map (cold caches)", cold, None))
    rows.append(("page: rerun after a click", rerun, GOALS["map"]))

    return 1 if _print_report(rows, sizes) else 0


if __name__ == "__main__":
    sys.exit(main())
