"""Plugin system: built-ins, entry-point discovery, selective loading, broken plugins, duplicates."""
from __future__ import annotations

import json

import numpy as np
import pytest

import relmask
from relmask.errors import DuplicateNameError, ParameterError, PluginError, UnknownNameError
from relmask.plugin_system.components import Masker, Param
from relmask.plugin_system.plugins import Registry
from tests.conftest import EXAMPLE_PLUGIN, run_cli


def _plugins_json(env):
    proc = run_cli("plugins", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return {p["name"]: p for p in json.loads(proc.stdout)}


def test_builtin_plugins_are_listed_with_versions():
    plugins = _plugins_json({})
    for mod in ("relmask_plugins.maskers", "relmask_plugins.relevance", "relmask_plugins.whale",
                "relmask_plugins.fer", "relmask_plugins.metrics", "relmask_plugins.faithfulness"):
        assert plugins[mod]["builtin"] and plugins[mod]["version"] == relmask.__version__
        assert plugins[mod]["error"] is None
    for mod, experiment in (("relmask_plugins.whale", "whale"), ("relmask_plugins.fer", "fer"),
                            ("relmask_plugins.faithfulness", "faithfulness")):
        assert plugins[mod]["hooks"]["register_experiments"] == [experiment]
    assert set(plugins["relmask_plugins.maskers"]["hooks"]["register_maskers"]) >= {"keep", "negative", "mean",
                                                                                  "soft", "band", "frame"}
    assert set(plugins["relmask_plugins.metrics"]["hooks"]["register_metrics"]) == {
        "pixel_flipping", "road", "roar", "kar", "model_randomisation"}


def test_third_party_plugin_discovered_and_broken_ones_reported(plugin_site):
    plugins = _plugins_json(plugin_site)
    example = plugins["relmask-example"]
    assert example["version"] == "0.3.0" and not example["builtin"] and example["error"] is None
    assert example["hooks"] == {"register_maskers": ["example_invert"],
                                "register_relevance_methods": ["example_constant"],
                                "register_domains": ["example_blobs"], "register_models": ["example_mlp"],
                                "register_metrics": ["example_gini"],
                                "register_experiments": ["example_masking"],
                                "register_reproduce_configs": ["example"],
                                "register_lrp_rules": ["example_epsilon"],
                                "register_canonizers": ["example_fold_rescaling"]}
    clash = plugins["relmask-broken:clash"]
    assert "DuplicateNameError" in clash["error"]
    assert "'relmask_plugins.maskers'" in clash["error"] and "'relmask-broken:clash'" in clash["error"]
    broken = plugins["relmask-broken:import_error"]
    assert "ImportError" in broken["error"] and "no_such_module" in broken["error"]
    # the built-ins still work beside the broken plugins
    assert plugins["relmask_plugins.maskers"]["error"] is None

    text = run_cli("plugins", env=plugin_site)
    assert text.returncode == 0
    assert "relmask-broken:import_error 0.0.1 (plugin)  FAILED: load: ImportError" in text.stdout


def test_third_party_experiment_runs_by_name(plugin_site, tmp_path):
    """register_experiments: a plugin's experiment is listed, its declared parameters are checked before a kernel
    starts, and `relmask run NAME` executes its notebook."""
    listed = run_cli("list", "experiments", env=plugin_site)
    assert listed.returncode == 0 and "example_masking" in listed.stdout and "example_masking.ipynb" in listed.stdout
    bad = run_cli("run", "example_masking", "-p", "fraction", "1.5", "-o", str(tmp_path / "bad"), env=plugin_site)
    assert bad.returncode == 2 and "'fraction' = 1.5 is out of range" in bad.stderr
    ok = run_cli("run", "example_masking", "-p", "fraction", "0.25", "-o", str(tmp_path / "ok"), env=plugin_site)
    assert ok.returncode == 0, ok.stderr
    results = json.loads((tmp_path / "ok" / "results.json").read_text())
    assert results["masked_fraction"] == pytest.approx(0.25, abs=0.05)


def test_third_party_reproduce_config_is_found_by_name(plugin_site):
    """register_reproduce_configs: a plugin's config is listed and ``--config NAME`` resolves to its file."""
    listed = run_cli("list", "configs", env=plugin_site)
    assert listed.returncode == 0, listed.stderr
    assert "example — the example experiment on random inputs  [relmask-example]" in listed.stdout
    assert "quick — " in listed.stdout and "[relmask_plugins.configs]" in listed.stdout  # the built-ins beside it
    import os
    import subprocess
    import sys

    code = ("from relmask.running.reproduce import load_config; c = load_config('example'); "
            "print(c.path, c.runs[0].name)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **plugin_site})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(EXAMPLE_PLUGIN / "relmask_example" / "example.yaml"),
                                   "example"]


def test_third_party_lrp_rule_and_canonizer_used_by_a_composite(plugin_site):
    """register_lrp_rules and register_canonizers: lrp.composite names the plugin's rule and canonizer (the
    in-process checks of both are in tests/core/test_relevance_registry.py)."""
    code = ("import numpy as np, keras, relmask; "
            "m = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.Rescaling(-1.5, 0.2), "
            "keras.layers.ReLU(), keras.layers.Dense(3)]); x = np.random.default_rng(0).normal(size=(2, 5)); "
            "r = lambda rule, c: relmask.explain(m, x, 'lrp.composite', targets=0, rules={'Dense': rule}, "
            "canonizers=c); "
            "print(np.allclose(r('example_epsilon', []), r('epsilon', []), rtol=1e-6, atol=1e-7), "
            "np.allclose(r('z_plus', ['example_fold_rescaling']), r('z_plus', []), rtol=1e-3))")
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **plugin_site, "RELMASK_LOAD_PLUGINS": "relmask-example"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False"]


def test_load_plugins_env_selects_distributions(plugin_site):
    only = _plugins_json({**plugin_site, "RELMASK_LOAD_PLUGINS": "relmask-example"})
    assert "relmask-example" in only and not any(n.startswith("relmask-broken") for n in only)
    none = _plugins_json({**plugin_site, "RELMASK_LOAD_PLUGINS": ""})
    assert all(p["builtin"] for p in none.values())
    assert "relmask_plugins.maskers" in none  # built-ins are not subject to the filter


def test_third_party_components_usable_from_the_api(plugin_site):
    # one process exercises all five hooks: register_maskers, register_relevance_methods,
    # register_domains, register_models and register_metrics of the example plugin
    code = ("import numpy as np, relmask; x = np.arange(8, dtype='float32').reshape(2, 4); "
            "r = relmask.explain(None, x, 'example_constant', value=2.0); "
            "d = relmask.get_domain('example_blobs').load('random', n=6); "
            "m = relmask.get_model('example_mlp').build(d.x.shape[1:], d.n_classes, units=3); "
            "g = relmask.evaluate(None, x, np.array([0, 1]), np.array([[0, 0, 0, 1], [1, 1, 1, 1.]]), "
            "'example_gini', eps=0.0)['gini']; "
            "print(relmask.mask(x, x, 'example_flip', fraction=0.25).tolist(), float(r.sum()), "
            "len(d), d.ids[0], m.output_shape, g.tolist())")
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **plugin_site, "RELMASK_LOAD_PLUGINS": "relmask-example"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[[0.0,", "1.0,", "2.0,", "-3.0],", "[4.0,", "5.0,", "6.0,", "-7.0]]", "16.0",
                                   "6", "blob0", "(None,", "2)", "[0.75,", "0.0]"]


