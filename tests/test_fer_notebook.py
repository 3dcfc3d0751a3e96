"""notebooks/fer_data_masking.ipynb end to end (papermill, strict parameters) on a tiny FER2013 csv."""
from __future__ import annotations

import numpy as np
import pytest

from relmask.runner import run_notebook

from .conftest import NOTEBOOKS

NOTEBOOK = NOTEBOOKS / "fer_data_masking.ipynb"
KEYS = {"variant", "masker", "relevance", "control", "n_seeds", "epochs_to_reach_mean", "epochs_to_reach_sd",
        "acc_after_k_mean", "acc_after_k_sd", "aulc_mean", "aulc_sd", "final_acc_mean", "final_acc_sd"}


def tiny_fer2013_csv(path, n=140, seed=0):
    """Noise faces whose class sets which 8-px band is bright: learnable, in the Kaggle csv layout."""
    rng = np.random.default_rng(seed)
    lines = ["emotion,pixels,Usage"]
    for i in range(n):
        img = rng.integers(0, 120, (48, 48))
        img[6 * (i % 7): 6 * (i % 7) + 8] += 120
        lines.append(f"{i % 7},{' '.join(map(str, img.ravel()))},Training")
    path.write_text("\n".join(lines) + "\n")
    return path


def check_results(res, variants, n_seeds, epochs):
    r = res.results
    assert {"params", "split_sizes", "trainer_accuracy", "curves", "table", "reach_level", "k"} <= set(r)
    assert 0.0 <= r["trainer_accuracy"] <= 1.0
    assert len(r["curves"]) == len(variants) * n_seeds * epochs
    assert all(0.0 <= c["val_accuracy"] <= 1.0 for c in r["curves"])
    table = {row["variant"]: row for row in r["table"]}
    assert list(table) == variants
    for row in table.values():
        assert KEYS <= set(row) and row["n_seeds"] == n_seeds
        assert 0.0 <= row["final_acc_mean"] <= 1.0 and row["aulc_sd"] >= 0.0
    assert table["keep_random"]["control"] and not table["keep"]["control"]
    assert abs(table["keep"]["masked_fraction"] - table["keep_random"]["masked_fraction"]) < 0.05
    for stem in ("examples", "learning_curves"):
        for ext in ("png", "pdf"):
            assert (res.results_path.parent / "figures" / f"{stem}.{ext}").stat().st_size > 1000


def test_notebook_on_a_fer2013_csv(tmp_path):
    csv = tiny_fer2013_csv(tmp_path / "fer2013.csv")
    res = run_notebook(NOTEBOOK, {"source": "fer2013", "data_path": str(csv), "n_source": 0, "n_target": 0,
                                  "trainer_epochs": 2, "epochs": 2, "seeds": [0, 1], "batch_size": 16, "k": 1,
                                  "masker_params": {"keep": {"fraction": 0.4}},
                                  "cache_dir": str(tmp_path / "cache")}, output_dir=tmp_path / "out")
    check_results(res, ["raw", "keep", "keep_random", "finetuned_trainer"], n_seeds=2, epochs=2)
    assert res.results["split_sizes"] == {"source": 70, "train": 42, "val": 14, "test": 14}
    assert res.results["params"]["source"] == "fer2013"


@pytest.mark.slow
def test_quick_preset_on_synthetic_faces(tmp_path):
    res = run_notebook(NOTEBOOK, {"cache_dir": None}, output_dir=tmp_path / "quick")
    check_results(res, ["raw", "keep", "keep_random", "finetuned_trainer"], n_seeds=3, epochs=3)
    assert res.duration_s < 180


def test_presets_match_the_notebook():
    import yaml

    from relmask.experiments.fer import NOTEBOOK_PARAMETERS
    from relmask.runner import check_parameters, parse_parameters

    params = parse_parameters(NOTEBOOK)
    assert tuple(params) == NOTEBOOK_PARAMETERS
    quick = yaml.safe_load((NOTEBOOKS / "presets" / "fer_data_masking_quick.yaml").read_text())
    assert quick == {name: p.default for name, p in params.items()}  # quick = the defaults, spelled out
    full = yaml.safe_load((NOTEBOOKS / "presets" / "fer_data_masking_full.yaml").read_text())
    assert set(full) == set(params)
    check_parameters(NOTEBOOK, full)
