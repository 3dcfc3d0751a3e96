"""pyproject.toml and environment.yml agree; README's commands are what CI runs."""
from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import ROOT


def _pins(reqs):
    return {re.split(r"[=<>\[ ]", r, maxsplit=1)[0].lower(): r for r in reqs}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert project["requires-python"] == ">=3.11" and conda_python >= "python=3.11"
    assert _pins(r for r in pip if not r.startswith("-e")) == _pins(project["dependencies"])
    assert "-e ." in pip


def test_runtime_dependencies_are_pinned_and_lab_stays_out_of_ci():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert all("==" in r for r in project["dependencies"]), project["dependencies"]
    assert not any("tf-keras" in r or "jupyterlab" in r for r in project["dependencies"])
    assert "jupyterlab" in " ".join(project["optional-dependencies"]["lab"])
    makefile = (ROOT / "Makefile").read_text()
    setup_install = re.search(r'pip install --quiet -e "\.\[(.*?)\]"', makefile).group(1)
    assert "lab" not in setup_install.split(",")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    first_screen = readme[: readme.index("\n## ", readme.index("\n## ") + 1)]
    commands = re.findall(r"```(?:bash|sh)?\n(.*?)```", first_screen, re.S)
    assert len(commands) >= 2, "README's first screen shows the demo and the test command"
    test_command = commands[1].strip().splitlines()[-1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command.split("&&")[-1].strip() in ci
