"""Team fingerprints: mean latent positions, state shares, comparisons, similar segments."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest

from core.analysis.fingerprints import compare_teams, similar_segments, team_fingerprints
from core.errors import FingerprintError
from core.services.fingerprints import run_fingerprints

if TYPE_CHECKING:
    from core.runs.store import Run


def synthetic_latents(n: int = 400, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    team = rng.choice([10, 20, 30], size=n)
    match = rng.choice([1, 2], size=n)
    Z = rng.normal(size=(n, 3)) + (team[:, None] / 10.0)
    states = rng.integers(0, 4, size=n)
    frame = pl.DataFrame(
        {
            "segment_id": [f"s{i}" for i in range(n)],
            "match_id": match,
            "team_id": team,
            "team_name": [f"team {t}" for t in team],
            **{f"z{j}": Z[:, j] for j in range(3)},
        }
    )
    return frame, states


def test_fingerprints_shares_and_means() -> None:
    frame, states = synthetic_latents()
    fp = team_fingerprints(frame, states, 4)
    assert fp["team_id"].to_list() == [10, 20, 30]
    shares = fp.select([f"share_{s}" for s in range(4)]).to_numpy()
    assert np.allclose(shares.sum(axis=1), 1.0)
    team = frame["team_id"].to_numpy()
    Z = frame.select("z0", "z1", "z2").to_numpy()
    for i, t in enumerate([10, 20, 30]):
        rows = team == t
        assert fp["n_segments"][i] == rows.sum()
        assert fp["z1_mean"][i] == pytest.approx(Z[rows, 1].mean())
        assert fp["share_2"][i] == pytest.approx((states[rows] == 2).mean())
    assert fp["team_name"].to_list() == ["team 10", "team 20", "team 30"]
    per_match = team_fingerprints(frame, states, 4, by=("team_id", "match_id"))
    assert per_match.height == 6
    assert np.allclose(
        per_match.select([f"share_{s}" for s in range(4)]).to_numpy().sum(axis=1), 1.0
    )


def test_compare_two_teams() -> None:
    frame, states = synthetic_latents()
    fp = team_fingerprints(frame, states, 4)
    cmp = compare_teams(fp, 10, 30)
    row = cmp.filter(pl.col("quantity") == "z0_mean").row(0, named=True)
    assert row["team_a"] == pytest.approx(fp["z0_mean"][0])
    assert row["difference"] == pytest.approx(fp["z0_mean"][0] - fp["z0_mean"][2])
    assert row["difference"] < -1.0  # team 30's codes are shifted by +2 against team 10's
    assert cmp.height == 3 + 4
    with pytest.raises(FingerprintError, match="team_id 99"):
        compare_teams(fp, 10, 99)


def test_fingerprints_refuse_bad_states() -> None:
    frame, states = synthetic_latents()
    with pytest.raises(FingerprintError, match="one state per segment"):
        team_fingerprints(frame, states[:-1], 4)
    with pytest.raises(FingerprintError, match=r"0\.\.2"):
        team_fingerprints(frame, states, 3)


def test_similar_segments_of_another_team_by_brute_force() -> None:
    frame, _ = synthetic_latents()
    sid = frame.filter(pl.col("team_id") == 10)["segment_id"][0]
    near = similar_segments(frame, sid, team_id=20, n=5)
    assert near.height == 5
    assert (near["team_id"] == 20).all()
    assert near["distance"].is_sorted()
    q = frame.filter(pl.col("segment_id") == sid).select("z0", "z1", "z2").to_numpy()[0]
    team20 = frame.filter(pl.col("team_id") == 20)
    d = np.sqrt(((team20.select("z0", "z1", "z2").to_numpy() - q) ** 2).sum(axis=1))
    assert near["segment_id"].to_list() == team20["segment_id"].gather(np.argsort(d)[:5]).to_list()
    assert near["distance"].to_numpy() == pytest.approx(np.sort(d)[:5])
    same_team = similar_segments(frame, sid, team_id=10, n=3)
    assert sid not in same_team["segment_id"].to_list()
    with pytest.raises(FingerprintError, match="not in this run"):
        similar_segments(frame, "nope")


def test_run_fingerprints_on_real_run(demo_run: Run) -> None:
    fp, labels = run_fingerprints(demo_run)
    latents = demo_run.latents()
    assert fp.height == latents["team_id"].n_unique()
    k = labels.height
    shares = fp.select([f"share_{s}" for s in range(k)]).to_numpy()
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert fp["n_segments"].sum() == latents.height
    per_match, _ = run_fingerprints(demo_run, per_match=True)
    assert per_match.height == latents.select("team_id", "match_id").unique().height
    # Barcelona plays two of the three demo matches: two per-match rows, one overall row.
    barca = latents.filter(pl.col("team_name").str.contains("Barcelona"))["team_id"].unique()
    assert barca.len() == 1
    assert per_match.filter(pl.col("team_id") == barca[0]).height == 2
