"""The stage API (:func:`stage`, :class:`Stage`, :func:`status`) and how this process shows its stages: a live
line, one line per finished stage, and events to a progress file (:mod:`relmask.running.progress.events`)."""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sized
from typing import Literal

from relmask.running.progress.events import PROGRESS_FILE_ENV, PROGRESS_MODE_ENV, REFRESH_S, _emit
from relmask.running.progress.terminal import in_ipykernel, status_line

_local = threading.local()
_lock = threading.RLock()


def _stack() -> list[Stage]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def format_seconds(s: float) -> str:
    """``4.2 s``, ``42 s``, ``3:07``, ``1:02:03``: short enough for a status line."""
    if s < 9.95:
        return f"{max(0.0, s):.1f} s"
    s = round(s)
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class Stage:
    """One stage of work: a context manager, and an iterator when given items. See :func:`stage`."""

    def __init__(self, description: str, total: int | Iterable | None = None, *, log: bool = True):
        self.description = str(description)
        self.items: Iterable | None = None
        if total is not None and not isinstance(total, int):
            self.items = total
            total = len(total) if isinstance(total, Sized) else None
        if total is not None and total < 0:
            raise ValueError(f"stage {description!r}: total must be >= 0, got {total}")
        self.total = total
        self.log = log
        self.n = 0  # finished steps
        self.position = 0  # the step being worked on (1-based; 0: none yet)
        self.start = self.step_start = time.monotonic()
        self.info = ""  # e.g. the last epoch's loss, shown after the label

    # -- text ---------------------------------------------------------------------------------------------
    def label(self) -> str:
        if self.position and self.total:
            return f"{self.description} {self.position}/{self.total}"
        if self.position and self.items is not None:
            return f"{self.description} {self.position}"
        return self.description

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left by the mean duration of the finished steps; None before the first one finished."""
        if not self.total or not self.n:
            return None
        now = time.monotonic() if now is None else now
        per_step = (self.step_start - self.start) / self.n
        return max(0.0, per_step * (self.total - self.n) - (now - self.step_start))

    # -- protocol -----------------------------------------------------------------------------------------
    def __enter__(self) -> Stage:
        self.start = self.step_start = time.monotonic()
        if not _stack():
            _new_reporter()
        _stack().append(self)
        _reporter().changed(force=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        stack = _stack()
        if exc_type is None and self.log and self.items is None:
            _reporter().finished(self, time.monotonic() - self.start, whole=True)
        if self in stack:
            stack.remove(self)
        _reporter().changed(force=True, closed=not stack)
        return False

    def __iter__(self) -> Iterator:
        if self.items is None:
            raise TypeError(f"stage {self.description!r} was given no items to iterate over")
        with self:
            for item in self.items:
                self.position += 1
                self.step_start = time.monotonic()
                _reporter().changed(force=True)
                yield item
                self.n += 1
                now = time.monotonic()
                took, self.step_start = now - self.step_start, now  # the estimate counts this step as done
                if self.log:
                    _reporter().finished(self, took, whole=False)

    def update(self, n: int = 1, info: str | None = None) -> None:
        """``n`` more steps finished (a stage without items: call once per step)."""
        self.n += n
        self.position = min(self.n + 1, self.total) if self.total else self.n
        self.step_start = time.monotonic()
        if info is not None:
            self.info = info
        _reporter().changed()


def stage(description: str, total: int | Iterable | None = None, *, log: bool = True) -> Stage:
    """A stage of work: ``with stage("CNN₁"):`` or ``for seed in stage("seed", seeds):``.

    ``total`` is a number of steps (report them with :meth:`Stage.update`) or the items to iterate over.
    Stages nest; the status line joins the open ones. ``log=False``: no line when a step or the stage finishes
    in lines mode (e.g. epochs, whose enclosing stage already gets one).
    """
    return Stage(description, total, log=log)


def status(now: float | None = None) -> str:
    """The status line of this thread's open stages ('' when none)."""
    stack = list(_stack())
    if not stack:
        return ""
    now = time.monotonic() if now is None else now
    text = ", ".join(s.label() + (f" ({s.info})" if s.info else "") for s in stack)
    text += f" — {format_seconds(now - stack[0].start)} elapsed"
    # the outermost counted stage: its steps are the largest units, the most stable estimate
    left = next((s.eta(now) for s in stack if s.total and 0 < s.n < s.total), None)
    if left is not None:
        text += f", ~{format_seconds(left)} left"
    return text


# -- where this process's stages are shown --------------------------------------------------------------------
def _mode() -> str:
    mode = os.environ.get(PROGRESS_MODE_ENV, "").strip().lower()
    if mode in ("live", "lines", "off"):
        return mode
    if os.environ.get(PROGRESS_FILE_ENV):  # a kernel run by relmask: its parent shows it live
        return "lines"
    isatty = getattr(sys.stderr, "isatty", lambda: False)
    return "live" if isatty() or in_ipykernel() else "lines"


class _Reporter:
    def __init__(self):
        self.mode = _mode()
        self.file = os.environ.get(PROGRESS_FILE_ENV) or None
        self.bar = None
        self.last = 0.0

    def changed(self, force: bool = False, closed: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < REFRESH_S:
            return
        self.last = now
        text = "" if closed else status(now)
        with _lock:
            if self.mode == "live":
                self._draw(text)
            if self.file:
                stack = _stack()
                timed = [s for s in stack if s.total and 0 < s.n < s.total]
                self._event({"status": text, "eta_s": timed[0].eta(now) if timed else None})

    def finished(self, st: Stage, seconds: float, whole: bool) -> None:
        """``st`` finished (``whole``) or one of its steps did."""
        stack = _stack()
        outer = stack[:stack.index(st)] if st in stack else []
        path = ", ".join([s.label() for s in outer] + [st.description if whole else st.label()])
        line = f"{path} done in {format_seconds(seconds)}"
        left = next((s.eta() for s in (outer if whole else [*outer, st]) if s.total and 0 < s.n < s.total), None)
        if left is not None:
            line += f", ~{format_seconds(left)} left"
        with _lock:
            if self.mode == "lines":
                print(line, file=sys.stderr, flush=True)
            if self.file:
                self._event({"done": line})

    def _draw(self, text: str) -> None:
        if not text:
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            return
        if self.bar is None:
            self.bar = status_line(sys.stderr)
        self.bar.set_description_str(text, refresh=True)

    def _event(self, event: dict) -> None:
        if not _emit(event, self.file):
            self.file = None  # the reader is gone (its run ended): progress must never fail the work


_REPORTER: _Reporter | None = None


def _reporter() -> _Reporter:
    global _REPORTER
    if _REPORTER is None:
        _REPORTER = _Reporter()
    return _REPORTER


def _new_reporter() -> None:
    """Chosen anew whenever an outermost stage opens: the environment (a kernel's progress file, the mode) may
    have changed since the last one."""
    global _REPORTER
    _REPORTER = _Reporter()
