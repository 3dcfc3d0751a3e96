"""The Paper B pipeline (relmask_plugins.whale.pipeline, with its config and registration): splits, mask targets,
scoring, maskers on spectrograms, models, a tiny end-to-end run, and the notebook through the runner."""
from __future__ import annotations

import json

import numpy as np
import pytest

import relmask
from relmask.errors import ParameterError, UnknownNameError
from relmask_plugins.whale import config, experiment, pipeline

NOTEBOOK = experiment.WhaleFeatureMasking.notebook
CONTROL_SYSTEMS = {f"{kind}_{c}" for kind in ("cnn2", "fusion") for c in ("shuffled", "permuted", "smooth")}
SYSTEMS = {"cnn1", "cnn_raw", "ensemble_raw", "cnn2", "fusion", "mask_only"} | CONTROL_SYSTEMS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return pipeline.load_data("synthetic", None, 120, cache_dir=str(tmp_path_factory.mktemp("whale_cache")))


def test_splits_are_stratified_disjoint_and_seeded():
    y = np.r_[np.zeros(77), np.ones(23)].astype(int)
    sp = pipeline.make_splits(y, seed=0)
    parts = [sp["train"], sp["val"], sp["test"]]
    assert sum(map(len, parts)) == 100 and len(np.unique(np.concatenate(parts))) == 100
    assert [len(p) for p in parts] == [70, 10, 20]
    assert y[sp["test"]].sum() in (4, 5) and y[sp["train"]].sum() in (16, 17)
    np.testing.assert_array_equal(pipeline.make_splits(y, seed=0)["test"], sp["test"])
    assert not np.array_equal(pipeline.make_splits(y, seed=1)["test"], sp["test"])


def test_kfold_runs_cover_every_sample_once_as_test():
    y = np.r_[np.zeros(40), np.ones(10)].astype(int)
    cfg = config.WhaleExperiment(n_folds=5, seeds=[3, 4, 5, 6, 7])
    tests = [pipeline.splits_for(cfg, y, i) for i in range(5)]
    all_test = np.concatenate([t["test"] for t in tests])
    assert sorted(all_test.tolist()) == list(range(50))
    for t in tests:
        assert not set(t["test"]) & set(t["train"]) and not set(t["val"]) & set(t["train"])
        assert y[t["test"]].sum() == 2


def test_mask_targets_never_need_labels_for_evaluation():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    y = np.array([1, 0, 1])
    np.testing.assert_array_equal(pipeline.mask_targets("predicted", proba), [0, 1, 0])
    np.testing.assert_array_equal(pipeline.mask_targets("positive", proba), [1, 1, 1])
    np.testing.assert_array_equal(pipeline.mask_targets("true", proba, y), y)
    with pytest.raises(ParameterError):
        pipeline.mask_targets("true", proba)


@pytest.mark.parametrize("change, err, word", [
    ({"eval_mask_target": "true"}, ParameterError, "leak"),
    ({"maskers": ["negatve"]}, UnknownNameError, "negative"),
    ({"fusion_rules": ["median"]}, ParameterError, "median"),
    ({"masker_params": {"keep": {"fraction": 0.5}}}, ParameterError, "masker_params"),
    ({"masker_params": {"negative": {"fracton": 0.5}}}, ParameterError, "fraction"),
    ({"model": "whale_cnn", "model_params": {"filters": "8"}}, ParameterError, "filters"),
    ({"seeds": [1, 1]}, ParameterError, "distinct"),
    ({"controls": ["shuffled", "noise"]}, ParameterError, "noise"),
    ({"train_mask_target": "label"}, ParameterError, "train_mask_target"),
    ({"test_fraction": 0.0}, ParameterError, "test_fraction"),
])
def test_validate_names_the_bad_setting(change, err, word):
    with pytest.raises(err, match=word):
        config.WhaleExperiment(relevance_methods=["gradient"], **change).validate()


