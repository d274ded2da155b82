"""Plumbing every other package uses: atomic file writes, data and runs roots, file locks,
process liveness. Nothing here knows about football or models."""
