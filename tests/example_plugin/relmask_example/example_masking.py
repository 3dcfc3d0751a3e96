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
# # Example experiment (example plugin)
#
# Masks random inputs with the plugin's `example_invert` masker and records the changed share: the smallest
# experiment a third-party plugin can register (no deep learning framework).

# %% tags=["parameters"]
fraction: float = 0.5  # share of values flipped
n_samples: int = 4  # number of random 6x6 inputs
seed: int = 0  # random seed
output_dir: str = "runs/example_masking"  # where results.json goes

# %%
import numpy as np

import relmask
from relmask.pipeline.masking import masked_fraction

cfg = relmask.get_experiment("example_masking").from_namespace(globals())
relmask.running.results.set_results_path(cfg.output_dir)
rng = np.random.default_rng(cfg.seed)
x = rng.normal(size=(cfg.n_samples, 6, 6, 1)).astype("float32")
x_masked = relmask.mask(x, rng.normal(size=x.shape), "example_invert", fraction=cfg.fraction)
relmask.record("masked_fraction", masked_fraction(x, x_masked))
