"""Occlusion: relevance of a region = drop of the target score when the region is replaced by a baseline.

Every window position is one mask; occluded copies of *all* images in the batch under a chunk of masks go
through the model in one compiled forward pass (shape fixed, so it traces once). A value's relevance is the
mean drop over the windows that cover it.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers as L
from keras import ops

from ..errors import ParameterError
from .engine import compiled, logit_fn, select
from .graph import _functional_of, _nodes, logit_handler, logits, run_graph


def spatial_shape(x: np.ndarray) -> tuple[int, ...]:
    """Axes that windows slide over: all but batch and channels (a flat (N, F) input slides over F)."""
    return tuple(x.shape[1:-1]) if x.ndim >= 3 else tuple(x.shape[1:])


def _tuple(v, n: int, what: str) -> tuple[int, ...]:
    t = (v,) * n if isinstance(v, int) else tuple(v)
    if len(t) != n or any((not isinstance(i, int)) or i < 1 for i in t):
        raise ParameterError(f"occlusion: {what} must be a positive int or {n} positive ints, got {v!r}")
    return t


def window_corners(shape: tuple[int, ...], window, stride) -> tuple[list[tuple[int, ...]], tuple[int, ...]]:
    """(first index of every window position, window size per axis); the last position per axis touches the end."""
    window = _tuple(window, len(shape), "window")
    stride = _tuple(window if stride is None else stride, len(shape), "stride")
    if any(w > s for w, s in zip(window, shape)):
        raise ParameterError(f"occlusion: window {window} is larger than the input {shape}")
    starts = []
    for size, w, s in zip(shape, window, stride):
        st = list(range(0, size - w + 1, s))
        if st[-1] != size - w:
            st.append(size - w)
        starts.append(st)
    return list(itertools.product(*starts)), window


def window_masks(shape: tuple[int, ...], window, stride) -> np.ndarray:
    """(P, *shape) float32 masks, 1 inside each window position (:func:`window_corners`)."""
    corners, window = window_corners(shape, window, stride)
    masks = np.zeros((len(corners),) + shape, np.float32)
    for i, corner in enumerate(corners):
        masks[(i,) + tuple(slice(c, c + w) for c, w in zip(corner, window))] = 1.0
    return masks


def baseline_values(x: np.ndarray, baseline: str, window) -> np.ndarray:
    if baseline == "zero":
        return np.zeros_like(x)
    if baseline == "mean":
        return np.broadcast_to(x.reshape(len(x), -1).mean(1).reshape((-1,) + (1,) * (x.ndim - 1)), x.shape)
    if baseline == "blur":
        from scipy.ndimage import gaussian_filter

        n_sp = len(spatial_shape(x))
        sigma = [0.0] + [w / 2.0 for w in _tuple(window, n_sp, "window")] + [0.0] * (x.ndim - 1 - n_sp)
        return gaussian_filter(x, sigma=sigma, mode="nearest").astype(np.float32)
    raise ParameterError(f"occlusion: baseline must be zero, mean or blur, got {baseline!r}")


def _score(z, score: str):
    if score == "logit":
        return z
    return ops.softmax(z, axis=-1) if z.shape[-1] > 1 else ops.sigmoid(z)


def occlusion(model, x, targets, window=8, stride=None, baseline="zero", score="logit", patch_batch=256):
    if score not in ("logit", "probability"):
        raise ParameterError(f"occlusion: score must be 'logit' or 'probability', got {score!r}")
    shape = spatial_shape(x)
    corners, window = window_corners(shape, window, stride)
    masks = window_masks(shape, window, stride)
    base = baseline_values(x, baseline, window).astype(np.float32)
    b, p = len(x), len(masks)
    chunk = max(1, min(p, patch_batch // b))
    chain = _chain(model, x.shape[1:])
    if chain is not None:
        crops = _Crops(chain[0], corners, window, chunk)
        run = compiled(model, ("occlusion.incremental", score, x.shape[1:]),
                       lambda: _incremental_fn(model, chain, score))
        feeds = [crops.feed(masks, start) for start in range(0, p, chunk)]
    else:
        run = compiled(model, ("occlusion", score), lambda: _full_fn(model, x, shape, score))
        feeds = [(_pad_chunk(masks[start:start + chunk], chunk),) for start in range(0, p, chunk)]
    z0 = logit_fn(model)(x)
    s0 = np.asarray(_np_score(z0, score))[np.arange(b), targets]
    drops = np.empty((b, p), np.float32)
    for start, feed in zip(range(0, p, chunk), feeds):
        k = min(chunk, p - start)
        drops[:, start:start + k] = s0[:, None] - run(x, base, *feed, targets)[:, :k]
    flat = masks.reshape(p, -1)
    rel = (drops @ flat) / flat.sum(0)
    rel = rel.reshape((b,) + shape)
    return np.broadcast_to(rel.reshape(rel.shape + (1,) * (x.ndim - 1 - len(shape))), x.shape).astype(np.float32)


def _pad_chunk(a: np.ndarray, chunk: int) -> np.ndarray:
    """``a`` padded with zeros to ``chunk`` rows: every call has the same shapes (one trace)."""
    return a if len(a) == chunk else np.concatenate([a, np.zeros((chunk - len(a),) + a.shape[1:], a.dtype)])


def _target_scores(z, targets, n_masks, score):
    s = ops.sum(select(z, ops.repeat(targets, n_masks)) * _score(z, score), axis=-1)
    return ops.reshape(s, (-1, n_masks))


def _full_fn(model, x, shape, score):
    """Whole occluded inputs through the whole model (any architecture)."""
    channel_axes = (1,) * (x.ndim - 1 - len(shape))  # masks cover every channel

    def fn(x, base, m, targets):
        m = ops.reshape(m, tuple(m.shape) + channel_axes)
        xo = x[:, None] * (1.0 - m[None]) + base[:, None] * m[None]
        z = logits(model, ops.reshape(xo, (-1,) + tuple(x.shape[1:])))
        return _target_scores(z, targets, m.shape[0], score)

    return fn


def _np_score(z: np.ndarray, score: str) -> np.ndarray:
    if score == "logit":
        return z
    if z.shape[-1] == 1:
        return 1.0 / (1.0 + np.exp(-z))
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# -- incremental occlusion: recompute only what a window changes --------------------------------------------
# A window changes, in each convolution / pooling layer of the model's leading chain, only the outputs whose
# receptive field meets it. For that chain (2-D, channels_last, each layer the single consumer of the previous
# one) every window position gets one fixed-size crop per layer: the crop of the last chain layer covers all
# outputs the window changes, and each earlier crop is exactly the receptive field of the next one. The chain
# runs on the crops with 'valid' padding (crop positions that lie in a layer's padding get the pad value), the
# last crop is pasted into the unoccluded activation and the rest of the model runs as usual. Equal to the full
# computation up to float rounding; on the whale CNN with an 8×8 window about 5× less arithmetic.
@dataclass(frozen=True)
class _Step:
    layer: object
    kind: str                 # conv, depthwise, separable, max_pool, avg_pool or elementwise
    kernel: tuple = (1, 1)    # effective (dilated) size per axis
    stride: tuple = (1, 1)
    pad_lo: tuple = (0, 0)
    size_in: tuple = (0, 0)
    size_out: tuple = (0, 0)

    @property
    def pad_value(self) -> float:
        return -np.inf if self.kind == "max_pool" else 0.0


_ELEMENTWISE = (L.ReLU, L.LeakyReLU, L.ELU, L.Dropout, L.SpatialDropout2D, L.GaussianNoise, L.GaussianDropout,
                L.Rescaling, L.Identity)


def _step(layer, size_in):
    """``layer`` as a chain step on a (H, W) input, or None where it is not local or not supported."""
    if isinstance(layer, _ELEMENTWISE) or (isinstance(layer, L.BatchNormalization) and layer.axis in (-1, 3)) or (
            isinstance(layer, L.Activation) and layer.activation is not keras.activations.softmax):
        return _Step(layer, "elementwise", size_in=size_in, size_out=size_in)
    if getattr(layer, "data_format", None) != "channels_last" or getattr(layer, "padding", None) not in ("same",
                                                                                                          "valid"):
        return None
    dilation = (1, 1)
    if isinstance(layer, (L.MaxPooling2D, L.AveragePooling2D)):
        kind, k = ("max_pool" if isinstance(layer, L.MaxPooling2D) else "avg_pool"), layer.pool_size
        if kind == "avg_pool" and layer.padding != "valid":  # a 'same' average excludes the padding
            return None
    elif isinstance(layer, L.SeparableConv2D):
        kind, k, dilation = "separable", layer.kernel_size, layer.dilation_rate
    elif isinstance(layer, L.DepthwiseConv2D):
        kind, k, dilation = "depthwise", layer.kernel_size, layer.dilation_rate
    elif type(layer) is L.Conv2D and layer.groups == 1:
        kind, k, dilation = "conv", layer.kernel_size, layer.dilation_rate
    else:
        return None
    k = tuple((ki - 1) * di + 1 for ki, di in zip(k, dilation))
    s = tuple(layer.strides)
    if layer.padding == "valid":
        out = tuple((n - ki) // si + 1 for n, ki, si in zip(size_in, k, s))
        pad = (0, 0)
    else:  # TensorFlow's and XLA's 'same': the smaller half of the padding before
        out = tuple(-(-n // si) for n, si in zip(size_in, s))
        pad = tuple(max((o - 1) * si + ki - n, 0) // 2 for o, si, ki, n in zip(out, s, k, size_in))
    return _Step(layer, kind, k, s, pad, tuple(size_in), out)


def _chain(model, shape):
    """(steps, symbolic tensor after the last step) of the model's leading local chain, or None."""
    graph = _functional_of(model)
    if graph is None or len(shape) != 3 or len(graph.inputs) != 1:
        return None
    nodes = list(_nodes(graph))
    consumers: dict[int, int] = {}
    for node in nodes:
        for t in node.input_tensors:
            consumers[id(t)] = consumers.get(id(t), 0) + 1
    outputs = {id(t) for t in graph.outputs}
    steps, tensors, t, size = [], [], graph.inputs[0], tuple(shape[:2])
    for node in nodes:
        if len(node.input_tensors) != 1 or node.input_tensors[0] is not t:
            continue
        if consumers.get(id(t)) != 1 or id(t) in outputs or len(node.outputs) != 1 or id(node.outputs[0]) in outputs:
            break
        step = _step(node.operation, size)
        if step is None:
            break
        steps.append(step)
        t, size = node.outputs[0], step.size_out
        tensors.append(t)
    while steps and steps[-1].kind == "elementwise":  # nothing to save after the last spatial step
        steps.pop()
        tensors.pop()
    return (steps, tensors[-1]) if steps else None


