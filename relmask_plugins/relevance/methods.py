"""The built-in relevance methods but LRP as registry objects: names, parameters and flags (LRP: :mod:`.lrp`).

This module imports no Keras (plugins are listed without loading a backend); each ``attribute`` imports its
implementation module on first use.
"""
from __future__ import annotations

from relmask.plugin_system.components import Param, RelevanceMethod

from .checks import check_layer, check_windows, spatial_axes


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
