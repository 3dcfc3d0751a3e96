"""notebooks/fer_data_masking.ipynb end to end (papermill, strict parameters) on a tiny FER2013 csv."""
from __future__ import annotations

import numpy as np
import pytest

from relmask.runner import run_notebook

from .conftest import NOTEBOOKS

NOTEBOOK = NOTEBOOKS / "fer_data_masking.ipynb"
KEYS = {"variant", "eval", "masker", "relevance", "control", "n_seeds", "epochs_to_reach_mean", "epochs_to_reach_sd",
        "acc_after_k_mean", "acc_after_k_sd", "aulc_mean", "aulc_sd", "final_acc_mean", "final_acc_sd",
        "test_acc_mean", "test_acc_sd"}
VARIANTS = ["raw", "keep", "keep_shuffled", "keep_permuted", "keep_smooth", "mask_only", "finetuned_trainer"]


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
    assert {"params", "split_sizes", "trainer_accuracy", "trainer_history", "curves", "test_accuracy", "table",
            "reach_level", "k", "effects", "leak_check", "degenerate_maps"} <= set(r)
    assert 0.0 <= r["trainer_accuracy"] <= 1.0 and "label_leak_risk" not in r
    # three evaluation sets per student; the mask-only control two (its own maps by the training rule, masked)
    assert len(r["curves"]) == (3 * (len(variants) - 1) + 2) * n_seeds * epochs
    assert all(0.0 <= c["val_accuracy"] <= 1.0 for c in r["curves"])
    assert {t["eval"] for t in r["test_accuracy"]} == {"masked", "raw", "label_free"}
    table = {(row["variant"], row["eval"]): row for row in r["table"]}
    assert list(dict.fromkeys(v for v, _ in table)) == variants
    for row in table.values():
        assert KEYS <= set(row) and row["n_seeds"] == n_seeds
        assert 0.0 <= row["final_acc_mean"] <= 1.0 and row["aulc_sd"] >= 0.0
    assert table[("keep_smooth", "raw")]["control"] == "smooth" and not table[("keep", "raw")]["control"]
    fractions = [table[(v, "masked")]["masked_fraction"] for v in ("keep", "keep_permuted")]
    assert abs(fractions[0] - fractions[1]) < 0.05
    against = {(e["against"], e["eval"]) for e in r["effects"] if e["variant"] == "keep"}
    assert {("raw", "raw"), ("keep_shuffled", "masked"), ("keep_smooth", "label_free")} <= against
    assert r["leak_check"]["chance"] > 0 and isinstance(r["leak_check"]["leak"], bool)
    assert r["degenerate_maps"]["train"]["n"] == r["split_sizes"]["train"]
    for stem in ("examples", "learning_curves"):
        for ext in ("png", "pdf"):
            assert (res.results_path.parent / "figures" / f"{stem}.{ext}").stat().st_size > 1000


def test_notebook_on_a_fer2013_csv(tmp_path):
    csv = tiny_fer2013_csv(tmp_path / "fer2013.csv")
    res = run_notebook(NOTEBOOK, {"source": "fer2013", "data_path": str(csv), "n_source": 0, "n_target": 0,
                                  "trainer_epochs": 2, "epochs": 2, "seeds": [0, 1], "batch_size": 16, "k": 1,
                                  "masker_params": {"keep": {"fraction": 0.4}},
                                  "cache_dir": str(tmp_path / "cache")}, output_dir=tmp_path / "out")
    check_results(res, VARIANTS, n_seeds=2, epochs=2)
    assert res.results["split_sizes"] == {"source": 70, "train": 42, "val": 14, "test": 14}
    assert res.results["params"]["source"] == "fer2013"


@pytest.mark.slow
def test_quick_preset_on_synthetic_faces(tmp_path):
    res = run_notebook(NOTEBOOK, {"cache_dir": None}, output_dir=tmp_path / "quick")
    check_results(res, VARIANTS, n_seeds=3, epochs=3)
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
