"""One error hierarchy. Each error carries a stable code and the process exit status.

Exit statuses (docs/exit-codes.md):
  0 success, 1 does not fit, 2 bad usage or input, 3 model cannot be resolved.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_DOES_NOT_FIT = 1
EXIT_USAGE = 2
EXIT_MODEL = 3


class VramError(Exception):
    """Base of every error the library raises on purpose."""

    code = "error"
    exit_status = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(VramError):
    """Bad options or input values (unknown dtype, negative batch, bad literal)."""

    code = "usage"
    exit_status = EXIT_USAGE


class ModelResolutionError(VramError):
    """The model cannot be found, fetched or understood."""

    code = "model_unresolved"
    exit_status = EXIT_MODEL


class ConfigError(ModelResolutionError):
    """A config.json is malformed: a field missing, of the wrong type, or impossible."""

    code = "config_invalid"


class UnsupportedModelError(ModelResolutionError):
    """A config of a model_type that no family handles."""

    code = "unsupported_model_type"


class PresetError(VramError):
    """A bundled data file is invalid (a bug in the package, not in the user's input)."""

    code = "preset_invalid"
    exit_status = EXIT_MODEL
