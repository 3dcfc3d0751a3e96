"""Shared machinery of the built-in methods: compiled functions cached per model, target selection."""
from __future__ import annotations

import weakref

import numpy as np
from keras import ops

from . import _autodiff
from .graph import logits

_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def compiled(model, key, build):
    """``build()``'s traceable function compiled once per (model, key); the trace itself is per input shape."""
    per_model = _cache.setdefault(model, {})
    full_key = (_autodiff.backend(), key)
    if full_key not in per_model:
        per_model[full_key] = _autodiff.compile_fn(model, build())
    return per_model[full_key]


def compiled_functions(model) -> dict:
    """{key: compiled callable} of every method compiled for ``model`` so far (each has ``.function``, the
    backend's compiled function; for profiling tools)."""
    return {key: run for (backend, key), run in _cache.get(model, {}).items()}


def select(z, targets):
    """One-hot mask of the explained output: ``targets`` (int32, -1 = the predicted class) on logits ``z``."""
    t = ops.where(targets < 0, ops.argmax(ops.stop_gradient(z), axis=-1), targets)
    return ops.one_hot(t, ops.shape(z)[-1], dtype=z.dtype)


def target_logit(z, targets):
    """Sum over the batch of each sample's explained logit (each sample's gradient is its own)."""
    return ops.sum(select(z, targets) * z)


def logit_fn(model):
    """Compiled ``(x) -> logits`` (pre-softmax)."""
    return compiled(model, "logits", lambda: (lambda x: logits(model, x)))


def target_gradient(model):
    """Traceable ``(x, targets) -> d logit_target / d x``, to call inside compiled functions."""
    return _autodiff.grad(lambda x, t: target_logit(logits(model, x), t))


def gradient_fn(model):
    """Compiled ``(x, targets) -> d logit_target / d x``."""
    return compiled(model, "gradient", lambda: target_gradient(model))


def resolve_predicted(model, x, targets) -> np.ndarray:
    """``targets`` with every -1 replaced by the predicted class of that sample."""
    targets = np.asarray(targets, np.int32)
    if (targets < 0).any():
        pred = np.argmax(logit_fn(model)(np.asarray(x, np.float32)), axis=-1).astype(np.int32)
        targets = np.where(targets < 0, pred, targets)
    return targets
