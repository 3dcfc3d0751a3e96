"""The third-party example package ``examples/relmask-digits`` (issue 13's proof that a domain is one plugin).

It is installed with pip into a temporary folder — never into the environment running the tests — and every
check runs in a subprocess with that folder on ``PYTHONPATH``, so relmask finds the package only the way it finds
any third-party plugin: through its ``relmask`` entry point. Nothing under ``relmask/`` knows about it.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "examples" / "relmask-digits"
SOURCES = sorted((PACKAGE / "relmask_digits").rglob("*.py"))
#: relmask modules a plugin may import: the documented public API (relmask/__init__.py lists the submodules)
PUBLIC = {"relmask", "relmask.errors", "relmask.plugin_system.components", "relmask.pipeline.controls",
          "relmask.pipeline.data", "relmask.pipeline.masking", "relmask.pipeline.training",
          "relmask.scoring.evaluation", "relmask.scoring.stats", "relmask.running.figures", "relmask.running.plotting",
          "relmask.running.progress", "relmask.running.results"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(folder, environment): the package pip-installed into ``folder/site`` from a copy of its source (so the
    build leaves nothing in the checkout), offline, without its dependencies (relmask is the one running)."""
    tmp = tmp_path_factory.mktemp("relmask-digits")
    src = tmp / "src"
    shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                           "--no-index", "--quiet", "--disable-pip-version-check", "--target", str(site), str(src)],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"pip install of {PACKAGE} failed:\n{done.stdout}\n{done.stderr}"
    env = {k: v for k, v in os.environ.items() if k != "RELMASK_LOAD_PLUGINS"}  # load every plugin
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0", PYTHONHASHSEED="0", MPLBACKEND="Agg")
    return tmp, env