def test_registered_experiment_declares_every_notebook_parameter_once(tmp_path):
    import yaml

    from relmask.running.runner import parse_parameters

    exp = relmask.get_experiment("whale")
    assert isinstance(exp, experiment.WhaleFeatureMasking) and exp.config is config.WhaleExperiment
    declared = parse_parameters(exp.notebook)
    assert list(declared) == [p.name for p in exp.params]
    assert {n: p.default for n, p in declared.items()} == {p.name: p.default for p in exp.params}
    assert all(p.help for p in exp.params)
    assert sorted(exp.presets) == ["full", "quick", "real"]
    quick = yaml.safe_load(exp.preset("quick").read_text())
    assert {k: v for k, v in quick.items() if k != "output_dir"} == {
        p.name: p.default for p in exp.params if p.name != "output_dir"}
    for name in exp.presets:  # a real-data preset is run with -p data_path (checked to exist before a kernel starts)
        values = yaml.safe_load(exp.preset(name).read_text())
        if values["source"] != "synthetic":
            values["data_path"] = str(tmp_path)
        assert isinstance(exp.configure(values), config.WhaleExperiment)


@pytest.mark.parametrize("given, err, words", [
    ({"epochs": 0}, ParameterError, ["'epochs'", ">= 1"]),
    ({"source": "wav"}, ParameterError, ["'source'", "'kaggle'"]),
    ({"eval_inputs": "both"}, ParameterError, ["'eval_inputs'", "'raw'"]),
    ({"learning_rate": 0}, ParameterError, ["'learning_rate'", "> 0"]),
    ({"seeds": "0"}, ParameterError, ["'seeds'", "list"]),
    ({"source": "features", "load_params": {"flip_frequncy": True}}, ParameterError,
     ["load_params of whale source 'features'", "flip_frequency"]),
    ({"relevance_methods": ["lrp.epsilon"], "relevance_params": {"lrp.epsilon": {"epsilom": 0.1}}},
     ParameterError, ["epsilon"]),
    ({"n_folds": 1}, ParameterError, ["n_folds"]),
    ({"n_folds": 2, "val_fraction": 0.6}, ParameterError, ["val_fraction", "n_folds"]),
    ({"val_fraction": 0.5, "test_fraction": 0.5}, ParameterError, ["val_fraction + test_fraction"]),
])
def test_configure_rejects_bad_values_naming_them(given, err, words):
    """The checks ``relmask run whale`` and ``relmask reproduce`` apply before a kernel starts."""
    with pytest.raises(err) as info:
        relmask.get_experiment("whale").configure(given)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_notebook_parameters_are_checked_by_the_experiment_before_a_kernel_starts():
    from relmask.running.runner import check_parameters

    with pytest.raises(ParameterError, match="leak"):
        check_parameters(NOTEBOOK, {"eval_mask_target": "true"})
    with pytest.raises(ParameterError, match="n_clips"):
        check_parameters(NOTEBOOK, {"n_clips": 0})


def test_scoring_fusion_summary_and_table():
    y = np.array([0, 0, 1, 1, 0, 1])
    perfect = np.stack([1 - y * 0.8 - 0.1, y * 0.8 + 0.1], axis=1)
    inverse = perfect[:, ::-1]
    rows, scores = pipeline.score_systems(y, {"cnn1": perfect, "cnn2": inverse}, perfect, ["mean", "max"], seed=4,
                                          relevance="gradient", masker="negative", fused_name={"cnn2": "fusion"})
    auc = {(r["system"], r["fusion_rule"]): r["auc"] for r in rows}
    assert auc[("cnn1", None)] == 1.0 and auc[("cnn2", None)] == 0.0
    assert set(auc) == {("cnn1", None), ("cnn2", None), ("fusion", "mean"), ("fusion", "max")}
    assert set(scores) == {"cnn1", "cnn2", "fusion/mean", "fusion/max"}
    assert all(r["seed"] == 4 and r["relevance"] == "gradient" for r in rows)
    summary = pipeline.summarize([*rows, dict(rows[0], seed=5, auc=0.5)])
    s = next(r for r in summary if r["system"] == "cnn1")
    assert s["n_seeds"] == 2 and s["auc_mean"] == pytest.approx(0.75) and s["auc_sd"] == pytest.approx(0.353553, 1e-5)
    table = pipeline.markdown_table(summary)
    assert "| gradient | negative | cnn1 | – | 0.7500 ± 0.3536 | 2 |" in table


