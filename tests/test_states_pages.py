"""The states pages (States, Match timeline, Team fingerprints, Latent traversal, Stability).

AppTest runs each page script on the real ``demo_run`` (router and sidebar included) and
checks what it shows against the run's own files; no page may show an error. The page
sweeps (``test_pages_sweep.py``, ``test_browser_sweep.py``) open them in the browser too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import polars as pl
import pytest

from core.runs.states_store import load_states
from core.services.states import get_states
from tests.helpers import frame_with, healthy, open_app

if TYPE_CHECKING:
    from core.runs.store import Run


def test_states_page(demo_run: Run) -> None:
    at = open_app(demo_run, "states")
    healthy(at, no_errors=True)
    result = load_states(demo_run)
    assert result is not None  # the first visit computed and cached the states
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["States (latent)"] == str(result.summary["latent"]["best_k"])
    assert metrics["Agreement (ARI)"] == f"{result.summary['ari']:.2f}"
    table = frame_with(at, "label", "share")
    labels = result.labels.filter(pl.col("space") == "latent")
    assert list(table["label"]) == labels["label"].to_list()
    # Profile of the second state, in the feature mixture.
    at.radio(key="states_space").set_value("features").run()
    healthy(at, no_errors=True)
    at.selectbox(key="states_profile_state").set_value(1).run()
    healthy(at, no_errors=True)
    prof = frame_with(at, "state_mean", "effect")
    expected = result.profiles.filter(
        (pl.col("space") == "features") & (pl.col("state") == 1)
    ).sort(pl.col("effect").abs(), descending=True)
    assert list(prof["feature"])[:3] == expected["feature"].to_list()[:3]
    assert prof["state_mean"].iloc[0] == pytest.approx(expected["state_mean"][0])


@pytest.mark.slow  # fits the run's mixtures twice more (K 2-4, then back to 2-10)
def test_states_page_recomputes_for_a_new_k_range(demo_run: Run) -> None:
    at = open_app(demo_run, "states")
    at.slider(key="states_k_range").set_range(2, 4).run()
    healthy(at, no_errors=True)
    result = load_states(demo_run)
    assert result is not None
    assert result.summary["params"]["k_values"] == [2, 3, 4]
    assert result.bic.filter(pl.col("space") == "latent")["k"].to_list() == [2, 3, 4]
    get_states(demo_run, k_range=(2, 10))  # back to the default for the other tests


def test_timeline_page(demo_run: Run) -> None:
    at = open_app(demo_run, "timeline")
    healthy(at, no_errors=True)
    options = at.selectbox(key="timeline_match").options
    assert len(options) == 3
    assert any(o.startswith("Turkey 0-3 Italy") for o in options), options
    at.selectbox(key="timeline_match").set_value(3788741).run()
    healthy(at, no_errors=True)
    at.toggle(key="timeline_smooth").set_value(True).run()
    healthy(at, no_errors=True)
    captions = " ".join(c.value for c in at.caption)
    assert "observed" in captions and "smoothed" in captions
    markers = frame_with(at, "kind", "minute")
    assert (markers["kind"].isin(["goal", "own goal"])).sum() == 3  # Turkey 0-3 Italy


def test_teams_page(demo_run: Run) -> None:
    at = open_app(demo_run, "teams")
    healthy(at, no_errors=True)
    table = frame_with(at, "n_segments")
    assert len(table) == demo_run.latents()["team_id"].n_unique()
    shares = table[[c for c in table.columns if c.startswith("share_")]].sum(axis=1)
    assert shares.to_numpy() == pytest.approx(1.0)
    at.toggle(key="teams_per_match").set_value(True).run()
    healthy(at, no_errors=True)
    assert len(frame_with(at, "n_segments")) == 6  # 3 matches x 2 teams
    # "Compare two teams": each team's mean code per distinct dimension, and A minus B.
    cmp = frame_with(at, "quantity", "difference")
    team_a, team_b = [c for c in cmp.columns if c not in ("quantity", "difference")]
    np.testing.assert_allclose(cmp["difference"], cmp[team_a] - cmp[team_b], atol=1e-12)
    latents = demo_run.latents()
    distinct = demo_run.dim_quality().distinct
    means = cmp[cmp["quantity"].str.endswith("_mean")]
    assert [q.removesuffix("_mean") for q in means["quantity"]] == distinct
    for name in (team_a, team_b):
        own = latents.filter(pl.col("team_name") == name).select(distinct).mean().row(0)
        np.testing.assert_allclose(means[name], own, rtol=1e-9)
    target = at.selectbox(key="teams_sim_target").value
    near = frame_with(at, "distance", "segment_id")
    assert len(near) == 10
    team_of = dict(zip(latents["segment_id"], latents["team_id"], strict=True))
    assert {team_of[s] for s in near["segment_id"]} == {target}
    assert list(near["distance"]) == sorted(near["distance"])


def test_teams_page_follows_the_sidebar_match_filter(demo_run: Run) -> None:
    at = open_app(demo_run, "teams")
    at.multiselect(key="filter_matches").set_value([3788741]).run()
    healthy(at, no_errors=True)
    table = frame_with(at, "n_segments")
    assert sorted(table["team_name"]) == ["Italy", "Turkey"]
    latents = demo_run.latents().filter(pl.col("match_id") == 3788741)
    assert table["n_segments"].sum() == latents.height


def test_traversal_page(demo_run: Run) -> None:
    distinct = demo_run.dim_quality().distinct
    assert len(distinct) >= 2, demo_run.dim_quality().verdict
    first, second = distinct[0], distinct[1]
    at = open_app(demo_run, "traversal")
    healthy(at, no_errors=True)
    # opens on the most informative distinct dimension
    assert any(m.value.startswith(f"**{first} +2: ") for m in at.markdown)
    at.selectbox(key="trav_dim").set_value(int(second[1:])).run()
    at.select_slider(key="trav_at").set_value(-1.0).run()
    healthy(at, no_errors=True)
    assert any(m.value.startswith(f"**{second} -1: ") for m in at.markdown)
    table = frame_with(at, "change_z")
    assert len(table) == len(demo_run.load_pipeline().feature_columns_)
    at.radio(key="trav_hold").set_value("segment").run()
    healthy(at, no_errors=True)
    # The first match, and in it the first team's earliest segment; the sweep starts from
    # that segment's own code.
    latents = demo_run.latents()
    first_match = latents["match_id"].min()
    assert at.selectbox(key="trav_match").value == first_match
    segment = latents.filter(pl.col("match_id") == first_match).sort("team_id", "match_minute")
    assert at.selectbox(key="trav_segment").value == segment["segment_id"][0]
    code = segment[second][0]
    captions = " ".join(c.value for c in at.caption)
    assert f"Sweep starts from the segment's own code ({second} = {code:+.2f})" in captions


def _top5(run: Run, dim: str) -> set[str]:
    """The 5 features with the largest |Pearson r| with ``dim``, from the run's correlations."""
    corr = run.correlations()
    r = np.abs(np.nan_to_num(corr.pearson_r[corr.latent_names.index(dim)]))
    return {corr.feature_names[i] for i in np.argsort(-r, kind="stable")[:5]}


