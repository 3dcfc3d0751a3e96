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
# # Tiny test notebook
#
# Records a value; used by tests/core/test_reproduce.py and tests/core/test_reliability_run*.py.

# %% tags=["parameters"]
value: int = 1  # recorded as `value`
kind: str = "plain"  # plain | whale | fer: shape of the recorded results
sleep_s: float = 0.0  # seconds to sleep before recording (lets a test interrupt the run)
fail: bool = False  # raise in a cell (the failure path)
log_file: str | None = None  # append one line per execution here
seed: int = 0  # recorded in the result rows
output_dir: str = "runs/tiny"  # where results.json goes

# %%
import time

import relmask

relmask.running.results.set_results_path(output_dir)
if log_file:
    with open(log_file, "a") as fh:
        fh.write(f"start {value}\n")

# %% [markdown]
# Wait, fail on demand, then record.

# %%
time.sleep(sleep_s)
if fail:
    raise RuntimeError(f"tiny notebook asked to fail (value={value})")
relmask.record("value", value)
auc = 0.5 + value / 100
if kind == "whale":
    relmask.record("summary", [
        {"relevance": None, "masker": None, "system": "cnn1", "fusion_rule": None, "auc_mean": auc,
         "auc_sd": 0.01, "n_seeds": 2},
        {"relevance": "gradient", "masker": "negative", "system": "cnn2", "fusion_rule": None,
         "auc_mean": auc - 0.05, "auc_sd": 0.02, "n_seeds": 2},
        {"relevance": "gradient", "masker": "negative", "system": "fusion", "fusion_rule": "mean",
         "auc_mean": auc + 0.03, "auc_sd": 0.01, "n_seeds": 2}])
    relmask.record("roc", {"cnn1": {"fpr": [0, 0.2, 1], "tpr": [0, 0.7, 1]}})
elif kind == "fer":
    relmask.record("curves", [{"variant": v, "seed": s, "epoch": e, "val_accuracy": 0.2 + 0.1 * e + 0.01 * s}
                              for v in ("raw", "masked") for s in (seed, seed + 1) for e in (1, 2, 3)])
    relmask.record("table", [{"variant": "raw", "masker": None, "relevance": None, "control": False,
                              "n_seeds": 2, "aulc_mean": 0.4, "aulc_sd": 0.01}])
if log_file:
    with open(log_file, "a") as fh:
        fh.write(f"end {value}\n")
