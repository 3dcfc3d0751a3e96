"""Checks of the built-in methods' parameters that need the input's shape or the model, shared by the method
declarations (before any work) and the implementations."""
from __future__ import annotations

from relmask.errors import ParameterError
from relmask.plugin_system.components import RelevanceMethod


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
    if any(a > b for a, b in zip(w, spatial, strict=True)):
        raise ParameterError(f"{owner}: parameter {name!r} = {window!r}: the window {w} is larger than the input "
                             f"{spatial} (the sample's spatial axes)")
    return w, s


def check_layer(method: RelevanceMethod, param: str, layer: str | None, model) -> None:
    """A layer name given in ``param`` must name a layer of the explained ``model`` (a model, or a callable that
    builds it; not called when no layer is given). Nested models' layers count."""
    if layer is None or model is None:
        return
    model = model() if callable(model) and not hasattr(model, "layers") else model
    from relmask.relevance.graph import all_layers, find_layer  # Keras: only when a layer is checked

    try:
        find_layer(model, layer)
    except KeyError:
        names = [lay.name for lay in all_layers(model)]
        raise ParameterError(f"{method.kind} {method.name!r}: parameter {param!r}: model {model.name!r} has no layer "
                             f"{layer!r}; its layers: {', '.join(names)}") from None
