"""Conformance kit for relevance methods: use it in a plugin's own pytest suite.

    from relmask.testing import check_method, conformance_checks

    @pytest.mark.parametrize("check", conformance_checks())
    def test_my_method(check):
        check("my_plugin.method")            # raises AssertionError with a message on failure

or ``check_method("my_plugin.method")`` to run every check at once (returns {check name: "ok" | message}
when ``raise_errors=False``). Each check builds a tiny seeded model (or uses ``model``/``x`` you pass). The
backend-agreement check saves weights, runs the method in a ``KERAS_BACKEND=jax`` subprocess and compares.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: per-method keyword arguments the kit uses (fast settings)
FAST_PARAMS = {"integrated_gradients": {"steps": 8}, "smoothgrad": {"samples": 4},
               "occlusion": {"window": 4, "stride": 2}, "tfexplain.occlusion": {"patch_size": 4}}


def tiny_model(seed: int = 0, input_shape=(12, 12, 2), n_classes: int = 3, bias: bool = True):
    """A small seeded CNN (conv, BN, pooling, dense; softmax output). ``bias=False``: bias-free ReLU net."""
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(seed)
    layers = [keras.Input(input_shape), L.Conv2D(4, 3, padding="same", use_bias=bias, name="conv1"),
              L.ReLU(), L.Conv2D(6, 3, activation="relu", use_bias=bias, name="conv2"), L.MaxPooling2D(2),
              L.Flatten(), L.Dense(8, activation="relu", use_bias=bias), L.Dense(n_classes, activation="softmax",
                                                                                  use_bias=bias)]
    if bias:
        layers.insert(2, L.BatchNormalization())
    model = keras.Sequential(layers)
    rng = np.random.default_rng(seed)
    for w in model.weights:  # non-trivial biases and BN statistics, so that every code path matters
        if "bias" in w.path or "beta" in w.path or "moving_mean" in w.path:
            w.assign(rng.normal(0, 0.1, w.shape).astype("float32"))
        elif "moving_variance" in w.path or "gamma" in w.path:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
    return model


def tiny_input(seed: int = 0, n: int = 6, shape=(12, 12, 2)) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n,) + tuple(shape)).astype(np.float32)


def _explain(method, model, x, **kw):
    import relmask

    name = method if isinstance(method, str) else method.name
    return relmask.explain(model, x, method, **{**FAST_PARAMS.get(name, {}), **kw})


def _setup(method, model, x):
    return (model if model is not None else tiny_model()), (x if x is not None else tiny_input())


def check_shape(method, model=None, x=None):
    model, x = _setup(method, model, x)
    r = _explain(method, model, x)
    assert r.shape == x.shape, f"{method}: shape {r.shape} != input shape {x.shape}"
    assert r.dtype == np.float32, f"{method}: dtype {r.dtype} is not float32"
    assert np.isfinite(r).all(), f"{method}: non-finite relevance values"


def _batch_invariant(method) -> bool:
    import relmask

    m = relmask.get_method(method) if isinstance(method, str) else method
    return getattr(m, "batch_invariant", True)


def check_targets(method, model=None, x=None):
    """Per-sample targets give the same maps as explaining each sample alone."""
    if not _batch_invariant(method):
        return
    model, x = _setup(method, model, x)
    targets = np.arange(len(x)) % int(model.outputs[0].shape[-1])
    together = _explain(method, model, x, targets=targets)
    alone = np.concatenate([_explain(method, model, x[i:i + 1], targets=int(t)) for i, t in enumerate(targets)])
    _close(together, alone, f"{method}: per-sample targets differ from a one-by-one loop")


def check_batch_size(method, model=None, x=None):
    if not _batch_invariant(method):
        return
    model, x = _setup(method, model, x)
    _close(_explain(method, model, x, batch_size=len(x)), _explain(method, model, x, batch_size=4),
           f"{method}: result depends on batch_size")


def check_determinism(method, model=None, x=None):
    model, x = _setup(method, model, x)
    a, b = _explain(method, model, x), _explain(method, model, x)
    assert np.array_equal(a, b), f"{method}: two identical calls differ (max {np.abs(a - b).max():.3g})"


def check_conservation(method, model=None, x=None, rtol: float = 1e-4):
    """Where ``method.conserves``: input relevance sums to the explained logit on a bias-free ReLU net."""
    import relmask
    from relmask.relevance.graph import logits

    m = relmask.get_method(method) if isinstance(method, str) else method
    if not m.conserves:
        return
    model = model if model is not None else tiny_model(bias=False)
    x = x if x is not None else tiny_input()
    z = np.asarray(logits(model, x))
    t = z.argmax(-1)
    sums = _explain(method, model, x, targets=t).reshape(len(x), -1).sum(1)
    zt = z[np.arange(len(x)), t]
    err = np.abs(sums - zt).max() / np.abs(zt).max()
    assert err <= rtol, f"{method}: relevance sums differ from the logit by {err:.3g} (relative) > {rtol}"


def check_backend_agreement(methods, model=None, x=None, atol: float = 1e-4, timeout: float = 600) -> dict:
    """Run ``methods`` under JAX in one subprocess and compare with this process (TF). Returns {name: max err}."""
    import keras

    model, x = _setup(None, model, x)
    methods = [methods] if isinstance(methods, str) else list(methods)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model.save(tmp / "model.keras")
        np.save(tmp / "x.npy", x)
        (tmp / "spec.json").write_text(json.dumps({"methods": methods, "fast": FAST_PARAMS}))
        env = {**os.environ, "KERAS_BACKEND": "jax"}
        proc = subprocess.run([sys.executable, "-m", "relmask.testing", str(tmp)], env=env, capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"JAX subprocess failed:\n{proc.stderr[-3000:]}")
        errors = {}
        for name in methods:
            jax_r = np.load(tmp / f"{name}.npy")
            tf_r = _explain(name, model, x)
            scale = max(1.0, float(np.abs(tf_r).max()))
            errors[name] = float(np.abs(jax_r - tf_r).max() / scale)
    bad = {k: v for k, v in errors.items() if v > atol}
    assert not bad, f"TF and JAX disagree (max error relative to max |R|): {bad}"
    return errors


def conformance_checks() -> list:
    """The in-process checks, for ``pytest.mark.parametrize``."""
    return [check_shape, check_targets, check_batch_size, check_determinism, check_conservation]


def check_method(method, model=None, x=None, raise_errors: bool = True) -> dict:
    results = {}
    for check in conformance_checks():
        try:
            check(method, model, x)
            results[check.__name__] = "ok"
        except AssertionError as exc:
            if raise_errors:
                raise
            results[check.__name__] = str(exc)
    return results


def _close(a, b, msg, rtol=1e-4):
    scale = max(1e-6, float(np.abs(b).max()))
    err = float(np.abs(a - b).max()) / scale
    assert err <= rtol, f"{msg} (max error {err:.3g} relative to max |R|)"


def _jax_main(folder: str) -> None:
    """Subprocess side of check_backend_agreement (KERAS_BACKEND=jax)."""
    import keras

    folder = Path(folder)
    spec = json.loads((folder / "spec.json").read_text())
    model = keras.saving.load_model(folder / "model.keras", compile=False)
    x = np.load(folder / "x.npy")
    for name in spec["methods"]:
        np.save(folder / f"{name}.npy", _explain(name, model, x))


if __name__ == "__main__":
    _jax_main(sys.argv[1])
