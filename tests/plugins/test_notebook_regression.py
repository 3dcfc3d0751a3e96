"""Papermill-driven regression tests: each experiment notebook in its quick preset vs stored references.

Each test executes the notebook with ``relmask.running.runner.run_notebook`` (papermill, strict parameters) on the
embedded synthetic data and compares what it recorded with ``tests/golden_results/<stem>_quick.json``:

* AUCs / accuracies within ±0.1 absolute (short CPU trainings differ slightly across BLAS builds and thread
  counts; a broken pipeline moves them by far more);
* relevance checksums (sum of |R| over the first test maps, per method) within 2 % relative, masked fractions
  within ±0.02, and the synthetic data fingerprint exactly (the generator is seeded and pure NumPy).

Regenerate the references after an intended change (and review the diff):

    RELMASK_REGEN_GOLDEN=1 .venv/bin/pytest -m slow tests/plugins/test_notebook_regression.py

They take a minute or more each, so they are ``slow`` (``make test-slow``).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from relmask.io import read_json, write_json

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent.parent / "golden_results"
REGEN = os.environ.get("RELMASK_REGEN_GOLDEN") == "1"
AUC_TOL, FRACTION_TOL, CHECKSUM_RTOL = 0.1, 0.02, 0.02


def execute_quick(stem: str, tmp_path: Path) -> dict:
    import relmask
    from relmask.running.runner import run_notebook

    experiment = relmask.get_experiment({"whale_feature_masking": "whale", "fer_data_masking": "fer"}[stem])
    notebook, preset = experiment.notebook, experiment.preset("quick")
    params = yaml.safe_load(preset.read_text()) or {}
    params.pop("output_dir", None)
    if "cache_dir" in params:
        params["cache_dir"] = str(tmp_path / "cache")  # a cold cache: the test computes every map itself
    return run_notebook(notebook, params, tmp_path / "out").results


def compare_or_regenerate(stem: str, measured: dict) -> dict:
    path = GOLDEN / f"{stem}_quick.json"
    if REGEN or not path.exists():
        if not REGEN:
            pytest.fail(f"no reference {path}; create it with RELMASK_REGEN_GOLDEN=1 (see module doc)")
        write_json(path, measured)
        pytest.skip(f"regenerated {path}")
    return read_json(path)


def whale_metrics(results: dict) -> dict:
    return {"auc": {"/".join(str(r.get(k)) for k in ("relevance", "masker", "system", "fusion_rule")): r["auc_mean"]
                    for r in results["summary"]},
            "relevance_checksum": results["relevance_checksum"], "masked_fraction": results["masked_fraction"],
            "data_fingerprint": results["data_fingerprint"]}


def fer_metrics(results: dict) -> dict:
    acc = {}
    for r in results["table"]:
        name = "/".join(str(r.get(k)) for k in ("variant", "eval", "masker", "relevance"))
        for m in ("final_acc_mean", "aulc_mean", "acc_after_k_mean", "test_acc_mean"):
            if r.get(m) is not None:
                acc[f"{name}/{m}"] = r[m]
    return {"accuracy": acc, "masked_fraction": results["masked_fraction"],
            "trainer_accuracy": results["trainer_accuracy"]}


def assert_close(measured: dict, golden: dict, tol: float, what: str, rel: bool = False) -> None:
    assert set(measured) == set(golden), f"{what}: entries changed: {sorted(set(measured) ^ set(golden))}"
    for k, ref in golden.items():
        bound = tol * abs(ref) if rel else tol
        assert abs(measured[k] - ref) <= bound, f"{what} {k}: {measured[k]:.4f} vs reference {ref:.4f} (±{bound:.3g})"


@pytest.mark.slow
def test_whale_feature_masking_quick(tmp_path):
    measured = whale_metrics(execute_quick("whale_feature_masking", tmp_path))
    golden = compare_or_regenerate("whale_feature_masking", measured)
    assert measured["data_fingerprint"] == golden["data_fingerprint"]
    assert_close(measured["auc"], golden["auc"], AUC_TOL, "AUC")
    assert_close(measured["relevance_checksum"], golden["relevance_checksum"], CHECKSUM_RTOL, "relevance checksum",
                 rel=True)
    assert_close(measured["masked_fraction"], golden["masked_fraction"], FRACTION_TOL, "masked fraction")


@pytest.mark.slow
def test_fer_data_masking_quick(tmp_path):
    measured = fer_metrics(execute_quick("fer_data_masking", tmp_path))
    golden = compare_or_regenerate("fer_data_masking", measured)
    assert_close(measured["accuracy"], golden["accuracy"], AUC_TOL, "accuracy")
    assert abs(measured["trainer_accuracy"] - golden["trainer_accuracy"]) <= AUC_TOL
    assert_close(measured["masked_fraction"], golden["masked_fraction"], FRACTION_TOL, "masked fraction")
