"""The built-in relevance methods as registry objects: names, parameters and flags.

This module imports no Keras (plugins are listed without loading a backend); each ``attribute`` imports its
implementation module on first use.
"""
from __future__ import annotations

from ..components import Param, RelevanceMethod
from ..errors import ParameterError


def spatial_axes(input_shape) -> tuple[int, ...]:
    """The axes windows slide over, of a sample shape: all but the channels (a flat (F,) sample slides over F)."""
    shape = tuple(input_shape)
    return shape[:-1] if len(shape) >= 2 else shape


def check_windows(owner: str, spatial: tuple, window, stride, name: str = "window") -> tuple[tuple, tuple]:
    """``window`` and ``stride`` (an int, or one int per spatial axis; stride None = the window) as tuples that
    fit ``spatial``; a ParameterError naming the parameter otherwise. Shared by the check before any work
    (:meth:`Occlusion.check_params`) and the occlusion itself."""
    n = len(spatial)

    def as_tuple(v, what):
        t = (v,) * n if isinstance(v, int) and not isinstance(v, bool) else tuple(v)
        if len(t) != n or any(isinstance(i, bool) or not isinstance(i, int) or i < 1 for i in t):
            raise ParameterError(f"{owner}: parameter {what!r} must be a positive int or {n} positive ints "
                                 f"(one per spatial axis of the input {spatial}), got {v!r}")
        return t

    w = as_tuple(window, name)
    s = as_tuple(window if stride is None else stride, "stride")
    if any(a > b for a, b in zip(w, spatial)):
        raise ParameterError(f"{owner}: parameter {name!r} = {window!r}: the window {w} is larger than the input "
                             f"{spatial} (the sample's spatial axes)")
    return w, s


def check_layer(method: RelevanceMethod, param: str, layer: str | None, model) -> None:
    """A layer name given in ``param`` must name a layer of the explained ``model`` (a model, or a callable that
    builds it; not called when no layer is given). Nested models' layers count."""
    if layer is None or model is None:
        return
    model = model() if callable(model) and not hasattr(model, "layers") else model
    from .graph import all_layers, find_layer

    try:
        find_layer(model, layer)
    except KeyError:
        names = [lay.name for lay in all_layers(model)]
        raise ParameterError(f"{method.kind} {method.name!r}: parameter {param!r}: model {model.name!r} has no layer "
                             f"{layer!r}; its layers: {', '.join(names)}") from None


class BuiltinMethod(RelevanceMethod):
    """A relmask method: gets batches of at most ``batch_size`` samples and int32 targets (-1 = predicted)."""

    #: explain() may pass -1 targets (the method resolves them inside its compiled graph); the methods whose
    #: target must be fixed before they start (e.g. integrated gradients) set it back to False
    resolves_predicted = True


class Gradient(BuiltinMethod):
    name = "gradient"
    description = "Gradient of the target logit with respect to the input (saliency; one forward + one backward)."

    def attribute(self, model, x, targets):
        from .gradients import gradient

        return gradient(model, x, targets)


class GradientXInput(BuiltinMethod):
    name = "gradient_x_input"
    description = "Input times the gradient of the target logit (equals LRP-0 on ReLU networks)."

    def attribute(self, model, x, targets):
        from .gradients import gradient_x_input

        return gradient_x_input(model, x, targets)


class IntegratedGradients(BuiltinMethod):
    name = "integrated_gradients"
    description = ("Integrated gradients: midpoint Riemann sum of the target logit's gradient over `steps` "
                   "points from `baseline` to x, times x − baseline.")
    params = (Param("steps", int, 32, "number of interpolation points", low=1),
              Param("baseline", (str, float), "zero", "reference input: 'zero', 'mean' (per sample) or a number"))
    resolves_predicted = False  # the target is fixed at x, not re-chosen at every interpolation point

    def attribute(self, model, x, targets, steps=32, baseline="zero"):
        from .gradients import integrated_gradients

        return integrated_gradients(model, x, targets, steps=steps, baseline=baseline)


class SmoothGrad(BuiltinMethod):
    name = "smoothgrad"
    description = ("SmoothGrad: mean gradient of the target logit over `samples` noisy copies "
                   "(Gaussian noise, sd = noise_level × each sample's value range).")
    params = (Param("noise_level", float, 0.15, "noise sd as a fraction of each sample's max − min", low=0),
              Param("samples", int, 16, "number of noisy copies", low=1),
              Param("seed", int, 0, "noise seed (the noise depends on the seed and the sample, not on batching)"))
    resolves_predicted = False

    def attribute(self, model, x, targets, noise_level=0.15, samples=16, seed=0):
        from .gradients import smoothgrad

        return smoothgrad(model, x, targets, noise_level=noise_level, samples=samples, seed=seed)


class GradCAM(BuiltinMethod):
    name = "gradcam"
    description = ("Grad-CAM with raw gradients of the target logit: ReLU of the gradient-weighted sum of a "
                   "layer's feature maps, bilinearly upsampled to the input and repeated over its channels.")
    params = (Param("layer", str, None, "target layer name (default: the last layer with a spatial output)"),)

    def check_params(self, params, input_shape=None, model=None):
        check_layer(self, "layer", params.get("layer"), model)

    def attribute(self, model, x, targets, layer=None):
        from .gradcam import gradcam

        return gradcam(model, x, targets, layer=layer)


