"""Layer-wise relevance propagation as modified gradients (the approach of Zennit).

The whole model runs once, layer by layer (:func:`relmask.relevance.graph.run_graph`); every layer returns its
ordinary output, but a layer with an LRP rule replaces its *gradient* by the rule's relevance message
(``keras.ops.custom_gradient``, see :func:`relevance_op`): in the backward pass the cotangent arriving at a
layer's output is that output's relevance ``R``, and the layer returns its inputs' relevance. Starting the
backward pass with ``R = onehot(target) · logit`` gives the input relevance as the gradient of one scalar, in one
forward and one backward pass inside the compiled graph; automatic differentiation routes relevance through
everything without a rule (max pooling, reshaping, Concatenate, branches and nested models) by its gradient.

Each message sends ``R / stab(D)`` back through a linear map with a vector-Jacobian product
(:func:`relmask.relevance._autodiff.vjp`), so a rule costs its extra linear maps and a few elementwise passes,
not a second autodiff pass over helper terms. With ``a`` the layer's input, ``z = W a + b`` its output,
``a⁺ = max(a, 0)``, ``W⁺ = max(W, 0)`` …, ``stab(D) = D + ε·sign(D)`` (sign(0) = 1) and ``Mᵀ`` the transpose of
the layer's linear map with kernel ``M``:

* ``epsilon``:    D = W a + b;                 R_in = a ⊙ Wᵀs,  s = R / stab(D)
* ``z_plus``:     D = W⁺a⁺ + W⁻a⁻ + b⁺ ≥ 0;    R_in = a⁺ ⊙ W⁺ᵀs + a⁻ ⊙ W⁻ᵀs
* ``alpha_beta``: α × the z⁺ message − β × the same with D⁻ = W⁻a⁺ + W⁺a⁻ + b⁻ ≤ 0; D⁺ + D⁻ = W a + b, so the
                  forward pass computes the two denominators and adds them up instead of computing W a + b
* ``flat``:       D = 1ᵀ1;                     R_in = 1ᵀs  (uniform over the receptive field)
* ``w_square``:   D = (W²)ᵀ1;                  R_in = (W²)ᵀs
* ``zb``:         D = W a − W⁺l − W⁻h;         R_in = a ⊙ Wᵀs − l·W⁺ᵀs − h·W⁻ᵀs = (a − m) ⊙ Wᵀs + h'·|W|ᵀs with
                  m = (l + h)/2, h' = (h − l)/2 (bounds ``low`` ≤ a ≤ ``high``; only at the first linear layer,
                  and ``a`` is *that layer's* input: after any Rescaling/Normalization/BatchNormalization)

The bias term of these denominators is a convention on which the reference toolboxes differ (``Rule.bias``):
``split`` (the default of z⁺ and αβ, Zennit's): b⁺ in D⁺ and b⁻ in D⁻ as above; ``include`` (the default of ε;
iNNvestigate's ``bias=True``): the whole b in every denominator, so D⁺ and D⁻ may have either sign and are
stabilised with a sign test; ``ignore`` (iNNvestigate's ``_IB`` and ``lrp.z_plus``, Zennit's
``zero_params='bias'``): no b. For ε, ``split`` is ``include`` (its one denominator gets both parts). flat, w²
and zB never have a bias term. ``Rule.stabilizer`` (Zennit's ``stabilizer``; default: ε) stabilises every rule
but ε and the ε messages of pooling, resampling, Add and unfolded affine layers.

Where a layer's input is non-negative, a⁻ = 0 and z⁺/αβ leave its terms out (bit-identical, fewer maps): known
when the graph is built for the outputs of ReLUs and of what only pools, moves or pads them (a small sign
analysis in :func:`lrp_handler`), tested on the values elsewhere. D⁺ ≥ 0 and D⁻ ≤ 0 are stabilised by ±ε without
a sign test, the ε added with the bias. flat, w² and zB's bound terms do not depend on the input, so their
denominators are computed on one sample and broadcast over the batch. A plain ReLU after a linear layer is fused
into its rule (the message gates relevance by ``relu(z) > 0``), so that convolution, bias and ReLU stay one
kernel as in the model's own forward pass.

Average pooling, resampling (Resizing, UpSampling), Add (proportional split), BatchNormalization not following
a linear layer, Rescaling and Normalization use the ε rule; BatchNormalization following a linear layer is
folded into it first. Max pooling, reshaping, padding, dropout and Concatenate pass relevance by their gradient;
activations pass it through unchanged (ReLU-family ones only where the pre-activation is positive: a plain ReLU
keeps its own gradient, which is exactly that).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import keras
from keras import layers as L
from keras import ops

from ..errors import ParameterError, UnsupportedLayerError
from . import _autodiff
from .engine import compiled, select
from .graph import (
    ACTIVATION,
    AFFINE,
    AVG_POOL,
    LINEAR,
    MERGE_ADD,
    RESAMPLE,
    TRANSPARENT,
    Ctx,
    affine_of,
    is_final_activation,
    is_final_op,
    is_relu_like,
    layer_activation,
    linear_parts,
    run_graph,
    supported_layer_names,
)
from .methods import LRP_BIASES

RULES = ("epsilon", "z_plus", "alpha_beta", "flat", "w_square", "zb")
#: bias conventions of the rules with a bias term in their denominator (see the module docstring)
BIASES = LRP_BIASES
#: each rule's convention where ``bias`` is not given: ε keeps the layer's whole output as denominator (both
#: references do), z⁺/αβ split it by sign (Zennit's, and relmask's since it has had these rules: the golden maps);
#: flat, w² and zB have no bias term
DEFAULT_BIAS = {"epsilon": "include", "z_plus": "split", "alpha_beta": "split"}


@dataclass(frozen=True)
class Rule:
    name: str
    epsilon: float = 1e-6
    alpha: float = 2.0
    beta: float = 1.0
    low: float = 0.0
    high: float = 1.0
    #: bias convention (BIASES); None: the rule's DEFAULT_BIAS
    bias: str | None = None
    #: stabiliser of every rule but ε (Zennit's ``stabilizer``); None: ``epsilon``
    stabilizer: float | None = None

    def __post_init__(self):
        if self.name not in RULES:
            raise ParameterError(f"unknown LRP rule {self.name!r}; rules: {', '.join(RULES)}")
        if self.bias is not None and self.bias not in BIASES:
            raise ParameterError(f"unknown LRP bias convention {self.bias!r}; conventions: {', '.join(BIASES)}")
        if self.name == "alpha_beta" and abs(self.alpha - self.beta - 1.0) > 1e-9:
            raise ParameterError(f"LRP alpha_beta needs alpha − beta = 1 (conservation), got alpha={self.alpha}, "
                                 f"beta={self.beta}")
        if self.name == "zb" and not self.low < self.high:
            raise ParameterError(f"LRP zb needs low < high, got low={self.low}, high={self.high}")

    @property
    def bias_mode(self) -> str:
        """The bias convention in force: ``split``, ``include`` or ``ignore`` (ε: ``split`` is ``include``)."""
        mode = self.bias or DEFAULT_BIAS.get(self.name, "ignore")
        return "include" if self.name == "epsilon" and mode == "split" else mode

    @property
    def eps(self) -> float:
        """The number added to this rule's denominators: ``epsilon`` for ε, the stabiliser for the others."""
        return self.epsilon if self.name == "epsilon" or self.stabilizer is None else self.stabilizer


