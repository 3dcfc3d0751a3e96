"""The kinds of component a plugin can register: the one table the hooks, registries, CLI and API come from.

Each :class:`Kind` names its hookspec (:mod:`relmask.plugin_system.hookspecs`, where pluggy and plugin authors
read the hook and its docstring), the class every registered object must be, how messages name one, the word of
``relmask list WORD`` and, where it has one, the name of its top-level lookups (``relmask.list_maskers()``,
``relmask.get_masker(name)``). :class:`relmask.plugin_system.plugins.PluginManager` builds one registry per kind,
:mod:`relmask.cli` offers every kind to ``relmask list``, and :mod:`relmask` makes its ``list_*``/``get_*``
functions from this table (one line per kind there, written out for type checkers and checked against the table
when relmask is imported); a new kind is one row here (named, and in :data:`KINDS`), one hookspec and, with an
``api_name``, that line.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from relmask.plugin_system import hookspecs
from relmask.plugin_system.components import (
    Component,
    Domain,
    Experiment,
    Masker,
    Metric,
    ModelSpec,
    RelevanceMethod,
    ReproduceConfig,
)
from relmask.relevance.rules import Canonizer, LrpRule

C = TypeVar("C", bound=Component)


@dataclass(frozen=True)
class Kind(Generic[C]):
    """One kind of component: its hook, its class and the names it goes by.

    Generic in its class (``Kind[Masker]``), so that what is looked up through it (``registry(MASKERS).get(name)``,
    ``relmask.get_masker(name)``) has that type for type checkers too."""

    #: the hookspec function plugins implement to register this kind (the function, so the table cannot name a
    #: hook that does not exist)
    spec: Callable
    #: ``relmask list WORD``
    cli_word: str
    #: how messages name one of them: ``unknown masker 'x'``
    words: str
    #: what every registered object must be an instance of
    cls: type[C]
    #: ``relmask.list_<api_name>s()`` and ``relmask.get_<api_name>(name)``; None: no top-level lookup
    api_name: str | None = None

    @property
    def hook(self) -> str:
        """The hook's name (``register_maskers``), which keys the registries."""
        return self.spec.__name__


# one row per kind, each named so that code (and type checkers) can refer to the kind, not only to its hook's name
METHODS = Kind(hookspecs.register_relevance_methods, "methods", "relevance method", RelevanceMethod, "method")
RULES = Kind(hookspecs.register_lrp_rules, "rules", "LRP rule", LrpRule, "rule")
CANONIZERS = Kind(hookspecs.register_canonizers, "canonizers", "LRP canonizer", Canonizer, "canonizer")
DOMAINS = Kind(hookspecs.register_domains, "domains", "domain", Domain, "domain")
MASKERS = Kind(hookspecs.register_maskers, "maskers", "masker", Masker, "masker")
MODELS = Kind(hookspecs.register_models, "models", "model", ModelSpec, "model")
METRICS = Kind(hookspecs.register_metrics, "metrics", "metric", Metric, "metric")
EXPERIMENTS = Kind(hookspecs.register_experiments, "experiments", "experiment", Experiment, "experiment")
# run by `relmask reproduce --config NAME`; a top-level get_config() would read as an experiment's config
REPRODUCE_CONFIGS = Kind(hookspecs.register_reproduce_configs, "configs", "reproduce config", ReproduceConfig)

#: every kind, in the order of ``relmask list`` and of the registries
KINDS: tuple[Kind[Any], ...] = (METHODS, RULES, CANONIZERS, DOMAINS, MASKERS, MODELS, METRICS, EXPERIMENTS,
                                REPRODUCE_CONFIGS)
