"""The built-in LRP methods as registry objects: one rule everywhere, a first-layer rule, composites and their
presets, and the reference toolboxes' analyzers and composites by their own names.

This module imports no Keras (plugins are listed without loading a backend); ``attribute`` imports the engine
(:mod:`relmask.relevance.lrp`) on first use. The rules and the canonizer these methods name are registered by
:mod:`.lrp_rules`; ``lrp.composite`` may name rules and canonizers that other plugins register.
"""
from __future__ import annotations

from relmask.errors import ParameterError, UnknownNameError
from relmask.plugin_system.components import Param, RelevanceMethod
from relmask.plugin_system.plugins import registry
from relmask.relevance.rules import BIASES

from .methods import BuiltinMethod

#: named composites: preset -> (rule of Dense layers, rule of convolutions, rule of the first linear layer or None)
PRESETS = {
    "epsilon_plus": ("epsilon", "z_plus", None),
    "epsilon_plus_flat": ("epsilon", "z_plus", "flat"),
    "epsilon_plus_zb": ("epsilon", "z_plus", "zb"),
    "epsilon_alpha2_beta1": ("epsilon", "alpha_beta", None),
    "epsilon_alpha2_beta1_flat": ("epsilon", "alpha_beta", "flat"),
}
#: the canonizers every built-in LRP method applies: BatchNormalization folded into the linear layer before it
CANONIZERS = ("batchnorm",)

_EPS = Param("epsilon", float, 1e-6, "stabiliser ε added to denominators (larger: relevance absorbed, less noise; "
             "0: divide safely, zero denominators give no relevance)", low=0)
_ALPHA = Param("alpha", float, 2.0, "α of the αβ rule (α − β = 1)", low=1)
_BETA = Param("beta", float, 1.0, "β of the αβ rule", low=0)
_LOW = Param("low", float, 0.0, "zB rule: lowest value of the first linear layer's input (after any "
               "Rescaling/Normalization before it)", finite=True)
_HIGH = Param("high", float, 1.0, "zB rule: highest value of the first linear layer's input", finite=True)
_BIAS = Param("bias", str, None, "bias term of the ε/z⁺/αβ denominators: split (b⁺ in D⁺, b⁻ in D⁻; default of z⁺ "
              "and αβ, Zennit's), include (the whole b; default of ε, iNNvestigate's bias=True) or ignore (no b); "
              "default: each rule's own", choices=BIASES)
_STAB = Param("stabilizer", float, None, "stabiliser of every rule but ε, and of the ε messages of pooling, Add "
              "and unfolded affine layers (Zennit's `stabilizer`); default: epsilon", low=0)
_LRP_NUMBERS = (_EPS, _ALPHA, _BETA, _LOW, _HIGH, _BIAS, _STAB)


class LRP(BuiltinMethod):
    """LRP with one rule on every linear layer (``everywhere``) or on the first one (``first``; ε elsewhere), with
    Dense/convolution rules (``dense``, ``conv``) or with a preset (:data:`PRESETS`)."""

    # the αβ rule does not conserve where a neuron has no negative (or no positive) contributions
    conserves = True
    everywhere: str | None = None
    first: str | None = None
    preset: str | None = None
    #: rules of Dense and of convolutional layers (compatibility presets; None: the preset's or ``everywhere``)
    dense: str | None = None
    conv: str | None = None
    #: numbers a compatibility preset fixes (its reference's constants), overridden by the declared parameters
    fixed: tuple = ()

    def check_params(self, params, input_shape=None, model=None):
        owner = f"{self.kind} {self.name!r}"
        alpha, beta = params.get("alpha"), params.get("beta")
        if alpha is not None and beta is not None and abs(alpha - beta - 1.0) > 1e-9:
            raise ParameterError(f"{owner}: parameters 'alpha' = {alpha} and 'beta' = {beta} must satisfy "
                                 "alpha − beta = 1 (conservation)")
        low, high = params.get("low"), params.get("high")
        if low is not None and high is not None and not low < high:
            raise ParameterError(f"{owner}: parameter 'low' = {low} must be below 'high' = {high}")
        preset = params.get("preset")
        if preset is not None and preset not in PRESETS:
            raise ParameterError(f"{owner}: parameter 'preset': unknown LRP composite preset {preset!r}; presets: "
                                 f"{', '.join(PRESETS)}")
        for param, hook, names in (("rules", "register_lrp_rules", (params.get("rules") or {}).values()),
                                   ("canonizers", "register_canonizers", params.get("canonizers") or ())):
            for name in names:
                try:
                    registry(hook).get(str(name))
                except UnknownNameError as exc:
                    raise ParameterError(f"{owner}: parameter {param!r}: {exc}") from None

    def layer_rules(self, preset: str | None) -> tuple:
        """(rule of Dense layers, rule of convolutions, rule of the first linear layer or None)."""
        if self.everywhere is not None:
            return self.everywhere, self.everywhere, self.first
        if self.dense is not None or self.conv is not None:
            return self.dense or "epsilon", self.conv or "epsilon", self.first
        if preset is not None:
            if preset not in PRESETS:
                raise ParameterError(f"unknown LRP composite preset {preset!r}; presets: {', '.join(PRESETS)}")
            return PRESETS[preset]
        return "epsilon", "epsilon", self.first

    def attribute(self, model, x, targets, **params):
        from relmask.relevance.lrp import composite, lrp

        rules = params.pop("rules", None)
        canonizers = params.pop("canonizers", CANONIZERS)
        dense, conv, first = self.layer_rules(params.pop("preset", self.preset))
        comp = composite(dense, conv, first, rules=rules, canonizers=canonizers,
                         **{**dict(self.fixed), **params})
        return lrp(model, x, targets, comp)


