"""Runs: one folder per trained configuration (the store and its status record), the
pipeline that fills it, and the export of its artifacts."""
