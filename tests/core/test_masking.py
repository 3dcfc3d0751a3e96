"""Maskers against naive re-implementations, the shared helpers, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import relmask
from relmask.errors import DataError, ParameterError
from relmask.pipeline.masking import masked_fraction, normalize_relevance, shuffle_relevance, top_fraction_mask

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 6, 5, 1)).astype(np.float32)
R = RNG.normal(size=X.shape).astype(np.float32)


def _naive_top(r_row, k):
    order = sorted(range(r_row.size), key=lambda i: (-r_row.flat[i], i))
    out = np.zeros(r_row.size, bool)
    out[order[:k]] = True
    return out.reshape(r_row.shape)


def test_normalize_modes():
    r = np.array([[-2.0, 1.0, 0.0, 4.0]])
    np.testing.assert_allclose(normalize_relevance(r, "abs"), [[0.5, 0.25, 0, 1]])
    np.testing.assert_allclose(normalize_relevance(r, "positive"), [[0, 0.25, 0, 1]])
    np.testing.assert_allclose(normalize_relevance(r, "signed"), [[0, 0.5, 1 / 3, 1]])
    assert (normalize_relevance(np.zeros((1, 3))) == 0).all()


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
def test_keep_and_negative_match_naive(fraction):
    r_hat = np.abs(R) / np.abs(R).reshape(3, -1).max(1)[:, None, None, None]
    k = round(fraction * 30)
    top = np.stack([_naive_top(r_hat[i], k) for i in range(3)])
    np.testing.assert_array_equal(top_fraction_mask(r_hat, fraction), top)
    np.testing.assert_allclose(relmask.mask(X, R, "keep", fraction=fraction), np.where(top, X, 0))
    np.testing.assert_allclose(relmask.mask(X, R, "negative", fraction=fraction), np.where(top, 0, X))
    assert masked_fraction(X, relmask.mask(X, R, "negative", fraction=fraction)) == pytest.approx(k / 30)


def test_mean_soft_and_fills():
    r_hat = normalize_relevance(R)
    above = r_hat >= r_hat.reshape(3, -1).mean(1)[:, None, None, None]
    np.testing.assert_allclose(relmask.mask(X, R, "mean"), np.where(above, X, 0))
    np.testing.assert_allclose(relmask.mask(X, R, "mean", keep="below", fill="sample_mean"),
                               np.where(above, X.reshape(3, -1).mean(1)[:, None, None, None], X), rtol=1e-6)
    np.testing.assert_allclose(relmask.mask(X, R, "soft", alpha=0.25), X * (0.25 + 0.75 * r_hat), rtol=1e-6)
    np.testing.assert_allclose(relmask.mask(X, R, "negative", fraction=1.0, fill="dataset_mean"),
                               np.broadcast_to(X.mean(0), X.shape), rtol=1e-6)
    assert relmask.mask(X, R, "keep", fill_value=7.0, fraction=0.0).max() == 7.0
    blurred = relmask.mask(X, R, "negative", fraction=1.0, fill="blur", blur_sigma=50.0)
    assert blurred.std(axis=(1, 2)).max() < X.std(axis=(1, 2)).min()  # blur across the sample, per sample


def test_band_and_frame_mask_whole_lines():
    r = np.zeros((1, 6, 5, 1), np.float32)
    r[0, 2, :, 0] = 1.0  # frequency band 2 is the relevant one
    out = relmask.mask(np.ones_like(r), r, "band", fraction=1 / 6)
    assert (out[0, 2] == 0).all() and out.sum() == 25
    kept = relmask.mask(np.ones_like(r), r, "band", fraction=1 / 6, mode="keep")
    assert (kept[0, 2] == 1).all() and kept.sum() == 5
    r = np.zeros((1, 6, 5, 1), np.float32)
    r[0, :, 4, 0] = 1.0
    assert (relmask.mask(np.ones_like(r), r, "frame", fraction=0.2)[0, :, 4] == 0).all()


def test_relevance_without_channel_axis_broadcasts():
    out = relmask.mask(X, R[..., 0], "negative", fraction=0.2)
    np.testing.assert_array_equal(out, relmask.mask(X, R, "negative", fraction=0.2))


def test_shuffle_relevance_keeps_each_samples_values():
    s = shuffle_relevance(R, seed=1)
    assert not np.allclose(s, R)
    np.testing.assert_array_equal(np.sort(s.reshape(3, -1), 1), np.sort(R.reshape(3, -1), 1))
    np.testing.assert_array_equal(s, shuffle_relevance(R, seed=1))
    for m in ("mean", "keep"):  # same masked fraction as with the real map
        assert masked_fraction(X, relmask.mask(X, s, m)) == pytest.approx(masked_fraction(X, relmask.mask(X, R, m)))


def test_bad_input_gets_clear_errors():
    bad = R.copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="relevance has NaN or infinite values in sample 1"):
        relmask.mask(X, bad, "keep")
    with pytest.raises(DataError, match=r"relevance shape \(3, 2\) does not match input shape"):
        relmask.mask(X, np.ones((3, 2)), "keep")
    with pytest.raises(ParameterError, match="fraction must lie in"):
        relmask.mask(X, R, "keep", fraction=1.5)
    with pytest.raises(ParameterError, match="'fill' must be one of"):
        relmask.mask(X, R, "keep", fill="noise")
    with pytest.raises(ParameterError, match="alpha"):
        relmask.mask(X, R, "soft", alpha=2.0)