class _Toy(Masker):
    name = "toy"
    description = "toy"
    params = (Param("k", int, 1),)

    def apply(self, x, relevance, rng, k):
        return x


def test_registry_duplicates_aliases_and_unknown_names():
    reg = Registry("masker", Masker)
    reg.add(_Toy(), "plugin_a", aliases=("toy2",))
    assert reg.get("toy2") is reg.get("toy")
    with pytest.raises(DuplicateNameError, match="'plugin_a' and plugin 'plugin_b'"):
        reg.add(_Toy(), "plugin_b")
    with pytest.raises(DuplicateNameError, match="'toy2'"):
        reg.add(_Toy(), "plugin_b", name="other", aliases=("toy2",))
    with pytest.raises(UnknownNameError, match="did you mean 'toy'"):
        reg.get("tyo")
    with pytest.raises(PluginError, match=r"is not a relmask.plugin_system.components.Masker"):
        reg.add(object(), "plugin_c", name="x")


def test_component_parameters_are_checked():
    toy = _Toy()
    assert toy.resolve_params({}) == {"k": 1}
    with pytest.raises(ParameterError, match="unknown parameter 'kk' \\(did you mean 'k'\\?\\)"):
        toy.resolve_params({"kk": 2})
    with pytest.raises(ParameterError, match="'k' must be int, got bool"):
        toy.resolve_params({"k": True})
    with pytest.raises(ParameterError, match="must be int, got str"):
        toy.resolve_params({"k": "3"})
    assert Param("a", float, 0.5).check(2, "o") == 2.0 and isinstance(Param("a", float).check(2, "o"), float)
    with pytest.raises(ParameterError, match="one of 'x', 'y'"):
        Param("c", str, "x", choices=("x", "y")).check("z", "o")


