"""LRP rules and canonizers registered by plugins: a composite names them like the built-ins, unknown names are
refused with the registered ones listed, and the relevance modules import each other without a cycle."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers as L  # noqa: E402

import relmask  # noqa: E402
from relmask.errors import ParameterError, UnknownNameError  # noqa: E402
from relmask.plugin_system.plugins import registry  # noqa: E402
from relmask.relevance.lrp import Rule, composite, lrp  # noqa: E402
from tests.conftest import EXAMPLE_PLUGIN, ROOT  # noqa: E402

from .test_relevance_lrp import _dense_model, _nontrivial_statistics  # noqa: E402


@pytest.fixture
def example_rules(monkeypatch):
    """The example plugin's rule (``example_epsilon``: the ε rule written out) and canonizer
    (``example_fold_rescaling``), registered in this process for the test's duration."""
    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    import relmask_example

    registry("register_lrp_rules").add(relmask_example.NaiveEpsilon(), "tests")
    registry("register_canonizers").add(relmask_example.FoldRescaling(), "tests")
    yield relmask_example
    registry("register_lrp_rules").remove_plugin("tests")
    registry("register_canonizers").remove_plugin("tests")


def _conv_model():
    """Conv → BN (folded) → ReLU → max-pool → Conv(ReLU) → Flatten → Dense(ReLU) → Dense(softmax)."""
    keras.utils.set_random_seed(6)
    inp = keras.Input((10, 10, 2))
    h = L.Conv2D(4, 3, padding="same", name="c1")(inp)
    h = L.ReLU()(L.BatchNormalization(name="bn")(h))
    h = L.Conv2D(3, 3, activation="relu", name="c2")(L.MaxPooling2D(2)(h))
    h = L.Dense(5, activation="relu", name="d1")(L.Flatten()(h))
    return _nontrivial_statistics(keras.Model(inp, L.Dense(3, activation="softmax", name="d2")(h)), seed=6)


def test_builtin_rules_and_canonizer_come_from_the_builtin_plugin():
    rules, canonizers = registry("register_lrp_rules"), registry("register_canonizers")
    assert {"epsilon", "z_plus", "alpha_beta", "flat", "w_square", "zb"} <= set(rules.names())
    assert {rules.entries[n].plugin for n in ("epsilon", "zb")} == {"relmask_plugins.relevance"}
    assert canonizers.entries["batchnorm"].plugin == "relmask_plugins.relevance"


@pytest.mark.parametrize("model_fn, rules", [
    (_dense_model, {"Dense": "example_epsilon"}),                     # by class: every Dense layer
    (_conv_model, {"c1": "example_epsilon", "d1": "example_epsilon"}),  # by layer name, BN folded into c1
])
@pytest.mark.parametrize("bias", ["include", "ignore"])
def test_plugin_rule_in_a_composite_gives_the_builtin_rules_map(example_rules, model_fn, rules, bias):
    model = model_fn()
    x = np.random.default_rng(1).normal(size=(4, *model.input_shape[1:])).astype(np.float32)
    targets = np.array([0, 1, 2, 1])
    mine = relmask.explain(model, x, "lrp.composite", targets=targets, rules=rules, bias=bias)
    builtin = relmask.explain(model, x, "lrp.composite", targets=targets, bias=bias,
                              rules={layer: "epsilon" for layer in rules})
    assert np.abs(builtin).max() > 0
    np.testing.assert_allclose(mine, builtin, rtol=1e-6, atol=1e-7 * np.abs(builtin).max())


def test_plugin_canonizer_is_applied(example_rules):
    """Folding Rescaling(-1.5, 0.2) into the Dense before it gives the map of the model with the folded weights;
    without the canonizer the map differs (z⁺ sees the kernel's signs before the flip)."""
    keras.utils.set_random_seed(2)
    scaled = keras.Sequential([keras.Input((6,)), L.Dense(5, name="d1"), L.Rescaling(-1.5, 0.2), L.ReLU(),
                               L.Dense(3, name="d2")])
    kernel, bias = scaled.get_layer("d1").get_weights()
    folded = keras.Sequential([keras.Input((6,)), L.Dense(5, name="d1"), L.ReLU(), L.Dense(3, name="d2")])
    folded.get_layer("d1").set_weights([kernel * -1.5, bias * -1.5 + 0.2])
    folded.get_layer("d2").set_weights(scaled.get_layer("d2").get_weights())
    x = np.random.default_rng(3).normal(size=(4, 6)).astype(np.float32)

    def explain(model, canonizers):
        return relmask.explain(model, x, "lrp.composite", targets=0, rules={"Dense": "z_plus"},
                               canonizers=canonizers)

    want = explain(folded, [])
    np.testing.assert_allclose(explain(scaled, ["batchnorm", "example_fold_rescaling"]), want, rtol=1e-5,
                               atol=1e-6 * np.abs(want).max())
    assert not np.allclose(explain(scaled, ["batchnorm"]), want, rtol=1e-3)


