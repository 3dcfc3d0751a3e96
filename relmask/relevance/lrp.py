"""Layer-wise relevance propagation as modified gradients (the approach of Zennit): the engine.

The whole model runs once, layer by layer (:func:`relmask.relevance.graph.run_graph`); every layer returns its
ordinary output, but a layer with an LRP rule replaces its *gradient* by the rule's relevance message
(``keras.ops.custom_gradient``, see :func:`relevance_op`): in the backward pass the cotangent arriving at a
layer's output is that output's relevance ``R``, and the layer returns its inputs' relevance. Starting the
backward pass with ``R = onehot(target) · logit`` gives the input relevance as the gradient of one scalar, in one
forward and one backward pass inside the compiled graph; automatic differentiation routes relevance through
everything without a rule (max pooling, reshaping, Concatenate, branches and nested models) by its gradient.

Rules and canonizers are registered objects (:mod:`relmask.relevance.rules`; hooks ``register_lrp_rules`` and
``register_canonizers``); the built-ins (ε, z⁺, αβ, flat, w², zB, and BatchNorm folding) and their formulas are
in ``relmask_plugins/relevance/lrp_maths.py``. A :class:`Composite` says which rule each linear layer gets (by
layer name, class name, first linear layer, Dense or convolution) and which canonizers rewrite the graph first.
A configured :class:`Rule` is a registered rule's name with the numbers it reads; the engine hands it, with one
linear map, to the rule as a :class:`Site`, whose helpers send ``R / stab(D)`` back through the map with a
vector-Jacobian product (:func:`relmask.relevance._autodiff.vjp`), ``stab(D) = D + ε·sign(D)`` (sign(0) = 1).

The bias term of a rule's denominators is a convention on which the reference toolboxes differ (``Rule.bias``,
one of :data:`BIASES`): ``split``: b⁺ in D⁺ and b⁻ in D⁻; ``include``: the whole b in every denominator, so D⁺
and D⁻ may have either sign and are stabilised with a sign test; ``ignore``: no b. A rule declares its own
default (:attr:`relmask.relevance.rules.LrpRule.default_bias`). ``Rule.stabilizer`` (Zennit's ``stabilizer``;
default: ε) stabilises every rule but ε and the ε messages of pooling, resampling, Add and unfolded affine
layers.

A small sign analysis while the graph is built (:func:`lrp_handler`) marks the outputs of ReLUs (and of what only
pools, moves or pads them) as non-negative (``Site.nonneg``), so that rules may leave out a⁻ terms there. A
plain ReLU after a linear layer is fused into its rule (``Site.relu``: the message gates relevance by
``relu(z) > 0``), so that convolution, bias and ReLU stay one kernel as in the model's own forward pass.

Average pooling, resampling (Resizing, UpSampling), Add (proportional split), BatchNormalization not folded by a
canonizer, Rescaling and Normalization use the ε rule. Max pooling, reshaping, padding, dropout and Concatenate
pass relevance by their gradient; activations pass it through unchanged (ReLU-family ones only where the
pre-activation is positive: a plain ReLU keeps its own gradient, which is exactly that).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import keras
from keras import layers as L
from keras import ops

from relmask.errors import ParameterError, UnsupportedLayerError
from relmask.plugin_system.plugins import registry
from relmask.relevance import _autodiff
from relmask.relevance.engine import compiled, select
from relmask.relevance.graph import (
    ACTIVATION,
    AFFINE,
    AVG_POOL,
    LINEAR,
    MERGE_ADD,
    RESAMPLE,
    TRANSPARENT,
    Ctx,
    Linear,
    affine_of,
    is_final_activation,
    is_final_op,
    is_relu_like,
    layer_activation,
    linear_parts,
    run_graph,
    supported_layer_names,
)
from relmask.relevance.rules import BIASES

RULES_HOOK = "register_lrp_rules"
CANONIZERS_HOOK = "register_canonizers"


@dataclass(frozen=True)
class Rule:
    """A registered LRP rule (by name) with the numbers it reads; frozen, so compiled functions are keyed by it."""

    name: str
    epsilon: float = 1e-6
    alpha: float = 2.0
    beta: float = 1.0
    low: float = 0.0
    high: float = 1.0
    #: bias convention (BIASES); None: the rule's ``default_bias``
    bias: str | None = None
    #: stabiliser of every rule but ε (Zennit's ``stabilizer``); None: ``epsilon``
    stabilizer: float | None = None

    def __post_init__(self):
        implementation = self.implementation  # an unknown name fails here, naming the registered rules
        if self.bias is not None and self.bias not in BIASES:
            raise ParameterError(f"unknown LRP bias convention {self.bias!r}; conventions: {', '.join(BIASES)}")
        implementation.check(self)

    @property
    def implementation(self):
        """The registered :class:`relmask.relevance.rules.LrpRule` of this name."""
        return registry(RULES_HOOK).get(self.name)

    @property
    def bias_mode(self) -> str:
        """The bias convention in force: ``split``, ``include`` or ``ignore`` (a rule with one denominator puts
        both parts of a ``split`` bias in it: ``include``)."""
        implementation = self.implementation
        mode = self.bias or implementation.default_bias
        return "include" if implementation.one_denominator and mode == "split" else mode

    @property
    def eps(self) -> float:
        """The number added to this rule's denominators: ``epsilon`` for ε, the stabiliser for the others."""
        return self.epsilon if self.implementation.uses_epsilon or self.stabilizer is None else self.stabilizer


