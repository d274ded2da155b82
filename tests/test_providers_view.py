"""Across providers on the Stability page: a run compared with a run of another provider's
data on the same matches (``core.views.providers`` and the page's section).

The other provider's run is the demo's three matches under Wyscout's name and new match ids
(so the two are paired by their teams, as two providers' files are): the preprocessing then
drops the features Wyscout cannot supply, so it is a different model on the same windows.
The real two-provider comparison (the shared World Cup in StatsBomb and Wyscout form) is
``tests/test_agreement.py``'s slow class and ``bench/bench_agreement.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from core.runs.store import Run
from tests.conftest import DEMO_RUN_VAE, _trained_run
from tests.helpers import frame_with, healthy, open_app, texts

ID_SHIFT = 10**6


def test_without_another_provider_the_page_says_how_to_get_one(demo_run: Run) -> None:
    at = open_app(demo_run, "stability")
    healthy(at, no_errors=True)
    assert "No finished run of another provider's data" in texts(at)


@pytest.fixture(scope="module")
def wyscout_twin(
    demo_run: Run, demo_dataset: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """A finished run on the demo matches relabelled as Wyscout's; removed afterwards, so
    no other test lists it."""
    from core.model.config import VAEConfig
    from core.runs.store import remove_run

    out = tmp_path_factory.mktemp("wyscout-twin")
    features = pl.read_parquet(demo_dataset / "features.parquet")
    features.with_columns(
        pl.lit("wyscout").alias("provider"),
        pl.col("match_id") + ID_SHIFT,
        pl.concat_str(pl.lit("w"), pl.col("segment_id")).alias("segment_id"),
    ).write_parquet(out / "features.parquet")
    run = _trained_run(out / "features.parquet", VAEConfig(**DEMO_RUN_VAE))
    yield run
    remove_run(run.run_id)


@pytest.fixture(scope="module")
def stranger(demo_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """A finished Wyscout run of other matches (the demo's, every team renamed)."""
    from core.model.config import VAEConfig
    from core.runs.store import remove_run

    out = tmp_path_factory.mktemp("stranger")
    features = pl.read_parquet(demo_dataset / "features.parquet")
    features.with_columns(
        pl.lit("wyscout").alias("provider"),
        pl.concat_str(pl.lit("Elsewhere "), pl.col("team_name")).alias("team_name"),
    ).write_parquet(out / "features.parquet")
    run = _trained_run(out / "features.parquet", VAEConfig(**DEMO_RUN_VAE))
    yield run
    remove_run(run.run_id)


def test_each_run_says_its_provider(
    demo_run: Run, wyscout_twin: Run, seed_run: Run, stranger: Run
) -> None:
    from core.views.providers import provider_label, provider_runs, run_provider

    assert run_provider(demo_run) == "statsbomb"
    assert run_provider(wyscout_twin) == run_provider(stranger) == "wyscout"
    # the same provider, and another provider's run of other matches, are not offered
    listed = provider_runs(demo_run, [demo_run, seed_run, stranger, wyscout_twin])
    assert [(r.run_id, p) for r, p in listed] == [(wyscout_twin.run_id, "Wyscout")]
    assert provider_label("statsbomb") == "StatsBomb"


def test_the_two_runs_are_compared_window_by_window(demo_run: Run, wyscout_twin: Run) -> None:
    from core.views.providers import provider_view

    view = provider_view(demo_run, wyscout_twin)
    windows = demo_run.latents().filter(pl.col("segment_type") == "window").height
    assert f"{windows:,} windows both cut alike" in view.summary
    assert "3 matches and 6 team-matches in both" in view.summary
    assert view.axes is not None
    assert view.axes["dim"].to_list() == demo_run.dim_quality().distinct
    found = view.axes.filter(pl.col("found again")).height
    assert f"**{found} of {view.axes.height}**" in view.summary
    assert all(abs(r) <= 1.0 for r in view.axes["r of codes"].to_list())
    assert view.patterns["pattern"].to_list() == ["possession", "directness", "pressing"]
    # the same events under two names: every feature both hold and that varies agrees
    r = view.features["r"].drop_nulls().drop_nans().to_list()
    assert len(r) > 20
    assert r == pytest.approx([1.0] * len(r))


def test_the_stability_page_compares_providers(
    demo_run: Run, wyscout_twin: Run, stranger: Run
) -> None:
    at = open_app(demo_run, "stability")
    healthy(at, no_errors=True)
    assert "Across providers" in [s.value for s in at.subheader]
    box = at.selectbox(key="stab_provider")
    assert box.value == wyscout_twin.run_id
    assert len(box.options) == 1  # not the run of other matches
    assert box.options[0].startswith("Wyscout · ")
    page = texts(at)
    assert "windows both cut alike" in page
    axes = frame_with(at, "pattern", "matched axis there", "found again")
    assert axes["dim"].tolist() == demo_run.dim_quality().distinct
    ranks = frame_with(at, "team-rank Spearman")
    assert ranks["pattern"].tolist() == ["possession", "directness", "pressing"]
    frame_with(at, "why they differ")