# -- relevance messages ---------------------------------------------------------------------------------------
def _sg(t):
    return ops.stop_gradient(t)


def _safe(d):
    """``d`` with exact zeros replaced by 1: the divisor of a stabiliser 0 (iNNvestigate's safe division).

    A z⁺/αβ/flat/w² denominator is 0 only where every contribution to it is 0 (they all have its sign), so any
    non-zero divisor gives their relevance, 0; an ε denominator can also be 0 by cancellation, a null set.
    """
    return ops.where(d == 0.0, 1.0, d)


def _stab(d, eps):
    """stab(D) = D + ε·sign(D), sign(0) = 1; ε = 0 divides safely instead (:func:`_safe`) rather than by zero."""
    if eps == 0:
        return _safe(d)
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


def _on_one_sample(part, kernel, a):
    """``kernel`` applied to an all-ones input of one sample: an input-independent denominator term."""
    return part.op(ops.ones_like(a[:1]), kernel)


@dataclass(frozen=True)
class Site:
    """One linear map under one rule, and what is known about it when the graph is built."""

    rule: Rule
    part: object          # graph.Linear
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
        return self.gate(r, z) / (d + eps if positive and eps else _stab(d, eps))

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
        ``(ap, an)`` is :func:`_split`'s; ``an`` None: a ≥ 0 and the a⁻ term is left out (it would add exact zeros).
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
            return d if self.rule.eps else _safe(d)
        return _stab(d, self.rule.eps)

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


