"""Tactical-state engine: match data to features, beta-VAE runs and their analyses.

The engine never imports streamlit; the dashboard in ``app.py`` and ``pages/`` calls it.
"""

__all__: list[str] = []
