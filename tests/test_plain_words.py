"""Plain language (issue 15): feature display names, the glossary, readings of a run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import polars as pl
import pytest

from core.features.names import display_name, display_names, labelled, registry_names
from core.features.registry import FEATURES
from core.views.correlations import MIN_SUBSET, p_text, subset_correlations
from core.views.glossary import TERMS, explain, glossary_frame, term
from core.views.plain import Pattern, run_headline, run_patterns, stability_reading
from tests.helpers import frame_with, healthy, open_app

if TYPE_CHECKING:
    from core.runs.store import Run

# The words issue 15 found unexplained, each of which must have an entry.
ISSUE_TERMS = [
    "BIC", "ARI", "silhouette", "HMM", "posterior", "UMAP", "z-scored", "sd", "Jaccard",
    "Hungarian", "PPDA", "field tilt", "beta-VAE", "KL", "latent", "tier",
]  # fmt: skip


def test_display_names() -> None:
    assert display_name("t1_possession_share") == "possession share"
    assert display_name("t2_ppda") == "PPDA"
    assert display_name("t1_passes_per_min") == "passes /min"
    assert display_name("t1_take_ons_per_min") == "take-ons /min"
    assert display_name("z0") == "z0"  # not a feature: unchanged
    assert labelled("t2_field_tilt") == "field tilt (t2_field_tilt)"
    names = registry_names()
    assert len(names) == len(FEATURES)
    assert len(set(names.values())) == len(names)  # one feature per display name
    clash = display_names(["t1_passes_per_min", "t9_passes_per_min"])
    assert len(set(clash.values())) == 2


@pytest.mark.parametrize("word", ISSUE_TERMS)
def test_glossary_covers_every_term_of_the_issue(word: str) -> None:
    entry = term(word)
    assert len(entry.short) > 30 and len(entry.plain) > len(entry.short) // 2
    assert entry.name in glossary_frame()["term"].to_list()


def test_glossary_lookups() -> None:
    assert term("beta_vae").name == "beta-VAE"
    assert term("Kullback-Leibler").name == "KL"
    with pytest.raises(KeyError, match="No glossary entry for 'offside'"):
        term("offside")
    tip = explain("BIC", "ARI", extra="More on the Glossary page.")
    assert tip.startswith("**BIC**: ") and "**ARI**" in tip and tip.endswith("Glossary page.")
    assert len({t.name for t in TERMS}) == len(TERMS)


def test_glossary_page_finds_a_word(demo_run: Run) -> None:
    at = open_app(demo_run, "glossary")
    healthy(at)
    shown = [m.value for m in at.markdown if m.value.startswith("**")]
    assert len(shown) == len(TERMS)
    at.text_input(key="glossary_query").set_value("silhouette").run()
    shown = [m.value for m in at.markdown if m.value.startswith("**")]
    assert len(shown) == 1 and shown[0].startswith("**Silhouette**")


def test_p_values_never_read_zero() -> None:
    text = p_text(np.array([0.0, 1e-300, 0.0009, 0.004, 0.2, np.nan]))
    assert text.tolist() == ["< 0.001", "< 0.001", "< 0.001", "0.004", "0.20", "n/a"]


def test_subset_correlations_match_numpy() -> None:
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(60, 2))
    X = np.column_stack([Z[:, 0] * 2 + rng.normal(size=60) * 0.1, rng.normal(size=60)])
    X[3, 1] = np.nan
    mask = np.arange(60) < 40
    trained = np.nanmedian(X, axis=0)  # the training medians: over every row
    sub = subset_correlations(Z, X, ["t1_a", "t1_b"], mask, trained)
    assert sub.n == 40
    filled = X[mask].copy()
    filled[3, 1] = trained[1]
    assert sub.pearson_r[0, 0] == pytest.approx(np.corrcoef(Z[mask, 0], filled[:, 0])[0, 1])
    assert sub.pearson_r[1, 1] == pytest.approx(np.corrcoef(Z[mask, 1], filled[:, 1])[0, 1])
    with pytest.raises(ValueError, match=f"at least {MIN_SUBSET}"):
        subset_correlations(Z, X, ["t1_a", "t1_b"], np.arange(60) < 5, trained)


def test_run_headline_and_patterns(demo_run: Run) -> None:
    quality = demo_run.dim_quality()
    ensemble = demo_run.ensemble()
    assert ensemble is not None and ensemble.n_seeds == 3 == quality.n_seeds
    patterns = run_patterns(demo_run.interpretation(), quality.distinct, ensemble=ensemble)
    assert sorted(p.dim for p in patterns) == sorted(quality.distinct)
    # reproduced first, each named only from features every finding seed agrees on
    assert [p.dim for p in patterns if p.reproduced] == quality.reproduced
    for p in patterns:
        axis = ensemble.axis(p.dim)
        assert axis is not None and p.found_in == axis.found_in
        if p.reproduced:
            assert set(p.features) <= set(axis.evidence)
        else:
            assert p.name == f"unconfirmed axis {p.dim}"
    head = run_headline(patterns)
    if quality.reproduced:
        assert head.startswith("**")
        assert "found again in 3 of 3 trainings" in head or "more in fewer" in head
        assert patterns[0].name in head
    else:
        assert head.startswith("**No pattern was found again**")
    states = pl.DataFrame({"label": ["high press", "low block"], "share": [0.3, 0.7]})
    assert "**2 tactical states**: 'low block' (70%), 'high press' (30%)." in run_headline(
        patterns, states
    )
    assert "no distinct pattern" in run_headline([])
    one = Pattern("z0", ["t1_possession_share", "t2_field_tilt"], [-1, 1])
    assert one.reading == "possession share falls, field tilt rises as z0 rises"


def test_headline_counts_reproduced_not_distinct() -> None:
    """Seven distinct axes, four found again: the headline leads with four, never seven."""
    pats = [
        Pattern(
            f"z{i}",
            ["t1_possession_share"],
            [1],
            reproduced=i < 4,
            found_in=3 if i < 3 else (2 if i < 4 else 1),
            n_seeds=3,
        )
        for i in range(7)
    ]
    head = run_headline(pats)
    assert head.startswith(
        "**3 patterns found again in 3 of 3 trainings, 1 more in fewer of them, 3 unconfirmed**"
    )
    assert "7" not in head.split(":")[0]
    single = [Pattern("z0", ["t1_possession_share"], [1], reproduced=False)]
    assert "one seed" in run_headline(single)
    assert single[0].name == "unconfirmed axis z0"


def test_stability_readings() -> None:
    assert stability_reading(0.9, 0.95, 3).startswith("Stable")
    assert stability_reading(0.7, 0.5, 3).startswith("Same meaning")
    assert stability_reading(0.4, 0.9, 3).startswith("Partly stable")
    assert stability_reading(0.1, 0.9, 3).startswith("Unstable")
    assert stability_reading(None, None).startswith("Not enough")


def test_contrast_explains_latent_rows_and_inspector_names_players(demo_run: Run) -> None:
    from core.features.datasets import Dataset
    from core.features.registry import registry_frame
    from core.views.inspector import (
        players_line,
        segment_events,
        segment_players,
        segment_summary,
        selection_contrast,
    )
    from core.views.table import load_segment_table

    table = load_segment_table(demo_run)
    sel = np.zeros(table.n, dtype=bool)
    sel[:40] = True
    contrast = selection_contrast(table, sel, registry_frame())
    latent = contrast.filter(pl.col("kind") == "latent")
    assert latent.height == table.latent_dim
    assert latent["definition"].null_count() == 0
    assert latent["definition"][0].startswith(f"Latent dimension {latent['name'][0]}:")
    assert contrast["definition"].null_count() == 0  # no "None" left in the table

    events = Dataset.of_features(demo_run.features_path).events()
    assert events is not None
    summary = segment_summary(table, 5)
    seg = segment_events(events, summary)
    players = segment_players(seg)
    on_ball = seg.filter(
        pl.col("type").is_in(["pass", "carry", "shot", "dribble"])
        & pl.col("player_name").is_not_null()
    )
    busiest = on_ball.group_by("player_name").len().sort("len", descending=True)
    assert players["actions"][0] == busiest["len"][0]
    assert players["actions"].sum() <= on_ball.height
    assert players_line(players).startswith(f"On the ball: {players['player_name'][0]} (")


def test_stability_page_reads_each_dimension_in_plain_words(demo_run: Run, seed_run: Run) -> None:
    at = open_app(demo_run, "stability")
    at.text_input(key="stab_seeds").set_value(str(seed_run.config().seed)).run()
    healthy(at)
    lines = [m.value for m in at.markdown if m.value.startswith("- **z")]
    assert len(lines) == demo_run.dim_quality().n_distinct
    # Each line reads the numbers of the page's own table (tested against the runs' files
    # in test_states_pages) with the plain-words rule (tested on its own above).
    table = frame_with(at, "dim", "mean_jaccard", "mean_abs_corr", "n_runs")
    assert table["dim"].tolist() == demo_run.dim_quality().distinct
    for _, row in table.iterrows():
        jaccard, corr = (
            None if pd.isna(row[c]) else row[c] for c in ("mean_jaccard", "mean_abs_corr")
        )
        expected = stability_reading(jaccard, corr, int(row["n_runs"]))
        assert any(line.startswith(f"- **{row['dim']}") and expected in line for line in lines)
