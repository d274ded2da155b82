"""Do the latent dimensions mean something? Quality flags, reading axes, and the targets.

- unit tests of the distinct / redundant / inactive rule and of the reading axes;
- planted factors: synthetic data from k known factors plus noise, the recommended preset
  recovers k distinct dimensions and the quality flags mark the extra ones inactive;
- on real matches (slow): the recommended preset, trained through the product's own CLI
  at three seeds on the shared World Cup 2018 and NWSL 2018 window segments, judged by
  ``shared/tools/latent_truth.py`` from the run folders alone, as the issue's targets are.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.analysis.quality import (
    ANCHOR_SOURCE,
    anchor_direction,
    anchored_varimax,
    dim_quality,
    dominant_axis,
    reading_quality,
    varimax,
)
from core.model.config import VAEConfig
from core.model.presets import NOTEBOOK, RECOMMENDED, batch_size_for, preset
from core.runs.records import load_reading_axes, save_reading_axes
from tests.helpers import cli

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
STATSBOMB = SHARED / "data" / "statsbomb"
TOOL = SHARED / "tools" / "latent_truth.py"


def _planted(n: int = 2000, k: int = 3, per: int = 8, noise: float = 0.1, seed: int = 0):
    """``n`` rows of ``k * per`` features: feature block j is factor j plus noise."""
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n, k))
    X = np.repeat(factors, per, axis=1) * np.sqrt(1 - noise)
    X += rng.standard_normal(X.shape) * np.sqrt(noise)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X.astype(np.float32), factors


class TestDimQuality:
    def test_inactive_redundant_and_distinct(self) -> None:
        rng = np.random.default_rng(1)
        a, b = rng.standard_normal((2, 500))
        Z = np.column_stack([a, 0.9 * a + 0.1 * rng.standard_normal(500), b, 1e-3 * a])
        q = dim_quality(Z, [2.0, 1.0, 1.5, 0.0])
        assert q.status == {"z0": "distinct", "z1": "redundant", "z2": "distinct", "z3": "inactive"}
        assert q.distinct == ["z0", "z2"]  # most informative (KL) first
        assert q.redundant == {"z1": "z0"}
        assert q.inactive == ["z3"]
        assert q.healthy and q.warning() is None
        assert q.shown() == ["z0", "z2"]
        assert q.shown(show_all=True) == ["z0", "z2", "z1", "z3"]
        assert q.label("z1") == "z1 (redundant: copies z0)"
        assert "2 distinct of 4" in q.verdict

    def test_the_more_informative_copy_is_kept(self) -> None:
        rng = np.random.default_rng(2)
        a = rng.standard_normal(400)
        Z = np.column_stack([a + 0.2 * rng.standard_normal(400), a])
        q = dim_quality(Z, [0.5, 3.0])
        assert q.distinct == ["z1"] and q.redundant == {"z0": "z1"}

    def test_one_axis_is_flagged(self) -> None:
        rng = np.random.default_rng(3)
        Z = np.column_stack([rng.standard_normal(300), np.zeros(300), np.full(300, 0.2)])
        q = dim_quality(Z, [0.8, 0.0, 0.0])
        assert q.n_distinct == 1 and not q.healthy
        warning = q.warning()
        assert warning is not None and "single axis" in warning

    def test_round_trip_through_json(self) -> None:
        rng = np.random.default_rng(4)
        q = dim_quality(rng.standard_normal((100, 3)), [1.0, 2.0, 3.0])
        back = type(q).from_dict(json.loads(json.dumps(q.to_dict())))
        assert back == q

    def test_bad_input_says_what_is_wrong(self) -> None:
        with pytest.raises(ValueError, match="2-D"):
            dim_quality(np.zeros(5))
        with pytest.raises(ValueError, match="informativeness has 2 values for 3"):
            dim_quality(np.zeros((5, 3)), [1.0, 2.0])


class TestReadingAxes:
    def test_varimax_recovers_simple_structure(self) -> None:
        simple = np.kron(np.eye(3), np.ones((4, 1)))  # 12 features x 3 factors
        theta = 0.6
        mix = np.array(
            [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
        )
        R = varimax(simple @ mix)
        recovered = np.abs(simple @ mix @ R)
        assert np.allclose(np.sort(recovered, axis=1)[:, -1], 1.0, atol=1e-6)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-9)

    def test_map_is_invertible_and_saved_without_pickle(self, tmp_path: Path) -> None:
        X, factors = _planted(n=600)
        rng = np.random.default_rng(5)
        mix, _ = np.linalg.qr(rng.standard_normal((3, 3)))  # mixed, but not copies
        Z = np.column_stack([factors @ mix, 1e-3 * factors[:, 0]])
        q = dim_quality(Z)
        axes = anchored_varimax(Z, X, q)
        reading = axes.to_reading(Z)
        assert np.allclose(axes.to_raw(reading), Z, atol=1e-8)
        path = save_reading_axes(axes, tmp_path / "reading_axes.npz")
        with np.load(path, allow_pickle=False) as npz:  # loads with pickle off
            assert set(npz.files) == {"method", "center", "matrix", "source"}
        back = load_reading_axes(path)
        assert np.allclose(back.matrix, axes.matrix) and back.source == axes.source
        rq = reading_quality(axes, q, reading)
        assert rq.distinct == ["z0", "z1", "z2"] and rq.inactive == ["z3"]
        # the rotated axes are uncorrelated: every one of them stays distinct
        assert np.allclose(np.corrcoef(reading[:, :3].T), np.eye(3), atol=1e-6)

    def test_the_anchor_reads_the_dominant_axis_out_of_mixed_dims(self) -> None:
        """The dominant factor (behind 16 of 24 features) is spread over two model dims, each
        also carrying another factor: the anchor is the read-out of the dominant factor, not
        the model dim that tracks it best (|r| 0.71 here)."""
        rng = np.random.default_rng(9)
        f = rng.standard_normal((3000, 3))  # f0 dominant, f1 and f2 minor
        X = np.column_stack(
            [f[:, [0]] + 0.3 * rng.standard_normal((3000, 16)), f[:, 1:].repeat(4, axis=1)]
        )
        assert dominant_axis(X) is not None
        c = np.sqrt(0.5)
        Z = np.column_stack([c * (f[:, 0] + f[:, 1]), c * (f[:, 0] - f[:, 1]), f[:, 2]])
        axes = anchored_varimax(Z, X, dim_quality(Z))
        assert axes.source[0] == ANCHOR_SOURCE
        anchor = axes.to_reading(Z)[:, 0]
        assert abs(np.corrcoef(anchor, f[:, 0])[0, 1]) > 0.99
        assert max(abs(np.corrcoef(Z[:, i], f[:, 0])[0, 1]) for i in range(3)) < 0.75
        # the codes carry nothing of the dominant axis: no anchor, every axis rotated
        assert anchor_direction(np.zeros((50, 2)), rng.standard_normal(50)) is None

    def test_no_dominant_axis_in_balanced_factors(self) -> None:
        X, _ = _planted(n=800)
        assert dominant_axis(X) is None
        # one factor behind 16 features, two behind 4: z-scoring cannot hide that one
        skew = np.column_stack([X[:, :8], X[:, :8] + 0.1, X[:, 8:12], X[:, 16:20]])
        assert dominant_axis(skew) is not None


class TestPresets:
    def test_notebook_preset_is_the_notebook(self) -> None:
        assert VAEConfig() == NOTEBOOK
        assert (VAEConfig().beta, VAEConfig().dropout, VAEConfig().rotation) == (4.0, 0.2, "none")

    def test_recommended_preset(self) -> None:
        assert (RECOMMENDED.beta, RECOMMENDED.dropout, RECOMMENDED.latent_dim) == (0.5, 0.0, 10)
        assert RECOMMENDED.rotation == "anchored_varimax"
        assert preset("recommended", latent_dim=4).latent_dim == 4

    def test_small_data_gets_about_a_thousand_steps(self) -> None:
        assert batch_size_for(224, RECOMMENDED) == 32  # the demo: 7 steps x 150 epochs
        assert batch_size_for(5000, RECOMMENDED) == 512  # large data keeps the preset's


@pytest.mark.slow  # trains the preset's 10 latents for 60 epochs on 2,000 rows
def test_planted_factors_are_recovered_and_extras_marked_inactive() -> None:
    """k = 3 factors, the preset's 10 latents: three distinct dims, seven inactive, and the
    reading axes are the factors."""
    from core.model.encoding import encode_means
    from core.model.training import train_vae

    X, factors = _planted()
    cfg = preset("recommended", n_epochs=60, batch_size=128, random_state=7)
    result = train_vae(X, cfg, device="cpu")
    Z = encode_means(result.module, X)
    q = dim_quality(Z, result.history[-1].kl_per_dim)
    assert q.n_distinct == 3, q.verdict
    assert len(q.inactive) == cfg.latent_dim - 3 == 7 and not q.redundant
    axes = anchored_varimax(Z, X, q)
    reading = axes.to_reading(Z)[:, :3]
    r = np.abs(np.corrcoef(reading.T, factors.T)[:3, 3:])
    # each reading axis is one planted factor, each factor one axis
    assert (r.max(axis=1) > 0.95).all(), np.round(r, 2)
    assert sorted(r.argmax(axis=1).tolist()) == [0, 1, 2]


# --- real matches -------------------------------------------------------------------------

TARGETS = re.compile(
    r"distinct=(\d+) possession=([\d.]+) directness=([\d.]+) pressing=([\d.]+) stable=(\d+)/(\d+)"
)


def _core(*args: str, env: dict[str, str]) -> str:
    """The last line ``python -m core <args>`` prints (a run folder), which must succeed."""
    done = cli(*args, env=env, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _truth(run_dirs: list[str]) -> list[tuple[int, float, float, float, int]]:
    """The tool's summary with each seed's run as the reference in turn."""
    out = []
    for i in range(len(run_dirs)):
        order = run_dirs[i:] + run_dirs[:i]
        done = subprocess.run(
            [sys.executable, str(TOOL), *order], capture_output=True, text=True, check=True
        )
        m = TARGETS.search(done.stdout.strip().splitlines()[-1])
        assert m, done.stdout
        out.append((int(m[1]), float(m[2]), float(m[3]), float(m[4]), int(m[5])))
    return out


@pytest.fixture(scope="module")
def competition_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    if not (STATSBOMB / "events").is_dir() or not TOOL.is_file():
        pytest.skip(f"shared data or tool missing beside the checkout ({SHARED})")
    env = {**os.environ}
    runs: dict[str, list[str]] = {}
    for name, competition in (("wc2018", "43"), ("nwsl2018", "49")):
        out = tmp_path_factory.mktemp(name)
        _core(
            "features", "--source", str(STATSBOMB), "--competition", competition,
            "--out", str(out), "--workers", "2", env=env,
        )  # fmt: skip
        runs[name] = [
            _core("train", "--features", str(out / "features.parquet"), "--seed", str(s), env=env)
            for s in (1, 2, 3)
        ]
    return runs


def _assert_targets(runs: list[str], *, possession: float) -> None:
    """The issue's targets at each of 3 seeds (each seed's run as the tool's reference)."""
    assert len(runs) == 3
    found = _truth(runs)
    for n_distinct, r_possession, r_directness, r_pressing, n_stable in found:
        assert n_distinct >= 4, found
        assert r_possession >= possession, found
        assert r_directness >= 0.6, found
        assert r_pressing >= 0.4, found
        assert n_stable >= 3, found


