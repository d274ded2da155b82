"""The map at a season's size: a density of every segment with a clickable sample drawn over
it, and the first layout (PCA of the codes) a run writes before UMAP.

Real data: the demo run's segments, replicated past ``SCATTER_MAX`` (as
``bench/bench_map_browser.py`` does at 500k) for the map; the demo run itself for the first
layout.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.latents import pca_layout
from core.runs.files import FIRST_LAYOUT_FILE, LATENTS_FILE
from core.runs.layout import read_first_layout
from core.runs.store import Run
from core.views import training
from core.views.latent_map import (
    MAP_SAMPLE,
    SCATTER_MAX,
    color_spec,
    hover_text,
    latent_map_figure,
    map_sample_note,
)
from core.views.table import SegmentTable, load_segment_table
from tests.helpers import APP, healthy

N_BIG = SCATTER_MAX + 12_345


@pytest.fixture(scope="module")
def big_table(demo_run: Run) -> SegmentTable:
    """The demo run's segments copied to ``N_BIG`` rows, each copy moved a little on the map."""
    table = load_segment_table(demo_run)
    copies = -(-N_BIG // table.n)
    idx = np.tile(np.arange(table.n), copies)[:N_BIG]
    rng = np.random.default_rng(3)
    meta = table.meta[idx].with_columns(
        pl.format("{}-{}", pl.col("segment_id"), pl.int_range(pl.len())).alias("segment_id")
    )
    xy = (table.xy[idx] + rng.normal(0, 0.05, (N_BIG, 2))).astype(np.float32)
    return replace(
        table, meta=meta, latents=table.latents[idx], xy=xy, features=table.features[idx]
    )


class TestDensityMap:
    def test_beyond_the_limit_every_segment_is_shaded_and_a_sample_drawn(
        self, big_table: SegmentTable
    ) -> None:
        fig = latent_map_figure(big_table, color_spec(big_table, "team"))
        density = fig.data[0]
        assert isinstance(density, go.Heatmap) and density.hoverinfo == "skip"
        shade = np.asarray(density.z, dtype=float)
        counts = np.round(10 ** (shade[np.isfinite(shade)] - 1.0))
        assert counts.sum() == big_table.n  # every segment counted once
        rows = np.concatenate(
            [np.asarray(t.customdata) for t in fig.data if isinstance(t, go.Scattergl)]
        )
        assert rows.size == MAP_SAMPLE and np.unique(rows).size == MAP_SAMPLE
        assert rows.min() >= 0 and rows.max() < big_table.n
        # The hover of each drawn point is that segment's own.
        first = next(t for t in fig.data if isinstance(t, go.Scattergl))
        texts = hover_text(big_table.meta)
        assert list(first.text[:20]) == [texts[int(r)] for r in first.customdata[:20]]
        np.testing.assert_allclose(first.x[:20], big_table.xy[first.customdata[:20], 0])

    def test_the_sample_is_the_same_on_every_rerun(self, big_table: SegmentTable) -> None:
        spec = color_spec(big_table, "latent", latent=0)
        a = latent_map_figure(big_table, spec).data[1].customdata
        b = latent_map_figure(big_table, spec).data[1].customdata
        np.testing.assert_array_equal(a, b)

    def test_a_filtered_subset_below_the_limit_is_drawn_whole(
        self, big_table: SegmentTable
    ) -> None:
        mask = np.zeros(big_table.n, dtype=bool)
        mask[::2] = True  # 56,173 rows
        fig = latent_map_figure(big_table, color_spec(big_table, "latent", latent=0), mask)
        assert not any(isinstance(t, go.Heatmap) for t in fig.data)
        np.testing.assert_array_equal(fig.data[0].customdata, np.flatnonzero(mask))
        assert map_sample_note(int(mask.sum())) is None

    def test_an_inspected_segment_outside_the_sample_is_still_ringed(
        self, big_table: SegmentTable
    ) -> None:
        spec = color_spec(big_table, "latent", latent=0)
        drawn = set(latent_map_figure(big_table, spec).data[1].customdata.tolist())
        outside = next(r for r in range(big_table.n) if r not in drawn)
        fig = latent_map_figure(big_table, spec, highlight=outside)
        ring = next(t for t in fig.data if t.name == "inspected segment")
        assert list(ring.customdata) == [outside]

    def test_the_page_says_what_it_draws(self) -> None:
        note = map_sample_note(500_000)
        assert note is not None and "500,000" in note and f"{MAP_SAMPLE:,}" in note
        assert map_sample_note(SCATTER_MAX) is None


class TestFirstLayout:
    def test_a_run_writes_the_codes_first_two_components(self, demo_run: Run) -> None:
        xy = read_first_layout(demo_run)
        assert xy is not None
        lat = pl.read_parquet(demo_run.artifact_path(LATENTS_FILE))
        z = lat.select([c for c in lat.columns if c.startswith("z") and c[1:].isdigit()])
        np.testing.assert_allclose(xy, pca_layout(z.to_numpy()), atol=1e-9)
        ids = pl.read_parquet(demo_run.artifact_path(FIRST_LAYOUT_FILE))["segment_id"]
        assert ids.to_list() == lat["segment_id"].to_list()

    def test_a_damaged_first_layout_is_no_preview_and_no_error(
        self, demo_run: Run, tmp_path: Path
    ) -> None:
        copy = Run(demo_run.run_id, tmp_path / demo_run.run_id)
        shutil.copytree(demo_run.path, copy.path, ignore=shutil.ignore_patterns("*.lock"))
        copy.artifact_path(FIRST_LAYOUT_FILE).write_bytes(b"not parquet")
        assert read_first_layout(copy) is None
        copy.artifact_path(FIRST_LAYOUT_FILE).unlink()
        assert read_first_layout(copy) is None

    def test_the_train_page_shows_it_while_the_map_is_computed(
        self, demo_run: Run, tmp_path: Path
    ) -> None:
        from core.infra.paths import runs_root

        target = runs_root() / demo_run.run_id[:4]  # not a run id: no page lists it
        shutil.copytree(demo_run.path, target, ignore=shutil.ignore_patterns("*.lock"))
        run = Run(demo_run.run_id, target)
        try:
            run.update_status(state="running", stage="umap", progress=0.8, pid=os.getpid())
            assert run.status().is_active
            made = training.first_layout_figure(run)
            assert made is not None
            fig, caption = made
            shade = np.asarray(fig.data[0].z, dtype=float)
            counts = np.round(10 ** (shade[np.isfinite(shade)] - 1.0))
            assert counts.sum() == pl.read_parquet(run.artifact_path(LATENTS_FILE)).height
            assert "principal components" in caption and "UMAP" in caption
            # While it still trains, the layout on disk is an earlier attempt's: not shown.
            assert training.shows_first_layout(run, run.status())
            run.update_status(stage="training")
            assert not training.shows_first_layout(run, run.status())
        finally:
            shutil.rmtree(run.path, ignore_errors=True)


def test_the_train_page_draws_the_first_layout_of_a_run_computing_its_map(
    demo_run: Run,
) -> None:
    """A run in its UMAP stage, followed on the Train page: the density is on screen."""
    import json

    from core.infra.paths import runs_root

    run_id = "f1257a700000"
    target = runs_root() / run_id
    shutil.copytree(demo_run.path, target, ignore=shutil.ignore_patterns("*.lock", "states"))
    cfg = json.loads((target / "config.json").read_text())
    cfg["run_id"] = run_id
    (target / "config.json").write_text(json.dumps(cfg))
    run = Run(run_id, target)
    try:
        run.update_status(state="running", stage="umap", progress=0.8, pid=os.getpid())
        at = AppTest.from_file(APP, default_timeout=180)
        at.query_params["run"] = run_id
        at.switch_page("pages/train.py").run()
        healthy(at, "train")
        keys = [el.proto.id for el in at.get("plotly_chart")]
        assert any(k.endswith("first_layout") for k in keys), keys
        assert any("principal components" in c.value for c in at.caption)
    finally:
        shutil.rmtree(target, ignore_errors=True)
