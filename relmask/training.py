"""Seeded training and prediction helpers shared by every experiment.

Convention: registered models output class probabilities (softmax over ``n_classes``; binary tasks use two
classes), so one loss and one prediction path serve every domain. Relevance methods explain the
pre-softmax logit.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np


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
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


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

    Arrays are handed to Keras as they are: Keras slices batches from them each epoch, the data set is
    never copied per epoch.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"fit(): epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    set_seed(seed)
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        compile_classifier(model, learning_rate)
    hist = model.fit(np.asarray(x, np.float32), np.asarray(y), epochs=int(epochs), batch_size=int(batch_size),
                     validation_data=validation_data, shuffle=True, class_weight=class_weight,
                     callbacks=callbacks or [], verbose=verbose)
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def predict_proba(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, n_classes) as float64."""
    return np.asarray(model.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0), np.float64)


def balanced_class_weight(y: np.ndarray) -> dict[int, float]:
    counts = np.bincount(np.asarray(y))
    return {i: float(len(y) / (len(counts) * c)) for i, c in enumerate(counts) if c}
