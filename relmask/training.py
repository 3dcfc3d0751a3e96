"""Seeded training and prediction helpers shared by every experiment.

Convention: registered models output class probabilities (softmax over ``n_classes``; binary tasks use two
classes), so one loss and one prediction path serve every domain. Relevance methods explain the
pre-softmax logit.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._env import quiet_keras_retracing


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend (and make TF ops deterministic where it can)."""
    import keras

    keras.utils.set_random_seed(int(seed))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # pragma: no cover - older TF
            pass


def build_model(name: str, input_shape: Sequence[int], n_classes: int, seed: int | None = None, **params):
    """A fresh registered architecture (``relmask.list_models()``), weights seeded by ``seed``."""
    from .plugins import registry

    if seed is not None:
        set_seed(seed)
    return registry("register_models").get(name).build(tuple(input_shape), n_classes, **params)


def compile_classifier(model, learning_rate: float = 1e-3) -> Any:
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int = 64, seed: int = 0,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None, learning_rate: float = 1e-3,
        class_weight: dict | None = None, callbacks: list | None = None, verbose: int | str = 0) -> dict:
    """Compile (Adam, sparse cross-entropy) if needed and train; returns the per-epoch history dict.

    Training batches are reshuffled every epoch from ``seed``; ``callbacks`` may include
    :func:`relmask.progress.keras_callback` to report epochs. The data are never copied per epoch (batches are
    gathered by index, see :func:`_batches`).
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"fit(): epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    set_seed(seed)
    quiet_keras_retracing()
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        compile_classifier(model, learning_rate)
    x, y = np.asarray(x, np.float32), np.asarray(y)
    train = _batches(x, y, int(batch_size), shuffle_seed=seed)
    if train is None:  # not TensorFlow: Keras slices the arrays itself
        train, fit_kw = x, {"y": y, "batch_size": int(batch_size), "shuffle": True}
    else:
        fit_kw = {"shuffle": False}  # the pipeline reshuffles itself (Keras warns that it would ignore True)
        if validation_data is not None:
            validation_data = _batches(np.asarray(validation_data[0], np.float32), np.asarray(validation_data[1]),
                                       int(batch_size))
    hist = model.fit(train, epochs=int(epochs), validation_data=validation_data, class_weight=class_weight,
                     callbacks=callbacks or [], verbose=verbose, **fit_kw)
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def _batches(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle_seed: int | None = None):
    """A tf.data pipeline of (x, y) batches gathered by index, reshuffled each epoch when ``shuffle_seed`` is
    given; None when the Keras backend is not TensorFlow.

    Why not hand Keras the arrays: its array adapter gathers batches in a *parallel* map, and because
    :func:`set_seed` enables TensorFlow's op determinism, tf.data rewrites that map into a sequential one at
    every iterator start — copying an attribute the sequential op does not have, which TensorFlow 2.21 reports
    as ``E0000 … NodeDef mentions attribute use_unbounded_threadpool`` on stderr, once or more per fit. A
    sequential map of whole batches needs no rewrite and is just as fast for models this size.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    xt, yt = tf.convert_to_tensor(x), tf.convert_to_tensor(y)

    @tf.autograph.experimental.do_not_convert  # plain TensorFlow ops: nothing for AutoGraph to rewrite
    def gather(i):
        return tf.gather(xt, i), tf.gather(yt, i)

    index = tf.data.Dataset.range(len(x))
    if shuffle_seed is not None:
        index = index.shuffle(max(len(x), 1), seed=int(shuffle_seed), reshuffle_each_iteration=True)
    return index.batch(batch_size).map(gather).prefetch(tf.data.AUTOTUNE)


def predict_proba(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, n_classes) as float64, computed in batches of ``batch_size``.

    The model is called directly (inference mode) instead of through ``model.predict``. Experiments predict
    with many freshly built models, once or twice each: ``predict`` builds a tf.data pipeline and traces a new
    tf.function for every model, so each call paid a trace, TensorFlow warned about "retracing" after a few
    models, and its tf.data graph rewrite under ``enable_op_determinism`` (see :func:`set_seed`) printed
    ``E0000 … NodeDef mentions attribute use_unbounded_threadpool`` lines. A direct call does neither and gives
    the same numbers (same kernels, same batches).
    """
    import keras

    if batch_size < 1:
        raise ValueError(f"predict_proba(): batch_size must be >= 1, got {batch_size}")
    x = np.asarray(x, np.float32)
    parts = [keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
             for i in range(0, len(x), batch_size)]
    if not parts:  # no samples: the model's output width without calling it
        return np.zeros((0, *model.output_shape[1:]), np.float64)
    return np.concatenate(parts).astype(np.float64, copy=False)


def balanced_class_weight(y: np.ndarray) -> dict[int, float]:
    counts = np.bincount(np.asarray(y))
    return {i: float(len(y) / (len(counts) * c)) for i, c in enumerate(counts) if c}
