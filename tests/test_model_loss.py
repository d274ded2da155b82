"""The model owns its loss; the precision policy and the flat parameter vector stand alone.

Fast: tiny modules and tensors only.
"""

from __future__ import annotations

import pytest
import torch

from core.model.flat_params import FlatParameters
from core.model.precision import PRECISION_ENV, cpu_has_bf16, resolve_precision
from core.model.vae import TacticalVAEModule

CPU = torch.device("cpu")


def _module_and_batch() -> tuple[TacticalVAEModule, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    module = TacticalVAEModule(6, 3, (8,), dropout=0.0).train()
    x = torch.randn(5, 6, generator=gen)
    eps = torch.randn(5, 3, generator=gen)
    return module, x, eps


def _by_hand(
    module: TacticalVAEModule, x: torch.Tensor, eps: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared error summed over everything, and KL per latent dim summed over rows."""
    h = module.encoder(x)
    mu, logvar = module.fc_mu(h), module.fc_logvar(h)
    recon = module.decoder(mu + eps * torch.exp(0.5 * logvar))
    sq_err = ((recon - x) ** 2).sum()
    kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar)
    return sq_err, kl.sum(dim=0)


class TestModuleLoss:
    def test_equals_the_loss_computed_by_hand(self) -> None:
        module, x, eps = _module_and_batch()
        with torch.no_grad():
            sq_err, kl_dims = _by_hand(module, x, eps)
            terms = module.loss(x, beta=2.0, eps=eps)
        n = x.shape[0]
        torch.testing.assert_close(terms.recon_sum, sq_err)
        torch.testing.assert_close(terms.kl_per_dim_sum, kl_dims)
        assert terms.rows == n
        torch.testing.assert_close(terms.recon, sq_err / n)
        torch.testing.assert_close(terms.kl, kl_dims.sum() / n)
        torch.testing.assert_close(terms.kl_per_dim, kl_dims / n)
        # Default scale: the per-sample mean, recon + beta * KL.
        torch.testing.assert_close(terms.total, (sq_err + 2.0 * kl_dims.sum()) / n)

    def test_scale_multiplies_the_summed_loss(self) -> None:
        module, x, eps = _module_and_batch()
        with torch.no_grad():
            sq_err, kl_dims = _by_hand(module, x, eps)
            terms = module.loss(x, beta=0.5, eps=eps, scale=3.0)
        torch.testing.assert_close(terms.total, (sq_err + 0.5 * kl_dims.sum()) * 3.0)

    def test_forward_runs_through_the_given_wrapper(self) -> None:
        module, x, eps = _module_and_batch()
        calls: list[int] = []

        def wrapper(
            xb: torch.Tensor, e: torch.Tensor | None
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            calls.append(int(xb.shape[0]))
            out: tuple[torch.Tensor, torch.Tensor, torch.Tensor] = module(xb, e)
            return out

        plain = module.loss(x, beta=1.0, eps=eps)
        wrapped = module.loss(x, beta=1.0, eps=eps, forward=wrapper)
        assert calls == [5]
        assert torch.equal(plain.total, wrapped.total)

    def test_gradient_flows_and_bf16_terms_stay_float32(self) -> None:
        module, x, eps = _module_and_batch()
        terms = module.loss(x, beta=1.0, eps=eps, bf16=True)
        assert terms.total.dtype == terms.recon_sum.dtype == terms.kl_per_dim_sum.dtype
        assert terms.total.dtype == torch.float32
        terms.total.backward()
        assert module.fc_mu.weight.grad is not None


class TestPrecisionPolicy:
    def test_env_float32_turns_auto_off(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(PRECISION_ENV, "float32")
        assert resolve_precision("auto", CPU) == "float32"
        assert resolve_precision("bfloat16", CPU) == "bfloat16"  # an explicit choice stands

    def test_several_processes_train_in_float32(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv(PRECISION_ENV, raising=False)
        assert resolve_precision("auto", CPU, world_size=2) == "float32"
        expected = "bfloat16" if cpu_has_bf16() else "float32"
        assert resolve_precision("auto", CPU, world_size=1) == expected
        assert resolve_precision("auto", torch.device("cuda", 0)) == "float32"


def test_flat_parameters_round_trip() -> None:
    torch.manual_seed(0)
    module = TacticalVAEModule(4, 2, (5,), dropout=0.0)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    flat = FlatParameters(module)
    assert flat.flat.numel() == sum(p.numel() for p in module.parameters())
    for k, v in module.state_dict().items():  # same values, now views into the flat vector
        assert torch.equal(v, before[k]), k
    with torch.no_grad():
        flat.flat.add_(1.0)  # writes through to every parameter
    flat.zero_grad()
    assert not flat.grad.any()
    flat.release()
    for k, v in module.state_dict().items():
        assert torch.equal(v, before[k] + 1.0), k
        assert v.untyped_storage().nbytes() == v.numel() * v.element_size(), k
    for p in module.parameters():
        assert p.grad is None
