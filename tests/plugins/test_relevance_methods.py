"""Every built-in method through the conformance kit (TF in-process, JAX in one subprocess), plus checks
against tf-explain and the explain() contract."""
from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers as L  # noqa: E402

import relmask  # noqa: E402
from relmask import testing  # noqa: E402
from relmask.errors import DataError, ParameterError  # noqa: E402

METHODS = [m for m in relmask.list_methods() if relmask.get_method(m).needs_model
           and m.startswith(("gradient", "gradcam", "integrated", "smoothgrad", "occlusion", "lrp.", "tfexplain."))]


@pytest.fixture(scope="module")
def model():
    return testing.tiny_model()


@pytest.mark.parametrize("check", testing.conformance_checks(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", METHODS)
def test_conformance_tf(method, check, model):
    check(method, model if check is not testing.check_conservation else None, testing.tiny_input())


def test_conformance_jax_subprocess(model):
    errors = testing.check_backend_agreement([m for m in METHODS if not m.startswith("tfexplain")], model,
                                             testing.tiny_input())
    assert set(errors) >= {"gradient", "gradcam", "lrp.epsilon", "occlusion"}


def test_kit_from_the_shell_reference_agree_and_check(tmp_path, model, capsys):
    """`relmask check`: a reference folder agrees with itself; a changed map is reported."""
    from relmask.cli import main

    ref = tmp_path / "ref"
    testing.write_reference(ref, ["gradient", "lrp.epsilon"], model, testing.tiny_input())
    assert main(["check", "--reference", str(ref), "--agreement-only"]) == 0
    assert main(["check", "--methods", "gradient,lrp.epsilon", "--reference", str(ref),
                 "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "| gradient | ok | ok | ok | ok | ok | 0.0e+00 |" in out
    maps = ref / "maps" / "lrp.epsilon.npy"
    r = np.load(maps)
    np.save(maps, r + 1e-3 * max(1.0, np.abs(r).max()))  # an error of 1e-3 relative to max |R|, tolerance 1e-4
    assert main(["check", "--reference", str(ref), "--agreement-only", "--json", str(tmp_path / "e.json")]) == 1
    errors = __import__("json").loads((tmp_path / "e.json").read_text())
    assert errors["gradient"] == 0.0 and errors["lrp.epsilon"] == pytest.approx(1e-3, rel=1e-3)
    assert main(["check", "--methods", "lrp.epsilon", "--reference", str(ref)]) == 1
    assert "FAIL" in capsys.readouterr().out.splitlines()[-1]
    # a method the reference lacks: `check --reference` leaves it out of the comparison, the function names it
    assert main(["check", "--methods", "gradient,gradcam", "--reference", str(ref)]) == 0
    assert "| gradcam | ok | ok | ok | ok | ok | — |" in capsys.readouterr().out
    with pytest.raises(ParameterError, match=r"\['gradcam'\] are not in the reference .*gradient, lrp.epsilon"):
        testing.compare_with_reference(ref, ["gradient", "gradcam"])
    with pytest.raises(ParameterError, match=r"is not a reference folder .*relmask check --write-reference"):
        testing.compare_with_reference(tmp_path / "maps-only")
    # the same refusal from the shell is a one-line error, as are modes that cannot go together
    assert main(["check", "--reference", str(tmp_path / "maps-only"), "--agreement-only"]) == 2
    assert main(["check", "--agreement-only"]) == 2
    assert main(["check", "--write-reference", str(tmp_path / "w"), "--reference", str(ref)]) == 2
    err = capsys.readouterr().err
    assert "is not a reference folder" in err and "needs --reference" in err and "cannot be combined" in err
    assert main(["check", "--write-reference", str(tmp_path / "w"), "--methods", "gradient"]) == 0
    assert (tmp_path / "w" / "reference.json").exists() and (tmp_path / "w" / "maps" / "gradient.npy").exists()


def test_kit_passes_precision_to_explain(model):
    """Every check runs explain() at the precision it is given (an unknown one reaches explain's validation)."""
    for check in testing.conformance_checks():
        with pytest.raises(ParameterError, match="precision must be one of highest, default"):
            check("lrp.epsilon", model if check is not testing.check_conservation else None,
                  testing.tiny_input(), precision="tf32")


def test_gradcam_equals_tfexplain_raw_gradcam():
    """tf-explain differentiates the model output and applies no ReLU: on a linear-output model, relmask's
    map equals ReLU of tf-explain's raw-gradient (use_guided_grads=False) CAM, both bilinearly upsampled."""
    import tensorflow as tf

    from relmask_plugins.relevance.gradcam import gradcam_maps, upsample
    from relmask_plugins.relevance.tfexplain import gradcam as tfx_gradcam

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((16, 16, 3)), L.Conv2D(4, 3, activation="relu", padding="same"),
                          L.MaxPooling2D(2), L.Conv2D(8, 3, activation="relu", name="last"), L.Flatten(), L.Dense(3)])
    x = np.random.default_rng(0).normal(size=(6, 16, 16, 3)).astype(np.float32)
    t = np.array([0, 1, 2, 0, 1, 2])
    raw_tfx = tfx_gradcam(m, x, t, layer_name="last", use_guided_grads=False, resize=False)
    raw = gradcam_maps(m, "last", tf.constant(x), tf.constant(t, tf.int32), relu=False, resize=False).numpy()
    assert np.abs(raw - raw_tfx).max() <= 1e-5 * np.abs(raw_tfx).max()
    ours = relmask.explain(m, x, "gradcam", targets=t, layer="last")[..., 0]
    want = np.asarray(upsample(tf.constant(np.maximum(raw_tfx, 0)), (16, 16)))
    assert np.abs(ours - want).max() <= 1e-5 * np.abs(want).max()


def test_occlusion_single_window_is_score_drop(model):
    x = testing.tiny_input(n=3)
    r = relmask.explain(model, x, "occlusion", window=12, targets=1)  # one window covering everything
    z = np.asarray(relmask.relevance.graph.logits(model, x))
    z0 = np.asarray(relmask.relevance.graph.logits(model, np.zeros_like(x)))
    assert np.allclose(r[:, 0, 0, 0], z[:, 1] - z0[:, 1], atol=1e-5)


def test_integrated_gradients_completeness(model):
    x = testing.tiny_input(n=3)
    r = relmask.explain(model, x, "integrated_gradients", targets=2, steps=256)
    z = np.asarray(relmask.relevance.graph.logits(model, x))
    z0 = np.asarray(relmask.relevance.graph.logits(model, np.zeros_like(x)))
    assert np.allclose(r.reshape(3, -1).sum(1), z[:, 2] - z0[:, 2], rtol=0.02, atol=0.02)


def test_conv1d_gradcam_and_explain_errors():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((20, 2)), L.Conv1D(3, 5, activation="relu"), L.GlobalAveragePooling1D(),
                          L.Dense(2, activation="softmax")])
    x = np.random.default_rng(0).normal(size=(2, 20, 2)).astype(np.float32)
    assert relmask.explain(m, x, "gradcam").shape == x.shape
    with pytest.raises(ParameterError, match="out of range"):
        relmask.explain(m, x, "gradient", targets=5)
    with pytest.raises(ParameterError, match="unknown parameter 'windw'"):
        relmask.explain(m, x, "occlusion", windw=3)
    with pytest.raises(ParameterError, match="no layer 'nope'"):
        relmask.explain(m, x, "gradcam", layer="nope")
    with pytest.raises(DataError, match="NaN"):
        relmask.explain(m, np.full_like(x, np.nan), "gradient")
    with pytest.raises(ParameterError, match="precision must be one of highest, default"):
        relmask.explain(m, x, "gradient", precision="tf32")


