"""Notebook run records: run keys, the ``done.json`` marker that vouches for a run's outputs, and the helpers
that read records (which statuses can be drawn, why one cannot, a sweep point's label).

A run directory's ``done.json`` is written last (:func:`mark_finished`), so its presence means every output is
complete; :func:`finished_run` believes it only while the outputs it vouches for are intact. Used by
:mod:`relmask.running.reproduce` (which writes records) and :mod:`relmask.running.figures` (which reads them).
"""
from __future__ import annotations

import hashlib
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relmask.io import read_json, write_json
from relmask.running.cache import hash_jsonable

#: notebooks, presets and configs name paths relative to the project checkout
PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: written last (atomically) into a run directory: its presence means the run finished and its outputs are whole
DONE_MARKER = "done.json"


def run_key(notebook_sha256: str, parameters: dict, versions: dict, data_fingerprints: dict) -> str:
    """Key of one notebook run: notebook bytes, parameters, code/package/plugin versions and input data.

    Parameters that only say *where* outputs go (``output_dir``, ``cache_dir``) are left out by the caller;
    synthetic-data runs are fingerprinted by their parameters, which are part of the key already.
    """
    return hash_jsonable({"notebook": notebook_sha256, "parameters": parameters, "versions": versions,
                          "data": data_fingerprints})


#: outputs a done marker vouches for by default (relative to the run directory)
RUN_OUTPUTS = ("results.json",)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def finished_run(run_dir: str | Path, key: str | None) -> dict | None:
    """The record of a finished run with this key in ``run_dir``, or None (never ran, interrupted, stale).

    The marker is only believed when the outputs it vouches for (``outputs``: file -> SHA-256) are still there
    and unchanged, and ``results.json`` parses: a run whose results were deleted or truncated is recomputed,
    with a warning naming the file, instead of being reused (and then silently missing from the figures).
    """
    run_dir = Path(run_dir)
    try:
        record = read_json(run_dir / DONE_MARKER)
    except (ValueError, OSError):  # unreadable marker: treat the run as unfinished
        return None
    if not isinstance(record, dict) or record.get("key") != key:
        return None
    problem = _outputs_problem(run_dir, record)
    if problem is not None:
        warnings.warn(f"run {record.get('name', run_dir.name)!r}: {problem}; {DONE_MARKER} is ignored and the run "
                      "recomputed", RuntimeWarning, stacklevel=2)
        return None
    return record


def _outputs_problem(run_dir: Path, record: dict) -> str | None:
    outputs = record.get("outputs")
    if outputs is None:  # a marker written before outputs were recorded: results.json must at least parse
        outputs = {name: None for name in RUN_OUTPUTS if (run_dir / name).exists()}
    for name, sha in outputs.items():
        path = run_dir / name
        if not path.is_file():
            return f"{path} is missing"
        if sha is not None and _file_sha256(path) != sha:
            return f"{path} changed since the run finished (SHA-256 differs from {DONE_MARKER})"
        if path.suffix == ".json":
            try:
                read_json(path)
            except (ValueError, OSError) as exc:
                return f"{path} is unreadable ({exc})"
    return None


def mark_finished(run_dir: str | Path, record: dict, outputs=RUN_OUTPUTS) -> Path:
    """Write the done marker (after every other output of the run exists).

    The marker records the SHA-256 of each of ``outputs`` that exists, which :func:`finished_run` checks.
    """
    run_dir = Path(run_dir)
    record = {**record, "outputs": {name: _file_sha256(run_dir / name) for name in outputs
                                    if (run_dir / name).is_file()}}
    return write_json(run_dir / DONE_MARKER, record)


#: statuses of a run record whose results can be drawn
USABLE = ("ok", "cached")


def unusable_reason(record: dict) -> str:
    """Why a run on record cannot be drawn: it failed, or its results are gone (status ``lost``)."""
    if record.get("status") == "failed":
        return f"it failed ({record.get('error') or 'see its failed.json'})"
    return record.get("error") or f"no finished run in {record.get('run_dir')}"


def name_list(names: list[str], limit: int = 8) -> str:
    """``a, b, c`` (at most ``limit`` names, then how many more), or ``none``: runs named in one line."""
    if not names:
        return "none"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _slug(value: Any, keep: str = "") -> str:
    text = "+".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return re.sub(rf"[^A-Za-z0-9._+{re.escape(keep)}]+", "_", text)


#: separates a sweep's name from its point in a run name: ``fer-sizes@n_target=250``
POINT_SEPARATOR = "@"


def point_label(values: dict[str, Any]) -> str:
    """The point part of a sweep run's name: ``n_target=250``, ``lr=-0.5`` or ``n_target=250,seeds=0+1`` (lists
    joined by ``+``; anything but letters, digits, ``.``, ``_``, ``+`` and ``-`` replaced by ``_``), so a name is one
    shell word that needs no quoting and holds no glob character."""
    return ",".join(f"{param}={_slug(value, keep='-')}" for param, value in values.items())


def timestamp() -> str:
    """Now, as a record's ``started_at`` / ``finished_at`` says it: UTC, ISO 8601, whole seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")
