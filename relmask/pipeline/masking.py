"""``relmask.mask(x, relevance, masker, **params)`` and the helpers every masker shares.

Maskers (registered through ``register_maskers``) turn inputs and relevance maps of the same shape into masked
inputs. Relevance is first normalised per sample (:func:`normalize_relevance`); ``fill`` decides what replaces
removed values (:func:`fill_values`). :func:`shuffle_relevance` gives the random-relevance control: each sample's
relevance values permuted in place, so every masker removes the same fraction as with the real map.

Ties and maps without information. :func:`top_fraction_mask` never resolves ties by position: values equal to
the cut (the k-th largest) are chosen at random with the masker's generator (``relmask.mask(..., seed=)``), so
results are reproducible given the seed and a map without ties gets the same mask whatever the seed. A
*degenerate* map (:func:`degenerate_maps`: every value equal after normalisation, e.g. an all-zero Grad-CAM map,
or not finite) carries no information: top-fraction maskers then select a random ``fraction`` of that sample,
which is exactly what the shuffled control (a permutation of the same constant map) does too, so on such
samples the real and the random map are identical in distribution. Threshold and mean selection keep or remove
all of a degenerate sample. :func:`mask` warns (:class:`relmask.errors.RelmaskWarning`) when more than
:data:`DEGENERATE_WARN_SHARE` of the samples are degenerate; experiments record the count per split.
"""
from __future__ import annotations

import warnings

import numpy as np

from relmask.errors import ComponentOutputError, DataError, ParameterError, RelmaskWarning
from relmask.plugin_system.components import Param

#: share of degenerate relevance maps (no information) above which :func:`mask` warns
DEGENERATE_WARN_SHARE = 0.05

NORMALIZE_MODES = ("abs", "positive", "signed")
FILL_MODES = ("zero", "dataset_mean", "sample_mean", "blur")

#: parameters every masker that removes values accepts
FILL_PARAMS = (
    Param("fill", str, "zero", "what replaces removed values: zero, dataset_mean (mean over the batch "
          "per position, or fill_value), sample_mean (each sample's mean), blur (Gaussian-blurred input)",
          choices=FILL_MODES),
    Param("fill_value", (float, type(None)), None, "explicit scalar fill (overrides `fill`)", finite=True),
    Param("blur_sigma", float, 2.0, "Gaussian sigma in samples for fill='blur'", low=0.0),
)
NORMALIZE_PARAM = Param("normalize", str, "abs", "per-sample normalisation of R to [0, 1]: abs = |R|/max|R|, "
                        "positive = max(R,0)/max R, signed = (R-min)/(max-min)", choices=NORMALIZE_MODES)


