"""Generates notebooks/whale_feature_masking.ipynb: Paper B, relevance-based feature masking on whale clips."""
from pathlib import Path

from nbgen import MARKDOWN, build

build(
    Path(__file__).resolve().parents[1] / "whale_feature_masking.ipynb",
    """# Relevance-based feature masking for whale up-call detection (Interspeech 2019)

CNN1 is trained on spectrograms of 2-s hydrophone clips; its relevance maps mask the training features of a
second CNN (CNN2); the two are fused on the decision level and scored by ROC AUC on held-out clips. Two controls
sit in the same table: `ensemble_raw` (CNN1 fused with a CNN trained on raw data with another seed) and
`cnn2_random`/`fusion_random` (the same masker driven by random relevance, same masked share). The defaults are
the `quick` preset on the embedded synthetic data; `presets/whale_feature_masking_full.yaml` runs the Kaggle data.
The logic lives in `relmask.experiments.whale` (see docs/whale.md).""",
    """\
source: str = "synthetic"  # data source of the whale domain: synthetic or kaggle
data_path: str | None = None  # Kaggle folder (train.csv + train/) or a folder of clips with a CSV; None for synthetic
n_clips: int | None = 400  # synthetic: number of clips; kaggle: read only the first N (None = all)
on_error: str = "raise"  # kaggle: a bad clip or label mismatch raises (naming the file) or is skipped: skip
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
train_mask_target: str = "true"  # class explained for the training masks: true, predicted or positive
eval_mask_target: str = "predicted"  # class explained for test masks: predicted (CNN1's) or positive; never true
eval_inputs: str = "masked"  # CNN2 is evaluated on masked (like its training data) or raw test spectrograms
cache_dir: str | None = None  # cache of clips, spectrograms and relevance maps (default ~/.cache/relmask/whale)
output_dir: str = "runs/whale_feature_masking"  # where results.json, auc_table.md and figures/ go""",
    [
        """\
from IPython.display import Markdown, display

import relmask
from relmask.experiments import whale

relmask.results.set_results_path(output_dir)
ds = whale.load_data(source, data_path, n_clips, cache_dir=cache_dir, on_error=on_error)
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
    eval_mask_target=eval_mask_target, eval_inputs=eval_inputs, cache_dir=cache_dir)
results = whale.run(ds, cfg)""",
        MARKDOWN + "## AUC (mean ± sd over seeds) of CNN1, CNN2, fusion and the two controls",
        """\
whale.write_table(results, output_dir)
display(Markdown(results["table_markdown"]))""",
        MARKDOWN + "## ROC curves (first seed)",
        "whale.plot_roc(results, output_dir);",
        MARKDOWN + "## Example test spectrograms: relevance overlay, masked, masked with random relevance",
        "whale.plot_examples(results, ds, output_dir);",
    ],
)
