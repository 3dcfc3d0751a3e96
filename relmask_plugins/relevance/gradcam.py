"""Grad-CAM (raw gradients, not guided): ReLU(Σ_k mean(∂logit/∂A_k) A_k), upsampled to the input."""
from __future__ import annotations

import keras
from keras import ops

from relmask.errors import ParameterError
from relmask.relevance import _autodiff
from relmask.relevance.engine import compiled, target_logit
from relmask.relevance.graph import all_layers, find_layer, logit_handler, run_graph


def default_layer(model, input_rank: int) -> str:
    """The last layer whose output keeps the input's layout (B, *spatial, channels): the last conv-like map."""
    for layer in reversed(all_layers(model)):
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == input_rank and not isinstance(layer, keras.layers.InputLayer):
            return layer.name
    raise ParameterError(f"gradcam: model {model.name!r} has no layer with a spatial output of rank {input_rank}; "
                         "pass layer=<name>")


def upsample(cam, size):
    """Bilinear (half-pixel centres) resize of (B, *spatial) maps to ``size`` (1 or 2 spatial axes)."""
    if len(size) == 1:
        out = ops.image.resize(cam[:, None, :, None], (1, size[0]), interpolation="bilinear")
        return out[:, 0, :, 0]
    return ops.image.resize(cam[..., None], tuple(size), interpolation="bilinear")[..., 0]


def gradcam_maps(model, layer_name: str, x, targets, relu: bool = True, resize: bool = True):
    """Traceable Grad-CAM maps of shape (B, *spatial of x) (or the layer's spatial shape if not ``resize``)."""
    try:
        layer = find_layer(model, layer_name)
    except KeyError:
        raise ParameterError(f"gradcam: model {model.name!r} has no layer {layer_name!r}; layers: "
                             f"{', '.join(lay.name for lay in all_layers(model))}") from None
    shape = tuple(layer.output.shape[1:])
    if len(shape) != len(x.shape) - 1:
        raise ParameterError(f"gradcam: layer {layer_name!r} outputs shape {shape}, which has not the spatial "
                             f"layout of the input {tuple(x.shape[1:])}")

    def f(delta, x, targets):
        taps = {layer_name: None}
        z = run_graph(model, x, logit_handler(taps=taps, perturb={layer_name: delta}))
        return target_logit(z, targets), taps[layer_name]

    delta = ops.zeros((ops.shape(x)[0], *shape), dtype=x.dtype)
    grads, acts = _autodiff.grad(f, has_aux=True)(delta, x, targets)
    spatial = tuple(range(1, len(shape)))
    weights = ops.mean(grads, axis=spatial, keepdims=True)
    cam = ops.sum(weights * acts, axis=-1)
    if relu:
        cam = ops.relu(cam)
    if resize:
        cam = upsample(cam, tuple(x.shape[1:-1]))
    return cam


def gradcam(model, x, targets, layer=None):
    name = layer or default_layer(model, x.ndim)

    def build():
        def fn(x, targets):
            cam = gradcam_maps(model, name, x, targets)
            return ops.broadcast_to(cam[..., None], ops.shape(x))

        return fn

    return compiled(model, ("gradcam", name), build)(x, targets)
