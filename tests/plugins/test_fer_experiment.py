"""Experiment A's steps on tiny data: splits, masking policy, variants, students, summaries, figures."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import relmask
from relmask.errors import DataError, ParameterError
from relmask_plugins.fer import config, experiment, pipeline, report


@pytest.fixture(scope="module")
def splits():
    return pipeline.load_splits("synthetic", None, "photo", "cartoon", n_source=70, n_target=70, seed=0)


def test_synthetic_splits_disjoint_and_stratified(splits):
    assert {k: len(v) for k, v in splits.items()} == {"source": 70, "train": 42, "val": 14, "test": 14}
    ids = [set(ds.ids.tolist()) for ds in splits.values()]
    assert sum(len(s) for s in ids) == len(set().union(*ids))
    assert splits["source"].style == "photo" and splits["train"].style == "cartoon"
    assert set(splits["val"].class_counts().values()) == {2}


def test_real_data_split_into_source_and_target(tmp_path):
    rows = "".join(f"{i % 7},{' '.join([str(i % 250)] * 2304)},Training\n" for i in range(84))
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n" + rows)
    s = pipeline.load_splits("fer2013", str(tmp_path / "fer2013.csv"), n_source=28, n_target=0, seed=1)
    assert len(s["source"]) == 28 and len(s["train"]) + len(s["val"]) + len(s["test"]) == 42
    assert not set(s["source"].ids.tolist()) & set(s["train"].ids.tolist())
    with pytest.raises(DataError, match="empty"):
        pipeline.load_splits("synthetic", n_source=7, n_target=7)
    # n_train shrinks the students' training set only; validation and test stay the same faces
    small = pipeline.load_splits("fer2013", str(tmp_path / "fer2013.csv"), n_source=28, n_target=0, seed=1, n_train=14)
    assert len(small["train"]) == 14 and set(small["train"].ids.tolist()) <= set(s["train"].ids.tolist())
    for part in ("source", "val", "test"):
        assert small[part].ids.tolist() == s[part].ids.tolist()
    with pytest.raises(DataError, match="n_train 99 exceeds"):
        pipeline.load_splits("fer2013", str(tmp_path / "fer2013.csv"), n_source=28, n_target=0, seed=1, n_train=99)
    assert pipeline.majority_rate(s["source"]) == pytest.approx(max(np.bincount(s["source"].y)) / 28)


@pytest.mark.parametrize("layout", ["folder", "fer2013"])
def test_image_folder_layouts_split(tmp_path, layout):
    from PIL import Image

    classes = relmask.get_domain("fer").load("synthetic", n=7).class_names
    for c in classes:
        for k in range(10):
            d = tmp_path / ("train" if layout == "fer2013" else "") / c
            d.mkdir(parents=True, exist_ok=True)
            Image.new("L", (48, 48), 20 * k).save(d / f"{k}.png")
    s = pipeline.load_splits(layout, str(tmp_path), n_source=0, n_target=0, seed=0,
                             load_params={"on_error": "skip"})
    assert len(s["source"]) == 35 and len(s["train"]) == 21 and s["train"].class_names == classes
    assert not set(s["source"].ids.tolist()) & set(s["val"].ids.tolist())


class StubTrainer:
    """Predicts class (label + 1) mod 7 for every face: predictions never equal the labels."""

    model = "stub"

    def __init__(self, labels_by_id):
        self.labels_by_id = labels_by_id

    def inputs(self, x):
        return x

    def predict(self, x):
        return np.eye(7)[(self._labels(x) + 1) % 7]

    def _labels(self, x):
        return np.array([self.labels_by_id[float(v)] for v in x[:, 0, 0, 0]])


@pytest.fixture
def recorded(monkeypatch):
    calls = []

    def fake_explain(model, x, method, targets=None, cache_dir=None, **params):
        calls.append(np.broadcast_to(np.asarray(targets), (len(x),)).copy())
        return np.broadcast_to(np.asarray(targets, np.float32).reshape(-1, 1, 1, 1) if np.ndim(targets)
                               else np.float32(targets), x.shape).copy()

    monkeypatch.setattr(pipeline, "cached_explain", fake_explain)
    return calls


def tagged(ds, start):
    """ds with a unique value in pixel (0, 0) so the stub trainer knows each face's label."""
    x = ds.x.copy()
    x[:, 0, 0, 0] = (start + np.arange(len(ds))) / 1000.0
    return ds.with_x(x), {float(v): int(y) for v, y in zip(x[:, 0, 0, 0], ds.y, strict=True)}


