"""One training run, filled stage by stage: check the input, prepare the matrix, train the
VAE, then the analyses (latents, quality, reading axes, correlations, baseline), the map
projection and the states; each stage reports progress and time left to ``status.json``."""
