"""PCA baseline for VAE runs: planted low-rank data, alignment, input checks, JSON, real data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.analysis.baseline import PCABaseline, pca_baseline, pca_scores
from core.model.latents import latent_names


def _planted(n: int = 500, d: int = 20, k: int = 3, noise: float = 0.05, seed: int = 0):
    """``n x d`` data with ``k`` strong factors plus small isotropic noise, z-scored float32."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, k)) * np.array([3.0, 2.0, 1.5])[:k]
    loadings = rng.normal(size=(k, d))
    x = factors @ loadings + noise * rng.normal(size=(n, d))
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x.astype(np.float32), factors


def _random_rotation(k: int, seed: int = 1) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(k, k)))
    return q * np.sign(np.diag(r))


def _projection_mse(x: np.ndarray, k: int) -> float:
    """Reconstruction error of projecting centred ``x`` on its top-``k`` right singular
    vectors, computed independently with lstsq (sum over inputs, mean over rows)."""
    xc = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    basis = vt[:k].T  # (d, k)
    coef, *_ = np.linalg.lstsq(basis, xc.T, rcond=None)
    resid = xc - (basis @ coef).T
    return float((resid**2).sum(axis=1).mean())


def test_planted_factors_explain_most_variance() -> None:
    x, _ = _planted()
    base = pca_baseline(x, np.zeros((x.shape[0], 0)), [], n_components=3)
    assert base.n_components == 3
    assert len(base.explained_variance_ratio) == len(base.cumulative_variance) == 3
    assert base.cumulative_variance[-1] > 0.9
    assert base.explained_variance_ratio == sorted(base.explained_variance_ratio, reverse=True)
    assert np.allclose(np.cumsum(base.explained_variance_ratio), base.cumulative_variance)
    # z-scored columns: total variance is the number of inputs (population variance).
    assert base.total_variance == pytest.approx(x.shape[1], rel=1e-5)


def test_recon_mse_matches_lstsq_projection() -> None:
    x, _ = _planted()
    for k in (1, 3, 7):
        base = pca_baseline(x, np.zeros((x.shape[0], 0)), [], n_components=k)
        assert base.pca_recon_mse == pytest.approx(_projection_mse(x, k), rel=1e-6, abs=1e-9)
        # The unexplained share of the total variance, by definition of the ratio.
        assert base.pca_recon_mse == pytest.approx(
            base.total_variance * (1.0 - base.cumulative_variance[-1]), rel=1e-6, abs=1e-9
        )
    full = pca_baseline(x, np.zeros((x.shape[0], 0)), [], n_components=x.shape[1])
    assert full.pca_recon_mse == pytest.approx(0.0, abs=1e-8)
    assert full.cumulative_variance[-1] == pytest.approx(1.0)


def test_pca_scores_shapes_sign_convention_and_determinism() -> None:
    x, _ = _planted()
    scores, evr = pca_scores(x, 3)
    assert scores.shape == (x.shape[0], 3) and evr.shape == (3,)
    assert scores.dtype == np.float64
    assert np.allclose(scores.mean(axis=0), 0.0, atol=1e-8)
    gram = scores.T @ scores
    assert np.allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-6 * gram.max())
    # Largest |loading| positive: recover loadings from scores and check.
    xc = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
    loadings = np.linalg.lstsq(scores, xc, rcond=None)[0]  # (k, d), proportional to components
    pivots = loadings[np.arange(3), np.argmax(np.abs(loadings), axis=1)]
    assert (pivots > 0).all()
    # Deterministic: a copy gives the same result bit for bit.
    scores2, evr2 = pca_scores(x.copy(), 3)
    assert np.array_equal(scores, scores2) and np.array_equal(evr, evr2)
    # The convention fixes the axes, not the data: negating X keeps the axes, so the
    # scores negate (an SVD's arbitrary signs would leave this to chance).
    neg_scores, _ = pca_scores(-x, 3)
    assert np.allclose(neg_scores, -scores, atol=1e-5)


