"""Seed-compatible name: re-exports :mod:`core.model.vae`."""

from core.model.vae import TacticalVAEModule, vae_loss

__all__ = ["TacticalVAEModule", "vae_loss"]
