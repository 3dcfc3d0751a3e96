"""Faithfulness metrics (relmask.evaluate): every built-in against a naive loop-by-loop re-implementation in NumPy,
plus known answers (a model that reads one pixel; a linear model whose input gradient is exact)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import relmask
from relmask.errors import DataError, ParameterError
from relmask.plugin_system.components import ModelSpec
from relmask.scoring.metrics import removal_counts, spearman_rows, ssim_rows
from relmask_plugins.metrics import NEIGHBOURS, linear_impute
from tests.conftest import run_cli

keras = pytest.importorskip("keras")


# -- tiny models and their NumPy forward pass ---------------------------------------------------------------
def dense_model(shape, n_classes=3, hidden=6, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten(),
                             keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(n_classes, activation="softmax")])


def numpy_logits(model, x):
    """The dense model's pre-softmax output, computed without Keras."""
    w1, b1, w2, b2 = [np.asarray(w, np.float64) for w in model.get_weights()]
    h = np.maximum(np.asarray(x, np.float64).reshape(len(x), -1) @ w1 + b1, 0.0)
    return h @ w2 + b2


def linear_model(weights, bias):
    """logits = x·W + b (softmax on top), weights fixed."""
    d, c = weights.shape
    model = keras.Sequential([keras.Input((d,)), keras.layers.Dense(c, activation="softmax")])
    model.set_weights([weights.astype("float32"), bias.astype("float32")])
    return model


# -- naive references ----------------------------------------------------------------------------------------
def naive_order(relevance_sample, patch_size=None):
    """Units sorted most relevant first (|R| normalised by its max, summed per unit), and each value's unit."""
    r = np.abs(np.asarray(relevance_sample, np.float64))
    r = r / r.max()
    shape = r.shape
    unit_of = {}
    if patch_size is None:
        for idx in np.ndindex(shape):
            unit_of[idx] = idx
    else:
        for idx in np.ndindex(shape):
            unit_of[idx] = (idx[0] // patch_size, idx[1] // patch_size)
    score = {}
    for idx, u in unit_of.items():
        score[u] = score.get(u, 0.0) + r[idx]
    units = sorted(score, key=lambda u: -score[u])
    return units, unit_of


def naive_pixel_flipping(model, x, y, relevance, steps, max_fraction, patch_size=None, fill="sample_mean"):
    n = len(x)
    curves = {"morf": np.zeros((n, steps + 1)), "lerf": np.zeros((n, steps + 1))}
    correct = {"morf": np.zeros((n, steps + 1)), "lerf": np.zeros((n, steps + 1))}
    for i in range(n):
        morf, unit_of = naive_order(relevance[i], patch_size)
        fill_value = x[i].mean() if fill == "sample_mean" else 0.0
        for name, units in (("morf", morf), ("lerf", morf[::-1])):
            for s in range(steps + 1):
                k = round(s / steps * max_fraction * len(units))
                gone = set(units[:k])
                xp = np.array(x[i], np.float64)
                for idx, u in unit_of.items():
                    if u in gone:
                        xp[idx] = fill_value
                z = numpy_logits(model, xp[None])[0]
                curves[name][i, s] = z[y[i]]
                correct[name][i, s] = float(np.argmax(z) == y[i])
    out = {}
    for name in ("morf", "lerf"):
        out[f"logit_{name}"] = curves[name]
        out[f"accuracy_{name}"] = correct[name].mean(axis=0)
        drops = [[curves[name][i, 0] - curves[name][i, s] for s in range(steps + 1)] for i in range(n)]
        out[f"aopc_{name}"] = float(np.mean(drops))
    return out


# -- registration and the command line --------------------------------------------------------------------
def test_list_metrics_shows_the_four_families_with_needs():
    proc = run_cli("list", "metrics", "--json")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)["metrics"]
    assert {"pixel_flipping", "road", "roar", "kar", "model_randomisation"} <= set(metrics)
    assert metrics["roar"]["needs"] == ["maps", "retraining"]
    assert metrics["model_randomisation"]["needs"] == ["model", "method"]
    assert metrics["pixel_flipping"]["aliases"] == ["region_perturbation"]
    steps = {p["name"]: p for p in metrics["pixel_flipping"]["params"]}["steps"]
    assert steps["default"] == 20 and steps["range"] == ">= 1"


