"""Pure maths over arrays and frames, no file I/O and no run: correlations, top-k tables,
UMAP and health (latents), which dimensions are distinct and the reading axes (quality),
the PCA baseline, mixtures and state labels, sequence maths of timelines, fingerprints,
traversals, and matching dimensions across trainings (stability)."""