def check_pair(x: np.ndarray, relevance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 copies of x and R, R broadcast over a trailing channel axis of size 1 if it lacks it."""
    x = np.asarray(x, dtype=np.float32)
    r = np.asarray(relevance, dtype=np.float32)
    if r.shape != x.shape:
        if r.shape == x.shape[:-1]:
            r = np.broadcast_to(r[..., None], x.shape)
        elif r.shape[:-1] == x.shape[:-1] and r.shape[-1] == 1:
            r = np.broadcast_to(r, x.shape)
        else:
            raise DataError(f"relevance shape {r.shape} does not match input shape {x.shape}")
    for name, a in (("input x", x), ("relevance", r)):
        finite = np.isfinite(a.reshape(len(a), -1)).all(axis=1) if a.size else np.array([], bool)
        if not finite.all():
            raise DataError(f"{name} has NaN or infinite values in sample {int(np.flatnonzero(~finite)[0])}")
    return x, np.array(r)


def normalize_relevance(r: np.ndarray, mode: str = "abs") -> np.ndarray:
    """Per-sample map to [0, 1]; an all-zero map stays zero."""
    flat = r.reshape(len(r), -1).astype(np.float32)
    if mode == "abs":
        flat = np.abs(flat)
    elif mode == "positive":
        flat = np.maximum(flat, 0)
    elif mode == "signed":
        flat = flat - flat.min(axis=1, keepdims=True)
    else:
        raise ParameterError(f"normalize must be one of {NORMALIZE_MODES}, got {mode!r}")
    peak = flat.max(axis=1, keepdims=True)
    return np.divide(flat, peak, out=np.zeros_like(flat), where=peak > 0).reshape(r.shape)


def top_fraction_mask(r: np.ndarray, fraction: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Boolean mask of the round(fraction·D) most relevant elements of each sample.

    Values above the cut (the k-th largest value) are always in; of the values *equal* to the cut, as many as
    still fit are drawn at random with ``rng`` (default: a generator seeded with 0), never taken in index order,
    which would mask the same positions (e.g. the lowest frequency rows) of every all-zero map.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ParameterError(f"fraction must lie in [0, 1], got {fraction}")
    flat = r.reshape(len(r), -1)
    n, d = flat.shape
    k = round(fraction * d)
    mask = np.zeros(flat.shape, dtype=bool)
    if k == 0 or n == 0:
        return mask.reshape(r.shape)
    cut = -np.partition(-flat, k - 1, axis=1)[:, k - 1:k]
    mask |= flat > cut
    tied = flat == cut
    need = k - mask.sum(axis=1)  # >= 1: the cut value itself is among the k
    exact = need == tied.sum(axis=1)  # every tied value fits: nothing to choose
    mask[exact] |= tied[exact]
    rng = np.random.default_rng(0) if rng is None else rng
    for i in np.flatnonzero(~exact):
        mask[i, rng.choice(np.flatnonzero(tied[i]), need[i], replace=False)] = True
    return mask.reshape(r.shape)


def degenerate_maps(relevance: np.ndarray, normalize: str | None = None) -> np.ndarray:
    """Per sample, True where the relevance map carries no information a masker could rank by.

    Degenerate: every value of the sample equal (all-zero maps included) or any value NaN/inf. With
    ``normalize`` (a mode of :func:`normalize_relevance`) the check is made after that normalisation, as a
    masker sees the map: under ``"positive"`` a map without a positive value is all zero.
    """
    r = np.asarray(relevance, dtype=np.float32)
    if r.ndim < 1:
        raise DataError(f"relevance must be a batch of maps (N, ...), got shape {r.shape}")
    flat = r.reshape(len(r), -1)
    if flat.shape[1] == 0:
        return np.ones(len(r), dtype=bool)
    finite = np.asarray(np.isfinite(flat).all(axis=1))  # asarray: a (N,) array, for type checkers too
    if normalize is not None:
        flat = normalize_relevance(np.where(finite[:, None], flat, 0.0), normalize).reshape(len(r), -1)
    return ~finite | (flat.max(axis=1) == flat.min(axis=1))


def count_degenerate(relevance: np.ndarray, normalize: str | None = None) -> int:
    """Number of degenerate maps in ``relevance`` (see :func:`degenerate_maps`)."""
    return int(degenerate_maps(relevance, normalize).sum())


def fill_values(x: np.ndarray, fill: str, fill_value: float | None = None, blur_sigma: float = 2.0) -> np.ndarray:
    """What removed values are replaced with, broadcastable to x."""
    if fill_value is not None:
        return np.full_like(x, fill_value)
    if fill == "zero":
        return np.zeros_like(x)
    if fill == "dataset_mean":
        return np.broadcast_to(x.mean(axis=0, keepdims=True), x.shape)
    if fill == "sample_mean":
        return np.broadcast_to(x.reshape(len(x), -1).mean(axis=1).reshape((-1,) + (1,) * (x.ndim - 1)), x.shape)
    if fill == "blur":
        from scipy.ndimage import gaussian_filter

        # blur the sample axes only: not across samples, not across a trailing channel axis
        sigma = [0.0] + [blur_sigma] * (x.ndim - 1)
        if x.ndim >= 4:
            sigma[-1] = 0.0
        return gaussian_filter(x, sigma=sigma, mode="nearest")
    raise ParameterError(f"fill must be one of {FILL_MODES}, got {fill!r}")


def apply_mask(x: np.ndarray, remove: np.ndarray, fill: str, fill_value=None, blur_sigma=2.0) -> np.ndarray:
    """x with the elements where ``remove`` is True replaced by the fill."""
    return np.where(remove, fill_values(x, fill, fill_value, blur_sigma), x).astype(np.float32)


def shuffle_relevance(relevance: np.ndarray, seed: int = 0) -> np.ndarray:
    """Random-relevance control: each sample's values permuted over its positions (same value histogram)."""
    r = np.asarray(relevance, dtype=np.float32)
    rng = np.random.default_rng(seed)
    flat = r.reshape(len(r), -1)
    return np.take_along_axis(flat, rng.permuted(np.tile(np.arange(flat.shape[1]), (len(r), 1)), axis=1),
                              axis=1).reshape(r.shape)


def mask(x: np.ndarray, relevance: np.ndarray, masker: str = "keep", seed: int = 0, **params) -> np.ndarray:
    """Masked copy of ``x`` (float32, same shape) using relevance maps of x's shape.

    ``masker`` is a registered name (``relmask.list_maskers()``) or a Masker object; ``params`` are checked
    against the masker's declared parameters (names, types, ranges). ``seed`` seeds the masker's generator, which
    draws ties at a top-fraction cut (see the module docstring). Warns when more than
    :data:`DEGENERATE_WARN_SHARE` of the maps are degenerate; a masker's NaN/inf output is a
    :class:`relmask.errors.ComponentOutputError` naming it and its plugin.
    """
    from relmask.plugin_system.kinds import MASKERS
    from relmask.plugin_system.plugins import registry

    maskers = registry(MASKERS)
    m = maskers.get(masker)
    resolved = m.resolve_params(params)
    x32, r32 = check_pair(x, relevance)
    if len(x32) == 0:  # nothing to mask (e.g. an empty split): an empty batch of x's shape, as numpy would give
        return x32.copy()
    normalize = resolved.get("normalize")
    _warn_degenerate(r32, normalize if normalize in NORMALIZE_MODES else None, m.name)
    out = m.apply(x32, r32, np.random.default_rng(seed), **resolved)
    out = np.asarray(out, dtype=np.float32)
    if out.shape != x32.shape:
        raise DataError(f"masker {m.name!r} returned shape {out.shape} for input shape {x32.shape}")
    bad = ~np.isfinite(out.reshape(len(out), -1)).all(axis=1) if out.size else np.zeros(0, bool)
    if bad.any():
        raise ComponentOutputError(f"{maskers.describe(m)} returned NaN or infinite values for finite inputs and "
                                   f"relevance ({int(bad.sum())} of {len(out)} samples, first: sample "
                                   f"{int(np.flatnonzero(bad)[0])})")
    return out


def _warn_degenerate(r: np.ndarray, normalize: str | None, masker: str) -> None:
    n = len(r)
    count = count_degenerate(r, normalize)
    if n and count / n > DEGENERATE_WARN_SHARE:
        warnings.warn(f"{count} of {n} relevance maps ({count / n:.0%}) carry no information (every value equal"
                      f"{f' after normalize={normalize!r}' if normalize else ''}, e.g. all zero); masker "
                      f"{masker!r} cannot rank their values: a top fraction is drawn at random (seeded), as for "
                      "the random control (relmask.pipeline.masking.degenerate_maps finds them)", RelmaskWarning,
                      stacklevel=3)


def masked_fraction(x: np.ndarray, x_masked: np.ndarray) -> float:
    """Share of values the masker changed (for the random control and reports)."""
    return float(np.mean(~np.isclose(np.asarray(x), np.asarray(x_masked))))
