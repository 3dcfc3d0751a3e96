"""Effect sizes with their uncertainty: paired differences over seeds and DeLong's test for correlated AUCs.

Every comparison relmask reports (masked vs raw, fusion vs CNN₁, relevance vs a control) is paired: per seed the
two systems share the split, the initial weights and the batch order, so the per-seed difference is the effect
and its spread across seeds is the noise. :func:`paired_difference` gives its mean and a 95 % interval: the wider
of the percentile bootstrap and Student's t interval. With the 3–5 seeds of the presets the bootstrap alone covers
the truth far less often than its nominal 95 % while t holds it (``benchmarks/stats_coverage.py`` measures both;
its results are in ``benchmarks/results/``), so relmask never reports an interval narrower than t's. For two AUCs
on the same test clips :func:`delong` gives the paired test over clips (DeLong, DeLong & Clarke-Pearson 1988,
with the fast midrank algorithm of Sun & Xu 2014).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

#: bootstrap resamples of the mean paired difference
N_BOOTSTRAP = 10_000
LEVEL = 0.95


def bootstrap_mean_ci(values: ArrayLike, n_boot: int = N_BOOTSTRAP, level: float = LEVEL,
                      seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values`` (NaN, NaN for no values)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def paired_difference(a: Mapping, b: Mapping, n_boot: int = N_BOOTSTRAP, level: float = LEVEL,
                      seed: int = 0) -> dict:
    """Effect of ``a`` over ``b``: per-seed differences ``a[s] - b[s]`` over the seeds both have.

    Returns ``mean``, ``sd`` (ddof 1), ``lo``/``hi`` (the 95 % interval of the mean: the union of the
    percentile-bootstrap interval ``boot_lo``/``boot_hi`` and Student's t interval ``t_lo``/``t_hi``), ``n``
    (paired seeds), ``includes_zero`` (the interval contains 0: the effect is within the noise) and the
    ``differences``.
    A single paired seed has no spread to measure the noise by: its interval is NaN and ``includes_zero`` True,
    so a table never reports one seed's difference as an effect.
    """
    seeds = [s for s in a if s in b and np.isfinite(a[s]) and np.isfinite(b[s])]
    d = np.asarray([float(a[s]) - float(b[s]) for s in seeds])
    if len(d) == 0:
        return {"mean": float("nan"), "sd": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0,
                "includes_zero": True, "differences": []}
    nan = float("nan")
    boot_lo, boot_hi = bootstrap_mean_ci(d, n_boot, level, seed) if len(d) > 1 else (nan, nan)
    t_lo, t_hi = t_mean_ci(d, level) if len(d) > 1 else (nan, nan)
    lo, hi = (min(boot_lo, t_lo), max(boot_hi, t_hi)) if len(d) > 1 else (nan, nan)
    return {"mean": float(d.mean()), "sd": float(d.std(ddof=1)) if len(d) > 1 else 0.0, "lo": lo, "hi": hi,
            "boot_lo": boot_lo, "boot_hi": boot_hi, "t_lo": t_lo, "t_hi": t_hi,
            "n": len(d), "includes_zero": bool(len(d) < 2 or lo <= 0.0 <= hi), "differences": [float(x) for x in d]}


def t_mean_ci(values: ArrayLike, level: float = LEVEL) -> tuple[float, float]:
    """Student's t interval of the mean of ``values`` (at least two finite values)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    from scipy.stats import t  # here, not at import: scipy.stats costs a second, and plugins import this

    half = float(t.ppf(0.5 + level / 2, len(v) - 1)) * float(v.std(ddof=1)) / np.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)


def format_effect(e: Mapping, digits: int = 3) -> str:
    """``+0.012 [-0.004, +0.030], n=5 (within noise)``: the interval says plainly when it includes zero."""
    if not e.get("n"):
        return "–"
    f = f"{{:+.{digits}f}}"
    if not all(isinstance(e.get(k), (int, float, np.number)) and np.isfinite(e[k]) for k in ("lo", "hi")):
        # one seed (or a row read back from results.json, where NaN is stored as null)
        return f"{f.format(e['mean'])}, n={e['n']} (no interval: within noise)"
    text = f"{f.format(e['mean'])} [{f.format(e['lo'])}, {f.format(e['hi'])}], n={e['n']}"
    return text + (" (within noise)" if e["includes_zero"] else "")


def _midrank_components(pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's structural components V10 (per positive) and V01 (per negative)."""
    m, n = len(pos), len(neg)
    from scipy.stats import rankdata

    tz = rankdata(np.concatenate([pos, neg]))
    tx, ty = rankdata(pos), rankdata(neg)
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    return float(v10.mean()), v10, v01


def delong(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, level: float = LEVEL) -> dict:
    """DeLong's test of two correlated AUCs on the same samples.

    Returns ``auc_a``, ``auc_b``, ``diff`` (a - b), ``se``, ``z``, ``p`` (two-sided) and the normal
    ``lo``/``hi`` interval of the difference.
    """
    y = np.asarray(y_true).astype(bool)
    if y.all() or not y.any():
        raise ValueError("delong needs both classes in y_true")
    if min(y.sum(), (~y).sum()) < 2:  # the variance over one sample of a class is undefined (NaN, not 0)
        raise ValueError(f"delong needs at least 2 samples of each class, got {int(y.sum())} positive and "
                         f"{int((~y).sum())} negative")
    comps = [_midrank_components(np.asarray(s, np.float64)[y], np.asarray(s, np.float64)[~y])
             for s in (score_a, score_b)]
    aucs = np.array([c[0] for c in comps])
    v10 = np.stack([c[1] for c in comps])
    v01 = np.stack([c[2] for c in comps])
    s = np.cov(v10) / v10.shape[1] + np.cov(v01) / v01.shape[1]
    var = float(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    diff = float(aucs[0] - aucs[1])
    se = float(np.sqrt(max(var, 0.0)))
    z = diff / se if se > 0 else (0.0 if diff == 0 else float(np.sign(diff) * np.inf))
    from scipy.stats import norm

    p = float(2 * norm.sf(abs(z)))
    q = float(norm.ppf(0.5 + level / 2))
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "diff": diff, "se": se, "z": float(z), "p": p,
            "lo": diff - q * se, "hi": diff + q * se}