def _affected(step, lo, hi):
    """Output index range [lo, hi) per axis that an input range [lo, hi) changes."""
    lo = tuple(max(0, (a + p - k) // s + 1) for a, p, k, s in zip(lo, step.pad_lo, step.kernel, step.stride))
    hi = tuple(min(n, -(-(b + p) // s)) for b, p, s, n in zip(hi, step.pad_lo, step.stride, step.size_out))
    return lo, hi


def _indices(starts, size, full):
    """Per axis: (P, size) int32 indices start + i clipped into [0, full), and the (P, *size) in-range mask."""
    idx, flags = [], []
    for ax in range(2):
        i = np.asarray([st[ax] for st in starts])[:, None] + np.arange(size[ax])
        flags.append((i >= 0) & (i < full[ax]))
        idx.append(np.clip(i, 0, full[ax] - 1).astype(np.int32))
    return idx, (flags[0][:, :, None] & flags[1][:, None, :]).astype(np.float32)


class _Crops:
    """Crop geometry of every window position, fed to the compiled function chunk by chunk.

    Per spatial step: the output region the window changes (fixed size, start clamped into the map) and its
    receptive field in the step's input. A step's input crop is the unoccluded activation there plus the change
    the previous step computed, placed at its offset.
    """

    def __init__(self, steps, corners, window, chunk):
        self.corners, self.chunk = corners, chunk
        self.geo = []  # per spatial step: ((starts, size, full) of the input crop, (...) of the output crop)
        regions = [(tuple(c), tuple(c + w for c, w in zip(c, window))) for c in corners]
        for s in (s for s in steps if s.kind != "elementwise"):
            regions = [_affected(s, lo, hi) for lo, hi in regions]
            size = tuple(max(hi[i] - lo[i] for lo, hi in regions) for i in range(2))
            starts = [tuple(min(lo[i], s.size_out[i] - size[i]) for i in range(2)) for lo, _ in regions]
            in_starts = [tuple(st * si - p for st, si, p in zip(start, s.stride, s.pad_lo)) for start in starts]
            in_size = tuple((n - 1) * si + k for n, si, k in zip(size, s.stride, s.kernel))
            self.geo.append(((in_starts, in_size, s.size_in), (starts, size, s.size_out)))
            regions = [(st, tuple(a + n for a, n in zip(st, size))) for st in starts]

    def feed(self, masks, start):
        """Arrays for window positions [start, start + chunk) (padded with empty windows at the end)."""
        idx = [min(i, len(self.corners) - 1) for i in range(start, start + self.chunk)]
        pick = lambda g: ([g[0][i] for i in idx],) + g[1:]  # noqa: E731 - the chunk's part of one geometry
        geo = []
        for j, (gin, gout) in enumerate(self.geo):
            (r_in, c_in), ok = _indices(*pick(gin))
            (r_out, c_out), _ = _indices(*pick(gout))
            if j:  # where each input-crop value lies in the previous step's output crop (0 outside it)
                prev = pick(self.geo[j - 1][1])
                rel = [tuple(a - b for a, b in zip(st_in, st_prev)) for st_in, st_prev in zip(pick(gin)[0], prev[0])]
                (pr, pc), inside = _indices(rel, gin[1], prev[1])
            else:
                pr, pc, inside = r_in, c_in, ok
            geo.append((r_in, c_in, ok, r_out, c_out, pr, pc, inside))
        last, (starts, size, full) = geo[-1], pick(self.geo[-1][1])
        (lr, lc), lin = _indices([tuple(-a for a in st) for st in starts], full, size)  # paste into the full map
        r0, c0 = geo[0][:2]
        window = masks[idx].reshape((len(idx),) + masks.shape[1:3])
        window = np.take_along_axis(np.take_along_axis(window, r0[:, :, None], 1), c0[:, None, :], 2)
        window = window * geo[0][2]
        window[start + np.arange(self.chunk) >= len(self.corners)] = 0.0  # padding positions occlude nothing
        return window, geo, (lr, lc, lin)


def _valid(step, a):
    """``step``'s layer on a crop, with 'valid' padding (the crop already holds the padding)."""
    layer = step.layer
    if step.kind in ("elementwise", "avg_pool"):
        return layer(a)
    if step.kind == "max_pool":
        return ops.max_pool(a, layer.pool_size, layer.strides, "valid")
    if step.kind == "conv":
        z = ops.conv(a, layer.kernel, layer.strides, "valid", dilation_rate=layer.dilation_rate)
    elif step.kind == "depthwise":
        z = ops.depthwise_conv(a, layer.kernel, layer.strides, "valid", dilation_rate=layer.dilation_rate)
    else:
        z = ops.separable_conv(a, layer.depthwise_kernel, layer.pointwise_kernel, layer.strides, "valid",
                               dilation_rate=layer.dilation_rate)
    if layer.use_bias:
        z = z + layer.bias
    return layer.activation(z)


def _incremental_fn(model, chain, score):
    steps, end = chain

    def take(a, rows, cols):
        """(B, P, h, w, C) crops of (B, H, W, C) maps, or of (B, P, H, W, C) crops; rows (P, h), cols (P, w)."""
        if len(a.shape) == 4:
            a = ops.take(a, rows, axis=1)
        else:
            shape = tuple(a.shape[:2]) + tuple(rows.shape[1:]) + tuple(a.shape[3:])
            a = ops.take_along_axis(a, ops.broadcast_to(rows[None, :, :, None, None], shape), axis=2)
        shape = tuple(a.shape[:3]) + tuple(cols.shape[1:]) + tuple(a.shape[4:])
        return ops.take_along_axis(a, ops.broadcast_to(cols[None, :, None, :, None], shape), axis=3)

    def on_crops(f, a):  # a layer on (B, P, ...) crops
        out = f(ops.reshape(a, (-1,) + tuple(a.shape[2:])))
        return ops.reshape(out, tuple(a.shape[:2]) + tuple(out.shape[1:]))

    def fn(x, base, window, geo, paste, targets):
        inputs, full = [], x  # the unoccluded input of every spatial step, then the chain's output
        for step in steps:
            if step.kind != "elementwise":
                inputs.append(full)
            full = step.layer(full)
        r_in, c_in = geo[0][:2]
        m = window[None, :, :, :, None]
        a = take(x, r_in, c_in) * (1.0 - m) + take(base, r_in, c_in) * m
        j = -1
        for step in steps:
            if step.kind != "elementwise":
                j += 1
                r_in, c_in, ok, _, _, pr, pc, inside = geo[j]
                if j:
                    change = a - take(inputs[j], *geo[j - 1][3:5])
                    a = take(inputs[j], r_in, c_in) + take(change, pr, pc) * inside[None, :, :, :, None]
                a = ops.where(ok[None, :, :, :, None] > 0.5, a, step.pad_value)
            a = on_crops(lambda t, step=step: _valid(step, t), a)
        lr, lc, lin = paste
        change = a - take(full, *geo[-1][3:5])
        act = full[:, None] + take(change, lr, lc) * lin[None, :, :, :, None]
        z = run_graph(model, ops.reshape(act, (-1,) + tuple(act.shape[2:])), logit_handler(), start=end)
        return _target_scores(z, targets, window.shape[0], score)

    return fn
