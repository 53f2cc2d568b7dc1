"""One exception family for trustrec: every error a user can cause is a ``TrustrecError``."""

from __future__ import annotations


class TrustrecError(Exception):
    """Root of all trustrec errors; the CLI prints its message as one line, without a traceback."""


class DataError(TrustrecError):
    """Input data is missing, malformed or inconsistent (the message names file, line, field)."""


class UnknownIdError(DataError):
    """An external user or item ID is not in the index it was looked up in."""


class ConfigError(TrustrecError):
    """A model name, hyper-parameter or option is invalid."""


class ModelError(TrustrecError):
    """A model was used wrongly (e.g. before ``fit``) or cannot do what was asked."""


class ArtifactError(ModelError):
    """A saved model directory is missing, tampered with or from an incompatible version."""