def test_masks_never_use_the_label_by_default(splits, recorded):
    train, tl = tagged(splits["train"], 0)
    val, vl = tagged(splits["val"], 500)
    test, sl = tagged(splits["test"], 800)
    trainer = StubTrainer({**tl, **vl, **sl})
    parts = {"train": train, "val": val, "test": test}
    r = pipeline.target_relevance(trainer, parts, "gradcam")
    np.testing.assert_array_equal(recorded[0], (train.y + 1) % 7)  # training masks: the trainer's prediction
    assert not any(np.any(c == ds.y) for c, ds in zip(recorded, [train] + [val] * 8 + [test] * 8, strict=False)
                   if len(c) == len(ds) and c.ndim and len(set(c.tolist())) > 1)
    np.testing.assert_allclose(r["val_label_free"], 3.0)  # mean |R| over the classes 0..6: label-free
    assert r["val_train_rule"] is r["val"]  # same rule on both sides: the diagnostic maps are the same maps

    recorded.clear()
    r = pipeline.target_relevance(trainer, parts, "gradcam", train_mask_target="true")  # asked for explicitly
    np.testing.assert_array_equal(recorded[0], train.y)
    np.testing.assert_array_equal(recorded[-1], val.y)  # val_train_rule: only for the mask-only diagnostic
    np.testing.assert_array_equal(r["val"][:, 0, 0, 0], (val.y + 1) % 7)  # evaluation maps: still predicted
    with pytest.raises(ParameterError, match="must not use the true label"):
        pipeline.target_relevance(trainer, parts, "gradcam", eval_mask_target="true")
    with pytest.raises(ParameterError, match="train_mask_target"):
        pipeline.target_relevance(trainer, parts, "gradcam", train_mask_target="label")


def random_relevance(splits, seed=0):
    rng = np.random.default_rng(seed)
    maps = {k: rng.random(splits[k].x.shape, dtype=np.float32) for k in ("train", "val", "test")}
    return {**maps, "val_label_free": rng.random(maps["val"].shape, dtype=np.float32),
            "test_label_free": rng.random(maps["test"].shape, dtype=np.float32), "val_train_rule": maps["val"]}


def test_variants_controls_and_evaluation_sets(splits):
    rel = random_relevance(splits)
    vs = pipeline.make_variants(splits, rel, ["keep", "soft"], {"keep": {"fraction": 0.25}}, "gradcam", seed=0)
    assert [v.name for v in vs] == ["raw", "keep", "keep_shuffled", "keep_permuted", "keep_smooth", "soft",
                                    "soft_shuffled", "soft_permuted", "soft_smooth", "mask_only"]
    assert [v.control for v in vs] == [None, None, "shuffled", "permuted", "smooth", None, "shuffled", "permuted",
                                       "smooth", "mask_only"]
    keep = vs[1]
    assert keep.relevance == "gradcam" and vs[2].relevance == "shuffled"
    for control in vs[2:5]:
        assert abs(keep.masked_fraction - control.masked_fraction) < 0.02  # same share removed
        assert not np.allclose(keep.x_train, control.x_train)
    for v in vs[:-1]:
        assert set(v.x_val) == set(v.x_test) == set(pipeline.EVALS)
        np.testing.assert_array_equal(v.x_val["raw"], splits["val"].x)  # standalone: the raw images
    np.testing.assert_array_equal(vs[0].x_train, splits["train"].x)
    assert not np.allclose(keep.x_val["masked"], keep.x_val["label_free"])
    only = vs[-1]
    assert set(only.x_val) == {"train_rule", "masked"} and only.x_train.max() == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="'mean', which is not in maskers"):
        pipeline.make_variants(splits, rel, ["keep"], {"mean": {}})
    with pytest.raises(ParameterError, match="noise"):
        pipeline.make_variants(splits, rel, ["keep"], controls=["noise"])


