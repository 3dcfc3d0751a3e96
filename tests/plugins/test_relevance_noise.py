"""SmoothGrad's device-side noise (relmask_plugins.relevance.noise) against a naive NumPy re-implementation, its
statistics, and the looped-in-graph SmoothGrad / integrated gradients against host loops of the gradient."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

pytest.importorskip("keras")
from scipy import stats

import relmask
from relmask import testing
from relmask.relevance.engine import gradient_fn
from relmask_plugins.relevance.gradients import baseline_of
from relmask_plugins.relevance.noise import mix, sample_keys, standard_normal

MASK = 0xFFFFFFFF


def naive_mix(h: int) -> int:
    """lowbias32 with Python ints (unbounded, masked by hand)."""
    h ^= h >> 16
    h = (h * 0x7FEB352D) & MASK
    h ^= h >> 15
    h = (h * 0x846CA68B) & MASK
    return h ^ (h >> 16)


def naive_standard_normal(key: int, round_: int, size: int) -> np.ndarray:
    """The documented construction, value by value in float64."""
    out = np.empty(size)
    for i in range(size):
        u = []
        for j in (0, 1):
            stream = naive_mix(key ^ naive_mix(2 * round_ + j))
            bits = naive_mix(stream ^ naive_mix(i))
            u.append(((bits >> 8) + 0.5) * 2.0 ** -24)
        out[i] = np.sqrt(-2 * np.log(u[0])) * np.cos(2 * np.pi * u[1])
    return out


def test_mix_equals_python_ints():
    words = np.array([0, 1, 2, 12345, 0x7FFFFFFF, 0x80000000, MASK], np.uint32)
    assert np.asarray(mix(words)).tolist() == [naive_mix(int(w)) for w in words]


def test_standard_normal_equals_naive_construction():
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
    keys = sample_keys(x, seed=7)
    assert keys.tolist() == [zlib.crc32(s.tobytes(), 7) for s in x]
    got = np.asarray(standard_normal(keys, 5, (4, 5)))
    assert got.shape == (3, 4, 5) and got.dtype == np.float32
    for key, sample in zip(keys, got, strict=True):
        np.testing.assert_allclose(sample.ravel(), naive_standard_normal(int(key), 5, 20), rtol=1e-5, atol=1e-5)


def test_noise_is_standard_normal_and_independent():
    keys = sample_keys(np.arange(64, dtype=np.float32).reshape(64, 1), seed=0)
    a = np.asarray(standard_normal(keys, 0, (4096,)))
    b = np.asarray(standard_normal(keys, 1, (4096,)))
    # 262,144 values: the KS statistic of a true normal sample is ~ 1/sqrt(n) = 0.002
    assert stats.kstest(a.ravel(), "norm").statistic < 0.005
    assert abs(a.mean()) < 0.01 and abs(a.std() - 1) < 0.01
    # rounds, samples and neighbouring values are uncorrelated
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.01
    assert np.abs(np.corrcoef(a)[np.triu_indices(64, 1)]).max() < 0.08  # 2,016 pairs of 4,096 values
    assert abs(np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1]) < 0.01


def test_keys_follow_content_and_seed_not_position():
    x = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    keys = sample_keys(x, 0)
    assert sample_keys(x[::-1], 0).tolist() == keys[::-1].tolist()
    assert len(set(keys.tolist())) == 4
    assert not set(sample_keys(x, 1).tolist()) & set(keys.tolist())


@pytest.fixture(scope="module")
def model():
    return testing.tiny_model()


def test_smoothgrad_is_the_mean_gradient_over_the_documented_noise(model):
    x = testing.tiny_input()
    t = np.arange(len(x), dtype=np.int32) % 3
    flat = x.reshape(len(x), -1)
    sd = (0.3 * (flat.max(1) - flat.min(1))).reshape(-1, 1, 1, 1).astype(np.float32)
    keys, grad = sample_keys(x, 3), gradient_fn(model)
    want = sum(grad(x + sd * np.asarray(standard_normal(keys, r, x.shape[1:])), t) for r in range(5)) / 5
    got = relmask.explain(model, x, "smoothgrad", targets=t, noise_level=0.3, samples=5, seed=3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    other_seed = relmask.explain(model, x, "smoothgrad", targets=t, noise_level=0.3, samples=5, seed=4)
    assert not np.allclose(got, other_seed)


def test_integrated_gradients_is_the_midpoint_sum(model):
    x = testing.tiny_input()
    t = np.full(len(x), 2, np.int32)
    ref = baseline_of(x, "mean")
    grad = gradient_fn(model)
    want = (x - ref) * sum(grad(ref + a * (x - ref), t) for a in (np.arange(6, dtype=np.float32) + 0.5) / 6) / 6
    got = relmask.explain(model, x, "integrated_gradients", targets=t, steps=6, baseline="mean")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
