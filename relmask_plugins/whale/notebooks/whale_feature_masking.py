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
# # Relevance-based feature masking for whale up-call detection (Interspeech 2019)
#
# CNN1 is trained on spectrograms of 2-s hydrophone clips; its relevance maps mask the training features of a
# second CNN (CNN2); the two are fused on the decision level and scored by ROC AUC on held-out clips. The controls
# sit in the same table: `ensemble_raw` (CNN1 fused with a CNN trained on raw data with another seed: any
# ensemble's gain), `cnn2_<control>`/`fusion_<control>` (the same masker on shuffled maps, another clip's map and
# smooth random maps: same masked share and map statistics, not the placement) and `mask_only` (a CNN on the maps
# alone: do the masks carry the label?). Training masks explain CNN1's prediction by default (true-class masks leak
# the label). Effects are paired per-seed differences with bootstrap 95 % intervals plus DeLong's test per seed.
# The defaults are the `quick` preset on the embedded synthetic data; `relmask run whale --preset full` runs the
# Kaggle clips (`-p data_path DIR`), `--preset real` real precomputed spectrograms (the presets are
# `relmask_plugins/whale/presets/*.yaml`). The parameters are declared once, with their checks, in
# `relmask_plugins/whale/config.py` (`WhaleExperiment`); the logic lives in `pipeline.py` beside it, the figures in
# `report.py` (see docs/whale.md).

# %% tags=["parameters"]
source: str = "synthetic"  # data source of the whale domain: synthetic, kaggle (clips + CSV), features (.npz of spectrograms) or images (<class>/*.png)
data_path: str | None = None  # Kaggle folder, an .npz of spectrograms or a folder of <class>/*.png; None for synthetic
n_clips: int | None = 400  # synthetic: number of clips; kaggle: the first N; features/images: a stratified subsample (None = all)
on_error: str = "raise"  # kaggle/images: a bad file or label mismatch raises (naming the file) or is skipped
load_params: dict = {}  # extra parameters of the data source, e.g. {flip_frequency: true} for image-ordered rows (relmask list domains)
relevance_methods: list[str] = ["gradcam"]  # relevance methods to compare (relmask list methods)
relevance_params: dict[str, dict] = {}  # parameters per relevance method: {method: {param: value}}, e.g. {occlusion: {window: 12}}
maskers: list[str] = ["negative"]  # maskers to compare (relmask list maskers)
masker_params: dict[str, dict] = {}  # parameters per masker: {masker: {param: value}}, e.g. {keep: {fraction: 0.5, fill: blur}} (relmask list maskers)
model: str = "whale_cnn"  # architecture of every model trained (relmask list models)
model_params: dict = {}  # parameters of the architecture (relmask list models)
epochs: int = 2  # training epochs of every model the experiment compares (one schedule for all; a model trained apart to be explained has its own <role>_epochs)
batch_size: int = 32  # training batch size
learning_rate: float = 0.001  # Adam learning rate
balanced: bool = True  # weight the classes inversely to their frequency in training (up-calls are the minority)
seeds: list[int] = [0, 1]  # one repetition per seed: a seed fixes the initial weights shared by every condition (paired), results are reported over seeds
n_folds: int = 0  # 0: a seeded stratified split per seed; k >= 2: seed i runs fold i of one k-fold
val_fraction: float = 0.1  # share of the clips held out for validation during training
test_fraction: float = 0.2  # share of the clips held out for testing (ignored with n_folds: one fold is the test part)
fusion_rules: list[str] = ["mean", "product", "max"]  # decision-level fusion of CNN1 with CNN2: mean, product, max
train_mask_target: str = "predicted"  # class the training masks explain: predicted (CNN1's), positive (the up-call), or true (leaks the label into the data)
eval_mask_target: str = "predicted"  # class the test masks explain: predicted or positive; never the true label (it would leak the answer)
eval_inputs: str = "masked"  # CNN2 is evaluated on masked (like its training data) or raw test spectrograms
controls: list[str] = ["shuffled", "permuted", "smooth"]  # control maps per masker: shuffled, permuted, smooth (relmask.pipeline.controls)
mask_only: bool = True  # also train a CNN on the maps alone: do they carry the label?
cache_dir: str | None = None  # cache folder of data and relevance maps (None: the experiment's default; relmask reproduce sets <out>/cache)
output_dir: str = "runs/whale_feature_masking"  # where results.json and figures/ go

# %%
from IPython.display import Markdown, display

import relmask
from relmask_plugins.whale import pipeline as whale
from relmask_plugins.whale import report

exp = relmask.get_experiment("whale")
cfg = exp.from_namespace(globals())  # every value checked before anything loads or trains
relmask.running.results.set_results_path(cfg.output_dir)
ds = whale.load_data(cfg.source, cfg.data_path, cfg.n_clips, cache_dir=cfg.cache_dir, on_error=cfg.on_error,
                     **cfg.load_params)
print(ds)
print("class counts:", ds.class_counts())
for key in ("skipped", "unlabelled_files", "missing_files"):
    if ds.report.get(key):
        print(f"{key}: {len(ds.report[key])}, first: {ds.report[key][0]}")

# %% [markdown]
# ## Train CNN1, relevance, masking, CNN2, fusion and controls — for every seed

# %%
results = whale.run(ds, cfg)  # records its tables, effects, ROC curves and the parameters (cfg) in results.json
print("maps without information (degenerate) per seed:", results["degenerate_maps"])
if results["label_leak_risk"]:
    print("WARNING: training masks explain the TRUE class: they can carry the label (see the mask-only control)")

# %% [markdown]
# ## AUC (mean ± sd over seeds) of CNN1, CNN2, fusion and the controls

# %%
report.write_table(results, cfg.output_dir)
display(Markdown(results["table_markdown"]))

# %% [markdown]
# ## Effects with 95 % intervals, and the mask-only control
#
# Paired per-seed AUC differences (bootstrap interval of the mean; *within noise* means the interval includes zero)
# and DeLong's test over the test clips of each seed.

# %%
display(Markdown(results["effects_markdown"]))
for method, verdict in results["leak_check"].items():
    print(f"{method}: {verdict['text']}")

# %% [markdown]
# ## ROC curves (first seed)

# %%
report.plot_roc(results, cfg.output_dir);

# %% [markdown]
# ## Example test spectrograms: relevance overlay, masked, masked with control maps

# %%
report.plot_examples(results, ds, cfg.output_dir);
