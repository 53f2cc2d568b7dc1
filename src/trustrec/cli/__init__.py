"""The ``trustrec`` command: reads arguments, calls the library, writes files.

Its flags and file columns are a public contract (external scripts drive trustrec through
them). Errors a user can cause print one line (``error: …``) and exit with status 2. Each
module of this package registers one group of commands on the shared Typer ``app``.
"""

from __future__ import annotations

import logging

from trustrec.cli import core, data, fairness, llm, privacy, robustness, serve, text  # noqa: F401  (modules register their commands)
from trustrec.cli.common import app


def main() -> None:
    """Entry point of the ``trustrec`` command."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


__all__ = ["app", "main"]
