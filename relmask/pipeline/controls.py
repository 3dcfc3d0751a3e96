"""Control relevance maps: random maps that share the real maps' statistics but not their placement.

"Relevance-masked beats random-masked" can mean two things: the relevance points at what matters, or smooth
masks simply beat salt-and-pepper ones. Each control keeps a different part of the real maps so the table can
tell these apart:

``shuffled``
    each map's values permuted over its own positions: same value histogram (so every masker removes the same
    share), no spatial structure at all.
``permuted``
    another sample's map (a random derangement over the samples): real relevance structure, but not this
    sample's. Separates "where relevance points in general" (e.g. the centre of a face) from "where it points
    for this input".
``smooth``
    white noise blurred to each map's measured autocorrelation length, then given the map's own values by rank:
    same value histogram and about the same blob size as the real map, random placement.

All three are seeded and depend only on the maps and the seed.
"""
from __future__ import annotations

import numpy as np

from relmask.errors import ParameterError
from relmask.pipeline.masking import normalize_relevance, shuffle_relevance

CONTROLS = ("shuffled", "permuted", "smooth")
#: autocorrelation threshold that defines a map's correlation length (the lag where it first drops below 1/e)
CORRELATION_LEVEL = float(np.exp(-1.0))


def check_controls(controls) -> list[str]:
    """The control names, validated (ParameterError names the unknown one)."""
    controls = list(controls or [])
    for c in controls:
        if c not in CONTROLS:
            raise ParameterError(f"controls: unknown control {c!r}; known: {', '.join(CONTROLS)}")
    if len(set(controls)) != len(controls):
        raise ParameterError(f"controls must be distinct, got {controls}")
    return controls


def spatial_axes(r: np.ndarray) -> tuple[int, ...]:
    """The axes of one sample that carry position: all but the sample axis and a trailing channel axis."""
    axes = tuple(range(1, r.ndim))
    return axes[:-1] if r.ndim >= 4 else axes


def permute_across_samples(relevance: np.ndarray, seed: int = 0) -> np.ndarray:
    """Every sample gets another sample's map: one random cycle through all samples (no fixed point)."""
    r = np.asarray(relevance, dtype=np.float32)
    n = len(r)
    if n < 2:
        raise ParameterError("the 'permuted' control needs at least 2 samples")
    order = np.random.default_rng(seed).permutation(n)
    source = np.empty(n, dtype=np.int64)
    source[order] = np.roll(order, 1)  # order[k] takes the map of order[k-1]: a single n-cycle
    return r[source]


def correlation_length(relevance: np.ndarray, absolute: bool = True) -> np.ndarray:
    """Per sample and spatial axis, the lag (in samples) where the map's autocorrelation falls below 1/e.

    The autocorrelation is that of |R| (of R itself with ``absolute=False``) minus its mean, along each spatial
    axis, averaged over the other axes (FFT with zero padding, so no wrap-around). A map without variation gets
    length 0.
    """
    a = np.asarray(relevance, dtype=np.float64)
    a = np.abs(a) if absolute else a
    axes = spatial_axes(a)
    out = np.zeros((len(a), len(axes)))
    centred = a - a.mean(axis=tuple(range(1, a.ndim)), keepdims=True)
    for j, ax in enumerate(axes):
        n = a.shape[ax]
        spec = np.fft.rfft(centred, n=2 * n, axis=ax)
        acf = np.fft.irfft(spec * np.conj(spec), axis=ax)
        acf = np.take(acf, np.arange(n), axis=ax)
        other = tuple(k for k in range(1, a.ndim) if k != ax)
        acf = acf.sum(axis=other) if other else acf  # (N, n)
        zero_lag = acf[:, :1]
        norm = np.divide(acf, zero_lag, out=np.zeros_like(acf), where=zero_lag > 0)
        below = norm < CORRELATION_LEVEL
        first = np.where(below.any(axis=1), below.argmax(axis=1), n)
        out[:, j] = np.where(zero_lag[:, 0] > 0, first, 0)
    return out


