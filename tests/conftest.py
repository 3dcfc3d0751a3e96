"""Shared test set-up: quiet, repeatable TensorFlow; helpers to run the CLI in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("PYTHONHASHSEED", "0")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
#: notebook stem -> the stored notebook (experiments keep theirs in their plugin package)
NOTEBOOK_PATHS = {
    "hello_relmask": NOTEBOOKS / "hello_relmask.ipynb",
    "whale_feature_masking": ROOT / "relmask_plugins" / "whale" / "notebooks" / "whale_feature_masking.ipynb",
    "fer_data_masking": ROOT / "relmask_plugins" / "fer" / "notebooks" / "fer_data_masking.ipynb",
    "relevance_faithfulness": ROOT / "relmask_plugins" / "faithfulness" / "notebooks" / "relevance_faithfulness.ipynb",
}
EXAMPLE_PLUGIN = Path(__file__).resolve().parent / "example_plugin"


def wait_for(predicate, timeout: float) -> bool:
    """Poll ``predicate`` every 0.1 s until it holds (True) or ``timeout`` seconds pass (False)."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def run_on_jax(script: str):
    """Run a Python ``script`` in a subprocess on Keras's JAX backend (CPU) and return the JSON value it printed
    last; the test fails with the subprocess's stderr when it exits non-zero."""
    import json

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300):
    """``python -m relmask ARGS`` in a fresh process; returns the CompletedProcess (text)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "relmask", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=timeout)


def write_dist_info(site: Path, dist: str, version: str, entry_points: dict[str, str]) -> None:
    """Register entry points the way an installed distribution does, without installing it."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[relmask]\n{lines}\n")


@pytest.fixture
def plugin_site(tmp_path):
    """A site directory where the example plugin and the broken ones are 'installed' (entry points)."""
    site = tmp_path / "site"
    write_dist_info(site, "relmask-example", "0.3.0", {"example": "relmask_example"})
    write_dist_info(site, "relmask-broken", "0.0.1", {"clash": "relmask_broken",
                                                       "import_error": "relmask_broken.import_error"})
    return {"PYTHONPATH": os.pathsep.join([str(site), str(EXAMPLE_PLUGIN)])}


TINY_NOTEBOOK = Path(__file__).resolve().parent / "notebooks" / "tiny.ipynb"


@pytest.fixture
def tiny_experiment():
    """Registers ``tiny`` (tests/notebooks/tiny.ipynb) as an experiment for the test's duration: its runs record
    whale- or FER-shaped results (parameter ``kind``), and its paper outputs are the whale and FER plugins' — so
    reproduce tests exercise the paper assembly without training anything."""
    from relmask.plugin_system.components import Experiment
    from relmask.plugin_system.plugins import registry

    class Tiny(Experiment):
        name = "tiny"
        description = "the reproduce tests' no-TensorFlow notebook"
        notebook = TINY_NOTEBOOK

        def paper_outputs(self, runs, paper):
            from relmask_plugins.fer.report import paper_outputs as fer_outputs
            from relmask_plugins.whale.report import paper_outputs as whale_outputs

            whale_outputs(runs, paper)
            fer_outputs(runs, paper)

    reg = registry("register_experiments")
    reg.add(Tiny(), "tests")
    try:
        yield reg.get("tiny")
    finally:
        reg.remove_plugin("tests")
