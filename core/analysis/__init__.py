"""What the latents mean and what they show: correlations, top-k tables, UMAP and health
(latents), tactical states (mixtures, states), timelines, team fingerprints, traversals
and stability across seeds."""
