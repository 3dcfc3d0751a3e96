"""The hooks a relmask plugin can implement.

Each hook receives a ``register`` callable (the pattern of ``llm`` and ``datasette``); a plugin calls
``register(obj, name=None, aliases=())`` once per object. ``obj`` is a
:class:`relmask.plugin_system.components.Component`
of the hook's kind; ``name`` defaults to ``obj.name``. docs/plugins.md documents every hook (a test checks).

Each hook is one row of :data:`relmask.plugin_system.kinds.KINDS` (its class, its ``relmask list`` word, its
``relmask.get_*`` lookup); tests/core/test_plugins.py checks that every hook here has its row.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("relmask")
hookimpl = pluggy.HookimplMarker("relmask")


@hookspec
def register_relevance_methods(register):
    """Register relevance methods (:class:`relmask.plugin_system.components.RelevanceMethod` instances)."""


@hookspec
def register_lrp_rules(register):
    """Register LRP rules (:class:`relmask.relevance.rules.LrpRule` instances: a modified gradient of one linear map),
    which LRP composites name per layer type or layer name."""


@hookspec
def register_canonizers(register):
    """Register canonizers (:class:`relmask.relevance.rules.Canonizer` instances: a rewrite of the model graph applied
    before LRP, such as folding BatchNormalization into the layer before it)."""


@hookspec
def register_domains(register):
    """Register data domains (:class:`relmask.plugin_system.components.Domain` instances)."""


@hookspec
def register_maskers(register):
    """Register maskers (:class:`relmask.plugin_system.components.Masker` instances)."""


@hookspec
def register_models(register):
    """Register model architectures (:class:`relmask.plugin_system.components.ModelSpec` instances)."""


@hookspec
def register_metrics(register):
    """Register faithfulness metrics (:class:`relmask.plugin_system.components.Metric` instances)."""


@hookspec
def register_experiments(register):
    """Register experiments (:class:`relmask.plugin_system.components.Experiment` instances): a notebook with its
    presets,
    parameters and paper outputs, runnable by ``relmask run NAME`` and from ``relmask reproduce`` configs."""


@hookspec
def register_reproduce_configs(register):
    """Register ``relmask reproduce`` configurations that span experiments
    (:class:`relmask.plugin_system.components.ReproduceConfig` instances: a name and a YAML file)."""
