"""Progress bars and stage timings for long work, shown on stderr with rich."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Reporter:
    """Shows one progress bar per stage and records each stage's wall time.

    Parameters
    ----------
    enabled : bool
        Draw bars (False for quiet runs and tests; timings are still recorded).
    console : rich.console.Console, optional
        Where to draw; stderr by default so stdout stays clean.
    """

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True)
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None) -> Iterator[Callable[[float], None]]:
        """Time a stage named ``name``; yield ``advance(amount)`` for its bar.

        Parameters
        ----------
        name : str
            Stage label (also the key in :attr:`timings`).
        total : float, optional
            Amount of work; None shows a spinner.
        """
        start = time.perf_counter()
        if not self.enabled:
            yield lambda amount: None
        else:
            columns = [SpinnerColumn(), TextColumn("[bold]{task.description:<22}")]
            if total is not None:
                columns += [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
            columns.append(TimeElapsedColumn())
            with Progress(*columns, console=self.console, transient=False) as bar:
                task = bar.add_task(name, total=total)
                yield lambda amount: bar.advance(task, amount)
                if total is not None:
                    bar.update(task, completed=total)
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