def test_without_canonizers_batchnorm_is_not_folded():
    """``canonizers=[]``: BatchNormalization gets the ε rule of an elementwise affine layer instead of being folded
    into the Dense before it, so z⁺ gives another map; the default folds it (the golden maps' convention)."""
    model = _dense_model()
    x = np.random.default_rng(4).normal(size=(3, 7)).astype(np.float32)
    default = relmask.explain(model, x, "lrp.composite", targets=0, rules={"Dense": "z_plus"})
    named = relmask.explain(model, x, "lrp.composite", targets=0, rules={"Dense": "z_plus"}, canonizers=["batchnorm"])
    unfolded = relmask.explain(model, x, "lrp.composite", targets=0, rules={"Dense": "z_plus"}, canonizers=[])
    np.testing.assert_array_equal(default, named)
    assert not np.allclose(unfolded, default, rtol=1e-3)


def test_unknown_rule_and_canonizer_names_list_the_registered_ones():
    model = _dense_model()
    x = np.ones((1, 7), np.float32)
    with pytest.raises(ParameterError, match=r"parameter 'rules': unknown LRP rule 'epsilonn' \(did you mean "
                                             r"'epsilon'\?\); known: alpha_beta, epsilon, flat, .*z_plus, zb"):
        relmask.explain(model, x, "lrp.composite", rules={"d1": "epsilonn"})
    with pytest.raises(ParameterError, match="parameter 'canonizers': unknown LRP canonizer 'bn'; known: batchnorm"):
        relmask.explain(model, x, "lrp.composite", canonizers=["bn"])
    with pytest.raises(UnknownNameError, match="unknown LRP rule 'gamma'; known: alpha_beta, epsilon"):
        Rule("gamma")
    with pytest.raises(UnknownNameError, match="unknown LRP canonizer 'merge_bn'"):
        composite(everywhere="epsilon", canonizers=["merge_bn"])
    with pytest.raises(ParameterError, match="needs a rule for Dense and for convolutional layers"):
        composite(first="flat")


def test_engine_and_plugin_rule_objects_meet_only_through_the_registry(example_rules):
    """A composite built directly with the engine names the plugin's rule like a built-in one."""
    model = _dense_model()
    x = np.random.default_rng(5).normal(size=(2, 7)).astype(np.float32)
    targets = np.zeros(2, np.int32)
    mine = np.asarray(lrp(model, x, targets, composite(everywhere="example_epsilon", canonizers=["batchnorm"])))
    builtin = np.asarray(lrp(model, x, targets, composite(everywhere="epsilon", canonizers=["batchnorm"])))
    np.testing.assert_allclose(mine, builtin, rtol=1e-6, atol=1e-7 * np.abs(builtin).max())


# -- module structure -----------------------------------------------------------------------------------------
RELEVANCE_PACKAGES = ("relmask.relevance", "relmask_plugins.relevance")


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Every module ``module`` imports, at the top or inside a function (lazy imports count). ``from pkg import
    sub`` of a module ``sub`` in ``known`` depends on ``pkg.sub``, not on the package."""
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found


def _relevance_modules() -> dict[str, Path]:
    modules = {}
    for package in RELEVANCE_PACKAGES:
        folder = ROOT / package.replace(".", "/")
        for path in folder.glob("*.py"):
            modules[package if path.name == "__init__.py" else f"{package}.{path.stem}"] = path
    return modules


def test_relevance_modules_import_each_other_without_a_cycle():
    modules = _relevance_modules()
    graph = {m: _imports(p, m, set(modules)) & set(modules) - {m} for m, p in modules.items()}
    done: set[str] = set()

    def visit(m, path):
        if m in path:
            cycle = [*path[path.index(m):], m]
            raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
        if m in done:
            return
        for n in sorted(graph[m]):
            visit(n, [*path, m])
        done.add(m)

    for m in sorted(graph):
        visit(m, [])


def test_relevance_core_imports_no_plugin():
    for module, path in _relevance_modules().items():
        if module.startswith("relmask.relevance"):
            assert not any(i.startswith("relmask_plugins") for i in _imports(path, module, set())), module


def test_registering_rules_imports_no_keras():
    """Listing plugins (which registers every rule and canonizer) loads no backend."""
    import subprocess

    code = ("import sys, relmask; from relmask.plugin_system.plugins import registry; "
            "print(len(registry('register_lrp_rules').names()), len(registry('register_canonizers').names()), "
            "'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["6", "1", "False"]
