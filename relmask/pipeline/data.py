"""The dataset object every domain returns, seeded stratified splits, and data fingerprints."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relmask.errors import DataError


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

    def subset(self, index: Sequence[int] | np.ndarray) -> Dataset:
        idx = np.asarray(index)
        n = len(self)
        extras = {k: (v[idx] if isinstance(v, np.ndarray) and v.ndim and len(v) == n else v)
                  for k, v in self.extras.items()}
        return Dataset(self.x[idx], self.y[idx], self.ids[idx], list(self.class_names), extras,
                       dict(self.report))

    def with_x(self, x: np.ndarray) -> Dataset:
        """The same samples with other inputs (e.g. masked ones)."""
        return Dataset(x, self.y, self.ids, list(self.class_names), dict(self.extras), dict(self.report))

    def fingerprint(self) -> str:
        return fingerprint_arrays(self.x, self.y, self.ids)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=self.n_classes)
        return {c: int(k) for c, k in zip(self.class_names, counts, strict=True)}

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

    Every class is divided in the same proportions; indices within each part are sorted. Not scikit-learn's
    ``train_test_split``: that makes two parts per call, needs two members of every class, and nesting it for
    three parts put class counts further from their exact share (docs/reproduce.md, "Splits").
    """
    y = np.asarray(y)
    shares = np.asarray(fractions, dtype=float)
    if (shares < 0).any() or not np.isclose(shares.sum(), 1.0):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {shares.tolist()}")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in shares]
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        bounds = np.round(np.cumsum(shares) * len(idx)).astype(int)
        for k, chunk in enumerate(np.split(idx, bounds[:-1])):
            parts[k].extend(chunk.tolist())
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def nested_subsample(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` samples, stratified by label, and *nested*: for one ``seed`` the subset of a
    smaller ``n`` lies inside that of every larger one, so a data-size sweep adds samples and never swaps them.

    Each class is permuted (seeded); a sample's place in the class, (rank + 0.5) / class size, orders all
    samples across classes (ties broken by a seeded random key), and the first ``n`` are taken: every class
    keeps its share to within one sample. ``n`` 0 or at least ``len(y)``: all indices.
    """
    y = np.asarray(y)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"nested_subsample(): n must be an integer >= 0, got {n!r}")
    if n == 0 or n >= len(y):
        return np.arange(len(y), dtype=np.int64)
    rng = np.random.default_rng(seed)
    place = np.empty(len(y))
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        place[idx] = (np.arange(len(idx)) + 0.5) / len(idx)
    order = np.lexsort((rng.random(len(y)), place))
    return np.sort(order[:n]).astype(np.int64)


def stratified_kfold(y: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of a seeded stratified k-fold: scikit-learn's ``StratifiedKFold`` (shuffled,
    ``random_state=seed``), indices sorted. Every class is spread over the folds as evenly as it divides, and fold
    sizes differ by at most one sample (splitting each class by rounded fractions let them differ by up to
    one sample per class).
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    if not isinstance(k, (int, np.integer)) or not 2 <= k <= len(y):
        raise ValueError(f"stratified_kfold: k must be a whole number from 2 to the number of samples ({len(y)}), "
                         f"got {k!r}")
    splits = StratifiedKFold(n_splits=int(k), shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    return [(np.sort(train), np.sort(test)) for train, test in splits]


# -- precomputed features ------------------------------------------------------------------------------
FEATURE_ARRAYS = ("x", "y")


def load_feature_arrays(path, scale: str = "auto", channel_axis: bool = True) -> Dataset:
    """A :class:`Dataset` from an ``.npz`` of precomputed inputs: ``x`` (N, ...), ``y`` (N,) integer labels,
    optional ``ids`` (N,) and ``class_names``.

    ``scale``: ``auto`` divides integer arrays by their dtype's maximum (uint8 → [0, 1]) and leaves floats as
    they are; ``none`` leaves every array as it is. ``channel_axis`` adds a trailing channel axis of size 1 to
    (N, H, W) inputs. Every problem raises a :class:`DataError` naming the file and the array.
    """
    import tokenize
    import zipfile
    import zlib
    from pathlib import Path

    path = Path(path)
    if scale not in ("auto", "none"):
        raise DataError(f"scale must be 'auto' or 'none', got {scale!r}", path)
    if not path.is_file():
        raise DataError("feature file not found", path)
    try:
        z = np.load(path, allow_pickle=False)
        if isinstance(z, np.lib.npyio.NpzFile):
            with z:
                arrays = {k: z[k] for k in z.files}
    # a corrupt member can fail in zlib (compressed data) or in parsing its .npy header (tokenize, SyntaxError)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, SyntaxError,
            tokenize.TokenError) as exc:
        raise DataError(f"not a readable .npz ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(z, np.lib.npyio.NpzFile):  # a bare .npy array: nothing to take the labels from
        raise DataError(f"a single .npy array of shape {z.shape}, not an .npz archive with arrays x and y", path)
    missing = [k for k in FEATURE_ARRAYS if k not in arrays]
    if missing:
        raise DataError(f"the .npz lacks array(s) {missing}; it has {sorted(arrays)} (need x, y; optional ids, "
                        "class_names)", path)
    x, y = arrays["x"], arrays["y"]
    if x.ndim < 2:
        raise DataError(f"array 'x' must be (N, ...) with at least one feature axis, got shape {x.shape}", path)
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"array 'y' must be (N,) = ({len(x)},) labels, got shape {y.shape}", path)
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise DataError(f"array 'y' must hold integer class labels, got dtype {y.dtype}", path)
    ids = arrays.get("ids", np.asarray([f"{path.stem}-{i}" for i in range(len(x))]))
    if len(ids) != len(x):
        raise DataError(f"array 'ids' has {len(ids)} entries for {len(x)} samples", path)
    if len(set(map(str, ids))) != len(ids):
        raise DataError("array 'ids' has duplicate sample ids", path)
    if "class_names" in arrays:
        if arrays["class_names"].ndim != 1:
            raise DataError(f"array 'class_names' must be 1-D (one name per class), got shape "
                            f"{arrays['class_names'].shape}", path)
        class_names = [str(c) for c in arrays["class_names"]]
    else:
        class_names = [str(c) for c in range(int(y.max()) + 1 if len(y) else 0)]
    if len(y) and (y.min() < 0 or y.max() >= len(class_names)):
        raise DataError(f"labels {int(y.min())}..{int(y.max())} do not fit the {len(class_names)} class names "
                        f"{class_names}", path)
    if scale == "auto" and np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        raise DataError(f"array 'x' has NaN or infinite values in {len(bad)} samples, first id "
                        f"{str(ids[bad[0]])!r}", path)
    if channel_axis and x.ndim == 3:
        x = x[..., None]
    report = {"source": "npz", "file": str(path), "n_loaded": len(x), "skipped": [],
              "arrays": {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()}}
    return Dataset(x, y, ids, class_names, report=report)
