"""Experiment A's steps on tiny data: splits, masking policy, variants, students, summaries, figures."""
from __future__ import annotations

import numpy as np
import pytest

import relmask
from relmask.errors import DataError, ParameterError
from relmask.experiments import fer as exp


@pytest.fixture(scope="module")
def splits():
    return exp.load_splits("synthetic", None, "photo", "cartoon", n_source=70, n_target=70, seed=0)


def test_synthetic_splits_disjoint_and_stratified(splits):
    assert {k: len(v) for k, v in splits.items()} == {"source": 70, "train": 42, "val": 14, "test": 14}
    ids = [set(ds.ids.tolist()) for ds in splits.values()]
    assert sum(len(s) for s in ids) == len(set().union(*ids))
    assert splits["source"].style == "photo" and splits["train"].style == "cartoon"
    assert set(splits["val"].class_counts().values()) == {2}


def test_real_data_split_into_source_and_target(tmp_path):
    rows = "".join(f"{i % 7},{' '.join([str(i % 250)] * 2304)},Training\n" for i in range(84))
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n" + rows)
    s = exp.load_splits("fer2013", str(tmp_path / "fer2013.csv"), n_source=28, n_target=0, seed=1)
    assert len(s["source"]) == 28 and len(s["train"]) + len(s["val"]) + len(s["test"]) == 42
    assert not set(s["source"].ids.tolist()) & set(s["train"].ids.tolist())
    with pytest.raises(DataError, match="empty"):
        exp.load_splits("synthetic", n_source=7, n_target=7)


