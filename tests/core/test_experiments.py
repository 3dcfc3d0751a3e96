"""Experiments are plugins: the Experiment component, its parameters declared once, every registered experiment's
notebook, presets and Jupytext pair, and a core that knows no domain (no TensorFlow needed here)."""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

import relmask
from relmask.errors import ParameterError
from relmask.plugin_system.components import Experiment, config_params
from relmask.running.jupyter import out_of_sync, sync_notebook
from relmask.running.runner import check_parameters, parse_parameters

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_EXPERIMENTS = ("whale", "fer", "faithfulness")


# -- the component -----------------------------------------------------------------------------------------
@dataclass
class Settings:
    mode: str = field(default="a", metadata={"help": "which mode", "choices": ("a", "b")})
    rate: float = field(default=0.1, metadata={"help": "a share", "low": 0, "high": 1})
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    path: str | None = None
    checked: bool = False

    def validate(self):
        if len(set(self.seeds)) != len(self.seeds):
            raise ParameterError(f"seeds must be distinct, got {self.seeds}")
        self.checked = True
        return self


class Demo(Experiment):
    name = "demo"
    config = Settings


def test_params_come_from_the_config_dataclass():
    params = {p.name: p for p in Demo().params}
    assert list(params) == ["mode", "rate", "seeds", "path", "checked"]
    assert params["mode"].choices == ("a", "b") and params["mode"].help == "which mode"
    assert params["rate"].types == (float,) and params["rate"].range_text == "[0, 1]"
    assert params["seeds"].types == (list,) and params["seeds"].default == [0, 1]
    assert set(params["path"].types) == {str, type(None)} and params["path"].default is None
    assert config_params(Settings) == Demo().params


def test_configure_checks_names_types_choices_ranges_and_validate():
    cfg = Demo().configure({"rate": 1, "path": "x"})  # an int where a float is declared is widened
    assert isinstance(cfg, Settings) and cfg.rate == 1.0 and cfg.path == "x" and cfg.checked
    for bad, match in (({"rat": 0.2}, "unknown parameter 'rat' \\(did you mean 'rate'\\?\\)"),
                       ({"rate": "high"}, "'rate' must be float"),
                       ({"rate": 1.5}, "'rate' = 1.5 is out of range"),
                       ({"mode": "c"}, "'mode' must be one of 'a', 'b'"),
                       ({"seeds": [1, 1]}, "seeds must be distinct")):
        with pytest.raises(ParameterError, match=match):
            Demo().configure(bad)
    assert Demo().from_namespace({"mode": "b", "unrelated": 3}).mode == "b"


def test_an_unknown_preset_names_the_known_ones():
    demo = Demo()
    demo.presets = {"quick": Path("q.yaml")}
    with pytest.raises(KeyError, match="quick"):
        demo.preset("full")


# -- every registered experiment ----------------------------------------------------------------------------
def test_builtin_experiments_are_registered():
    assert set(BUILTIN_EXPERIMENTS) <= set(relmask.list_experiments())


@pytest.fixture(params=BUILTIN_EXPERIMENTS)
def experiment(request):
    return relmask.get_experiment(request.param)


def test_notebook_parameters_are_the_declared_ones(experiment):
    """The notebook's parameters cell lists exactly the experiment's parameters, in order, with the same
    defaults and types that accept them: the dataclass is the one declaration, the cell its copy for papermill."""
    declared = {p.name: p for p in experiment.params}
    in_notebook = parse_parameters(experiment.notebook)
    assert list(in_notebook) == list(declared), f"{experiment.notebook.name} parameters differ from {experiment.config}"
    for name, nb_param in in_notebook.items():
        assert nb_param.default == declared[name].default, f"{name}: notebook default differs from the declared one"
        assert nb_param.accepts(declared[name].default)
        assert nb_param.help, f"{name}: the notebook's parameters cell says nothing about it"


def test_notebook_configures_through_its_experiment(experiment):
    source = experiment.notebook.with_suffix(".py").read_text()
    assert f'get_experiment("{experiment.name}")' in source and "from_namespace(globals())" in source
    assert "NOTEBOOK_PARAMETERS" not in source


def test_notebook_pair_is_in_sync(experiment):
    assert experiment.notebook.exists() and experiment.notebook.with_suffix(".py").exists()
    assert out_of_sync(experiment.notebook.with_suffix(".py")) == []


@pytest.mark.parametrize("source", ["notebooks/hello_relmask.py", "tests/notebooks/tiny.py"])
def test_other_notebook_pairs_are_in_sync(source):
    assert out_of_sync(ROOT / source) == []


def test_presets_configure(experiment, tmp_path):
    assert {"quick"} <= set(experiment.presets)
    for path in experiment.presets.values():
        values = yaml.safe_load(Path(path).read_text()) or {}
        if values.get("source", "synthetic") != "synthetic" and values.get("data_path", "") is None:
            values["data_path"] = str(tmp_path)  # given with -p data_path; checked to exist before a kernel starts
        experiment.configure(values)  # raises naming the parameter when a preset went stale
        check_parameters(experiment.notebook, {k: v for k, v in values.items() if k != "output_dir"})


