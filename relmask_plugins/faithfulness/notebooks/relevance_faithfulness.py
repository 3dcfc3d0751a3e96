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
# # How good is a relevance map? Faithfulness scores beside masking results
#
# Both papers rest on one assumption: the relevance map points at what the model uses. On every domain that
# declares its defaults (`relmask list domains`: the built-in synthetic whale clips and faces, and any installed
# third-party domain such as the digits example; or those named by `domains`) one model is trained and explained
# by every relevance method; each method's maps are scored with **pixel flipping** (Samek et al. 2017), **ROAD**
# (Rong et al. 2022) and the **model-randomisation sanity check** (Adebayo et al. 2018) — and **ROAR** (Hooker et
# al. 2019) in the `full` preset — and, beside the scores, the same maps drive the domain's masking experiment,
# scored as the domain declares: CNN2 and fusion AUC on whale clips, the student's learning-curve gain on faces,
# the masked model's accuracy on digits. A `random` row (noise maps) is the reference.
# Does a more faithful map make a better mask?
#
# What a method needs to fit a domain's inputs comes from the domain too (`DomainDefaults.relevance_params`: the
# occlusion window is 12 px on whale spectrograms and 48×48 faces, 2 px on 8×8 digits); `relevance_params` here
# overrides it, parameter by parameter, on every domain. The table and the figure say "synthetic data" in their
# titles only for domains whose data are synthetic (`DomainDefaults.synthetic`), and the run records `synthetic`
# so that `paper/` labels it as its data were.
#
# Defaults are the `quick` preset's settings on every domain declaring defaults (a smoke test on small data, not a
# result; the `quick` preset itself names whale and fer); `relmask run faithfulness --preset full` runs the full
# one (presets: `relmask_plugins/faithfulness/presets/*.yaml`). Parameters and logic:
# `relmask_plugins/faithfulness/experiment.py`; the metrics: `docs/metrics.md`.

# %% tags=["parameters"]
domains: list[str] | None = None  # domains to run, each on its default source (None: every registered domain declaring defaults)
relevance_methods: list[str] = ["gradient", "gradcam", "occlusion", "lrp.epsilon", "lrp.epsilon_plus"]  # relevance methods to compare (relmask list methods)
relevance_params: dict[str, dict] = {}  # parameters per relevance method: {method: {param: value}}, e.g. {occlusion: {window: 12}}
random_control: bool = True  # add a row of random (noise) maps: the reference for every score
n_samples: dict[str, int] = {}  # samples per domain (split into train and test), at least 20 each; a domain not named here uses its default size
test_fraction: float = 0.3  # share of each domain's samples held out for testing
model_epochs: int = 6  # training epochs of the explained model
epochs: int = 3  # training epochs of every model the experiment compares (one schedule for all; a model trained apart to be explained has its own <role>_epochs)
batch_size: int = 32  # training batch size
learning_rate: float = 0.001  # Adam learning rate
seed: int = 0  # seed of the data, the split, the models and the metrics
n_eval: int = 32  # test samples scored by pixel flipping and ROAD
steps: int = 10  # pixel-flipping steps (all of the input removed at the last)
patch_size: int | None = 4  # remove p x p patches (None: single values)
road_steps: int = 5  # ROAD steps (up to 90 % removed)
n_sanity: int = 12  # test samples of the model-randomisation check
sanity_layers: int | None = None  # layers re-initialised from the top (None: all weighted layers)
reach_level: float = 0.3  # score aulc_gain: the validation accuracy of "epochs to reach"
roar: bool = False  # also run ROAR (retrains per share: the full preset)
roar_fractions: list[float] = [0.3, 0.7]  # ROAR: shares of the input removed, each in (0, 1)
roar_epochs: int = 3  # ROAR: epochs of every retrained model
output_dir: str = "runs/relevance_faithfulness"  # where results.json and figures/ go

# %%
import time
from pathlib import Path

from IPython.display import Markdown, display

import relmask
from relmask_plugins.faithfulness import experiment as fa

exp = relmask.get_experiment("faithfulness")
cfg = exp.from_namespace(globals())  # every value checked before anything trains
relmask.running.results.set_results_path(cfg.output_dir)
figures = Path(cfg.output_dir) / "figures"
_ = relmask.record("params", cfg.to_dict())

# %% [markdown]
# ## Train, explain, score and mask — per domain and method
#
# Every map explains the model's predicted class; pixel flipping removes with the domain masker's fill.

# %%
start = time.perf_counter()
results = fa.run(cfg, progress=True)
for domain, res in results.items():
    _ = relmask.record(f"{domain}_results", res)
    print(f"{domain}: model accuracy {res['model_accuracy']:.3f} on {res['n_test']} test samples")
_ = relmask.record("runtime_s", time.perf_counter() - start)
# whether any domain's data were synthetic: relmask reproduce and paper/ label the run by it
_ = relmask.record("synthetic", fa.synthetic(results))

# %% [markdown]
# ## Scores beside the masking result: one table

# %%
rows = fa.table(results)
_ = relmask.record("table", rows, headline=["pf_aopc_gap", "road_aopc_gap", "mask_score"])
fa.write_table(rows, figures / "faithfulness_table")
display(Markdown(fa.format_table(rows)))

# %% [markdown]
# ## Does a more faithful map make a better mask?
#
# Per domain, the Spearman correlation across methods between each score and the masking score, signed so that
# positive means *more faithful, better mask*. A handful of methods on small data sets: read it as a smoke test of
# the question.

# %%
corr = relmask.record("correlations", fa.correlations(rows))
print(corr)
fa.plot_scores(rows, figures / "faithfulness_vs_masking")
# what relmask reproduce copies into paper/ (relmask.running.figures.declared_outputs)
_ = relmask.record("paper_outputs", {
    "figures": {"faithfulness_vs_masking": {
        "file": "figures/faithfulness_vs_masking",
        "caption": "Faithfulness of each relevance method (pixel flipping and ROAD MoRF-LeRF gaps, randomisation "
                   "sanity check) against the result of masking with its maps, per domain."}},
    "tables": {"faithfulness": {
        "file": "figures/faithfulness_table",
        "caption": "Faithfulness scores beside each method's masking result (docs/metrics.md)."}}});
