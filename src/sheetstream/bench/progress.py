"""Progress on stderr: a bar per scenario (tqdm), each round's figures as a line above it.

Without tqdm (`pip install 'sheetstream[bench]'`), or when stderr is not a terminal, the same
lines go out plainly, prefixed `[bench]`, so a log file reads as before.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


class Bars:
    def __init__(self) -> None:
        self._bar: Any = None
        self._tqdm: Any = None
        if sys.stderr.isatty():
            with contextlib.suppress(ImportError):
                from tqdm import tqdm

                self._tqdm = tqdm

    @contextlib.contextmanager
    def scenario(self, name: str, steps: int | None) -> Iterator[None]:
        """A bar for one scenario of `steps` steps (None: unknown, the bar counts)."""
        self.note(f"{name}: starting")
        if self._tqdm is not None:
            self._bar = self._tqdm(
                total=steps, desc=name, unit="step", file=sys.stderr, leave=True, dynamic_ncols=True
            )
        try:
            yield
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def step(self, message: str) -> None:
        """One step done (a server's round): its figures, and the bar one further."""
        self.note(message)
        if self._bar is not None:
            self._bar.update(1)

    def note(self, message: str) -> None:
        line = f"[bench] {message}"
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)