def test_a_bad_value_is_refused_before_a_kernel_starts(experiment):
    with pytest.raises(ParameterError, match="unknown parameter 'no_such_parameter'"):
        check_parameters(experiment.notebook, {"no_such_parameter": 1})


# -- the fields every experiment shares ---------------------------------------------------------------------
def shared_fields(config_class) -> dict[str, list]:
    """``{shared key: [name, type, help]}`` of a config dataclass's shared fields (tests/plugins/test_example_digits.py
    repeats this with the digits plugin installed)."""
    import dataclasses

    params = {p.name: p for p in config_params(config_class)}
    return {f.metadata["shared"]: [f.name, params[f.name].type_name, params[f.name].help]
            for f in dataclasses.fields(config_class) if "shared" in f.metadata}


def _configs() -> dict[str, type]:
    configs = {name: relmask.get_experiment(name).config for name in BUILTIN_EXPERIMENTS}
    if "digits" in relmask.list_experiments():  # the example plugin, where it is installed
        configs["digits"] = relmask.get_experiment("digits").config
    return configs


def test_shared_fields_have_one_name_type_and_help():
    """relevance method(s), maskers and their params, model, schedule, seeds and output: declared once in core
    (relmask.plugin_system.components.SHARED_FIELDS) and spelled the same in every experiment; a field with a
    shared name is a shared field. tests/plugins/test_example_digits.py runs the same comparison with the digits example
    installed."""
    import dataclasses

    from relmask.plugin_system.components import SHARED_FIELDS

    shared_names = {f.name for f in SHARED_FIELDS.values()}
    seen: dict[str, dict[str, list]] = {}
    for name, config in _configs().items():
        fields = shared_fields(config)
        for key, declared in fields.items():
            assert declared[0] == SHARED_FIELDS[key].name and declared[2] == SHARED_FIELDS[key].help
            seen.setdefault(key, {})[name] = declared
        own = {f.name for f in dataclasses.fields(config) if "shared" not in f.metadata}
        assert not own & shared_names, f"{name}: {sorted(own & shared_names)} spelled outside the shared fields"
        assert {"epochs", "batch_size", "learning_rate", "output_dir"} <= {v[0] for v in fields.values()}, name
        assert {"relevance_methods", "relevance_method"} & set(fields), name
    for key, declared in seen.items():
        assert len({tuple(v) for v in declared.values()}) == 1, f"{key} is declared differently: {declared}"
    assert set(seen["maskers"]) >= {"whale", "fer"} and set(seen["seeds"]) >= {"whale", "fer"}


def test_a_shared_field_must_be_annotated_as_declared():
    from relmask.plugin_system.components import shared_field

    @dataclass
    class Wrong:
        seeds: list[str] = shared_field("seeds", [0])

    with pytest.raises(TypeError, match="shared field 'seeds' is declared as seeds"):
        config_params(Wrong)


def test_a_config_checks_once_and_again_after_a_change():
    """ExperimentConfig.validate() checks declarations then check(), once per set of values."""
    from relmask.plugin_system.components import ExperimentConfig, shared_field

    calls = []

    @dataclass
    class Cfg(ExperimentConfig):
        seeds: list[int] = shared_field("seeds", [0, 1])

        def check(self):
            calls.append(list(self.seeds))

    cfg = Cfg().validate()
    cfg.validate()
    assert calls == [[0, 1]]
    cfg.seeds = [0, 0]
    with pytest.raises(ParameterError, match="seeds must be distinct"):
        cfg.validate()


# -- the pair check catches drift --------------------------------------------------------------------------
def test_out_of_sync_names_the_cell(tmp_path):
    src = tmp_path / "nb.py"
    src.write_text('# %% [markdown]\n# # Title\n\n# %% tags=["parameters"]\nx: int = 1  # a number\n\n'
                   "# %%\nprint(x)\n")
    sync_notebook(src)
    assert out_of_sync(src) == []
    first = (tmp_path / "nb.ipynb").read_bytes()
    sync_notebook(src)
    assert (tmp_path / "nb.ipynb").read_bytes() == first  # deterministic: no random cell ids
    src.write_text(src.read_text().replace("print(x)", "print(x + 1)"))
    (problem,) = out_of_sync(src)
    assert "cell 2 (code)" in problem and "source" in problem
    src.write_text(src.read_text().replace('tags=["parameters"]', ""))
    assert any("tags" in p for p in out_of_sync(src))
    (tmp_path / "nb.ipynb").unlink()
    assert "missing" in out_of_sync(src)[0]


def test_relmask_notebooks_check_exit_code(tmp_path, capsys):
    from relmask.cli import main

    src = tmp_path / "nb.py"
    src.write_text('# %% tags=["parameters"]\nx = 1  # a number\n')
    assert main(["notebooks", str(src)]) == 0
    assert main(["notebooks", "--check", str(src)]) == 0
    src.write_text('# %% tags=["parameters"]\nx = 2  # a number\n')
    assert main(["notebooks", "--check", str(src)]) == 1
    assert "differs" in capsys.readouterr().out


