"""relmask: relevance-based masking, reproducibly.

Compute which input regions were relevant to a model's decisions, encode that relevance in the training data
(mask, weight or remove regions) and train a new model on it. Public API::

    relmask.explain(model, x, "lrp.epsilon", targets=None)      -> relevance array of x's shape
    relmask.mask(x, relevance, "negative", fraction=0.3)        -> masked inputs
    relmask.evaluate(model, x, y, relevance, "pixel_flipping")  -> faithfulness curves and scores (raw numbers)
    relmask.get_domain("whale").load("synthetic")               -> Dataset
    relmask.get_experiment("whale").configure({...})            -> a checked experiment configuration
    relmask.record("auc", 0.93)                                 -> results.json of the running notebook
"""
from __future__ import annotations

__version__ = "0.1.0"

from relmask import _env

_env.apply_defaults()  # before anything imports TensorFlow: its env variables are read once, at its import

from relmask.running.progress import forward_warnings as _forward_warnings

_forward_warnings()  # in a kernel that relmask run / reproduce follows: its warnings reach their console too

from relmask.errors import DataError, ParameterError, PluginError, RelmaskError, UnknownNameError, UnsupportedLayerError
from relmask.pipeline.data import Dataset, nested_subsample, stratified_kfold, stratified_split
from relmask.pipeline.masking import mask
from relmask.plugin_system.components import (
    Domain,
    DomainDefaults,
    Experiment,
    Masker,
    Metric,
    ModelSpec,
    Param,
    RelevanceMethod,
    ReproduceConfig,
    Source,
)
from relmask.plugin_system.hookspecs import hookimpl
from relmask.plugin_system.plugins import registry as _registry
from relmask.relevance import explain
from relmask.running.results import record
from relmask.scoring.metrics import evaluate


def list_methods() -> list[str]:
    """Names of the registered relevance methods."""
    return _registry("register_relevance_methods").names()


def list_domains() -> list[str]:
    """Names of the registered data domains."""
    return _registry("register_domains").names()


def list_maskers() -> list[str]:
    """Names of the registered maskers."""
    return _registry("register_maskers").names()


def list_models() -> list[str]:
    """Names of the registered model architectures."""
    return _registry("register_models").names()


def list_metrics() -> list[str]:
    """Names of the registered faithfulness metrics."""
    return _registry("register_metrics").names()


def list_experiments() -> list[str]:
    """Names of the registered experiments."""
    return _registry("register_experiments").names()


def get_method(name: str) -> RelevanceMethod:
    return _registry("register_relevance_methods").get(name)


def get_domain(name: str) -> Domain:
    return _registry("register_domains").get(name)


def get_masker(name: str) -> Masker:
    return _registry("register_maskers").get(name)


def get_model(name: str) -> ModelSpec:
    return _registry("register_models").get(name)


def get_metric(name: str) -> Metric:
    return _registry("register_metrics").get(name)


def get_experiment(name: str) -> Experiment:
    return _registry("register_experiments").get(name)


#: the public submodules by their short names (``relmask.training.fit``): the API stays the same while the
#: modules live in their layer's package (relmask/plugin_system, pipeline, scoring, running; docs/architecture.md)
_SUBMODULES = {"cache": "running.cache", "controls": "pipeline.controls", "data": "pipeline.data",
               "evaluation": "scoring.evaluation", "figures": "running.figures", "io": "io",
               "masking": "pipeline.masking", "metrics": "scoring.metrics", "plotting": "running.plotting",
               "plugins": "plugin_system.plugins", "progress": "running.progress", "relevance": "relevance",
               "results": "running.results", "runner": "running.runner", "testing": "testing",
               "training": "pipeline.training"}


def __getattr__(name: str):
    """``relmask.training`` etc. (:data:`_SUBMODULES`) without importing Keras when ``relmask`` is imported."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{_SUBMODULES[name]}")
    raise AttributeError(f"module 'relmask' has no attribute {name!r}")


__all__ = [
    "__version__", "hookimpl", "explain", "mask", "evaluate", "record", "list_methods", "list_domains",
    "list_maskers", "list_models", "list_metrics", "list_experiments", "get_method", "get_domain", "get_masker",
    "get_model", "get_metric", "get_experiment", "Experiment", "Metric", "Dataset", "stratified_split",
    "nested_subsample", "stratified_kfold", "Param", "RelevanceMethod", "Masker", "Domain", "ModelSpec", "Source",
    "DomainDefaults", "ReproduceConfig",
    "RelmaskError", "ParameterError", "DataError", "PluginError", "UnknownNameError", "UnsupportedLayerError",
]
