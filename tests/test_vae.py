"""TacticalVAEModule and vae_loss: shapes, the stated reduction, persistence, train/eval invariants."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from core.model.vae import (
    TacticalVAEModule,
    kl_per_dim,
    load_module,
    save_module,
    vae_loss,
)


@pytest.fixture
def module() -> TacticalVAEModule:
    torch.manual_seed(0)
    return TacticalVAEModule(input_dim=12, latent_dim=3, hidden_dims=(16, 8), dropout=0.2)


def batch(n: int = 10, d: int = 12) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, d, generator=g)


class TestArchitecture:
    def test_shapes(self, module: TacticalVAEModule) -> None:
        x = batch()
        recon, mu, logvar = module(x)
        assert recon.shape == x.shape
        assert mu.shape == logvar.shape == (10, 3)
        mu2, _ = module.encode(x)
        assert mu2.shape == (10, 3)
        assert module.decode(mu2).shape == (10, 12)

    def test_seed_defaults_are_the_notebook_architecture(self) -> None:
        m = TacticalVAEModule(input_dim=40, latent_dim=8)
        widths = [layer.out_features for layer in m.encoder if isinstance(layer, torch.nn.Linear)]
        assert widths == [256, 128, 64]
        dec = [
            layer.out_features
            for layer in m.decoder.modules()
            if isinstance(layer, torch.nn.Linear)
        ]
        assert dec == [64, 128, 256, 40]
        assert any(isinstance(layer, torch.nn.Dropout) and layer.p == 0.2 for layer in m.encoder)

    def test_eval_mode_is_deterministic_and_uses_the_mean(self, module: TacticalVAEModule) -> None:
        module.eval()
        x = batch()
        r1, mu, _ = module(x)
        r2, _, _ = module(x)
        torch.testing.assert_close(r1, r2)
        torch.testing.assert_close(r1, module.decode(mu))

    def test_training_mode_samples(self, module: TacticalVAEModule) -> None:
        module.train()
        x = batch()
        r1, _, _ = module(x)
        r2, _, _ = module(x)
        assert not torch.equal(r1, r2)

    def test_given_noise_is_used(self, module: TacticalVAEModule) -> None:
        module.train()
        for layer in module.modules():  # no dropout, so only the noise matters
            if isinstance(layer, torch.nn.Dropout):
                layer.p = 0.0
        x = batch()
        eps = torch.ones(10, 3)
        recon, mu, logvar = module(x, eps)
        torch.testing.assert_close(recon, module.decode(mu + torch.exp(0.5 * logvar)))

    def test_bad_dimensions(self) -> None:
        with pytest.raises(ValueError, match="latent_dim"):
            TacticalVAEModule(input_dim=5, latent_dim=0)
        with pytest.raises(ValueError, match="hidden_dims"):
            TacticalVAEModule(input_dim=5, latent_dim=2, hidden_dims=())


class TestLoss:
    def test_reduction_is_per_sample_sum_mean_over_batch(self) -> None:
        x = batch(4, 5)
        recon = x + 0.5  # squared error 0.25 per feature
        mu = torch.zeros(4, 2)
        mu[:, 0] = 1.0  # KL of dim 0 = 0.5 per sample, dim 1 = 0
        logvar = torch.zeros(4, 2)
        loss, rec, kl = vae_loss(recon, x, mu, logvar, beta=4.0)
        assert rec.item() == pytest.approx(5 * 0.25)  # summed over 5 features, mean over rows
        assert kl.item() == pytest.approx(0.5)
        assert loss.item() == pytest.approx(1.25 + 4.0 * 0.5)
        per_dim = kl_per_dim(mu, logvar)
        torch.testing.assert_close(per_dim, torch.tensor([0.5, 0.0]))
        # "averaged over the batch": the same rows twice give the same loss, not twice it.
        r2, x2, mu2, lv2 = (torch.cat([t, t]) for t in (recon, x, mu, logvar))
        loss2, _, _ = vae_loss(r2, x2, mu2, lv2, beta=4.0)
        assert loss2.item() == pytest.approx(loss.item())

    def test_kl_is_zero_for_the_prior_and_positive_otherwise(self) -> None:
        x = batch(6, 4)
        zeros = torch.zeros(6, 3)
        _, _, kl0 = vae_loss(x, x, zeros, zeros, beta=1.0)
        assert kl0.item() == 0.0
        _, _, kl1 = vae_loss(x, x, zeros, torch.full((6, 3), -1.0), beta=1.0)
        assert kl1.item() > 0

    def test_batch_size_does_not_change_the_loss_scale(self) -> None:
        x = batch(8, 6)
        recon = x * 0.9
        mu, logvar = torch.randn(8, 2), torch.randn(8, 2)
        full, _, _ = vae_loss(recon, x, mu, logvar, beta=2.0)
        doubled, _, _ = vae_loss(
            torch.cat([recon, recon]),
            torch.cat([x, x]),
            torch.cat([mu, mu]),
            torch.cat([logvar, logvar]),
            2.0,
        )
        torch.testing.assert_close(full, doubled)


class TestInvariants:
    def test_save_load_gives_equal_weights(self, module: TacticalVAEModule, tmp_path: Path) -> None:
        path = save_module(module, tmp_path / "model.pt")
        state = torch.load(path, weights_only=True)
        assert set(state) == set(module.state_dict())
        loaded = load_module(path)
        assert (loaded.input_dim, loaded.latent_dim, loaded.hidden_dims) == (12, 3, (16, 8))
        for k, v in module.state_dict().items():
            torch.testing.assert_close(loaded.state_dict()[k], v, rtol=0, atol=0)
        assert not loaded.training
        module.eval()
        torch.testing.assert_close(loaded.encode(batch())[0], module.encode(batch())[0])

    def test_notebook_checkpoint_layout_loads(
        self, module: TacticalVAEModule, tmp_path: Path
    ) -> None:
        path = tmp_path / "vae_model.pt"
        torch.save(
            {"state_dict": module.state_dict(), "input_dim": 12, "training_losses": [1.0]}, path
        )
        loaded = load_module(path)
        torch.testing.assert_close(loaded.fc_mu.weight, module.fc_mu.weight)

    def test_weights_change_after_a_train_step(self, module: TacticalVAEModule) -> None:
        before = copy.deepcopy(module.state_dict())
        opt = torch.optim.Adam(module.parameters(), lr=1e-2)
        module.train()
        x = batch()
        recon, mu, logvar = module(x)
        loss, _, _ = vae_loss(recon, x, mu, logvar, beta=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        changed = [k for k, v in module.state_dict().items() if not torch.equal(v, before[k])]
        assert set(changed) == set(before), "every parameter should move after one Adam step"

    def test_weights_do_not_change_in_eval(self, module: TacticalVAEModule) -> None:
        before = copy.deepcopy(module.state_dict())
        module.eval()
        with torch.no_grad():
            module(batch())
            module.encode(batch())
        for k, v in module.state_dict().items():
            assert torch.equal(v, before[k]), k

    def test_state_dict_that_is_not_ours_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "other.pt"
        torch.save(torch.nn.Linear(3, 2).state_dict(), path)
        with pytest.raises(ValueError, match="Not a TacticalVAEModule"):
            load_module(path)
