"""Regenerate the golden relevance maps: ``python -m tests.golden.regenerate`` (from the repository root).

Writes, next to this file:

* ``model_weights.npz`` — the weights of :func:`golden_model`, drawn from NumPy's seeded generator (not Keras'
  initialisers, whose random streams may change between Keras versions), in ``model.get_weights()`` order;
* ``inputs.npz`` — a fixed input batch ``x`` and per-sample ``targets``;
* ``maps.npz`` — one relevance map per method of :data:`METHODS`, computed on the TensorFlow backend.

Regenerate only when a method's output changes *on purpose* (and say so in the commit); ``tests/
plugins/test_relevance_golden.py`` fails on any other change. Keep the files small (< 1 MB in total).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

HERE = Path(__file__).resolve().parent
INPUT_SHAPE = (16, 16, 2)
N_CLASSES = 3

#: every deterministic built-in method, with the (fast) parameters its golden map was computed with
METHODS = {
    "gradient": {}, "gradient_x_input": {}, "integrated_gradients": {"steps": 8},
    "smoothgrad": {"samples": 4, "seed": 0}, "gradcam": {}, "gradcam@conv2": {"layer": "conv2"},
    "occlusion": {"window": 4, "stride": 2}, "occlusion@blur": {"window": 5, "stride": 3, "baseline": "blur",
                                                                "score": "probability"},
    "lrp.epsilon": {"epsilon": 1e-3}, "lrp.z_plus": {}, "lrp.alpha_beta": {}, "lrp.flat": {}, "lrp.w_square": {},
    "lrp.zb": {"low": -2.0, "high": 2.0}, "lrp.composite": {"preset": "epsilon_plus_zb", "low": -2.0, "high": 2.0,
                                                            "rules": {"dense_1": "z_plus"}},
    "lrp.epsilon_plus": {}, "lrp.epsilon_plus_flat": {}, "lrp.epsilon_alpha2_beta1": {},
    "lrp.epsilon_alpha2_beta1_flat": {},
    "tfexplain.gradcam": {"layer_name": "conv2"}, "tfexplain.occlusion": {"patch_size": 4},
    "tfexplain.vanilla_gradients": {}, "tfexplain.integrated_gradients": {"n_steps": 6},
    "tfexplain.smoothgrad": {"num_samples": 3, "noise": 0.5, "seed": 0},
}


def method_name(key: str) -> str:
    """Registry name of a :data:`METHODS` key (``name@variant`` runs ``name`` with other parameters)."""
    return key.split("@")[0]


def golden_model():
    """Conv → BN (folded) → ReLU → Conv(relu) → max-pool → SeparableConv → average-pool → Dense(relu) →
    Dense(softmax): the layer kinds every rule and method treats differently, in a few hundred weights."""
    import keras
    from keras import layers as L

    return keras.Sequential([
        keras.Input(INPUT_SHAPE), L.Conv2D(4, 3, padding="same", name="conv1"), L.BatchNormalization(name="bn1"),
        L.ReLU(), L.Conv2D(6, 3, activation="relu", name="conv2"), L.MaxPooling2D(2),
        L.SeparableConv2D(6, 3, padding="same", activation="relu", name="sep"), L.AveragePooling2D(2),
        L.Flatten(), L.Dense(8, activation="relu", name="dense_1"),
        L.Dense(N_CLASSES, activation="softmax", name="dense_2")], name="golden")


def random_weights(model, seed: int = 0) -> list[np.ndarray]:
    """He-scaled normal kernels, small non-zero biases and BN statistics (every code path matters)."""
    rng = np.random.default_rng(seed)
    out = []
    for w in model.weights:
        shape, path = tuple(w.shape), w.path
        if "moving_variance" in path or "gamma" in path:
            v = rng.uniform(0.5, 1.5, shape)
        elif "bias" in path or "beta" in path or "moving_mean" in path:
            v = rng.normal(0.0, 0.1, shape)
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else shape[0]
            v = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        out.append(v.astype(np.float32))
    return out


def load():
    """(model with the stored weights, x, targets)."""
    model = golden_model()
    with np.load(HERE / "model_weights.npz") as f:
        model.set_weights([f[f"w{i}"] for i in range(len(f.files))])
    with np.load(HERE / "inputs.npz") as f:
        return model, f["x"], f["targets"]


def compute(model, x, targets) -> dict[str, np.ndarray]:
    import relmask

    return {key: relmask.explain(model, x, method_name(key), targets=targets, progress=False, **params)
            for key, params in METHODS.items()}


def main() -> None:
    model = golden_model()
    weights = random_weights(model)
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, (4, *INPUT_SHAPE)).astype(np.float32)
    targets = np.array([0, 1, 2, 1], np.int32)
    for name, arrays in (("model_weights.npz", {f"w{i}": w for i, w in enumerate(weights)}),
                         ("inputs.npz", {"x": x, "targets": targets})):
        _save_npz(HERE / name, arrays)
    model, x, targets = load()
    _save_npz(HERE / "maps.npz", compute(model, x, targets))
    total = sum((HERE / n).stat().st_size for n in ("model_weights.npz", "inputs.npz", "maps.npz"))
    print(f"wrote {len(METHODS)} golden maps to {HERE} ({total / 1024:.0f} KiB)")


def _save_npz(path: Path, arrays: dict) -> None:
    import io

    from relmask.io import atomic_write

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(path, buf.getvalue())


if __name__ == "__main__":
    main()
