"""Layer-wise relevance propagation as a modified gradient (the approach of Zennit).

The whole model runs once, layer by layer (:func:`relmask.relevance.graph.run_graph`); every layer returns its
ordinary output *value*, but with a gradient path that carries relevance instead of the gradient: for a linear
layer with input ``a``, output ``z`` and rule-specific denominator ``D(a)`` the layer returns

    h = stop(z) + (G − stop(G)),    G = D(ã) · stop(1 / stab(D)),    ã = stop(a) · (1 + a − stop(a))

``h`` equals ``z``; ``ã`` equals ``a`` but has the derivative ``stop(a)``. The vector-Jacobian product of ``h``
with the upper relevance ``R`` is therefore ``a ⊙ Wᵀ(R / stab(D))`` (for the ε rule) — exactly the LRP
message. Starting the backward pass with ``R = onehot(target) · logit`` gives the input relevance as the
gradient of one scalar, in one forward and one backward pass inside the compiled graph.

Rules (``a⁺ = max(a, 0)``, ``W⁺ = max(W, 0)`` …; ``stab(D) = D + ε·sign(D)`` with sign(0) = 1):

* ``epsilon``:    D = W a + b
* ``z_plus``:     D = W⁺a⁺ + W⁻a⁻ + b⁺ (positive contributions only)
* ``alpha_beta``: α · (W⁺a⁺ + W⁻a⁻ + b⁺)-share − β · (W⁺a⁻ + W⁻a⁺ + b⁻)-share
* ``flat``:       D = 1ᵀ1 (relevance spread uniformly over the receptive field)
* ``w_square``:   D = (W²)ᵀ1
* ``zb``:         D = W a − W⁺l − W⁻h (bounds ``low`` ≤ a ≤ ``high``; only at the first linear layer, and ``a`` is
                  *that layer's* input: after any Rescaling/Normalization/BatchNormalization before it)

Average pooling, resampling (Resizing, UpSampling), Add (proportional split), BatchNormalization not following
a linear layer, Rescaling and Normalization use the ε rule; BatchNormalization following a linear layer is
folded into it first. Max pooling, reshaping, padding, dropout and Concatenate pass relevance by their gradient;
activations pass it through unchanged (ReLU-family ones only where the pre-activation is positive).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import keras
from keras import layers as L
from keras import ops

from ..errors import ParameterError, UnsupportedLayerError
from . import _autodiff
from .engine import compiled, select
from .graph import (ACTIVATION, AFFINE, AVG_POOL, LINEAR, MERGE_ADD, RESAMPLE, TRANSPARENT, Ctx, affine_of,
                    final_activations, is_relu_like, layer_activation, linear_parts, run_graph,
                    supported_layer_names)

RULES = ("epsilon", "z_plus", "alpha_beta", "flat", "w_square", "zb")


@dataclass(frozen=True)
class Rule:
    name: str
    epsilon: float = 1e-6
    alpha: float = 2.0
    beta: float = 1.0
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self):
        if self.name not in RULES:
            raise ParameterError(f"unknown LRP rule {self.name!r}; rules: {', '.join(RULES)}")
        if self.name == "alpha_beta" and abs(self.alpha - self.beta - 1.0) > 1e-9:
            raise ParameterError(f"LRP alpha_beta needs alpha − beta = 1 (conservation), got alpha={self.alpha}, "
                                 f"beta={self.beta}")
        if self.name == "zb" and not self.low < self.high:
            raise ParameterError(f"LRP zb needs low < high, got low={self.low}, high={self.high}")


# -- the gradient tricks -------------------------------------------------------------------------------------
def _sg(t):
    return ops.stop_gradient(t)


def _carry(value, a):
    """Equals ``value``; its derivative with respect to ``a`` is ``stop(value)``."""
    return _sg(value) * (1.0 + a - _sg(a))


def _ones(a):
    """Equals 1; its derivative with respect to ``a`` is 1."""
    return 1.0 + a - _sg(a)


def _stab(d, eps):
    return d + eps * ops.where(d >= 0, 1.0, -1.0)


def _share(d, eps):
    """``d`` scaled by stop(1/stab(d)): backward, the upper relevance is divided by the denominator."""
    return d * _sg(1.0 / _stab(d, eps))


def _attach(z, g):
    """Value ``z`` (exactly), gradient that of ``g``."""
    return _sg(z) + (g - _sg(g))


def linear_rule(rule: Rule, part, a):
    """One linear map under ``rule``: returns its output with relevance-carrying gradient."""
    eps = rule.epsilon
    if rule.name == "epsilon":
        z = part(_carry(a, a))  # value W a + b: the same convolution serves forward and backward
        return _attach(z, _share(z, eps))
    z = part(_sg(a))
    W, b = part.kernel, part.bias
    if rule.name in ("z_plus", "alpha_beta"):
        # Inputs are almost always ReLU outputs (a ≥ 0): then a⁻ = 0, its convolutions add exact zeros to the
        # values and 0 · (…) to the gradient, and skipping them gives bit-identical results with half the
        # convolutions (2 instead of 4 for αβ, 1 instead of 2 for z⁺, each forward and backward). The test is
        # on the values, so any input (e.g. a standardised model input) still gets the general form.
        return _attach(z, ops.cond(ops.all(a >= 0.0), lambda: _signed_shares(rule, part, a, False),
                                   lambda: _signed_shares(rule, part, a, True)))
    if rule.name == "flat":
        return _attach(z, _share(part.op(_ones(a), ops.ones_like(W)), eps))
    if rule.name == "w_square":
        return _attach(z, _share(part.op(_ones(a), W * W), eps))
    if rule.name == "zb":
        ones = _ones(a)
        d = (part.op(_carry(a, a), W) - part.op(rule.low * ones, ops.maximum(W, 0.0))
             - part.op(rule.high * ones, ops.minimum(W, 0.0)))
        return _attach(z, _share(d, eps))
    raise AssertionError(rule.name)  # pragma: no cover - Rule validates names


def _signed_shares(rule: Rule, part, a, has_negative: bool):
    """The gradient-carrying part of z⁺ / αβ; without ``has_negative`` ``a`` ≥ 0 and the a⁻ terms are left out."""
    eps = rule.epsilon
    W, b = part.kernel, part.bias
    wp, wn = ops.maximum(W, 0.0), ops.minimum(W, 0.0)
    ap = _carry(ops.maximum(a, 0.0), a)
    bp = None if b is None else ops.maximum(b, 0.0)
    pos = part(ap, wp, bp, use_bias=b is not None)
    if has_negative:
        an = _carry(ops.minimum(a, 0.0), a)
        pos = pos + part.op(an, wn)
    if rule.name == "z_plus":
        return _share(pos, eps)
    bn = None if b is None else ops.minimum(b, 0.0)
    if has_negative:
        neg = part(an, wp, bn, use_bias=b is not None) + part.op(ap, wn)
    else:  # (0 + b⁻) + W⁻a⁺ of the general form is exactly W⁻a⁺ + b⁻
        neg = part(ap, wn, bn, use_bias=b is not None)
    return rule.alpha * _share(pos, eps) - rule.beta * _share(neg, eps)


def epsilon_map(fn, inputs, eps):
    """A parameter-free (or elementwise affine) linear map of ``inputs`` under the ε rule."""
    z = fn(*[_carry(a, a) for a in inputs])
    return _attach(z, _share(z, eps))


def activation_rule(layer, fn, z):
    if fn is keras.activations.linear:
        return z
    out = fn(z)
    if is_relu_like(layer, fn):
        return _sg(out) + (z - _sg(z)) * _sg(ops.cast(z > 0, z.dtype))
    return _sg(out) + (z - _sg(z))


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
              first: str | None = None, epsilon: float = 1e-6, alpha: float = 2.0, beta: float = 1.0,
              low: float = 0.0, high: float = 1.0) -> Composite:
    """Build a composite from a preset, one rule for every layer, and/or per-layer overrides."""
    base = Rule("epsilon", epsilon=epsilon, alpha=alpha, beta=beta, low=low, high=high)
    mk = lambda name: replace(base, name=name)  # noqa: E731 - one rule factory sharing the numbers
    if everywhere is not None:
        c = Composite(mk(everywhere), mk(everywhere), mk(first) if first else None)
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
def lrp_handler(comp: Composite):
    eps = comp.dense.epsilon

    def handler(layer, args, kwargs, ctx: Ctx):
        if ctx.folded:
            return args[0]
        if isinstance(layer, LINEAR):
            rule = comp.rule_for(layer, ctx)
            z = args[0]
            for i, part in enumerate(linear_parts(layer, ctx.fold_bn)):
                # zB's bounds describe the input: the second map of a separable conv gets the ε rule
                z = linear_rule(rule if i == 0 or rule.name != "zb" else replace(rule, name="epsilon"), part, z)
            fn = layer_activation(layer)
            if ctx.is_output and fn in final_activations():
                return z
            return activation_rule(layer, fn, z)
        if isinstance(layer, AFFINE):
            scale, shift = affine_of(layer)
            return epsilon_map(lambda a: a * scale + shift, [args[0]], eps)
        if isinstance(layer, AVG_POOL + RESAMPLE):
            return epsilon_map(lambda a: layer(a), [args[0]], eps)
        if isinstance(layer, MERGE_ADD):
            inputs = list(args[0])
            return epsilon_map(lambda *a: sum(a[1:], a[0]), inputs, eps)
        if isinstance(layer, ACTIVATION):
            fn = layer_activation(layer)
            if ctx.is_output and fn in final_activations():
                return args[0]
            return activation_rule(layer, fn, args[0])
        if isinstance(layer, TRANSPARENT):
            return layer(*args, **kwargs)
        raise UnsupportedLayerError(f"LRP has no rule for layer {layer.name!r} ({type(layer).__name__}); "
                                    f"supported layers: {supported_layer_names()}")

    return handler


def lrp(model, x, targets, comp: Composite):
    """Input relevance (B, ...) of the target logit under the composite ``comp``."""

    def build():
        def objective(x, targets):
            h = run_graph(model, x, lrp_handler(comp))
            return ops.sum(_sg(select(h, targets) * h) * h)

        return _autodiff.grad(objective)

    return compiled(model, ("lrp", comp), build)(x, targets)
