"""What is read off a stored run, above the run store: its tactical states (fitted once and
cached in ``states/``), timelines, team fingerprints, traversals, the stability report
across seed runs, and the export of its artifacts."""
