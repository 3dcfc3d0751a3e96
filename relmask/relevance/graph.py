"""Walking a Keras 3 model layer by layer, so that relevance methods can change what each layer does.

:func:`run_graph` executes a Sequential or Functional model (nested models included) node by node and hands
every layer call to a *handler*; the plain handler reproduces the model but stops at the pre-activation logit
(final softmax/sigmoid stripped). LRP (:mod:`relmask.relevance.lrp`) and Grad-CAM use other handlers.

Also here: the linear pieces of the supported layers (kernel, bias, and the op that applies them), and the
elementwise affine layers. Canonizers (:class:`relmask.relevance.rules.Canonizer`) fold a layer into the linear
layer before it: :func:`run_graph` finds where they apply and tells the handler through :class:`Ctx`.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
from keras import layers as L
from keras import ops

from relmask.errors import UnsupportedLayerError

# -- layer families ------------------------------------------------------------------------------------------
LINEAR = (L.Dense, L.Conv1D, L.Conv2D, L.DepthwiseConv1D, L.DepthwiseConv2D, L.SeparableConv1D,
          L.SeparableConv2D)
AVG_POOL = (L.AveragePooling1D, L.AveragePooling2D, L.GlobalAveragePooling1D, L.GlobalAveragePooling2D)
#: parameter-free linear resampling (LRP: the ε rule, like average pooling)
RESAMPLE = (L.Resizing, L.UpSampling1D, L.UpSampling2D)
#: relevance flows through these by their ordinary gradient (reshuffling, winner-take-all, identity)
TRANSPARENT = (L.InputLayer, L.Flatten, L.Reshape, L.Permute, L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D,
               L.GaussianNoise, L.GaussianDropout, L.ZeroPadding1D, L.ZeroPadding2D, L.Cropping1D, L.Cropping2D,
               L.MaxPooling1D, L.MaxPooling2D, L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.Concatenate,
               L.Identity, L.ActivityRegularization)
AFFINE = (L.BatchNormalization, L.Rescaling, L.Normalization)
ACTIVATION = (L.ReLU, L.LeakyReLU, L.ELU, L.Activation, L.Softmax)
MERGE_ADD = (L.Add,)

SUPPORTED_LRP = LINEAR + AVG_POOL + RESAMPLE + TRANSPARENT + AFFINE + ACTIVATION + MERGE_ADD


def supported_layer_names() -> str:
    return ", ".join(sorted({c.__name__ for c in SUPPORTED_LRP} | {"Sequential", "Functional"}))


def is_graph_model(layer) -> bool:
    return isinstance(layer, keras.Sequential) or (isinstance(layer, keras.Model)
                                                   and hasattr(layer, "_nodes_by_depth"))


def final_activations() -> tuple:
    return (keras.activations.softmax, keras.activations.sigmoid)


#: names of the squashing functions stripped from the output (TensorFlow's carry a ``_v2`` suffix)
FINAL_ACTIVATION_NAMES = ("softmax", "log_softmax", "sigmoid", "log_sigmoid")
#: keras.ops functions applied to a functional model's tensors become Operation nodes of these classes
_FINAL_OP_CLASSES = ("Softmax", "LogSoftmax", "Sigmoid", "LogSigmoid")


def is_final_activation(fn) -> bool:
    """softmax, log_softmax, sigmoid or log_sigmoid, from Keras, keras.ops, tf.nn/tf.math or jax.nn.

    Recognised by identity with Keras' own and otherwise by the function's name, so
    ``Dense(activation=tf.nn.softmax)`` is stripped like ``activation="softmax"``; anything else is kept.
    """
    if fn in final_activations():
        return True
    fn = getattr(fn, "__wrapped__", fn)
    name = str(getattr(fn, "__name__", ""))
    return name.removesuffix("_v2") in FINAL_ACTIVATION_NAMES


def _is_softmax(fn) -> bool:
    return is_final_activation(fn) and "softmax" in str(getattr(getattr(fn, "__wrapped__", fn), "__name__", ""))


def is_final_op(layer) -> bool:
    """A keras.ops softmax/sigmoid node of a functional graph (an Operation, not a Layer)."""
    return (not isinstance(layer, keras.layers.Layer) and type(layer).__name__ in _FINAL_OP_CLASSES
            and type(layer).__module__.startswith("keras."))


# -- graph execution -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ctx:
    """What a handler needs to know about one layer call besides the layer itself."""

    #: this call produces the model's output (its softmax/sigmoid is stripped)
    is_output: bool = False
    #: (canonizer, layer) where a canonizer folds that layer into this linear layer's last linear map
    merge: tuple | None = None
    #: a canonizer folded this layer into the linear layer before it: pass its input through
    absorbed: bool = False
    #: the first linear layer met on the way from the input (LRP's first-layer rules apply here)
    first_linear: bool = False


Handler = Callable[[object, tuple, dict, Ctx], object]


def graph_nodes(model):
    """The nodes of a functional graph in execution order."""
    by_depth = model._nodes_by_depth
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            if node.operation is not None and not node.is_input:
                yield node


def functional_graph(model):
    """The functional graph of ``model`` (a built Sequential's inner one), or None for an unbuilt Sequential."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    return model


@dataclass
class _Merges:
    """Where a tuple of canonizers applies in one graph."""

    into: dict        # id(linear node) -> (canonizer, the layer folded into it)
    absorbed: set     # id(node) of each folded layer


class _Plan:
    """Per-model analysis: the nodes in order, who produces and who reads each tensor, and, per tuple of
    canonizers, the layers they fold into their producer."""

    def __init__(self, graph):
        nodes = list(graph_nodes(graph))
        self.consumers: dict[int, int] = {}
        self.producer: dict[int, Any] = {}  # id(tensor) -> the Keras node that outputs it
        for node in nodes:
            for t in node.input_tensors:
                self.consumers[id(t)] = self.consumers.get(id(t), 0) + 1
            for t in node.outputs:
                self.producer[id(t)] = node
        for t in graph.outputs:
            self.consumers[id(t)] = self.consumers.get(id(t), 0) + 1
        self.nodes = nodes
        self.output_ids = {id(t) for t in graph.outputs}
        self._merges: dict[tuple, _Merges] = {}

    def merges(self, canonizers: tuple) -> _Merges:
        if canonizers not in self._merges:
            self._merges[canonizers] = self._find_merges(canonizers)
        return self._merges[canonizers]

    def _find_merges(self, canonizers: tuple) -> _Merges:
        merges = _Merges({}, set())
        for node in self.nodes:
            if len(node.input_tensors) != 1:
                continue
            t = node.input_tensors[0]
            canonizer = next((c for c in canonizers if c.absorbs(node.operation, tuple(t.shape))), None)
            prod = self.producer.get(id(t))
            if (canonizer is None or prod is None or not isinstance(prod.operation, LINEAR)
                    or self.consumers.get(id(t)) != 1 or prod.operation.activation is not keras.activations.linear
                    or id(prod) in merges.into):
                continue
            merges.into[id(prod)] = (canonizer, node.operation)
            merges.absorbed.add(id(node))
        return merges


#: each walked graph's plan, keyed weakly: a model's plan goes when the model goes (a plan holds the graph's
#: nodes and layers, never the graph itself, so it does not keep its own key alive)
_plans: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plan(graph) -> _Plan:
    plan = _plans.get(graph)
    if plan is None:
        plan = _plans[graph] = _Plan(graph)
    return plan


class _State:
    def __init__(self):
        self.seen_linear = False


def run_graph(model, x, handler: Handler, canonizers: tuple = (), _is_output: bool = True,
              _state: _State | None = None):
    """Run ``model`` on ``x`` calling ``handler(layer, args, kwargs, ctx)`` for every layer call.

    ``canonizers`` (:class:`relmask.relevance.rules.Canonizer` objects) say which layers fold into the linear
    layer before them (``ctx.merge`` on the linear layer, ``ctx.absorbed`` on the folded one); the handler applies
    the fold.
    """
    state = _state or _State()
    graph = functional_graph(model)
    if graph is None:  # a Sequential that was never built on a known input shape: plain layer order
        if not isinstance(model, keras.Sequential):
            raise UnsupportedLayerError(f"model {model.name!r} ({type(model).__name__}) is a subclassed model; "
                                        "relevance methods that walk the graph need a Sequential or Functional "
                                        "model")
        layers = list(model.layers)
        for i, layer in enumerate(layers):
            x = _call(layer, (x,), {}, Ctx(is_output=_is_output and i == len(layers) - 1), handler, canonizers,
                      state)
        return x
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedLayerError(f"model {model.name!r} has {len(graph.inputs)} inputs and "
                                    f"{len(graph.outputs)} outputs; relmask explains single-input, "
                                    "single-output models")
    plan = _plan(graph)
    merges = plan.merges(tuple(canonizers))
    values = {id(graph.inputs[0]): x}
    for node in plan.nodes:
        if any(id(t) not in values for t in node.input_tensors):
            continue
        args, kwargs = node.arguments.fill_in(values)
        ctx = Ctx(is_output=_is_output and any(id(t) in plan.output_ids for t in node.outputs),
                  merge=merges.into.get(id(node)), absorbed=id(node) in merges.absorbed)
        out = _call(node.operation, args, kwargs, ctx, handler, canonizers, state)
        outs = out if isinstance(out, (list, tuple)) else [out]
        for t, v in zip(node.outputs, outs, strict=False):  # as Keras pairs a node's outputs with its values
            values[id(t)] = v
    return values[id(graph.outputs[0])]


def _call(layer, args, kwargs, ctx: Ctx, handler: Handler, canonizers: tuple, state: _State):
    if is_graph_model(layer):
        return run_graph(layer, args[0], handler, canonizers, _is_output=ctx.is_output, _state=state)
    if isinstance(layer, LINEAR) and not state.seen_linear:
        state.seen_linear = True
        ctx = Ctx(ctx.is_output, ctx.merge, ctx.absorbed, first_linear=True)
    return handler(layer, args, kwargs, ctx)


# -- linear pieces -------------------------------------------------------------------------------------------
@dataclass
class Linear:
    """One linear map ``op(a, kernel) + bias`` (bias broadcast over the last axis, may be None)."""

    op: Callable
    kernel: Any  # a backend tensor
    bias: Any = None

    def __call__(self, a, kernel=None, bias=None, use_bias: bool = True):
        z = self.op(a, self.kernel if kernel is None else kernel)
        b = self.bias if bias is None else bias
        if use_bias and b is not None:
            # keras.ops.add, not ``+``: on TensorFlow it turns a per-channel vector into BiasAdd, which Grappler
            # fuses into the convolution's or matmul's kernel (as in the model's own layers); ``+`` is a separate
            # broadcast AddV2 over the whole output, one more pass over the largest tensors (αβ: ~15 % of its time)
            z = ops.add(z, b)
        return z


def _channels_last(layer):
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise UnsupportedLayerError(f"layer {layer.name!r} ({type(layer).__name__}) uses data_format="
                                    f"{layer.data_format!r}; relmask's layer-wise methods need channels_last")


def _conv_op(layer):
    padding = layer.padding
    pad_left = 0
    if padding == "causal":
        pad_left = layer.dilation_rate[0] * (layer.kernel_size[0] - 1)
        padding = "valid"

    def op(a, kernel):
        if pad_left:
            a = ops.pad(a, [[0, 0], [pad_left, 0], [0, 0]])
        return ops.conv(a, kernel, strides=tuple(layer.strides), padding=padding,
                        dilation_rate=layer.dilation_rate, data_format="channels_last")

    return op


def _depthwise_op(layer):
    def op(a, kernel):
        return ops.depthwise_conv(a, kernel, strides=tuple(layer.strides), padding=layer.padding,
                                  dilation_rate=layer.dilation_rate, data_format="channels_last")

    return op


def linear_parts(layer) -> list[Linear]:
    """The linear maps a layer applies in order (two for separable convolutions)."""
    _channels_last(layer)
    if isinstance(layer, L.Dense):
        parts = [Linear(lambda a, k: ops.matmul(a, k), layer.kernel, layer.bias)]
    elif isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        pointwise = _conv_op_pointwise(layer)
        parts = [Linear(_depthwise_op(layer), layer.depthwise_kernel, None),
                 Linear(pointwise, layer.pointwise_kernel, layer.bias)]
    elif isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        parts = [Linear(_depthwise_op(layer), layer.kernel, layer.bias)]
    elif isinstance(layer, (L.Conv1D, L.Conv2D)):
        if getattr(layer, "groups", 1) != 1:
            raise UnsupportedLayerError(f"layer {layer.name!r} ({type(layer).__name__}) uses groups="
                                        f"{layer.groups}; grouped convolutions are not supported")
        parts = [Linear(_conv_op(layer), layer.kernel, layer.bias)]
    else:  # pragma: no cover - guarded by callers
        raise UnsupportedLayerError(f"layer {layer.name!r} ({type(layer).__name__}) is not a linear layer")
    return [Linear(p.op, ops.convert_to_tensor(p.kernel), None if p.bias is None else ops.convert_to_tensor(p.bias))
            for p in parts]


def _conv_op_pointwise(layer):
    def op(a, kernel):
        return ops.conv(a, kernel, strides=1, padding="valid", data_format="channels_last")

    return op


def affine_of(layer):
    """(scale, shift) of an elementwise affine layer over its last axis (BatchNormalization in inference)."""
    if isinstance(layer, L.BatchNormalization):
        var = ops.convert_to_tensor(layer.moving_variance)
        mean = ops.convert_to_tensor(layer.moving_mean)
        scale = ops.rsqrt(var + layer.epsilon)
        if layer.gamma is not None:
            scale = scale * ops.convert_to_tensor(layer.gamma)
        shift = -mean * scale
        if layer.beta is not None:
            shift = shift + ops.convert_to_tensor(layer.beta)
        return scale, shift
    if isinstance(layer, L.Rescaling):
        return (ops.convert_to_tensor(layer.scale, "float32"), ops.convert_to_tensor(layer.offset, "float32"))
    if isinstance(layer, L.Normalization):
        if layer.invert:
            raise UnsupportedLayerError(f"layer {layer.name!r} (Normalization) with invert=True is not supported")
        scale = 1.0 / ops.maximum(ops.sqrt(ops.convert_to_tensor(layer.variance)), keras.backend.epsilon())
        return scale, -ops.convert_to_tensor(layer.mean) * scale
    raise UnsupportedLayerError(f"layer {layer.name!r} ({type(layer).__name__}) is not an affine layer")


def layer_activation(layer):
    """The elementwise function a layer applies after its linear part (or is), as a callable."""
    if isinstance(layer, L.Softmax):
        return keras.activations.softmax
    if is_final_op(layer):
        return keras.activations.sigmoid if "Sigmoid" in type(layer).__name__ else keras.activations.softmax
    if isinstance(layer, L.Lambda):
        return layer.function
    if isinstance(layer, (L.ReLU, L.LeakyReLU, L.ELU)):
        return lambda z: layer(z)
    return getattr(layer, "activation", None) or keras.activations.linear


def is_relu_like(layer, fn) -> bool:
    """ReLU-family activations (relevance masked where the pre-activation is not positive)."""
    if isinstance(layer, L.ReLU):
        return layer.negative_slope == 0 and layer.threshold == 0
    return fn in (keras.activations.relu, keras.activations.relu6)


# -- the plain handler: the model itself, up to the logit ----------------------------------------------------
def logit_handler(taps: dict | None = None, perturb: dict | None = None) -> Handler:
    """Handler computing the model's pre-activation logit.

    ``taps``: a dict layer-name -> None, filled with that layer's output; ``perturb``: layer-name -> tensor added
    to that layer's output (Grad-CAM differentiates with respect to it).
    """

    def handler(layer, args, kwargs, ctx: Ctx):
        if ctx.is_output:
            out = _pre_activation(layer, args, kwargs)
        else:
            out = layer(*args, **kwargs)
        if perturb is not None and layer.name in perturb:
            out = out + perturb[layer.name]
        if taps is not None and layer.name in taps:
            taps[layer.name] = out
        return out

    return handler


def _pre_activation(layer, args, kwargs):
    fn = layer_activation(layer)
    if not is_final_activation(fn):
        return layer(*args, **kwargs)
    if isinstance(layer, (L.Activation, L.Softmax, L.Lambda)) or is_final_op(layer):
        return args[0]
    if isinstance(layer, LINEAR):
        z = args[0]
        for part in linear_parts(layer):
            z = part(z)
        return z
    raise UnsupportedLayerError(f"cannot remove the final {fn.__name__} of layer {layer.name!r} "
                                f"({type(layer).__name__}) to explain the logit; end the model with a Dense/Conv "
                                "layer or a separate Activation layer")


def logits(model, x):
    """The model's pre-softmax/sigmoid output for ``x`` (backend tensor)."""
    return run_graph(model, x, logit_handler())


def _operations(model) -> list:
    """Every layer and keras.ops node in execution order, nested models flattened."""
    graph = functional_graph(model)
    ops_ = [n.operation for n in _plan(graph).nodes] if graph is not None else list(model.layers)
    out = []
    for op in ops_:
        out.extend(_operations(op) if is_graph_model(op) else [op])
    return out


def probability_output(model, x) -> str | None:
    """Why the output :func:`logits` computes for ``x`` still is a (log-)probability, or None when it is not.

    Run eagerly on a few real samples: rows in [0, 1] summing to 1 are probabilities, rows whose exponentials
    sum to 1 are log-probabilities. That happens when a softmax is not the model's last operation (a Dropout,
    Reshape or Lambda after it) or is hidden in a function relmask cannot recognise. One output (sigmoid) cannot
    be told apart from a logit this way and passes.
    """
    import numpy as np

    z = np.asarray(ops.convert_to_numpy(logits(model, ops.convert_to_tensor(x))), dtype=np.float64)
    z = z.reshape(len(z), -1)
    if z.shape[1] < 2 or not np.isfinite(z).all():
        return None
    if (z >= 0).all() and (z <= 1).all() and np.allclose(z.sum(axis=1), 1.0, atol=1e-5):
        kind = "probabilities (each row lies in [0, 1] and sums to 1)"
    elif (z <= 0).all() and np.allclose(np.exp(z).sum(axis=1), 1.0, atol=1e-5):
        kind = "log-probabilities (each row's exponentials sum to 1)"
    else:
        return None
    layers_ = _operations(model)
    soft = [op for op in layers_ if _is_softmax(layer_activation(op))]
    last = layers_[-1] if layers_ else None
    where = (f"layer {soft[-1].name!r} ({type(soft[-1]).__name__}) applies a softmax and is followed by "
             f"{last.name!r} ({type(last).__name__})" if soft and last is not None and soft[-1] is not last else
             f"its last layer {last.name!r} ({type(last).__name__}) seems to compute a softmax relmask cannot "
             "recognise" if last is not None else "")
    return (f"model {model.name!r}: the output relmask explains is still {kind}: {where}. relmask explains the "
            "pre-softmax logit and removes a softmax only where it is the model's last operation; end the model "
            "with the softmax (Dense(..., activation='softmax'), a Softmax layer or keras.ops.softmax) or "
            "build it without one")


def find_layer(model, name: str):
    """A layer by name, searching nested models too."""
    for layer in model.layers:
        if layer.name == name:
            return layer
        if is_graph_model(layer):
            try:
                return find_layer(layer, name)
            except KeyError:
                pass
    raise KeyError(name)


def all_layers(model) -> list:
    """Every layer in order, nested models flattened."""
    out = []
    for layer in model.layers:
        if is_graph_model(layer):
            out.extend(all_layers(layer))
        else:
            out.append(layer)
    return out
