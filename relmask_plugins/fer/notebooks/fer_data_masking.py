# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (relmask)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Relevance-based data masking for facial expression recognition (Frontiers 2020)
#
# A *trainer* learns expressions on a source set; its relevance maps on a disjoint *target* set are encoded in
# the target images by maskers; fresh *students* learn from raw and from masked target data with identical
# schedules (same initial weights per seed). Does the masked data **accelerate learning**, and does the student
# still work **without the trainer** at test time?
#
# Built in so that the answer can be defended: training masks follow the evaluation rule (the trainer's
# prediction or a label-free map; true-class masks leak the label and must be asked for); a *mask-only* student
# tests whether the maps alone carry the label; every student is scored on masked, raw and label-free validation
# images; three controls (shuffled maps, another sample's map, smooth random maps) go through the same maskers;
# every comparison is a paired per-seed difference with a bootstrap 95 % interval. A fine-tuned copy of the
# trainer is the classic-transfer baseline.
#
# Defaults are the `quick` preset on synthetic faces (photo-style source, cartoon-style target); the `full` preset
# (`relmask run fer --preset full -p data_path …`) and the `real` preset run on FER2013 faces (files in
# `relmask_plugins/fer/presets/`). Parameters: `relmask_plugins/fer/config.py` (the experiment `fer`,
# `relmask run fer --help`); logic: `pipeline.py` beside it, tables and figures: `report.py`; docs: `docs/fer.md`.

# %% tags=["parameters"]
source: str = "synthetic"  # data: synthetic, fer2013 (Kaggle csv or image folders), folder or features (.npz)
data_path: str | None = None  # fer2013.csv, the FER2013 image folders, a class-per-folder set or an .npz
source_style: str = "photo"  # synthetic only: drawing style of the trainer's source faces
target_style: str = "cartoon"  # synthetic only: drawing style of the students' target faces
n_source: int = 1000  # source (trainer) faces; real data: 0 for the whole source half
n_target: int = 1200  # target faces, split 60/20/20 into train/val/test; real data: 0 for the whole target half
n_train: int = 0  # students' training faces, nested subsample of the target train split (0: all; val/test stay whole)
seed: int = 0  # seed of the data, the splits and the random-relevance control
trainer: str = "train"  # train (on the source set), a Keras model file, fer-package, or none (external maps only)
trainer_model: str = "fer_small_cnn"  # architecture of a trained trainer (relmask list models)
trainer_epochs: int = 5  # epochs of trainer training on the source set
trainer_holdout: float = 0.15  # share of the source set held out to keep the trainer's best epoch (0: last)
relevance_method: str = "gradcam"  # relevance method (relmask list methods)
relevance_params: dict = {}  # parameters of the relevance method (relmask list methods)
train_mask_target: str = "predicted"  # training masks explain: predicted, all_classes, or true (leaks the label)
eval_mask_target: str = "predicted"  # evaluation masks: predicted or all_classes (never the label: it would leak)
load_params: dict = {}  # extra data-source parameters, e.g. {"on_error": "skip"} or {"difficulty": 1.5}
maskers: list[str] = ["keep"]  # maskers to compare (relmask list maskers)
masker_params: dict[str, dict] = {"keep": {"fraction": 0.5, "fill": "blur"}}  # parameters per masker: {masker: {param: value}}, e.g. {keep: {fraction: 0.5, fill: blur}} (relmask list maskers)
controls: list[str] = ["shuffled", "permuted", "smooth"]  # control maps per masker (relmask.pipeline.controls)
mask_only: bool = True  # also train a student on the maps alone: do they carry the label?
student: str = "fer_small_cnn"  # student architecture, e.g. fer_small_cnn, fer_deep_cnn, fer_mobilenetv2
student_params: dict = {}  # parameters of the student architecture
epochs: int = 3  # training epochs of every model the experiment compares (one schedule for all; a model trained apart to be explained has its own <role>_epochs)
batch_size: int = 32  # training batch size
learning_rate: float = 0.001  # Adam learning rate
seeds: list[int] = [0, 1, 2]  # one repetition per seed: a seed fixes the initial weights shared by every condition (paired), results are reported over seeds
reach_level: float = 0.3  # validation accuracy for "epochs to reach"
k: int = 2  # report the validation accuracy after k epochs (1..epochs)
finetune_baseline: bool = True  # also fine-tune a copy of the trainer on the raw target data
output_dir: str = "runs/fer_data_masking"  # where results.json and figures/ go
cache_dir: str | None = None  # cache folder of data and relevance maps (None: the experiment's default; relmask reproduce sets <out>/cache)

# %%
import dataclasses
from pathlib import Path

import relmask
from relmask_plugins.fer import pipeline as fer
from relmask_plugins.fer import report

exp = relmask.get_experiment("fer")
cfg = exp.from_namespace(globals())  # every value checked (types, ranges, names, masker params) before training
relmask.running.results.set_results_path(cfg.output_dir)
figures = Path(cfg.output_dir) / "figures"
_ = relmask.record("params", dataclasses.asdict(cfg))

