"""The beta-VAE that maps a segment's z-scored features to a small latent tactical code."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.infra.io import atomic_write_with
from core.model.config import VAEConfig

_INT16_SPAN = 65536

#: A callable that runs a module's forward pass ``(x, eps) -> (recon, mu, logvar)``: the
#: module itself, or a wrapper around it such as ``DistributedDataParallel``.
Forward = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class VAELoss:
    """The loss of one batch, from :meth:`TacticalVAEModule.loss`.

    ``total`` is what to backpropagate; the sums are what a trainer accumulates over an
    epoch (it divides by its own row counts, also across data-parallel ranks). The
    properties are the per-segment means of the batch, as :func:`vae_loss` returns them.
    """

    total: torch.Tensor  # (recon_sum + beta * kl_per_dim_sum.sum()) * scale, scalar
    recon_sum: torch.Tensor  # squared error summed over rows and features, scalar
    kl_per_dim_sum: torch.Tensor  # KL(q(z|x) || N(0, I)) per latent dim summed over rows, (k,)
    rows: int  # rows of the batch

    @property
    def recon(self) -> torch.Tensor:
        """Reconstruction loss: squared error summed over features, mean over rows."""
        return self.recon_sum / max(self.rows, 1)

    @property
    def kl(self) -> torch.Tensor:
        """KL summed over latent dimensions, mean over rows."""
        return self.kl_per_dim_sum.sum() / max(self.rows, 1)

    @property
    def kl_per_dim(self) -> torch.Tensor:
        """KL per latent dimension, mean over rows (shape ``(k,)``)."""
        return self.kl_per_dim_sum / max(self.rows, 1)


class MaskDropout(nn.Dropout):
    """``nn.Dropout`` with an optional fast CPU path for training (off unless enabled).

    On the CPU, torch draws one Mersenne-Twister number per element for a dropout mask,
    which is the largest single cost of a training step of this small MLP. With
    ``fast_cpu_masks`` on, one 64-bit random word yields four 16-bit lanes and an element
    is kept when its lane is at or above ``p`` quantised to 1/65536 (so p=0.2 becomes
    0.199997), then scaled by ``1/(1-p)`` as usual. Same distribution to 1e-5, about four
    times cheaper. ``core.model.training`` turns it on while it trains on the CPU; everywhere
    else (GPU, eval, the notebook's own loop) this is plain ``nn.Dropout``.
    """

    fast_cpu_masks: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.fast_cpu_masks and self.training and self.p > 0 and x.device.type == "cpu"):
            out: torch.Tensor = super().forward(x)
            return out
        n = x.numel()
        words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1)
        lanes = words.view(torch.int16)[:n].view(x.shape)
        threshold = round(self.p * _INT16_SPAN) - _INT16_SPAN // 2
        mask = (lanes >= threshold).to(x.dtype).mul_(1.0 / (1.0 - self.p))
        return x * mask


def _mlp(dims: Sequence[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for d_in, d_out in itertools.pairwise(dims):
        # Dropout is always present (identity at p=0) so state-dict keys never depend on p.
        layers += [nn.Linear(d_in, d_out), nn.ReLU(), MaskDropout(dropout)]
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
            *_mlp([self.latent_dim, *reversed(hidden)], dropout),
            nn.Linear(hidden[0], self.input_dim),
        )

    def set_fast_cpu_dropout(self, enabled: bool) -> None:
        """Switch the fast CPU dropout masks of :class:`MaskDropout` on or off."""
        for layer in self.modules():
            if isinstance(layer, MaskDropout):
                layer.fast_cpu_masks = enabled

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of ``q(z|x)``."""
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterise(
        self, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Sample ``z = mu + sigma * eps`` in training; return ``mu`` in eval mode.

        ``eps`` (standard normal noise, shape of ``mu``) may be supplied so that a trainer
        controls the noise stream, e.g. identical noise for a data-parallel shard.
        """
        if not self.training:
            return mu
        if eps is None:
            eps = torch.randn_like(mu)
        return mu + eps * torch.exp(0.5 * logvar)

    reparameterize = reparameterise

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruct z-scored features from latent codes."""
        out: torch.Tensor = self.decoder(z)
        return out

    def forward(
        self, x: torch.Tensor, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(reconstruction, mu, logvar)``; ``eps`` optionally fixes the sampling noise."""
        mu, logvar = self.encode(x)
        z = self.reparameterise(mu, logvar, eps)
        return self.decode(z), mu, logvar

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
        """The beta-VAE loss of the batch ``x``, ready for ``backward``
        (``core.model.config.LOSS_REDUCTION`` says how it reduces).

        ``total = (recon_sum + beta * kl_sum) * scale``; ``scale`` defaults to ``1 / rows``,
        the per-sample mean of :func:`vae_loss` (a data-parallel rank passes
        ``world_size / global_batch_rows`` instead). ``eps`` fixes the reparameterisation
        noise. ``forward`` runs the forward pass (default: this module; a DDP wrapper passes
        itself so that its gradient hooks see the pass). ``bf16`` runs the forward pass under
        bfloat16 autocast; the loss terms are computed in float32 either way.
        """
        recon, mu, logvar = forward_float32(self if forward is None else forward, x, eps, bf16)
        sq_err, kl_dims = vae_loss_terms(recon, x, mu, logvar)
        rows = int(x.shape[0])
        factor = 1.0 / max(rows, 1) if scale is None else scale
        return VAELoss((sq_err + beta * kl_dims.sum()) * factor, sq_err, kl_dims, rows)

    @classmethod
    def from_state_dict(
        cls, state_dict: Mapping[str, torch.Tensor], dropout: float = 0.0
    ) -> TacticalVAEModule:
        """Rebuild a module whose architecture is read off the weights' shapes.

        Dropout has no weights, so it is a parameter (irrelevant in eval mode).
        """
        try:
            enc = sorted(
                (int(k.split(".")[1]), v)
                for k, v in state_dict.items()
                if k.startswith("encoder.") and k.endswith(".weight")
            )
            input_dim = int(enc[0][1].shape[1])
            hidden = [int(w.shape[0]) for _, w in enc]
            latent_dim = int(state_dict["fc_mu.weight"].shape[0])
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"Not a TacticalVAEModule state dict ({exc}).") from exc
        module = cls(input_dim, latent_dim, hidden, dropout)
        module.load_state_dict(dict(state_dict))
        return module


def state_dict_input_dim(state_dict: Mapping[str, torch.Tensor]) -> int:
    """Model input width from the first encoder layer's weight (shape ``(out, in)``)."""
    for key in sorted(state_dict):
        if key.startswith("encoder.") and key.endswith(".weight"):
            return int(state_dict[key].shape[1])
    raise ValueError("Not a TacticalVAEModule state dict (no encoder weights).")


def save_module(module: TacticalVAEModule, path: str | os.PathLike[str]) -> Path:
    """Write the module's state dict atomically (loadable with ``weights_only=True``)."""
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    return atomic_write_with(path, lambda tmp: torch.save(state, tmp))


def load_module(path: str | os.PathLike[str], dropout: float = 0.0) -> TacticalVAEModule:
    """Load a module written by :func:`save_module` (CPU, eval mode, ``weights_only=True``)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:  # the notebook's checkpoint layout
        state = state["state_dict"]
    module = TacticalVAEModule.from_state_dict(state, dropout=dropout)
    module.eval()
    return module


def forward_float32(
    run: Forward, x: torch.Tensor, eps: torch.Tensor | None, bf16: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``run(x, eps)`` under bfloat16 autocast when ``bf16``; the outputs in float32, where
    the loss terms are computed (one rule for a module and a stacked ensemble)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        recon, mu, logvar = run(x, eps)
    if bf16:
        recon, mu, logvar = recon.float(), mu.float(), logvar.float()
    return recon, mu, logvar


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, averaged over the batch (shape ``(k,)``)."""
    return (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).mean(dim=0)


def vae_loss_terms(
    recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-batch sums ``(squared error summed over rows and features, KL per dim summed over rows)``.

    The trainer accumulates these sums and divides by row counts itself, so that epoch
    means are per-segment means, also across data-parallel ranks.
    """
    sq_err = (recon - x).pow(2).sum()
    kl_dims = (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).sum(dim=0)
    return sq_err, kl_dims


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
    gradient (what makes DDP match single-process training). See
    ``core.model.config.LOSS_REDUCTION``.
    """
    n = max(int(x.shape[0]), 1)
    sq_err, kl_dims = vae_loss_terms(recon, x, mu, logvar)
    recon_loss = sq_err / n
    kl_loss = kl_dims.sum() / n
    return recon_loss + beta * kl_loss, recon_loss, kl_loss


def build_module(n_features: int, cfg: VAEConfig) -> TacticalVAEModule:
    """The module ``cfg`` describes for ``n_features`` inputs (seeded by the caller)."""
    return TacticalVAEModule(
        input_dim=n_features,
        latent_dim=cfg.latent_dim,
        hidden_dims=cfg.hidden_dims,
        dropout=cfg.dropout,
    )