def test_thin_roc_keeps_endpoints_and_exact_auc():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3000)
    s = y + rng.normal(size=3000)
    roc = pipeline.thin_roc(y, s, points=50)
    assert len(roc["fpr"]) <= 50 and roc["fpr"][0] == 0 and roc["tpr"][-1] == 1 and roc["fpr"][-1] == 1
    assert np.all(np.diff(roc["fpr"]) >= 0) and roc["auc"] == pytest.approx(relmask.scoring.evaluation.roc_auc(y, s))


def test_maskers_on_spectrograms(tiny):
    x = tiny.x[:4]
    r = np.zeros_like(x)
    r[:, 10:20, 5:25] = 1.0  # the "call" region
    neg = relmask.mask(x, r, "negative", fraction=200 / x[0].size)
    assert np.all(neg[:, 10:20, 5:25] == 0) and np.array_equal(neg[:, 30:], x[:, 30:])
    band = relmask.mask(x, r, "band", fraction=10 / x.shape[1])
    assert np.all(band[:, 10:20] == 0) and np.array_equal(band[:, :10], x[:, :10])
    frame = relmask.mask(x, r, "frame", fraction=20 / x.shape[2], mode="keep")
    assert np.array_equal(frame[:, :, 5:25], x[:, :, 5:25]) and np.all(frame[:, :, :5] == 0)
    from relmask.pipeline.masking import masked_fraction, shuffle_relevance

    rnd = shuffle_relevance(r, seed=0)
    neg_rnd = relmask.mask(x, rnd, "negative", fraction=200 / x[0].size)
    assert masked_fraction(x, neg_rnd) == pytest.approx(masked_fraction(x, neg), abs=0.01)