# -- relevance messages ---------------------------------------------------------------------------------------
def _sg(t):
    return ops.stop_gradient(t)


def safe_divisor(d):
    """``d`` with exact zeros replaced by 1: the divisor of a stabiliser 0 (iNNvestigate's safe division).

    A z⁺/αβ/flat/w² denominator is 0 only where every contribution to it is 0 (they all have its sign), so any
    non-zero divisor gives their relevance, 0; an ε denominator can also be 0 by cancellation, a null set.
    """
    return ops.where(d == 0.0, 1.0, d)


def stabilised(d, eps):
    """stab(D) = D + ε·sign(D), sign(0) = 1; ε = 0 divides safely instead (:func:`safe_divisor`) rather than by zero."""
    if eps == 0:
        return safe_divisor(d)
    return d + eps * ops.where(d >= 0, 1.0, -1.0)


def relevance_op(forward, message, *inputs):
    """The output of ``forward(*inputs)``, whose gradient is the LRP message ``message(inputs, saved, R)``.

    ``forward`` returns ``(saved, output)``: ``saved`` is what the message needs (e.g. the pre-activation),
    ``output`` the value passed on. ``R``, the cotangent arriving at the output, is the output's relevance;
    ``message`` returns one relevance per input (a tuple).
    """

    @ops.custom_gradient
    def op(*xs):
        saved, out = forward(*xs)

        def grad(*args, upstream=None, variables=None):
            r = args[0] if upstream is None else upstream
            rel = tuple(message(xs, saved, r))
            rel = rel if len(rel) > 1 else rel[0]
            # TensorFlow hands in the model variables ``forward`` reads (kernels, BN statistics) and wants
            # their gradients too: relevance never flows into weights
            return rel if variables is None else (rel, [None] * len(variables))

        return out, grad

    return op(*inputs)


