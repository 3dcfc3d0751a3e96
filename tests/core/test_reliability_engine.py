"""Issue 14, engine and masking: nothing silently wrong.

Ties and maps without information (item 1), the explained output is always the pre-softmax logit (2), NaN/inf
from a plugin is an error naming it (3), parameter ranges are checked before any work (11), and explain()'s
clear errors for a wrong input shape or an unsupported model (13).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import relmask
from relmask.errors import ComponentOutputError, DataError, ParameterError, RelmaskWarning
from relmask.pipeline.masking import (
    DEGENERATE_WARN_SHARE,
    count_degenerate,
    degenerate_maps,
    masked_fraction,
    top_fraction_mask,
)
from relmask.plugin_system.components import Masker, Param, RelevanceMethod
from relmask.plugin_system.plugins import Entry, registry

RNG = np.random.default_rng(3)
# the all-zero maps here are on purpose; the warning itself is tested in test_mask_warns_when_many_maps_...
pytestmark = pytest.mark.filterwarnings("ignore::relmask.errors.RelmaskWarning")


# -- 1. ties and degenerate maps -------------------------------------------------------------------------------
def test_all_zero_maps_are_not_masked_by_index():
    x = RNG.normal(size=(40, 8, 6, 1)).astype(np.float32)
    r = np.zeros_like(x)
    out = relmask.mask(x, r, "negative", fraction=0.25, seed=0)
    removed = (out != x).reshape(40, -1)
    k = round(0.25 * 48)
    assert (removed.sum(axis=1) == k).all()  # the requested share, per sample
    # index order would remove the first k positions of every sample
    assert not (removed[:, :k]).all()
    assert len({tuple(np.flatnonzero(row)) for row in removed}) > 30  # a different draw per sample
    # reproducible given the seed, different for another seed
    np.testing.assert_array_equal(out, relmask.mask(x, r, "negative", fraction=0.25, seed=0))
    assert not np.array_equal(out, relmask.mask(x, r, "negative", fraction=0.25, seed=1))
    # every position is about equally likely (index order puts all 40 draws on positions 0..11)
    hits = removed.sum(axis=0)
    assert hits[:k].sum() < 0.5 * removed.sum()


def test_ties_among_zeros_of_an_informative_map_are_drawn_at_random():
    """Grad-CAM after ReLU: a few positive values, the rest exact zeros; the cut falls among the zeros."""
    r = np.zeros((50, 20), np.float32)
    r[:, [17, 18, 19]] = [3.0, 2.0, 1.0]  # the informative values sit at the end (last in index order)
    sel = top_fraction_mask(r, 0.3, np.random.default_rng(0))  # 6 of 20: the 3 positives and 3 of the 17 zeros
    assert sel[:, 17:].all() and (sel.sum(axis=1) == 6).all()
    zeros_chosen = sel[:, :17]
    assert not zeros_chosen[:, :3].all()  # index order: always positions 0, 1, 2
    assert (zeros_chosen.sum(axis=0) > 0).sum() > 12  # spread over the tied positions


def test_maps_without_ties_get_the_same_mask_as_before_whatever_the_seed():
    r = RNG.normal(size=(7, 5, 9)).astype(np.float32)
    flat = r.reshape(7, -1)
    for fraction in (0.0, 0.1, 0.37, 0.5, 1.0):
        k = round(fraction * flat.shape[1])
        expected = np.zeros(flat.shape, bool)
        np.put_along_axis(expected, np.argsort(-flat, axis=1, kind="stable")[:, :k], True, axis=1)
        for seed in (0, 1, 2):
            np.testing.assert_array_equal(top_fraction_mask(r, fraction, np.random.default_rng(seed)),
                                          expected.reshape(r.shape))


def test_band_masker_draws_tied_bands_at_random():
    x = np.ones((30, 12, 7, 1), np.float32)
    out = relmask.mask(x, np.zeros_like(x), "band", fraction=0.25)  # 3 of 12 frequency rows
    rows = (out[..., 0] == 0).all(axis=2)
    assert (rows.sum(axis=1) == 3).all()
    assert not rows[:, :3].all()  # index order: the three lowest-frequency rows of every clip


def test_degenerate_maps_and_count():
    r = RNG.normal(size=(6, 4, 4)).astype(np.float32)
    r[0] = 0.0                # all zero
    r[1] = 2.5                # constant
    r[2, 0, 0] = np.nan       # not finite
    r[3] = -np.abs(r[3])      # informative, but nothing positive
    flags = degenerate_maps(r)
    np.testing.assert_array_equal(flags, [True, True, True, False, False, False])
    assert count_degenerate(r) == 3
    # as the masker sees it: under normalize='positive' a map without a positive value is all zero
    np.testing.assert_array_equal(degenerate_maps(r, "positive"), [True, True, True, True, False, False])
    assert count_degenerate(r, "abs") == 3


def test_mask_warns_when_many_maps_carry_no_information():
    x = RNG.normal(size=(40, 5, 5)).astype(np.float32)
    r = RNG.normal(size=x.shape).astype(np.float32)
    n_zero = int(DEGENERATE_WARN_SHARE * 40) + 1  # just above the share
    r[:n_zero] = 0.0
    with pytest.warns(RelmaskWarning, match=rf"{n_zero} of 40 relevance maps .* carry no information"):
        relmask.mask(x, r, "negative", fraction=0.3)
    r[:n_zero] = RNG.normal(size=r[:n_zero].shape)
    r[0] = 0.0  # one of 40: below the share, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", RelmaskWarning)
        relmask.mask(x, r, "negative", fraction=0.3)


def test_random_control_of_a_degenerate_map_masks_like_the_map():
    from relmask.pipeline.masking import shuffle_relevance

    x = RNG.normal(size=(20, 6, 6)).astype(np.float32)
    r = np.zeros_like(x)
    real = relmask.mask(x, r, "negative", fraction=0.4, seed=5)
    control = relmask.mask(x, shuffle_relevance(r, seed=5), "negative", fraction=0.4, seed=5)
    np.testing.assert_array_equal(real, control)  # a permuted constant map is the same map: same draw
    assert masked_fraction(x, real) == pytest.approx(round(0.4 * 36) / 36)


# -- 2. the explained output is the pre-softmax logit ----------------------------------------------------------
def _softmax_fns():
    import keras

    fns = {"keras.ops.softmax": keras.ops.softmax}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        fns.update({"tf.nn.softmax": tf.nn.softmax, "tf.nn.log_softmax": tf.nn.log_softmax})
    else:
        import jax

        fns.update({"jax.nn.softmax": jax.nn.softmax, "jax.nn.log_softmax": jax.nn.log_softmax})
    return fns


def _logit_and_wrapped(head):
    """A logit model and the same layers with ``head`` (tensor -> tensor) on top."""
    import keras

    inp = keras.Input((5,))
    hidden = keras.layers.Dense(6, activation="relu")
    logit = keras.layers.Dense(3, name="logit")
    z = logit(hidden(inp))
    return keras.Model(inp, z), keras.Model(inp, head(z))


def _heads():
    import keras

    heads = {}
    for name, fn in _softmax_fns().items():
        heads[f"Activation({name})"] = lambda z, fn=fn: keras.layers.Activation(fn)(z)
        heads[f"Lambda({name})"] = lambda z, fn=fn: keras.layers.Lambda(fn)(z)
    heads["keras.ops.softmax node"] = lambda z: keras.ops.softmax(z)
    heads["keras.ops.log_softmax node"] = lambda z: keras.ops.log_softmax(z)
    heads["Activation('log_softmax')"] = lambda z: keras.layers.Activation("log_softmax")(z)
    heads["Softmax layer"] = lambda z: keras.layers.Softmax()(z)
    return heads


@pytest.mark.parametrize("head", sorted(_heads()))
@pytest.mark.parametrize("method", ["gradient", "lrp.epsilon"])
def test_final_softmax_in_any_spelling_is_removed(head, method):
    logit_model, model = _logit_and_wrapped(_heads()[head])
    x = RNG.normal(size=(4, 5)).astype(np.float32)
    expected = relmask.explain(logit_model, x, method, targets=[0, 1, 2, 0], progress=False)
    got = relmask.explain(model, x, method, targets=[0, 1, 2, 0], progress=False)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(_softmax_fns()))
def test_dense_with_a_foreign_softmax_activation_explains_its_logit(name):
    import keras

    fn = _softmax_fns()[name]
    inp = keras.Input((5,))
    dense = keras.layers.Dense(3, activation=fn)
    model = keras.Model(inp, dense(inp))
    x = RNG.normal(size=(3, 5)).astype(np.float32)
    # the gradient of the logit of a single Dense layer is its kernel column
    r = relmask.explain(model, x, "gradient", targets=[2, 2, 2], progress=False)
    np.testing.assert_allclose(r, np.broadcast_to(np.asarray(dense.kernel)[:, 2], x.shape), rtol=1e-6)


def test_softmax_followed_by_another_layer_is_refused_naming_it():
    import keras

    _, model = _logit_and_wrapped(lambda z: keras.layers.Dropout(0.2)(keras.layers.Softmax(name="probs")(z)))
    with pytest.raises(ParameterError, match=r"layer 'probs' \(Softmax\) applies a softmax .*followed by"):
        relmask.explain(model, RNG.normal(size=(2, 5)).astype(np.float32), "gradient", progress=False)


def test_an_unrecognised_softmax_is_refused():
    import keras

    def my_softmax(z):
        e = keras.ops.exp(z - keras.ops.max(z, axis=-1, keepdims=True))
        return e / keras.ops.sum(e, axis=-1, keepdims=True)

    _, model = _logit_and_wrapped(lambda z: keras.layers.Lambda(my_softmax, name="mine")(z))
    with pytest.raises(ParameterError, match=r"still probabilities.*'mine' \(Lambda\)"):
        relmask.explain(model, RNG.normal(size=(2, 5)).astype(np.float32), "gradient", progress=False)


# -- 3. NaN/inf from a plugin component ------------------------------------------------------------------------
class _NanMethod(RelevanceMethod):
    name = "nan_method"
    needs_model = False

    def attribute(self, model, x, targets):
        r = np.ones_like(x)
        r[-1] = np.nan
        return r


class _NanMasker(Masker):
    name = "nan_masker"
    params = (Param("fraction", float, 0.5),)

    def apply(self, x, relevance, rng, fraction):
        return np.where(relevance > 0, np.inf, x)


@pytest.fixture
def broken_plugin(monkeypatch):
    for hook, obj in (("register_relevance_methods", _NanMethod()), ("register_maskers", _NanMasker())):
        monkeypatch.setitem(registry(hook).entries, obj.name, Entry(obj.name, obj, "relmask-broken-numbers"))


def test_nan_relevance_from_a_plugin_is_an_error_naming_it(broken_plugin):
    with pytest.raises(ComponentOutputError, match=r"relevance method 'nan_method' \(plugin 'relmask-broken-numbers'"
                                                   r"\) returned NaN or infinite relevance .*sample 2"):
        relmask.explain(None, np.ones((3, 4), np.float32), "nan_method", progress=False)


def test_inf_from_a_plugin_masker_is_an_error_naming_it(broken_plugin):
    with pytest.raises(ComponentOutputError, match=r"masker 'nan_masker' \(plugin 'relmask-broken-numbers'\) "
                                                   r"returned NaN or infinite values"):
        relmask.mask(np.ones((2, 3)), np.ones((2, 3)), "nan_masker")


def test_nan_from_a_built_in_method_with_overflowing_weights_is_caught():
    import keras

    inp = keras.Input((3,))
    big = keras.initializers.Constant(1e30)
    hidden = keras.layers.Dense(4, activation="relu", kernel_initializer=big)(inp)
    model = keras.Model(inp, keras.layers.Dense(2, kernel_initializer=big)(hidden))
    # the logit overflows float32 to inf, and LRP-ε divides inf by inf (an exact-zero denominator no longer
    # gives NaN: it divides by 1, as iNNvestigate does, see docs/relevance.md)
    with pytest.raises(ComponentOutputError, match=r"relevance method 'lrp.epsilon' \(plugin "
                                                   r"'relmask_plugins.relevance'\)"):
        relmask.explain(model, np.ones((2, 3), np.float32), "lrp.epsilon", targets=0, progress=False)


# -- 11. parameter ranges, checked before any work -------------------------------------------------------------
@pytest.mark.parametrize("masker,params,match", [
    ("negative", {"fraction": 1.5}, r"'fraction' = 1.5 is out of range: fraction must lie in \[0, 1\]"),
    ("keep", {"fraction": -0.1}, "fraction must lie in"),
    ("keep", {"threshold": 1.2}, r"threshold must lie in \[0, 1\]"),
    ("soft", {"alpha": 2.0}, r"alpha must lie in \[0, 1\]"),
    ("negative", {"blur_sigma": -1.0}, "blur_sigma must be >= 0"),
    ("negative", {"fill_value": float("nan")}, "fill_value must be finite"),
    ("keep", {"fill_value": float("inf")}, "fill_value must be finite"),
    ("band", {"fraction": float("nan")}, "fraction must lie in"),
])
def test_masker_parameter_ranges(masker, params, match):
    with pytest.raises(ParameterError, match=match):
        relmask.get_masker(masker).resolve_params(params)
    with pytest.raises(ParameterError, match=match):
        relmask.mask(np.ones((1, 4, 4)), np.ones((1, 4, 4)), masker, **params)


def test_edges_of_a_range_are_accepted():
    m = relmask.get_masker("negative")
    assert m.resolve_params({"fraction": 0, "blur_sigma": 0.0, "fill_value": -3.0})["fraction"] == 0.0
    assert m.resolve_params({"fraction": 1.0, "fill_value": None})["fill_value"] is None
    p = Param("eps", float, 1.0, low=0.0, low_open=True, high=2.0, high_open=True)
    assert p.range_text == "(0, 2)"
    with pytest.raises(ParameterError, match=r"eps must lie in \(0, 2\)"):
        p.check(0.0, "x")
    with pytest.raises(ParameterError):
        p.check(2, "x")


def test_ranges_are_listed():
    keep = {p["name"]: p for p in relmask.get_masker("keep").metadata()["params"]}
    assert keep["fraction"]["range"] == "[0, 1]" and keep["blur_sigma"]["range"] == ">= 0"
    assert keep["fill_value"]["range"] == "finite" and "range" not in keep["fill"]


def test_cli_list_shows_ranges(capsys):
    from relmask.cli import main

    assert main(["list", "maskers"]) == 0
    out = capsys.readouterr().out
    assert "fraction: float [0, 1] = 0.3" in out and "blur_sigma: float >= 0 = 2.0" in out


def test_whale_experiment_validate_checks_masker_ranges_before_training():
    from relmask_plugins.whale.config import WhaleExperiment

    with pytest.raises(ParameterError, match=r"masker 'negative': parameter 'fraction' = 1.5 is out of range"):
        WhaleExperiment(maskers=["negative"], masker_params={"negative": {"fraction": 1.5}}).validate()


# -- 13. explain()'s clear errors ------------------------------------------------------------------------------
def _small_model():
    import keras

    inp = keras.Input((4, 4, 1))
    return keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(inp)), name="small")


def test_explain_names_expected_and_actual_shapes():
    model = _small_model()
    with pytest.raises(DataError, match=r"samples of shape \(5, 5, 1\), but model 'small' expects samples of "
                                        r"shape \(4, 4, 1\)"):
        relmask.explain(model, np.zeros((2, 5, 5, 1), np.float32), "gradient", progress=False)
    with pytest.raises(DataError, match=r"add a batch axis"):
        relmask.explain(model, np.zeros((4, 4, 1), np.float32), "gradient", progress=False)


def test_explain_says_what_models_are_supported():
    import keras

    x = np.zeros((2, 4), np.float32)
    with pytest.raises(ParameterError, match=r"model is None.*keras.Sequential or a functional keras.Model"):
        relmask.explain(None, x, "gradient", progress=False)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.dense = keras.layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    sub = Sub()
    sub(x)
    with pytest.raises(ParameterError, match=r"'sub' \(Sub\) is a subclassed Keras model.*supported: "
                                             r"keras.Sequential"):
        relmask.explain(sub, x, "gradient", progress=False)
    with pytest.raises(ParameterError, match=r"must be a Keras model .*got builtins.dict"):
        relmask.explain({}, x, "gradient", progress=False)
