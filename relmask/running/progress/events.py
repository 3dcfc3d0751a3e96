"""The progress protocol between processes: the environment variables a kernel reads, the JSON-lines events it
writes, the Dask topic, warnings forwarded, and :func:`relay` (following the events of processes started inside)."""
from __future__ import annotations

import contextlib
import json
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: the file (JSON lines) a stage reports to when set: written by a kernel, read by the process that started it
PROGRESS_FILE_ENV = "RELMASK_PROGRESS_FILE"
#: live | lines | off: how stages are shown in this process (default: live on a terminal, lines otherwise)
PROGRESS_MODE_ENV = "RELMASK_PROGRESS"
#: Dask event topic carrying progress from workers to the client
TOPIC = "relmask-progress"
#: a live status line is redrawn at most this often (seconds); a JSON event written at most this often
REFRESH_S = 0.25

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

    vars(showwarning)["_relmask_forwards"] = True  # a function attribute: the hook installed is this one
    warnings.showwarning = showwarning


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
                    except Exception:  # noqa: BLE001 - a display problem must not stop the run
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
