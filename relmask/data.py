"""The dataset object every domain returns, seeded stratified splits, and data fingerprints."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .errors import DataError


@dataclass
class Dataset:
    """Model-ready data: ``x`` float32 (N, ...), ``y`` int (N,), ``ids`` (N,) sample identifiers.

    Domain extras (``waveforms``, ``sample_rate``, ``style`` ...) live in ``extras`` and read as attributes;
    per-sample extras (first axis of length N) are sliced by :meth:`subset`. ``report`` lists skipped files
    and other notes of the loader.
    """

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    class_names: list[str]
    extras: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.x = np.asarray(self.x, dtype=np.float32)
        self.y = np.asarray(self.y).astype(np.int64)
        self.ids = np.asarray(self.ids).astype(str)
        n = len(self.x)
        if self.y.shape != (n,) or self.ids.shape != (n,):
            raise DataError(f"dataset arrays disagree: x has {n} samples, y shape {self.y.shape}, "
                            f"ids shape {self.ids.shape}")
        if n and not np.isfinite(self.x).all():
            bad = np.flatnonzero(~np.isfinite(self.x.reshape(n, -1)).all(axis=1))
            raise DataError(f"x has non-finite values in {len(bad)} samples, first: {str(self.ids[bad[0]])!r}")
        if n and (self.y.min() < 0 or self.y.max() >= len(self.class_names)):
            raise DataError(f"labels must lie in 0..{len(self.class_names) - 1} "
                            f"({len(self.class_names)} class names), got {self.y.min()}..{self.y.max()}")

    def __getattr__(self, name: str) -> Any:
        extras = self.__dict__.get("extras", {})
        if name in extras:
            return extras[name]
        raise AttributeError(f"Dataset has no attribute or extra {name!r}; extras: {sorted(extras)}")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def subset(self, index: Sequence[int] | np.ndarray) -> "Dataset":
        idx = np.asarray(index)
        n = len(self)
        extras = {k: (v[idx] if isinstance(v, np.ndarray) and v.ndim and len(v) == n else v)
                  for k, v in self.extras.items()}
        return Dataset(self.x[idx], self.y[idx], self.ids[idx], list(self.class_names), extras,
                       dict(self.report))

    def with_x(self, x: np.ndarray) -> "Dataset":
        """The same samples with other inputs (e.g. masked ones)."""
        return Dataset(x, self.y, self.ids, list(self.class_names), dict(self.extras), dict(self.report))

    def fingerprint(self) -> str:
        return fingerprint_arrays(self.x, self.y, self.ids)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=self.n_classes)
        return {c: int(k) for c, k in zip(self.class_names, counts)}

    def __repr__(self) -> str:
        return (f"Dataset(n={len(self)}, x{tuple(self.x.shape)}, classes={self.class_names}, "
                f"extras={sorted(self.extras)})")


def fingerprint_arrays(*arrays: Any) -> str:
    """A short SHA-256 over array shapes, dtypes and bytes (or the repr of non-arrays)."""
    h = hashlib.sha256()
    for a in arrays:
        if isinstance(a, np.ndarray):
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
        else:
            h.update(repr(a).encode())
    return h.hexdigest()[:16]


def stratified_split(y: np.ndarray, fractions: Sequence[float], seed: int = 0) -> list[np.ndarray]:
    """Split indices into parts with the given fractions (summing to 1), stratified by label, seeded.

    Every class is divided in the same proportions; indices within each part are sorted.
    """
    y = np.asarray(y)
    fractions = np.asarray(fractions, dtype=float)
    if (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions.tolist()}")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        bounds = np.round(np.cumsum(fractions) * len(idx)).astype(int)
        for k, chunk in enumerate(np.split(idx, bounds[:-1])):
            parts[k].extend(chunk.tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def stratified_kfold(y: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of a seeded stratified k-fold."""
    folds = stratified_split(y, [1.0 / k] * k, seed)
    return [(np.sort(np.concatenate([f for j, f in enumerate(folds) if j != i])), folds[i]) for i in range(k)]
