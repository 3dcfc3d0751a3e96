"""An example third-party plugin: one of each kind relmask's hooks register (masker, relevance method, domain,
model, metric, experiment, reproduce config, LRP rule, canonizer). A complete domain package with a real experiment is
examples/relmask-digits."""
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from relmask import (
    Domain,
    Experiment,
    Masker,
    Metric,
    ModelSpec,
    Param,
    RelevanceMethod,
    ReproduceConfig,
    Source,
    hookimpl,
)
from relmask.relevance.rules import Canonizer, LrpRule


class InvertMasker(Masker):
    name = "example_invert"
    description = "flip the sign of the most relevant values (example plugin)"
    params = (Param("fraction", float, 0.5, "share of values flipped"),)

    def apply(self, x, relevance, rng, fraction):
        from relmask.pipeline.masking import normalize_relevance, top_fraction_mask

        flip = top_fraction_mask(normalize_relevance(relevance), fraction)
        return np.where(flip, -x, x)


class ConstantRelevance(RelevanceMethod):
    name = "example_constant"
    description = "every input value equally relevant (example plugin)"
    params = (Param("value", float, 1.0, "the relevance of every value"),)
    needs_model = False

    def attribute(self, model, x, targets, value):
        return np.full(np.shape(x), value, dtype=np.float32)


@hookimpl
def register_maskers(register):
    register(InvertMasker(), aliases=("example_flip",))


@hookimpl
def register_relevance_methods(register):
    register(ConstantRelevance())


def _load_blobs(path, n, seed):
    from relmask import Dataset

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4, 4, 1)) + y[:, None, None, None]
    return Dataset(x, y, [f"blob{i}" for i in range(n)], ["low", "high"])


class BlobsDomain(Domain):
    name = "example_blobs"
    description = "two Gaussian blobs of 4x4 inputs (example plugin)"
    sources: ClassVar[dict[str, Source]] = {
        "random": Source("random", "seeded random blobs", _load_blobs,
                         params=(Param("n", int, 16, "samples"), Param("seed", int, 0, "seed")))}


def _build_mlp(input_shape, n_classes, units):
    import keras  # imported when a model is built, not when the plugin loads

    return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                             keras.layers.Dense(units, activation="relu"),
                             keras.layers.Dense(n_classes, activation="softmax")])


@hookimpl
def register_domains(register):
    register(BlobsDomain())


@hookimpl
def register_models(register):
    register(ModelSpec(name="example_mlp", builder=_build_mlp, description="a one-hidden-layer MLP (example)",
                       params=(Param("units", int, 8, "hidden units"),)))


class GiniMetric(Metric):
    name = "example_gini"
    description = "sparseness of the maps: Gini index of |R| per sample, 0 = uniform (example plugin)"
    needs = ("maps",)
    params = (Param("eps", float, 1e-12, "added to |R| so an all-zero map has an index", low=0.0),)

    def compute(self, model, x, y, relevance, eps):
        r = np.sort(np.abs(relevance).reshape(len(relevance), -1) + eps, axis=1)
        n = r.shape[1]
        k = np.arange(1, n + 1)
        gini = ((2 * k - n - 1) * r).sum(axis=1) / (n * r.sum(axis=1))
        return {"gini": gini, "mean_gini": float(gini.mean())}


@hookimpl
def register_metrics(register):
    register(GiniMetric())


@dataclass
class ExampleSettings:
    fraction: float = field(default=0.5, metadata={"help": "share of values flipped", "low": 0, "high": 1})
    n_samples: int = field(default=4, metadata={"help": "number of random 6x6 inputs", "low": 1})
    seed: int = field(default=0, metadata={"help": "random seed"})
    output_dir: str = field(default="runs/example_masking", metadata={"help": "where results.json goes"})


class ExampleMasking(Experiment):
    name = "example_masking"
    description = "random inputs masked by example_invert (example plugin)"
    config = ExampleSettings
    notebook = Path(__file__).resolve().parent / "example_masking.ipynb"


@hookimpl
def register_experiments(register):
    register(ExampleMasking())


@hookimpl
def register_reproduce_configs(register):
    register(ReproduceConfig("example", Path(__file__).resolve().parent / "example.yaml",
                             "the example experiment on random inputs"))


class NaiveEpsilon(LrpRule):
    """The ε rule written out: D = W a (+ b), R_in = a ⊙ Wᵀ(R / stab(D)); equals the built-in ``epsilon``."""

    name = "example_epsilon"
    description = "the ε rule, written out (example plugin)"
    default_bias = "include"
    one_denominator = True
    uses_epsilon = True

    def message(self, site, a, z, r):
        from relmask.relevance.lrp import stabilised  # Keras: only when a model is explained

        d = site.part(a, use_bias=site.rule.bias_mode != "ignore")
        return a * site.back(site.part.kernel, a, site.gate(r, z) / stabilised(d, site.rule.eps))


class FoldRescaling(Canonizer):
    name = "example_fold_rescaling"
    description = "a Rescaling right after a linear layer folded into its kernel and bias (example plugin)"

    def absorbs(self, layer, input_shape):
        import keras

        return isinstance(layer, keras.layers.Rescaling)

    def fold(self, part, linear_layer, layer):
        from relmask.relevance.graph import Linear, affine_of

        scale, offset = affine_of(layer)
        return Linear(part.op, part.kernel * scale, offset if part.bias is None else part.bias * scale + offset)


@hookimpl
def register_lrp_rules(register):
    register(NaiveEpsilon())


@hookimpl
def register_canonizers(register):
    register(FoldRescaling())
