"""Errors the engine raises for bad input; each names the file, line or field at fault."""


class RecsysNegError(Exception):
    """Base class: a message meant for the user, no traceback needed."""


class DataError(RecsysNegError):
    """Malformed or unusable interaction data."""


class ConfigError(RecsysNegError):
    """A pipeline file or override that does not validate."""


class TrainingError(RecsysNegError):
    """Training cannot continue (for example a NaN loss)."""