@dataclass(frozen=True)
class Site:
    """One linear map under one rule, and what is known about it when the graph is built."""

    rule: Rule
    part: Linear
    #: its input is known to be ≥ 0 (a ReLU output, maybe pooled or reshaped): z⁺/αβ need no a⁻ terms
    nonneg: bool = False
    #: a plain ReLU follows and is fused in: its relevance stays where the pre-activation z is positive, and
    #: messages get ``relu(z)`` for ``z`` (equal where it matters)
    relu: bool = False

    def gate(self, r, z):
        """The relevance that reaches the linear map: zero where a fused ReLU is off."""
        return ops.where(z > 0, r, 0.0) if self.relu else r

    def share(self, r, d, z, positive: bool = False):
        """``r / stab(d)`` (the relevance per unit of denominator), zero where a fused ReLU is off.

        ``positive``: ``d`` is known to be > 0 where relevance flows, so ``stab(d)`` is ``d + ε`` without a test.
        """
        eps = self.rule.eps
        return self.gate(r, z) / (d + eps if positive and eps else stabilised(d, eps))

    @property
    def sign_known(self) -> bool:
        """D⁺ ≥ 0 and D⁻ ≤ 0 (bias ``split`` or ``ignore``, or no bias): stabilised without a sign test."""
        return self.rule.bias_mode != "include" or self.part.bias is None

    def denominator(self, ap, an, sign: int):
        """D⁺ (``sign`` +1) or D⁻ (−1) of z⁺/αβ: W⁺a⁺ + W⁻a⁻ or W⁻a⁺ + W⁺a⁻, plus the bias term of the convention.

        Where the signs are known (:attr:`sign_known`: D⁺ ≥ 0, D⁻ ≤ 0) the result is already stabilised,
        ``D⁺ + ε`` / ``D⁻ − ε``, and ±ε rides on the bias (added with it in one pass, usually inside the
        convolution's kernel); where D⁻ is exactly 0 every contribution to it is 0, so −ε instead of stab(0) = +ε
        changes nothing. Otherwise (the whole bias, ``include``) it is the raw D, for :meth:`stabilise`.
        ``(ap, an)`` are the input's positive and negative parts; ``an`` None: a ≥ 0 and the a⁻ term is left out
        (it would add exact zeros).
        """
        part, eps = self.part, self.rule.eps
        wp, wn = self.signed_kernels()
        w_same, w_other = (wp, wn) if sign > 0 else (wn, wp)
        b, mode = part.bias, self.rule.bias_mode
        if b is None or mode == "ignore":
            shift = sign * eps
        elif mode == "include":
            shift = b
        else:
            shift = ops.maximum(b, 0.0) + eps if sign > 0 else ops.minimum(b, 0.0) - eps
        d = part(ap, w_same, shift)
        return d if an is None else d + part.op(an, w_other)

    def stabilise(self, d):
        """:meth:`denominator`'s result as a divisor: unchanged where it is stabilised already, else stab(D)
        (a stabiliser 0 divides safely)."""
        if self.sign_known:
            return d if self.rule.eps else safe_divisor(d)
        return stabilised(d, self.rule.eps)

    def output_of(self, dp, dn):
        """The layer's pre-activation W a + b from the two denominators (D⁺ + D⁻ = W a plus their bias terms;
        with the signs known, +ε and −ε cancel)."""
        s = dp + dn
        b, mode = self.part.bias, self.rule.bias_mode
        if b is None or mode == "split":
            return s
        return ops.add(s, b) if mode == "ignore" else s - b

    def back(self, kernel, a, s):
        """``kernelᵀ s``: ``s`` sent back through the linear map with ``kernel`` (input ``a`` gives the shape)."""
        return _autodiff.vjp(lambda u: self.part.op(u, kernel), (a,), s)[0]

    def output(self, z):
        """The value passed on: ``z``, or ``relu(z)`` where a ReLU is fused in."""
        return ops.relu(z) if self.relu else z

    def signed_kernels(self):
        W = self.part.kernel
        return ops.maximum(W, 0.0), ops.minimum(W, 0.0)


def linear_rule(site: Site, a):
    """``site``'s linear map (and fused ReLU) applied to ``a``, with the rule's relevance message as gradient."""
    rule = site.rule.implementation
    return relevance_op(lambda a: rule.forward(site, a), lambda xs, saved, r: (rule.message(site, xs[0], saved, r),),
                        a)


def epsilon_map(fn, inputs, eps):
    """A parameter-free (or elementwise affine) linear map of ``inputs`` under the ε rule."""

    def message(xs, z, r):
        s = r / stabilised(z, eps)
        return tuple(x * g for x, g in zip(xs, _autodiff.vjp(fn, tuple(xs), s), strict=True))

    return relevance_op(lambda *xs: (fn(*xs),) * 2, message, *inputs)


