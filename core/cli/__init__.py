"""The command line (``python -m core ...``): feature extraction, training, export, demo,
jobs and the hidden job worker, with progress bars."""