# -- removal units ------------------------------------------------------------------------------------------
def test_units_are_values_or_patches_with_all_channels():
    from relmask.scoring.metrics import unit_index

    units, n = unit_index((5,), 2)  # 1-D samples: patches along the one axis, the last one shorter
    assert n == 3 and units.tolist() == [0, 0, 1, 1, 2]
    units, n = unit_index((3, 4, 2), 2)  # (H, W, C): 2x2 patches, both channels in the same patch
    assert n == 4 and units.reshape(3, 4, 2)[:, :, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3]]
    assert (units.reshape(3, 4, 2)[..., 0] == units.reshape(3, 4, 2)[..., 1]).all()
    units, n = unit_index((3, 4, 2), None)
    assert n == 24 and units.tolist() == list(range(24))


# -- pixel flipping ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("patch_size, channels", [(None, 1), (2, 2)])
def test_pixel_flipping_matches_the_naive_loops(patch_size, channels):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4, 4, channels)).astype("float32")
    y = rng.integers(0, 3, 5)
    relevance = rng.normal(size=x.shape).astype("float32")  # continuous: no ties
    model = dense_model(x.shape[1:])
    out = relmask.evaluate(model, x, y, relevance, "pixel_flipping", steps=4, max_fraction=0.75,
                           patch_size=patch_size, fill="sample_mean", batch_size=7)
    ref = naive_pixel_flipping(model, x, y, relevance, 4, 0.75, patch_size)
    for key in ("logit_morf", "logit_lerf", "accuracy_morf", "accuracy_lerf", "aopc_morf", "aopc_lerf"):
        np.testing.assert_allclose(out[key], ref[key], atol=1e-4, err_msg=key)
    assert out["aopc_gap"] == pytest.approx(ref["aopc_morf"] - ref["aopc_lerf"], abs=1e-4)
    n_units = 4 if patch_size else 16 * channels  # 2x2 patches tile the 4x4 grid: 4 units
    np.testing.assert_array_equal(out["removed_units"], removal_counts(n_units, 4, 0.75))


def test_pixel_flipping_one_pixel_model_known_answer():
    """The class logit reads one pixel: MoRF falls at step 1, LeRF stays flat until that pixel goes last."""
    d, p = 9, 4
    w = np.zeros((d, 2))
    w[p, 0] = 3.0
    model = linear_model(w, np.array([0.0, 1.0]))
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=(6, d)).astype("float32")
    y = np.zeros(6, int)
    relevance = np.zeros_like(x)
    relevance[:, p] = 1.0
    out = relmask.evaluate(model, x, y, relevance, "pixel_flipping", steps=d, fill="zero")
    start = 3.0 * x[:, p].astype(np.float64)
    np.testing.assert_allclose(out["logit_morf"][:, 0], start, rtol=1e-6)
    np.testing.assert_allclose(out["logit_morf"][:, 1:], 0.0, atol=1e-6)
    np.testing.assert_allclose(out["logit_lerf"][:, :-1], np.repeat(start[:, None], d, axis=1), rtol=1e-6)
    np.testing.assert_allclose(out["logit_lerf"][:, -1], 0.0, atol=1e-6)
    np.testing.assert_array_equal(out["accuracy_morf"], [1.0] + [0.0] * d)
    np.testing.assert_array_equal(out["accuracy_lerf"], [1.0] * d + [0.0])
    assert out["aopc_gap"] > 0 and out["accuracy_gap"] == pytest.approx((d - 1) / (d + 1))


def test_pixel_flipping_linear_model_exact_gradient():
    """For logit = w·x + b the gradient map is exactly w, and with zero fill removing value i lowers the logit by
    w_i x_i: ranking by gradient × input (signed) gives the steepest possible MoRF curve."""
    rng = np.random.default_rng(3)
    d = 12
    w = rng.normal(size=(d, 2))
    model = linear_model(w, np.array([0.5, -0.5]))
    x = rng.uniform(0.2, 1.0, size=(4, d)).astype("float32")
    y = np.zeros(4, int)
    grad = relmask.explain(model, x, "gradient", targets=y)
    np.testing.assert_allclose(grad, np.repeat(w[None, :, 0], 4, axis=0), rtol=1e-5)
    contrib = (grad * x).astype(np.float64)
    out = relmask.evaluate(model, x, y, grad * x, "pixel_flipping", steps=d, normalize="signed", fill="zero")
    x64, w64 = x.astype(np.float64), w[:, 0]
    for i in range(len(x)):
        order = np.argsort(-contrib[i])
        expected = [0.5 + np.sum(np.delete(x64[i] * w64, order[:k])) for k in range(d + 1)]
        np.testing.assert_allclose(out["logit_morf"][i], expected, rtol=1e-5, atol=1e-5)
    shuffled = relmask.evaluate(model, x, y, relmask.pipeline.masking.shuffle_relevance(contrib), "pixel_flipping",
                                steps=d, normalize="signed", fill="zero")
    assert (out["logit_morf"] <= shuffled["logit_morf"] + 1e-5).all()
    assert (out["logit_lerf"] >= shuffled["logit_lerf"] - 1e-5).all()