# %% [markdown]
# ## Data: disjoint source (trainer) and target (student) sets, target split train/val/test

# %%
splits = fer.load_splits(cfg.source, cfg.data_path, cfg.source_style, cfg.target_style, cfg.n_source, cfg.n_target,
                         cfg.seed, load_params=cfg.load_params, n_train=cfg.n_train)
_ = relmask.record("split_sizes", {name: len(ds) for name, ds in splits.items()})
# what always predicting the most frequent class scores: the floor every accuracy below is read against
majority = relmask.record("majority_rate", {name: fer.majority_rate(ds) for name, ds in splits.items()})
print({name: len(ds) for name, ds in splits.items()}, "majority-class rate:", majority)

# %% [markdown]
# ## Trainer (best epoch on held-out source faces) and its accuracy on the raw target validation set

# %%
teacher = fer.get_trainer(cfg.trainer, splits["source"], cfg.trainer_model, epochs=cfg.trainer_epochs,
                          batch_size=cfg.batch_size, seed=cfg.seed, learning_rate=cfg.learning_rate,
                          holdout=cfg.trainer_holdout)
_ = relmask.record("trainer", teacher.origin if teacher else "none")
_ = relmask.record("trainer_history", teacher.history if teacher else {})
acc = relmask.record("trainer_accuracy", fer.trainer_accuracy(teacher, splits["val"]))
test_acc = relmask.record("trainer_test_accuracy", fer.trainer_accuracy(teacher, splits["test"]))
print(f"trainer: {teacher.origin if teacher else 'none'}; accuracy on the raw target validation set {acc:.3f}, "
      f"test set {test_acc:.3f}")

# %% [markdown]
# ## Relevance on the target splits, and the masked variants
#
# Evaluation masks explain the trainer's prediction (or all classes), never the label. Maps without information
# (e.g. all-zero Grad-CAM) are counted per split.

# %%
relevance = fer.target_relevance(teacher, splits, cfg.relevance_method, cfg.relevance_params,
                                 cfg.train_mask_target, cfg.eval_mask_target, cfg.cache_dir)
degenerate = relmask.record("degenerate_maps", fer.degenerate_counts(relevance))
print("maps without information:", {k: f"{v['degenerate']}/{v['n']}" for k, v in degenerate.items()})
if cfg.train_mask_target == "true":
    relmask.record("label_leak_risk", True)
    print("WARNING: training masks explain the TRUE class: they can carry the label (see the mask-only control)")
variants = fer.make_variants(splits, relevance, cfg.maskers, cfg.masker_params, cfg.relevance_method, cfg.seed,
                             cfg.controls, cfg.mask_only)
_ = relmask.record("masked_fraction", {v.name: v.masked_fraction for v in variants})
report.plot_examples(splits["val"], relevance["val"], variants, figures / "examples");

# %% [markdown]
# ## Students on raw and masked target data (and the fine-tuned trainer)

# %%
curves, tests = fer.train_students(variants, splits["train"].y, splits["val"].y, splits["train"].n_classes,
                                   cfg.student, cfg.student_params, cfg.epochs, cfg.batch_size, cfg.seeds,
                                   cfg.learning_rate, y_test=splits["test"].y)
if cfg.finetune_baseline and teacher is not None:
    more_curves, more_tests = fer.finetune_trainer(teacher, splits["train"], splits["val"], cfg.epochs,
                                                   cfg.batch_size, cfg.seeds, cfg.learning_rate, test=splits["test"])
    curves, tests = curves + more_curves, tests + more_tests
_ = relmask.record("curves", curves)
_ = relmask.record("test_accuracy", tests)

# %% [markdown]
# ## Learning speed on masked, raw and label-free evaluation images (mean ± sd over seeds)
#
# `test acc` is measured once, after the last epoch, on the test split.

# %%
table = fer.summarize(curves, variants, cfg.reach_level, cfg.k, tests)
relmask.record("table", table, headline=["aulc_mean", "final_acc_mean"])  # NaN fails the run, never cached
for key, value in (("reach_level", cfg.reach_level), ("k", cfg.k)):
    relmask.record(key, value)
print(report.format_table(table, cfg.reach_level, cfg.k))
report.plot_learning_curves(curves, figures / "learning_curves", cfg.reach_level);

# %% [markdown]
# ## Effects with 95 % intervals, and the mask-only control
#
# Paired per-seed differences (bootstrap interval of the mean); *within noise* means the interval includes zero.

# %%
effects = relmask.record("effects", fer.effects(curves, tests, variants, cfg.reach_level, cfg.k))
for metric in ("aulc", "test_acc"):
    print(report.format_effects(effects, metric), end="\n\n")
leak = relmask.record("leak_check", fer.mask_only_verdict(curves, acc, splits["val"].y, cfg.train_mask_target))
print(leak["text"] if leak else "mask-only control not run (mask_only=False)")
