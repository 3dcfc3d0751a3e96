"""Progress of long runs: which run, which stage, how long is left — on a terminal, in logs and across Dask.

Experiments mark their stages; nesting builds the status line::

    from relmask import progress

    for seed in progress.stage("seed", seeds):                      # "seed 2/3"
        with progress.stage("CNN₂ lrp.epsilon/mean"):
            fit(model, x, y, epochs=4, callbacks=[progress.keras_callback()])   # "epoch 3/4"

gives ``seed 2/3, CNN₂ lrp.epsilon/mean, epoch 3/4 — 1:05 elapsed, ~2:10 left``. Where it goes:

- a terminal (or an interactive Jupyter kernel): one live status line, redrawn in place;
- anything else (a log file, CI, a kernel executed by papermill): one line per finished stage, on stderr;
- additionally, when ``RELMASK_PROGRESS_FILE`` names a file, every change as one JSON line there. That is how
  :func:`relmask.runner.run_notebook` (``on_progress``) follows a kernel it executes, how ``relmask run`` and
  ``relmask reproduce`` show it (prefixed with the run's name), and how a Dask worker forwards it to the client
  (topic :data:`TOPIC`, see :func:`publisher` and :class:`RunDisplay`). Such a process also forwards every
  warning it shows (:func:`forward_warnings`, installed when ``relmask`` is imported), so the console that
  started a kernel sees the kernel's warnings — all-zero maps, a recomputed cache entry — once each.

``RELMASK_PROGRESS=live|lines|off`` overrides the choice between the first two.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

#: the file (JSON lines) a stage reports to when set: written by a kernel, read by the process that started it
PROGRESS_FILE_ENV = "RELMASK_PROGRESS_FILE"
#: live | lines | off: how stages are shown in this process (default: live on a terminal, lines otherwise)
PROGRESS_MODE_ENV = "RELMASK_PROGRESS"
#: Dask event topic carrying progress from workers to the client
TOPIC = "relmask-progress"
#: a live status line is redrawn at most this often (seconds); a JSON event written at most this often
REFRESH_S = 0.25

_local = threading.local()
_lock = threading.RLock()


def _stack() -> list["Stage"]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def format_seconds(s: float) -> str:
    """``4.2 s``, ``42 s``, ``3:07``, ``1:02:03``: short enough for a status line."""
    if s < 9.95:
        return f"{max(0.0, s):.1f} s"
    s = int(round(s))
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
            total = len(total) if hasattr(total, "__len__") else None
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
    def __enter__(self) -> "Stage":
        self.start = self.step_start = time.monotonic()
        if not _stack():
            _new_reporter()
        _stack().append(self)
        _reporter().changed(force=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
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
    timed = [s for s in stack if s.total and 0 < s.n < s.total]
    if timed:  # the outermost counted stage: its steps are the largest units, the most stable estimate
        text += f", ~{format_seconds(timed[0].eta(now))} left"
    return text


# -- where this process's stages are shown --------------------------------------------------------------------
def _in_ipykernel() -> bool:
    return "ipykernel" in sys.modules and type(sys.stderr).__module__.startswith("ipykernel")


def _mode() -> str:
    mode = os.environ.get(PROGRESS_MODE_ENV, "").strip().lower()
    if mode in ("live", "lines", "off"):
        return mode
    if os.environ.get(PROGRESS_FILE_ENV):  # a kernel run by relmask: its parent shows it live
        return "lines"
    isatty = getattr(sys.stderr, "isatty", lambda: False)
    return "live" if isatty() or _in_ipykernel() else "lines"


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
        timed = [s for s in (outer if whole else [*outer, st]) if s.total and 0 < s.n < s.total]
        if timed:
            line += f", ~{format_seconds(timed[0].eta())} left"
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


#: the width a live line assumes where the terminal reports none (0 columns: some pseudo-terminals, `script`, CI)
FALLBACK_COLUMNS = 120


def progress_bar(*args, **kwargs):
    """A tqdm progress bar: Jupyter's widget bar where ipywidgets is installed, else the plain text bar (also in a
    kernel: ``tqdm.auto`` without ipywidgets warns "IProgress not found" on every bar and falls back anyway)."""
    import importlib.util

    if _in_ipykernel() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(*args, **kwargs)


def status_line(file):
    """A live status line on ``file``: a tqdm bar showing only its text (the plain class, so also in a Jupyter
    kernel, no widget needed). It follows the terminal's width; a terminal that reports a width of 0 would cut
    the text to nothing, so the line then assumes :data:`FALLBACK_COLUMNS`."""
    from tqdm import tqdm

    try:
        columns = os.get_terminal_size(file.fileno()).columns
    except (AttributeError, OSError, ValueError):  # not a terminal (a kernel's stream, a StringIO)
        columns = None
    if columns == 0:
        return tqdm(bar_format="{desc}", file=file, leave=False, ncols=FALLBACK_COLUMNS)
    return tqdm(bar_format="{desc}", file=file, leave=False, dynamic_ncols=True)


def _emit(event: dict, file: str | None = None) -> bool:
    """Append ``event`` as one JSON line to ``file`` (default: :data:`PROGRESS_FILE_ENV`'s); False if it cannot."""
    file = file or os.environ.get(PROGRESS_FILE_ENV)
    if not file:
        return False
    try:
        with open(file, "a") as fh:  # one write per line: a reader never sees half an event
            fh.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
    except OSError:
        return False
    return True


#: warnings not forwarded: meant for developers of the code that raised them, not for the person running it
_NOT_FORWARDED = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def forward_warnings() -> None:
    """In a process whose progress is followed (:data:`PROGRESS_FILE_ENV` set: a kernel ``relmask run`` or
    ``reproduce`` executes), send each warning it shows as an event ``{"warning": "Category: message"}`` as
    well, so the console that started it shows the kernel's warnings (:class:`RunDisplay`, once each). Installed
    once, when ``relmask`` is imported; elsewhere it does nothing. The warning is still shown where it was."""
    if not os.environ.get(PROGRESS_FILE_ENV) or getattr(warnings.showwarning, "_relmask_forwards", False):
        return
    shown = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):
        shown(message, category, filename, lineno, file, line)
        if not issubclass(category, _NOT_FORWARDED):
            _emit({"warning": f"{category.__name__}: {message}"})

    showwarning._relmask_forwards = True
    warnings.showwarning = showwarning


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


