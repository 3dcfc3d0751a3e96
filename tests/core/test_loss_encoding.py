"""Relevance in the loss instead of the data ("right for the right reasons", Ross et al. 2017): the input-gradient
penalty of relmask.pipeline.training against a hand-written TensorFlow GradientTape loop (and on JAX), the ``rrr``
masker's
annotations and parameters, and its variants with their controls in the fer and whale experiments.

The reference computes, per batch, cross-entropy + λ · mean over the batch of Σ_d (A ⊙ ∂(Σ_k log p_k)/∂x)² with
nested tapes and applies Adam, on the samples in the member's :func:`relmask.pipeline.training.epoch_order`.
Tolerances as
in tests/core/test_grouped_training.py: 1e-5 on one backend (float rounding of another op order), 1e-4 across backends.
"""
from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

import relmask
from relmask.errors import ParameterError

N, SHAPE, CLASSES, BATCH, WEIGHT = 48, (8, 8, 1), 3, 16, 20.0
WEIGHT_TOL, CROSS_BACKEND_TOL = 1e-5, 1e-4


def tiny(seed: int):
    """A small CNN, initial weights drawn in NumPy (the backends' random streams differ)."""
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input(SHAPE), layers.Conv2D(4, 3, activation="tanh"), layers.Flatten(),
                              layers.Dense(CLASSES, activation="softmax")], name=f"tiny{seed}")
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def data(seed: int):
    rng = np.random.default_rng(100 + seed)
    x = rng.random((N, *SHAPE), dtype=np.float32)
    y = (x.reshape(N, -1).mean(axis=1) * 97 % CLASSES).astype(np.int64)
    annotations = (rng.random(x.shape) < 0.5).astype(np.float32)
    return x, y, annotations


def group(seeds=(0, 1)):
    """Penalised members (the second with class weights) and one plain member."""
    from relmask.pipeline.training import Member

    members = []
    for s in seeds:
        x, y, a = data(s)
        members.append(Member(tiny(s), x, y, seed=s, class_weight={0: 2.0, 1: 1.0, 2: 0.5} if s == 1 else None,
                              input_penalty=(a, WEIGHT), name=f"penalised {s}"))
    x, y, _ = data(9)
    members.append(Member(tiny(9), x, y, seed=9, name="plain"))
    return members