def test_list_command_shows_parameters():
    proc = run_cli("list", "maskers", "--json")
    assert proc.returncode == 0, proc.stderr
    maskers = json.loads(proc.stdout)["maskers"]
    keep = {p["name"]: p for p in maskers["keep"]["params"]}
    assert keep["fraction"]["default"] == 0.3 and keep["fill"]["choices"][0] == "zero"
    assert maskers["negative"]["aliases"] == ["negative_masking"]


def test_the_kinds_table_is_what_hooks_registries_cli_and_api_are_made_of(capsys):
    """One row per hookspec; a registry, a `relmask list` word and (where the row names one) a documented
    relmask.list_X()/get_X(name) pair per row, and nothing beside them."""
    import inspect

    from relmask.cli import build_parser, main
    from relmask.plugin_system import hookspecs
    from relmask.plugin_system.kinds import KINDS
    from relmask.plugin_system.plugins import get_plugin_manager

    specs = {n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, "relmask_spec")}
    hooks = [kind.hook for kind in KINDS]
    assert sorted(hooks) == sorted(specs) and len(set(hooks)) == len(hooks)
    assert all(getattr(hookspecs, kind.hook) is kind.spec for kind in KINDS)
    for field in ("cli_word", "api_name"):
        words = [getattr(kind, field) for kind in KINDS if getattr(kind, field)]
        assert len(set(words)) == len(words), field

    registries = get_plugin_manager().registries
    assert list(registries) == hooks
    assert all((registries[k.hook].kind, registries[k.hook].cls) == (k.words, k.cls) for k in KINDS)

    assert all(build_parser().parse_args(["list", kind.cli_word]).kind == kind.cli_word for kind in KINDS)
    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert list(listed) == [kind.cli_word for kind in KINDS]
    assert {"epsilon", "z_plus", "flat", "zb"} <= set(listed["rules"])
    assert listed["canonizers"]["batchnorm"]["plugin"] == "relmask_plugins.relevance"

    public = {n for n in relmask.__all__ if n.startswith(("list_", "get_"))}
    assert public == {f"{verb}_{kind.api_name}{'s' if verb == 'list' else ''}" for kind in KINDS if kind.api_name
                      for verb in ("list", "get")}
    for kind in (k for k in KINDS if k.api_name):
        lister, getter = getattr(relmask, f"list_{kind.api_name}s"), getattr(relmask, f"get_{kind.api_name}")
        assert lister() == registries[kind.hook].names() == sorted(listed[kind.cli_word])
        assert str(inspect.signature(lister)) == "() -> list[str]"
        assert inspect.signature(getter).parameters["name"].annotation is str
        assert inspect.signature(getter).return_annotation is kind.cls
        assert kind.words in lister.__doc__ and kind.words in getter.__doc__ and kind.cls.__name__ in getter.__doc__
        assert (lister.__module__, getter.__qualname__) == ("relmask", f"get_{kind.api_name}")
        for name in lister():
            assert isinstance(getter(name), kind.cls)


def test_public_get_and_list_api():
    assert "keep" in relmask.list_maskers()
    assert relmask.get_masker("negative_masking").name == "negative"
    for lister in (relmask.list_methods, relmask.list_domains, relmask.list_models, relmask.list_metrics):
        assert isinstance(lister(), list)
    with pytest.raises(UnknownNameError, match="unknown domain 'nope'"):
        relmask.get_domain("nope")
    assert np.isfinite(relmask.mask(np.ones((1, 3)), np.ones((1, 3)), "soft")).all()
