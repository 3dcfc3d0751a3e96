"""Exceptions relmask raises. Every message names the thing that is wrong (file, parameter, plugin)."""
from __future__ import annotations

import difflib


class RelmaskError(Exception):
    """Base class of all relmask errors."""


class UnknownNameError(RelmaskError, KeyError):
    """A registry lookup (method, domain, masker, model, source) found no such name."""

    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        hint = difflib.get_close_matches(name, self.known, n=1)
        msg = f"unknown {kind} {name!r}"
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        msg += f"; known: {', '.join(self.known) or '(none registered)'}"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class ParameterError(RelmaskError, ValueError):
    """A parameter is unknown, of the wrong type, or out of range."""


class DuplicateNameError(RelmaskError):
    """Two plugins registered the same name for the same hook."""


class PluginError(RelmaskError):
    """A plugin failed to import or to register."""


class ComponentOutputError(PluginError, ValueError):
    """A registered component (relevance method, masker) returned output that breaks its contract, e.g. NaN or
    infinite values. Names the component and the plugin that registered it."""


class RelmaskWarning(UserWarning):
    """Something relmask recovered from or that may make results less meaningful (a corrupt cache entry that is
    recomputed, many relevance maps without information); the message names the file or the count."""


class DataError(RelmaskError, ValueError):
    """Input data is corrupt, truncated, of the wrong shape or contains NaNs. Names the file where known."""

    def __init__(self, problem: str, path: object | None = None):
        self.problem, self.path = problem, path
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class UnsupportedLayerError(RelmaskError, TypeError):
    """A relevance method met a layer it has no rule for."""


class NotebookExecutionError(RelmaskError):
    """A notebook cell raised during `relmask run`: which cell, what it raised, where the executed notebook is."""

    def __init__(self, message: str, cell: int | None = None, ename: str | None = None,
                 evalue: str | None = None, notebook_out: object | None = None, cell_index: int | None = None):
        # cell: the execution count (In [n]) in the executed notebook; cell_index: the failing cell's 0-based
        # position in the *source* notebook (papermill inserts a parameters cell, so positions differ)
        self.cell, self.ename, self.evalue, self.notebook_out = cell, ename, evalue, notebook_out
        self.cell_index = cell_index
        super().__init__(message)


class NonFiniteResultError(NotebookExecutionError):
    """A notebook ran to the end but recorded a headline metric that is NaN, infinite or missing.

    Raised by :func:`relmask.running.runner.run_notebook` after execution (the executed notebook and ``results.json``
    are kept for inspection), so ``relmask reproduce`` records the run as failed instead of done.
    """


class OutputBusyError(RelmaskError):
    """Another run is writing into the same output folder (its lock is held); names the folder."""


class RunInterrupted(KeyboardInterrupt):
    """A run was ended by a signal (SIGTERM: ``relmask run`` turns it into this, as Ctrl-C is a KeyboardInterrupt),
    so that it ends the way an interrupted run does: the previous run kept, one line, exit ``128 + signal``."""

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class sigterm_interrupts:  # lower-case: used as a context manager, like contextlib's lower-case classes
    """While active, SIGTERM raises :class:`RunInterrupted` (a KeyboardInterrupt) like Ctrl-C, so that a terminated
    ``relmask run`` or ``relmask reproduce`` ends as an interrupted one does: what finished is kept, one line.
    Outside the main thread (where signals cannot be handled) it does nothing."""

    def __enter__(self):
        import signal

        def terminate(signum, frame):
            raise RunInterrupted(signum)

        try:
            self.previous = signal.signal(signal.SIGTERM, terminate)
        except ValueError:  # not the main thread
            self.previous = None
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def require(condition, message: str) -> None:
    """Raise :class:`ParameterError` with ``message`` unless ``condition`` holds (the checks of ``validate()``)."""
    if not condition:
        raise ParameterError(message)


class TrainingError(RelmaskError, ArithmeticError):
    """A model's training failed, e.g. its loss turned NaN. Names the model."""