def test_summary_statistics_per_evaluation_set():
    curves = [{"variant": "raw", "seed": s, "eval": "masked", "epoch": e + 1, "val_accuracy": a}
              for s, c in ((0, [0.2, 0.4, 0.6]), (1, [0.3, 0.5, 0.5])) for e, a in enumerate(c)]
    curves += [{"variant": "keep", "seed": 0, "eval": "masked", "epoch": e + 1, "val_accuracy": a}
               for e, a in enumerate([.1, .1, .2])]
    curves += [{"variant": "keep", "seed": 0, "eval": "raw", "epoch": e + 1, "val_accuracy": a}
               for e, a in enumerate([.3, .3, .3])]
    tests = [{"variant": "raw", "seed": 0, "eval": "masked", "test_accuracy": 0.5},
             {"variant": "raw", "seed": 1, "eval": "masked", "test_accuracy": 0.7}]
    table = {(r["variant"], r["eval"]): r for r in pipeline.summarize(curves, reach_level=0.45, k=2, tests=tests)}
    raw = table[("raw", "masked")]
    assert raw["n_seeds"] == 2 and raw["reached"] == 2
    assert raw["epochs_to_reach_mean"] == pytest.approx(2.5)
    assert raw["acc_after_k_mean"] == pytest.approx(0.45) and raw["acc_after_k_sd"] == pytest.approx(0.0707, abs=1e-3)
    assert raw["aulc_mean"] == pytest.approx((0.4 + 0.4333333) / 2)
    assert raw["final_acc_mean"] == pytest.approx(0.55) and raw["test_acc_mean"] == pytest.approx(0.6)
    assert table[("keep", "masked")]["reached"] == 0 and np.isnan(table[("keep", "masked")]["epochs_to_reach_mean"])
    assert table[("keep", "raw")]["final_acc_mean"] == pytest.approx(0.3)
    text = report.format_table(list(table.values()), 0.45, 2)
    assert "never" in text and "2.5" in text
    with pytest.raises(ParameterError, match="k"):
        config.check_schedule(epochs=3, k=4, reach_level=0.5, seeds=[0, 1, 2])


def test_effects_are_paired_per_seed_with_intervals():
    def rows(variant, offset):
        return [{"variant": variant, "seed": s, "eval": e, "epoch": ep,
                 "val_accuracy": 0.3 + 0.1 * ep + offset + 0.01 * s}
                for s in range(4) for e in ("masked", "raw") for ep in (1, 2)]

    curves = rows("raw", 0.0) + rows("keep", 0.05) + rows("keep_shuffled", 0.05)
    variants = [pipeline.Variant("raw", None, {}), pipeline.Variant("keep", None, {}, masker="keep"),
                pipeline.Variant("keep_shuffled", None, {}, masker="keep", control="shuffled")]
    out = {(e["against"], e["eval"], e["metric"]): e for e in pipeline.effects(curves, [], variants, 0.4, 1)}
    vs_raw = out[("raw", "masked", "aulc")]
    assert vs_raw["mean"] == pytest.approx(0.05) and vs_raw["n"] == 4 and not vs_raw["includes_zero"]
    assert vs_raw["lo"] == pytest.approx(0.05) and vs_raw["hi"] == pytest.approx(0.05)
    vs_control = out[("keep_shuffled", "raw", "aulc")]
    assert vs_control["mean"] == pytest.approx(0.0) and vs_control["includes_zero"]
    assert "within noise" in report.format_effects(list(out.values()), "aulc")


def test_students_identical_start_per_seed(splits):
    train, val, test = splits["train"], splits["val"], splits["test"]
    sets = {"masked": val.x, "raw": val.x}
    same = [pipeline.Variant("raw", train.x, sets, {"raw": test.x}), pipeline.Variant("copy", train.x.copy(), sets)]
    rows, tests = pipeline.train_students(same, train.y, val.y, 7, epochs=2, batch_size=16, seeds=[3], y_test=test.y)
    assert [(r["variant"], r["eval"], r["epoch"]) for r in rows] == [
        ("raw", "masked", 1), ("raw", "masked", 2), ("raw", "raw", 1), ("raw", "raw", 2),
        ("copy", "masked", 1), ("copy", "masked", 2), ("copy", "raw", 1), ("copy", "raw", 2)]
    # same inputs + same seed = same start and schedule = the same curve
    assert [r["val_accuracy"] for r in rows[:4]] == [r["val_accuracy"] for r in rows[4:]]
    assert all(0.0 <= r["val_accuracy"] <= 1.0 for r in rows)
    assert [(t["variant"], t["eval"]) for t in tests] == [("raw", "raw")]