def test_explain_turns_tensorfloat32_off_while_it_runs(model):
    """precision="highest" (the default) computes with TF32 off and restores the switch; "default" leaves it.
    (On a CPU TF32 changes no number, so this checks the switch; the effect is measured on a GPU, see docs.)"""
    import tensorflow as tf

    from relmask_plugins.relevance.methods import BuiltinMethod

    seen = []

    class Spy(BuiltinMethod):
        name = "spy"

        def attribute(self, model, x, targets):
            seen.append(tf.config.experimental.tensor_float_32_execution_enabled())
            return np.zeros(x.shape, np.float32)

    assert tf.config.experimental.tensor_float_32_execution_enabled()
    x = testing.tiny_input(n=2)
    relmask.explain(model, x, Spy())
    relmask.explain(model, x, Spy(), precision="default")
    assert seen == [False, True] and tf.config.experimental.tensor_float_32_execution_enabled()


def test_matmul_precision_on_jax(monkeypatch):
    """The JAX branch sets jax's default matmul precision inside the block only."""
    jax = pytest.importorskip("jax")
    from relmask.relevance import _autodiff

    monkeypatch.setattr(_autodiff, "backend", lambda: "jax")
    before = jax.config.jax_default_matmul_precision
    with _autodiff.matmul_precision("highest"):
        assert jax.config.jax_default_matmul_precision == "highest"
    assert jax.config.jax_default_matmul_precision == before


@pytest.mark.parametrize("method", ["gradient", "lrp.epsilon"])
def test_explain_keeps_no_model_alive(method):
    """The engine's per-model caches (compiled functions, the graph walk's plan) go with the model: a
    notebook that trains and explains many models does not keep every one of them in memory."""
    import gc
    import weakref

    from relmask.relevance import engine, graph

    model, x = testing.tiny_model(), testing.tiny_input()
    first = relmask.explain(model, x, method)
    functions = engine.compiled_functions(model)
    assert functions, "explain() compiled nothing for the model"
    np.testing.assert_array_equal(relmask.explain(model, x, method), first)
    assert engine.compiled_functions(model) == functions  # the second call reused the compiled functions
    assert graph.functional_graph(model) in graph._plans  # every method walks the graph (to strip the softmax)
    ref, walked, plans = weakref.ref(model), weakref.ref(graph.functional_graph(model)), len(graph._plans)
    del model, functions
    gc.collect()
    assert ref() is None, "explain() keeps a reference to the model"
    assert walked() is None and len(graph._plans) < plans  # its plan went with it (other dead models' may too)


def test_explain_lives_in_its_own_module():
    import importlib

    from relmask.relevance import explain

    module = importlib.import_module("relmask.relevance.explain")
    assert relmask.explain is explain is module.explain
    assert explain.__module__ == "relmask.relevance.explain"
