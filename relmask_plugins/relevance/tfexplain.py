"""tf-explain 0.3.1 as relevance methods: its internal functions, returning raw float32 arrays.

tf-explain's public ``explain()`` returns image grids (normalised, coloured). Here its internal static
methods are called directly and their raw output is returned, per target class (tf-explain takes one class
index per call). Differences to relmask's own methods are documented in docs/relevance.md.
TensorFlow backend only; Keras 3 Sequential models are wrapped as functional models sharing the layers
(tf-explain builds ``Model(model.inputs, [layer.output, model.output])``, which needs a functional graph).
"""
from __future__ import annotations

import weakref

import keras
import numpy as np

from relmask.errors import ParameterError
from relmask.relevance.graph import functional_graph, graph_nodes

from .gradcam import default_layer

_functional: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def functional(model):
    """A functional view (one input tensor, one output tensor) of ``model``, sharing its layers, as tf-explain
    needs it (see :class:`_GraphView`)."""
    if model not in _functional:
        _functional[model] = _GraphView(model)
    return _functional[model]


class _GraphView:
    """``keras.Model(model.inputs[0], model.outputs[0])`` whose ``get_layer(name).output`` is the layer's output
    *in this graph*.

    tf-explain's Grad-CAM differentiates with respect to ``model.get_layer(name).output``, and Keras'
    ``layer.output`` is the layer's *first* call: a Sequential built with ``add()`` re-calls its layers on every
    ``add``, so that tensor lies on a stale branch the model output does not depend on (gradient None).
    """

    def __init__(self, model):
        self.model = keras.Model(model.inputs[0], model.outputs[0])
        graph = functional_graph(model)
        self._outputs = {node.operation.name: node.outputs[0] for node in graph_nodes(graph)}

    def get_layer(self, name=None, index=None):
        layer = self.model.get_layer(name, index)
        return _LayerView(layer, self._outputs.get(layer.name, None))

    def __call__(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


class _LayerView:
    """A layer whose ``output`` is the tensor of one given call."""

    def __init__(self, layer, output):
        self._layer, self.output = layer, layer.output if output is None else output

    def __getattr__(self, name):
        return getattr(self._layer, name)


def _per_target(x, targets, fn) -> np.ndarray:
    """tf-explain explains one class per call: group the batch by target."""
    out = np.empty(x.shape, np.float32)
    for t in np.unique(targets):
        idx = np.flatnonzero(targets == t)
        out[idx] = np.asarray(fn(x[idx], int(t)), np.float32)
    return out


def _to_input(maps, x):
    """(B, h, w) maps resized like tf-explain's heatmap_display (cv2.resize) and repeated over channels."""
    import cv2

    h, w = x.shape[1:3]
    up = np.stack([cv2.resize(np.asarray(m, np.float32), (w, h)) for m in maps])
    return np.broadcast_to(up[..., None], x.shape)


def _need_images(x, name):
    if x.ndim != 4:
        raise ParameterError(f"{name}: tf-explain works on images (N, H, W, C); got input of shape {x.shape}")


def gradcam(model, x, targets, layer_name=None, use_guided_grads=True, resize=True):
    from tf_explain.core.grad_cam import GradCAM

    _need_images(x, "tfexplain.gradcam")
    fmodel = functional(model)
    name = layer_name or default_layer(model, x.ndim)

    def one(xs, t):
        outputs, grads = GradCAM.get_gradients_and_filters(fmodel, xs, name, t, use_guided_grads)
        cams = [c.numpy() for c in GradCAM.generate_ponderated_output(outputs, grads)]
        return _to_input(cams, xs) if resize else np.stack(cams)

    if not resize:
        return np.concatenate([one(x[i:i + 1], int(t)) for i, t in enumerate(targets)])
    return _per_target(x, targets, one)


def occlusion(model, x, targets, patch_size=8, batch_size=64):
    from tf_explain.core.occlusion_sensitivity import OcclusionSensitivity

    _need_images(x, "tfexplain.occlusion")
    occ = OcclusionSensitivity(batch_size=batch_size)
    quiet = _QuietPredict(model)

    def one(xs, t):
        maps = [_fix_size(occ.get_sensitivity_map(quiet, img, t, patch_size), img) for img in xs]
        return np.broadcast_to(np.stack(maps)[..., None], xs.shape)

    return _per_target(x, targets, one)


def _fix_size(sensitivity, image):
    """tf-explain resizes its map with ``cv2.resize(map, image.shape[:2])``, but cv2 takes (width, height): a
    non-square image gets a (W, H) map (same orientation, axes stretched wrongly). Resize it to (H, W)."""
    import cv2

    h, w = image.shape[:2]
    return sensitivity if sensitivity.shape == (h, w) else cv2.resize(sensitivity, (w, h))


class _QuietPredict:
    """The model as tf-explain's occlusion uses it (``predict``), without a progress bar per image."""

    def __init__(self, model):
        self.model = model

    def predict(self, x, batch_size=None):
        return self.model.predict(x, batch_size=batch_size, verbose=0)


def vanilla_gradients(model, x, targets):
    from tf_explain.core.vanilla_gradients import VanillaGradients

    score_model = VanillaGradients().get_score_model(functional(model))
    return _per_target(x, targets, lambda xs, t: VanillaGradients.compute_gradients(xs, score_model, t).numpy())


def integrated_gradients(model, x, targets, n_steps=10):
    from tf_explain.core.integrated_gradients import IntegratedGradients as IG

    fmodel = functional(model)

    def one(xs, t):
        return IG.get_integrated_gradients(IG.generate_interpolations(xs, n_steps), fmodel, t, n_steps).numpy()

    return _per_target(x, targets, one)


def smoothgrad(model, x, targets, num_samples=5, noise=1.0, seed=0):
    from tf_explain.core.smoothgrad import SmoothGrad as SG

    fmodel = functional(model)
    state = np.random.get_state()  # tf-explain draws from NumPy's global generator: seed it, then restore it
    np.random.seed(seed)
    try:
        def one(xs, t):
            noisy = SG.generate_noisy_images(xs, num_samples, noise)
            return SG.get_averaged_gradients(noisy, fmodel, t, num_samples).numpy()

        return _per_target(x, targets, one)
    finally:
        np.random.set_state(state)
