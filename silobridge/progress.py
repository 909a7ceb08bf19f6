"""Progress for a person at a terminal: a live line per long step, nothing otherwise.

Library code marks its long steps with `step("extract county")` and may update them as
it goes (rows so far, chunks done); whether anything is drawn is the command line's
choice. Inside `shown()`, each open step is a line on stderr with a spinner, a bar when
the step knows its total, what it has done and the time it has taken; the lines go when
their steps end, so what stays on screen is what a run without a terminal prints too.
`shown()` draws only when stdout and stderr are both terminals: logs, pipes, Airflow
task logs and CI get no control characters. Outside it, `step` does nothing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

_enabled = False
_display: Progress | None = None


class Step:
    """One step on the display (or on none: then updates go nowhere)."""

    def __init__(self, display: Progress | None = None, task: TaskID | None = None) -> None:
        self._display = display
        self._task = task

    def update(self, detail: str | None = None, *, description: str | None = None,
               total: float | None = None, completed: float | None = None,
               advance: float | None = None) -> None:
        """Say what the step has done (`detail`), rename it, or move its bar."""
        if self._display is None or self._task is None:
            return
        fields = {} if detail is None else {"detail": detail}
        self._display.update(self._task, description=description, total=total,
                             completed=completed, advance=advance, **fields)


def is_terminal(*files: IO[str]) -> bool:
    """Whether every one of `files` is an interactive terminal (not a pipe, a file or a
    dumb terminal), as rich judges it."""
    consoles = [Console(file=f) for f in files]
    return all(c.is_terminal and not c.is_dumb_terminal for c in consoles)


def active() -> bool:
    """Whether steps are drawn now."""
    return _enabled


@contextmanager
def shown(enabled: bool | None = None) -> Iterator[None]:
    """Draw the steps opened inside on stderr; `enabled` None: only when stdout and
    stderr are both terminals. Nested calls change nothing."""
    global _enabled  # noqa: PLW0603 - one terminal, one display
    if enabled is None:
        enabled = is_terminal(sys.stdout, sys.stderr)
    if _enabled or not enabled:
        yield
        return
    _enabled = True
    try:
        yield
    finally:
        _enabled = False


@contextmanager
def step(label: str, total: float | None = None) -> Iterator[Step]:
    """A step of work; on the display while it runs, when steps are shown."""
    if not _enabled:
        yield Step()
        return
    with _drawing() as display:
        task = display.add_task(label, total=total, detail="")
        try:
            yield Step(display, task)
        finally:
            display.remove_task(task)


@contextmanager
def _drawing() -> Iterator[Progress]:
    """The live display: the one drawing now, or one drawing until this step ends (so
    nothing is drawn between steps, and output printed there is left as it is)."""
    global _display  # noqa: PLW0603
    if _display is not None:
        yield _display
        return
    stderr = sys.stderr
    # soft_wrap: what the command prints while steps are drawn goes above them as it is,
    # not wrapped at the terminal's width (a line of JSON stays one line)
    display = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                       BarColumn(bar_width=24), TaskProgressColumn(),
                       TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                       console=Console(file=stderr, soft_wrap=True), transient=True)
    # log lines must go above the live lines too: point the handlers writing to stderr
    # at the display's stand-in for it while it draws
    handlers = [h for h in logging.getLogger().handlers
                if isinstance(h, logging.StreamHandler) and h.stream is stderr]
    with display:
        _display = display
        for handler in handlers:
            handler.setStream(sys.stderr)
        try:
            yield display
        finally:
            for handler in handlers:
                handler.setStream(stderr)
            _display = None
