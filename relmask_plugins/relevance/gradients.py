"""The gradient family: gradient, gradient × input, integrated gradients, SmoothGrad (on the target logit).

Integrated gradients and SmoothGrad loop over their steps / noise rounds inside one compiled function
(``_autodiff.fori_loop``), so a batch costs one host call and one transfer whatever the number of steps.
"""
from __future__ import annotations

import numpy as np
from keras import ops

from relmask.errors import ParameterError
from relmask.relevance import _autodiff
from relmask.relevance.engine import compiled, gradient_fn, target_gradient

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
    # midpoints of ``steps`` equal segments from the baseline to x; the mean gradient times x − baseline
    run = _gradient_loop_fn(model, "integrated_gradients", steps,
                            point=lambda i, x, ref: ref + (ops.cast(i, "float32") + 0.5) / steps * (x - ref),
                            finish=lambda total, x, ref: (x - ref) * total / steps)
    return run(targets, x, baseline_of(x, baseline))


def smoothgrad(model, x, targets, noise_level=0.15, samples=16, seed=0):
    if samples < 1 or noise_level < 0:
        raise ParameterError(f"smoothgrad: samples must be >= 1 and noise_level >= 0, got {samples}, "
                             f"{noise_level}")
    flat = x.reshape(len(x), -1)
    sd = (noise_level * (flat.max(axis=1) - flat.min(axis=1))).reshape((-1,) + (1,) * (x.ndim - 1))
    # the noise is drawn on the device (:mod:`.noise`: the same numbers on every backend, keyed by each sample)
    run = _gradient_loop_fn(model, "smoothgrad", samples,
                            point=lambda i, x, sd, keys: x + sd * standard_normal(keys, i, ops.shape(x)[1:]),
                            finish=lambda total, *_: total / samples)
    return run(targets, x, sd.astype(np.float32), sample_keys(x, seed))


def _gradient_loop_fn(model, name: str, n: int, point, finish):
    """Compiled ``(targets, *args) -> finish(Σ_{i<n} gradient at point(i, *args), *args)``.

    The sum runs inside the compiled function (:func:`._autodiff.fori_loop`): one host call and one transfer per
    batch whatever ``n``. The cache key is ``(name, n)``, so ``point`` and ``finish`` may depend on nothing else.
    """

    def build():
        grad = target_gradient(model)

        def f(targets, *args):
            total = _autodiff.fori_loop(n, lambda i, acc: acc + grad(point(i, *args), targets),
                                        ops.zeros_like(args[0]))
            return finish(total, *args)

        return f

    return compiled(model, (name, n), build)


__all__ = ["baseline_of", "gradient", "gradient_x_input", "integrated_gradients", "smoothgrad"]
