"""Latent traversal: decoded sweeps back in feature units, and a trained model's own answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest
import torch
from torch import nn

from core.analysis.traversal import DEFAULT_VALUES, traversal_changes, traversal_text, traverse
from core.errors import TraversalError
from core.model.preprocessing import PreprocessingPipeline
from core.services.traversal import run_traversal

if TYPE_CHECKING:
    from core.runs.store import Run


class LinearDecoder(nn.Module):
    """A decoder with known structure: output = z @ W.T + b."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.latent_dim = W.shape[1]
        self.lin = nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            self.lin.weight.copy_(torch.as_tensor(W, dtype=torch.float32))
            self.lin.bias.copy_(torch.as_tensor(b, dtype=torch.float32))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.lin(z)
        return out


def fitted_pipeline(pca: float | None = None) -> PreprocessingPipeline:
    rng = np.random.default_rng(0)
    n = 500
    frame = pl.DataFrame(
        {
            "match_id": np.ones(n, dtype=np.int64),
            "t2_ppda": rng.normal(12.0, 4.0, n),
            "t2_defensive_action_height": rng.normal(40.0, 8.0, n),
            "t1_passes": rng.normal(9.0, 2.0, n),
        }
    )
    return PreprocessingPipeline(pca_variance_threshold=pca).fit(frame)


def test_linear_decoder_sweep_in_feature_units() -> None:
    pipe = fitted_pipeline()
    # z1 lowers PPDA by 1 sd per unit and raises defensive action height by 0.5 sd.
    W = np.array([[0.0, -1.0], [0.0, 0.5], [0.2, 0.0]])
    trav = traverse(LinearDecoder(W, np.zeros(3)), pipe, 1)
    assert trav.values.tolist() == list(DEFAULT_VALUES)
    assert trav.z_scores[:, 0] == pytest.approx(-trav.values, abs=1e-5)
    assert trav.units[:, 0] == pytest.approx(pipe.mean_[0] - trav.values * pipe.scale_[0], rel=1e-5)
    assert trav.units[:, 2] == pytest.approx(np.full(13, pipe.mean_[2]), rel=1e-5)  # untouched
    changes = traversal_changes(trav, at=2.0)
    assert changes["feature"].to_list()[:2] == ["t2_ppda", "t2_defensive_action_height"]
    top = changes.row(0, named=True)
    assert top["from_value"] == pytest.approx(pipe.mean_[0], rel=1e-5)
    assert top["to_value"] == pytest.approx(pipe.mean_[0] - 2 * pipe.scale_[0], rel=1e-5)
    assert top["change_z"] == pytest.approx(-2.0, abs=1e-5)
    assert top["monotonic"]
    text = traversal_text(trav, at=2.0, n=2)
    ppda0, ppda2 = pipe.mean_[0], pipe.mean_[0] - 2 * pipe.scale_[0]
    assert 10 < ppda0 < 100 and 1 < ppda2 < 10  # seeded data: 1 and 2 decimals
    assert text.startswith(f"z1 +2: PPDA {ppda0:.1f} -> {ppda2:.2f}, ")
    assert "defensive action height" in text


def test_other_dimensions_held_at_a_segment_code() -> None:
    pipe = fitted_pipeline()
    W = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    base = np.array([1.5, -0.7])
    trav = traverse(LinearDecoder(W, np.zeros(3)), pipe, 0, base=base)
    assert -0.7 not in trav.values and 1.5 in trav.values  # the segment's own value is added
    assert trav.z_scores[:, 1] == pytest.approx(np.full(trav.values.size, -0.7), abs=1e-5)
    changes = traversal_changes(trav, at=3.0)
    row = changes.filter(pl.col("feature") == "t2_ppda").row(0, named=True)
    assert row["change_z"] == pytest.approx(1.5, abs=1e-5)  # from the segment's 1.5 to 3


def test_pca_runs_are_mapped_back_through_the_components() -> None:
    pipe = fitted_pipeline(pca=1.0)
    assert pipe.components_ is not None
    k = pipe.components_.shape[0]
    W = np.zeros((k, 2))
    W[0, 0] = 1.0  # z0 moves the first principal component
    trav = traverse(LinearDecoder(W, np.zeros(k)), pipe, 0)
    expected = np.outer(trav.values, pipe.components_[0])  # z-scores of each feature
    assert trav.z_scores == pytest.approx(expected, abs=1e-5)
    assert trav.units.shape == (13, 3)


def test_bad_traversals_are_refused() -> None:
    pipe = fitted_pipeline()
    dec = LinearDecoder(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(TraversalError, match=r"z0\.\.z1"):
        traverse(dec, pipe, 2)
    with pytest.raises(TraversalError, match="base code must have 2"):
        traverse(dec, pipe, 0, base=[0.0, 0.0, 0.0])
    with pytest.raises(TraversalError, match="finite"):
        traverse(dec, pipe, 0, values=[0.0, np.nan])


def test_trained_model_moves_the_features_its_dimension_correlates_with(demo_run: Run) -> None:
    corr = demo_run.correlations()
    r = corr.pearson_r
    dim, feat = np.unravel_index(np.argmax(np.abs(r)), r.shape)
    sign = np.sign(r[dim, feat])
    assert abs(r[dim, feat]) > 0.5  # a trained model has a clearly interpretable dimension
    trav = run_traversal(demo_run, int(dim))
    col = trav.feature_names.index(corr.feature_names[feat])
    steps = np.diff(trav.units[:, col])
    assert (sign * steps > 0).all(), (corr.feature_names[feat], trav.units[:, col])
    changes = traversal_changes(trav, at=2.0)
    row = changes.filter(pl.col("feature") == corr.feature_names[feat]).row(0, named=True)
    assert np.sign(row["change"]) == sign
    assert row["monotonic"]
    assert traversal_text(trav).startswith(f"z{dim} +2: ")
    # Held at a real segment's code instead of zero: still the same direction.
    sid = demo_run.latents()["segment_id"][0]
    at_segment = run_traversal(demo_run, int(dim), segment_id=sid)
    seg_steps = np.diff(at_segment.units[:, col])
    assert np.sign(seg_steps.sum()) == sign
    with pytest.raises(TraversalError, match="not in this run"):
        run_traversal(demo_run, 0, segment_id="no-such-segment")
