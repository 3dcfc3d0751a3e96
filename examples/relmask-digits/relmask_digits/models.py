"""``digits_cnn``: a small CNN for 8×8 digits, built from layers every relevance method of relmask supports.

Keras is imported inside the builder, so importing the plugin (``relmask plugins``) stays fast.
"""
from __future__ import annotations

from relmask.errors import ParameterError
from relmask.plugin_system.components import ModelSpec, Param


def build_digits_cnn(input_shape, n_classes, filters, dense_units, dropout):
    import keras
    from keras import layers

    if len(input_shape) != 3:
        raise ParameterError(f"model 'digits_cnn' needs an (H, W, C) input shape, got {tuple(input_shape)}")
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1"),
        layers.Conv2D(2 * filters, 3, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool"),
        layers.Flatten(name="flatten"),
        layers.Dropout(dropout, name="dropout"),
        layers.Dense(dense_units, activation="relu", name="dense"),
        # softmax output: relmask's convention; relevance methods explain the logit below it
        layers.Dense(n_classes, activation="softmax", name="output"),
    ], name="digits_cnn")


MODELS = (
    ModelSpec("digits_cnn", build_digits_cnn,
              "small CNN for 8x8 digits: 2x Conv2D 3x3, max-pool, Dense, softmax",
              (Param("filters", int, 16, "filters of the first convolution (the second has twice as many)", low=1),
               Param("dense_units", int, 64, "units of the hidden dense layer", low=1),
               Param("dropout", float, 0.25, "dropout rate before the dense layers", low=0.0, high=1.0,
                     high_open=True))),
)
