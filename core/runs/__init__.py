"""Runs: one folder per trained configuration: the store (typed readers of every artifact,
one writer at a time), its status record, and the readers and writers of the analysis
records it holds (reading axes, the states cache)."""
