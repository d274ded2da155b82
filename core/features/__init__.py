"""Match events to segment features: segments, the feature computations and their
registry, extraction into dataset folders, and the datasets themselves."""