def _is_plain_relu(layer, fn) -> bool:
    if isinstance(layer, L.ReLU):
        return layer.max_value is None and layer.negative_slope == 0 and layer.threshold == 0
    return fn is keras.activations.relu


def activation_rule(layer, fn, z):
    if fn is keras.activations.linear:
        return z
    if _is_plain_relu(layer, fn):
        return ops.relu(z)  # its own gradient passes relevance exactly where z > 0
    if is_relu_like(layer, fn):
        return relevance_op(lambda z: (z, fn(z)), lambda xs, z, r: (r * ops.cast(z > 0, r.dtype),), z)
    return relevance_op(lambda z: (z, fn(z)), lambda xs, z, r: (r,), z)


# -- composites ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Composite:
    """Which rule each layer gets: by layer name, then class name, then first-layer / conv / dense defaults; and the
    canonizers (registered names) that rewrite the graph first."""

    dense: Rule
    conv: Rule
    first: Rule | None = None
    by_name: tuple = ()    # ((layer name or class name, Rule), ...)
    canonizers: tuple = ()

    def rule_for(self, layer, ctx: Ctx) -> Rule:
        for key, rule in self.by_name:
            if key == layer.name or key == type(layer).__name__:
                return rule
        if ctx.first_linear and self.first is not None:
            return self.first
        return self.dense if isinstance(layer, L.Dense) else self.conv


def composite(dense: str | None = None, conv: str | None = None, first: str | None = None, *,
              everywhere: str | None = None, rules: dict | None = None, canonizers=(), epsilon: float = 1e-6,
              alpha: float = 2.0, beta: float = 1.0, low: float = 0.0, high: float = 1.0, bias: str | None = None,
              stabilizer: float | None = None) -> Composite:
    """A composite of registered rules: ``dense`` on Dense layers, ``conv`` on convolutions (``everywhere``: one rule
    for both), ``first`` on the first linear layer, ``rules`` {layer name or class name: rule} over all of these,
    and the registered ``canonizers`` (names, applied in order).

    ``bias`` (one of :data:`BIASES`, None: each rule's default) and ``stabilizer`` (None: ``epsilon``) apply to
    every rule of the composite.
    """
    dense, conv = dense or everywhere, conv or everywhere
    if dense is None or conv is None:
        raise ParameterError("an LRP composite needs a rule for Dense and for convolutional layers (dense and conv, "
                             "or everywhere)")

    def configured(name: str) -> Rule:
        return Rule(str(name), epsilon=epsilon, alpha=alpha, beta=beta, low=low, high=high, bias=bias,
                    stabilizer=stabilizer)

    canonizers = tuple(str(c) for c in canonizers)
    for name in canonizers:
        registry(CANONIZERS_HOOK).get(name)  # an unknown name fails here, naming the registered canonizers
    return Composite(configured(dense), configured(conv), configured(first) if first else None,
                     tuple((str(k), configured(v)) for k, v in (rules or {}).items()), canonizers)


# -- the handler ----------------------------------------------------------------------------------------------
def _keeps_sign(layer) -> bool:
    """The layer's output is ≥ 0 wherever all its inputs are (it selects, moves, pads or averages values)."""
    if isinstance(layer, TRANSPARENT + AVG_POOL + (L.UpSampling1D,)):
        return True
    # bicubic/Lanczos resampling overshoots below 0
    return isinstance(layer, (L.UpSampling2D, L.Resizing)) and layer.interpolation in ("nearest", "bilinear")


