"""LRP rules against a naive NumPy re-implementation (explicit per-layer relevance messages)."""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers as L  # noqa: E402

import relmask  # noqa: E402
from relmask.errors import UnsupportedLayerError  # noqa: E402

EPS = 1e-6


def _dense_model():
    """Dense → BN (folded) → ReLU → Dense(relu) → Dense(softmax), with non-trivial biases and BN statistics."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((7,)), L.Dense(6, name="d1"), L.BatchNormalization(name="bn"), L.ReLU(),
                              L.Dense(5, activation="relu", name="d2"), L.Dense(3, activation="softmax", name="d3")])
    rng = np.random.default_rng(3)
    for w in model.weights:
        if "bias" in w.path or "beta" in w.path or "moving_mean" in w.path:
            w.assign(rng.normal(0, 0.2, w.shape).astype("float32"))
        elif "moving_variance" in w.path or "gamma" in w.path:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
    return model


def _params(model):
    d1, bn, d2, d3 = (model.get_layer(n) for n in ("d1", "bn", "d2", "d3"))
    g = lambda v: np.asarray(v, np.float64)  # noqa: E731
    scale = g(bn.gamma) / np.sqrt(g(bn.moving_variance) + bn.epsilon)
    w1 = g(d1.kernel) * scale
    b1 = (g(d1.bias) - g(bn.moving_mean)) * scale + g(bn.beta)
    return [(w1, b1), (g(d2.kernel), g(d2.bias)), (g(d3.kernel), g(d3.bias))]


def _stab(d):
    return d + EPS * np.where(d >= 0, 1.0, -1.0)


def _messages(rule, a, w, b, r, low=0.0, high=1.0, alpha=2.0, beta=1.0):
    """R_in[j] = Σ_k m[j, k] with m[j, k] = contribution(j → k) / denominator(k) · R[k]."""
    wp, wn = np.maximum(w, 0), np.minimum(w, 0)
    ap, an = np.maximum(a, 0), np.minimum(a, 0)
    if rule == "epsilon":
        c = a[:, None] * w
        return (c / _stab(c.sum(0) + b) * r).sum(1)
    if rule in ("z_plus", "alpha_beta"):
        cp = ap[:, None] * wp + an[:, None] * wn
        mp = cp / _stab(cp.sum(0) + np.maximum(b, 0)) * r
        if rule == "z_plus":
            return mp.sum(1)
        cn = an[:, None] * wp + ap[:, None] * wn
        mn = cn / _stab(cn.sum(0) + np.minimum(b, 0)) * r
        return (alpha * mp - beta * mn).sum(1)
    if rule in ("flat", "w_square"):
        c = np.ones_like(w) if rule == "flat" else w * w
        return (c / _stab(c.sum(0)) * r).sum(1)
    if rule == "zb":
        c = a[:, None] * w - low * wp - high * wn
        return (c / _stab(c.sum(0)) * r).sum(1)
    raise AssertionError(rule)


def naive_lrp(model, x, target, rules, **bounds):
    """rules: one rule name per linear layer (input side first); ``bounds``: low/high of the zB rule."""
    params = _params(model)
    acts, pre = [x.astype(np.float64)], []
    for i, (w, b) in enumerate(params):
        z = acts[-1] @ w + b
        pre.append(z)
        acts.append(np.maximum(z, 0) if i < len(params) - 1 else z)
    r = np.zeros_like(pre[-1])
    r[target] = pre[-1][target]
    for i in reversed(range(len(params))):
        w, b = params[i]
        if i < len(params) - 1:
            r = r * (pre[i] > 0)  # ReLU: relevance stays where the pre-activation is positive
        r = _messages(rules[i], acts[i], w, b, r, **bounds)
    return r


CASES = [("lrp.epsilon", {}, ["epsilon"] * 3), ("lrp.z_plus", {}, ["z_plus"] * 3),
         ("lrp.alpha_beta", {}, ["alpha_beta"] * 3), ("lrp.flat", {}, ["flat", "epsilon", "epsilon"]),
         ("lrp.w_square", {}, ["w_square", "epsilon", "epsilon"]),
         ("lrp.zb", {"low": -3.0, "high": 3.0}, ["zb", "epsilon", "epsilon"]),
         ("lrp.composite", {"preset": "epsilon_plus_flat", "rules": {"d2": "z_plus"}},
          ["flat", "z_plus", "epsilon"])]


@pytest.mark.parametrize("method,params,rules", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
def test_rule_matches_naive_numpy(method, params, rules):
    model = _dense_model()
    x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    targets = np.array([0, 1, 2, 1, 0])
    got = relmask.explain(model, x, method, targets=targets, **params)
    bounds = {k: v for k, v in params.items() if k in ("low", "high")}
    want = np.stack([naive_lrp(model, x[i], targets[i], rules, **bounds) for i in range(len(x))])
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


def _conv_model(bias=True):
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((10, 10, 2)), L.Conv2D(4, 3, padding="same", use_bias=bias),
                             L.BatchNormalization(), L.ReLU(), L.AveragePooling2D(2),
                             L.DepthwiseConv2D(3, padding="same", use_bias=bias), L.ReLU(),
                             L.SeparableConv2D(5, 3, activation="relu", use_bias=bias), L.GlobalAveragePooling2D(),
                             L.Dense(3, activation="softmax", use_bias=bias)])


def test_lrp0_equals_gradient_times_input_on_conv_net():
    model = _conv_model()
    x = np.random.default_rng(1).normal(size=(4, 10, 10, 2)).astype(np.float32)
    gxi = relmask.explain(model, x, "gradient_x_input")
    lrp0 = relmask.explain(model, x, "lrp.epsilon", epsilon=1e-12)
    assert np.abs(gxi - lrp0).max() <= 1e-5 * np.abs(gxi).max()


def test_residual_add_and_conv1d_conserve():
    keras.utils.set_random_seed(2)
    inp = keras.Input((16, 3))
    h = L.Conv1D(4, 3, padding="same", activation="relu", use_bias=False)(inp)
    h2 = L.Conv1D(4, 3, padding="same", activation="relu", use_bias=False)(h)
    h = L.Add()([h, h2])
    h = L.MaxPooling1D(2)(h)
    out = L.Dense(2, activation="softmax", use_bias=False)(L.Flatten()(h))
    model = keras.Model(inp, out)
    x = np.random.default_rng(2).normal(size=(3, 16, 3)).astype(np.float32)
    z = np.asarray(relmask.relevance.graph.logits(model, x))
    for method in ("lrp.epsilon", "lrp.z_plus"):
        r = relmask.explain(model, x, method, targets=0)
        assert np.allclose(r.reshape(3, -1).sum(1), z[:, 0], rtol=1e-4, atol=1e-6)


def test_unsupported_layer_names_layer_and_supported_list():
    model = keras.Sequential([keras.Input((4, 3)), L.LSTM(2, name="my_lstm"), L.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match="my_lstm.*LSTM.*supported layers: .*Conv2D"):
        relmask.explain(model, np.zeros((1, 4, 3), np.float32), "lrp.epsilon")
    # gradient methods work on any layer
    assert relmask.explain(model, np.ones((1, 4, 3), np.float32), "gradient").shape == (1, 4, 3)