class Occlusion(BuiltinMethod):
    name = "occlusion"
    description = ("Occlusion: each value's relevance is the mean drop of the target score over the sliding "
                   "windows covering it, when the window is replaced by the baseline (all channels).")
    params = (Param("window", (int, tuple), 8, "window size: an int or one int per spatial axis", low=1,
                    items=int),
              Param("stride", (int, tuple), None, "window step (default: the window size)", low=1, items=int),
              Param("baseline", str, "zero", "what replaces the window", choices=("zero", "mean", "blur")),
              Param("score", str, "logit", "score whose drop is measured", choices=("logit", "probability")),
              Param("patch_batch", int, 256, "occluded inputs per forward pass (memory bound)", low=1))
    resolves_predicted = False

    def check_params(self, params, input_shape=None, model=None):
        if input_shape is not None:
            check_windows(f"{self.kind} {self.name!r}", spatial_axes(input_shape), params.get("window", 8),
                          params.get("stride"))

    def attribute(self, model, x, targets, **params):
        from .occlusion import occlusion

        return occlusion(model, x, targets, **params)


_EPS = Param("epsilon", float, 1e-6, "stabiliser ε added to denominators (larger: relevance absorbed, less noise; "
             "0: divide safely, zero denominators give no relevance)", low=0)
_ALPHA = Param("alpha", float, 2.0, "α of the αβ rule (α − β = 1)", low=1)
_BETA = Param("beta", float, 1.0, "β of the αβ rule", low=0)
_LOW = Param("low", float, 0.0, "zB rule: lowest value of the first linear layer's input (after any "
               "Rescaling/Normalization before it)", finite=True)
_HIGH = Param("high", float, 1.0, "zB rule: highest value of the first linear layer's input", finite=True)
#: bias conventions of the LRP rules (relmask.relevance.lrp: its docstring and docs/relevance.md)
LRP_BIASES = ("split", "include", "ignore")
_BIAS = Param("bias", str, None, "bias term of the ε/z⁺/αβ denominators: split (b⁺ in D⁺, b⁻ in D⁻; default of z⁺ "
              "and αβ, Zennit's), include (the whole b; default of ε, iNNvestigate's bias=True) or ignore (no b); "
              "default: each rule's own", choices=LRP_BIASES)
_STAB = Param("stabilizer", float, None, "stabiliser of every rule but ε, and of the ε messages of pooling, Add "
              "and unfolded affine layers (Zennit's `stabilizer`); default: epsilon", low=0)
_LRP_NUMBERS = (_EPS, _ALPHA, _BETA, _LOW, _HIGH, _BIAS, _STAB)


class LRP(BuiltinMethod):
    """LRP with one rule on every linear layer (``everywhere``) or on the first one (``first``; ε elsewhere)."""

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

    def attribute(self, model, x, targets, **params):
        from .lrp import composite, lrp

        rules = params.pop("rules", None)
        preset = params.pop("preset", self.preset)
        comp = composite(preset, rules, everywhere=self.everywhere, first=self.first, dense=self.dense,
                         conv=self.conv, **{**dict(self.fixed), **params})
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
              Param("rules", dict, None, "overrides {layer name or class name: rule name}"),
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


class TfExplain(BuiltinMethod):
    """A tf-explain 0.3.1 function returning raw arrays (TensorFlow backend only)."""

    backends = ("tensorflow",)
    resolves_predicted = False
    function: str = ""

    def check_params(self, params, input_shape=None, model=None):
        if "layer_name" in params:
            check_layer(self, "layer_name", params["layer_name"], model)
        if "patch_size" in params and input_shape is not None:
            check_windows(f"{self.kind} {self.name!r}", spatial_axes(input_shape), params["patch_size"], None,
                          name="patch_size")

    def attribute(self, model, x, targets, **params):
        from . import tfexplain

        return getattr(tfexplain, self.function)(model, x, targets, **params)


def _tfx(function, description, params=(), batch_invariant=True) -> TfExplain:
    m = TfExplain()
    m.batch_invariant = batch_invariant
    m.name, m.function, m.description, m.params = f"tfexplain.{function}", function, description, tuple(params)
    return m


def tfexplain_methods() -> list[RelevanceMethod]:
    return [
        _tfx("gradcam", "tf-explain Grad-CAM: gradient of the model *output* (softmax), guided by default, no "
             "ReLU; cv2-resized to the input.",
             (Param("layer_name", str, None, "target layer (default: the last layer with a spatial output)"),
              Param("use_guided_grads", bool, True, "tf-explain's default guided gradients"))),
        _tfx("occlusion", "tf-explain occlusion sensitivity: 1 − probability with a grey (127.5) patch, "
             "window = stride = patch_size, cv2-resized.",
             (Param("patch_size", int, 8, "patch size and stride", low=1),
              Param("batch_size", int, 64, "batch size of tf-explain's model.predict", low=1))),
        _tfx("vanilla_gradients", "tf-explain vanilla gradients (final activation stripped only if it is a "
             "separate layer)."),
        _tfx("integrated_gradients", "tf-explain integrated gradients: mean gradient of the output along the "
             "path from a zero image, *not* multiplied by the input.",
             (Param("n_steps", int, 10, "number of path points (endpoints included)", low=2),)),
        _tfx("smoothgrad", "tf-explain SmoothGrad: mean gradient of the cross-entropy loss (not the logit) over "
             "noisy copies (noise sd in input units).",
             (Param("num_samples", int, 5, "noisy copies", low=1), Param("noise", float, 1.0, "noise sd", low=0),
              Param("seed", int, 0, "seed of the noise")), batch_invariant=False),
    ]


def builtin_methods() -> list[RelevanceMethod]:
    return [Gradient(), GradientXInput(), IntegratedGradients(), SmoothGrad(), GradCAM(), Occlusion(), *lrp_methods(),
            *tfexplain_methods()]
