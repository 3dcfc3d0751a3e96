"""The errors of ``relmask reproduce`` and what a stopped reproduction leaves (finished, failed, not finished)."""
from __future__ import annotations

import errno
import os

from relmask.errors import NotebookExecutionError, RelmaskError, RunInterrupted
from relmask.running.run_records import name_list


class ConfigError(RelmaskError, ValueError):
    """A reproduce configuration is malformed (names the file and the entry)."""


class OutputError(RelmaskError):
    """An output of ``reproduce`` (run records, the paper directory) cannot be written; names the path."""


class _Stopped:
    """What a stopped reproduction leaves: runs finished (kept), failed (tried again next time), not finished."""

    finished: list[str]
    failed: list[str]
    unfinished: list[str]

    def kept(self) -> str:
        total = len(self.finished) + len(self.failed) + len(self.unfinished)
        text = f"finished and kept: {name_list(self.finished)} ({len(self.finished)} of {total} runs)"
        if self.failed:
            text += f"; failed: {name_list(self.failed)}"
        return text + f"; not finished: {name_list(self.unfinished)}"


class ReproduceInterrupted(_Stopped, RunInterrupted):
    """Ctrl-C or SIGTERM ended ``reproduce``. Finished runs are kept (each has its ``done.json``); running the
    same reproduction again resumes with the others. A KeyboardInterrupt, with the signal in ``signum``."""

    def __init__(self, signum: int, finished: list[str], failed: list[str], unfinished: list[str]):
        super().__init__(signum)
        self.finished, self.failed, self.unfinished = finished, failed, unfinished


class DiskFullError(_Stopped, OutputError):
    """The disk filled up (ENOSPC) during ``reproduce``: the reproduction stopped, finished runs are kept."""

    def __init__(self, cause: BaseException, finished: list[str], failed: list[str], unfinished: list[str]):
        where = getattr(cause, "filename", None) or getattr(cause, "notebook_out", None)
        super().__init__(f"{os.strerror(errno.ENOSPC)}" + (f" ({where})" if where else ""))
        self.finished, self.failed, self.unfinished = finished, failed, unfinished


def disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk: an ENOSPC ``OSError`` here, or one a notebook's cell
    raised in its kernel."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if isinstance(exc, NotebookExecutionError) and (
                f"[Errno {errno.ENOSPC}]" in (exc.evalue or "") or os.strerror(errno.ENOSPC) in (exc.evalue or "")):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