def _lrp(name, description, params=(_EPS, _BIAS, _STAB), **kw) -> LRP:
    m = LRP()
    m.name, m.description, m.params = name, description, tuple(params)
    for k, v in kw.items():
        setattr(m, k, v)
    return m


def lrp_methods() -> list[RelevanceMethod]:
    rule_doc = "rules per layer: see docs/relevance.md"
    return [
        _lrp("lrp.epsilon", "LRP-ε on every layer (ε → 0: LRP-0 = gradient × input on ReLU nets).",
             everywhere="epsilon"),
        _lrp("lrp.z_plus", "LRP z⁺ on every linear layer (positive contributions only).", everywhere="z_plus"),
        _lrp("lrp.alpha_beta", "LRP αβ on every linear layer (α − β = 1).", (_EPS, _ALPHA, _BETA, _BIAS, _STAB),
             everywhere="alpha_beta", conserves=False),
        _lrp("lrp.flat", "LRP flat rule on the first linear layer, ε elsewhere.", first="flat"),
        _lrp("lrp.w_square", "LRP w² rule on the first linear layer, ε elsewhere.", first="w_square"),
        _lrp("lrp.zb", "LRP zB (bounded input) rule on the first linear layer, ε elsewhere.",
             (_EPS, _LOW, _HIGH, _BIAS, _STAB), first="zb"),
        _lrp("lrp.composite", "LRP with a composite: a preset (dense/conv/first-layer rules) plus per-layer "
             "overrides `rules` {layer name or class name: rule}; " + rule_doc,
             (Param("preset", str, "epsilon_plus", "epsilon_plus | epsilon_plus_flat | epsilon_plus_zb | "
                    "epsilon_alpha2_beta1 | epsilon_alpha2_beta1_flat"),
              Param("rules", dict, None, "overrides {layer name or class name: rule name}; rules registered by "
                    "plugins too", items=str),
              Param("canonizers", list, list(CANONIZERS), "graph rewrites applied first, in order (registered "
                    "canonizers; [] for none)", items=str),
              *_LRP_NUMBERS)),
        *[_lrp(f"lrp.{p}", f"LRP composite preset {p!r} (see lrp.composite).", _LRP_NUMBERS,
               preset=p, conserves="alpha" not in p)
          for p in ("epsilon_plus", "epsilon_plus_flat", "epsilon_alpha2_beta1", "epsilon_alpha2_beta1_flat")],
        *compat_methods(),
    ]


#: iNNvestigate's ε default (keras.backend.epsilon()); its other rules, pooling and Add divide safely (the
#: stabiliser only where a denominator is 0), which is relmask's stabiliser 0
_INNVESTIGATE_EPS = 1e-7
_I_RULES = "iNNvestigate 2.1.2"


def _i_stab(**numbers) -> tuple:
    return tuple({"stabilizer": 0.0, **numbers}.items())


