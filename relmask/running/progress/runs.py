"""Progress of several named runs (reproduce, Dask workers): :class:`RunDisplay`, :func:`showing`, :func:`publisher`."""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from relmask.running.progress.events import PROGRESS_MODE_ENV, TOPIC
from relmask.running.progress.terminal import status_line


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
