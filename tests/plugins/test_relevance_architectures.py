"""LRP and Grad-CAM on real architectures: keras.applications MobileNetV2, a FER2013-style mini-Xception and
the registered whale / FER models (shape, finiteness, LRP-0 = gradient × input, conservation)."""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers as L  # noqa: E402

import relmask  # noqa: E402
from relmask.pipeline.training import build_model  # noqa: E402
from relmask.relevance.graph import logits  # noqa: E402

COMPOSITE = "lrp.epsilon_plus_flat"


def mini_xception(input_shape=(32, 32, 1), n_classes=7, bias=True, modules=(8, 16)):
    """The FER2013 mini-Xception pattern (Arriaga et al.): conv stem, then residual modules of two
    SeparableConv2D + BN with max pooling, added to a strided 1×1 Conv2D + BN shortcut; conv head, GAP, softmax."""
    keras.utils.set_random_seed(0)
    inp = keras.Input(input_shape)
    h = inp
    for _ in range(2):
        h = L.Conv2D(8, 3, use_bias=bias)(h)
        h = L.BatchNormalization()(h)
        h = L.ReLU()(h)
    for filters in modules:
        shortcut = L.BatchNormalization()(L.Conv2D(filters, 1, strides=2, padding="same", use_bias=bias)(h))
        h = L.SeparableConv2D(filters, 3, padding="same", use_bias=bias)(h)
        h = L.ReLU()(L.BatchNormalization()(h))
        h = L.SeparableConv2D(filters, 3, padding="same", use_bias=bias)(h)
        h = L.BatchNormalization()(h)
        h = L.MaxPooling2D(3, strides=2, padding="same")(h)
        h = L.Add()([h, shortcut])
    h = L.Conv2D(n_classes, 3, padding="same", use_bias=bias)(h)
    h = L.GlobalAveragePooling2D()(h)
    return keras.Model(inp, L.Activation("softmax")(h), name="mini_xception")


def _randomise_bn(model, seed=0, shift=0.1):
    """Non-trivial BN statistics (fresh ones are the identity); ``shift=0``: no BN bias (bias-free net)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if "moving_variance" in w.path or "gamma" in w.path:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
        elif "moving_mean" in w.path or "beta" in w.path:
            w.assign(rng.normal(0, shift, w.shape).astype("float32") if shift else np.zeros(w.shape, "float32"))


def _inputs(shape, n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, *shape)).astype(np.float32)


def _check(r, x):
    assert r.shape == x.shape and r.dtype == np.float32
    assert np.isfinite(r).all() and np.abs(r).max() > 0


def _assert_lrp0_is_gradient_x_input(model, x):
    gxi = relmask.explain(model, x, "gradient_x_input", progress=False)
    lrp0 = relmask.explain(model, x, "lrp.epsilon", epsilon=1e-12, progress=False)
    err = np.abs(gxi - lrp0).max() / np.abs(gxi).max()
    assert err <= 1e-4, f"LRP-0 differs from gradient × input by {err:.2g} of max |R|"


def _assert_conserves(model, x, method="lrp.epsilon", rtol=1e-3):
    z = np.asarray(logits(model, x))
    t = z.argmax(-1)
    sums = relmask.explain(model, x, method, targets=t, progress=False).reshape(len(x), -1).sum(1)
    zt = z[np.arange(len(x)), t]
    np.testing.assert_allclose(sums, zt, rtol=rtol, atol=rtol * np.abs(zt).max())


def test_mini_xception_lrp_composite_and_gradcam():
    model = mini_xception()
    _randomise_bn(model)
    x = _inputs((32, 32, 1))
    for method in (COMPOSITE, "gradcam"):
        _check(relmask.explain(model, x, method, progress=False), x)
    _assert_lrp0_is_gradient_x_input(model, x)


def test_mini_xception_bias_free_conserves():
    """No biases, BN without shift: the ε rule (small ε) conserves the logit through Add and max pooling.

    (z⁺ does not here: a shortcut 1×1 conv output has no ReLU, and where all its positive-weight inputs are 0
    the z⁺ denominator is 0 while the output is not, so its share of the Add's relevance is dropped.)
    """
    model = mini_xception(bias=False)
    _randomise_bn(model, shift=0.0)
    _assert_conserves(model, _inputs((32, 32, 1), seed=1), "lrp.epsilon")


@pytest.fixture(scope="module")
def mobilenet():
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=7)
    _randomise_bn(model)
    return model


def test_mobilenetv2_lrp_composite_and_gradcam(mobilenet):
    x = _inputs((32, 32, 3))
    for method in (COMPOSITE, "gradcam"):
        _check(relmask.explain(mobilenet, x, method, progress=False), x)


@pytest.mark.slow
def test_mobilenetv2_lrp0_is_gradient_x_input(mobilenet):
    # inputs scaled down so that no ReLU6 saturates (LRP passes relevance where its gradient is zero)
    _assert_lrp0_is_gradient_x_input(mobilenet, 0.1 * _inputs((32, 32, 3), seed=2))


@pytest.mark.parametrize("name,shape,params", [("whale_cnn", (33, 29, 1), {}), ("whale_cnn_bn", (33, 29, 1), {}),
                                               ("fer_mobilenetv2", (24, 24, 1), {"resize": 32})])
def test_registered_models(name, shape, params):
    model = build_model(name, shape, 2 if name.startswith("whale") else 7, seed=0, **params)
    _randomise_bn(model)  # fresh BN statistics leave an untrained MobileNetV2's logits ~1e-12 flat
    x = _inputs(shape)
    for method in (COMPOSITE, "gradcam"):
        _check(relmask.explain(model, x, method, progress=False), x)
    if name == "whale_cnn":
        _assert_lrp0_is_gradient_x_input(model, x)
