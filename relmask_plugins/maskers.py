"""The built-in maskers: the papers' keep, negative, mean and soft masking, spectrogram band/frame masking, and
``rrr``, which encodes the maps in the loss instead of the data.

Every ``apply`` takes ``rng`` (:meth:`relmask.plugin_system.components.Masker.apply`'s signature: :func:`relmask.mask`
passes a
generator seeded by its ``seed``): the top-fraction maskers (``rrr`` included) draw the ties at the cut with it;
``mean`` and ``soft`` are deterministic and ignore it.
"""
from __future__ import annotations

import numpy as np

from relmask import hookimpl
from relmask.pipeline.masking import FILL_PARAMS, NORMALIZE_PARAM, apply_mask, normalize_relevance, top_fraction_mask
from relmask.plugin_system.components import Masker, Param

FRACTION = Param("fraction", float, 0.3, "share of each sample's values selected by relevance (top fraction; ties "
                 "at the cut drawn at random with the seed)", low=0.0, high=1.0)
THRESHOLD = Param("threshold", (float, type(None)), None,
                  "select values with normalised relevance >= threshold instead of a top fraction", low=0.0, high=1.0)


def _selected(r_hat: np.ndarray, fraction: float, threshold: float | None, rng) -> np.ndarray:
    return r_hat >= threshold if threshold is not None else top_fraction_mask(r_hat, fraction, rng)


class KeepMasker(Masker):
    name = "keep"
    description = "keep the most relevant values (top fraction or R >= threshold), fill the rest"
    params = (FRACTION, THRESHOLD, NORMALIZE_PARAM, *FILL_PARAMS)

    def apply(self, x, relevance, rng, fraction, threshold, normalize, fill, fill_value, blur_sigma):
        keep = _selected(normalize_relevance(relevance, normalize), fraction, threshold, rng)
        return apply_mask(x, ~keep, fill, fill_value, blur_sigma)


class NegativeMasker(Masker):
    name = "negative"
    description = ("negative masking (Paper B): remove the most relevant values so a second model must "
                   "learn from the rest")
    params = (FRACTION, THRESHOLD, NORMALIZE_PARAM, *FILL_PARAMS)

    def apply(self, x, relevance, rng, fraction, threshold, normalize, fill, fill_value, blur_sigma):
        drop = _selected(normalize_relevance(relevance, normalize), fraction, threshold, rng)
        return apply_mask(x, drop, fill, fill_value, blur_sigma)


class MeanMasker(Masker):
    name = "mean"
    description = ("mean masking: threshold each sample at its mean normalised relevance; keep='above' keeps "
                   "the values at or above the mean, keep='below' keeps those under it")
    params = (Param("keep", str, "above", "which side of the mean to keep", choices=("above", "below")),
              NORMALIZE_PARAM, *FILL_PARAMS)

    def apply(self, x, relevance, rng, keep, normalize, fill, fill_value, blur_sigma):  # rng: unused, no draws
        r_hat = normalize_relevance(relevance, normalize)
        mean = r_hat.reshape(len(r_hat), -1).mean(axis=1).reshape((-1,) + (1,) * (r_hat.ndim - 1))
        above = r_hat >= mean
        return apply_mask(x, ~above if keep == "above" else above, fill, fill_value, blur_sigma)


class SoftMasker(Masker):
    name = "soft"
    description = "relevance as a weight: x' = x * (alpha + (1 - alpha) * R_hat)"
    params = (Param("alpha", float, 0.2, "weight of the least relevant values", low=0.0, high=1.0), NORMALIZE_PARAM)

    def apply(self, x, relevance, rng, alpha, normalize):  # rng: unused, no draws
        return x * (alpha + (1.0 - alpha) * normalize_relevance(relevance, normalize))


class RightReasonsMasker(Masker):
    """"Right for the right reasons" (Ross, Hughes & Doshi-Velez, IJCAI 2017): the maps go into the student's
    loss, not its inputs. ``apply`` returns the annotation ``A``: 1 on the values outside the top ``fraction``
    by relevance (the "irrelevant" region), 0 on the top ``fraction``. The student trains on the raw inputs with
    the loss cross-entropy + ``weight`` · Σ_d (A ⊙ ∂(Σ_k log p_k)/∂x)² per sample
    (:attr:`relmask.pipeline.training.Member.input_penalty`), so it is pushed to decide from the relevant region without
    that region being cut out of its data."""

    name = "rrr"
    encodes = "loss"
    description = ("right for the right reasons (Ross et al. 2017): penalise the student's input gradient outside "
                   "the top fraction by relevance; the student sees raw inputs")
    params = (Param("fraction", float, 0.5, "share of each sample's values, most relevant first, where the input "
                    "gradient is free (ties at the cut drawn at random with the seed)", low=0.0, high=1.0,
                    low_open=True),
              Param("weight", float, 1.0, "lambda: weight of the input-gradient penalty against the "
                    "cross-entropy", low=0.0, low_open=True),
              NORMALIZE_PARAM)

    def apply(self, x, relevance, rng, fraction, weight, normalize):  # weight: read by the training, not here
        allowed = top_fraction_mask(normalize_relevance(relevance, normalize), fraction, rng)
        return (~allowed).astype(np.float32)


class AxisMasker(Masker):
    """Spectrogram-aware masking: whole frequency bands (rows) or time frames (columns) at once.

    Samples are (frequency, time[, channel]); the normalised relevance is summed over the other axis and the
    top ``fraction`` of bands/frames is kept or removed.
    """

    params = (FRACTION, Param("mode", str, "remove", "remove (negative) or keep the selected lines",
                              choices=("remove", "keep")), NORMALIZE_PARAM, *FILL_PARAMS)

    def __init__(self, name: str, axis: int, what: str):
        self.name, self.axis = name, axis
        self.description = f"mask whole {what} of a (frequency, time) spectrogram by their summed relevance"

    def apply(self, x, relevance, rng, fraction, mode, normalize, fill, fill_value, blur_sigma):
        if x.ndim < 3:
            from relmask.errors import DataError

            raise DataError(f"masker {self.name!r} needs (N, frequency, time[, channel]) input, got {x.shape}")
        r_hat = normalize_relevance(relevance, normalize)
        other = tuple(a for a in range(1, r_hat.ndim) if a != self.axis + 1)
        score = r_hat.sum(axis=other)  # (N, lines)
        chosen = top_fraction_mask(score, fraction, rng)
        shape = [len(x)] + [1] * (x.ndim - 1)
        shape[self.axis + 1] = x.shape[self.axis + 1]
        chosen = np.broadcast_to(chosen.reshape(shape), x.shape)
        return apply_mask(x, chosen if mode == "remove" else ~chosen, fill, fill_value, blur_sigma)


@hookimpl
def register_maskers(register):
    register(KeepMasker())
    register(NegativeMasker(), aliases=("negative_masking",))
    register(MeanMasker(), aliases=("mean_masking",))
    register(SoftMasker())
    register(AxisMasker("band", axis=0, what="frequency bands"))
    register(AxisMasker("frame", axis=1, what="time frames"))
    register(RightReasonsMasker())
