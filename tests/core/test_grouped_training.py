"""Grouped training (relmask.pipeline.training.fit_group): a group trains each member exactly as it would train alone.

The reference is written out naively: plain Keras ``model.fit`` per member and epoch, on the samples put in the
member's :func:`relmask.pipeline.training.epoch_order` beforehand. Tolerances: weights within 1e-5 (float rounding of a
different op order; on CPU they come out bit-identical), validation curves equal, and the training loss equal
where every batch is full (TensorFlow averages a branch's loss over batches rather than samples, so a partial
last batch counts as a whole one in the *reported* loss; the updates are the same).
"""
from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

from relmask.errors import ParameterError, RelmaskWarning

N, SHAPE, CLASSES, EPOCHS, BATCH = 48, (12, 12, 1), 3, 3, 16
WEIGHT_TOL = 1e-5


def tiny(seed: int, filters: int = 4):
    """A small CNN with dropout and batch normalisation (both have state a group must keep per member)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(SHAPE), layers.Conv2D(filters, 3, activation="relu"),
                             layers.BatchNormalization(), layers.MaxPooling2D(2), layers.Flatten(),
                             layers.Dropout(0.3), layers.Dense(CLASSES, activation="softmax")], name=f"tiny{seed}")


def data(seed: int, n: int = N):
    rng = np.random.default_rng(100 + seed)
    x = rng.random((n, *SHAPE), dtype=np.float32)
    y = (x.reshape(n, -1).mean(axis=1) * 97 % CLASSES).astype(np.int64)
    return x, y


def naive(seed: int, x, y, validation=None, class_weight=None, epochs=EPOCHS, batch=BATCH):
    """One member trained alone the plain-Keras way: the reference."""
    import keras

    from relmask.pipeline.training import epoch_order

    model = tiny(seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history: dict[str, list[float]] = {}
    for epoch in range(epochs):
        order = epoch_order(seed, epoch, len(x))
        h = model.fit(x[order], y[order], batch_size=batch, epochs=1, shuffle=False, verbose=0,
                      class_weight=class_weight)
        for k, v in h.history.items():
            history.setdefault(k, []).append(float(v[0]))
        if validation is not None:
            p = np.asarray(model(validation[0], training=False))
            history.setdefault("val_accuracy", []).append(float((p.argmax(1) == validation[1]).mean()))
    return model, history


def group_members(seeds=(0, 1, 2), n=N):
    from relmask.pipeline.training import Member

    members = []
    for s in seeds:
        x, y = data(s, n)
        val = data(10 + s, 20) if s == 1 else None  # one member with validation data, one with class weights
        cw = {0: 2.0, 1: 1.0, 2: 0.5} if s == 2 else None
        members.append(Member(tiny(s), x, y, seed=s, validation_data=val, class_weight=cw, name=f"m{s}"))
    return members


def max_weight_diff(a, b) -> float:
    return max(float(np.abs(u - v).max()) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))


def test_a_group_of_three_trains_each_member_as_alone():
    from relmask.pipeline.training import fit_group

    members = group_members()
    results = fit_group(members, epochs=EPOCHS, batch_size=BATCH)
    for m, r in zip(members, results, strict=True):
        ref, hist = naive(m.seed, m.x, m.y, m.validation_data, m.class_weight)
        assert r.ok and r.model is m.model
        assert max_weight_diff(ref, r.model) <= WEIGHT_TOL, m.name
        np.testing.assert_allclose(r.history["loss"], hist["loss"], rtol=1e-5)  # N/BATCH batches are all full
        np.testing.assert_allclose(r.history["accuracy"], hist["accuracy"], rtol=1e-6)
        if m.validation_data is not None:
            assert r.history["val_accuracy"] == pytest.approx(hist["val_accuracy"], abs=1e-9)
            assert len(r.history["val_loss"]) == EPOCHS


def test_chunks_and_partial_batches_change_nothing():
    """Chunk size 2 for 3 members, and a last batch that is not full: the same weights as one by one."""
    from relmask.pipeline.training import fit, fit_group

    n = N + 5
    members = group_members(n=n)
    fit_group(members, epochs=2, batch_size=BATCH, chunk_size=2)
    for m in members:
        alone = tiny(m.seed)
        fit(alone, m.x, m.y, epochs=2, batch_size=BATCH, seed=m.seed, class_weight=m.class_weight)
        ref, _ = naive(m.seed, m.x, m.y, class_weight=m.class_weight, epochs=2)
        assert max_weight_diff(ref, m.model) <= WEIGHT_TOL
        assert max_weight_diff(ref, alone) <= WEIGHT_TOL


def test_a_member_that_turns_nan_fails_alone_and_the_others_are_kept():
    from relmask.pipeline.training import Member, fit_all

    members = group_members(seeds=(0, 1))
    x, y = data(5)
    x[:, :, :, :] = 3e38  # overflows in the first convolution: the loss turns NaN in epoch 1
    members.insert(1, Member(tiny(5), x, y, seed=5, name="overflowing"))
    with pytest.warns(RelmaskWarning, match="overflowing failed and is left out: its training loss became nan"):
        results = fit_all(members, epochs=2, batch_size=BATCH)
    assert [r.ok for r in results] == [True, False, True]
    for m, r in zip((members[0], members[2]), (results[0], results[2]), strict=True):
        ref, _ = naive(m.seed, m.x, m.y, m.validation_data, m.class_weight, epochs=2)
        assert max_weight_diff(ref, r.model) <= WEIGHT_TOL


def test_fit_raises_a_training_error_when_the_loss_turns_nan():
    from relmask.errors import TrainingError
    from relmask.pipeline.training import fit

    x, y = data(0)
    with pytest.raises(TrainingError, match=r"tiny0.*loss became nan in epoch 1"):
        fit(tiny(0), x * np.float32(3e38), y, epochs=1, batch_size=BATCH)


def test_a_member_stopped_by_its_callback_keeps_the_weights_of_its_last_epoch():
    import keras

    from relmask.pipeline.training import fit_group

    class StopAfterFirst(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    members = group_members(seeds=(0, 1))
    members[0].callbacks = [StopAfterFirst()]
    results = fit_group(members, epochs=3, batch_size=BATCH)
    assert len(results[0].history["loss"]) == 1 and len(results[1].history["loss"]) == 3
    ref, _ = naive(0, members[0].x, members[0].y, epochs=1)
    assert max_weight_diff(ref, results[0].model) <= WEIGHT_TOL


def test_bad_groups_fail_before_any_training():
    from relmask.pipeline.training import Member, fit_group

    x, y = data(0)
    mixed = [Member(tiny(0), x, y, name="a"), Member(tiny(1, filters=6), x, y, name="b")]
    before = [w.copy() for w in mixed[0].model.get_weights()]
    with pytest.raises(ParameterError, match="b \\(tiny1\\) does not have the architecture of a"):
        fit_group(mixed, epochs=1)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ParameterError, match="chunk_size must be a whole number >= 1"):
            fit_group([Member(tiny(0), x, y)], epochs=1, chunk_size=bad)
    with pytest.raises(ParameterError, match="has 48 inputs but 47 labels"):
        fit_group([Member(tiny(0), x, y[:-1])], epochs=1)
    assert all((a == b).all() for a, b in zip(before, mixed[0].model.get_weights(), strict=True))  # nothing was trained


def test_group_size_limit_reads_the_environment_and_the_memory(monkeypatch):
    from relmask.pipeline import training

    model = tiny(0)
    monkeypatch.setenv(training.GROUP_SIZE_ENV, "3")
    assert training.group_size_limit(model, 64) == 3
    monkeypatch.setenv(training.GROUP_SIZE_ENV, "zero")
    with pytest.raises(ParameterError, match="RELMASK_GROUP_SIZE must be a whole number >= 1, got 'zero'"):
        training.group_size_limit(model, 64)
    monkeypatch.delenv(training.GROUP_SIZE_ENV)
    monkeypatch.setattr(training, "device_memory", lambda: (40 * training.member_bytes(model, 64), True))
    assert training.group_size_limit(model, 64) == int(training.MEMORY_SHARE * 40)  # an accelerator: memory
    monkeypatch.setattr(training.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(training, "device_memory", lambda: (40 * training.member_bytes(model, 64), False))
    assert training.group_size_limit(model, 64) == 2  # the CPU: one member per core
    monkeypatch.setattr(training, "device_memory", lambda: (training.member_bytes(model, 64), False))
    assert training.group_size_limit(model, 64) == 1  # ... within the memory bound


JAX_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    import test_grouped_training as t
    from relmask.pipeline.training import fit_group
    members = t.group_members()
    results = fit_group(members, epochs=t.EPOCHS, batch_size=t.BATCH)
    out = []
    for m, r in zip(members, results):
        ref, hist = t.naive(m.seed, m.x, m.y, m.validation_data, m.class_weight)
        out.append({{"diff": t.max_weight_diff(ref, r.model), "loss": r.history["loss"], "ref_loss": hist["loss"],
                    "val": r.history.get("val_accuracy"), "ref_val": hist.get("val_accuracy")}})
    import keras
    print(json.dumps({{"backend": keras.backend.backend(), "members": out}}))
""")