def smooth_random(relevance: np.ndarray, seed: int = 0) -> np.ndarray:
    """Random smooth maps with each real map's value histogram and correlation length (see the module doc).

    Gaussian-blurred white noise has the autocorrelation exp(-d²/4σ²), which falls to 1/e at d = 2σ: the
    blur's σ per axis is half the map's measured correlation length. That length is measured on R itself, not
    on |R|: the noise's ranks place R's signed values, so the noise must correlate like R. (|R| of a signed map
    decorrelates faster than R; blurring to |R|'s length made the control's |R| blobs smaller than the
    real map's.) For maps without negative values both are the same.
    """
    from scipy.ndimage import gaussian_filter

    r = np.asarray(relevance, dtype=np.float32)
    rng = np.random.default_rng(seed)
    lengths = correlation_length(r, absolute=False)
    axes = spatial_axes(r)
    out = np.empty_like(r)
    for i in range(len(r)):
        sigma = [0.0] * (r.ndim - 1)
        for j, ax in enumerate(axes):
            sigma[ax - 1] = lengths[i, j] / 2.0
        noise = gaussian_filter(rng.standard_normal(r.shape[1:]), sigma=sigma, mode="wrap")
        # the map's own values, placed by the noise's ranks: same histogram, random smooth placement
        ranks = np.argsort(np.argsort(noise, axis=None, kind="stable"), kind="stable")
        out[i] = np.sort(r[i], axis=None)[ranks].reshape(r.shape[1:])
    return out


def control_relevance(relevance: np.ndarray, control: str, seed: int = 0) -> np.ndarray:
    """The ``control`` version of ``relevance`` (one of :data:`CONTROLS`)."""
    if control == "shuffled":
        return shuffle_relevance(relevance, seed)
    if control == "permuted":
        return permute_across_samples(relevance, seed)
    if control == "smooth":
        return smooth_random(relevance, seed)
    raise ParameterError(f"unknown control {control!r}; known: {', '.join(CONTROLS)}")


# -- the mask-only control: do the maps alone predict the label? ------------------------------------------
#: a mask-only student that beats the relevance source's own score by more than this reads the label from
#: where the maps come from, not from the source's decision: the masks leak
LEAK_MARGIN = 0.05


def mask_only_inputs(relevance: np.ndarray) -> np.ndarray:
    """The input of the mask-only control: each map as |R| / max |R| (float32, the map's shape)."""
    return normalize_relevance(np.asarray(relevance, dtype=np.float32), "abs").astype(np.float32)


def leak_verdict(mask_only_score: float, source_score: float, chance: float, uses_label: bool = True,
                 margin: float = LEAK_MARGIN) -> dict:
    """Read the mask-only control.

    ``uses_label``: the training maps were computed for the true class. Only then can the label reach the data
    through the mask rule, and a leak is read: a map computed for the source's *prediction* tells a student at most
    about that prediction, so a mask-only student scoring clearly above the relevance source's own score
    (``margin``) got the label by another route — the rule. With a label-free rule (the source's prediction, a
    fixed class, the mean over all classes) the label cannot leak by construction; the score then says how much
    class information the maps carry by themselves (above the source's score: the maps encode image content the
    source's decision does not).
    """
    finite = bool(np.isfinite(mask_only_score) and np.isfinite(source_score))
    above_source = finite and mask_only_score > source_score + margin
    leak = bool(uses_label and above_source)
    score = f"maps alone score {mask_only_score:.3f} (chance {chance:.3f}, relevance source {source_score:.3f})"
    if leak:
        text = (f"LEAK: true-class maps alone score {mask_only_score:.3f}, above the relevance source's own "
                f"{source_score:.3f} (+{margin:.2f}); the masks carry the label")
    elif uses_label:
        text = f"no leak detected: true-class {score}"
    else:
        text = (f"no leak possible (training masks use no label): {score}"
                + ("; above the source: the maps carry class information of their own" if above_source else ""))
    return {"mask_only": float(mask_only_score), "source": float(source_score), "chance": float(chance),
            "above_chance": float(mask_only_score) - float(chance), "margin": margin, "uses_label": bool(uses_label),
            "leak": leak, "text": text}
