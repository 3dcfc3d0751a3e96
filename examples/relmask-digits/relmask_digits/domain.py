"""The ``digits`` domain: scikit-learn's handwritten digits, 1,797 real 8×8 grey images of the digits 0–9.

The images ship inside scikit-learn (``sklearn.datasets.load_digits``: the test set of the UCI "Optical
Recognition of Handwritten Digits" data, E. Alpaydin and C. Kaynak, 1998), so loading them downloads nothing.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from relmask.errors import ParameterError
from relmask.pipeline.data import Dataset, stratified_split
from relmask.plugin_system.components import Domain, DomainDefaults, Param, Source

#: how many images sklearn ships; a subset is drawn from these
N_DIGITS = 1797
#: the images' pixel values are integers 0..16 (counts of set pixels in 4×4 blocks of a 32×32 bitmap)
PIXEL_MAX = 16.0


def load_sklearn(path, n: int | None, seed: int) -> Dataset:
    """``x`` (N, 8, 8, 1) in [0, 1], ``y`` the digit; ``n`` draws a stratified subset (seeded), None keeps all."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / PIXEL_MAX).astype(np.float32)[..., None]
    y = digits.target.astype(np.int64)
    ids = np.char.add("digits-", np.char.zfill(np.arange(len(y)).astype(str), 4))  # index in load_digits()
    if n is not None and n < len(y):
        # every class in the subset's share, so a small subset still holds every digit
        keep = stratified_split(y, [n / len(y), 1.0 - n / len(y)], seed)[0]
        x, y, ids = x[keep], y[keep], ids[keep]
    return Dataset(x, y, ids, [str(d) for d in digits.target_names],
                   extras={"source": "sklearn.datasets.load_digits"},
                   report={"n_loaded": len(y), "n_available": N_DIGITS, "skipped": []})


class DigitsDomain(Domain):
    name = "digits"
    description = "handwritten digits 0-9, 8x8 grey images (scikit-learn's load_digits: real data, no download)"
    #: what an experiment that runs on any domain (relmask's faithfulness) needs: which source, how its sample
    #: size is named, the model, masker and score to use, relevance parameters that fit 8x8 images (an occlusion
    #: window of 2 px: 16 windows) and that the images are real (its figures and tables say no "synthetic data")
    defaults = DomainDefaults(source="sklearn", size_param="n", n_samples=500, model="digits_cnn", masker="keep",
                              masker_params={"fraction": 0.3, "fill": "zero"}, score="accuracy", n_classes=10,
                              relevance_params={"occlusion": {"window": 2}}, synthetic=False)
    sources: ClassVar[dict[str, Source]] = {
        "sklearn": Source(
            "sklearn", "the 1,797 images bundled with scikit-learn (UCI optical recognition of handwritten digits)",
            load_sklearn, (
                Param("n", (int, type(None)), None, f"a stratified subset of this many images (None: all {N_DIGITS})",
                      low=10, high=N_DIGITS),
                Param("seed", int, 0, "seed of the subset"),
            ), sample_shape=lambda path, **params: (8, 8, 1)),
    }

    def load(self, source: str = "sklearn", path=None, **params):
        if path is not None:  # the images come from the installed scikit-learn, never from a file
            raise ParameterError(f"domain 'digits' source {source!r} takes no path (got {path!r}): its images "
                                 "ship with scikit-learn")
        return super().load(source, None, **params)