def test_rotated_pca_scores_are_fully_linear() -> None:
    x, _ = _planted()
    scores, _ = pca_scores(x, 3)
    z = scores @ _random_rotation(3) * np.array([0.5, 2.0, 1.0]) + np.array([1.0, -2.0, 0.3])
    base = pca_baseline(x, z, latent_names(3), n_components=3, vae_recon_mse=1.25)
    assert [a["latent"] for a in base.alignment] == ["z0", "z1", "z2"]
    for a in base.alignment:
        assert a["r2_all_components"] == pytest.approx(1.0, abs=1e-6)
        assert a["component"] in {"PC1", "PC2", "PC3"}
        assert a["abs_r"] == pytest.approx(abs(a["r"]))
        assert 0.0 < a["abs_r"] <= 1.0
    assert base.vae_recon_mse == 1.25


def test_latent_equal_to_one_component_aligns_with_it() -> None:
    x, _ = _planted()
    scores, _ = pca_scores(x, 3)
    z = np.column_stack([-2.0 * scores[:, 1], scores[:, 0] + 5.0])
    base = pca_baseline(x, z, ["z0", "z1"], n_components=3)
    a0, a1 = base.alignment
    assert a0["component"] == "PC2" and a0["r"] == pytest.approx(-1.0)
    assert a1["component"] == "PC1" and a1["r"] == pytest.approx(1.0)
    assert a0["r2_all_components"] == pytest.approx(1.0)


def test_unrelated_latent_has_low_r2() -> None:
    x, _ = _planted()
    z = np.random.default_rng(9).normal(size=(x.shape[0], 1))
    base = pca_baseline(x, z, ["z0"], n_components=3)
    assert base.alignment[0]["r2_all_components"] < 0.05
    assert base.alignment[0]["abs_r"] < 0.2


def test_constant_latent_gets_zero_not_nan() -> None:
    x, _ = _planted()
    scores, _ = pca_scores(x, 3)
    z = np.column_stack([np.full(x.shape[0], 0.7), scores[:, 0]])
    base = pca_baseline(x, z, ["z0", "z1"], n_components=3)
    const = base.alignment[0]
    assert const["abs_r"] == 0.0 and const["r"] == 0.0 and const["r2_all_components"] == 0.0
    assert base.alignment[1]["r2_all_components"] == pytest.approx(1.0)
    text = json.dumps(base.to_dict(), allow_nan=False)  # no NaN anywhere
    assert "NaN" not in text


def test_constant_input_column_and_rank_deficient_x() -> None:
    x, _ = _planted(n=50, d=6)
    x = np.column_stack([x, np.zeros(50, dtype=np.float32)])  # a dead input
    base = pca_baseline(x, np.ones((50, 1)), ["z0"], n_components=7)
    assert all(math.isfinite(v) for v in base.explained_variance_ratio)
    assert base.explained_variance_ratio[-1] == pytest.approx(0.0, abs=1e-10)
    assert base.pca_recon_mse == pytest.approx(0.0, abs=1e-8)
    json.dumps(base.to_dict(), allow_nan=False)
    # Wider than tall (fewer segments than inputs): n - 1 components reconstruct exactly.
    wide = np.random.default_rng(3).normal(size=(10, 30))
    for k in (4, 9, 10):
        b = pca_baseline(wide, np.zeros((10, 0)), [], n_components=k)
        assert b.pca_recon_mse == pytest.approx(_projection_mse(wide, k), rel=1e-6, abs=1e-9)
    assert b.pca_recon_mse == pytest.approx(0.0, abs=1e-9)