def lrp_handler(comp: Composite, static_signs: bool = True, report: dict | None = None):
    """The LRP handler for :func:`run_graph` under ``comp``.

    ``static_signs=False`` turns the sign analysis off (every z⁺/αβ layer tests its input's values instead; for
    tests); ``report``, if given, receives {linear layer name: its input is known to be ≥ 0}.
    """
    # ε messages of layers without a rule (pooling, resampling, Add, unfolded affine layers) use the stabiliser
    # (Zennit's Norm rule; iNNvestigate divides safely there, whatever its ε)
    eps = comp.dense.epsilon if comp.dense.stabilizer is None else comp.dense.stabilizer
    # A small sign analysis while the graph is built: values known to be ≥ 0 (ReLU outputs and what only pools,
    # moves or pads them) let z⁺/αβ drop their a⁻ terms without a test at run time. Keyed by id, holding the
    # tensor so that the id is not reused while the graph is built.
    nonneg: dict[int, object] = {}

    def known_nonneg(*ts):
        return all(id(t) in nonneg for t in ts)

    def mark(t):
        if static_signs:
            nonneg[id(t)] = t
        return t

    def activate(layer, fn, z):
        out = activation_rule(layer, fn, z)
        return mark(out) if is_relu_like(layer, fn) else out

    def handler(layer, args, kwargs, ctx: Ctx):
        if ctx.absorbed:
            return args[0]
        if ctx.is_output and (is_final_op(layer) or isinstance(layer, L.Lambda)) and is_final_activation(
                layer_activation(layer)):
            return args[0]  # a final keras.ops.softmax / Lambda(tf.nn.softmax): explain the logit before it
        if isinstance(layer, LINEAR):
            return linear_layer(layer, args[0], ctx)
        if isinstance(layer, AFFINE):
            scale, shift = affine_of(layer)
            return epsilon_map(lambda a: a * scale + shift, [args[0]], eps)
        if isinstance(layer, AVG_POOL + RESAMPLE):
            out = epsilon_map(lambda a: layer(a), [args[0]], eps)
            return mark(out) if _keeps_sign(layer) and known_nonneg(args[0]) else out
        if isinstance(layer, MERGE_ADD):
            inputs = list(args[0])
            out = epsilon_map(lambda *a: sum(a[1:], a[0]), inputs, eps)
            return mark(out) if known_nonneg(*inputs) else out
        if isinstance(layer, ACTIVATION):
            fn = layer_activation(layer)
            if ctx.is_output and is_final_activation(fn):
                return args[0]
            return activate(layer, fn, args[0])
        if isinstance(layer, TRANSPARENT):
            out = layer(*args, **kwargs)
            inputs = list(args[0]) if isinstance(args[0], (list, tuple)) else [args[0]]
            return mark(out) if known_nonneg(*inputs) else out
        raise UnsupportedLayerError(f"LRP has no rule for layer {layer.name!r} ({type(layer).__name__}); "
                                    f"supported layers: {supported_layer_names()}")

    def linear_layer(layer, a, ctx: Ctx):
        rule = comp.rule_for(layer, ctx)
        fn = layer_activation(layer)
        strip = ctx.is_output and is_final_activation(fn)
        fuse_relu = not strip and _is_plain_relu(layer, fn)
        parts = linear_parts(layer)
        if ctx.merge is not None:
            canonizer, absorbed = ctx.merge
            parts[-1] = canonizer.fold(parts[-1], layer, absorbed)
        if report is not None:
            report[layer.name] = known_nonneg(a)
        later = rule.implementation.later_maps_rule
        z = a
        for i, part in enumerate(parts):
            site = Site(rule if i == 0 or later is None else replace(rule, name=later), part,
                        nonneg=known_nonneg(z), relu=fuse_relu and i == len(parts) - 1)
            z = linear_rule(site, z)
        if fuse_relu:
            return mark(z)
        if strip:
            return z
        return activate(layer, fn, z)

    return handler


def lrp(model, x, targets, comp: Composite, static_signs: bool = True):
    """Input relevance (B, ...) of the target logit under the composite ``comp``."""
    canonizers = tuple(registry(CANONIZERS_HOOK).get(name) for name in comp.canonizers)

    def build():
        def objective(x, targets):
            h = run_graph(model, x, lrp_handler(comp, static_signs), canonizers)
            return ops.sum(_sg(select(h, targets) * h) * h)

        return _autodiff.grad(objective)

    return compiled(model, ("lrp", comp, static_signs), build)(x, targets)
