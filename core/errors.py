"""Every error the engine raises on purpose, under one base class.

``TacticalError`` lets a caller (a page, the CLI) catch "the engine refused this input"
in one clause while programming errors still surface. Each class also keeps the builtin
base it always had (``ValueError``, ``LookupError``, ...), so ``except ValueError`` keeps
working. Messages say what is wrong and what to do; the class says which part refused.
"""

from __future__ import annotations


class TacticalError(Exception):
    """Base of every error the engine raises on purpose."""


# --- infrastructure -----------------------------------------------------------------------


class UnsafePathError(TacticalError, ValueError):
    """A user-supplied path points outside the root it must stay under."""


# --- match data and features ---------------------------------------------------------------


class SourceError(TacticalError, FileNotFoundError):
    """A source cannot be read at all (missing path, empty folder, demo files absent)."""


class StatsBombFormatError(TacticalError, ValueError):
    """A file is not the StatsBomb JSON it should be (corrupt, truncated, wrong kind)."""


class ProviderError(TacticalError, ValueError):
    """A provider name, match folder or provider file that cannot be used as given."""


class FeaturesFileError(TacticalError, ValueError):
    """The features file cannot be used for training (the message says why and what to do)."""


class XGModelError(TacticalError, ValueError):
    """The xG model cannot be applied: bad input table or an unreadable artefact."""


class DatasetImportError(TacticalError, ValueError):
    """An uploaded features table was refused; the message says why and what to do."""


# --- model ----------------------------------------------------------------------------------


class ConfigError(TacticalError, ValueError):
    """A configuration value is out of range or of the wrong kind."""


class PreprocessingError(TacticalError, ValueError):
    """The feature table cannot be turned into a model matrix (the message says why)."""


class NoFeatureColumnsError(PreprocessingError):
    """No column matches the ``t<digit>_`` feature pattern."""


class NoUsableFeaturesError(PreprocessingError):
    """Every feature column was dropped (all null, mostly null or constant)."""


class TooFewRowsError(PreprocessingError):
    """Fewer usable rows than the model needs."""


class MissingColumnsError(PreprocessingError):
    """``transform`` got a table without some of the fitted feature columns."""


class NotFittedError(PreprocessingError):
    """``transform`` (or save) was called before ``fit``."""


class TrainingError(TacticalError, ValueError):
    """Training cannot start on this input (the message says what to change)."""


# --- runs and jobs ----------------------------------------------------------------------------


class RunNotFoundError(TacticalError, LookupError):
    """No run folder with this id exists."""


class SweepNotFoundError(TacticalError, LookupError):
    """No sweep with this id (or the string is not a sweep id)."""


class InvalidRunIdError(RunNotFoundError, ValueError):
    """The string is not a run id at all (wrong shape, or a path that escapes the store)."""


class BrokenRunError(TacticalError, ValueError):
    """A run folder's stored config or status cannot be read; the run can only be deleted
    (or, for a status, retried)."""


class ArtifactMissingError(TacticalError, FileNotFoundError):
    """A run exists but one of its files has not been written (yet)."""


class RunBusyError(TacticalError, RuntimeError):
    """The run is being computed by a live process; the operation would corrupt it."""


class JobError(TacticalError, RuntimeError):
    """A job cannot be submitted or controlled (the message says why)."""


class JobNotFoundError(TacticalError, LookupError):
    """No job with this id."""


class InvalidJobIdError(JobNotFoundError, ValueError):
    """The string is not a job id (wrong shape, or a path that escapes the jobs folder)."""


# --- analyses and views ------------------------------------------------------------------------


class StatesError(TacticalError, ValueError):
    """The inputs cannot support a state analysis (too few rows, bad K range, ...)."""


class TraversalError(TacticalError, ValueError):
    """The dimension, base code or values asked for do not fit the model."""


class StabilityError(TacticalError, ValueError):
    """The runs cannot be compared (different segments, latent sizes, unfinished runs)."""


class TimelineError(TacticalError, ValueError):
    """The match, its events or the sequences cannot make a timeline."""


class FingerprintError(TacticalError, ValueError):
    """A team, segment or column asked for is not in the data."""


class InspectError(TacticalError, ValueError):
    """The data handed to an inspector function cannot answer the question asked."""
