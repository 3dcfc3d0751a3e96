"""The synthetic face source: deterministic, balanced, styles that differ, classes that are learnable."""
from __future__ import annotations

import numpy as np
import pytest

import relmask
from relmask.errors import ParameterError
from relmask_plugins.fer import synthetic


def load(**kw):
    return relmask.get_domain("fer").load("synthetic", **kw)


def test_shape_range_and_ids():
    ds = load(n=50, seed=3)
    assert ds.x.shape == (50, 48, 48, 1) and ds.x.dtype == np.float32
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    assert ds.class_names == synthetic.CLASS_NAMES
    assert len(set(ds.ids.tolist())) == 50
    assert ds.style == "photo" and ds.usage.shape == (50,)


def test_deterministic_and_seed_dependent():
    a, b, c = load(n=30, seed=1), load(n=30, seed=1), load(n=30, seed=2)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.allclose(a.x, c.x)
    assert not set(a.ids.tolist()) & set(c.ids.tolist())


def test_chunking_does_not_change_the_faces():
    x_big, y_big = synthetic._render_cached(40, 5, "photo", 1.0, 0.25, "balanced", 1024)
    x_small, y_small = synthetic._render_cached(40, 5, "photo", 1.0, 0.25, "balanced", 7)
    np.testing.assert_array_equal(x_big, x_small)
    np.testing.assert_array_equal(y_big, y_small)


def test_returned_arrays_are_private_copies():
    a = load(n=10, seed=4)
    a.x[:] = 0
    assert load(n=10, seed=4).x.max() > 0


def test_class_balance():
    counts = np.bincount(load(n=71, seed=0).y, minlength=7)
    assert counts.max() - counts.min() <= 1
    fer = np.bincount(load(n=700, seed=0, class_distribution="fer2013").y, minlength=7)
    assert fer.sum() == 700 and fer[1] == fer.min() and fer[3] == fer.max()  # disgust rarest, happy commonest


def test_styles_differ():
    photo, sketch, cartoon = (load(n=200, seed=0, style=s).x for s in ("photo", "sketch", "cartoon"))
    assert sketch.mean() > photo.mean() + 0.2  # dark pen on light paper vs. shaded faces on darker ground
    assert np.abs(cartoon - photo).mean() > 0.03  # same geometry, painted differently


def test_expression_is_in_the_pixels():
    # a ridge regression on raw pixels (no nuisance removal) is far above chance (1/7) on held-out faces:
    # the classes are drawn, not just labelled
    ds = load(n=2000, seed=0, occlusion=0.0)
    x = ds.x.reshape(len(ds), -1)
    x = np.c_[x - x.mean(axis=1, keepdims=True), np.ones(len(x))]
    onehot = np.eye(7)[ds.y]
    tr, te = slice(0, 1600), slice(1600, None)
    w = np.linalg.solve(x[tr].T @ x[tr] + 30 * np.eye(x.shape[1]), x[tr].T @ onehot[tr])
    assert ((x[te] @ w).argmax(axis=1) == ds.y[te]).mean() > 0.3


def test_bad_parameters():
    with pytest.raises(ParameterError, match="style"):
        load(n=5, style="oil")
    with pytest.raises(ParameterError, match="unknown parameter 'sead'"):
        load(n=5, sead=1)


def test_fast_enough():
    import time

    t = time.perf_counter()
    synthetic.render_faces(2000, seed=99)
    assert time.perf_counter() - t < 5.0  # 10k faces take a few seconds
