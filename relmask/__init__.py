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

from types import ModuleType as _ModuleType
from typing import Any as _Any
from typing import Protocol as _Protocol
from typing import TypeVar as _TypeVar

__version__ = "0.1.0"

from relmask import _env

_env.apply_defaults()  # before anything imports TensorFlow: its env variables are read once, at its import

from relmask.running.progress import forward_warnings as _forward_warnings

_forward_warnings()  # in a kernel that relmask run / reproduce follows: its warnings reach their console too

from relmask.errors import DataError, ParameterError, PluginError, RelmaskError, UnknownNameError, UnsupportedLayerError
from relmask.pipeline.data import Dataset, nested_subsample, stratified_kfold, stratified_split
from relmask.pipeline.masking import mask
from relmask.plugin_system import kinds as _kinds
from relmask.plugin_system.components import Component as _Component
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

_C = _TypeVar("_C", bound=_Component)
_C_co = _TypeVar("_C_co", bound=_Component, covariant=True)


class _Lister(_Protocol):
    def __call__(self) -> list[str]: ...


class _Getter(_Protocol[_C_co]):
    def __call__(self, name: str) -> _C_co: ...


def _lookups(kind: _kinds.Kind[_C]) -> tuple[_Lister, _Getter[_C]]:
    """``list_<api_name>s()`` and ``get_<api_name>(name)`` of one kind, named and documented as if written out."""
    cls = f"{kind.cls.__module__}.{kind.cls.__qualname__}"

    def names() -> list[str]:
        return _registry(kind).names()

    def get(name: str) -> _C:
        return _registry(kind).get(name)

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
    return names, get


# list_methods(), get_method(name), list_maskers(), get_masker(name), ...: one pair per kind of component that has
# an ``api_name`` in relmask.plugin_system.kinds.KINDS, written out so that type checkers and IDEs see them (and
# what get_X returns); their names, docstrings and signatures come from the table, which _LOOKUPS checks below
list_methods, get_method = _lookups(_kinds.METHODS)
list_rules, get_rule = _lookups(_kinds.RULES)
list_canonizers, get_canonizer = _lookups(_kinds.CANONIZERS)
list_domains, get_domain = _lookups(_kinds.DOMAINS)
list_maskers, get_masker = _lookups(_kinds.MASKERS)
list_models, get_model = _lookups(_kinds.MODELS)
list_metrics, get_metric = _lookups(_kinds.METRICS)
list_experiments, get_experiment = _lookups(_kinds.EXPERIMENTS)


def _check_lookups() -> dict[str, _Any]:
    """Every lookup the table names, by its name: a kind given an ``api_name`` without its two lines above (or a
    line that binds another kind's functions) fails the import, so the API cannot drift from the table."""
    wanted = [f"{verb}_{kind.api_name}{'s' if verb == 'list' else ''}"
              for kind in _kinds.KINDS if kind.api_name for verb in ("list", "get")]
    found = {name: globals().get(name) for name in wanted}
    wrong = [name for name, function in found.items() if getattr(function, "__name__", None) != name]
    if wrong:
        raise ImportError(f"relmask/__init__.py: {', '.join(wrong)} not bound to the lookups of their kind "
                          "(relmask.plugin_system.kinds.KINDS)")
    return found


#: list_methods, get_method, ...: every top-level lookup, in the table's order
_LOOKUPS = _check_lookups()


#: the public submodules by their short names (``relmask.training.fit``): the API stays the same while the
#: modules live in their layer's package (relmask/plugin_system, pipeline, scoring, running; docs/architecture.md)
_SUBMODULES = {"cache": "running.cache", "controls": "pipeline.controls", "data": "pipeline.data",
               "evaluation": "scoring.evaluation", "figures": "running.figures", "io": "io",
               "masking": "pipeline.masking", "metrics": "scoring.metrics", "plotting": "running.plotting",
               "plugins": "plugin_system.plugins", "progress": "running.progress", "relevance": "relevance",
               "results": "running.results", "runner": "running.runner", "testing": "testing",
               "training": "pipeline.training"}


def __getattr__(name: str) -> _ModuleType:
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