@pytest.mark.parametrize("name", ["whale_cnn", "whale_cnn_bn", "whale_conv1d"])
def test_models_output_two_class_softmax(name, tiny):
    from relmask.pipeline.training import build_model, predict_proba

    model = build_model(name, tiny.x.shape[1:], 2, seed=0)
    p = predict_proba(model, tiny.x[:5])
    assert p.shape == (5, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
    with pytest.raises(ParameterError, match=name):
        relmask.get_model(name).build((65, 59), 2)


def test_tiny_run_records_every_system_and_masks_test_data_without_labels(tiny, tmp_path, monkeypatch):
    from relmask.running.results import load_results, set_results_path

    seen = []
    real = pipeline.relevance

    def spy(model, x, method, targets, params=None, cache_dir=None):
        from relmask.pipeline.training import predict_proba

        seen.append((np.asarray(targets).copy(), x, predict_proba(model, x).argmax(axis=1)))
        return real(model, x, method, targets, params, cache_dir)

    monkeypatch.setattr(pipeline, "relevance", spy)
    set_results_path(tmp_path)
    try:
        cfg = config.WhaleExperiment(relevance_methods=["gradient"], maskers=["negative"], epochs=1, seeds=[0],
                                     fusion_rules=["mean", "max"], cache_dir=str(tmp_path / "cache"))
        res = pipeline.run(tiny, cfg, progress=False)
    finally:
        set_results_path(None)
    rec = load_results(tmp_path)
    assert {r["system"] for r in rec["table"]} == SYSTEMS
    assert all(0.0 <= r["auc"] <= 1.0 for r in rec["table"])
    # cnn1, cnn_raw, ensemble x2, mask_only; CNN2 and 3 controls, each with 2 fusions
    assert len(rec["table"]) == 2 + 2 + 1 + 4 * (1 + 2)
    assert not rec["label_leak_risk"] and set(rec["leak_check"]) == {"gradient"}
    assert rec["degenerate_maps"]["0"]["gradient"]["n_test"] == rec["n_test"]
    labels = {e["comparison"] for e in rec["effects"]}
    assert "gradient/negative: fusion vs CNN₁" in labels and "gradient/negative: CNN₂ vs smooth control" in labels
    assert all(e["n"] == 1 and e["delong_n"] == 1 for e in rec["effects"])
    assert {d["comparison"] for d in rec["delong"]} == labels
    assert {s["n_seeds"] for s in rec["summary"]} == {1}
    assert rec["n_train"] + rec["n_val"] + rec["n_test"] == 120 and rec["n_test"] == 24
    assert "cnn1" in rec["roc"] and "gradient/negative/fusion/mean" in rec["roc"]
    assert rec["masked_fraction"]["gradient/negative/cnn2"] == pytest.approx(0.3, abs=0.02)
    assert rec["relevance_checksum"]["gradient"] > 0
    # the test-set masks explain CNN1's predictions, not the labels
    (t_tr, x_tr, _), (t_te, x_te, cnn1_pred) = seen
    sp = pipeline.make_splits(tiny.y, 0)
    np.testing.assert_array_equal(x_tr, tiny.x[sp["train"]])
    np.testing.assert_array_equal(t_tr, seen[0][2])  # training masks: CNN1's prediction (default), not the label
    np.testing.assert_array_equal(x_te, tiny.x[sp["test"]])
    np.testing.assert_array_equal(t_te, cnn1_pred)
    assert json.loads(json.dumps(rec["params"]))["eval_mask_target"] == "predicted"
    assert "| gradient | negative | fusion | mean |" in res["table_markdown"]
    # relevance maps were cached: a second computation of the same maps reads them back
    assert len(list((tmp_path / "cache" / "experiments" / "relevance").glob("*.npy"))) == 2


def test_quick_notebook_end_to_end(tmp_path):
    """The notebook through the runner (one kernel process) in a tiny configuration."""
    from relmask.running.runner import run_notebook

    out = tmp_path / "run"
    result = run_notebook(NOTEBOOK,
                          {"n_clips": 120, "epochs": 1, "seeds": [0], "relevance_methods": ["gradient"],
                           "fusion_rules": ["mean"], "cache_dir": str(tmp_path / "cache"), "output_dir": str(out)},
                          output_dir=out)
    rec = result.results
    assert {r["system"] for r in rec["table"]} == SYSTEMS
    assert all(0.0 <= r["auc"] <= 1.0 for r in rec["table"])
    for stem in ("roc", "examples"):
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{stem}.{ext}").stat().st_size > 1000
    assert "fusion_smooth" in (out / "auc_table.md").read_text()


@pytest.mark.slow
def test_quick_preset_defaults_run_in_time(tmp_path):
    """The notebook's own defaults (the quick preset) end to end, within the ~90 s budget."""
    import time

    from relmask.running.runner import run_notebook

    start = time.perf_counter()
    result = run_notebook(NOTEBOOK,
                          {"cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "run")},
                          output_dir=tmp_path / "run")
    assert time.perf_counter() - start < 150
    assert {s["n_seeds"] for s in result.results["summary"]} == {2}


@pytest.mark.slow
def test_kaggle_layout_through_the_notebook(tmp_path):
    """A Kaggle-layout folder (with one broken clip, skipped) through the notebook."""
    import soundfile as sf

    from relmask.running.runner import run_notebook
    from relmask_plugins.whale import synthetic

    d = synthetic.generate(120, seed=11)
    root = tmp_path / "kaggle"
    (root / "train").mkdir(parents=True)
    for i, w in enumerate(d["waveforms"], start=1):
        sf.write(root / "train" / f"train{i}.aiff", w, 2000, format="AIFF", subtype="PCM_16")
    (root / "train" / "train5.aiff").write_bytes(b"")
    (root / "train.csv").write_text("clip_name,label\n" + "".join(f"train{i}.aiff,{y}\n"
                                                                  for i, y in enumerate(d["labels"], start=1)))
    out = tmp_path / "run"
    with pytest.raises(relmask.RelmaskError, match=r"train5.aiff"):
        run_notebook(NOTEBOOK,
                     {"source": "kaggle", "data_path": str(root), "n_clips": None, "output_dir": str(out),
                      "cache_dir": str(tmp_path / "cache")}, output_dir=out)
    result = run_notebook(NOTEBOOK,
                          {"source": "kaggle", "data_path": str(root), "n_clips": None, "on_error": "skip",
                           "epochs": 1, "seeds": [0], "relevance_methods": ["gradient"], "output_dir": str(out),
                           "cache_dir": str(tmp_path / "cache")}, output_dir=out)
    rec = result.results
    assert rec["data"]["source"] == "kaggle" and rec["n_train"] + rec["n_val"] + rec["n_test"] == 119
    assert [s["file"].endswith("train5.aiff") for s in rec["data"]["skipped"]] == [True]
    assert {r["system"] for r in rec["table"]} == SYSTEMS
    assert (out / "figures" / "examples.png").exists()
