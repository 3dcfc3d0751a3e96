"""Seeded generator of 2-s, 2-kHz hydrophone clips that resemble the 2013 Kaggle whale-detection data.

The model (documented in docs/whale.md):

* **Noise** — Gaussian noise shaped to a 1/f^beta power spectrum (beta drawn per clip in [0.8, 2.2]:
  pink to brown, the low-frequency-heavy spectrum of ocean ambient noise), high-passed at ~10 Hz, with a
  slow random amplitude modulation (+-30 %) so the background is not stationary.
* **Up-call** (positives only) — a rising FM sweep ``f(t) = f0 + (f1 - f0) * u**c`` with ``u`` the
  normalised time in the call, start ``f0`` in 50–120 Hz, end ``f1`` in 150–250 Hz, duration 0.5–1.5 s,
  curvature ``c`` in 0.6–1.8 (concave to convex), a Tukey amplitude envelope, an optional second harmonic
  (probability 0.3, 20–50 % amplitude). Its level is set by an SNR drawn uniformly in ``snr_db`` (default
  -14 … +4 dB): call power over the noise power in the 40–300 Hz band, so the low end is barely visible.
* **Confounders** — drawn from the SAME distribution for both classes (0–2 per clip), so the up-call is the
  only thing that separates them: down-sweeps (the mirror image of an up-call), flat ship tonals with
  harmonics and a slight wobble, click trains (short broadband decaying transients) and other FM sounds
  (a vibrato tone, or a fast sweep above the up-call band). Each at an SNR drawn like the calls'.

Everything is vectorised per clip (one ``rfft``/``irfft`` pair per clip for the noise) and driven by one
``numpy.random.Generator``, so a (n_clips, seed, parameters) triple always gives the same bytes.
"""
from __future__ import annotations

import numpy as np

SAMPLE_RATE = 2000
N_SAMPLES = 4000
#: bumped whenever the generator's output changes, so caches written by an older version are not reused
GENERATOR_VERSION = 1
#: the band the SNR refers to (Hz): where up-calls and their confounders live
SNR_BAND = (40.0, 300.0)
CONFOUNDERS = ("downsweep", "tonal", "clicks", "fm")


def _noise(rng: np.random.Generator, n: int) -> tuple[np.ndarray, float]:
    """Coloured ocean-like noise of n samples, scaled to unit power in SNR_BAND; returns (noise, beta)."""
    beta = rng.uniform(0.8, 2.2)
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    shape = np.zeros_like(freqs)
    shape[1:] = freqs[1:] ** (-beta / 2.0)
    shape *= 1.0 / (1.0 + (10.0 / np.maximum(freqs, 1e-3)) ** 4)  # gentle high-pass: no DC drift
    spec = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * shape
    in_band = (freqs >= SNR_BAND[0]) & (freqs <= SNR_BAND[1])
    noise = np.fft.irfft(spec, n)
    # Parseval: power of the in-band part of the noise, so SNRs mean the same for every colour
    band_power = 2.0 * np.sum(np.abs(spec[in_band]) ** 2) / n ** 2
    noise /= np.sqrt(band_power)
    t = np.arange(n) / SAMPLE_RATE
    noise *= 1.0 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 2 * np.pi))
    return noise, beta