def relmask_cli(env, *args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "relmask", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def in_subprocess(env, code: str, timeout: int = 120):
    """Run ``code`` (which prints one JSON document last) in a fresh interpreter; returns the document."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the package, statically -------------------------------------------------------------------------------
def test_package_imports_only_relmask_public_modules():
    """A plugin relmask's users could write: no built-in plugin internals, no private relmask modules."""
    assert SOURCES, f"no sources under {PACKAGE}"
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [(a.name, ()) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [(node.module, [a.name for a in node.names])]
            else:
                continue
            for module, names in modules:
                where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
                assert not module.startswith("relmask_plugins"), f"{where} imports built-in plugin internals"
                if module.split(".")[0] == "relmask":
                    assert module in PUBLIC, f"{where} imports {module}, not a public relmask module"
                    assert not [n for n in names if n.startswith("_")], f"{where} imports private names {names}"


def test_package_data_covers_notebook_presets_and_config():
    """What the experiment finds beside its module must be in the wheel (pyproject package-data)."""
    import tomllib

    meta = tomllib.loads((PACKAGE / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["relmask"] == {"digits": "relmask_digits"}
    data = meta["tool"]["setuptools"]["package-data"]["relmask_digits"]
    for folder in ("notebooks", "presets", "configs"):
        files = [p for p in (PACKAGE / "relmask_digits" / folder).iterdir() if p.is_file()]
        assert files, folder
        for f in files:
            assert any(f.match(pattern) for pattern in data), f"{f.relative_to(PACKAGE)} is not package data"


# -- installed, as a third-party plugin --------------------------------------------------------------------------
def test_installed_files(installed):
    tmp, _ = installed
    pkg = tmp / "site" / "relmask_digits"
    for rel in ("notebooks/digits_masking.ipynb", "notebooks/digits_masking.py", "presets/quick.yaml",
                "presets/full.yaml", "configs/digits.yaml"):
        assert (pkg / rel).is_file(), f"{rel} missing from the installed package"
    assert not (PACKAGE / "build").exists(), "installing built inside the checkout"


def test_relmask_plugins_lists_it(installed):
    _, env = installed
    done = relmask_cli(env, "plugins", "--json")
    assert done.returncode == 0, done.stderr
    plugin = next((p for p in json.loads(done.stdout) if p["name"] == "relmask-digits"), None)
    assert plugin is not None, done.stdout
    assert plugin["builtin"] is False and plugin["error"] is None and plugin["version"] == "0.1.0"
    assert plugin["hooks"] == {"register_domains": ["digits"], "register_models": ["digits_cnn"],
                               "register_experiments": ["digits"]}


def test_relmask_list_experiments_shows_digits(installed):
    _, env = installed
    done = relmask_cli(env, "list", "experiments")
    assert done.returncode == 0, done.stderr
    assert "digits — students on relevance-masked handwritten digits" in done.stdout
    assert "[relmask-digits]" in done.stdout


def test_experiment_declares_its_parameters_once(installed):
    """Notebook parameters == the dataclass's fields, defaults and help (same order); presets configure; the Jupytext
    pair is in sync; the reproduce config is found by name; registering imports no Keras."""
    _, env = installed
    report = in_subprocess(env, """
import json, sys
import relmask
from relmask.running.jupyter import out_of_sync
from relmask.running.reproduce import known_configs
from relmask.running.runner import parse_parameters
def refused(call):
    try:
        call()
    except relmask.ParameterError as exc:
        return exc
exp = relmask.get_experiment("digits")
keras_loaded = "keras" in sys.modules
nb = parse_parameters(exp.notebook)
print(json.dumps({
    "keras_loaded": keras_loaded,
    "notebook": [[n, p.default, p.help] for n, p in nb.items()],
    "declared": [[p.name, p.default, p.help] for p in exp.params],
    "presets": {name: sorted(vars(exp.configure(__import__("yaml").safe_load(open(path))))) for name, path in
                exp.presets.items()},
    "sync": out_of_sync(exp.notebook.with_suffix(".py")),
    "config": str(known_configs().get("digits")),
    "domain": relmask.get_domain("digits").load(n=100).class_counts(),
    "path_refused": str(refused(lambda: relmask.get_domain("digits").load("sklearn", path="digits.csv"))),
}))
""")
    assert report["keras_loaded"] is False, "registering the plugin imported Keras"
    assert report["notebook"] == report["declared"]
    assert sorted(report["presets"]) == ["full", "quick"]
    assert report["sync"] == []
    assert report["config"].endswith(os.path.join("relmask_digits", "configs", "digits.yaml"))
    assert sorted(report["domain"]) == [str(d) for d in range(10)] and sum(report["domain"].values()) == 100
    assert min(report["domain"].values()) >= 9  # stratified: every digit in its share
    assert "takes no path" in report["path_refused"]


def test_shared_fields_are_the_builtin_experiments_ones(installed):
    """The digits experiment spells the fields every experiment shares as whale, fer and faithfulness do: same name,
    type and help text (relmask.plugin_system.components.SHARED_FIELDS), and its fraction sweep lives in
    masker_params."""
    _, env = installed
    report = in_subprocess(env, """
import dataclasses, json
import relmask
from relmask.plugin_system.components import config_params
def shared_fields(config):
    params = {p.name: p for p in config_params(config)}
    return {f.metadata["shared"]: [f.name, params[f.name].type_name, params[f.name].help]
            for f in dataclasses.fields(config) if "shared" in f.metadata}
print(json.dumps({name: shared_fields(relmask.get_experiment(name).config)
                  for name in ("whale", "fer", "faithfulness", "digits")}))
""")
    by_key: dict = {}
    for name, fields in report.items():
        for key, declared in fields.items():
            by_key.setdefault(key, {})[name] = declared
    for key, declared in by_key.items():
        assert len({tuple(v) for v in declared.values()}) == 1, f"{key} differs: {declared}"
    assert {"relevance_method", "maskers", "masker_params", "model", "epochs", "seeds", "output_dir"} <= set(
        report["digits"])


def test_bad_parameter_is_refused_before_a_kernel_starts(installed):
    tmp, env = installed
    done = relmask_cli(env, "run", "digits", "-p", "maskers", "[mean]", "-o", str(tmp / "refused"))
    assert done.returncode != 0
    assert "'mean' has no 'fraction' and 'fill' parameters" in done.stderr
    assert not (tmp / "refused" / "results.json").exists()


# a real reproduction (2 seeds x (teacher + 5 students) of a small CNN, in a Jupyter kernel; about a minute on two
# idle cores): in the default tier, because it is the proof that a new domain needs no edit to core
def test_reproduce_config_digits_to_paper(installed):
    """``relmask reproduce --config digits`` executes the plugin's notebook and draws its figure and table."""
    tmp, env = installed
    out, paper = tmp / "runs", tmp / "paper"
    done = relmask_cli(env, "reproduce", "--config", "digits", "--out", str(out), "--paper", str(paper),
                       cwd=tmp, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "paper: " in done.stdout and "(1 figures, 1 tables)" in done.stdout

    for rel in ("figures/digits_students.png", "figures/digits_students.pdf", "tables/digits_students.md",
                "tables/digits_students.tex", "README.md"):
        assert (paper / rel).is_file() and (paper / rel).stat().st_size > 0, rel
    from PIL import Image

    with Image.open(paper / "figures" / "digits_students.png") as im:
        assert im.size[0] > 400 and im.size[1] > 200
    manifest = json.loads((paper / "manifest.json").read_text())
    fig, table = manifest["figures"]["digits_students"], manifest["tables"]["digits_students"]
    assert sorted(fig["files"]) == ["figures/digits_students.pdf", "figures/digits_students.png"]
    assert sorted(table["files"]) == ["tables/digits_students.md", "tables/digits_students.tex"]
    # real digits are not labelled synthetic (the notebook records where its data came from)
    assert fig["synthetic"] is False and table["synthetic"] is False and manifest["synthetic"] is False
    assert "[synthetic data]" not in (paper / "tables" / "digits_students.md").read_text()
    (run,) = fig["runs"]
    assert run["run"] == "digits" and run["config"] == "digits"
    assert run["notebook"].endswith("digits_masking.ipynb")
    assert manifest["plugins"]["relmask-digits"] == "0.1.0"  # the provenance names the plugin that drew it

    results = json.loads((Path(run["run_dir"]) / "results.json").read_text())
    assert results["data"]["source"] == "sklearn.datasets.load_digits" and results["data"]["n"] == 500
    quick = results["params"]
    shares = quick["masker_params"]["keep"]["fraction"]  # the masking fraction is masker_params[m]["fraction"]
    assert quick["maskers"] == ["keep"]
    cells = {(s["masker"], s["condition"], s["fraction"]) for s in results["summary"]}
    assert cells == {(None, "raw", None)} | {("keep", c, f) for c in ("relevance", *quick["controls"]) for f in shares}
    for s in results["summary"]:
        assert 0.0 <= s["accuracy_mean"] <= 1.0 and s["n_seeds"] == len(quick["seeds"])
        assert len(s["curve_mean"]) == quick["epochs"]
    # the teacher learned something (chance is 0.1): the maps explain a model, not noise
    assert min(t["accuracy"] for t in results["teacher"]) > 0.3
    table_md = (paper / "tables" / "digits_students.md").read_text()
    for f in shares:
        assert f"| {f:g} |" in table_md

    # `relmask figures` redraws paper/ from the recorded runs alone, byte for byte (nothing is executed again)
    again = relmask_cli(env, "figures", "--runs", str(out), "--out", str(tmp / "paper-again"), cwd=tmp)
    assert again.returncode == 0, again.stderr
    for rel in ("figures/digits_students.png", "figures/digits_students.pdf", "tables/digits_students.md"):
        assert (tmp / "paper-again" / rel).read_bytes() == (paper / rel).read_bytes(), rel


def test_faithfulness_runs_on_the_digits_domain(installed, tmp_path):
    """The built-in faithfulness experiment runs on the third-party digits domain without a code change, with its
    default parameters: the domain declares what it needs (relmask.DomainDefaults, its occlusion window among them:
    the 12 px window of the built-in domains is larger than an 8x8 digit), and the default ``domains`` (None) takes
    every domain that does. The notebook runs with the default methods and relevance parameters, at tiny sizes (a
    few samples, one epoch); its table and figure do not call the real digits synthetic, and it records so."""
    _, env = installed
    report = in_subprocess(env, f"""
import json
import relmask
from relmask.running.runner import check_parameters, run_notebook
from relmask_plugins.faithfulness import experiment as fa
exp = relmask.get_experiment("faithfulness")
defaults = exp.configure({{}})  # every default, on every domain declaring defaults: checked, nothing trains
check_parameters(exp.notebook, {{}})  # what `relmask run faithfulness` checks before a kernel starts
def refused(params):
    try:
        exp.configure(params)
    except relmask.ParameterError as exc:
        return str(exc)
titles = []
import relmask.running.plotting as plotting
save = plotting.save_figure
def save_figure(fig, stem):
    titles.append(fig._suptitle.get_text())
    return save(fig, stem)
plotting.save_figure = save_figure
out = {str(tmp_path / "out")!r}
res = run_notebook(exp.notebook, {{"domains": ["digits"], "n_samples": {{"digits": 60}}, "model_epochs": 1,
                                  "epochs": 1, "n_eval": 4, "n_sanity": 2}}, output_dir=out)
rows = res.results["table"]
fa.plot_scores(rows, out + "/again")
digits = res.results["digits_results"]
print(json.dumps({{"default_domains": fa.declaring_domains(), "checked_domains": defaults.domains,
                  "window": refused({{"domains": ["digits"], "relevance_params": {{"occlusion": {{"window": 12}}}}}}),
                  "methods": exp.configure({{}}).relevance_methods, "synthetic": res.results["synthetic"],
                  "rows": [[r["domain"], r["method"], r["mask_score"], r["mask_accuracy"], r["synthetic"]]
                           for r in rows],
                  "digits": {{k: digits[k] for k in ("n_train", "n_test", "n_classes", "model", "masker", "synthetic",
                                                    "relevance_params")}},
                  "table": open(out + "/figures/faithfulness_table.md").read(), "title": titles}}))
""", timeout=600)
    assert {"whale", "fer", "digits"} <= set(report["default_domains"]) <= set(report["checked_domains"])
    assert "on domain 'digits' (over the domain's own {'window': 2})" in report["window"]
    assert "larger than the input (8, 8)" in report["window"]  # an explicit window still has to fit
    methods = report["methods"]
    assert "occlusion" in methods
    assert [r[:2] for r in report["rows"]] == [["digits", m] for m in (*methods, "random")]
    assert all(0.0 <= r[2] <= 1.0 and r[2] == r[3] and r[4] is False for r in report["rows"])  # masked accuracy
    assert report["digits"] == {"n_train": 40, "n_test": 20, "n_classes": 10, "model": "digits_cnn", "masker": "keep",
                                "synthetic": False,
                                "relevance_params": {m: {"window": 2} if m == "occlusion" else {} for m in methods}}
    assert "(accuracy)" in report["table"]
    # real digits: neither the table nor the figure says "synthetic", and the run records it for paper/
    assert report["synthetic"] is False
    assert "synthetic" not in report["table"].lower()
    assert report["title"] == ["Faithfulness vs masking result"]  # the figure redrawn from the recorded rows


def test_a_new_parameter_is_declared_in_one_place(installed, tmp_path):
    """A field added to the digits dataclass (here in a subclass, with the notebook's source copied to tmp_path) is
    a notebook parameter: `relmask notebooks` writes it into the parameters cell (--check fails until then),
    papermill's reader finds it, `relmask run --help` lists it and values are checked against its declaration."""
    _, env = installed
    report = in_subprocess(env, f"""
from __future__ import annotations
import contextlib, io, json, shutil
from dataclasses import dataclass, field
from pathlib import Path
import relmask
from relmask.cli import main
from relmask.running.jupyter import out_of_sync, sync_notebook
from relmask.running.runner import parse_parameters
from relmask_digits.experiment import DigitsExperiment

@dataclass
class WithWarmup(DigitsExperiment):
    warmup_epochs: int = field(default=1, metadata={{"help": "epochs at a rising learning rate", "low": 0}})

exp = relmask.get_experiment("digits")
source = Path({str(tmp_path)!r}) / "digits_masking.py"
shutil.copy(exp.notebook.with_suffix(".py"), source)
exp.config, exp.notebook = WithWarmup, source.with_suffix(".ipynb")
before = out_of_sync(source)
sync_notebook(source)
help_text = io.StringIO()
with contextlib.redirect_stdout(help_text):
    code = main(["run", str(source.with_suffix(".ipynb")), "--help"])
try:
    exp.configure({{"warmup_epochs": -1}})
    refused = None
except relmask.ParameterError as exc:
    refused = str(exc)
print(json.dumps({{"before": before, "after": out_of_sync(source), "help_code": code, "help": help_text.getvalue(),
                  "line": [l for l in source.read_text().splitlines() if l.startswith("warmup_epochs")],
                  "parsed": parse_parameters(source.with_suffix(".ipynb"))["warmup_epochs"].default,
                  "refused": refused}}))
""")
    assert any("parameters cell differs" in p for p in report["before"])
    assert report["after"] == []
    assert report["line"] == ["warmup_epochs: int = 1  # epochs at a rising learning rate"]
    assert report["parsed"] == 1
    assert report["help_code"] == 0
    assert any(line.split()[:3] == ["warmup_epochs", "int", ">="] and "epochs at a rising learning rate" in line
               for line in report["help"].splitlines()), report["help"]
    assert "'warmup_epochs'" in report["refused"] and ">= 0" in report["refused"]
