"""Where independent runs execute: in this process, on a local Dask cluster, or on an existing one.

All executors share one interface, ``map_unordered(fn, items)``, yielding ``(item, result, error)`` as each
item finishes, so :mod:`relmask.reproduce` has a single code path. ``fn`` must be importable by name (Dask
pickles it by reference) and should report its own failures in its result; ``error`` only carries what
broke outside it (a worker process that died, a lost connection).
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Iterator

from .progress import TOPIC


class SerialExecutor:
    """Runs items one after the other in this process (``--jobs 1``): no cluster start-up cost."""

    description = "in-process (serial)"

    def subscribe_progress(self, handler: Callable) -> None:
        """Runs in this process report to relmask.progress's current display directly: nothing to forward."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map_unordered(self, fn: Callable, items: Iterable) -> Iterator[tuple[Any, Any, BaseException | None]]:
        for item in items:
            try:
                yield item, fn(item), None
            except Exception as exc:  # fn reports its own failures; this guards the loop against its bugs
                yield item, None, exc


class DaskExecutor:
    """Dask distributed: a ``LocalCluster`` of ``jobs`` single-threaded worker processes, or ``scheduler``.

    Workers of an existing cluster must have relmask installed and see the same filesystem paths as this
    process (notebooks, data, the output directory), because runs read and write files directly.
    """

    def __init__(self, jobs: int = 1, scheduler: str | None = None):
        self.jobs, self.scheduler = jobs, scheduler
        self.cluster = self.client = None
        self.progress_handler: Callable | None = None
        self.description = (f"Dask scheduler {scheduler}" if scheduler
                            else f"Dask LocalCluster ({jobs} worker processes x 1 thread)")

    def __enter__(self):
        from distributed import Client, LocalCluster

        if self.scheduler:
            self.client = Client(self.scheduler)
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
        (relmask.progress.publisher: ``Worker.log_event`` on topic relmask.progress.TOPIC)."""
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

        items = list(items)
        # pure=False: a run has side effects (files), Dask must never deduplicate or cache it
        futures = {self.client.submit(fn, item, pure=False): item for item in items}
        for future in as_completed(futures):
            item = futures[future]
            try:
                yield item, future.result(), None
            except Exception as exc:  # KilledWorker, CommClosedError, ...
                yield item, None, exc


def make_executor(jobs: int = 1, scheduler: str | None = None):
    """The serial executor for one local job, Dask otherwise."""
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if scheduler is None and jobs == 1:
        return SerialExecutor()
    return DaskExecutor(jobs, scheduler)
