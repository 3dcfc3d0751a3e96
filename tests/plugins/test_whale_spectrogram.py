"""The STFT front end: rows low to high, a pure tone in the right row, chunking, standardisation."""
from __future__ import annotations

import numpy as np
import pytest

from relmask_plugins.whale.spectrogram import SpectrogramConfig, spectrogram


@pytest.mark.parametrize("freq", [62.5, 140.625, 250.0, 437.5])
def test_a_pure_tone_lands_in_its_frequency_row(freq):
    cfg = SpectrogramConfig(standardize="none")
    t = np.arange(4000) / 2000
    spec = spectrogram(np.sin(2 * np.pi * freq * t)[None], cfg)[0]
    row = np.argmax(spec.mean(axis=1))
    assert cfg.freqs()[row] == pytest.approx(freq, abs=cfg.sample_rate / cfg.n_fft / 2)
    assert spec.shape == (len(cfg.freqs()), len(cfg.times(4000)))


def test_frequency_crop_and_axes():
    cfg = SpectrogramConfig(fmin=50.0, fmax=300.0, n_fft=128, hop=32)
    f = cfg.freqs()
    assert f[0] >= 50 and f[-1] <= 300 and np.all(np.diff(f) > 0)
    spec = spectrogram(np.random.default_rng(0).normal(size=(3, 4000)), cfg)
    assert spec.shape == (3, len(f), 1 + (4000 - 128) // 32) and spec.dtype == np.float32


def test_chunking_does_not_change_the_result_and_clips_are_independent():
    w = np.random.default_rng(1).normal(size=(7, 4000)).astype(np.float32)
    whole = spectrogram(w)
    np.testing.assert_allclose(spectrogram(w, chunk=3), whole, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(spectrogram(w[2:3]), whole[2:3], rtol=1e-5, atol=1e-5)


def test_standardisation_modes():
    w = np.random.default_rng(2).normal(size=(4, 4000)) * np.arange(1, 5)[:, None]
    clip = spectrogram(w, SpectrogramConfig(standardize="clip"))
    np.testing.assert_allclose(clip.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(clip.std(axis=(1, 2)), 1, atol=1e-3)
    row = spectrogram(w, SpectrogramConfig(standardize="row"))
    np.testing.assert_allclose(row.std(axis=2), 1, atol=1e-3)
    raw = spectrogram(w, SpectrogramConfig(standardize="none"))
    assert raw[3].mean() > raw[0].mean()  # louder clip, larger log magnitude


@pytest.mark.parametrize("kw", [{"n_fft": 4}, {"hop": 0}, {"fmin": 300.0, "fmax": 200.0}, {"standardize": "x"}])
def test_bad_config_is_rejected(kw):
    with pytest.raises(ValueError):
        SpectrogramConfig(**kw)


def test_bad_waveform_shapes_are_rejected():
    with pytest.raises(ValueError, match="n_clips, n_samples"):
        spectrogram(np.zeros(4000))
    with pytest.raises(ValueError, match="fewer than n_fft"):
        spectrogram(np.zeros((2, 100)))