def _tone(freq_hz: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A sinusoid following the instantaneous frequency track ``freq_hz`` (random start phase)."""
    return np.sin(2 * np.pi * np.cumsum(freq_hz) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi))


def _envelope(m: int, rng: np.random.Generator) -> np.ndarray:
    """Tukey-like envelope of m samples with random attack/decay (10–30 % of the length each)."""
    env = np.ones(m)
    for side in (0, 1):
        k = max(1, int(m * rng.uniform(0.1, 0.3)))
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
        if side == 0:
            env[:k] = ramp
        else:
            env[m - k:] = ramp[::-1]
    return env


def _place(event: np.ndarray, start: int, n: int) -> np.ndarray:
    out = np.zeros(n)
    end = min(n, start + len(event))
    out[start:end] = event[: end - start]
    return out


def _at_snr(signal: np.ndarray, snr_db: float) -> np.ndarray:
    """Scale ``signal`` so its power while active is snr_db over the unit in-band noise power."""
    active = np.abs(signal) > 1e-9
    power = np.mean(signal[active] ** 2) if active.any() else 1.0
    return signal * np.sqrt(10 ** (snr_db / 10.0) / power)


def _sweep(rng: np.random.Generator, n: int, rising: bool) -> tuple[np.ndarray, dict]:
    """An up-call (rising) or its mirror image, a down-sweep; returns (signal, its parameters)."""
    low, high = rng.uniform(50, 120), rng.uniform(150, 250)
    dur = rng.uniform(0.5, 1.5)
    curv = rng.uniform(0.6, 1.8)
    m = int(dur * SAMPLE_RATE)
    u = np.arange(m) / m
    f0, f1 = (low, high) if rising else (high, low)
    track = f0 + (f1 - f0) * u ** curv
    sig = _tone(track, rng)
    if rng.random() < 0.3:  # second harmonic, as in many recorded up-calls
        sig = sig + rng.uniform(0.2, 0.5) * _tone(2 * track, rng)
    start = int(rng.integers(0, n - m + 1))
    params = {"f0": f0, "f1": f1, "t0": start / SAMPLE_RATE, "duration": dur, "curvature": curv}
    return _place(sig * _envelope(m, rng), start, n), params


def _confounder(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "downsweep":
        return _sweep(rng, n, rising=False)[0]
    if kind == "tonal":  # ship: a flat tonal with harmonics, most of the clip, slight wobble
        f = rng.uniform(30, 400)
        m = int(rng.uniform(1.0, 2.0) * SAMPLE_RATE)
        track = f * (1 + 0.005 * np.sin(2 * np.pi * rng.uniform(0.1, 1) * np.arange(m) / SAMPLE_RATE))
        sig = sum(rng.uniform(0.2, 1.0) ** (h - 1) * _tone(h * track, rng) for h in (1, 2, 3))
        return _place(sig * _envelope(m, rng), int(rng.integers(0, n - m + 1)), n)
    if kind == "clicks":  # a train of short decaying broadband transients
        out = np.zeros(n)
        for start in rng.integers(0, n - 20, size=int(rng.integers(3, 15))):
            k = int(rng.integers(4, 12))
            out[start:start + k] += rng.standard_normal(k) * np.exp(-np.arange(k) / (k / 3))
        return out
    if kind == "fm":  # vibrato tone in the call band, or a fast sweep above it
        m = int(rng.uniform(0.3, 1.2) * SAMPLE_RATE)
        t = np.arange(m) / SAMPLE_RATE
        if rng.random() < 0.5:
            track = rng.uniform(80, 250) + rng.uniform(10, 40) * np.sin(2 * np.pi * rng.uniform(2, 8) * t)
        else:
            track = np.linspace(rng.uniform(280, 400), rng.uniform(400, 700), m)
        return _place(_tone(track, rng) * _envelope(m, rng), int(rng.integers(0, n - m + 1)), n)
    raise ValueError(f"unknown confounder {kind!r}")


def check(n_clips: int, seed: int, positive_share: float, snr_db: tuple[float, float],
          max_confounders: int) -> None:
    """Raise ValueError naming the first out-of-range generator parameter."""
    if n_clips < 1:
        raise ValueError(f"n_clips must be >= 1, got {n_clips}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if not 0.0 <= positive_share <= 1.0:
        raise ValueError(f"positive_share must lie in [0, 1], got {positive_share}")
    if snr_db[0] > snr_db[1]:
        raise ValueError(f"snr_db must be (low, high), got {snr_db}")
    if not 0 <= max_confounders <= len(CONFOUNDERS):
        raise ValueError(f"max_confounders must lie in 0..{len(CONFOUNDERS)}, got {max_confounders}")


def generate(n_clips: int, seed: int = 0, positive_share: float = 0.23,
             snr_db: tuple[float, float] = (-14.0, 4.0), max_confounders: int = 2) -> dict[str, np.ndarray]:
    """``n_clips`` clips: a dict with ``waveforms`` (n, 4000) float32, ``labels`` (n,), per-clip metadata.

    Exactly ``round(positive_share * n_clips)`` clips are positive (at shuffled positions). Metadata:
    ``snr_db`` (of the call; NaN for negatives), ``call_f0/f1/t0/duration/curvature`` (NaN for negatives),
    ``noise_beta`` and ``confounders`` ("+"-joined kinds, "" for none).
    """
    check(n_clips, seed, positive_share, snr_db, max_confounders)
    rng = np.random.default_rng(seed)
    labels = np.zeros(n_clips, dtype=np.int64)
    labels[: round(positive_share * n_clips)] = 1
    labels = rng.permutation(labels)
    waves = np.empty((n_clips, N_SAMPLES), dtype=np.float32)
    meta = {k: np.full(n_clips, np.nan) for k in ("snr_db", "call_f0", "call_f1", "call_t0", "call_duration",
                                                   "call_curvature", "noise_beta")}
    kinds = []
    for i in range(n_clips):
        x, meta["noise_beta"][i] = _noise(rng, N_SAMPLES)
        chosen = rng.choice(CONFOUNDERS, size=int(rng.integers(0, max_confounders + 1)), replace=False)
        for kind in chosen:
            x += _at_snr(_confounder(str(kind), rng, N_SAMPLES), rng.uniform(*snr_db))
        kinds.append("+".join(sorted(map(str, chosen))))
        if labels[i]:
            call, p = _sweep(rng, N_SAMPLES, rising=True)
            snr = rng.uniform(*snr_db)
            x += _at_snr(call, snr)
            meta["snr_db"][i] = snr
            for k, v in p.items():
                meta[f"call_{k}"][i] = v
        # the Kaggle clips are 16-bit: normalise to a peak of 0.9 like a recorder's gain would
        waves[i] = (0.9 * x / np.max(np.abs(x))).astype(np.float32)
    return {"waveforms": waves, "labels": labels, "confounders": np.asarray(kinds, dtype=str), **meta}
