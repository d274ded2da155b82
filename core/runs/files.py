"""The layout of a run folder: the name of every file a run holds.

What each file contains is in docs/contracts.md ("Files on disk"); :class:`core.runs.store.Run`
is the one reader of them.
"""

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
STATUS_LOCK_FILE = ".status.lock"
WRITER_LOCK_FILE = ".writer.lock"  # held by the one process computing the run
METRICS_FILE = "metrics.jsonl"
MODEL_FILE = "model.pt"
PREPROCESSING_FILE = "preprocessing.json"
LATENTS_FILE = "latents.parquet"
CORRELATIONS_FILE = "correlations.npz"
INTERPRETATION_FILE = "interpretation.parquet"
PIVOT_FILE = "interpretation_pivot.csv"
UMAP_FILE = "umap.parquet"
MODEL_MATRIX_FILE = "model_matrix.parquet"  # while training streams it (core.model.streaming)
FIRST_LAYOUT_FILE = "first_layout.parquet"  # PCA of the codes, written before UMAP runs
DIAGNOSTICS_FILE = "diagnostics.json"
AXES_FILE = "reading_axes.npz"  # linear map from model codes to the latents.parquet axes
LOG_FILE = "log.txt"