#: the reference toolboxes' analyzers and composites by their own names (docs/relevance.md, *LRP by the
#: reference toolboxes' names*): (name, description, parameters, attributes of the LRP method); the sequential
#: presets' ε = 0.1 absorbs relevance, so they do not conserve it
COMPAT = [
    ("innvestigate.lrp.z", f"{_I_RULES} LRPZ: the z rule (ε = 0, safe division) on every Dense/Conv layer, bias "
     "included.", (), dict(everywhere="epsilon", fixed=_i_stab(epsilon=0.0, bias="include"))),
    ("innvestigate.lrp.epsilon", f"{_I_RULES} LRPEpsilon: ε on every Dense/Conv layer (bias: include = its "
     "bias=True, ignore = bias=False).",
     (Param("epsilon", float, _INNVESTIGATE_EPS, "ε (iNNvestigate's default 1e-7)", low=0),
      Param("bias", str, "include", "include (iNNvestigate's bias=True) or ignore (bias=False)",
            choices=("include", "ignore"))),
     dict(everywhere="epsilon", fixed=_i_stab())),
    ("innvestigate.lrp.z_plus", f"{_I_RULES} LRPZPlus (= alpha_1_beta_0_IB): z⁺ (αβ with α=1, β=0, a⁻ terms "
     "kept) on every Dense/Conv layer, biases ignored.", (), dict(everywhere="z_plus", fixed=_i_stab(bias="ignore"))),
    ("innvestigate.lrp.alpha_1_beta_0", f"{_I_RULES} LRPAlpha1Beta0: z⁺ on every Dense/Conv layer with the whole "
     "bias in its denominator.", (), dict(everywhere="z_plus", fixed=_i_stab(bias="include"))),
    ("innvestigate.lrp.alpha_1_beta_0_IB", f"{_I_RULES} LRPAlpha1Beta0IgnoreBias: z⁺ on every Dense/Conv layer, "
     "biases ignored.", (), dict(everywhere="z_plus", fixed=_i_stab(bias="ignore"))),
    ("innvestigate.lrp.alpha_2_beta_1", f"{_I_RULES} LRPAlpha2Beta1: αβ (α=2, β=1) on every Dense/Conv layer, the "
     "whole bias in both denominators.", (),
     dict(everywhere="alpha_beta", conserves=False, fixed=_i_stab(alpha=2.0, beta=1.0, bias="include"))),
    ("innvestigate.lrp.alpha_2_beta_1_IB", f"{_I_RULES} LRPAlpha2Beta1IgnoreBias: αβ (α=2, β=1) on every "
     "Dense/Conv layer, biases ignored.", (),
     dict(everywhere="alpha_beta", conserves=False, fixed=_i_stab(alpha=2.0, beta=1.0, bias="ignore"))),
    *[(f"innvestigate.lrp.sequential_preset_{ab}{flat}",
       f"{_I_RULES} LRPSequentialPreset{ab.upper()}{'Flat' if flat else ''}: ε on Dense layers, "
       f"{'z⁺ (alpha_1_beta_0)' if ab == 'a' else 'αβ (α=2, β=1)'} on convolutions, the whole bias in every "
       f"denominator{'; flat on the first layer' if flat else ''}.",
       (Param("epsilon", float, 0.1, "ε of the Dense layers (iNNvestigate's default 0.1)", low=0),),
       dict(dense="epsilon", conv="z_plus" if ab == "a" else "alpha_beta", first="flat" if flat else None,
            conserves=False, fixed=_i_stab(alpha=2.0, beta=1.0, bias="include")))
      for ab in ("a", "b") for flat in ("", "_flat")],
]


def _zennit(name, rules, what, epsilon=True):
    stab = Param("stabilizer", float, 1e-6, "stabiliser of every rule but ε, and of pooling and Add (Zennit's "
                 "`stabilizer`, default 1e-6)", low=0)
    bias = Param("bias", str, "split", "split (Zennit's parameter modifiers: b⁺ in D⁺, b⁻ in D⁻; the ε rule keeps the "
                 "whole b) or ignore (zero_params='bias')", choices=("split", "ignore"))
    return (f"zennit.{name}", f"Zennit 1.0.0 composite {name}, BatchNorm merged (SequentialMergeBatchNorm): {what}.",
            ((_EPS,) if epsilon else ()) + (stab, bias), dict(rules, conserves="alpha_beta" not in rules.values()))


COMPAT += [
    _zennit("EpsilonPlus", dict(dense="epsilon", conv="z_plus"), "ε on Dense layers, z⁺ on convolutions"),
    _zennit("EpsilonPlusFlat", dict(dense="epsilon", conv="z_plus", first="flat"),
            "flat on the first linear layer, ε on Dense layers, z⁺ on convolutions"),
    _zennit("EpsilonAlpha2Beta1", dict(dense="epsilon", conv="alpha_beta"),
            "ε on Dense layers, αβ (α=2, β=1) on convolutions"),
    _zennit("EpsilonAlpha2Beta1Flat", dict(dense="epsilon", conv="alpha_beta", first="flat"),
            "flat on the first linear layer, ε on Dense layers, αβ (α=2, β=1) on convolutions"),
    _zennit("ExcitationBackprop", dict(everywhere="z_plus"), "z⁺ on every linear layer", epsilon=False),
]


def compat_methods() -> list[RelevanceMethod]:
    """LRP methods named after the reference toolboxes' analyzers and composites (:data:`COMPAT`)."""
    return [_lrp(name, description, params, **attrs) for name, description, params, attrs in COMPAT]
