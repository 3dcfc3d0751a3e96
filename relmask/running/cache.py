"""Content-addressed caching: keys from model weights, method, parameters and data fingerprints.

Relevance maps are the expensive intermediate of every experiment; :func:`cached_explain` stores them under
``cache_dir/relevance/<key>.npy`` (written atomically) and reuses them when model weights, method, parameters,
targets, data and relmask's version *and source* are unchanged (a development checkout changes the engine
without changing the version number).

Every cache entry is written with a checksum beside it (``<file>.sha256``, the SHA-256 of the file's bytes) and
every read is validated: checksum, then (for arrays) dtype float, expected shape and finite values. An entry that
fails (truncated, overwritten, of the wrong shape, missing its checksum) is not an error: it is recomputed and
rewritten with a :class:`relmask.errors.RelmaskWarning` naming the file (:func:`read_cache_file`,
:func:`load_cached_array`, :func:`load_cached_arrays`).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from relmask.errors import RelmaskWarning
from relmask.io import atomic_write, to_jsonable, write_json
from relmask.pipeline.data import fingerprint_arrays

#: environment variable naming the folder of relmask's persistent caches (default :data:`DEFAULT_CACHE_ROOT`)
CACHE_ENV = "RELMASK_CACHE"
#: where the persistent caches go when :data:`CACHE_ENV` is unset (the XDG convention)
DEFAULT_CACHE_ROOT = Path("~/.cache/relmask")


def default_cache_dir(*parts: str) -> Path:
    """The default cache folder of whatever caches ``parts`` (e.g. ``default_cache_dir("whale")``):
    ``$RELMASK_CACHE/<parts>``, else ``~/.cache/relmask/<parts>``.

    The one place a default cache location is computed; a component that caches without being given a
    ``cache_dir`` asks here. (``relmask reproduce`` passes its own, ``<out>/cache``.)
    """
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_ROOT).expanduser().joinpath(*parts)


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
    from relmask import __version__
    from relmask.running.provenance import code_fingerprint

    # numpy's isscalar narrows to any scalar (str, complex ...): targets here is a class index
    t = None if targets is None else (int(targets) if np.isscalar(targets)  # type: ignore[arg-type]
                                      else fingerprint_arrays(np.asarray(targets)))
    return hash_jsonable({"model": model_fingerprint(model), "x": fingerprint_arrays(np.asarray(x, np.float32)),
                          "method": method, "targets": t, "params": params, "relmask": __version__,
                          "code": code_fingerprint()})


# -- validated cache entries -----------------------------------------------------------------------------
def checksum_path(path: str | Path) -> Path:
    """Where the checksum of cache file ``path`` is kept: ``<path>.sha256`` (JSON: sha256, bytes)."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def _stale(path: Path, problem: str) -> None:
    warnings.warn(f"{path}: {problem}; the cache entry is recomputed and rewritten", RelmaskWarning, stacklevel=3)


def write_cache_file(path: str | Path, data: bytes) -> Path:
    """Write a cache entry atomically, then its checksum (a crash in between leaves an entry without one: stale)."""
    path = atomic_write(path, data)
    write_json(checksum_path(path), {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
    return path


def read_cache_file(path: str | Path) -> bytes | None:
    """The bytes of cache entry ``path`` if its checksum matches; None if absent, or (with a warning) if corrupt."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = path.read_bytes()
        expected = json.loads(checksum_path(path).read_text())["sha256"]
    except FileNotFoundError:
        _stale(path, f"no checksum file {checksum_path(path).name} beside it (interrupted or older write)")
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _stale(path, f"unreadable entry or checksum ({type(exc).__name__}: {exc})")
        return None
    if hashlib.sha256(data).hexdigest() != expected:
        _stale(path, f"checksum mismatch ({len(data)} bytes; truncated or overwritten)")
        return None
    return data


def _check_array(a: np.ndarray, shape: tuple | None) -> str | None:
    if a.dtype.kind != "f":
        return f"dtype {a.dtype}, expected a float array"
    if shape is not None and tuple(a.shape) != tuple(shape):
        return f"shape {a.shape}, expected {tuple(shape)}"
    if not np.isfinite(a).all():
        return f"{int((~np.isfinite(a)).sum())} NaN/inf values"
    return None


def save_cached_array(path: str | Path, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return write_cache_file(path, buf.getvalue())


def load_cached_array(path: str | Path, shape: tuple | None = None) -> np.ndarray | None:
    """A cached float array, validated (checksum, float dtype, ``shape`` if given, finite); None = recompute."""
    data = read_cache_file(path)
    if data is None:
        return None
    try:
        a = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - whatever the decoder raises, the entry is unusable
        _stale(Path(path), f"not a readable .npy array ({type(exc).__name__}: {exc})")
        return None
    problem = _check_array(a, shape)
    if problem:
        _stale(Path(path), problem)
        return None
    return a


def save_cached_arrays(path: str | Path, arrays: dict) -> Path:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return write_cache_file(path, buf.getvalue())


def load_cached_arrays(path: str | Path, check: Callable[[dict], str | None] | None = None) -> dict | None:
    """A cached ``.npz`` as a dict, validated (checksum, then ``check(arrays)`` -> problem or None); None =
    recompute. Truncated archives are caught here, not raised as ``zipfile.BadZipFile``."""
    data = read_cache_file(path)
    if data is None:
        return None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # noqa: BLE001 - BadZipFile, ValueError, EOFError ...: the entry is unusable
        _stale(Path(path), f"not a readable .npz archive ({type(exc).__name__}: {exc})")
        return None
    try:
        problem = check(arrays) if check is not None else None
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        problem = f"unexpected content ({type(exc).__name__}: {exc})"
    if problem:
        _stale(Path(path), problem)
        return None
    return arrays


def float_arrays_check(**shapes) -> Callable[[dict], str | None]:
    """``check`` for :func:`load_cached_arrays`: the named arrays exist, are float, finite and of these shapes
    (None: any shape)."""

    def check(arrays: dict) -> str | None:
        for name, shape in shapes.items():
            if name not in arrays:
                return f"array {name!r} missing"
            problem = _check_array(arrays[name], shape)
            if problem:
                return f"array {name!r}: {problem}"
        return None

    return check


def cached_explain(model, x, method: str, targets=None, cache_dir=None, force: bool = False, **params) -> np.ndarray:
    """:func:`relmask.explain` with an on-disk cache (no cache when ``cache_dir`` is None).

    A cached map is used only if it passes :func:`load_cached_array` with ``x``'s shape; otherwise it is
    recomputed (with a warning naming the file) and rewritten.
    """
    from relmask.relevance import explain

    if cache_dir is None:
        return explain(model, x, method, targets=targets, **params)
    path = Path(cache_dir) / "relevance" / f"{relevance_key(model, x, method, targets, params)}.npy"
    if not force:
        r = load_cached_array(path, shape=np.shape(x))
        if r is not None:
            return r.astype(np.float32, copy=False)
    r = explain(model, x, method, targets=targets, **params)
    save_cached_array(path, r)
    return r
