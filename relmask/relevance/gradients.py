"""The gradient family: gradient, gradient × input, integrated gradients, SmoothGrad (on the target logit)."""
from __future__ import annotations

import zlib

import numpy as np

from ..errors import ParameterError
from .engine import gradient_fn


def gradient(model, x, targets):
    return gradient_fn(model)(x, targets)


def gradient_x_input(model, x, targets):
    return x * gradient_fn(model)(x, targets)


def baseline_of(x: np.ndarray, baseline) -> np.ndarray:
    """The reference input: 'zero', 'mean' (each sample's mean value) or a constant."""
    if isinstance(baseline, (int, float)):
        return np.full_like(x, float(baseline))
    if baseline == "zero":
        return np.zeros_like(x)
    if baseline == "mean":
        return np.broadcast_to(x.reshape(len(x), -1).mean(axis=1).reshape((-1,) + (1,) * (x.ndim - 1)),
                               x.shape).astype(np.float32)
    raise ParameterError(f"baseline must be 'zero', 'mean' or a number, got {baseline!r}")


def integrated_gradients(model, x, targets, steps=32, baseline="zero"):
    if steps < 1:
        raise ParameterError(f"integrated_gradients: steps must be >= 1, got {steps}")
    ref = baseline_of(x, baseline)
    grad = gradient_fn(model)
    total = np.zeros_like(x)
    for alpha in (np.arange(steps, dtype=np.float32) + 0.5) / steps:
        total += grad(ref + alpha * (x - ref), targets)
    return (x - ref) * total / steps


def _sample_rng(seed: int, sample: np.ndarray) -> np.random.Generator:
    """A generator that depends on the sample's content, not its position: results do not depend on batching."""
    return np.random.default_rng([seed, zlib.crc32(np.ascontiguousarray(sample).tobytes())])


def smoothgrad(model, x, targets, noise_level=0.15, samples=16, seed=0):
    if samples < 1 or noise_level < 0:
        raise ParameterError(f"smoothgrad: samples must be >= 1 and noise_level >= 0, got {samples}, "
                             f"{noise_level}")
    flat = x.reshape(len(x), -1)
    sd = (noise_level * (flat.max(axis=1) - flat.min(axis=1))).reshape((-1,) + (1,) * (x.ndim - 1))
    rngs = [_sample_rng(seed, s) for s in x]
    grad = gradient_fn(model)
    total = np.zeros_like(x)
    for _ in range(samples):
        noise = np.stack([r.standard_normal(x.shape[1:], dtype=np.float32) for r in rngs])
        total += grad((x + sd * noise).astype(np.float32), targets)
    return total / samples


__all__ = ["gradient", "gradient_x_input", "integrated_gradients", "smoothgrad", "baseline_of"]