def test_stability_page(demo_run: Run, seed_run: Run) -> None:
    at = open_app(demo_run, "stability")
    healthy(at, no_errors=True)
    at.text_input(key="stab_seeds").set_value("11, 12").run()
    healthy(at, no_errors=True)
    runs = frame_with(at, "seed", "state")
    assert dict(zip(runs["seed"], runs["state"], strict=True)) == {11: "done", 12: "missing"}
    assert at.button(key="stab_start").label == "Train 1 seed run(s)"
    table = frame_with(at, "mean_jaccard")
    assert table["dim"].tolist() == demo_run.dim_quality().distinct  # distinct dims only
    # One seed run done: each matched dimension's Jaccard is |A∩B| / |A∪B| of the two runs'
    # top-5 features; a dimension the seed run has no match for has none.
    matched = frame_with(at, "matched_dim", "abs_corr").set_index("dim")["matched_dim"]
    assert matched.notna().any(), matched
    for _, row in table.iterrows():
        other = matched[row["dim"]]
        if pd.isna(other):
            assert pd.isna(row["mean_jaccard"]), row
            continue
        mine, theirs = _top5(demo_run, row["dim"]), _top5(seed_run, other)
        assert row["mean_jaccard"] == pytest.approx(len(mine & theirs) / len(mine | theirs))
    at.text_input(key="stab_seeds").set_value("x y").run()
    assert any("whole numbers" in e.value for e in at.error)