def test_a_group_trains_each_member_as_alone_on_jax():
    pytest.importorskip("jax")
    from tests.conftest import run_on_jax  # here: the JAX scripts import this module outside the package

    result = run_on_jax(JAX_SCRIPT.format(tests=os.path.dirname(__file__)))
    assert result["backend"] == "jax"
    for m in result["members"]:
        assert m["diff"] <= WEIGHT_TOL
        np.testing.assert_allclose(m["loss"], m["ref_loss"], rtol=1e-5)
        assert m["val"] == m["ref_val"]


CROSS_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    import test_grouped_training as t
    print(json.dumps(t.train_from_numpy_weights()))
""")


def train_from_numpy_weights() -> list[list[float]]:
    """Two members without dropout, their initial weights drawn in NumPy (the backends' random streams differ),
    trained as a group; their flattened final weights."""
    import keras
    from keras import layers

    from relmask.pipeline.training import Member, fit_group

    members = []
    for s in (0, 1):
        model = keras.Sequential([keras.Input(SHAPE), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2),
                                  layers.Flatten(), layers.Dense(CLASSES, activation="softmax")])
        rng = np.random.default_rng(s)
        model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
        x, y = data(s)
        members.append(Member(model, x, y, seed=s))
    fit_group(members, epochs=2, batch_size=BATCH)
    return [np.concatenate([w.ravel() for w in m.model.get_weights()]).tolist() for m in members]


def test_tensorflow_and_jax_train_a_group_to_the_same_weights():
    """Same initial weights and data: the two backends end within float rounding of each other (1e-4)."""
    pytest.importorskip("jax")
    from tests.conftest import run_on_jax  # here: the JAX scripts import this module outside the package

    on_jax = run_on_jax(CROSS_SCRIPT.format(tests=os.path.dirname(__file__)))
    for a, b in zip(train_from_numpy_weights(), on_jax, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