def test_mask_only_control_catches_true_class_masks():
    """A linear trainer whose input gradient for class c is W_c whatever the input: true-class maps spell out
    the label, predicted-class maps only the trainer's (chance-level) decision."""
    import keras

    from relmask.pipeline.controls import mask_only_inputs
    from relmask.pipeline.training import predict_proba

    rng = np.random.default_rng(0)
    n, classes = 240, 3
    x = rng.random((n, 8, 8, 1), dtype=np.float32)
    y = np.arange(n) % classes
    inp = keras.Input((8, 8, 1))
    out = keras.layers.Dense(classes, activation="softmax")(keras.layers.Flatten()(inp))
    model = keras.Model(inp, out)  # untrained: predictions unrelated to the labels
    trainer = pipeline.Trainer(model)
    acc_trainer = pipeline.trainer_accuracy(trainer, pipeline.Dataset(x, y, np.arange(n).astype(str), list("abc")))
    verdicts = {}
    for rule in ("true", "predicted"):
        targets = y if rule == "true" else predict_proba(model, x).argmax(axis=1)
        maps = relmask.explain(model, x, "gradient", targets=targets)
        tr, va = slice(0, 160), slice(160, None)
        variants = [pipeline.Variant(pipeline.MASK_ONLY, mask_only_inputs(maps[tr]),
                                     {"train_rule": mask_only_inputs(maps[va])})]
        curves, _ = pipeline.train_students(variants, y[tr], y[va], classes, "whale_cnn", {"filters": 4}, epochs=4,
                                            batch_size=16, seeds=[0], learning_rate=0.01)
        verdicts[rule] = pipeline.mask_only_verdict(curves, acc_trainer, y[va], rule)
    assert verdicts["true"]["leak"] and verdicts["true"]["mask_only"] > 0.9
    assert not verdicts["predicted"]["leak"]
    assert "LEAK" in verdicts["true"]["text"] and "no leak possible" in verdicts["predicted"]["text"]
    # the same score read as if the maps were true-class ones: the margin over the trainer is what flags a leak
    assert pipeline.mask_only_verdict(curves, acc_trainer, y[va], "true")["leak"] is (
        verdicts["predicted"]["mask_only"] > acc_trainer + 0.05)


@pytest.mark.skipif("gradcam" not in relmask.list_methods(), reason="relevance engine without gradcam")
def test_real_trainer_relevance_finetune_and_figures(splits, tmp_path):
    trainer = pipeline.get_trainer("train", splits["source"], epochs=2, batch_size=16, holdout=0.2)
    assert trainer.best_epoch in (1, 2) and len(trainer.history["val_accuracy"]) == 2
    assert "held-out source faces" in trainer.origin
    assert 0.0 <= pipeline.trainer_accuracy(trainer, splits["val"]) <= 1.0
    rel = pipeline.target_relevance(trainer, splits, "gradcam", cache_dir=str(tmp_path / "c"))
    assert rel["train"].shape == splits["train"].x.shape and np.isfinite(rel["val"]).all()
    assert any((tmp_path / "c" / "relevance").iterdir())
    counts = pipeline.degenerate_counts(rel)
    assert counts["train"]["n"] == len(splits["train"]) and 0 <= counts["train"]["degenerate"] <= counts["train"]["n"]
    vs = pipeline.make_variants(splits, rel, ["keep"], {"keep": {"fraction": 0.5}}, controls=["shuffled"])
    rows, tests = pipeline.finetune_trainer(trainer, splits["train"], splits["val"], epochs=1, batch_size=16, seeds=[0],
                                            test=splits["test"])
    assert {r["variant"] for r in rows} == {pipeline.FINETUNED} and {r["eval"] for r in rows} == set(pipeline.EVALS)
    assert len(tests) == 3
    report.plot_examples(splits["val"], rel["val"], vs, tmp_path / "examples")
    report.plot_learning_curves(rows, tmp_path / "curves", 0.3)
    for stem in ("examples", "curves"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 1000 and (tmp_path / f"{stem}.pdf").exists()


def test_external_relevance_in_the_experiment(splits, tmp_path):
    ids = np.r_[splits["train"].ids, splits["val"].ids, splits["test"].ids]
    np.savez(tmp_path / "gaze.npz", ids=ids, maps=np.random.default_rng(0).random((len(ids), 12, 12)))
    rel = pipeline.target_relevance(None, splits, "external", {"source": str(tmp_path / "gaze.npz")})
    assert rel["train"].shape == splits["train"].x.shape and rel["test"].shape == splits["test"].x.shape
    assert rel["val_label_free"] is rel["val"]
    with pytest.raises(ParameterError, match="source"):
        pipeline.target_relevance(None, splits, "external", {})
    assert pipeline.get_trainer("none", splits["source"]) is None


# --- the experiment's declared parameters ------------------------------------------------------------------

def test_experiment_is_registered_with_its_parameters():
    fer = relmask.get_experiment("fer")
    assert isinstance(fer, experiment.FerDataMasking) and fer.config is config.FerExperiment
    params = {p.name: p for p in fer.params}
    assert list(params) == [f.name for f in dataclasses.fields(config.FerExperiment)]
    assert all(p.help for p in params.values())
    assert params["source"].choices == ("synthetic", "fer2013", "folder", "features")
    assert params["eval_mask_target"].choices == config.EVAL_MASK_TARGETS  # never "true"
    assert params["trainer_holdout"].range_text == "[0, 1)" and params["reach_level"].range_text == "(0, 1)"
    cfg = fer.configure({"learning_rate": 1, "seeds": [4, 5, 6]})
    assert cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float) and cfg.seeds == [4, 5, 6]
    assert config.FerExperiment().masker_params is not config.FerExperiment().masker_params  # no shared defaults


