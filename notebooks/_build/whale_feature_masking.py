"""Generates notebooks/whale_feature_masking.ipynb: Paper B, relevance-based feature masking on whale clips."""
from pathlib import Path

from nbgen import MARKDOWN, build

build(
    Path(__file__).resolve().parents[1] / "whale_feature_masking.ipynb",
    """# Relevance-based feature masking for whale up-call detection (Interspeech 2019)

CNN1 is trained on spectrograms of 2-s hydrophone clips; its relevance maps mask the training features of a
second CNN (CNN2); the two are fused on the decision level and scored by ROC AUC on held-out clips. The controls
sit in the same table: `ensemble_raw` (CNN1 fused with a CNN trained on raw data with another seed: any
ensemble's gain), `cnn2_<control>`/`fusion_<control>` (the same masker on shuffled maps, another clip's map and
smooth random maps: same masked share and map statistics, not the placement) and `mask_only` (a CNN on the maps
alone: do the masks carry the label?). Training masks explain CNN1's prediction by default (true-class masks leak
the label). Effects are paired per-seed differences with bootstrap 95 % intervals plus DeLong's test per seed.
The defaults are the `quick` preset on the embedded synthetic data; `notebooks/presets/whale_feature_masking_full.yaml`
runs the Kaggle clips, `notebooks/presets/whale_feature_masking_real.yaml` real precomputed spectrograms.
The logic lives in `relmask.experiments.whale` (see docs/whale.md).""",
    """\
source: str = "synthetic"  # data source of the whale domain: synthetic, kaggle, features (.npz) or images
data_path: str | None = None  # Kaggle folder, clips + CSV, an .npz of spectrograms or <class>/*.png; None: synthetic
n_clips: int | None = 400  # synthetic: number of clips; kaggle: the first N; features/images: a subsample (None = all)
on_error: str = "raise"  # kaggle/images: a bad file or label mismatch raises (naming the file) or is skipped: skip
load_params: dict = {}  # extra data-source parameters, e.g. {"flip_frequency": True} for image-ordered rows
relevance_methods: list = ["gradcam"]  # relevance methods of CNN1 (relmask list methods)
relevance_params: dict = {}  # per-method parameters, e.g. {"lrp.epsilon": {"epsilon": 0.01}}
maskers: list = ["negative"]  # maskers applied to the features (relmask list maskers)
masker_params: dict = {}  # per-masker parameters, e.g. {"negative": {"fraction": 0.2, "fill": "sample_mean"}}
model: str = "whale_cnn"  # architecture of every CNN (whale_cnn, whale_cnn_bn, whale_conv1d)
epochs: int = 2  # training epochs of every CNN
batch_size: int = 32  # training batch size
learning_rate: float = 0.001  # Adam learning rate
seeds: list = [0, 1]  # one full run (split, CNN1, CNN2s) per seed; AUCs reported as mean and sd over seeds
n_folds: int = 0  # 0: a seeded stratified split per seed; k >= 2: seed i runs fold i of one k-fold
fusion_rules: list = ["mean", "product", "max"]  # decision-level fusion of CNN1 with CNN2
train_mask_target: str = "predicted"  # training masks: predicted, positive, or true (leaks the label)
eval_mask_target: str = "predicted"  # class explained for test masks: predicted (CNN1's) or positive; never true
eval_inputs: str = "masked"  # CNN2 is evaluated on masked (like its training data) or raw test spectrograms
controls: list = ["shuffled", "permuted", "smooth"]  # control maps per masker (relmask.controls)
mask_only: bool = True  # also train a CNN on the maps alone: do they carry the label?
cache_dir: str | None = None  # cache of clips, spectrograms and relevance maps (default ~/.cache/relmask/whale)
output_dir: str = "runs/whale_feature_masking"  # where results.json, auc_table.md and figures/ go""",
    [
        """\
from IPython.display import Markdown, display

import relmask
from relmask.experiments import whale

relmask.results.set_results_path(output_dir)
ds = whale.load_data(source, data_path, n_clips, cache_dir=cache_dir, on_error=on_error, **load_params)
print(ds)
print("class counts:", ds.class_counts())
for key in ("skipped", "unlabelled_files", "missing_files"):
    if ds.report.get(key):
        print(f"{key}: {len(ds.report[key])}, first: {ds.report[key][0]}")""",
        MARKDOWN + "## Train CNN1, relevance, masking, CNN2, fusion and controls — for every seed",
        """\
cfg = whale.WhaleExperiment(
    relevance_methods=relevance_methods, relevance_params=relevance_params, maskers=maskers,
    masker_params=masker_params, model=model, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
    seeds=seeds, n_folds=n_folds, fusion_rules=fusion_rules, train_mask_target=train_mask_target,
    eval_mask_target=eval_mask_target, eval_inputs=eval_inputs, controls=controls, mask_only=mask_only,
    cache_dir=cache_dir).validate()  # every name and range checked before anything trains
results = whale.run(ds, cfg)
print("maps without information (degenerate) per seed:", results["degenerate_maps"])
if results["label_leak_risk"]:
    print("WARNING: training masks explain the TRUE class: they can carry the label (see the mask-only control)")""",
        MARKDOWN + "## AUC (mean ± sd over seeds) of CNN1, CNN2, fusion and the controls",
        """\
whale.write_table(results, output_dir)
display(Markdown(results["table_markdown"]))""",
        MARKDOWN + ("## Effects with 95 % intervals, and the mask-only control\n\n"
                    "Paired per-seed AUC differences (bootstrap interval of the mean; *within noise* means the "
                    "interval includes zero) and DeLong's test over the test clips of each seed."),
        """\
display(Markdown(results["effects_markdown"]))
for method, verdict in results["leak_check"].items():
    print(f"{method}: {verdict['text']}")""",
        MARKDOWN + "## ROC curves (first seed)",
        "whale.plot_roc(results, output_dir);",
        MARKDOWN + "## Example test spectrograms: relevance overlay, masked, masked with control maps",
        "whale.plot_examples(results, ds, output_dir);",
    ],
)
