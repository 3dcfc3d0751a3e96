"""The kinds of component a plugin can register: the one table the hooks, registries, CLI and API come from.

Each :class:`Kind` names its hookspec (:mod:`relmask.plugin_system.hookspecs`, where pluggy and plugin authors
read the hook and its docstring), the class every registered object must be, how messages name one, the word of
``relmask list WORD`` and, where it has one, the name of its top-level lookups (``relmask.list_maskers()``,
``relmask.get_masker(name)``). :class:`relmask.plugin_system.plugins.PluginManager` builds one registry per kind,
:mod:`relmask.cli` offers every kind to ``relmask list``, and :mod:`relmask` generates its ``list_*``/``get_*``
functions from this table; a new kind is one row here and one hookspec.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from relmask.plugin_system import hookspecs
from relmask.plugin_system.components import (
    Domain,
    Experiment,
    Masker,
    Metric,
    ModelSpec,
    RelevanceMethod,
    ReproduceConfig,
)
from relmask.relevance.rules import Canonizer, LrpRule


@dataclass(frozen=True)
class Kind:
    """One kind of component: its hook, its class and the names it goes by."""

    #: the hookspec function plugins implement to register this kind (the function, so the table cannot name a
    #: hook that does not exist)
    spec: Callable
    #: ``relmask list WORD``
    cli_word: str
    #: how messages name one of them: ``unknown masker 'x'``
    words: str
    #: what every registered object must be an instance of
    cls: type
    #: ``relmask.list_<api_name>s()`` and ``relmask.get_<api_name>(name)``; None: no top-level lookup
    api_name: str | None = None

    @property
    def hook(self) -> str:
        """The hook's name (``register_maskers``), which keys the registries."""
        return self.spec.__name__


KINDS: tuple[Kind, ...] = (
    Kind(hookspecs.register_relevance_methods, "methods", "relevance method", RelevanceMethod, "method"),
    Kind(hookspecs.register_lrp_rules, "rules", "LRP rule", LrpRule, "rule"),
    Kind(hookspecs.register_canonizers, "canonizers", "LRP canonizer", Canonizer, "canonizer"),
    Kind(hookspecs.register_domains, "domains", "domain", Domain, "domain"),
    Kind(hookspecs.register_maskers, "maskers", "masker", Masker, "masker"),
    Kind(hookspecs.register_models, "models", "model", ModelSpec, "model"),
    Kind(hookspecs.register_metrics, "metrics", "metric", Metric, "metric"),
    Kind(hookspecs.register_experiments, "experiments", "experiment", Experiment, "experiment"),
    # run by `relmask reproduce --config NAME`; a top-level get_config() would read as an experiment's config
    Kind(hookspecs.register_reproduce_configs, "configs", "reproduce config", ReproduceConfig),
)