def test_pixel_flipping_is_independent_of_batching_and_a_method_name_equals_its_maps():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 3, 3, 1)).astype("float32")
    y = rng.integers(0, 3, 6)
    model = dense_model(x.shape[1:])
    maps = relmask.explain(model, x, "gradient", targets=y)
    a = relmask.evaluate(model, x, y, maps, "pixel_flipping", steps=3, batch_size=5)
    b = relmask.evaluate(model, x, y, "gradient", "pixel_flipping", steps=3, batch_size=256)
    np.testing.assert_allclose(a["logit_morf"], b["logit_morf"], atol=1e-6)
    np.testing.assert_allclose(a["logit_lerf"], b["logit_lerf"], atol=1e-6)


def test_a_map_without_information_has_no_gap():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4, 3, 3, 1)).astype("float32")
    model = dense_model(x.shape[1:])
    out = relmask.evaluate(model, x, np.zeros(4, int), np.ones_like(x), "pixel_flipping", steps=3)
    np.testing.assert_array_equal(out["logit_morf"], out["logit_lerf"])
    assert out["aopc_gap"] == 0.0


# -- ROAD ---------------------------------------------------------------------------------------------------
def naive_impute(image, removed):
    """ROAD's linear system written out densely, one equation per removed pixel, solved with numpy."""
    h, w = removed.shape
    unknown = [(i, j) for i in range(h) for j in range(w) if removed[i, j]]
    pos = {p: k for k, p in enumerate(unknown)}
    a = np.zeros((len(unknown), len(unknown)))
    b = np.zeros((len(unknown), image.shape[2]))
    for (i, j), k in pos.items():
        for di, dj, weight in NEIGHBOURS:
            ni, nj = i + di, j + dj
            if not (0 <= ni < h and 0 <= nj < w):
                continue
            a[k, k] += weight
            if (ni, nj) in pos:
                a[k, pos[(ni, nj)]] -= weight
            else:
                b[k] += weight * image[ni, nj]
    sol = np.linalg.solve(a, b)
    out = np.array(image, np.float64)
    for (i, j), k in pos.items():
        out[i, j] = sol[k]
    return out


def test_linear_imputation_matches_the_dense_system_and_recovers_a_ramp():
    rng = np.random.default_rng(5)
    image = rng.normal(size=(6, 5, 2))
    removed = rng.random((6, 5)) < 0.4
    np.testing.assert_allclose(linear_impute(image, removed), naive_impute(image, removed), atol=1e-10)
    # a linear ramp is the weighted mean of any full (symmetric) neighbourhood: an inner hole is filled exactly
    ii, jj = np.meshgrid(np.arange(6.0), np.arange(6.0), indexing="ij")
    ramp = (0.3 * ii - 0.7 * jj + 2.0)[..., None]
    hole = np.zeros((6, 6), bool)
    hole[2:4, 2:4] = True
    np.testing.assert_allclose(linear_impute(ramp, hole), ramp, atol=1e-10)
    # 1-D samples are one row: only the left and right neighbours exist, so a gap is interpolated linearly
    from relmask_plugins.metrics import road_impute

    row = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], np.float32)
    gap = np.array([False, True, True, True, False, False])
    np.testing.assert_allclose(road_impute(row, gap, 0.0, np.random.default_rng(0)), row, atol=1e-6)


def test_road_matches_the_naive_loops_without_noise():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 4, 4, 1)).astype("float32")
    y = rng.integers(0, 3, 3)
    relevance = rng.normal(size=x.shape).astype("float32")
    model = dense_model(x.shape[1:])
    steps, max_fraction = 3, 0.75
    out = relmask.evaluate(model, x, y, relevance, "road", steps=steps, max_fraction=max_fraction, noise=0.0)
    for i in range(len(x)):
        morf, _unit_of = naive_order(relevance[i])
        for name, units in (("morf", morf), ("lerf", morf[::-1])):
            for s in range(steps + 1):
                k = round(s / steps * max_fraction * len(units))
                removed = np.zeros((4, 4), bool)
                for u in units[:k]:
                    removed[u[0], u[1]] = True
                xp = naive_impute(x[i].astype(np.float64), removed) if k else x[i]
                z = numpy_logits(model, xp[None])[0]
                assert out[f"logit_{name}"][i, s] == pytest.approx(z[y[i]], abs=1e-4), (name, i, s)


