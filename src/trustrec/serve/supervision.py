"""Worker processes that cannot outlive their supervisor (``trustrec serve --workers N``).

uvicorn's supervisor hands the listening socket to its workers; if the supervisor is
SIGKILLed, nothing stops them, and they keep the port. ``trustrec serve`` names itself
the supervisor (:func:`mark_supervisor`); each worker then asks the Linux kernel
(``prctl(PR_SET_PDEATHSIG)``) for a SIGTERM the moment its parent dies, and exits at once
if the parent is already gone. SIGTERM lets uvicorn finish the requests in flight.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

from trustrec.errors import ConfigError

log = logging.getLogger(__name__)

#: Environment variable naming the supervisor's process ID for its workers.
SUPERVISOR_ENV = "TRUSTREC_SERVE_SUPERVISOR"
_PR_SET_PDEATHSIG = 1


def mark_supervisor() -> None:
    """Name this process the supervisor of the workers it is about to start."""
    os.environ[SUPERVISOR_ENV] = str(os.getpid())


def die_with_supervisor() -> None:
    """In a worker of a supervisor named by :func:`mark_supervisor`: receive SIGTERM when it
    dies (Linux), or terminate now if it already has. Does nothing in the supervisor itself
    or in a process started otherwise."""
    value = os.environ.get(SUPERVISOR_ENV)
    if not value:
        return
    try:
        supervisor = int(value)
    except ValueError:
        raise ConfigError(f"${SUPERVISOR_ENV} is {value!r}, expected a process ID") from None
    if supervisor == os.getpid():
        return
    if not sys.platform.startswith("linux"):
        log.warning("workers cannot follow their supervisor on %s; run them under a "
                    "supervisor that stops them (systemd, gunicorn)", sys.platform)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != supervisor:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
