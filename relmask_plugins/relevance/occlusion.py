"""Occlusion: relevance of a region = drop of the target score when the region is replaced by a baseline.

Every window position is one mask; occluded copies of *all* images in the batch under a chunk of masks go
through the model in one compiled forward pass (shape fixed, so it traces once). A value's relevance is the
mean drop over the windows that cover it.
"""
from __future__ import annotations

import itertools

import numpy as np
from keras import ops

from relmask.errors import ParameterError
from relmask.relevance.engine import compiled, logit_fn, select
from relmask.relevance.graph import logits

from .checks import check_windows


def spatial_shape(x: np.ndarray) -> tuple[int, ...]:
    """Axes that windows slide over: all but batch and channels (a flat (N, F) input slides over F)."""
    return tuple(x.shape[1:-1]) if x.ndim >= 3 else tuple(x.shape[1:])


def _tuple(v, n: int, what: str) -> tuple[int, ...]:
    t = (v,) * n if isinstance(v, int) else tuple(v)
    if len(t) != n or any((not isinstance(i, int)) or i < 1 for i in t):
        raise ParameterError(f"occlusion: {what} must be a positive int or {n} positive ints, got {v!r}")
    return t


def window_masks(shape: tuple[int, ...], window, stride) -> np.ndarray:
    """(P, *shape) float32 masks, 1 inside each window position; the last position per axis touches the end."""
    window, stride = check_windows("relevance method 'occlusion'", tuple(shape), window, stride)
    starts = []
    for size, w, s in zip(shape, window, stride, strict=True):
        st = list(range(0, size - w + 1, s))
        if st[-1] != size - w:
            st.append(size - w)
        starts.append(st)
    masks = np.zeros((int(np.prod([len(s) for s in starts])), *shape), np.float32)
    for i, corner in enumerate(itertools.product(*starts)):
        masks[(i, *(slice(c, c + w) for c, w in zip(corner, window, strict=True)))] = 1.0
    return masks


def baseline_values(x: np.ndarray, baseline: str, window) -> np.ndarray:
    if baseline == "zero":
        return np.zeros_like(x)
    if baseline == "mean":
        return np.broadcast_to(x.reshape(len(x), -1).mean(1).reshape((-1,) + (1,) * (x.ndim - 1)), x.shape)
    if baseline == "blur":
        from scipy.ndimage import gaussian_filter

        n_sp = len(spatial_shape(x))
        sigma = [0.0] + [w / 2.0 for w in _tuple(window, n_sp, "window")] + [0.0] * (x.ndim - 1 - n_sp)
        return gaussian_filter(x, sigma=sigma, mode="nearest").astype(np.float32)
    raise ParameterError(f"occlusion: baseline must be zero, mean or blur, got {baseline!r}")


def _score(z, score: str):
    if score == "logit":
        return z
    return ops.softmax(z, axis=-1) if z.shape[-1] > 1 else ops.sigmoid(z)


def occlusion(model, x, targets, window=8, stride=None, baseline="zero", score="logit", patch_batch=256):
    if score not in ("logit", "probability"):
        raise ParameterError(f"occlusion: score must be 'logit' or 'probability', got {score!r}")
    shape = spatial_shape(x)
    masks = window_masks(shape, window, stride)
    base = baseline_values(x, baseline, window).astype(np.float32)
    b, p = len(x), len(masks)
    chunk = max(1, min(p, patch_batch // b))
    channel_axes = (1,) * (x.ndim - 1 - len(shape))  # masks cover every channel

    def build():
        def fn(x, base, m, targets):
            m = ops.reshape(m, tuple(m.shape) + channel_axes)
            xo = x[:, None] * (1.0 - m[None]) + base[:, None] * m[None]
            z = logits(model, ops.reshape(xo, (-1, *x.shape[1:])))
            s = ops.sum(select(z, ops.repeat(targets, m.shape[0])) * _score(z, score), axis=-1)
            return ops.reshape(s, (x.shape[0], m.shape[0]))

        return fn

    run = compiled(model, ("occlusion", score), build)
    z0 = logit_fn(model)(x)
    s0 = np.asarray(_np_score(z0, score))[np.arange(b), targets]
    drops = np.empty((b, p), np.float32)
    for start in range(0, p, chunk):
        mc = masks[start:start + chunk]
        k = len(mc)
        if k < chunk:  # pad with empty masks: one trace
            mc = np.concatenate([mc, np.zeros((chunk - k, *shape), np.float32)])
        drops[:, start:start + k] = s0[:, None] - run(x, base, mc, targets)[:, :k]
    flat = masks.reshape(p, -1)
    rel = (drops @ flat) / flat.sum(0)
    rel = rel.reshape((b, *shape))
    return np.broadcast_to(rel.reshape(rel.shape + (1,) * (x.ndim - 1 - len(shape))), x.shape).astype(np.float32)


def _np_score(z: np.ndarray, score: str) -> np.ndarray:
    if score == "logit":
        return z
    if z.shape[-1] == 1:
        return 1.0 / (1.0 + np.exp(-z))
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