def reference(member, epochs: int = 1):
    """The member trained by hand: nested GradientTapes, Adam; returns (weights, mean penalty per epoch)."""
    import keras
    import tensorflow as tf

    from relmask.pipeline.training import epoch_order

    model = tiny(member.seed)
    optimizer = keras.optimizers.Adam(1e-3)
    a, weight = member.input_penalty or (np.zeros_like(member.x), 0.0)
    weights = np.ones(len(member.y), np.float32) if member.class_weight is None else \
        np.asarray([member.class_weight[int(c)] for c in member.y], np.float32)
    penalties = []
    for epoch in range(epochs):
        order = epoch_order(member.seed, epoch, len(member.x))
        batch_penalties = []
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            xb, ab, wb = tf.constant(member.x[idx]), tf.constant(a[idx]), tf.constant(weights[idx])
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    inner.watch(xb)
                    p = model(xb, training=True)
                    summed = tf.reduce_sum(tf.math.log(tf.clip_by_value(p, keras.config.epsilon(), 1.0)))
                gradient = inner.gradient(summed, xb)
                cross_entropy = keras.losses.sparse_categorical_crossentropy(member.y[idx], p)
                penalty = weight * tf.reduce_sum(tf.square(ab * gradient), axis=[1, 2, 3])
                loss = tf.reduce_mean(wb * cross_entropy) + tf.reduce_mean(wb * penalty)
            grads = outer.gradient(loss, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
            batch_penalties.append(float(tf.reduce_mean(wb * penalty)))
        penalties.append(float(np.mean(batch_penalties)))
    return model.get_weights(), penalties


def max_diff(a, b) -> float:
    return max(float(np.abs(u - v).max()) for u, v in zip(a, b, strict=True))


def test_the_penalty_equals_a_hand_written_gradient_tape_loop():
    from relmask.pipeline.training import fit, fit_group

    members = group()
    results = fit_group(members, epochs=2, batch_size=BATCH)
    for m, r in zip(members, results, strict=True):
        weights, penalties = reference(m, epochs=2)
        assert r.ok and max_diff(weights, r.model.get_weights()) <= WEIGHT_TOL, m.name
        if m.penalised:
            np.testing.assert_allclose(r.history["input_penalty"], penalties, rtol=1e-4)
            assert r.history["loss"][0] > r.history["input_penalty"][0] > 0
    # the penalty changes the training: without it the same member ends elsewhere
    plain = tiny(0)
    fit(plain, members[0].x, members[0].y, epochs=2, batch_size=BATCH, seed=0)
    assert max_diff(plain.get_weights(), results[0].model.get_weights()) > 1e-3


def test_weight_zero_is_plain_training():
    from relmask.pipeline.training import fit

    x, y, a = data(0)
    with_zero, without = tiny(0), tiny(0)
    history = fit(with_zero, x, y, epochs=2, batch_size=BATCH, input_penalty=(a, 0.0))
    fit(without, x, y, epochs=2, batch_size=BATCH)
    assert all(np.array_equal(u, v) for u, v in zip(with_zero.get_weights(), without.get_weights(), strict=True))
    assert "input_penalty" not in history


def test_bad_penalties_fail_before_any_training():
    from relmask.pipeline.training import Member, fit_group

    x, y, a = data(0)
    for penalty, match in (((a[:-1], 1.0), "annotations have shape"), ((a, -1.0), "weight must be a finite"),
                           ((a, float("nan")), "weight must be a finite"), ([a, 1.0], "must be a tuple")):
        with pytest.raises(ParameterError, match=match):
            fit_group([Member(tiny(0), x, y, input_penalty=penalty, name="bad")], epochs=1)


JAX_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    import keras
    import test_loss_encoding as t
    from relmask.pipeline.training import fit_group
    members = t.group()
    results = fit_group(members, epochs=2, batch_size=t.BATCH)
    print(json.dumps({{"backend": keras.backend.backend(),
                      "weights": [[w.tolist() for w in r.model.get_weights()] for r in results],
                      "penalty": [r.history.get("input_penalty") for r in results]}}))
""")


def test_jax_trains_with_the_same_penalty():
    pytest.importorskip("jax")
    from tests.conftest import run_on_jax  # here: the JAX scripts import this module outside the package

    on_jax = run_on_jax(JAX_SCRIPT.format(tests=os.path.dirname(__file__)))
    assert on_jax["backend"] == "jax"
    for m, weights, penalty in zip(group(), on_jax["weights"], on_jax["penalty"], strict=True):
        expected, penalties = reference(m, epochs=2)
        assert max_diff(expected, [np.asarray(w) for w in weights]) <= CROSS_BACKEND_TOL, m.name
        if m.penalised:
            np.testing.assert_allclose(penalty, penalties, rtol=1e-3)


# -- the masker ---------------------------------------------------------------------------------------------
def test_rrr_annotates_the_values_outside_the_top_fraction():
    masker = relmask.get_masker("rrr")
    assert masker.encodes == "loss" and relmask.get_masker("keep").encodes == "data"
    x = np.ones((2, 4, 5, 1), np.float32)
    r = np.arange(40, dtype=np.float32).reshape(x.shape)
    a = relmask.mask(x, r, "rrr", fraction=0.25)
    assert set(np.unique(a)) == {0.0, 1.0} and a.mean() == pytest.approx(0.75)
    assert (a[0].ravel()[-5:] == 0).all() and (a[0].ravel()[:15] == 1).all()  # the most relevant are free
    assert relmask.mask(x, r, "rrr", fraction=1.0).sum() == 0  # everything allowed: no penalty


@pytest.mark.parametrize("params, name", [({"weight": 0.0}, "weight"), ({"weight": -2.0}, "weight"),
                                          ({"fraction": 0.0}, "fraction"), ({"fraction": 1.5}, "fraction")])
def test_rrr_bad_params_name_the_parameter(params, name):
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        relmask.get_masker("rrr").resolve_params(params)


# -- the experiments ----------------------------------------------------------------------------------------
def test_fer_variants_and_tables_carry_rrr_and_its_controls():
    from relmask_plugins.fer import pipeline

    splits = pipeline.load_splits("synthetic", None, "photo", "cartoon", n_source=70, n_target=70, seed=0)
    rng = np.random.default_rng(0)
    roles = ("train", "val", "val_label_free", "test", "test_label_free", "val_train_rule")
    rel = {k: rng.random(splits[k.split("_")[0]].x.shape).astype(np.float32) for k in roles}  # maps by role
    vs = pipeline.make_variants(splits, rel, ["keep", "rrr"], {"rrr": {"weight": 2.0}}, "gradcam", seed=0,
                                mask_only=False)
    by = {v.name: v for v in vs}
    loss = [f"rrr{c}" for c in ("", "_shuffled", "_permuted", "_smooth")]
    assert [v.name for v in vs][5:] == loss
    for name in loss:
        v = by[name]
        np.testing.assert_array_equal(v.x_train, splits["train"].x)  # raw inputs: the maps are in the loss
        assert all(np.array_equal(v.x_val[e], splits["val"].x) for e in pipeline.EVALS)
        annotations, weight = v.input_penalty
        assert weight == 2.0 and annotations.shape == v.x_train.shape
        assert v.masked_fraction == pytest.approx(0.5, abs=0.01)  # default fraction: half the values are free
    assert not np.array_equal(by["rrr"].input_penalty[0], by["rrr_shuffled"].input_penalty[0])
    assert by["keep"].input_penalty is None
    curves, tests = pipeline.train_students(vs, splits["train"].y, splits["val"].y, 7, "whale_cnn",
                                            {"filters": 2, "dense_units": 8}, epochs=1, batch_size=16, seeds=[0],
                                            y_test=splits["test"].y)
    table = {(r["variant"], r["eval"]) for r in pipeline.summarize(curves, vs, 0.3, 1, tests)}
    assert {(name, e) for name in loss for e in pipeline.EVALS} <= table
    effects = pipeline.effects(curves, tests, vs, 0.3, 1)
    against = {(e["against"]) for e in effects if e["variant"] == "rrr"}
    assert against == {"raw", "rrr_shuffled", "rrr_permuted", "rrr_smooth"}


def test_whale_run_has_rrr_cnn2s_with_their_controls(tmp_path):
    from relmask_plugins.whale import config, pipeline

    ds = pipeline.load_data("synthetic", None, 120, cache_dir=str(tmp_path / "whale_cache"))
    cfg = config.WhaleExperiment(relevance_methods=["gradient"], maskers=["negative", "rrr"], epochs=1, seeds=[0],
                                 fusion_rules=["mean"], mask_only=False, cache_dir=str(tmp_path / "cache"),
                                 model_params={"filters": 4, "dense_units": 8})
    res = pipeline.run(ds, cfg, record=False, progress=False)
    systems = {r["system"] for r in res["table"] if r["masker"] == "rrr"}
    assert systems == {f"{kind}{c}" for kind in ("cnn2", "fusion")
                       for c in ("", "_shuffled", "_permuted", "_smooth")}
    assert res["masked_fraction"]["gradient/rrr/cnn2"] == pytest.approx(0.5, abs=0.01)
    labels = {e["comparison"] for e in res["effects"]}
    assert {"gradient/rrr: fusion vs CNN₁", "gradient/rrr: CNN₂ vs smooth control"} <= labels
    assert "| gradient | rrr | fusion | mean |" in res["table_markdown"]
    assert "input_penalty" in res["histories"]["gradient/rrr/cnn2"]
