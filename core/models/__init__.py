"""Seed-compatible names for the learned components (the notebook imports
``tactical.models.preprocessing`` and ``tactical.models.vae``); they live in :mod:`core.model`."""
