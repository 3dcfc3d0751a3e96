"""Content-addressed caching: keys from model weights, method, parameters and data fingerprints.

Relevance maps are the expensive intermediate of every experiment; :func:`cached_explain` stores them under
``cache_dir/relevance/<key>.npy`` (written atomically) and reuses them when model weights, method, parameters,
targets, data and relmask's version *and source* are unchanged (a development checkout changes the engine
without changing the version number).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .data import fingerprint_arrays
from .io import atomic_save_npy, to_jsonable


def hash_jsonable(obj) -> str:
    return hashlib.sha256(json.dumps(to_jsonable(obj), sort_keys=True).encode()).hexdigest()[:16]


def model_fingerprint(model) -> str:
    """Hash of a Keras model's architecture name, weight shapes and weight values."""
    h = hashlib.sha256(model.__class__.__name__.encode())
    for w in model.weights:
        a = np.asarray(w.numpy() if hasattr(w, "numpy") else w)
        h.update(f"{w.path if hasattr(w, 'path') else w.name}{a.shape}{a.dtype}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def relevance_key(model, x, method: str, targets, params: dict) -> str:
    from . import __version__
    from .provenance import code_fingerprint

    t = None if targets is None else (int(targets) if np.isscalar(targets) else fingerprint_arrays(np.asarray(targets)))
    return hash_jsonable({"model": model_fingerprint(model), "x": fingerprint_arrays(np.asarray(x, np.float32)),
                          "method": method, "targets": t, "params": params, "relmask": __version__,
                          "code": code_fingerprint()})


def cached_explain(model, x, method: str, targets=None, cache_dir=None, force: bool = False, **params) -> np.ndarray:
    """:func:`relmask.explain` with an on-disk cache (no cache when ``cache_dir`` is None)."""
    from .relevance import explain

    if cache_dir is None:
        return explain(model, x, method, targets=targets, **params)
    path = Path(cache_dir) / "relevance" / f"{relevance_key(model, x, method, targets, params)}.npy"
    if path.exists() and not force:
        return np.load(path)
    r = explain(model, x, method, targets=targets, **params)
    atomic_save_npy(path, r)
    return r


# -- notebook runs ------------------------------------------------------------------------------------
#: written last (atomically) into a run directory: its presence means the run finished and its outputs are whole
DONE_MARKER = "done.json"


def run_key(notebook_sha256: str, parameters: dict, versions: dict, data_fingerprints: dict) -> str:
    """Key of one notebook run: notebook bytes, parameters, code/package/plugin versions and input data.

    Parameters that only say *where* outputs go (``output_dir``, ``cache_dir``) are left out by the caller;
    synthetic-data runs are fingerprinted by their parameters, which are part of the key already.
    """
    return hash_jsonable({"notebook": notebook_sha256, "parameters": parameters, "versions": versions,
                          "data": data_fingerprints})


def finished_run(run_dir: str | Path, key: str) -> dict | None:
    """The record of a finished run with this key in ``run_dir``, or None (never ran, interrupted, stale)."""
    from .io import read_json

    try:
        record = read_json(Path(run_dir) / DONE_MARKER)
    except ValueError:  # unreadable marker: treat the run as unfinished
        return None
    if not isinstance(record, dict) or record.get("key") != key:
        return None
    return record


def mark_finished(run_dir: str | Path, record: dict) -> Path:
    """Write the done marker (after every other output of the run exists)."""
    from .io import write_json

    return write_json(Path(run_dir) / DONE_MARKER, record)
