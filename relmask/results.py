"""``relmask.record(name, value)``: what a notebook reports, written to ``results.json``.

``relmask run`` tells the kernel where to write through the ``RELMASK_RESULTS`` environment variable; in
an interactive session the file is ``results.json`` in the notebook's ``output_dir`` (set with
:func:`set_results_path`) or the working directory. Every call rewrites the file atomically, so a kernel
that dies mid-run leaves the values recorded so far intact.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from .io import read_json, to_jsonable, write_json

RESULTS_ENV = "RELMASK_RESULTS"
_lock = threading.Lock()
_path: Path | None = None


def set_results_path(path: str | os.PathLike | None) -> None:
    """Where :func:`record` writes when ``RELMASK_RESULTS`` is not set (a directory or a .json file)."""
    global _path
    if path is None:
        _path = None
        return
    p = Path(path)
    _path = p if p.suffix == ".json" else p / "results.json"


def results_path() -> Path:
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env)
    return _path or Path.cwd() / "results.json"


def record(name: str, value: Any) -> Any:
    """Record ``value`` (JSON-able after NumPy conversion) under ``name``; returns ``value``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"record(): name must be a non-empty string, got {name!r}")
    with _lock:
        path = results_path()
        data = read_json(path, default={})
        data[name] = to_jsonable(value)
        write_json(path, data)
    return value


def load_results(path: str | os.PathLike) -> dict:
    p = Path(path)
    return read_json(p / "results.json" if p.is_dir() else p, default={})
