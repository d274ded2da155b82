"""Learned components: the preprocessing pipeline and the beta-VAE module."""
