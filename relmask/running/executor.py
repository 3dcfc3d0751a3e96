"""Where independent runs execute: in this process, on a local Dask cluster, or on an existing one.

All executors share one interface, ``map_unordered(fn, items)``, yielding ``(item, result, error)`` as each
item finishes, so :mod:`relmask.running.reproduce` has a single code path. ``fn`` must be importable by name (Dask
pickles it by reference) and should report its own failures in its result; ``error`` only carries what
broke outside it (a worker process that died, a lost connection).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from relmask.errors import RelmaskError
from relmask.running.progress import TOPIC

if TYPE_CHECKING:  # imported where used: Dask is slow to import
    from distributed import Client, LocalCluster

#: seconds to wait for a Dask scheduler to answer before ``--scheduler`` fails (Dask's own default is 30 s)
CONNECT_TIMEOUT_S = 5.0
#: environment variable that overrides :data:`CONNECT_TIMEOUT_S` (a scheduler behind a slow network)
CONNECT_TIMEOUT_ENV = "RELMASK_SCHEDULER_TIMEOUT"


class ClusterError(RelmaskError):
    """The Dask scheduler cannot be reached (or its address is malformed); raised before any run is sent."""


def connect_timeout() -> float:
    """:data:`CONNECT_TIMEOUT_S`, or what :data:`CONNECT_TIMEOUT_ENV` says."""
    raw = os.environ.get(CONNECT_TIMEOUT_ENV)
    if not raw:
        return CONNECT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ClusterError(f"{CONNECT_TIMEOUT_ENV}={raw!r}: give the seconds to wait for the scheduler (> 0)")
    return value


class SerialExecutor:
    """Runs items one after the other in this process (``--jobs 1``): no cluster start-up cost."""

    description = "in-process (serial)"

    def subscribe_progress(self, handler: Callable) -> None:
        """Runs in this process report to relmask.running.progress's current display directly: nothing to forward."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map_unordered(self, fn: Callable, items: Iterable) -> Iterator[tuple[Any, Any, BaseException | None]]:
        for item in items:
            try:
                yield item, fn(item), None
            except Exception as exc:  # noqa: BLE001 - fn reports its own failures; this guards the loop from its bugs
                yield item, None, exc


class DaskExecutor:
    """Dask distributed: a ``LocalCluster`` of ``jobs`` single-threaded worker processes, or ``scheduler``.

    Workers of an existing cluster must have relmask installed and see the same filesystem paths as this
    process (notebooks, data, the output directory), because runs read and write files directly.
    """

    def __init__(self, jobs: int = 1, scheduler: str | None = None):
        self.jobs, self.scheduler = jobs, scheduler
        self.cluster: LocalCluster | None = None
        self.client: Client | None = None
        self.progress_handler: Callable | None = None
        self.description = (f"Dask scheduler {scheduler}" if scheduler
                            else f"Dask LocalCluster ({jobs} worker processes x 1 thread)")

    def __enter__(self):
        from distributed import Client, LocalCluster

        if self.scheduler:
            timeout = connect_timeout()
            try:
                self.client = Client(self.scheduler, timeout=timeout)
            except (OSError, ValueError, TypeError) as exc:  # refused, timed out, unknown host, malformed address
                raise ClusterError(
                    f"cannot reach the Dask scheduler {self.scheduler!r} ({exc}); nothing was run. Is the scheduler "
                    f"running there (`dask scheduler`, or a dask-jobqueue cluster's scheduler_address)? Waited "
                    f"{timeout:g} s ({CONNECT_TIMEOUT_ENV} sets how long); see docs/reproduce.md, Clusters") from None
            n_workers = len(self.client.scheduler_info().get("workers", {}))
            if n_workers == 0:  # dask-jobqueue: workers arrive when their batch jobs start
                self.description += " (no workers yet: runs wait until workers join)"
            else:
                self.description += f" ({n_workers} workers)"
        else:
            # memory_limit=0: the notebook kernels are child processes the worker's monitor does not see, so
            # a per-worker limit would protect nothing; ":0": any free port for the dashboard (no clashes).
            self.cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=True,
                                        memory_limit=0, dashboard_address=":0", silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        if self.progress_handler is not None:
            self.client.subscribe_topic(TOPIC, self.progress_handler)
        return self

    def subscribe_progress(self, handler: Callable) -> None:
        """Call ``handler((timestamp, event))`` for every progress event the workers' runs publish
        (relmask.running.progress.publisher: ``Worker.log_event`` on topic relmask.running.progress.TOPIC)."""
        self.progress_handler = handler

    def __exit__(self, *exc):
        if self.client is not None:
            if self.progress_handler is not None:
                self.client.unsubscribe_topic(TOPIC)
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False

    def map_unordered(self, fn: Callable, items: Iterable) -> Iterator[tuple[Any, Any, BaseException | None]]:
        from distributed import as_completed

        if self.client is None:
            raise RuntimeError("DaskExecutor.map_unordered outside `with DaskExecutor(...)`: no client yet")
        client = self.client
        items = list(items)
        # pure=False: a run has side effects (files), Dask must never deduplicate or cache it
        futures = {client.submit(fn, item, pure=False): item for item in items}
        for future in as_completed(futures):
            item = futures[future]
            try:
                yield item, future.result(), None
            except Exception as exc:  # noqa: BLE001 - KilledWorker, CommClosedError ...: one failed run, not all
                yield item, None, exc


def make_executor(jobs: int = 1, scheduler: str | None = None):
    """The serial executor for one local job, Dask otherwise."""
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if scheduler is None and jobs == 1:
        return SerialExecutor()
    return DaskExecutor(jobs, scheduler)
