"""relmask figures: paper/ from a small hand-made results set (no TensorFlow, no notebooks)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from relmask.io import write_json
from relmask.running import figures
from relmask.running.run_records import mark_finished


def whale_results(auc: float) -> dict:
    summary = [{"relevance": None, "masker": None, "system": "cnn1", "fusion_rule": None, "auc_mean": auc,
                "auc_sd": 0.02, "n_seeds": 3},
               {"relevance": None, "masker": None, "system": "ensemble_raw", "fusion_rule": "mean",
                "auc_mean": auc + 0.01, "auc_sd": 0.02, "n_seeds": 3}]
    for masker in ("negative", "mean"):
        for system, delta in (("cnn2", -0.1), ("fusion", 0.04), ("cnn2_random", -0.2), ("fusion_random", 0.0)):
            for rule in ((None,) if system.startswith("cnn2") else ("mean", "max")):
                summary.append({"relevance": "gradcam", "masker": masker, "system": system, "fusion_rule": rule,
                                "auc_mean": auc + delta, "auc_sd": 0.03, "n_seeds": 3})
    table = [dict(r, seed=s, auc=r["auc_mean"]) for r in summary for s in (0, 1, 2)]
    return {"summary": summary, "table": table,
            "roc": {"cnn1": {"fpr": [0, 0.1, 1], "tpr": [0, 0.8, 1]}, "fusion": {"fpr": [0, 0.1, 1],
                                                                                 "tpr": [0, 0.9, 1]}}}


def fer_results() -> dict:
    curves = [{"variant": v, "seed": s, "epoch": e, "val_accuracy": 0.2 + 0.1 * e + (0.05 if v == "masked" else 0)
               + 0.01 * s} for v in ("raw", "masked", "random") for s in (0, 1, 2) for e in (1, 2, 3)]
    table = [{"variant": v, "masker": None if v == "raw" else "keep", "relevance": None if v == "raw" else "gradcam",
              "control": v == "random", "n_seeds": 3, "epochs_to_reach_mean": 2.0, "epochs_to_reach_sd": 0.5,
              "acc_after_k_mean": 0.41, "acc_after_k_sd": 0.01, "aulc_mean": 0.4, "aulc_sd": 0.02,
              "final_acc_mean": 0.5, "final_acc_sd": 0.01} for v in ("raw", "masked", "random")]
    return {"curves": curves, "table": table, "reach_level": 0.45, "k": 2}


def make_run(root: Path, name: str, results: dict, synthetic: bool = True, finished_at: str = "2026-01-01T00:00:00",
             experiment: str | None = None) -> dict:
    run_dir = root / "runs" / f"{name}-abc"
    write_json(run_dir / "results.json", results)
    if experiment is None:  # the run's name says which registered experiment made it (hello: none)
        experiment = next((e for e in ("whale", "fer") if name.startswith(e)), None)
    record = {"name": name, "key": "abc" + name, "config": "quick", "status": "ok", "run_dir": str(run_dir),
              "experiment": experiment,
              "results_path": str(run_dir / "results.json"), "notebook": str(root / f"{name}.ipynb"),
              "notebook_sha256": "0" * 64, "parameters": {"seeds": [0, 1, 2]}, "synthetic": synthetic,
              "data": {} if synthetic else {"data_path": {"fingerprint": "f00d", "files": 3}},
              "duration_s": 12.5, "finished_at": finished_at, "device": {"cpu": "test-cpu"},
              "versions": {"relmask": "0.1.0"}, "git": {"commit": "deadbeef", "dirty": False}}
    mark_finished(run_dir, record)
    return record


@pytest.fixture
def runs(tmp_path):
    return [make_run(tmp_path, "whale-gradcam", whale_results(0.8)), make_run(tmp_path, "fer", fer_results()),
            make_run(tmp_path, "hello", {"masked_fraction": 0.3})]


def test_build_paper_from_results(tmp_path, runs):
    out = tmp_path / "paper"
    paper = figures.build_paper(runs, out, config="quick", command="relmask figures")
    assert set(paper.figures) == {"whale_auc", "whale_roc", "fer_learning_curves"}
    assert set(paper.tables) == {"whale_auc", "fer_learning"}
    for stem in paper.figures:
        for ext in ("png", "pdf"):
            f = out / "figures" / f"{stem}.{ext}"
            assert f.stat().st_size > 1000, f
    assert (out / "figures" / "whale_auc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "figures" / "whale_auc.pdf").read_bytes()[:5] == b"%PDF-"

    md = (out / "tables" / "whale_auc.md").read_text()
    assert "[synthetic data]" in md.splitlines()[0] and "Synthetic data:" in md
    assert "| synthetic | gradcam | negative | CNN₂ (masked) | – | 0.700 ± 0.030 | 3 |" in md
    assert md.count("| CNN₁ |") == 1
    assert md.count("fusion CNN₁+CNN₂") == 4  # both fusion rules of both maskers
    tex = (out / "tables" / "whale_auc.tex").read_text()
    assert r"\begin{tabular}{lllllll}" in tex and r"0.700 $\pm$ 0.030" in tex and "synthetic" in tex
    fer_md = (out / "tables" / "fer_learning.md").read_text()
    assert "epochs to reach 0.45" in fer_md and "k=2" in fer_md and "2.000 ± 0.500" in fer_md

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["synthetic"] is True and manifest["config"] == "quick" and manifest["unused_runs"] == ["hello"]
    entry = manifest["figures"]["whale_auc"]
    assert entry["files"] == ["figures/whale_auc.png", "figures/whale_auc.pdf"]
    assert entry["synthetic"] and "Synthetic data" in entry["caption"]
    (prov,) = entry["runs"]
    assert prov["run"] == "whale-gradcam" and prov["git"]["commit"] == "deadbeef"
    assert prov["seeds"] == [0, 1, 2] and prov["duration_s"] == 12.5 and prov["device"] == {"cpu": "test-cpu"}
    for field in ("notebook", "notebook_sha256", "parameters", "versions", "data", "key"):
        assert field in prov
    assert manifest["device"]["cpu_count"] >= 1 and "relmask_plugins.maskers" in manifest["plugins"]

    readme = (out / "README.md").read_text()
    assert "`relmask figures`" in readme and "![whale_auc](figures/whale_auc.png)" in readme
    assert "**Synthetic data:" in readme


def test_whale_groups_share_cnn1_and_prefer_mean_fusion(runs):
    results = whale_results(0.8)
    from relmask_plugins.whale.report import groups_of

    groups = dict(groups_of([(runs[0], results)]))
    assert list(groups) == ["gradcam\nnegative", "gradcam\nmean"]
    g = groups["gradcam\nnegative"]
    assert g["cnn1"]["auc_mean"] == 0.8 and g["ensemble_raw"]["auc_mean"] == pytest.approx(0.81)
    assert g["fusion"]["fusion_rule"] == "mean" and g["fusion_random"]["fusion_rule"] == "mean"


def test_real_data_is_not_labelled_synthetic_and_stale_outputs_go(tmp_path, runs):
    out = tmp_path / "paper"
    figures.build_paper(runs, out)
    assert (out / "figures" / "fer_learning_curves.png").exists()
    real = make_run(tmp_path / "real", "whale", whale_results(0.9), synthetic=False)
    paper = figures.build_paper([real], out)
    assert set(paper.figures) == {"whale_auc", "whale_roc"}
    assert not (out / "figures" / "fer_learning_curves.png").exists()  # no stale figure survives a rebuild
    assert not (out / "tables" / "fer_learning.md").exists()
    md = (out / "tables" / "whale_auc.md").read_text()
    assert "synthetic" not in md.lower() and "| real |" in md
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["synthetic"] is False
    assert manifest["figures"]["whale_auc"]["runs"][0]["data"]["data_path"]["fingerprint"] == "f00d"
    assert "Synthetic data" not in (out / "README.md").read_text()


def test_figures_command_finds_the_newest_finished_runs(tmp_path, runs, capsys):
    from relmask.cli import main

    make_run(tmp_path, "fer", fer_results(), finished_at="2025-01-01T00:00:00")  # older: ignored
    assert {r["name"] for r in figures.find_records(tmp_path)} == {"whale-gradcam", "fer", "hello"}
    assert main(["figures", "--runs", str(tmp_path), "--out", str(tmp_path / "paper")]) == 0
    out = capsys.readouterr().out
    assert "figure whale_auc: figures/whale_auc.png, figures/whale_auc.pdf  [synthetic data]" in out
    # a reproduce summary names exactly the runs of that reproduction
    write_json(tmp_path / "reproduce-quick.json",
               {"config": "quick", "runs": [runs[1], {**runs[0], "status": "failed"}]})
    assert [r["name"] for r in figures.find_records(tmp_path)] == ["fer"]
    assert main(["figures", "--runs", str(tmp_path / "nothing"), "--out", str(tmp_path / "p2")]) == 2


def test_notebook_example_figures_are_copied_with_provenance(tmp_path, runs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from relmask.running.plotting import save_figure

    fig = plt.figure()
    plt.imshow(np.arange(16).reshape(4, 4))
    save_figure(fig, Path(runs[0]["results_path"]).parent / "figures" / "examples")
    plt.close(fig)
    paper = figures.build_paper(runs, tmp_path / "paper")
    entry = paper.figures["whale-gradcam_examples"]
    assert entry["files"] == ["figures/whale-gradcam_examples.png", "figures/whale-gradcam_examples.pdf"]
    assert entry["runs"][0]["run"] == "whale-gradcam" and "Synthetic data" in entry["caption"]
    copied = tmp_path / "paper" / "figures" / "whale-gradcam_examples.png"
    assert copied.read_bytes() == (Path(runs[0]["results_path"]).parent / "figures" / "examples.png").read_bytes()
    assert "fer_examples" not in paper.figures  # that run drew none


def test_effects_tables_and_declared_outputs(tmp_path):
    """Effects of both experiments become tables that say 'within noise'; a notebook's own declared figure and
    table are copied into paper/; real runs' example figures (images of data) never are."""
    whale = whale_results(0.8)
    whale["effects"] = [{"comparison": "gradcam/negative: fusion vs CNN₁", "a": "x", "b": "cnn1", "mean": 0.001,
                         "sd": 0.002, "lo": -0.004, "hi": 0.006, "n": 3, "includes_zero": True,
                         "delong_significant": 0, "delong_n": 3, "delong_median_p": 0.6}]
    fer = fer_results()
    fer["effects"] = [{"variant": "masked", "against": "raw", "comparison": "raw data", "eval": "raw", "metric": m,
                       "mean": 0.05, "sd": 0.01, "lo": 0.03, "hi": 0.07, "n": 3, "includes_zero": False}
                      for m in ("aulc", "test_acc")]
    fer["leak_check"] = {"text": "no leak: maps alone score 0.300", "leak": False, "uses_label": False}
    own = {"paper_outputs": {"figures": {"own_figure": {"file": "figures/f", "caption": "my figure"}},
                             "tables": {"own_table": {"file": "figures/t", "caption": "my table"}}}}
    runs = [make_run(tmp_path, "whale", whale), make_run(tmp_path, "fer", fer),
            make_run(tmp_path, "own", own), make_run(tmp_path, "real-fer", fer_results(), synthetic=False)]
    own_dir = Path(runs[2]["results_path"]).parent / "figures"
    own_dir.mkdir()
    (own_dir / "f.png").write_bytes(b"\x89PNG fake")
    (own_dir / "t.md").write_text("| a |\n|---|\n| 1 |\n")
    for r in (runs[1], runs[3]):  # both FER runs drew an examples figure (faces)
        (Path(r["results_path"]).parent / "figures").mkdir(exist_ok=True)
        (Path(r["results_path"]).parent / "figures" / "examples.png").write_bytes(b"\x89PNG faces")
    paper = figures.build_paper(runs, tmp_path / "paper")
    assert {"whale_effects", "fer_effects", "own_table"} <= set(paper.tables)
    assert "own_figure" in paper.figures and "fer_examples" in paper.figures
    assert "real-fer_examples" not in paper.figures  # images of real data never leave the run directory
    whale_md = (tmp_path / "paper" / "tables" / "whale_effects.md").read_text()
    assert "+0.0010 [-0.0040, +0.0060], n=3 (within noise) | 0/3 |" in whale_md
    fer_md = (tmp_path / "paper" / "tables" / "fer_effects.md").read_text()
    assert "| masked | raw | raw | +0.050 [+0.030, +0.070], n=3 | +0.050 [+0.030, +0.070], n=3 |" in fer_md
    assert "no leak" in fer_md
    assert (tmp_path / "paper" / "figures" / "own_figure.png").read_bytes() == b"\x89PNG fake"
    assert "own" not in json.loads((tmp_path / "paper" / "manifest.json").read_text())["unused_runs"]


