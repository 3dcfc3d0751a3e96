"""Dataset checks, stratified splits, and metrics against naive definitions."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from relmask import Dataset
from relmask.errors import DataError
from relmask.pipeline.data import nested_subsample, stratified_kfold, stratified_split
from relmask.scoring.evaluation import area_under_learning_curve, epochs_to_reach, fuse, roc_auc, roc_curve, value_after


def test_dataset_validates_and_subsets():
    d = Dataset(np.zeros((4, 2)), [0, 1, 1, 0], list("abcd"), ["no", "yes"], extras={"wave": np.arange(4),
                                                                                       "rate": 2000})
    sub = d.subset([1, 2])
    assert sub.wave.tolist() == [1, 2] and sub.rate == 2000 and sub.ids.tolist() == ["b", "c"]
    assert d.class_counts() == {"no": 2, "yes": 2} and d.fingerprint() != sub.fingerprint()
    with pytest.raises(DataError, match="non-finite values in 1 samples, first: 'c'"):
        Dataset(np.array([[0.0], [1], [np.nan]]), [0, 0, 0], list("abc"), ["n"])
    with pytest.raises(DataError, match=r"labels must lie in 0..1"):
        Dataset(np.zeros((2, 1)), [0, 2], list("ab"), ["n", "y"])
    with pytest.raises(DataError, match="disagree"):
        Dataset(np.zeros((2, 1)), [0], list("ab"), ["n"])
    with pytest.raises(AttributeError, match="extras: \\['rate', 'wave'\\]"):
        _ = d.waveforms


def test_stratified_split_and_kfold():
    y = np.array([0] * 77 + [1] * 23)
    parts = stratified_split(y, [0.6, 0.2, 0.2], seed=3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(100))
    assert all(abs(y[p].mean() - 0.23) < 0.05 for p in parts)
    assert all((a == b).all() for a, b in zip(parts, stratified_split(y, [0.6, 0.2, 0.2], seed=3), strict=True))
    folds = stratified_kfold(y, 5, seed=0)
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(100))
    assert all(len(np.intersect1d(tr, te)) == 0 for tr, te in folds)


def test_roc_auc_equals_pairwise_definition():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)  # rounding creates ties
    pos, neg = s[y == 1], s[y == 0]
    naive = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert roc_auc(y, s) == pytest.approx(naive)
    fpr, tpr, _ = roc_curve(y, s)
    assert np.trapezoid(tpr, fpr) == pytest.approx(naive)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    with pytest.raises(ValueError, match="both classes"):
        roc_auc(np.ones(3), np.ones(3))


def test_fusion_rules_and_learning_curve_summaries():
    a, b = np.array([[0.8, 0.2], [0.4, 0.6]]), np.array([[0.6, 0.4], [0.1, 0.9]])
    np.testing.assert_allclose(fuse([a, b], "mean"), (a + b) / 2)
    prod = a * b
    np.testing.assert_allclose(fuse([a, b], "product"), prod / prod.sum(1, keepdims=True))
    mx = np.maximum(a, b)
    np.testing.assert_allclose(fuse([a, b], "max"), mx / mx.sum(1, keepdims=True))
    with pytest.raises(ValueError, match="unknown fusion rule"):
        fuse([a], "median")
    curve = [0.2, 0.5, 0.7, 0.65]
    assert epochs_to_reach(curve, 0.6) == 3 and np.isnan(epochs_to_reach(curve, 0.9))
    assert value_after(curve, 2) == 0.5 and value_after(curve, 10) == 0.65
    assert area_under_learning_curve(curve) == pytest.approx(0.5125)


def test_atomic_write_makes_ordinary_files(tmp_path):
    import os
    import stat

    from relmask.io import atomic_write, read_json, write_json

    path = write_json(tmp_path / "sub" / "r.json", {"a": np.float32(1.5), "b": np.arange(2), "c": float("nan")})
    assert read_json(path) == {"a": 1.5, "b": [0, 1], "c": None}
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o666 & ~_umask() and mode & stat.S_IROTH
    atomic_write(path, "x")
    assert path.read_text() == "x" and [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temp left


def _umask():
    import os

    m = os.umask(0)
    os.umask(m)
    return m


def test_mean_sd_is_one_spread_for_numbers_and_curves():
    """Tables (numbers over seeds) and curve bands (curves over seeds) get the same sample sd (ddof 1)."""
    from relmask.scoring.evaluation import mean_sd

    curves = np.array([[0.1, 0.5, 0.7], [0.3, 0.6, 0.9], [0.2, 0.4, 0.8]])
    m, sd = mean_sd(curves, axis=0)
    for e in range(3):
        assert (m[e], sd[e]) == pytest.approx(mean_sd(curves[:, e]))
    assert sd[0] == pytest.approx(0.1)  # sqrt(((0.1-0.2)² + (0.3-0.2)² + 0) / (3 - 1)), not / 3
    assert mean_sd([0.4]) == (0.4, 0.0)
    m1, sd1 = mean_sd(curves[:1], axis=0)  # one seed: no spread, not NaN
    np.testing.assert_array_equal(sd1, np.zeros(3))
    np.testing.assert_array_equal(m1, curves[0])


def test_nested_subsample_is_nested_stratified_and_exact():
    y = np.repeat(np.arange(4), [50, 30, 15, 5])
    sizes = [1, 7, 20, 41, 99]
    subsets = [nested_subsample(y, n, seed=3) for n in sizes]
    for n, idx in zip(sizes, subsets, strict=True):
        assert len(idx) == n == len(set(idx.tolist())) and (np.diff(idx) > 0).all()
        share = np.bincount(y[idx], minlength=4) - n * np.bincount(y) / len(y)
        assert np.abs(share).max() <= 1.0, (n, share)
    for smaller, larger in itertools.pairwise(subsets):
        assert set(smaller.tolist()) <= set(larger.tolist())
    assert not np.array_equal(nested_subsample(y, 20, seed=4), subsets[2])  # the seed matters
    assert np.array_equal(nested_subsample(y, 0), np.arange(100)) and len(nested_subsample(y, 500)) == 100
    with pytest.raises(ValueError, match="n must be an integer"):
        nested_subsample(y, -1)
