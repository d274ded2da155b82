"""A seed ensemble of beta-VAEs trained together, as one stacked module.

A VAE's axes depend on its seed, so a pattern is only worth reading when other seeds find
it again (:mod:`core.analysis.ensemble`). Training ``S`` seeds one after the other costs
``S`` runs; on the CPU a step of this small MLP is bound by per-call overhead, not by
arithmetic, so the ``S`` members are stacked instead: every ``nn.Linear`` of the members
becomes one batched matrix product (``torch.baddbmm`` over an ``(S, rows, width)`` tensor)
and one optimiser step updates all of them. The members never share a parameter:

- member ``s`` starts from exactly the weights :class:`TacticalVAEModule` draws under
  ``torch.manual_seed(seeds[s])`` (the initialisation of a single run with that seed);
- it draws its own reparameterisation noise (seeded ``seeds[s] + 1``, as a single run);
- the loss is the sum of the members' losses, so each member's gradient is its own, and
  Adam, being elementwise, updates each member as if it were alone.

Each member also shuffles the segments with its own seed. What the members share is the
data on the device and the learning-rate schedule and early stopping, which follow the
reference member's loss (member 0): the reference takes the path a single run with its seed
takes (same initial weights, batches and noise; batched products round differently, so its
codes match the single run's closely, not bit for bit).
:meth:`StackedVAE.member` gives any member back as a plain :class:`TacticalVAEModule`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from core.model.vae import Forward, MaskDropout, TacticalVAEModule, VAELoss, forward_float32

SEED_STRIDE = 7919
"""Member ``s`` of an ensemble seeded ``r`` uses seed ``(r + s * SEED_STRIDE) mod 2**32``."""


def member_seeds(random_state: int, n: int) -> list[int]:
    """The seeds of an ensemble of ``n`` members; the first is ``random_state`` itself."""
    return [(int(random_state) + s * SEED_STRIDE) % 2**32 for s in range(int(n))]


def _linears(module: TacticalVAEModule) -> list[nn.Linear]:
    """The module's linear layers in forward order: encoder, mu, logvar, decoder."""
    enc = [m for m in module.encoder if isinstance(m, nn.Linear)]
    dec = [m for m in module.decoder.modules() if isinstance(m, nn.Linear)]
    return [*enc, module.fc_mu, module.fc_logvar, *dec]


class StackedVAE(nn.Module):
    """``S`` :class:`TacticalVAEModule` members with their linear layers stacked.

    Layer ``l`` holds ``weight[l]`` of shape ``(S, in, out)`` and ``bias[l]`` of shape
    ``(S, 1, out)``. ``forward(x, eps)`` takes one batch ``x`` ``(rows, features)`` and the
    members' noise ``eps`` ``(S, rows, k)`` and returns ``(recon, mu, logvar)`` with a
    leading member axis.
    """

    def __init__(self, members: Sequence[TacticalVAEModule]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member.")
        ref = members[0]
        for m in members[1:]:
            if (m.input_dim, m.latent_dim, m.hidden_dims) != (
                ref.input_dim,
                ref.latent_dim,
                ref.hidden_dims,
            ):
                raise ValueError("ensemble members must share one architecture.")
        self.n_members = len(members)
        self.input_dim = ref.input_dim
        self.latent_dim = ref.latent_dim
        self.hidden_dims = ref.hidden_dims
        self.dropout_p = ref.dropout
        layers = [_linears(m) for m in members]
        with torch.no_grad():
            self.weight = nn.ParameterList(
                nn.Parameter(torch.stack([ls[i].weight.detach().t() for ls in layers]).contiguous())
                for i in range(len(layers[0]))
            )
            self.bias = nn.ParameterList(
                nn.Parameter(torch.stack([ls[i].bias.detach()[None, :] for ls in layers]))
                for i in range(len(layers[0]))
            )
        self.drop = MaskDropout(ref.dropout)
        self.n_enc = len(ref.hidden_dims)

    def set_fast_cpu_dropout(self, enabled: bool) -> None:
        self.drop.fast_cpu_masks = enabled

    def _layer(self, i: int, h: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias[i], h, self.weight[i])

    def forward(
        self, x: torch.Tensor, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = self.n_members
        h = x.unsqueeze(0).expand(s, -1, -1) if x.dim() == 2 else x
        for i in range(self.n_enc):
            h = self.drop(torch.relu(self._layer(i, h)))
        mu = self._layer(self.n_enc, h)
        logvar = self._layer(self.n_enc + 1, h)
        if self.training:
            noise = torch.randn_like(mu) if eps is None else eps.to(mu.dtype)
            z = mu + noise * torch.exp(0.5 * logvar)
        else:
            z = mu
        h = z
        last = len(self.weight) - 1
        for i in range(self.n_enc + 2, last):
            h = self.drop(torch.relu(self._layer(i, h)))
        return self._layer(last, h), mu, logvar

    def loss(
        self,
        x: torch.Tensor,
        *,
        beta: float,
        eps: torch.Tensor | None = None,
        scale: float | None = None,
        forward: Forward | None = None,
        bf16: bool = False,
    ) -> VAELoss:
        """The members' summed loss; ``recon_sum`` is ``(S,)`` and ``kl_per_dim_sum``
        ``(S, k)``, one row per member (see :meth:`TacticalVAEModule.loss`)."""
        recon, mu, logvar = forward_float32(self if forward is None else forward, x, eps, bf16)
        target = x.unsqueeze(0) if x.dim() == 2 else x
        sq_err = (recon - target).pow(2).sum(dim=(1, 2))
        kl_dims = (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).sum(dim=1)
        rows = int(x.shape[-2])
        factor = 1.0 / max(rows, 1) if scale is None else scale
        total = (sq_err.sum() + beta * kl_dims.sum()) * factor
        return VAELoss(total, sq_err, kl_dims, rows)

    def member(self, s: int) -> TacticalVAEModule:
        """Member ``s`` as a plain module (CPU, eval mode, its own copy of the weights)."""
        module = TacticalVAEModule(
            self.input_dim, self.latent_dim, self.hidden_dims, self.dropout_p
        )
        with torch.no_grad():
            for i, lin in enumerate(_linears(module)):
                lin.weight.copy_(self.weight[i][s].t())
                lin.bias.copy_(self.bias[i][s, 0])
        return module.eval()


def build_stacked(
    n_features: int,
    latent_dim: int,
    hidden_dims: Sequence[int],
    dropout: float,
    seeds: Sequence[int],
) -> StackedVAE:
    """An ensemble whose member ``s`` starts as a single run seeded ``seeds[s]`` would."""
    members = []
    for seed in seeds:
        torch.manual_seed(int(seed))
        members.append(TacticalVAEModule(n_features, latent_dim, hidden_dims, dropout))
    return StackedVAE(members)