def test_records_without_an_experiment_are_matched_by_notebook_file_name(tmp_path):
    """Run records written before runs named their experiment (or by another checkout) are drawn by the
    experiment whose notebook has the same file name; an unknown notebook is drawn by nobody."""
    old = make_run(tmp_path, "whale-old", whale_results(0.8))
    old.pop("experiment")
    old["notebook"] = "/elsewhere/notebooks/whale_feature_masking.ipynb"
    assert figures.experiment_of(old).name == "whale"
    old["notebook"] = "/elsewhere/other.ipynb"
    assert figures.experiment_of(old) is None


def test_fer_size_sweep_figure_table_and_verdict(tmp_path):
    """The points of an n_train sweep become one figure and one table of the gain against the size (the
    whole-split point at its real size), whose caption says where the interval lies above or below zero."""
    runs = []
    for n_train, train_size, lo in ((250, 250, 0.01), (1000, 1000, -0.02), (0, 6001, -0.09)):
        fer = fer_results()
        fer["split_sizes"] = {"source": 10000, "train": train_size, "val": 1997, "test": 2002}
        fer["majority_rate"] = {"test": 0.253}
        fer["params"] = {"train_mask_target": "predicted"}
        fer["table"][0].update(eval="raw", test_acc_mean=0.4 + train_size / 1e5, test_acc_sd=0.01)
        fer["effects"] = [{"variant": "keep", "against": "raw", "comparison": "raw data", "eval": "raw",
                           "metric": m, "mean": lo + 0.02, "sd": 0.01, "lo": lo, "hi": lo + 0.04, "n": 3,
                           "includes_zero": lo < 0 < lo + 0.04} for m in ("aulc", "test_acc")]
        record = make_run(tmp_path, f"fer-sizes@n_train={n_train}", fer, synthetic=False, experiment="fer")
        record["sweep"] = {"n_train": n_train}
        runs.append(record)
    paper = figures.build_paper(runs, tmp_path / "paper")
    assert "fer_size_sweep" in paper.figures and "fer_size_sweep" in paper.tables
    assert "fer_learning_curves" not in paper.figures  # the sweep's points are not drawn as curve rows
    md = (tmp_path / "paper" / "tables" / "fer_size_sweep.md").read_text()
    assert "| 6001 | keep | predicted | raw | -0.070 [-0.090, -0.050], n=3 |" in md
    assert "| 250 | keep | predicted | raw | +0.030 [+0.010, +0.050], n=3 |" in md and "0.253" in md
    assert "helps (interval above zero): keep/predicted/raw aulc at 250; keep/predicted/raw test_acc at 250" in md
    assert "hurts (interval below zero): keep/predicted/raw aulc at 6001" in md
