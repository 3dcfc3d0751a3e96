"""Where a result came from: code version, package versions, device and input-data fingerprints.

Everything here is cheap and import-light (no TensorFlow): it runs in the CLI process and in every Dask
worker before a notebook starts, and its output goes into each run's ``done.json`` and ``paper/manifest.json``.
"""
from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import platform
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

#: packages whose versions decide the numbers a notebook produces
TRACKED_PACKAGES = ("keras", "tensorflow-cpu", "tensorflow", "jax", "numpy", "scipy", "papermill", "dask",
                    "distributed")


def package_versions() -> dict[str, str]:
    """Python, relmask and the numerically relevant packages that are installed."""
    from relmask import __version__

    out = {"python": platform.python_version(), "relmask": __version__}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def plugin_versions() -> dict[str, str]:
    """Every loaded plugin (built-in and third-party) with its version; failed plugins marked as such."""
    from relmask.plugin_system.plugins import plugin_infos

    return {i.name: i.version + (" (failed to load)" if i.error else "") for i in plugin_infos()}


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the source of relmask and of the packages of every loaded plugin (built-in or third-party).

    A development checkout keeps one version number while its code changes; hashing the ``.py`` files makes
    a cached run stale as soon as the code that produced it changed.
    """
    import importlib
    import sys

    from relmask.plugin_system.plugins import get_plugin_manager

    tops = {"relmask"}
    for plugin in get_plugin_manager().pm.get_plugins():
        name = getattr(plugin, "__name__", None) or type(plugin).__module__
        tops.add(name.split(".")[0])
    files: list[tuple[str, Path]] = []
    for top in sorted(tops):
        module = sys.modules.get(top) or importlib.import_module(top)
        file = getattr(module, "__file__", None)
        if file is None:
            continue
        path = Path(file)
        if path.name == "__init__.py":  # a package: every module below it
            files += [(f.relative_to(path.parent.parent).as_posix(), f) for f in sorted(path.parent.rglob("*.py"))]
        else:
            files.append((path.name, path))
    h = hashlib.sha256()
    for rel, f in files:
        h.update(rel.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def git_info(path: str | os.PathLike | None = None) -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the git checkout holding ``path``."""
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent
    if shutil.which("git") is None:
        return {"commit": None, "dirty": None}

    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    """GPU names from ``nvidia-smi`` where present; importing TensorFlow just to ask would cost seconds."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [g.strip() for g in r.stdout.splitlines() if g.strip()] if r.returncode == 0 else []


def compute_device() -> str:
    """Where the loaded Keras backend computes, e.g. ``cpu`` or ``gpu: NVIDIA H200`` (imports the backend)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        return d.platform if d.platform == "cpu" else f"{d.platform}: {d.device_kind}"
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    return backend


def accelerator_peak_bytes() -> int | None:
    """Peak bytes allocated so far on JAX's first accelerator (None on a CPU or another backend)."""
    import keras

    if keras.backend.backend() != "jax":
        return None
    import jax

    d = jax.devices()[0]
    stats = d.memory_stats() if d.platform != "cpu" else None
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def device_info() -> dict:
    """The machine a run executed on: host, OS, CPU model and cores, GPUs, Keras backend."""
    return {"host": platform.node(), "platform": platform.platform(), "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(), "gpus": _gpus(),
            "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"), "python": sys.version.split()[0]}


def path_fingerprint(path: str | os.PathLike) -> dict:
    """A fingerprint of a data file or directory from names, sizes and modification times (not contents).

    Reading 30,000 clips just to hash them would cost more than the quick experiments; a re-downloaded or
    edited file changes size or mtime.
    """
    p = Path(path)
    if not p.exists():
        return {"path": str(p), "exists": False, "fingerprint": None, "files": 0, "bytes": 0}
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    h = hashlib.sha256()
    total = 0
    for f in files:
        st = f.stat()
        total += st.st_size
        rel = f.name if f == p else f.relative_to(p).as_posix()
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"path": str(p.resolve()), "exists": True, "fingerprint": h.hexdigest()[:16], "files": len(files),
            "bytes": total}


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
