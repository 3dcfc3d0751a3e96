"""The built-in relevance methods as registry objects: names, parameters and flags.

This module imports no Keras (plugins are listed without loading a backend); each ``attribute`` imports its
implementation module on first use.
"""
from __future__ import annotations

from ..components import Param, RelevanceMethod


class BuiltinMethod(RelevanceMethod):
    """A relmask method: gets batches of at most ``batch_size`` samples and int32 targets (-1 = predicted)."""

    #: explain() may pass -1 targets (the method resolves them inside its compiled graph)
    resolves_predicted = True
    #: a sample's map does not depend on the other samples in its batch (checked by relmask.testing)
    batch_invariant = True


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
    params = (Param("steps", int, 32, "number of interpolation points"),
              Param("baseline", (str, float), "zero", "reference input: 'zero', 'mean' (per sample) or a number"))
    resolves_predicted = False  # the target is fixed at x, not re-chosen at every interpolation point

    def attribute(self, model, x, targets, steps=32, baseline="zero"):
        from .gradients import integrated_gradients

        return integrated_gradients(model, x, targets, steps=steps, baseline=baseline)


class SmoothGrad(BuiltinMethod):
    name = "smoothgrad"
    description = ("SmoothGrad: mean gradient of the target logit over `samples` noisy copies "
                   "(Gaussian noise, sd = noise_level × each sample's value range).")
    params = (Param("noise_level", float, 0.15, "noise sd as a fraction of each sample's max − min"),
              Param("samples", int, 16, "number of noisy copies"),
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

    def attribute(self, model, x, targets, layer=None):
        from .gradcam import gradcam

        return gradcam(model, x, targets, layer=layer)


class Occlusion(BuiltinMethod):
    name = "occlusion"
    description = ("Occlusion: each value's relevance is the mean drop of the target score over the sliding "
                   "windows covering it, when the window is replaced by the baseline (all channels).")
    params = (Param("window", (int, tuple), 8, "window size: an int or one int per spatial axis"),
              Param("stride", (int, tuple), None, "window step (default: the window size)"),
              Param("baseline", str, "zero", "what replaces the window", choices=("zero", "mean", "blur")),
              Param("score", str, "logit", "score whose drop is measured", choices=("logit", "probability")),
              Param("patch_batch", int, 256, "occluded inputs per forward pass (memory bound)"))
    resolves_predicted = False

    def attribute(self, model, x, targets, **params):
        from .occlusion import occlusion

        return occlusion(model, x, targets, **params)


_EPS = Param("epsilon", float, 1e-6, "stabiliser ε added to denominators (larger: relevance absorbed, less noise)")
_ALPHA = Param("alpha", float, 2.0, "α of the αβ rule (α − β = 1)")
_BETA = Param("beta", float, 1.0, "β of the αβ rule")
_LOW = Param("low", float, 0.0, "zB rule: lowest value of the first linear layer's input (after any "
               "Rescaling/Normalization before it)")
_HIGH = Param("high", float, 1.0, "zB rule: highest value of the first linear layer's input")


class LRP(BuiltinMethod):
    """LRP with one rule on every linear layer (``everywhere``) or on the first one (``first``; ε elsewhere)."""

    # the αβ rule does not conserve where a neuron has no negative (or no positive) contributions
    conserves = True
    everywhere: str | None = None
    first: str | None = None
    preset: str | None = None

    def attribute(self, model, x, targets, **params):
        from .lrp import composite, lrp

        rules = params.pop("rules", None)
        preset = params.pop("preset", self.preset)
        comp = composite(preset, rules, everywhere=self.everywhere, first=self.first, **params)
        return lrp(model, x, targets, comp)


def _lrp(name, description, params=(_EPS,), **kw) -> LRP:
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
        _lrp("lrp.alpha_beta", "LRP αβ on every linear layer (α − β = 1).", (_EPS, _ALPHA, _BETA),
             everywhere="alpha_beta", conserves=False),
        _lrp("lrp.flat", "LRP flat rule on the first linear layer, ε elsewhere.", first="flat"),
        _lrp("lrp.w_square", "LRP w² rule on the first linear layer, ε elsewhere.", first="w_square"),
        _lrp("lrp.zb", "LRP zB (bounded input) rule on the first linear layer, ε elsewhere.", (_EPS, _LOW, _HIGH),
             first="zb"),
        _lrp("lrp.composite", "LRP with a composite: a preset (dense/conv/first-layer rules) plus per-layer "
             "overrides `rules` {layer name or class name: rule}; " + rule_doc,
             (Param("preset", str, "epsilon_plus", "epsilon_plus | epsilon_plus_flat | epsilon_plus_zb | "
                    "epsilon_alpha2_beta1 | epsilon_alpha2_beta1_flat"),
              Param("rules", dict, None, "overrides {layer name or class name: rule name}"),
              _EPS, _ALPHA, _BETA, _LOW, _HIGH)),
        *[_lrp(f"lrp.{p}", f"LRP composite preset {p!r} (see lrp.composite).", (_EPS, _ALPHA, _BETA, _LOW, _HIGH),
               preset=p, conserves="alpha" not in p)
          for p in ("epsilon_plus", "epsilon_plus_flat", "epsilon_alpha2_beta1", "epsilon_alpha2_beta1_flat")],
    ]


class TfExplain(BuiltinMethod):
    """A tf-explain 0.3.1 function returning raw arrays (TensorFlow backend only)."""

    backends = ("tensorflow",)
    resolves_predicted = False
    function: str = ""

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
             (Param("patch_size", int, 8, "patch size and stride"),
              Param("batch_size", int, 64, "batch size of tf-explain's model.predict"))),
        _tfx("vanilla_gradients", "tf-explain vanilla gradients (final activation stripped only if it is a "
             "separate layer)."),
        _tfx("integrated_gradients", "tf-explain integrated gradients: mean gradient of the output along the "
             "path from a zero image, *not* multiplied by the input.",
             (Param("n_steps", int, 10, "number of path points (endpoints included)"),)),
        _tfx("smoothgrad", "tf-explain SmoothGrad: mean gradient of the cross-entropy loss (not the logit) over "
             "noisy copies (noise sd in input units).",
             (Param("num_samples", int, 5, "noisy copies"), Param("noise", float, 1.0, "noise sd"),
              Param("seed", int, 0, "seed of the noise")), batch_invariant=False),
    ]


def builtin_methods() -> list[RelevanceMethod]:
    return [Gradient(), GradientXInput(), IntegratedGradients(), SmoothGrad(), GradCAM(), Occlusion(), *lrp_methods(),
            *tfexplain_methods()]
