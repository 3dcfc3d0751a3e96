"""Gaussian noise drawn inside compiled functions, the same numbers on every backend and device.

SmoothGrad needs noise that depends on the seed and on each sample's content, never on batching (the
conformance kit checks batch-size invariance and agreement between TensorFlow and JAX). Backends' own random
generators differ (TensorFlow's Philox, JAX's threefry), and NumPy noise drawn on the host made SmoothGrad
host-bound on a GPU (benchmarks/results/2026-11-26_h200_jax, run1 vs run3). So the noise is counter-based and
written in ``keras.ops`` integer arithmetic, which is exact on every backend:

* each sample gets a 32-bit key on the host: the CRC-32 of its bytes, started from the seed (:func:`sample_keys`);
* value ``i`` of noise round ``r`` of a sample with key ``k`` is built from two 32-bit words
  ``mix(mix(k ^ mix(2r + j)) ^ mix(i))``, j = 0, 1, where ``mix`` is the "lowbias32" integer hash
  (C. Wellons, 2018: full avalanche, bias 0.17 %);
* the words' top 24 bits become uniforms in (0, 1), and the Box–Muller transform a standard normal value.

Only the last step uses floating point (log, cos, sqrt), so backends agree to a few float32 ulps.
"""
from __future__ import annotations

import zlib

import numpy as np
from keras import ops

_M1, _M2 = np.uint32(0x7FEB352D), np.uint32(0x846CA68B)


def mix(h):
    """lowbias32 on uint32 tensors (wrapping multiplication): a bijection of 32-bit words that scrambles bits."""
    h = ops.bitwise_xor(h, ops.right_shift(h, 16))
    h = ops.multiply(h, _M1)
    h = ops.bitwise_xor(h, ops.right_shift(h, 15))
    h = ops.multiply(h, _M2)
    return ops.bitwise_xor(h, ops.right_shift(h, 16))


def sample_keys(x: np.ndarray, seed: int) -> np.ndarray:
    """One uint32 key per sample of ``x``: depends on the seed and on the sample's bytes, not on its position."""
    start = int(seed) & 0xFFFFFFFF
    return np.array([zlib.crc32(np.ascontiguousarray(s, np.float32).tobytes(), start) for s in x], np.uint32)


def _uniform(keys, round_, j, counter):
    """Uniforms in (0, 1), shape (n, size): word ``j`` of noise round ``round_`` for each key and counter."""
    stream = mix(ops.bitwise_xor(keys, mix(round_ * np.uint32(2) + np.uint32(j))))  # (n,)
    bits = mix(ops.bitwise_xor(stream[:, None], counter[None, :]))  # (n, size)
    # 24 bits fit a float32 mantissa exactly; +0.5 keeps log() away from 0
    return (ops.cast(ops.right_shift(bits, 8), "float32") + 0.5) * np.float32(2.0 ** -24)


def standard_normal(keys, round_, shape):
    """Standard normal noise of shape ``(len(keys), *shape)`` for noise round ``round_`` (a scalar, traced or
    not); ``keys`` from :func:`sample_keys`."""
    keys = ops.convert_to_tensor(keys, "uint32")
    round_ = ops.cast(round_, "uint32")
    size = int(np.prod(shape))
    counter = mix(ops.cast(ops.arange(size, dtype="int32"), "uint32"))  # TF has no uint32 Range kernel
    u1, u2 = _uniform(keys, round_, 0, counter), _uniform(keys, round_, 1, counter)
    z = ops.sqrt(-2.0 * ops.log(u1)) * ops.cos(np.float32(2 * np.pi) * u2)
    return ops.reshape(z, (-1, *shape))


__all__ = ["mix", "sample_keys", "standard_normal"]
