"""Why relmask keeps its own stratified_split but uses scikit-learn's StratifiedKFold (docs/reproduce.md, Splits).

On 200 random label sets (50–2,000 samples, 2–7 classes, every class present) it prints how far a class's count
in each part lands from its exact share for a 60/20/20 split (relmask's ``stratified_split`` vs two nested
``train_test_split`` calls, and how often the latter refuses the labels), and the largest fold-size spread of a
5-fold split (relmask's former k-fold, ``stratified_split`` with equal fractions, vs ``StratifiedKFold``).

    python benchmarks/splits.py
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from relmask.pipeline.data import stratified_split

FRACTIONS = [0.6, 0.2, 0.2]


def deviation(parts, y, fractions) -> float:
    return max(abs((y[p] == c).sum() - f * (y == c).sum())
               for p, f in zip(parts, fractions, strict=True) for c in np.unique(y))


def nested_train_test_split(y, fractions, seed):
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=fractions[2], stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=fractions[1] / (fractions[0] + fractions[1]), stratify=y[rest],
                                  random_state=seed)
    return [np.sort(train), np.sort(val), np.sort(test)]


def main() -> None:
    rng = np.random.default_rng(0)
    worst = {"relmask": 0.0, "sklearn": 0.0}
    refused = 0
    for trial in range(200):
        n, k = int(rng.integers(50, 2000)), int(rng.integers(2, 8))
        y = rng.choice(k, n, p=rng.dirichlet(np.ones(k)))
        y[:k] = np.arange(k)
        worst["relmask"] = max(worst["relmask"], deviation(stratified_split(y, FRACTIONS, trial), y, FRACTIONS))
        try:
            worst["sklearn"] = max(worst["sklearn"], deviation(nested_train_test_split(y, FRACTIONS, trial), y,
                                                               FRACTIONS))
        except ValueError:
            refused += 1
    print(f"60/20/20: largest distance of a class count from its exact share: relmask {worst['relmask']:.2f}, "
          f"nested train_test_split {worst['sklearn']:.2f} (refused {refused} of 200 label sets)")
    spread = {"relmask": 0, "sklearn": 0}
    for trial in range(200):
        n, k = int(rng.integers(50, 2000)), int(rng.integers(2, 8))
        y = rng.choice(k, n, p=rng.dirichlet(np.ones(k)))
        y[:5 * k] = np.repeat(np.arange(k), 5)
        ours = [len(f) for f in stratified_split(y, [0.2] * 5, trial)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = [len(te) for _, te in StratifiedKFold(5, shuffle=True, random_state=trial).split(y, y)]
        spread["relmask"] = max(spread["relmask"], max(ours) - min(ours))
        spread["sklearn"] = max(spread["sklearn"], max(theirs) - min(theirs))
    print(f"5-fold: largest fold-size spread: equal-fraction stratified_split {spread['relmask']}, "
          f"StratifiedKFold {spread['sklearn']}")


if __name__ == "__main__":
    main()
