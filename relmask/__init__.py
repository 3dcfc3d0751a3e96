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

from . import _env

_env.apply_defaults()  # before anything imports TensorFlow: its env variables are read once, at its import

from .progress import forward_warnings as _forward_warnings

_forward_warnings()  # in a kernel that relmask run / reproduce follows: its warnings reach their console too

from .components import (
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
from .data import Dataset, nested_subsample, stratified_kfold, stratified_split
from .errors import DataError, ParameterError, PluginError, RelmaskError, UnknownNameError, UnsupportedLayerError
from .hookspecs import hookimpl
from .masking import mask
from .metrics import evaluate
from .plugins import registry as _registry
from .relevance import explain
from .results import record


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


_SUBMODULES = {"cache", "controls", "data", "evaluation", "figures", "io", "masking", "metrics", "plotting", "plugins",
               "progress", "relevance", "results", "runner", "testing", "training"}


def __getattr__(name: str):
    """``relmask.training`` etc. without importing Keras when ``relmask`` is imported."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'relmask' has no attribute {name!r}")


__all__ = [
    "__version__", "hookimpl", "explain", "mask", "evaluate", "record", "list_methods", "list_domains",
    "list_maskers", "list_models", "list_metrics", "list_experiments", "get_method", "get_domain", "get_masker",
    "get_model", "get_metric", "get_experiment", "Experiment", "Metric", "Dataset", "stratified_split",
    "nested_subsample", "stratified_kfold", "Param", "RelevanceMethod", "Masker", "Domain", "ModelSpec", "Source",
    "DomainDefaults", "ReproduceConfig",
    "RelmaskError", "ParameterError", "DataError", "PluginError", "UnknownNameError", "UnsupportedLayerError",
]
