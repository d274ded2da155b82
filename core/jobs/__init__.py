"""Background jobs: training and extraction in detached worker processes, state on disk.

The public calls are in :mod:`core.jobs.api`; :mod:`core.jobs.manager` is the store,
:mod:`core.jobs.worker` the worker side and :mod:`core.jobs.slots` the device locks.
"""
