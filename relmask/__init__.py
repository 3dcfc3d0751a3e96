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
from relmask.plugin_system.kinds import KINDS as _KINDS
from relmask.plugin_system.kinds import Kind as _Kind
from relmask.plugin_system.plugins import registry as _registry
from relmask.relevance import explain
from relmask.running.results import record
from relmask.scoring.metrics import evaluate


def _lookups(kind: _Kind) -> dict:
    """``list_<api_name>s()`` and ``get_<api_name>(name)`` of one kind, named and documented as if written out."""
    cls = f"{kind.cls.__module__}.{kind.cls.__qualname__}"

    def names() -> list[str]:
        return _registry(kind.hook).names()

    def get(name: str):
        return _registry(kind.hook).get(name)

    names.__name__ = f"list_{kind.api_name}s"
    names.__doc__ = (f"Names of the registered {kind.words}s, sorted (aliases left out).\n\n"
                     f"``relmask list {kind.cli_word}`` shows them with their aliases and parameters.")
    names.__annotations__ = {"return": list[str]}
    get.__name__ = f"get_{kind.api_name}"
    get.__doc__ = (f"The registered {kind.words} called ``name`` (a name or an alias; ``{names.__name__}()``).\n\n"
                   f"Returns a :class:`{cls}`; such an object passed as ``name`` is returned as it is.\n"
                   f"Any other name raises :class:`relmask.errors.UnknownNameError`, naming the closest one.")
    get.__annotations__ = {"name": str, "return": kind.cls}
    for function in (names, get):
        function.__qualname__ = function.__name__
        function.__module__ = __name__
    return {names.__name__: names, get.__name__: get}


#: list_methods(), get_method(name), list_maskers(), get_masker(name), ...: one pair per kind of component that has
#: an ``api_name`` in relmask.plugin_system.kinds.KINDS, so the API, the hooks and `relmask list` cannot drift apart
_LOOKUPS = {name: function for kind in _KINDS if kind.api_name for name, function in _lookups(kind).items()}
globals().update(_LOOKUPS)


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
    "__version__", "hookimpl", "explain", "mask", "evaluate", "record", *_LOOKUPS,
    "Experiment", "Metric", "Dataset", "stratified_split",
    "nested_subsample", "stratified_kfold", "Param", "RelevanceMethod", "Masker", "Domain", "ModelSpec", "Source",
    "DomainDefaults", "ReproduceConfig",
    "RelmaskError", "ParameterError", "DataError", "PluginError", "UnknownNameError", "UnsupportedLayerError",
]
