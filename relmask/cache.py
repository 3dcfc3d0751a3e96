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

import contextlib
import hashlib
import io
import json
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from .data import fingerprint_arrays
from .errors import RelmaskWarning
from .io import atomic_write, to_jsonable, write_json

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
    from . import __version__
    from .provenance import code_fingerprint

    t = None if targets is None else (int(targets) if np.isscalar(targets) else fingerprint_arrays(np.asarray(targets)))
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
    from .relevance import explain

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


#: outputs a done marker vouches for by default (relative to the run directory)
RUN_OUTPUTS = ("results.json",)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def finished_run(run_dir: str | Path, key: str) -> dict | None:
    """The record of a finished run with this key in ``run_dir``, or None (never ran, interrupted, stale).

    The marker is only believed when the outputs it vouches for (``outputs``: file -> SHA-256) are still there
    and unchanged, and ``results.json`` parses: a run whose results were deleted or truncated is recomputed,
    with a warning naming the file, instead of being reused (and then silently missing from the figures).
    """
    from .io import read_json

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
    from .io import read_json

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
    from .io import write_json

    run_dir = Path(run_dir)
    record = {**record, "outputs": {name: _file_sha256(run_dir / name) for name in outputs
                                    if (run_dir / name).is_file()}}
    return write_json(run_dir / DONE_MARKER, record)


@contextlib.contextmanager
def file_lock(path: str | Path, on_wait=None):
    """Hold an exclusive ``fcntl.flock`` on ``path`` (created if needed) for the ``with`` block.

    Blocks while another process holds it; ``on_wait()`` is called once before blocking, so the caller can say
    what it waits for. The operating system releases the lock when its holder exits, however it exits
    (SIGKILL included), so a killed process never leaves a stale lock behind. POSIX only: where ``fcntl`` is
    missing (Windows) nothing is locked. On NFS, Linux implements flock with NFS byte-range locks.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield False
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        waited = False
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waited = True
            if on_wait is not None:
                on_wait()
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield waited
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def run_lock_path(run_dir: str | Path) -> Path:
    """The lock file of a run directory: beside it (``<name>.lock``), so removing the directory keeps it."""
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + ".lock")
