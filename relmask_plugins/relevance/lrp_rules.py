"""The built-in LRP rules (ε, z⁺, αβ, flat, w², zB) and the BatchNorm canonizer, as registry objects.

Registered like any plugin's (``register_lrp_rules``, ``register_canonizers``). This module imports no Keras, so
that listing plugins loads no backend; each rule imports its maths (:mod:`.lrp_maths`, formulas there) when the
engine first traces it.
"""
from __future__ import annotations

from relmask.errors import ParameterError
from relmask.relevance.rules import Canonizer, LrpRule


class Epsilon(LrpRule):
    name = "epsilon"
    description = "ε rule: D = W a + b, R_in = a ⊙ Wᵀ(R / stab(D)) (ε → 0: LRP-0 = gradient × input on ReLU nets)"
    # both references keep the layer's whole output as the denominator, so LRP-0 is gradient × input
    default_bias = "include"
    one_denominator = True
    uses_epsilon = True

    def message(self, site, a, saved, r):
        from .lrp_maths import epsilon_message

        return epsilon_message(site, a, saved, r)


class ZPlus(LrpRule):
    name = "z_plus"
    description = "z⁺ rule: positive contributions only, D⁺ = W⁺a⁺ + W⁻a⁻ + b⁺"
    # split by sign: Zennit's convention, and relmask's since it has had this rule (the golden maps)
    default_bias = "split"

    def message(self, site, a, saved, r):
        from .lrp_maths import z_plus_message

        return z_plus_message(site, a, saved, r)


class AlphaBeta(LrpRule):
    name = "alpha_beta"
    description = "αβ rule: α × the positive share − β × the negative share (α − β = 1)"
    default_bias = "split"

    def check(self, rule) -> None:
        if abs(rule.alpha - rule.beta - 1.0) > 1e-9:
            raise ParameterError(f"LRP alpha_beta needs alpha − beta = 1 (conservation), got alpha={rule.alpha}, "
                                 f"beta={rule.beta}")

    def forward(self, site, a):
        from .lrp_maths import alpha_beta_forward

        return alpha_beta_forward(site, a)

    def message(self, site, a, saved, r):
        from .lrp_maths import alpha_beta_message

        return alpha_beta_message(site, a, saved, r)


class Flat(LrpRule):
    name = "flat"
    description = "flat rule: relevance spread uniformly over the receptive field"

    def message(self, site, a, saved, r):
        from .lrp_maths import flat_message

        return flat_message(site, a, saved, r)


class WSquare(LrpRule):
    name = "w_square"
    description = "w² rule: relevance spread in proportion to the squared weights"

    def message(self, site, a, saved, r):
        from .lrp_maths import w_square_message

        return w_square_message(site, a, saved, r)


class ZB(LrpRule):
    name = "zb"
    description = "zB rule: bounded input, low ≤ a ≤ high (the first linear layer's input)"
    # the bounds describe the layer's input: a separable convolution's pointwise map gets the ε rule
    later_maps_rule = "epsilon"

    def check(self, rule) -> None:
        if not rule.low < rule.high:
            raise ParameterError(f"LRP zb needs low < high, got low={rule.low}, high={rule.high}")

    def message(self, site, a, saved, r):
        from .lrp_maths import zb_message

        return zb_message(site, a, saved, r)


class BatchNormFolding(Canonizer):
    name = "batchnorm"
    description = ("BatchNormalization (over the channel axis) directly after a linear layer folded into its kernel "
                   "and bias (Zennit's SequentialMergeBatchNorm)")

    def absorbs(self, layer, input_shape: tuple) -> bool:
        from keras import layers as L

        return isinstance(layer, L.BatchNormalization) and layer.axis in (-1, len(input_shape) - 1)

    def fold(self, part, linear_layer, layer):
        from .lrp_maths import fold_batchnorm

        return fold_batchnorm(part, linear_layer, layer)


def builtin_rules() -> list[LrpRule]:
    return [Epsilon(), ZPlus(), AlphaBeta(), Flat(), WSquare(), ZB()]


def builtin_canonizers() -> list[Canonizer]:
    return [BatchNormFolding()]