def test_road_noise_is_seeded_and_scaled():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 5, 5, 1)).astype("float32")
    y = rng.integers(0, 3, 4)
    relevance = rng.normal(size=x.shape).astype("float32")
    model = dense_model(x.shape[1:])
    kw = dict(steps=2, noise=0.5)
    a = relmask.evaluate(model, x, y, relevance, "road", seed=1, batch_size=3, **kw)
    b = relmask.evaluate(model, x, y, relevance, "road", seed=1, **kw)
    c = relmask.evaluate(model, x, y, relevance, "road", seed=2, **kw)
    quiet = relmask.evaluate(model, x, y, relevance, "road", steps=2, noise=0.0)
    np.testing.assert_allclose(a["logit_morf"], b["logit_morf"], atol=1e-6)  # batching does not move the noise
    assert not np.allclose(b["logit_morf"][:, 1:], c["logit_morf"][:, 1:])
    assert not np.allclose(b["logit_morf"][:, 1:], quiet["logit_morf"][:, 1:])
    np.testing.assert_allclose(b["logit_morf"][:, 0], quiet["logit_morf"][:, 0])  # step 0 is never perturbed


# -- ROAR / KAR -----------------------------------------------------------------------------------------------
TINY = ModelSpec(name="tiny_mlp", builder=lambda shape, n, units=4: dense_model(shape, n, units),
                 description="test MLP")


def naive_masked(x, relevance, fraction, keep):
    out = np.array(x, np.float32)
    for i in range(len(x)):
        r = np.abs(relevance[i]).ravel()
        k = round(fraction * r.size)
        top = set(np.argsort(-r)[:k].tolist())
        flat = out[i].reshape(-1)
        for j in range(r.size):
            if (j in top) != keep:  # negative removes the top k, keep removes the rest
                flat[j] = 0.0
    return out


@pytest.mark.parametrize("name", ["roar", pytest.param("kar", marks=pytest.mark.slow)])
def test_remove_and_retrain_matches_the_naive_loops(name):
    """Ten tiny trainings per case (baseline, two shares, their random controls; metric and naive)."""
    from relmask.pipeline.masking import shuffle_relevance
    from relmask.pipeline.training import build_model, fit

    rng = np.random.default_rng(8)
    x = rng.normal(size=(60, 3, 3, 1)).astype("float32")
    y = (x[:, 1, 1, 0] > 0).astype(int)
    xt = rng.normal(size=(30, 3, 3, 1)).astype("float32")
    yt = (xt[:, 1, 1, 0] > 0).astype(int)
    r, rt = rng.normal(size=x.shape).astype("float32"), rng.normal(size=xt.shape).astype("float32")
    fractions = [0.2, 0.6]
    common = dict(epochs=2, batch_size=16, seed=0, learning_rate=0.01)
    out = relmask.evaluate(None, x, y, r, name, x_test=xt, y_test=yt, test_relevance=rt, fractions=fractions,
                           architecture=TINY, epochs=2, batch_size=16, learning_rate=0.01, seeds=[0])

    def naive_accuracy(xtr, xte):
        model = build_model(TINY, xtr.shape[1:], 2, seed=0)
        fit(model, xtr, y, **common)
        pred = model.predict(xte, verbose=0).argmax(axis=1)
        return float(np.mean(pred == yt))

    keep = name == "kar"
    assert out["masker"] == ("keep" if keep else "negative")
    assert out["baseline_accuracy"][0] == pytest.approx(naive_accuracy(x, xt))
    for i, f in enumerate(fractions):
        share = 1 - f if keep else f
        got = naive_accuracy(naive_masked(x, r, share, keep), naive_masked(xt, rt, share, keep))
        assert out["accuracy"][i, 0] == pytest.approx(got), f
        rs, rts = shuffle_relevance(r, seed=0), shuffle_relevance(rt, seed=1)
        got = naive_accuracy(naive_masked(x, rs, share, keep), naive_masked(xt, rts, share, keep))
        assert out["accuracy_random"][i, 0] == pytest.approx(got), f
    sign = 1 if keep else -1
    assert out["score"] == pytest.approx(sign * (out["accuracy"].mean() - out["accuracy_random"].mean()))
    np.testing.assert_allclose(out["accuracy_drop"], out["baseline_accuracy"][0] - out["accuracy"][:, 0])


