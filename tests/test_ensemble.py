"""The seed ensemble: members trained together as one stacked module, and which reading axes
other seeds find again (planted factors kept, seed-noise axes left unconfirmed)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from core.analysis.ensemble import FOUND_R, EnsembleReport, ensemble_report
from core.analysis.quality import dim_quality
from core.model.encoding import encode_means
from core.model.ensemble import StackedVAE, build_stacked, member_seeds
from core.model.presets import RECOMMENDED
from core.model.training import train_vae
from core.model.vae import TacticalVAEModule
from core.pipeline.analyses import reading_axes_of


def test_member_seeds_start_at_the_runs_own() -> None:
    assert member_seeds(42, 3)[0] == 42
    assert len(set(member_seeds(42, 3))) == 3
    assert all(0 <= s < 2**32 for s in member_seeds(2**32 - 1, 4))


def test_stacked_members_are_the_single_modules_they_were_built_from() -> None:
    seeds = [3, 5]
    stacked = build_stacked(6, 2, (8, 4), 0.0, seeds)
    x = torch.randn(10, 6)
    for s, seed in enumerate(seeds):
        torch.manual_seed(seed)
        single = TacticalVAEModule(6, 2, (8, 4), 0.0).eval()
        member = stacked.member(s)
        for a, b in zip(single.state_dict().values(), member.state_dict().values(), strict=True):
            assert torch.equal(a, b)
        stacked.eval()
        recon, mu, _ = stacked(x)
        r1, m1, _ = single(x)
        assert torch.allclose(recon[s], r1, atol=1e-5)
        assert torch.allclose(mu[s], m1, atol=1e-5)


def test_stacked_loss_is_the_sum_of_the_members_losses() -> None:
    stacked = build_stacked(5, 2, (6,), 0.0, [1, 2, 3]).train()
    x = torch.randn(3, 8, 5)
    eps = torch.randn(3, 8, 2)
    terms = stacked.loss(x, beta=0.5, eps=eps)
    total = 0.0
    for s in range(3):
        m = stacked.member(s).train()
        one = m.loss(x[s], beta=0.5, eps=eps[s])
        assert float(terms.recon_sum[s].detach()) == pytest.approx(
            float(one.recon_sum.detach()), rel=1e-5
        )
        total += float(one.total.detach())
    assert float(terms.total.detach()) == pytest.approx(total, rel=1e-5)
    # each member's gradient is its own: a member's loss does not move another's weights
    stacked.zero_grad()
    stacked.loss(x, beta=0.5, eps=eps).recon_sum[0].backward()
    grads = [p.grad for p in stacked.parameters()]
    assert all(g is not None and float(g[1:].abs().sum()) == 0.0 for g in grads)


def test_stacked_rejects_mixed_architectures() -> None:
    with pytest.raises(ValueError, match="one architecture"):
        StackedVAE([TacticalVAEModule(4, 2, (8,)), TacticalVAEModule(4, 3, (8,))])


def _codes(rng: np.random.Generator, n: int, signals: np.ndarray, k: int) -> np.ndarray:
    """``k`` code columns: the signals (shuffled, signs flipped) then pure noise."""
    cols = [signals[:, j] * rng.choice([-1.0, 1.0]) for j in range(signals.shape[1])]
    cols += [rng.normal(size=n) for _ in range(k - signals.shape[1])]
    order = rng.permutation(k)
    return np.column_stack([cols[i] for i in order])


def test_report_finds_shared_axes_and_leaves_seed_noise_unconfirmed() -> None:
    rng = np.random.default_rng(0)
    n = 800
    signals = rng.normal(size=(n, 2))
    features = np.column_stack(
        [signals[:, 0], signals[:, 0] * 0.9, signals[:, 1], rng.normal(size=(n, 3))]
    ) + 0.3 * rng.normal(size=(n, 6))
    names = [f"t1_f{i}" for i in range(6)]
    ref = _codes(rng, n, signals, 4)
    members = [_codes(rng, n, signals + 0.2 * rng.normal(size=(n, 2)), 4) for _ in range(2)]
    report = ensemble_report(
        ref,
        dim_quality(ref),
        [(m, dim_quality(m)) for m in members],
        features,
        names,
        [1, 2, 3],
    )
    assert len(report.reproduced) == 2
    for dim in report.reproduced:
        axis = report.axis(dim)
        assert axis is not None and axis.found_in == 3 and min(axis.abs_r) >= FOUND_R
        assert axis.evidence  # named from features every seed agrees on
    for a in report.axes:
        if a.dim not in report.reproduced:
            assert a.found_in == 1 and a.evidence == []
    assert EnsembleReport.from_dict(report.to_dict()).to_dict() == report.to_dict()


@pytest.mark.slow
def test_ensemble_keeps_planted_factors_and_drops_seed_noise_axes() -> None:
    """Three planted factors behind 18 of 54 features, 36 features of pure noise, a VAE
    with 8 latent dims: the spare dims encode whichever mix of the noise their seed lands
    on, so the ensemble confirms the three factors and leaves those axes unconfirmed."""
    rng = np.random.default_rng(7)
    n, k = 3000, 3
    factors = rng.normal(size=(n, k))
    blocks = [factors[:, [j]] @ rng.uniform(0.7, 1.0, size=(1, 6)) for j in range(k)]
    X = np.column_stack([*blocks, np.zeros((n, 36))]) + 0.45 * rng.normal(size=(n, 54))
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    cfg = dataclasses.replace(
        RECOMMENDED, latent_dim=8, n_epochs=30, batch_size=128, ensemble=3, random_state=5
    )
    result = train_vae(X, cfg, precision="auto")
    names = [f"t1_x{i}" for i in range(54)]
    Z, quality, _, _ = reading_axes_of(
        encode_means(result.module, X), result.history[-1].kl_per_dim, X, cfg
    )
    members = []
    for module, kl in zip(result.members, result.member_kl, strict=True):
        Zm, qm, _, _ = reading_axes_of(encode_means(module, X), kl, X, cfg)
        members.append((Zm, qm))
    report = ensemble_report(Z, quality, members, X, names, result.seeds)
    assert report.n_seeds == 3
    # each planted factor is a reproduced axis ...
    idx = {d: quality.names.index(d) for d in report.reproduced}
    for j in range(k):
        best = max(abs(np.corrcoef(Z[:, i], factors[:, j])[0, 1]) for i in idx.values())
        assert best >= 0.8, f"factor {j} not among the reproduced axes (best |r| {best:.2f})"
    # ... and a reproduced axis is a planted factor, not seed noise
    for i in idx.values():
        assert max(abs(np.corrcoef(Z[:, i], factors[:, j])[0, 1]) for j in range(k)) >= 0.5
    assert len(report.reproduced) == k
