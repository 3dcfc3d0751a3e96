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
# # Do a teacher's relevance maps show a student where to look? Handwritten digits
#
# A **teacher** CNN learns to read scikit-learn's handwritten digits (1,797 real 8×8 images that ship with
# scikit-learn). relmask explains it: a relevance map per image says which pixels its decision rested on. The
# maps are then written into the images — by default only the most relevant share of the pixels is **kept** —
# and a fresh **student** learns from those masked digits alone. Is that better than keeping as many pixels
# chosen by **control** maps (the same values in other places), and how close does it come to a student of the
# **raw** digits?
#
# Each map explains the teacher's *predicted* class, never the label. Per seed, all students share the split, the
# initial weights and the batch order, so relevance − control is a paired difference over seeds. The defaults are
# the `quick` preset (a smoke test: two seeds cannot tell an effect from noise); `relmask run digits --preset
# full` runs all digits, every control and five seeds. The logic is in `relmask_digits/experiment.py`, this
# notebook calls it in order.

# %% tags=["parameters"]
n_digits: int | None = 500  # digits used: a stratified subset of the 1,797 (None: all)
test_fraction: float = 0.3  # share of the digits held out to score the students
model: str = "digits_cnn"  # architecture of the teacher and every student (relmask list models)
model_params: dict = {}  # parameters of the architecture, e.g. {'filters': 8}
method: str = "lrp.epsilon"  # relevance method explaining the teacher (relmask list methods)
method_params: dict = {}  # parameters of the relevance method, e.g. {'epsilon': 0.01}
masker: str = "keep"  # keep (the most relevant pixels stay) or negative (they are removed: remove-and-retrain)
fractions: list[float] = [0.1, 0.3]  # shares of the pixels the masker selects by relevance
fill: str = "zero"  # what replaces removed pixels (zero, dataset_mean, sample_mean, blur)
controls: list[str] = ["shuffled"]  # control maps, each masked the same way (shuffled, permuted, smooth)
teacher_epochs: int = 6  # training epochs of the teacher
student_epochs: int = 6  # training epochs of every student
batch_size: int = 32  # training batch size
learning_rate: float = 0.003  # Adam learning rate
seeds: list[int] = [0, 1]  # one split, teacher and set of students per seed
output_dir: str = "runs/digits"  # where results.json and figures/ go

# %%
import dataclasses
import time
from pathlib import Path

from IPython.display import Markdown, display
from relmask_digits import experiment as digits

import relmask
from relmask import progress
from relmask.plotting import save_figure

exp = relmask.get_experiment("digits")
cfg = exp.from_namespace(globals())  # every value checked (types, ranges, registered names) before training
relmask.results.set_results_path(output_dir)
figures = Path(cfg.output_dir) / "figures"
_ = relmask.record("params", dataclasses.asdict(cfg))

# %% [markdown]
# ## The digits
#
# Loaded through the `digits` domain this plugin registers (`relmask.get_domain("digits")`): pixel values scaled
# to [0, 1], one grey channel, a stratified subset when `n_digits` is set.

# %%
data = digits.load_data(cfg)
_ = relmask.record("data", digits.describe_data(data))
_ = relmask.record("synthetic", False)  # real digits, though no --data-dir entry names them: paper/ says so
print(data)
print("digits per class:", data.class_counts())

# %% [markdown]
# ## Teacher, relevance maps and students, per seed
#
# Per seed: split, train the teacher, explain it on the training and test digits, mask both with the real maps
# and with each control's maps at every share, and train one student per condition and share (plus one on the
# raw digits).

# %%
start = time.perf_counter()
rows, teachers = [], []
for seed in progress.stage("seed", cfg.seeds):
    out = digits.run_seed(cfg, data, seed)
    rows += out["rows"]
    teachers.append({"seed": seed, "accuracy": out["teacher_accuracy"], "n_train": out["n_train"],
                     "n_test": out["n_test"]})
    if seed == cfg.seeds[0]:
        examples = out["examples"]
_ = relmask.record("teacher", teachers, headline=["accuracy"])
_ = relmask.record("rows", rows)
_ = relmask.record("runtime_s", time.perf_counter() - start)
for t in teachers:
    print(f"seed {t['seed']}: teacher accuracy {t['accuracy']:.3f} on {t['n_test']} test digits")

# %% [markdown]
# ## What a student sees
#
# The first test digits of the first seed: the image, the teacher's relevance |R|, and the image masked at the
# smallest share with the real maps and with each control's.

# %%
fig = digits.plot_examples(examples, cfg.masker)
save_figure(fig, figures / "examples")

# %% [markdown]
# ## Accuracy against the share of pixels, over seeds
#
# Mean ± sd over seeds. The table sets each control, and the raw student, beside the real maps as a paired
# difference with its 95 % interval; *within noise* means the interval includes zero. "Ink kept" is the share of
# the test images' summed intensity the students of each condition still see.

# %%
summary = relmask.record("summary", digits.summarise(rows), headline=["accuracy_mean"])
effects = relmask.record("effects", digits.effects(rows, cfg.controls))
fig = digits.plot_results(summary, cfg.masker)
save_figure(fig, figures / "students")
header, table_rows = digits.table(summary, effects, cfg.masker)
display(Markdown("\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                            *("| " + " | ".join(r) + " |" for r in table_rows)])))

# %% [markdown]
# ## Reading it
#
# With `keep` masking, the control maps are the test that matters: if students on relevance-kept pixels beat
# students on control-kept pixels beyond the noise, the maps point at pixels that carry the digit's identity —
# not merely at ink (compare the "ink kept" column: a control that keeps less ink is an easier opponent). Mind
# that *where* pixels survive follows the teacher's decision, so a student can read the teacher's prediction from
# the pattern of kept pixels as well as from their values; the `permuted` control (another digit's map, in the
# `full` preset) keeps realistic map shapes but breaks that link. With `masker="negative"` the same notebook is
# remove-and-retrain: the better the maps, the *lower* the students' accuracy once the most relevant pixels are
# gone. `relmask reproduce --config digits` runs this notebook and draws the same figure and table into `paper/`
# (`relmask_digits/paper.py`).