def _epsilon(site: Site, a, z, r):
    b = site.part.bias
    if b is not None and site.rule.bias_mode == "ignore":
        # D = W a = z − b: any sign (with a fused ReLU, z is relu(z), equal to z where relevance flows)
        return a * site.back(site.part.kernel, a, site.share(r, z - b, z))
    # where a fused ReLU lets relevance through, z > 0
    return a * site.back(site.part.kernel, a, site.share(r, z, z, positive=site.relu))


def _uniform(site: Site, a, z, r, kernel):
    """flat / w²: the denominator does not depend on ``a``; relevance goes back by ``kernel`` alone."""
    return site.back(kernel, a, site.share(r, _on_one_sample(site.part, kernel, a), z))


def _flat(site: Site, a, z, r):
    return _uniform(site, a, z, r, ops.ones_like(site.part.kernel))


def _w_square(site: Site, a, z, r):
    return _uniform(site, a, z, r, site.part.kernel * site.part.kernel)


def _zb(site: Site, a, z, r):
    rule, part = site.rule, site.part
    wp, wn = site.signed_kernels()
    # D = W a − W⁺l − W⁻h: the bound terms (and the bias, taken out of z) are one sample's worth, subtracted once
    const = rule.low * _on_one_sample(part, wp, a) + rule.high * _on_one_sample(part, wn, a)
    s = site.share(r, z - (const if part.bias is None else const + part.bias), z)
    # a·Wᵀs − l·W⁺ᵀs − h·W⁻ᵀs with W± = (W ± |W|)/2: two transposed maps instead of three
    mid, half = (rule.low + rule.high) / 2.0, (rule.high - rule.low) / 2.0
    return (a - mid) * site.back(part.kernel, a, s) + half * site.back(ops.abs(part.kernel), a, s)


def _split(a, has_negative: bool):
    """(a⁺, a⁻); without ``has_negative`` ``a`` ≥ 0, so (a, None)."""
    return (ops.maximum(a, 0.0), ops.minimum(a, 0.0)) if has_negative else (a, None)


def _by_sign(site: Site, a, branch):
    """``branch(has_negative)``, decided when the graph is built where ``a`` is known to be ≥ 0, else on the values.

    Where a ≥ 0, a⁻ = 0 and its convolutions would add exact zeros, so they are skipped (bit-identical).
    """
    if site.nonneg:
        return branch(False)
    return ops.cond(ops.all(a >= 0.0), lambda: branch(False), lambda: branch(True))


def _z_plus(site: Site, a, z, r):
    wp, wn = site.signed_kernels()

    def message(has_negative):
        ap, an = _split(a, has_negative)
        s = site.gate(r, z) / site.stabilise(site.denominator(ap, an, +1))
        out = ap * site.back(wp, a, s)
        return out + an * site.back(wn, a, s) if has_negative else out

    return _by_sign(site, a, message)


def _alpha_beta_forward(site: Site, a):
    """The two αβ denominators, and the layer's output from them.

    (W⁺a⁺ + W⁻a⁻ + b⁺ + ε) + (W⁻a⁺ + W⁺a⁻ + b⁻ − ε) = W a + b (to rounding; other bias conventions add or
    subtract b, :meth:`Site.output_of`): computing the denominators in the forward pass, instead of W a + b there
    and the denominators in the backward pass, saves one linear map per layer.
    """

    def denominators(has_negative):
        ap, an = _split(a, has_negative)
        return site.denominator(ap, an, +1), site.denominator(ap, an, -1)

    dp, dn = _by_sign(site, a, denominators)
    out = site.output(site.output_of(dp, dn))
    return (dp, dn, out), out


def _alpha_beta(site: Site, a, saved, r):
    rule = site.rule
    dp, dn, z = saved
    wp, wn = site.signed_kernels()
    rg = site.gate(r, z)
    sp, sn = rg / site.stabilise(dp), rg / site.stabilise(dn)

    def message(has_negative):
        # two shares go back; a⁺ collects α·W⁺ᵀs⁺ − β·W⁻ᵀs⁻ and a⁻ the mirror image (α, β applied on the input
        # side, which is smaller than the output wherever a layer widens the channels)
        ap, an = _split(a, has_negative)
        out = ap * (rule.alpha * site.back(wp, a, sp) - rule.beta * site.back(wn, a, sn))
        if has_negative:
            out = out + an * (rule.alpha * site.back(wn, a, sp) - rule.beta * site.back(wp, a, sn))
        return out

    return _by_sign(site, a, message)


def _plain_forward(site: Site, a):
    # With a fused ReLU the message sees relu(z): it equals z wherever relevance flows (z > 0), and with z itself
    # unused the graph optimiser can fuse convolution, bias and ReLU into one kernel, as in the model's own forward.
    out = site.output(site.part(a))
    return out, out


