"""Spectrogram classifiers for whale up-call detection (softmax over 2 classes, LRP-supported layers only).

* ``whale_cnn`` — the small CNN of the Kaggle solutions' kind: three blocks of 3x3 Conv2D (16, 32, 64 filters,
  ReLU, 'same') each followed by 2x2 max pooling, then Flatten, Dropout, a 64-unit ReLU Dense layer, Dropout and
  a 2-unit softmax Dense layer. About 0.3 M weights on the default 65x59 input.
* ``whale_cnn_bn`` — the same blocks with BatchNormalization after each convolution (bias-free conv, BN then
  ReLU) and global average pooling instead of Flatten: fewer weights, insensitive to where a call lies in time.
* ``whale_conv1d`` — frequency rows as channels, Conv1D over time (the "call-shape over time" view): two
  Conv1D(32/64, 5) + max-pool blocks, global average pooling, softmax Dense.

Keras is imported inside the builders: the plugin module stays importable without TensorFlow/JAX.
"""
from __future__ import annotations

from relmask.errors import ParameterError
from relmask.plugin_system.components import ModelSpec, Param

DROPOUT = Param("dropout", float, 0.3, "dropout rate before the dense layers", low=0, high=1, high_open=True)
FILTERS = Param("filters", int, 16, "filters of the first convolution (doubled per block)", low=1)


def _check_input(name: str, input_shape, ndim: int) -> None:
    if len(input_shape) != ndim:
        raise ParameterError(f"model {name!r} needs a {ndim}-d input shape, got {tuple(input_shape)}")


def build_whale_cnn(input_shape, n_classes, filters, dropout, dense_units):
    import keras
    from keras import layers

    _check_input("whale_cnn", input_shape, 3)
    model = keras.Sequential(name="whale_cnn")
    model.add(keras.Input(shape=input_shape))
    for k in range(3):
        model.add(layers.Conv2D(filters * 2 ** k, 3, padding="same", activation="relu", name=f"conv{k + 1}"))
        model.add(layers.MaxPooling2D(2, name=f"pool{k + 1}"))
    model.add(layers.Flatten(name="flatten"))
    model.add(layers.Dropout(dropout))
    model.add(layers.Dense(dense_units, activation="relu", name="dense"))
    model.add(layers.Dropout(dropout))
    model.add(layers.Dense(n_classes, activation="softmax", name="output"))
    return model


def build_whale_cnn_bn(input_shape, n_classes, filters, dropout):
    import keras
    from keras import layers

    _check_input("whale_cnn_bn", input_shape, 3)
    model = keras.Sequential(name="whale_cnn_bn")
    model.add(keras.Input(shape=input_shape))
    for k in range(3):
        model.add(layers.Conv2D(filters * 2 ** k, 3, padding="same", use_bias=False, name=f"conv{k + 1}"))
        model.add(layers.BatchNormalization(name=f"bn{k + 1}"))
        model.add(layers.ReLU(name=f"relu{k + 1}"))
        model.add(layers.MaxPooling2D(2, name=f"pool{k + 1}"))
    model.add(layers.GlobalAveragePooling2D(name="gap"))
    model.add(layers.Dropout(dropout))
    model.add(layers.Dense(n_classes, activation="softmax", name="output"))
    return model


def build_whale_conv1d(input_shape, n_classes, filters, dropout):
    import keras
    from keras import layers

    _check_input("whale_conv1d", input_shape, 3)
    if input_shape[-1] != 1:
        raise ParameterError(f"model 'whale_conv1d' needs one channel (F, T, 1), got {tuple(input_shape)}")
    f, t = input_shape[0], input_shape[1]
    model = keras.Sequential(name="whale_conv1d")
    model.add(keras.Input(shape=input_shape))
    # (F, T, 1) -> (T, F): time steps with the frequency rows as channels
    model.add(layers.Reshape((f, t), name="squeeze"))
    model.add(layers.Permute((2, 1), name="time_major"))
    for k in range(2):
        model.add(layers.Conv1D(filters * 2 ** (k + 1), 5, padding="same", activation="relu", name=f"conv{k + 1}"))
        model.add(layers.MaxPooling1D(2, name=f"pool{k + 1}"))
    model.add(layers.GlobalAveragePooling1D(name="gap"))
    model.add(layers.Dropout(dropout))
    model.add(layers.Dense(n_classes, activation="softmax", name="output"))
    return model


MODELS = (
    ModelSpec("whale_cnn", build_whale_cnn,
              "small spectrogram CNN (3x Conv2D 3x3 + max-pool, Flatten, Dense 64, softmax), Kaggle-solution style",
              (FILTERS, DROPOUT, Param("dense_units", int, 64, "units of the hidden dense layer", low=1))),
    ModelSpec("whale_cnn_bn", build_whale_cnn_bn,
              "spectrogram CNN with BatchNorm after each conv and global average pooling", (FILTERS, DROPOUT)),
    ModelSpec("whale_conv1d", build_whale_conv1d,
              "Conv1D over time with frequency rows as channels, global average pooling", (FILTERS, DROPOUT)),
)
