"""Progress of long runs: which run, which stage, how long is left — on a terminal, in logs and across Dask.

Experiments mark their stages; nesting builds the status line::

    from relmask.running import progress

    for seed in progress.stage("seed", seeds):                      # "seed 2/3"
        with progress.stage("CNN₂ lrp.epsilon/mean"):
            fit(model, x, y, epochs=4, callbacks=[progress.keras_callback()])   # "epoch 3/4"

gives ``seed 2/3, CNN₂ lrp.epsilon/mean, epoch 3/4 — 1:05 elapsed, ~2:10 left``. Where it goes:

- a terminal (or an interactive Jupyter kernel): one live status line, redrawn in place;
- anything else (a log file, CI, a kernel executed by papermill): one line per finished stage, on stderr;
- additionally, when ``RELMASK_PROGRESS_FILE`` names a file, every change as one JSON line there. That is how
  :func:`relmask.running.runner.run_notebook` (``on_progress``) follows a kernel it executes, how ``relmask run`` and
  ``relmask reproduce`` show it (prefixed with the run's name), and how a Dask worker forwards it to the client
  (topic :data:`TOPIC`, see :func:`publisher` and :class:`RunDisplay`). Such a process also forwards every
  warning it shows (:func:`forward_warnings`, installed when ``relmask`` is imported), so the console that
  started a kernel sees the kernel's warnings — all-zero maps, a recomputed cache entry — once each.

``RELMASK_PROGRESS=live|lines|off`` overrides the choice between the first two.
"""
from relmask.running.progress.callbacks import keras_callback
from relmask.running.progress.events import (
           PROGRESS_FILE_ENV,
           PROGRESS_MODE_ENV,
           REFRESH_S,
           TOPIC,
           forward_warnings,
           relay,
)
from relmask.running.progress.runs import RunDisplay, publisher, showing
from relmask.running.progress.stages import Stage, format_seconds, stage, status
from relmask.running.progress.terminal import FALLBACK_COLUMNS, progress_bar, status_line

__all__ = ["FALLBACK_COLUMNS", "PROGRESS_FILE_ENV", "PROGRESS_MODE_ENV", "REFRESH_S", "TOPIC", "RunDisplay", "Stage",
           "format_seconds", "forward_warnings", "keras_callback", "progress_bar", "publisher", "relay",
           "showing", "stage", "status", "status_line"]