#: rule -> (forward(site, a) -> (saved, output), message(site, a, saved, R) -> input relevance)
_RULES = {"epsilon": (_plain_forward, _epsilon), "z_plus": (_plain_forward, _z_plus),
          "alpha_beta": (_alpha_beta_forward, _alpha_beta), "flat": (_plain_forward, _flat),
          "w_square": (_plain_forward, _w_square), "zb": (_plain_forward, _zb)}


def linear_rule(site: Site, a):
    """``site``'s linear map (and fused ReLU) applied to ``a``, with the rule's relevance message as gradient."""
    forward, message = _RULES[site.rule.name]
    return relevance_op(lambda a: forward(site, a), lambda xs, saved, r: (message(site, xs[0], saved, r),), a)


def epsilon_map(fn, inputs, eps):
    """A parameter-free (or elementwise affine) linear map of ``inputs`` under the ε rule."""

    def message(xs, z, r):
        s = r / _stab(z, eps)
        return tuple(x * g for x, g in zip(xs, _autodiff.vjp(fn, tuple(xs), s)))

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
    """Which rule each layer gets: by layer name, then class name, then first-layer / conv / dense defaults."""

    dense: Rule
    conv: Rule
    first: Rule | None = None
    by_name: tuple = ()    # ((layer name or class name, Rule), ...)

    def rule_for(self, layer, ctx: Ctx) -> Rule:
        for key, rule in self.by_name:
            if key == layer.name or key == type(layer).__name__:
                return rule
        if ctx.first_linear and self.first is not None:
            return self.first
        return self.dense if isinstance(layer, L.Dense) else self.conv


PRESETS = {
    # preset: (dense rule, conv rule, first-layer rule or None)
    "epsilon_plus": ("epsilon", "z_plus", None),
    "epsilon_plus_flat": ("epsilon", "z_plus", "flat"),
    "epsilon_plus_zb": ("epsilon", "z_plus", "zb"),
    "epsilon_alpha2_beta1": ("epsilon", "alpha_beta", None),
    "epsilon_alpha2_beta1_flat": ("epsilon", "alpha_beta", "flat"),
}


def composite(preset: str | None = None, rules: dict | None = None, *, everywhere: str | None = None,
              first: str | None = None, dense: str | None = None, conv: str | None = None,
              epsilon: float = 1e-6, alpha: float = 2.0, beta: float = 1.0, low: float = 0.0, high: float = 1.0,
              bias: str | None = None, stabilizer: float | None = None) -> Composite:
    """Build a composite from a preset, one rule for every layer, dense/conv rules, and/or per-layer overrides.

    ``bias`` (one of :data:`BIASES`, None: each rule's default) and ``stabilizer`` (None: ``epsilon``) apply to
    every rule of the composite.
    """
    base = Rule("epsilon", epsilon=epsilon, alpha=alpha, beta=beta, low=low, high=high, bias=bias,
                stabilizer=stabilizer)
    mk = lambda name: replace(base, name=name)  # noqa: E731 - one rule factory sharing the numbers
    if everywhere is not None:
        c = Composite(mk(everywhere), mk(everywhere), mk(first) if first else None)
    elif dense is not None or conv is not None:
        c = Composite(mk(dense or "epsilon"), mk(conv or "epsilon"), mk(first) if first else None)
    elif preset is not None:
        if preset not in PRESETS:
            raise ParameterError(f"unknown LRP composite preset {preset!r}; presets: {', '.join(PRESETS)}")
        d, cv, f = PRESETS[preset]
        c = Composite(mk(d), mk(cv), mk(f) if f else None)
    else:
        c = Composite(mk("epsilon"), mk("epsilon"), mk(first) if first else None)
    if rules:
        c = replace(c, by_name=tuple((str(k), mk(str(v))) for k, v in rules.items()))
    return c


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
        if ctx.folded:
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
        parts = linear_parts(layer, ctx.fold_bn)
        if report is not None:
            report[layer.name] = known_nonneg(a)
        z = a
        for i, part in enumerate(parts):
            # zB's bounds describe the input: the second map of a separable conv gets the ε rule
            site = Site(rule if i == 0 or rule.name != "zb" else replace(rule, name="epsilon"), part,
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

    def build():
        def objective(x, targets):
            h = run_graph(model, x, lrp_handler(comp, static_signs))
            return ops.sum(_sg(select(h, targets) * h) * h)

        return _autodiff.grad(objective)

    return compiled(model, ("lrp", comp, static_signs), build)(x, targets)