def test_input_errors() -> None:
    x, _ = _planted(n=40, d=5)
    z = np.zeros((40, 2))
    names = ["z0", "z1"]
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pca_baseline(bad, z, names, n_components=2)
    with pytest.raises(ValueError, match="NaN"):
        pca_scores(bad, 2)
    zbad = z.copy()
    zbad[0, 1] = np.inf
    with pytest.raises(ValueError, match="latents hold NaN"):
        pca_baseline(x, zbad, names, n_components=2)
    with pytest.raises(ValueError, match="39 rows but X has 40"):
        pca_baseline(x, z[:39], names, n_components=2)
    with pytest.raises(ValueError, match="1 latent name"):
        pca_baseline(x, z, ["z0"], n_components=2)
    with pytest.raises(ValueError, match="2-D"):
        pca_scores(x[:, 0], 1)
    for k in (0, -1, 6):
        with pytest.raises(ValueError, match=r"n_components must be between 1 and .* = 5"):
            pca_baseline(x, z, names, n_components=k)
    with pytest.raises(ValueError, match="n_components must be an integer"):
        pca_scores(x, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"n_components must be between 1 and .* = 3"):
        pca_scores(x[:3], 4)
    with pytest.raises(ValueError, match="at least 2 segments"):
        pca_scores(x[:1], 1)
    with pytest.raises(ValueError, match="vae_recon_mse"):
        pca_baseline(x, z, names, n_components=2, vae_recon_mse=float("nan"))


def test_to_dict_from_dict_round_trip_through_json() -> None:
    x, _ = _planted()
    scores, _ = pca_scores(x, 3)
    z = np.column_stack([scores @ _random_rotation(3), np.zeros(x.shape[0])])
    for vae in (3.5, None):
        base = pca_baseline(x, z, latent_names(4), n_components=3, vae_recon_mse=vae)
        text = json.dumps(base.to_dict(), allow_nan=False)
        back = PCABaseline.from_dict(json.loads(text))
        assert back == base
        assert back.to_dict() == base.to_dict()
    d = base.to_dict()
    d.pop("vae_recon_mse")
    assert PCABaseline.from_dict(d).vae_recon_mse is None
    with pytest.raises(ValueError, match="Unknown PCA baseline key"):
        PCABaseline.from_dict({**base.to_dict(), "extra": 1})
    with pytest.raises(ValueError, match="lacks key"):
        PCABaseline.from_dict({k: v for k, v in base.to_dict().items() if k != "alignment"})


def test_real_demo_matrix(demo_dataset: Path) -> None:
    from core.features.datasets import load_features
    from core.model.config import PreprocessConfig
    from core.pipeline.prepare import prepare

    data = prepare(load_features(demo_dataset / "features.parquet"), PreprocessConfig())
    x = data.X
    assert x.dtype == np.float32 and x.shape[0] > 100
    k = 4  # the demo run's latent_dim
    scores, evr = pca_scores(x, k)
    # Stand-in latents: a rotation of the PCA scores, one named input, and a dead dimension.
    z = np.column_stack(
        [scores @ _random_rotation(k)[:, :2], data.features[:, 0], np.zeros(x.shape[0])]
    )
    base = pca_baseline(x, z, latent_names(4), n_components=k, vae_recon_mse=0.9 * x.shape[1])
    assert base.n_components == k
    assert 0.0 < base.cumulative_variance[-1] < 1.0
    assert np.allclose(base.explained_variance_ratio, evr)
    assert base.pca_recon_mse == pytest.approx(_projection_mse(x, k), rel=1e-6)
    assert base.pca_recon_mse < base.total_variance
    assert base.total_variance == pytest.approx(float(x.astype(np.float64).var(axis=0).sum()))
    assert base.alignment[0]["r2_all_components"] == pytest.approx(1.0, abs=1e-6)
    assert base.alignment[1]["r2_all_components"] == pytest.approx(1.0, abs=1e-6)
    assert 0.0 <= base.alignment[2]["r2_all_components"] <= 1.0
    assert base.alignment[3] == {
        "latent": "z3",
        "component": "PC1",
        "abs_r": 0.0,
        "r": 0.0,
        "r2_all_components": 0.0,
    }
    back = PCABaseline.from_dict(json.loads(json.dumps(base.to_dict(), allow_nan=False)))
    assert back == base