def test_remove_and_retrain_with_a_model_retrains_on_its_classes():
    """Given the explained model, ROAR retrains with as many classes as it has outputs (here more than the labels
    show): the retrained models are built and scored without error."""
    from relmask.pipeline.training import build_model

    rng = np.random.default_rng(3)
    x, xt = rng.normal(size=(24, 3, 3, 1)).astype("float32"), rng.normal(size=(12, 3, 3, 1)).astype("float32")
    y, yt = (x[:, 1, 1, 0] > 0).astype(int), (xt[:, 1, 1, 0] > 0).astype(int)
    model = build_model(TINY, x.shape[1:], 3, seed=0)
    out = relmask.evaluate(model, x, y, x, "roar", x_test=xt, y_test=yt, test_relevance=xt, fractions=[0.5],
                           architecture=TINY, epochs=1, batch_size=12, seeds=[0])
    assert out["accuracy"].shape == (1, 1) and 0.0 <= out["accuracy"][0, 0] <= 1.0


def test_remove_and_retrain_checks_its_inputs():
    x = np.zeros((4, 2, 2, 1), np.float32)
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ParameterError, match="needs x_test and y_test"):
        relmask.evaluate(None, x, y, x, "roar", architecture=TINY)
    with pytest.raises(ParameterError, match="needs architecture"):
        relmask.evaluate(None, x, y, x, "roar", x_test=x, y_test=y, test_relevance=x)
    with pytest.raises(ParameterError, match="fractions must be"):
        relmask.evaluate(None, x, y, x, "kar", x_test=x, y_test=y, test_relevance=x, architecture=TINY,
                         fractions=[1.0])


# -- model randomisation ----------------------------------------------------------------------------------
def naive_ssim(a, b, sigma=1.5):
    """Gaussian-window SSIM of two 2-D maps, window sums written out per pixel (reflected borders)."""
    radius = int(3.5 * sigma + 0.5)
    g = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    win = np.outer(g, g) / np.outer(g, g).sum()
    pa, pb = np.pad(a, radius, mode="symmetric"), np.pad(b, radius, mode="symmetric")
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    vals = []
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            wa = pa[i:i + 2 * radius + 1, j:j + 2 * radius + 1]
            wb = pb[i:i + 2 * radius + 1, j:j + 2 * radius + 1]
            ma, mb = (win * wa).sum(), (win * wb).sum()
            va, vb = (win * wa * wa).sum() - ma ** 2, (win * wb * wb).sum() - mb ** 2
            cov = (win * wa * wb).sum() - ma * mb
            vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_similarity_measures_match_the_naive_ones():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(9)
    a, b = rng.random((3, 9, 9)), rng.random((3, 9, 9))
    b[1] = a[1] ** 2  # monotone: rank correlation 1
    rho = spearman_rows(a, b)
    for i in range(3):
        assert rho[i] == pytest.approx(spearmanr(a[i].ravel(), b[i].ravel()).statistic)
    assert rho[1] == pytest.approx(1.0)
    s = ssim_rows(a, b)
    for i in range(3):
        assert s[i] == pytest.approx(naive_ssim(a[i], b[i]), abs=1e-10)
    assert ssim_rows(a, a) == pytest.approx(np.ones(3))
    assert np.isnan(spearman_rows(np.ones((1, 4)), a[:1, 0, :4]))[0]  # a constant map has no ranks


def test_model_randomisation_identity_when_reinitialising_changes_nothing():
    """Layers with constant initialisers, untrained: re-initialising is the identity, maps stay the same."""
    const = keras.initializers.Constant
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(5, activation="relu", kernel_initializer=const(0.1),
                                                 bias_initializer=const(0.2)),
                              keras.layers.Dense(2, activation="softmax", kernel_initializer=const(0.3))])
    # positive inputs keep every ReLU open: no sample gets an all-zero (rank-less) map
    x = np.random.default_rng(10).uniform(0.1, 1.0, size=(4, 4, 4, 1)).astype("float32")
    out = relmask.evaluate(model, x, np.zeros(4, int), "gradient_x_input", "model_randomisation")
    assert out["layer_names"] == [model.layers[2].name, model.layers[1].name]
    np.testing.assert_allclose(out["spearman"], 1.0)
    np.testing.assert_allclose(out["ssim"], 1.0)


