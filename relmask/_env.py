"""Process environment defaults for TensorFlow and the notebook kernels — the one place they are set.

``ENV_DEFAULTS`` are applied with ``setdefault`` (a value the user exported wins) when :mod:`relmask` is
imported, which in a notebook or script happens before TensorFlow is imported, and they are inherited by every
kernel and Dask worker relmask starts:

- ``TF_ENABLE_ONEDNN_OPTS=0``: oneDNN's reordered float arithmetic changes results in the last bits from run to
  run; relmask promises repeatable numbers.
- ``TF_CPP_MIN_LOG_LEVEL=2``: TensorFlow's C++ INFO and WARNING lines (CPU feature notices, XLA service start)
  are start-up chatter, not messages about the user's data; errors still print.
- ``PYTHONHASHSEED=0``: child processes (kernels, workers) hash strings the same way in every run.

TensorFlow's ``E0000 … use_unbounded_threadpool`` lines and the retracing warnings of ``model.predict`` were
fixed at their cause (:func:`relmask.pipeline.training.fit`, :func:`relmask.pipeline.training.predict_proba`). One
message cannot
be: Keras traces its training step once per freshly built model, all models' steps share one Python function,
and TensorFlow's heuristic counts those first traces as "retracing" when a training has few batches (tiny
presets, tests). :func:`quiet_keras_retracing` drops exactly that warning, and nothing else.
"""
from __future__ import annotations

import logging
import os

ENV_DEFAULTS = {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"}


def apply_defaults(environ: os._Environ | dict | None = None) -> None:
    """Set every :data:`ENV_DEFAULTS` entry that ``environ`` (default ``os.environ``) does not set yet."""
    env = os.environ if environ is None else environ
    for name, value in ENV_DEFAULTS.items():
        env.setdefault(name, value)


#: the function of TensorFlow's retracing warning that is a false positive with fresh Keras models
_KERAS_TRAIN_STEP = "TensorFlowTrainer._make_function.<locals>.multi_step_on_iterator"


class _KerasRetracingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and _KERAS_TRAIN_STEP in message)


def quiet_keras_retracing() -> None:
    """Drop TensorFlow's retracing warning about Keras's training step (see the module docstring); idempotent."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _KerasRetracingFilter) for f in logger.filters):
        logger.addFilter(_KerasRetracingFilter())
