"""What every command shares: exit codes, argument types, progress on long jobs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69
EXIT_CONFIG = 78


class ProgressLines:
    """Progress without a terminal (a log, a pipe): a line at every tenth of the way."""

    def __init__(self, total: int, unit: str) -> None:
        self.total, self.unit, self.done, self.shown = total, unit, 0, 0

    def __enter__(self) -> "ProgressLines":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n: int) -> None:
        self.done += n
        tenths = 10 * self.done // max(self.total, 1)
        if tenths > self.shown:
            self.shown = tenths
            print(f"{self.done}/{self.total} {self.unit} ({100 * self.done // max(self.total, 1)}%)", file=sys.stderr)


def progress_bar(total: int, unit: str):
    """A progress bar on a terminal, progress lines otherwise."""
    if not sys.stderr.isatty():
        return ProgressLines(total, unit)
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, file=sys.stderr)


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer: {text}")
    return value


def read_sql(path: Path) -> str:
    return sys.stdin.read() if str(path) == "-" else path.read_text()