def test_model_randomisation_cascade_matches_a_manual_reinitialisation():
    from relmask.pipeline.training import set_seed

    rng = np.random.default_rng(11)
    x = rng.normal(size=(5, 4, 4, 1)).astype("float32")
    y = rng.integers(0, 3, 5)
    model = dense_model(x.shape[1:], seed=3)
    out = relmask.evaluate(model, x, y, "gradient", "model_randomisation", seed=7, absolute=True)
    assert out["layer_names"] == [model.layers[2].name, model.layers[1].name]
    base = np.abs(relmask.explain(model, x, "gradient", targets=y))
    set_seed(7)
    fresh = keras.models.clone_model(model)
    manual = keras.models.clone_model(model)
    manual.set_weights(model.get_weights())
    for step, layer in enumerate((2, 1)):
        manual.layers[layer].set_weights(fresh.layers[layer].get_weights())
        maps = np.abs(relmask.explain(manual, x, "gradient", targets=y))
        for i in range(len(x)):
            assert out["spearman"][step, i] == pytest.approx(
                np.corrcoef(np.argsort(np.argsort(base[i].ravel())), np.argsort(np.argsort(maps[i].ravel())))[0, 1],
                abs=1e-6)
            bi, mi = base[i, ..., 0] / base[i].max(), maps[i, ..., 0] / maps[i].max()
            assert out["ssim"][step, i] == pytest.approx(naive_ssim(bi, mi), abs=1e-6)
    assert (out["spearman"] < 1.0).all()
    assert out["spearman_area"] == pytest.approx(out["spearman"].mean())


def test_model_randomisation_layers_parameter():
    x = np.random.default_rng(12).normal(size=(3, 3, 3, 1)).astype("float32")
    model = dense_model(x.shape[1:])
    out = relmask.evaluate(model, x, np.zeros(3, int), "gradient", "model_randomisation", layers=1)
    assert out["spearman"].shape == (1, 3) and out["layer_names"] == [model.layers[2].name]
    with pytest.raises(ParameterError, match=r"layers must lie in \[0, 2\]"):
        relmask.evaluate(model, x, np.zeros(3, int), "gradient", "model_randomisation", layers=3)


# -- evaluate()'s checks ----------------------------------------------------------------------------------
def test_evaluate_rejects_bad_input_with_named_errors():
    x = np.random.default_rng(13).normal(size=(3, 2, 2, 1)).astype("float32")
    model = dense_model(x.shape[1:])
    y = np.zeros(3, int)
    with pytest.raises(ParameterError, match="must be a relevance method name"):
        relmask.evaluate(model, x, y, x, "model_randomisation")
    with pytest.raises(ParameterError, match="needs the trained model"):
        relmask.evaluate(None, x, y, x, "pixel_flipping")
    with pytest.raises(DataError, match="y must be 3 integer labels"):
        relmask.evaluate(model, x, y[:2], x, "pixel_flipping")
    with pytest.raises(ParameterError, match="did you mean 'steps'"):
        relmask.evaluate(model, x, y, x, "pixel_flipping", step=3)
    with pytest.raises(ParameterError, match="patch_size"):
        relmask.evaluate(model, x, y, x, "pixel_flipping", patch_size=0)
    with pytest.raises(ParameterError, match="max_fraction"):
        relmask.evaluate(model, x, y, x, "road", max_fraction=0.0)
    with pytest.raises(DataError, match="relevance shape"):
        relmask.evaluate(model, x, y, x[:, :1], "pixel_flipping")
    with pytest.raises(DataError, match="label 5 is out of range: the model has 3 outputs"):
        relmask.evaluate(model, x, np.array([0, 5, 1]), x, "pixel_flipping")
    with pytest.raises(relmask.UnknownNameError, match="did you mean 'road'"):
        relmask.evaluate(model, x, y, x, "raod")


@pytest.mark.slow
def test_benchmark_script_runs_and_pairs_metric_with_floor(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = tmp_path / "pf.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "metrics.py"), "--n", "6", "--steps", "2",
                           "--rounds", "2", "--batch-size", "4", "--model", "fer_small_cnn", "--json", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["inputs"] == 6 * (2 * 2 + 1) and len(result["rounds"]) == 2
    assert result["ratio"] > 0 and result["cpu_ratio"] > 0
    assert "median ratio metric / floor" in proc.stdout