# -- the CLI and reproduce name experiments ---------------------------------------------------------------
def test_list_experiments(capsys):
    from relmask.cli import main

    assert main(["list", "experiments", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["experiments"]
    assert set(BUILTIN_EXPERIMENTS) <= set(listed)
    whale = listed["whale"]
    assert whale["kind"] == "experiment" and whale["notebook"].endswith("whale_feature_masking.ipynb")
    assert "quick" in whale["presets"] and any(p["name"] == "seeds" for p in whale["params"])


def test_reproduce_config_names_experiments_and_presets(tmp_path):
    from relmask.running import reproduce as rp

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"runs": [{"name": "w", "experiment": "whale", "preset": "quick",
                                             "params": {"epochs": 1}}]}))
    (run,) = rp.load_config(cfg).runs
    assert run.experiment == "whale" and run.notebook == relmask.get_experiment("whale").notebook
    assert run.parameters["epochs"] == 1 and "seeds" in run.parameters  # the preset's values, then params
    (spec,) = rp.plan(rp.load_config(cfg), rp.load_config(cfg).runs, tmp_path / "out", tmp_path)
    assert spec["experiment"] == "whale"
    for entry, match in (({"name": "x", "experiment": "nope"}, "experiment 'nope'"),
                         ({"name": "x", "experiment": "whale", "preset": "nope"}, "nor a preset of experiment"),
                         ({"name": "x", "experiment": "whale", "notebook": "a.ipynb"}, "either 'experiment' or"),
                         ({"name": "x", "experiment": "whale", "params": {"epochs": 0}}, "epochs")):
        cfg.write_text(yaml.safe_dump({"runs": [entry]}))
        with pytest.raises(rp.ConfigError, match=match):
            config = rp.load_config(cfg)
            rp.plan(config, config.runs, tmp_path / "out", tmp_path)


# -- core knows no domain --------------------------------------------------------------------------------
DOMAIN_WORDS = re.compile(r"\b(whale|fer|faces|faithfulness|digits)\b", re.I)


def _docstring_ids(tree) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            ids.add(id(body[0].value))
    return ids


def _names_of_domains(path: Path, words=DOMAIN_WORDS) -> list[str]:
    """Where a string outside a docstring of ``path`` matches ``words``, and where it imports relmask_plugins."""
    tree = ast.parse(path.read_text())
    docs = _docstring_ids(tree)
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(n.split(".")[0] == "relmask_plugins" for n in names):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno} imports relmask_plugins")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs \
                and words.search(node.value):
            problems.append(f"{path.relative_to(ROOT)}:{node.lineno} names a domain: {node.value[:60]!r}")
    return problems


def test_core_imports_no_plugin_and_names_no_domain():
    """No module under relmask/ imports relmask_plugins, no string outside a docstring names a domain or an
    experiment (so nothing in core can branch on one), and no reproduce config (or other data file) lives there:
    configs are domain knowledge and come from the plugins (``register_reproduce_configs``,
    ``Experiment.reproduce_configs``)."""
    problems = [p for path in sorted((ROOT / "relmask").rglob("*.py")) for p in _names_of_domains(path)]
    problems += [f"{path.relative_to(ROOT)} is a config in core" for pattern in ("*.yaml", "*.yml", "*.json")
                 for path in sorted((ROOT / "relmask").rglob(pattern))]
    assert problems == []


def test_faithfulness_names_no_domain():
    """The faithfulness experiment runs on whatever domains declare their defaults: no domain name in its code
    (docstrings aside), so a third-party domain joins it without a code change
    (tests/plugins/test_example_digits.py)."""
    words = re.compile(r"\b(whale|fer|faces|digits|n_clips)\b", re.I)
    assert _names_of_domains(ROOT / "relmask_plugins" / "faithfulness" / "experiment.py", words) == []


def test_builtin_reproduce_configs_come_from_a_plugin():
    """quick, full and real are registered by the built-in configs plugin, fer-sizes by the fer experiment; the
    names resolve to files that exist and parse."""
    import relmask.running.reproduce as rp
    from relmask.plugin_system.plugins import registry

    configs = registry("register_reproduce_configs")
    assert {"quick", "full", "real"} <= set(configs.names())
    assert {configs.entries[n].plugin for n in ("quick", "full", "real")} == {"relmask_plugins.configs"}
    known = rp.known_configs()
    for name in ("quick", "full", "real", "fer-sizes"):
        path = rp.config_path(name)
        assert path == known[name] and path.is_file() and "relmask_plugins" in path.parts, name
        assert rp.load_config(name).runs, name


def test_run_by_experiment_name_help_and_presets(capsys):
    from relmask.cli import main

    assert main(["run", "whale", "--help"]) == 0
    out = capsys.readouterr().out
    assert "parameters of experiment 'whale'" in out and "presets: full, quick, real" in out
    assert "eval_inputs" in out and "in {masked, raw}" in out  # the declared choices, not just the type
    assert main(["run", "whale", "--preset", "nope", "-o", "unused"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["run", "no_such_experiment"]) == 2
    assert "nor an experiment of that name" in capsys.readouterr().err
