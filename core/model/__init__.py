"""The model: configs, preprocessing, the beta-VAE, its training loop, DDP and devices."""
