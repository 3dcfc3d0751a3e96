"""Metrics, decision fusion and learning-curve summaries (NumPy only, no scikit-learn)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import rankdata

FUSION_RULES = ("mean", "product", "max")


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tie correction). Binary labels 0/1."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc needs both classes in y_true")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(y_true: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, thresholds), thresholds descending, starting at (0, 0)."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last_of_run]
    fps = (last_of_run + 1) - tps
    tpr = np.r_[0.0, tps / max(y.sum(), 1)]
    fpr = np.r_[0.0, fps / max((~y).sum(), 1)]
    return fpr, tpr, np.r_[np.inf, s[last_of_run]]


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


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


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
