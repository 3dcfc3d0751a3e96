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
    return _nontrivial_statistics(model, seed=3)


def _nontrivial_statistics(model, seed, bias_mean=0.0, bias_sd=0.2):
    """Seeded non-zero biases and BN statistics, so that every code path matters."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if "bias" in w.path or "beta" in w.path or "moving_mean" in w.path:
            w.assign(rng.normal(bias_mean, bias_sd, w.shape).astype("float32"))
        elif "moving_variance" in w.path or "gamma" in w.path:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
    return model


def _g(v):
    return np.asarray(v, np.float64)


def _fold(layer, bn):
    """(kernel, bias) of ``layer`` with the BatchNormalization after it folded in, in float64."""
    scale = _g(bn.gamma) / np.sqrt(_g(bn.moving_variance) + bn.epsilon)
    return _g(layer.kernel) * scale, (_g(layer.bias) - _g(bn.moving_mean)) * scale + _g(bn.beta)


def _params(model):
    d1, bn, d2, d3 = (model.get_layer(n) for n in ("d1", "bn", "d2", "d3"))
    return [_fold(d1, bn), (_g(d2.kernel), _g(d2.bias)), (_g(d3.kernel), _g(d3.bias))]


def _stab(d):
    return d + EPS * np.where(d >= 0, 1.0, -1.0)


def _messages(rule, a, w, b, r, low=0.0, high=1.0, alpha=2.0, beta=1.0, connected=None):
    """R_in[j] = Σ_k m[j, k] with m[j, k] = contribution(j → k) / denominator(k) · R[k].

    ``connected``: which inputs each output sees (a convolution written as a matrix); only flat needs it.
    """
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
        c = (np.ones_like(w) if connected is None else connected.astype(w.dtype)) if rule == "flat" else w * w
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


#: (method, parameters, rule per linear layer) that hold for any three-linear-layer model
RULE_CASES = [("lrp.epsilon", {}, ["epsilon"] * 3), ("lrp.z_plus", {}, ["z_plus"] * 3),
              ("lrp.alpha_beta", {}, ["alpha_beta"] * 3), ("lrp.flat", {}, ["flat", "epsilon", "epsilon"]),
              ("lrp.w_square", {}, ["w_square", "epsilon", "epsilon"]),
              ("lrp.zb", {"low": -3.0, "high": 3.0}, ["zb", "epsilon", "epsilon"])]
CASES = [
    *RULE_CASES,
    ("lrp.composite", {"preset": "epsilon_plus_flat", "rules": {"d2": "z_plus"}}, ["flat", "z_plus", "epsilon"]),
    # w² does not multiply by its input: relevance reaches d2's switched-off ReLU units and must stop there
    ("lrp.composite", {"preset": "epsilon_plus", "rules": {"d3": "w_square"}}, ["epsilon", "epsilon", "w_square"])]


@pytest.mark.parametrize("method,params,rules", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
def test_rule_matches_naive_numpy(method, params, rules):
    model = _dense_model()
    x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    targets = np.array([0, 1, 2, 1, 0])
    got = relmask.explain(model, x, method, targets=targets, **params)
    bounds = {k: v for k, v in params.items() if k in ("low", "high")}
    want = np.stack([naive_lrp(model, x[i], targets[i], rules, **bounds) for i in range(len(x))])
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


def _conv_matrix(kernel, in_shape, stride, padding):
    """A 2-D convolution (TensorFlow's padding conventions) as an (inputs, outputs) matrix, its connectivity and
    output shape: explicit loops, no convolution routine."""
    h, w, _ = in_shape
    kh, kw, _, k = kernel.shape
    if padding == "same":
        oh, ow = -(-h // stride), -(-w // stride)
        ph, pw = max((oh - 1) * stride + kh - h, 0) // 2, max((ow - 1) * stride + kw - w, 0) // 2
    else:
        oh, ow, ph, pw = (h - kh) // stride + 1, (w - kw) // stride + 1, 0, 0
    m = np.zeros((*in_shape, oh, ow, k))
    for i in range(oh):
        for j in range(ow):
            for p in range(kh):
                for q in range(kw):
                    y, x = i * stride + p - ph, j * stride + q - pw
                    if 0 <= y < h and 0 <= x < w:
                        m[y, x, :, i, j, :] = kernel[p, q]
    n_in, n_out = int(np.prod(in_shape)), oh * ow * k
    return m.reshape(n_in, n_out), (m != 0).reshape(n_in, n_out), (oh, ow, k)


def _avg_pool_matrix(in_shape, size):
    h, w, c = in_shape
    m = np.zeros((h, w, c, h // size, w // size, c))
    for y in range(h // size * size):
        for x in range(w // size * size):
            m[y, x, range(c), y // size, x // size, range(c)] = 1.0 / size ** 2
    return m.reshape(h * w * c, -1), (h // size, w // size, c)


def _max_pool(a, size):
    """Max pooling of (H, W, C) and, per output, the flat index of the input it took."""
    h, w, c = a.shape
    out, src = np.zeros((h // size, w // size, c)), np.zeros((h // size, w // size, c), int)
    for i in range(h // size):
        for j in range(w // size):
            for ch in range(c):
                win = a[i * size:(i + 1) * size, j * size:(j + 1) * size, ch]
                p, q = np.unravel_index(np.argmax(win), win.shape)
                out[i, j, ch], src[i, j, ch] = win[p, q], np.ravel_multi_index((i * size + p, j * size + q, ch),
                                                                                a.shape)
    return out, src


def _conv_pool_model():
    """Conv(same) → BN (folded) → ReLU → max-pool → Conv(stride 2, ReLU) → average pool → Dense(softmax)."""
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((12, 12, 2)), L.Conv2D(3, 3, padding="same", name="c1"),
                              L.BatchNormalization(name="bn"), L.ReLU(), L.MaxPooling2D(2),
                              L.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="c2"),
                              L.AveragePooling2D(3), L.Flatten(), L.Dense(3, activation="softmax", name="d")])
    return _nontrivial_statistics(model, seed=5)


def naive_conv_lrp(model, x, target, rules, **bounds):
    """The same rules on :func:`_conv_pool_model`, convolutions written out as matrices."""
    c1, bn, c2, d = (model.get_layer(n) for n in ("c1", "bn", "c2", "d"))
    k1, b1 = _fold(c1, bn)
    m1, conn1, s1 = _conv_matrix(k1, (12, 12, 2), 1, "same")
    b1 = np.tile(b1, s1[0] * s1[1])
    z1 = x.astype(np.float64).ravel() @ m1 + b1
    pooled, src = _max_pool(np.maximum(z1, 0).reshape(s1), 2)
    m2, conn2, s2 = _conv_matrix(_g(c2.kernel), pooled.shape, 2, "same")
    b2 = np.tile(_g(c2.bias), s2[0] * s2[1])
    z2 = pooled.ravel() @ m2 + b2
    avg, _ = _avg_pool_matrix(s2, 3)
    z3 = np.maximum(z2, 0) @ avg
    z4 = z3 @ _g(d.kernel) + _g(d.bias)
    r = np.zeros_like(z4)
    r[target] = z4[target]
    r = _messages(rules[2], z3, _g(d.kernel), _g(d.bias), r, **bounds)
    r = _messages("epsilon", np.maximum(z2, 0), avg, 0.0, r) * (z2 > 0)  # average pooling: ε; then the ReLU
    r = _messages(rules[1], pooled.ravel(), m2, b2, r, connected=conn2, **bounds)
    routed = np.zeros(z1.shape)
    np.add.at(routed, src.ravel(), r)  # max pooling: to the input each output took
    return _messages(rules[0], x.astype(np.float64).ravel(), m1, b1, routed * (z1 > 0), connected=conn1,
                     **bounds).reshape(x.shape)


CONV_CASES = [*RULE_CASES,
              ("lrp.epsilon_plus_flat", {}, ["flat", "z_plus", "epsilon"]),
              ("lrp.epsilon_alpha2_beta1", {}, ["alpha_beta", "alpha_beta", "epsilon"]),
              # flat after max pooling: relevance is routed to switched-off units, then stopped
              ("lrp.composite", {"preset": "epsilon_plus", "rules": {"c2": "flat"}}, ["z_plus", "flat", "epsilon"])]


@pytest.mark.parametrize("method,params,rules", CONV_CASES, ids=[c[0] + str(i) for i, c in enumerate(CONV_CASES)])
def test_rule_matches_naive_numpy_on_conv_pool_net(method, params, rules):
    """Strided and padded convolutions, folded BN, fused and separate ReLUs, max and average pooling."""
    model = _conv_pool_model()
    x = np.random.default_rng(6).normal(size=(4, 12, 12, 2)).astype(np.float32)
    targets = np.array([0, 1, 2, 1])
    got = relmask.explain(model, x, method, targets=targets, **params)
    bounds = {k: v for k, v in params.items() if k in ("low", "high")}
    want = np.stack([naive_conv_lrp(model, x[i], targets[i], rules, **bounds) for i in range(len(x))])
    assert np.abs(want).max() > 0
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
    with pytest.raises(UnsupportedLayerError, match=r"my_lstm.*LSTM.*supported layers: .*Conv2D"):
        relmask.explain(model, np.zeros((1, 4, 3), np.float32), "lrp.epsilon")
    # gradient methods work on any layer
    assert relmask.explain(model, np.ones((1, 4, 3), np.float32), "gradient").shape == (1, 4, 3)


def _sign_model():
    """Layers that keep, break or mix the sign of ReLU outputs, in front of linear layers."""
    keras.utils.set_random_seed(4)
    inp = keras.Input((12, 12, 2))
    a = L.Conv2D(4, 3, padding="same", activation="relu", name="c_input")(inp)          # input: sign unknown
    b = L.BatchNormalization(name="bn_after_relu")(a)                                    # not folded: any sign
    c = L.Conv2D(4, 3, padding="same", name="c_after_bn")(b)
    d = L.LeakyReLU(0.1)(c)
    e = L.Concatenate()([a, d])                                                          # ≥ 0 and any sign
    f = L.Conv2D(4, 3, padding="same", activation="relu", name="c_after_mixed_concat")(e)
    g = L.ZeroPadding2D(1)(L.MaxPooling2D(2)(f))
    h = L.Add()([g, L.ZeroPadding2D(1)(L.AveragePooling2D(2)(a))])                      # ≥ 0 + ≥ 0
    i = L.Conv2D(4, 3, activation="relu", name="c_after_pool_pad_add")(h)
    j = L.UpSampling2D(2, interpolation="bicubic")(h)                                   # overshoots below 0
    k = L.Conv2D(3, 3, strides=2, name="c_after_bicubic")(j)
    m = L.DepthwiseConv2D(3, padding="same", name="dw_after_relu")(L.ReLU()(k))
    out = L.Concatenate()([L.Flatten()(i), L.Flatten()(m)])
    out = L.Dense(3, activation="softmax", name="dense_after_mixed")(out)
    return _nontrivial_statistics(keras.Model(inp, out), seed=4, bias_mean=0.5, bias_sd=0.5)


def test_sign_analysis_marks_exactly_the_relu_fed_layers():
    from relmask.relevance.graph import run_graph
    from relmask.relevance.lrp import composite, lrp_handler

    model = _sign_model()
    report = {}
    run_graph(model, np.ones((1, 12, 12, 2), np.float32), lrp_handler(composite(everywhere="z_plus"), report=report))
    assert report == {"c_input": False, "c_after_bn": False, "c_after_mixed_concat": False,
                      "c_after_pool_pad_add": True, "c_after_bicubic": False, "dw_after_relu": True,
                      "dense_after_mixed": False}


@pytest.mark.parametrize("everywhere", ["z_plus", "alpha_beta"])
def test_sign_analysis_changes_nothing_but_speed(everywhere):
    """Skipping a⁻ terms where the analysis proves a ≥ 0 gives the maps that testing the values gives."""
    from relmask.relevance.lrp import composite, lrp

    model = _sign_model()
    x = np.random.default_rng(5).normal(size=(4, 12, 12, 2)).astype(np.float32)
    targets = np.array([0, 1, 2, 1], np.int32)
    comp = composite(everywhere=everywhere)
    static = lrp(model, x, targets, comp)
    tested = lrp(model, x, targets, comp, static_signs=False)
    assert np.abs(static).max() > 0
    np.testing.assert_allclose(static, tested, rtol=1e-6, atol=1e-7 * np.abs(tested).max())
