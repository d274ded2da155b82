"""What the pages share: routing, sidebar, cached readers, errors and job widgets.

Nothing here computes anything worth testing on its own; the logic lives in ``core``.
"""
