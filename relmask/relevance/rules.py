"""What a plugin implements to add an LRP rule or a canonizer (registered by ``register_lrp_rules`` and
``register_canonizers``), as in Zennit: a rule is a modified gradient of one linear map, a canonizer a rewrite of
the model graph applied before LRP.

No Keras here: the plugin manager imports these classes to check what plugins register, and listing plugins must
not load a backend. The engine that runs rules and canonizers is :mod:`relmask.relevance.lrp`; the built-in rules
(ε, z⁺, αβ, flat, w², zB) and the BatchNorm canonizer are registered by ``relmask_plugins.relevance``.
"""
from __future__ import annotations

from typing import ClassVar

from relmask.plugin_system.components import Component

#: conventions for a layer's bias in a rule's denominators (docs/relevance.md, *Bias conventions*): ``split`` (b⁺
#: in D⁺, b⁻ in D⁻), ``include`` (the whole b in every denominator), ``ignore`` (no b)
BIASES = ("split", "include", "ignore")


class LrpRule(Component):
    """An LRP rule for linear layers (Dense, convolutions), given as a modified gradient.

    The engine runs every linear map of a layer that a composite gives this rule as one op with a custom gradient.
    :meth:`forward` computes the op's output; in the backward pass the cotangent arriving at that output is its
    relevance ``r``, and :meth:`message` returns the relevance of the map's input ``a``. Both get a ``site``
    (:class:`relmask.relevance.lrp.Site`): the configured rule ``site.rule`` (its numbers: ``epsilon``, ``alpha``,
    ``beta``, ``low``, ``high``, the bias convention ``site.rule.bias_mode`` and the stabiliser ``site.rule.eps``),
    the linear map ``site.part`` (kernel, bias, and the op applying them) and the helpers the built-in rules share
    (denominators, stabilisation, the transposed map :meth:`~relmask.relevance.lrp.Site.back`).
    """

    kind: ClassVar[str] = "LRP rule"
    #: the bias convention (one of :data:`BIASES`) where the composite gives none
    default_bias: str = "ignore"
    #: the rule has one denominator, which a ``split`` bias puts both parts in (so ``split`` means ``include``)
    one_denominator: bool = False
    #: the rule's denominators are stabilised by ``epsilon`` (the ε rule's own number) rather than by the
    #: composite's ``stabilizer``
    uses_epsilon: bool = False
    #: the rule of a layer's later linear maps (a separable convolution's pointwise map) where this rule describes
    #: only the layer's input (zB's bounds); None: this rule on every map of the layer
    later_maps_rule: str | None = None

    def check(self, rule) -> None:
        """Raise :class:`relmask.ParameterError` where the numbers of ``rule`` (a configured
        :class:`relmask.relevance.lrp.Rule` of this name) do not suit this rule."""

    def forward(self, site, a):
        """``(saved, output)``: what :meth:`message` needs, and the value passed on. By default both are the map's
        output, with a fused ReLU applied (``site.output``): most rules need nothing else."""
        out = site.output(site.part(a))
        return out, out

    def message(self, site, a, saved, r):  # pragma: no cover - interface
        """The relevance of ``a`` (the map's input) from the relevance ``r`` of its output."""
        raise NotImplementedError


class Canonizer(Component):
    """A rewrite of the model graph applied before LRP: a layer this canonizer :meth:`absorbs` that directly follows
    a linear layer (Dense or a convolution with a linear activation, whose output nothing else reads) is folded into
    that layer's last linear map by :meth:`fold`, and passes its input through unchanged. A linear layer absorbs at
    most one layer; where several canonizers apply, the first named wins."""

    kind: ClassVar[str] = "LRP canonizer"

    def absorbs(self, layer, input_shape: tuple) -> bool:  # pragma: no cover - interface
        """Whether ``layer``, called on an input of ``input_shape``, can be folded into a linear map before it."""
        raise NotImplementedError

    def fold(self, part, linear_layer, layer):  # pragma: no cover - interface
        """The linear map (:class:`relmask.relevance.graph.Linear`) equal to ``layer`` applied after ``part``, the
        last linear map of ``linear_layer``."""
        raise NotImplementedError