@pytest.mark.parametrize("given, match", [
    ({"epochs": "3"}, "'epochs' must be int"),
    ({"reach_level": 1.0}, "reach_level must lie in \\(0, 1\\)"),
    ({"train_mask_target": "label"}, "'train_mask_target' must be one of"),
    ({"k": 4}, "k .*1..epochs=3"),
    ({"seeds": [0, 0, 1]}, "seeds must be distinct"),
    ({"seeds": []}, "at least one seed"),
    ({"maskers": []}, "at least one masker"),
    ({"masker_params": {"mean": {}}}, "'mean', which is not in maskers"),
    ({"masker_params": {"keep": {"fraction": 1.5}}}, "fraction"),
    ({"controls": ["noise"]}, "unknown control 'noise'"),
    ({"student_params": {"widht": 8}}, "did you mean 'width'"),
    ({"relevance_params": {"layerr": "conv3"}}, "unknown parameter 'layerr'"),
    ({"relevance_method": "external"}, "relevance_params=\\{source: PATH\\}"),
    ({"trainer": "none"}, "trainer 'none' works only with relevance_method 'external'"),
    ({"trainer": "no/such/model.keras"}, "'no/such/model.keras' is neither"),
    ({"load_params": {"n": 50}}, "'n' is set by n_source / n_target"),
    ({"load_params": {"usage": "Training"}}, "load_params of fer source 'synthetic': unknown parameter 'usage'"),
    ({"source": "fer2013", "load_params": {"usage": 3}}, "'usage' must be str"),
    ({"n_source": 0}, "synthetic faces: n_source and n_target must be >= 1"),
])
def test_configure_rejects_bad_values_naming_the_parameter(given, match):
    with pytest.raises(ParameterError, match=match):
        relmask.get_experiment("fer").configure(given)


def test_configure_accepts_what_the_pipeline_accepts(tmp_path):
    fer = relmask.get_experiment("fer")
    fer.configure({"relevance_params": {"batch_size": 128}})  # explain()'s own options ride along
    fer.configure({"source": "fer2013", "data_path": str(tmp_path), "n_source": 0, "n_target": 0,
                   "load_params": {"on_error": "skip"}})  # a data path must exist: checked before a kernel starts
    fer.configure({"trainer": "none", "relevance_method": "external", "relevance_params": {"source": "g.npz"}})
    (tmp_path / "trainer.keras").write_bytes(b"")  # existence is checked here; loading it is get_trainer's job
    fer.configure({"trainer": str(tmp_path / "trainer.keras"), "trainer_model": "not_looked_up"})
    with pytest.warns(UserWarning, match="1 seed"):
        fer.configure({"seeds": [0]})


def test_a_config_built_in_python_is_held_to_the_same_rules():
    with pytest.raises(ParameterError, match="'epochs' = 0 is out of range"):
        config.FerExperiment(epochs=0, k=1).validate()
    with pytest.raises(ParameterError, match="must not use the true label"):
        config.FerExperiment(eval_mask_target="true").validate()