@pytest.mark.parametrize("layout", ["folder", "fer2013"])
def test_image_folder_layouts_split(tmp_path, layout):
    from PIL import Image

    classes = relmask.get_domain("fer").load("synthetic", n=7).class_names
    for c in classes:
        for k in range(10):
            d = tmp_path / ("train" if layout == "fer2013" else "") / c
            d.mkdir(parents=True, exist_ok=True)
            Image.new("L", (48, 48), 20 * k).save(d / f"{k}.png")
    s = exp.load_splits(layout, str(tmp_path), n_source=0, n_target=0, seed=0,
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

    monkeypatch.setattr(exp, "cached_explain", fake_explain)
    return calls


def tagged(ds, start):
    """ds with a unique value in pixel (0, 0) so the stub trainer knows each face's label."""
    x = ds.x.copy()
    x[:, 0, 0, 0] = (start + np.arange(len(ds))) / 1000.0
    return ds.with_x(x), {float(v): int(y) for v, y in zip(x[:, 0, 0, 0], ds.y)}


def test_validation_masks_never_use_the_label(splits, recorded):
    train, tl = tagged(splits["train"], 0)
    val, vl = tagged(splits["val"], 500)
    trainer = StubTrainer({**tl, **vl})
    exp.target_relevance(trainer, train, val, "gradcam")
    np.testing.assert_array_equal(recorded[0], train.y)  # training masks: true labels (allowed)
    np.testing.assert_array_equal(recorded[1], (val.y + 1) % 7)  # validation: the trainer's prediction
    assert not np.any(recorded[1] == val.y)

    recorded.clear()
    r = exp.target_relevance(trainer, train, val, "gradcam", train_mask_target="predicted",
                             eval_mask_target="all_classes")
    np.testing.assert_array_equal(recorded[0], (train.y + 1) % 7)
    assert [int(c[0]) for c in recorded[1:]] == list(range(7))  # one label-free pass per class
    np.testing.assert_allclose(r["val"], 3.0)  # mean |R| over the classes 0..6
    with pytest.raises(ParameterError, match="must not use the true label"):
        exp.target_relevance(trainer, train, val, "gradcam", eval_mask_target="true")


def test_variants_and_random_control(splits):
    train, val = splits["train"], splits["val"]
    rng = np.random.default_rng(0)
    rel = {"train": rng.random(train.x.shape, dtype=np.float32), "val": rng.random(val.x.shape, dtype=np.float32)}
    vs = exp.make_variants(train, val, rel, ["keep", "soft"], {"keep": {"fraction": 0.25}}, "gradcam", seed=0)
    assert [v.name for v in vs] == ["raw", "keep", "keep_random", "soft", "soft_random"]
    assert [v.control for v in vs] == [False, False, True, False, True]
    keep, keep_random = vs[1], vs[2]
    assert keep.relevance == "gradcam" and keep_random.relevance == "random"
    assert abs(keep.masked_fraction - keep_random.masked_fraction) < 0.02  # same share removed
    assert not np.allclose(keep.x_train, keep_random.x_train)
    np.testing.assert_array_equal(vs[0].x_train, train.x)
    with pytest.raises(ParameterError, match="'mean', which is not in maskers"):
        exp.make_variants(train, val, rel, ["keep"], {"mean": {}})


def test_summary_statistics():
    curves = [{"variant": "raw", "seed": s, "epoch": e + 1, "val_accuracy": a}
              for s, c in ((0, [0.2, 0.4, 0.6]), (1, [0.3, 0.5, 0.5])) for e, a in enumerate(c)]
    curves += [{"variant": "keep", "seed": 0, "epoch": e + 1, "val_accuracy": a} for e, a in enumerate([.1, .1, .2])]
    table = {r["variant"]: r for r in exp.summarize(curves, reach_level=0.45, k=2)}
    raw = table["raw"]
    assert raw["n_seeds"] == 2 and raw["reached"] == 2
    assert raw["epochs_to_reach_mean"] == pytest.approx(2.5)
    assert raw["acc_after_k_mean"] == pytest.approx(0.45) and raw["acc_after_k_sd"] == pytest.approx(0.0707, abs=1e-3)
    assert raw["aulc_mean"] == pytest.approx((0.4 + 0.4333333) / 2)
    assert raw["final_acc_mean"] == pytest.approx(0.55)
    assert table["keep"]["reached"] == 0 and np.isnan(table["keep"]["epochs_to_reach_mean"])
    text = exp.format_table(list(table.values()), 0.45, 2)
    assert "never" in text and "2.5" in text
    with pytest.raises(ParameterError, match="k"):
        exp.check_schedule(epochs=3, k=4, reach_level=0.5, seeds=[0, 1, 2])


def test_students_identical_start_per_seed(splits):
    train, val = splits["train"], splits["val"]
    same = [exp.Variant("raw", train.x, val.x), exp.Variant("copy", train.x.copy(), val.x.copy())]
    rows = exp.train_students(same, train.y, val.y, 7, epochs=2, batch_size=16, seeds=[3])
    assert [(r["variant"], r["seed"], r["epoch"]) for r in rows] == [("raw", 3, 1), ("raw", 3, 2),
                                                                     ("copy", 3, 1), ("copy", 3, 2)]
    # same inputs + same seed = same start and schedule = the same curve
    assert [r["val_accuracy"] for r in rows[:2]] == [r["val_accuracy"] for r in rows[2:]]
    assert all(0.0 <= r["val_accuracy"] <= 1.0 for r in rows)


@pytest.mark.skipif("gradcam" not in relmask.list_methods(), reason="relevance engine without gradcam")
def test_real_trainer_relevance_finetune_and_figures(splits, tmp_path):
    trainer = exp.get_trainer("train", splits["source"], epochs=1, batch_size=16)
    assert 0.0 <= exp.trainer_accuracy(trainer, splits["val"]) <= 1.0
    rel = exp.target_relevance(trainer, splits["train"], splits["val"], "gradcam", cache_dir=str(tmp_path / "c"))
    assert rel["train"].shape == splits["train"].x.shape and np.isfinite(rel["val"]).all()
    assert any((tmp_path / "c" / "relevance").iterdir())
    vs = exp.make_variants(splits["train"], splits["val"], rel, ["keep"], {"keep": {"fraction": 0.5}})
    rows = exp.finetune_trainer(trainer, splits["train"], splits["val"], epochs=1, batch_size=16, seeds=[0])
    assert [r["variant"] for r in rows] == [exp.FINETUNED]
    exp.plot_examples(splits["val"], rel["val"], vs, tmp_path / "examples")
    exp.plot_learning_curves(rows, tmp_path / "curves", 0.3)
    for stem in ("examples", "curves"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 1000 and (tmp_path / f"{stem}.pdf").exists()


def test_external_relevance_in_the_experiment(splits, tmp_path):
    train, val = splits["train"], splits["val"]
    np.savez(tmp_path / "gaze.npz", ids=np.r_[train.ids, val.ids],
             maps=np.random.default_rng(0).random((len(train) + len(val), 12, 12)))
    rel = exp.target_relevance(None, train, val, "external", {"source": str(tmp_path / "gaze.npz")})
    assert rel["train"].shape == train.x.shape and rel["val"].shape == val.x.shape
    with pytest.raises(ParameterError, match="source"):
        exp.target_relevance(None, train, val, "external", {})
    assert exp.get_trainer("none", splits["source"]) is None
