"""Shared machinery of the built-in methods: compiled functions cached per model, target selection."""
from __future__ import annotations

import weakref

import numpy as np
from keras import ops

from relmask.errors import DataError, ParameterError
from relmask.relevance import _autodiff
from relmask.relevance.graph import is_graph_model, logits, probability_output

#: models whose output check (:func:`check_model`) passed; the check depends on the architecture only
_checked: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

SUPPORTED_MODELS = ("keras.Sequential or a functional keras.Model(inputs, outputs) built from Keras layers, "
                    "single input and output")


def n_outputs(model) -> int:
    """Number of the model's outputs (classes)."""
    return int(model.outputs[0].shape[-1])


def _shape_fits(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(e is None or e == g for e, g in zip(expected, shape, strict=True))


def check_model(model, x: np.ndarray) -> None:
    """Refuse, before any work, what :func:`relmask.explain` cannot explain as documented.

    ``model`` must be a Sequential or functional Keras model (relmask walks its layers), ``x``'s samples must
    have the model's input shape, and the output left after removing a final softmax/sigmoid must be a logit,
    not (log-)probabilities (see :func:`relmask.relevance.graph.probability_output`).
    """
    import keras

    if model is None:
        raise ParameterError(f"explain(): model is None; this relevance method needs a Keras model: "
                             f"{SUPPORTED_MODELS}")
    if not isinstance(model, keras.Model):
        raise ParameterError(f"explain(): model must be a Keras model ({SUPPORTED_MODELS}); got "
                             f"{type(model).__module__}.{type(model).__name__}")
    if not is_graph_model(model):
        raise ParameterError(f"explain(): model {model.name!r} ({type(model).__name__}) is a subclassed Keras "
                             f"model, whose layers relmask cannot walk; supported: {SUPPORTED_MODELS}. Rebuild it "
                             "functionally from its layers (inputs = keras.Input(shape); outputs = ...; "
                             "keras.Model(inputs, outputs))")
    try:
        model.outputs[0]
    except (AttributeError, IndexError, ValueError, TypeError):  # keras: "has no defined outputs yet"
        raise ParameterError(f"explain(): model {model.name!r} is not built yet (it has no input shape, so relmask "
                             "cannot walk its layers); build it first: model.build((None, *sample_shape)), call it "
                             "on a batch once, or start it with keras.Input(shape)") from None
    try:
        expected = tuple(model.inputs[0].shape)[1:]
    except (AttributeError, IndexError, ValueError, TypeError):
        expected = None
    if expected is not None and not _shape_fits(tuple(x.shape[1:]), expected):
        hint = " (x looks like a single sample: add a batch axis, x[None])" if _shape_fits(tuple(x.shape),
                                                                                         expected) else ""
        raise DataError(f"explain(): input x of shape {tuple(x.shape)} has samples of shape {tuple(x.shape[1:])}, "
                        f"but model {model.name!r} expects samples of shape {expected} (None: any size){hint}")
    if model not in _checked:
        problem = probability_output(model, x[:2])
        if problem:
            raise ParameterError(problem)
        _checked[model] = True


#: attribute of a model that holds its compiled functions
_COMPILED = "_relmask_compiled"


def _compiled_of(model) -> dict:
    """The model's own {(backend, key): compiled function} cache.

    It lives on the model, not in a module-level (weak-keyed) dict: the compiled functions close over the model,
    and a dict value that references its own weak key keeps it alive forever. On the model the cycle
    model -> cache -> function -> model is garbage like any other, and the model is freed once it is unused.
    ``object.__setattr__`` bypasses Keras' attribute tracking (the cache is no layer state and is never saved).
    """
    cache = model.__dict__.get(_COMPILED)
    if cache is None:
        cache = {}
        object.__setattr__(model, _COMPILED, cache)
    return cache


def compiled(model, key, build):
    """``build()``'s traceable function compiled once per (model, key); the trace itself is per input shape."""
    per_model = _compiled_of(model)
    full_key = (_autodiff.backend(), key)
    if full_key not in per_model:
        per_model[full_key] = _autodiff.compile_fn(model, build())
    return per_model[full_key]


def compiled_functions(model) -> dict:
    """{key: compiled callable} of every method compiled for ``model`` so far (each has ``.function``, the
    backend's compiled function; for profiling tools)."""
    return {key: run for (backend, key), run in model.__dict__.get(_COMPILED, {}).items()}


def select(z, targets):
    """One-hot mask of the explained output: ``targets`` (int32, -1 = the predicted class) on logits ``z``."""
    t = ops.where(targets < 0, ops.argmax(ops.stop_gradient(z), axis=-1), targets)
    return ops.one_hot(t, ops.shape(z)[-1], dtype=z.dtype)


def target_logit(z, targets):
    """Sum over the batch of each sample's explained logit (each sample's gradient is its own)."""
    return ops.sum(select(z, targets) * z)


def logit_fn(model):
    """Compiled ``(x) -> logits`` (pre-softmax)."""
    return compiled(model, "logits", lambda: (lambda x: logits(model, x)))


def target_gradient(model):
    """Traceable ``(x, targets) -> d logit_target / d x``, to call inside compiled functions."""
    return _autodiff.grad(lambda x, t: target_logit(logits(model, x), t))


def gradient_fn(model):
    """Compiled ``(x, targets) -> d logit_target / d x``."""
    return compiled(model, "gradient", lambda: target_gradient(model))


def resolve_predicted(model, x, targets) -> np.ndarray:
    """``targets`` with every -1 replaced by the predicted class of that sample."""
    targets = np.asarray(targets, np.int32)
    if (targets < 0).any():
        pred = np.argmax(logit_fn(model)(np.asarray(x, np.float32)), axis=-1).astype(np.int32)
        targets = np.where(targets < 0, pred, targets)
    return targets
