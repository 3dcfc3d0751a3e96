"""Metrics, decision fusion and learning-curve summaries (ROC through scikit-learn, the rest NumPy)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FUSION_RULES = ("mean", "product", "max")


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``; ties count one half). Binary labels 0/1."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    if not y.any() or y.all():  # checked here to keep relmask's message (sklearn's names no function)
        raise ValueError("roc_auc needs both classes in y_true")
    return float(roc_auc_score(y, s))


def roc_curve(y_true: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, thresholds), thresholds descending, starting at (0, 0).

    scikit-learn's ``roc_curve`` with every threshold kept (``drop_intermediate=False``); with one class only,
    the absent class's rate is 0 throughout instead of sklearn's NaN and warning.
    """
    import warnings

    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import roc_curve as sk_roc_curve

    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        fpr, tpr, thresholds = sk_roc_curve(y, s, drop_intermediate=False)
    return np.nan_to_num(fpr), np.nan_to_num(tpr), thresholds


def accuracy(y_true: np.ndarray, proba_or_pred: np.ndarray) -> float:
    p = np.asarray(proba_or_pred)
    pred = p.argmax(axis=1) if p.ndim == 2 else p
    return float(np.mean(pred == np.asarray(y_true)))


def fuse(probabilities: Sequence[np.ndarray], rule: str = "mean") -> np.ndarray:
    """Decision-level fusion of class-probability arrays (N, C): mean, product (renormalised) or max."""
    p = np.stack([np.asarray(a, np.float64) for a in probabilities])
    if rule == "mean":
        out = p.mean(axis=0)
    elif rule == "product":
        out = np.exp(np.log(np.clip(p, 1e-12, 1.0)).sum(axis=0))
    elif rule == "max":
        out = p.max(axis=0)
    else:
        raise ValueError(f"unknown fusion rule {rule!r}; known: {', '.join(FUSION_RULES)}")
    return out / out.sum(axis=-1, keepdims=True)


def mean_sd(values, axis: int | None = None):
    """Mean and sample standard deviation (ddof 1; 0 for a single value) — the one spread relmask reports, in
    tables and in the bands of curves alike.

    ``axis`` None: ``values`` is a sequence of numbers and the result two floats. An int: over that axis of an
    array, e.g. ``mean_sd(curves, axis=0)`` for (seeds, epochs) learning curves gives two arrays of epochs.
    """
    v = np.asarray(values, dtype=np.float64)
    if axis is None:
        return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
    mean = v.mean(axis=axis)
    return mean, v.std(axis=axis, ddof=1) if v.shape[axis] > 1 else np.zeros_like(mean)


def epochs_to_reach(curve: Sequence[float], level: float) -> float:
    """First epoch (1-based) whose value reaches ``level``; NaN if never reached."""
    hits = np.flatnonzero(np.asarray(curve) >= level)
    return float(hits[0] + 1) if len(hits) else float("nan")


def value_after(curve: Sequence[float], k: int) -> float:
    """Value after k epochs (1-based; the last value if the curve is shorter)."""
    c = np.asarray(curve)
    return float(c[min(k, len(c)) - 1])


def area_under_learning_curve(curve: Sequence[float]) -> float:
    """Mean of the per-epoch values (area under the curve per epoch, in the curve's units)."""
    return float(np.mean(np.asarray(curve, dtype=np.float64)))
