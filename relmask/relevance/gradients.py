"""The gradient family: gradient, gradient × input, integrated gradients, SmoothGrad (on the target logit).

Integrated gradients and SmoothGrad loop over their steps / noise rounds inside one compiled function
(``_autodiff.fori_loop``), so a batch costs one host call and one transfer whatever the number of steps.
"""
from __future__ import annotations

import numpy as np
from keras import ops

from ..errors import ParameterError
from . import _autodiff
from .engine import compiled, gradient_fn, target_gradient
from .noise import sample_keys, standard_normal


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
    return _path_gradient_fn(model, steps)(x, ref, targets)


def _path_gradient_fn(model, steps: int):
    """Compiled ``(x, ref, targets) -> (x − ref) × mean gradient at the midpoints of ``steps`` equal segments
    from ref to x``: one loop inside the compiled function instead of one host call per step."""

    def build():
        grad = target_gradient(model)

        def f(x, ref, targets):
            def step(i, total):
                alpha = (ops.cast(i, "float32") + 0.5) / steps
                return total + grad(ref + alpha * (x - ref), targets)

            return (x - ref) * _autodiff.fori_loop(steps, step, ops.zeros_like(x)) / steps

        return f

    return compiled(model, ("integrated_gradients", steps), build)


def smoothgrad(model, x, targets, noise_level=0.15, samples=16, seed=0):
    if samples < 1 or noise_level < 0:
        raise ParameterError(f"smoothgrad: samples must be >= 1 and noise_level >= 0, got {samples}, "
                             f"{noise_level}")
    flat = x.reshape(len(x), -1)
    sd = (noise_level * (flat.max(axis=1) - flat.min(axis=1))).reshape((-1,) + (1,) * (x.ndim - 1))
    return _noisy_gradient_fn(model, samples)(x, sd.astype(np.float32), sample_keys(x, seed), targets)


def _noisy_gradient_fn(model, samples: int):
    """Compiled ``(x, sd, keys, targets) -> mean gradient over ``samples`` copies x + sd × noise``, the noise
    drawn on the device (:mod:`.noise`: the same numbers on every backend, keyed by each sample's content)."""

    def build():
        grad = target_gradient(model)

        def f(x, sd, keys, targets):
            def draw(i, total):
                noise = standard_normal(keys, i, ops.shape(x)[1:])
                return total + grad(x + sd * noise, targets)

            return _autodiff.fori_loop(samples, draw, ops.zeros_like(x)) / samples

        return f

    return compiled(model, ("smoothgrad", samples), build)


__all__ = ["gradient", "gradient_x_input", "integrated_gradients", "smoothgrad", "baseline_of"]
