"""The ``fer`` experiment's notebook end to end (papermill, strict parameters) on a tiny FER2013 csv; its presets."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import relmask
from relmask.errors import ParameterError
from relmask.running.runner import run_notebook

EXPERIMENT = relmask.get_experiment("fer")
NOTEBOOK = EXPERIMENT.notebook
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
    with pytest.warns(UserWarning, match="2 seed\\(s\\): the protocol asks for >= 3"):  # said before the run
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


def test_presets_spell_out_every_parameter(tmp_path):
    import yaml

    from relmask.running.runner import check_parameters

    assert set(EXPERIMENT.presets) == {"quick", "full", "real"}
    fields = [f.name for f in dataclasses.fields(EXPERIMENT.config)]
    presets = {name: yaml.safe_load(EXPERIMENT.preset(name).read_text()) for name in EXPERIMENT.presets}
    for name, values in presets.items():
        assert list(values) == fields, name  # every parameter, in the notebook's order: a preset reads alone
        given = {**values, "data_path": str(tmp_path)} if values["source"] != "synthetic" else values  # -p data_path
        check_parameters(NOTEBOOK, given)  # the notebook's declarations and the experiment's validate()
    assert presets["quick"] == dataclasses.asdict(EXPERIMENT.configure({}))  # quick = the defaults
    assert presets["real"]["source"] == presets["full"]["source"] == "fer2013"


def test_notebook_help_is_the_declared_help():
    """``relmask run fer --help`` reads the notebook's comments, ``relmask list experiments`` the declarations."""
    from relmask.running.runner import parse_parameters

    in_notebook = parse_parameters(NOTEBOOK)
    assert {p.name: p.help for p in EXPERIMENT.params} == {n: p.help for n, p in in_notebook.items()}


def test_bad_values_fail_before_a_kernel_starts(tmp_path):
    """``relmask run`` checks the values against the experiment, so a bad one never costs a training run."""
    with pytest.raises(ParameterError, match=r"k .*must lie in 1..epochs=3"):
        run_notebook(NOTEBOOK, {"k": 4}, output_dir=tmp_path / "out")
    with pytest.raises(ParameterError, match=r"eval_mask_target must be one of \('predicted', 'all_classes'\)"):
        run_notebook(NOTEBOOK, {"eval_mask_target": "true"}, output_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
