"""The beta-VAE that maps a segment's z-scored features to a small latent tactical code."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

LOSS_REDUCTION = (
    "Per-sample sums, averaged over the batch: reconstruction = squared error summed over "
    "features, KL = KL(q(z|x) || N(0, I)) summed over latent dimensions, each then averaged "
    "over the segments in the batch; loss = recon + beta * KL (beta as in Higgins et al.)."
)
"""Human text the UI shows next to beta: how ``vae_loss`` reduces its terms."""


def _mlp(dims: Sequence[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(d_in, d_out), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class TacticalVAEModule(nn.Module):
    """MLP beta-VAE: Linear-ReLU-Dropout encoder, Gaussian posterior, mirrored decoder."""

    def __init__(
        self,
        input_dim: int,
        latent_dim: int,
        hidden_dims: Sequence[int] = (256, 128, 64),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if input_dim < 1 or latent_dim < 1:
            raise ValueError(
                f"input_dim and latent_dim must be >= 1, got {input_dim} and {latent_dim}."
            )
        hidden = [int(h) for h in hidden_dims]
        if not hidden:
            raise ValueError("hidden_dims needs at least one layer width.")
        self.input_dim = int(input_dim)
        self.latent_dim = int(latent_dim)
        self.hidden_dims = tuple(hidden)
        self.dropout = float(dropout)
        self.encoder = _mlp([self.input_dim, *hidden], dropout)
        self.fc_mu = nn.Linear(hidden[-1], self.latent_dim)
        self.fc_logvar = nn.Linear(hidden[-1], self.latent_dim)
        self.decoder = nn.Sequential(
            _mlp([self.latent_dim, *reversed(hidden)], dropout),
            nn.Linear(hidden[0], self.input_dim),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of ``q(z|x)``."""
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterise(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Sample ``z = mu + sigma * eps`` in training; return ``mu`` in eval mode."""
        if not self.training:
            return mu
        eps = torch.randn_like(mu)
        return mu + eps * torch.exp(0.5 * logvar)

    reparameterize = reparameterise

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruct z-scored features from latent codes."""
        out: torch.Tensor = self.decoder(z)
        return out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(reconstruction, mu, logvar)``."""
        mu, logvar = self.encode(x)
        z = self.reparameterise(mu, logvar)
        return self.decode(z), mu, logvar


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, averaged over the batch (shape ``(k,)``)."""
    return (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).mean(dim=0)


def vae_loss(
    recon: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float = 4.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Beta-VAE loss ``(loss, recon_loss, kl_loss)``, each a scalar tensor.

    Reduction: per-sample sums averaged over the batch. ``recon_loss`` is the squared error
    summed over features, ``kl_loss`` the Gaussian KL summed over latent dimensions, both
    averaged over the rows of the batch; ``loss = recon_loss + beta * kl_loss``. Because the
    loss is a per-sample mean, gradients of equal-size shards average to the full-batch
    gradient (what makes DDP match single-process training). See ``LOSS_REDUCTION``.
    """
    n = x.shape[0]
    recon_loss = (recon - x).pow(2).sum() / n
    kl_loss = (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).sum() / n
    return recon_loss + beta * kl_loss, recon_loss, kl_loss
