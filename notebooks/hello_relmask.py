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
# # Hello relmask
#
# Masks random inputs with a registered masker and records how much of them it changed. It imports no deep
# learning framework, so it runs in seconds: the runner's smoke test, and a template for new notebooks.

# %% tags=["parameters"]
masker: str = "negative"  # a registered masker (relmask list maskers)
fraction: float = 0.3  # share of values the masker selects
n_samples: int = 8  # number of random 12x12 inputs
seed: int = 0  # random seed
output_dir: str = "runs/hello_relmask"  # where results.json and figures go

# %%
import numpy as np

import relmask
from relmask.pipeline.masking import masked_fraction

relmask.running.results.set_results_path(output_dir)

# %% [markdown]
# Random inputs and relevance maps; the masker removes (or keeps) the most relevant values.

# %%
rng = np.random.default_rng(seed)
x = rng.normal(size=(n_samples, 12, 12, 1)).astype("float32")
relevance = rng.normal(size=x.shape).astype("float32")
x_masked = relmask.mask(x, relevance, masker, fraction=fraction)
changed = masked_fraction(x, x_masked)
relmask.record("masked_fraction", changed)
relmask.record("masker", masker)
print(f"{masker}: changed {changed:.3f} of the values")