@pytest.mark.slow
def test_world_cup_2018_meets_the_targets(competition_runs: dict[str, list[str]]) -> None:
    _assert_targets(competition_runs["wc2018"], possession=0.8)


@pytest.mark.slow
def test_nwsl_2018_finds_the_same_structure(competition_runs: dict[str, list[str]]) -> None:
    """A second competition, never tuned on. Possession is held to 0.75, not 0.8: on these
    34 matches the features' own first principal component correlates only 0.80 with
    possession share, so no axis built from them reaches much more (see docs/latent_truth.md).

    Seeds 1-3 keep 3, 4 and 3 stable dimensions (the three references); in an earlier
    session this triple kept 2, one of about 1 in 6 triples (docs/latent_truth.md)."""
    _assert_targets(competition_runs["nwsl2018"], possession=0.75)


@pytest.mark.slow  # trains a run of its own
def test_a_run_with_reading_axes_is_consistent(demo_dataset: Path) -> None:
    """A real run of the recommended preset: the stored latents are the model's posterior
    means put on the stored reading axes, the decoder takes reading codes, and the
    diagnostics' reconstruction error is the model's at those means."""
    import polars as pl

    from core.analysis.traversal import decode_codes
    from core.features.datasets import load_features
    from core.model.config import PreprocessConfig
    from core.model.encoding import encode_means
    from core.pipeline.execute import execute_run
    from core.pipeline.prepare import prepare
    from core.runs.store import create_run

    cfg = preset("recommended", latent_dim=4, hidden_dims=(32,), n_epochs=30, batch_size=32)
    features = demo_dataset / "features.parquet"
    run, _ = create_run(features, cfg, PreprocessConfig())
    if run.status().state != "done":
        execute_run(run.run_id)
    quality = run.dim_quality()
    axes = run.reading_axes()
    assert quality.n_distinct >= 2 and axes is not None, quality.verdict
    data = prepare(load_features(features), PreprocessConfig())
    model = run.load_model()
    means = encode_means(model, data.X)
    assert np.allclose(run.latent_matrix(), axes.to_reading(means), atol=1e-5)
    assert np.allclose(
        decode_codes(run.load_decoder(), run.latent_matrix()), decode_codes(model, means), atol=1e-4
    )
    diag = run.diagnostics()
    recon = ((decode_codes(model, means) - data.X) ** 2).sum(axis=1).mean()
    assert diag["recon_at_means"] == pytest.approx(recon, rel=1e-5)
    assert diag["distinct_dims"] == quality.distinct and diag["rotation"]["source"] == axes.source
    table = run.interpretation()
    assert table.filter(
        pl.col("dim_status") != pl.col("latent_dim").replace_strict(quality.status)
    ).is_empty()
