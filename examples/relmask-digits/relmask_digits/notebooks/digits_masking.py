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
model: str = "digits_cnn"  # architecture of every model trained (relmask list models)
model_params: dict = {}  # parameters of the architecture (relmask list models)
relevance_method: str = "lrp.epsilon"  # relevance method (relmask list methods)
relevance_params: dict = {}  # parameters of the relevance method (relmask list methods)
maskers: list[str] = ["keep"]  # maskers to compare (relmask list maskers)
masker_params: dict[str, dict] = {"keep": {"fraction": [0.1, 0.3], "fill": "zero"}}  # parameters per masker: {masker: {param: value}}, e.g. {keep: {fraction: 0.5, fill: blur}} (relmask list maskers)
controls: list[str] = ["shuffled"]  # control maps, each masked the same way (shuffled, permuted, smooth)
teacher_epochs: int = 6  # training epochs of the teacher
epochs: int = 6  # training epochs of every model the experiment compares (one schedule for all; a model trained apart to be explained has its own <role>_epochs)
batch_size: int = 32  # training batch size
learning_rate: float = 0.003  # Adam learning rate
seeds: list[int] = [0, 1]  # one repetition per seed: a seed fixes the initial weights shared by every condition (paired), results are reported over seeds
output_dir: str = "runs/digits"  # where results.json and figures/ go

# %%
import dataclasses
import time
from pathlib import Path

from IPython.display import Markdown, display
from relmask_digits import experiment as digits

import relmask
from relmask import progress
from relmask.running.plotting import save_figure

exp = relmask.get_experiment("digits")
cfg = exp.from_namespace(globals())  # every value checked (types, ranges, registered names) before training
relmask.running.results.set_results_path(output_dir)
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
# The first test digits of the first seed: the image, the teacher's relevance |R|, and the image masked (by the
# first masker) at its smallest share with the real maps and with each control's.

# %%
fig = digits.plot_examples(examples, examples["masker"])
save_figure(fig, figures / "examples")

# %% [markdown]
# ## Accuracy against the share of pixels, over seeds
#
# Per masker, mean ± sd over seeds. The table sets each control, and the raw student, beside the real maps as a
# paired difference with its 95 % interval; *within noise* means the interval includes zero. "Ink kept" is the share of
# the test images' summed intensity the students of each condition still see.

# %%
summary = relmask.record("summary", digits.summarise(rows), headline=["accuracy_mean"])
effects = relmask.record("effects", digits.effects(rows, cfg.controls))
for masker in cfg.maskers:
    fig = digits.plot_results(summary, masker)
    save_figure(fig, figures / ("students" if len(cfg.maskers) == 1 else f"students_{masker}"))
    header, table_rows = digits.table(summary, effects, masker)
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
# `full` preset) keeps realistic map shapes but breaks that link. With the `negative` masker (`-p maskers
# '[negative]' -p masker_params '{negative: {fraction: [0.1, 0.3]}}'`, or both maskers side by side) the same
# notebook is remove-and-retrain: the better the maps, the *lower* the students' accuracy once the most relevant
# pixels are gone. `relmask reproduce --config digits` runs this notebook and draws the same figure and table into `paper/`
# (`relmask_digits/paper.py`).
