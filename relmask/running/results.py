"""``relmask.record(name, value)``: what a notebook reports, written to ``results.json``.

``relmask run`` tells the kernel where to write through the ``RELMASK_RESULTS`` environment variable; in
an interactive session the file is ``results.json`` in the notebook's ``output_dir`` (set with
:func:`set_results_path`) or the working directory. Every call rewrites the file atomically, so a kernel
that dies mid-run leaves the values recorded so far intact.

Headline metrics: ``record(name, value, headline=...)`` declares which recorded numbers a run is *for* (an AUC,
an accuracy). NaN becomes ``null`` in JSON, so a diverged run would otherwise look like a run that merely has no
value; the declaration is stored in ``results.json`` under ``"_headline"`` and :func:`headline_problems` lists
every declared number that is NaN, infinite or missing. :func:`relmask.running.runner.run_notebook` fails a run with
such a problem (:class:`relmask.errors.NonFiniteResultError`), so ``relmask reproduce`` never caches it as done.
Numbers that are *not* declared may legitimately be NaN (e.g. "epochs to reach a level" that was never reached).
"""
from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from relmask.io import read_json, to_jsonable, write_json

RESULTS_ENV = "RELMASK_RESULTS"
#: key of results.json that lists the headline metrics: {name: true (every number) | [field, ...]}
HEADLINE_KEY = "_headline"
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


def record(name: str, value: Any, headline: bool | Sequence[str] | None = None) -> Any:
    """Record ``value`` (JSON-able after NumPy conversion) under ``name``; returns ``value``.

    ``headline`` declares the value a headline metric that must be a finite number: ``True`` for every number
    in ``value``, or field names for a dict or a list of dict rows (``headline=["auc_mean"]``: the ``auc_mean``
    of every row). The value is recorded in any case; a NaN, infinite or missing headline number warns here and
    fails the run when ``relmask run`` / ``relmask reproduce`` finishes it.
    """
    if not isinstance(name, str) or not name or name == HEADLINE_KEY:
        raise ValueError(f"record(): name must be a non-empty string other than {HEADLINE_KEY!r}, got {name!r}")
    spec = _headline_spec(name, headline)
    with _lock:
        path = results_path()
        data = read_json(path, default={})
        data[name] = to_jsonable(value)
        if spec is not None:
            data.setdefault(HEADLINE_KEY, {})[name] = spec
        write_json(path, data)
    if spec is not None:
        for problem in _problems(name, data[name], spec):
            warnings.warn(f"relmask.record: headline metric {problem}", RuntimeWarning, stacklevel=2)
    return value


def _headline_spec(name: str, headline) -> Literal[True] | list[str] | None:
    if headline is None or headline is False:
        return None
    if headline is True:
        return True
    if isinstance(headline, str) or not all(isinstance(f, str) for f in headline):
        raise ValueError(f"record({name!r}): headline must be True or a list of field names, got {headline!r}")
    return list(headline)


def _bad_number(v: Any) -> str | None:
    """Why ``v`` (as stored in results.json) is not a finite number, or None when it is one."""
    if v is None:
        return "NaN or missing (null)"
    if isinstance(v, str) and v in ("inf", "-inf"):  # how relmask.io.to_jsonable stores infinities
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"not a number ({type(v).__name__} {v!r})"
    return None if math.isfinite(v) else repr(v)


def _problems(name: str, stored: Any, spec: Literal[True] | list[str]) -> list[str]:
    out = []
    if spec is True:
        def walk(v, where):
            if isinstance(v, dict):
                for k, x in v.items():
                    walk(x, f"{where}.{k}")
            elif isinstance(v, list):
                for i, x in enumerate(v):
                    walk(x, f"{where}[{i}]")
            elif v is None or isinstance(v, (int, float)) or v in ("inf", "-inf"):
                if (why := _bad_number(v)) is not None:
                    out.append(f"{where} is {why}")
        walk(stored, name)
        return out
    rows = stored if isinstance(stored, list) else [stored]
    for i, row in enumerate(rows):
        where = f"{name}[{i}]" if isinstance(stored, list) else name
        if not isinstance(row, dict):
            out.append(f"{where} is not a mapping with fields {spec}")
            continue
        for f in spec:
            why = "missing" if f not in row else _bad_number(row[f])
            if why is not None:
                out.append(f"{where}.{f} is {why}")
    return out


def headline_problems(results: dict) -> list[str]:
    """Every declared headline number of ``results`` (a loaded results.json) that is not finite, as
    ``"summary[2].auc_mean is NaN or missing (null)"``; empty when all are finite or none are declared."""
    declared = results.get(HEADLINE_KEY) or {}
    out = []
    for name, spec in declared.items():
        if name not in results:
            out.append(f"{name} is missing (declared a headline metric but not recorded)")
        else:
            out += _problems(name, results[name], spec)
    return out


def load_results(path: str | os.PathLike) -> dict:
    p = Path(path)
    return read_json(p / "results.json" if p.is_dir() else p, default={})
