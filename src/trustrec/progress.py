"""Progress of long work. Library functions take ``on_progress(what, done, total)`` (a
:data:`ProgressFn`) and call it as steps finish; the CLI passes the reporter of
:func:`terminal_progress`, which draws a rich bar with an ETA per kind of step on a
terminal and nothing anywhere else (logs and pipes stay clean)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: ``(what, done, total)``: ``done`` of ``total`` steps of ``what`` are finished.
ProgressFn = Callable[[str, int, int], None]


def ignore(_what: str, _done: int, _total: int) -> None:
    """The reporter of a caller that asked for no progress (``on_progress or ignore``)."""


@contextmanager
def terminal_progress() -> Iterator[ProgressFn | None]:
    """A reporter drawing one bar per ``what`` on stderr when it is a terminal, else None."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, int] = {}

        def report(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)

        yield report
