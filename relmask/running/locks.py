"""Locks between processes: an exclusive ``fcntl.flock`` held for a ``with`` block, and where a run's lock lives.

``relmask reproduce`` holds one per run directory (:func:`run_lock_path`) and one per record file,
``relmask run`` one per output folder (:func:`relmask.running.runner.output_lock`).
"""
from __future__ import annotations

import contextlib
from pathlib import Path


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