# -- Keras ---------------------------------------------------------------------------------------------------
_CALLBACK_CLASS = None


def keras_callback(description: str = "epoch"):
    """A Keras callback reporting epochs as a stage (``epoch 3/4 (loss 0.41)``); pass it in ``callbacks=`` of
    :func:`relmask.training.fit`. No line per epoch in lines mode: the stage around the training gets one."""
    global _CALLBACK_CLASS
    if _CALLBACK_CLASS is None:
        import keras

        class EpochProgress(keras.callbacks.Callback):
            def __init__(self, description: str):
                super().__init__()
                self.description = description
                self.stage: Stage | None = None

            def on_train_begin(self, logs=None):
                self.stage = Stage(self.description, int(self.params.get("epochs") or 0) or None, log=False)
                self.stage.__enter__()
                self.stage.position = 1

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                info = ", ".join(f"{k} {float(logs[k]):.3g}" for k in ("loss", "val_loss", "accuracy",
                                                                        "val_accuracy") if k in logs)
                self.stage.update(1, info=info)

            def on_train_end(self, logs=None):
                if self.stage is not None:
                    self.stage.__exit__(None, None, None)
                    self.stage = None

        _CALLBACK_CLASS = EpochProgress
    return _CALLBACK_CLASS(description)


# -- following a kernel, a worker, several runs -------------------------------------------------------------------
@contextlib.contextmanager
def relay(callback: Callable[[dict], Any], poll_s: float = REFRESH_S):
    """While open, stages of processes started inside (kernels inherit the environment) reach ``callback``
    as event dicts: ``{"status": text, "eta_s": seconds or None}`` or ``{"done": line}``."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix="relmask-progress-", suffix=".jsonl")
    os.close(fd)
    path = Path(name)
    stop = threading.Event()
    old = os.environ.get(PROGRESS_FILE_ENV)
    os.environ[PROGRESS_FILE_ENV] = name

    def follow():
        with open(path) as fh:
            pending = ""
            while True:
                last_round = stop.is_set()
                pending += fh.read()
                *lines, pending = pending.split("\n")
                for line in lines:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    try:
                        callback(event)
                    except Exception:  # a display problem must not stop the run
                        pass
                if last_round:
                    return
                stop.wait(poll_s)

    thread = threading.Thread(target=follow, name="relmask-progress-relay", daemon=True)
    thread.start()
    try:
        yield name
    finally:
        if old is None:
            os.environ.pop(PROGRESS_FILE_ENV, None)
        else:
            os.environ[PROGRESS_FILE_ENV] = old
        stop.set()
        thread.join(timeout=5)
        path.unlink(missing_ok=True)


class RunDisplay:
    """Progress of several named runs in one terminal or log: a live status line per running run, or one line
    per finished stage prefixed with the run's name; the warnings a run's kernel forwards
    (:func:`forward_warnings`), once each per run. Thread-safe (Dask delivers events on its own thread)."""

    def __init__(self, live: bool | None = None, file=None, enabled: bool = True):
        """``live``: None = on a terminal (or as ``RELMASK_PROGRESS`` says); ``enabled=False`` shows nothing."""
        self.file = file or sys.stderr
        mode = os.environ.get(PROGRESS_MODE_ENV, "").strip().lower()
        if live is None:
            live = mode == "live" or (mode != "lines" and getattr(self.file, "isatty", lambda: False)())
        self.live = live
        self.off = mode == "off" or not enabled
        self.bars: dict[str, Any] = {}
        self.warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def _print(self, line: str) -> None:
        if self.bars:  # above the live lines, which are redrawn below it
            from tqdm import tqdm

            tqdm.write(line, file=self.file)
        else:
            print(line, file=self.file, flush=True)

    def event(self, run: str, event: dict) -> None:
        if self.off:
            return
        with self._lock:
            if "warning" in event:
                if (run, event["warning"]) not in self.warned:
                    self.warned.add((run, event["warning"]))
                    self._print(f"{run}: warning: {event['warning']}")
            elif "done" in event and not self.live:
                self._print(f"{run}: {event['done']}")
            elif "status" in event and self.live:
                if not event["status"]:
                    return self._close(run)
                bar = self.bars.get(run)
                if bar is None:
                    bar = self.bars[run] = status_line(self.file)
                bar.set_description_str(f"{run}: {event['status']}", refresh=True)

    def finish(self, run: str) -> None:
        """The run ended: its live line goes away."""
        with self._lock:
            self._close(run)

    def _close(self, run: str) -> None:
        bar = self.bars.pop(run, None)
        if bar is not None:
            bar.close()

    def close(self) -> None:
        with self._lock:
            for run in list(self.bars):
                self._close(run)

    def dask_handler(self, event) -> None:
        """For ``client.subscribe_topic(TOPIC, ...)``: ``event`` is ``(timestamp, {"run": ..., **event})``."""
        _, msg = event
        msg = dict(msg)
        msg.pop("worker", None)  # added by distributed: which worker sent it
        self.event(msg.pop("run", "?"), msg)


#: the display of this process's runs (set by relmask reproduce while it runs)
_DISPLAY: RunDisplay | None = None


@contextlib.contextmanager
def showing(display: RunDisplay):
    """Make ``display`` the target of :func:`publisher` in this process while open."""
    global _DISPLAY
    old, _DISPLAY = _DISPLAY, display
    try:
        yield display
    finally:
        _DISPLAY = old
        display.close()


def publisher(run: str) -> Callable[[dict], None] | None:
    """Where the progress events of ``run`` go from here: the Dask client when this is a Dask worker, this
    process's :class:`RunDisplay` otherwise (None: nowhere)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        worker = None
    if worker is not None:
        return lambda event: worker.log_event(TOPIC, {"run": run, **event})
    display = _DISPLAY
    if display is None:
        return None
    return lambda event: display.event(run, event)
