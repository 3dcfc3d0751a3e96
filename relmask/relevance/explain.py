"""``explain()``: check the input, the targets and the parameters, batch, call the method, check its output."""
from __future__ import annotations

import numpy as np

from relmask.errors import ComponentOutputError, DataError, ParameterError


def _as_input(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"explain() needs a non-empty batch (N, ...), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise DataError(f"explain(): the input contains {int((~np.isfinite(x)).sum())} NaN/inf values")
    return x


def _as_targets(targets, n: int, n_classes: int) -> np.ndarray:
    if targets is None:
        return np.full(n, -1, np.int32)
    t = np.asarray(targets)
    if not np.issubdtype(t.dtype, np.integer):  # 1.5 or True must not quietly mean class 1
        got = f"{type(targets).__name__} {targets!r}" if t.ndim == 0 else f"{t.dtype} array of shape {t.shape}"
        raise ParameterError(f"targets must be None, an int or one int per sample ({n}); got {got}")
    if t.ndim == 0:
        t = np.full(n, int(t))
    if t.shape != (n,):
        raise ParameterError(f"targets must be None, an int or one int per sample ({n}); got "
                             f"{t.dtype} array of shape {t.shape}")
    if ((t < 0) | (t >= n_classes)).any():
        bad = t[(t < 0) | (t >= n_classes)][0]
        raise ParameterError(f"target class {int(bad)} is out of range: the model has {n_classes} outputs")
    return t.astype(np.int32)


def explain(model, x, method="gradient", targets=None, batch_size: int = 64, progress=None,
            precision: str = "highest", **params) -> np.ndarray:
    """Relevance of every input value for the model's ``targets`` logit (None = predicted class).

    ``method`` is a registered name (``relmask.list_methods()``) or a RelevanceMethod object. ``progress``:
    True/False shows/hides a progress bar over batches; None shows it only on an interactive terminal.
    ``precision``: ``"highest"`` computes float32 matrix products and convolutions in full float32 (on NVIDIA
    GPUs since Ampere both backends otherwise use TensorFloat-32, whose ~1e-3 relative errors break the
    conformance guarantees); ``"default"`` leaves the backend's choice (faster on such GPUs; same on CPUs).

    Checked before any work (:func:`relmask.relevance.engine.check_model`): the model is a Sequential or
    functional Keras model, ``x``'s samples have its input shape, and the output left after removing a final
    softmax/log-softmax/sigmoid (however spelled) is a logit, not probabilities. A method's NaN/inf output is a
    :class:`relmask.errors.ComponentOutputError` naming the method and its plugin (docs/reliability.md).
    """
    import keras

    from relmask.plugin_system.kinds import METHODS
    from relmask.plugin_system.plugins import registry
    from relmask.relevance._autodiff import matmul_precision
    from relmask.relevance.engine import check_model, n_outputs, resolve_predicted
    from relmask.running.progress import progress_bar

    methods = registry(METHODS)
    m = methods.get(method)
    backend = keras.backend.backend()
    if backend not in m.backends:
        raise ParameterError(f"relevance method {m.name!r} supports the Keras backends {', '.join(m.backends)}; "
                             f"this process runs {backend!r} (KERAS_BACKEND)")
    resolved = m.resolve_params(params)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size must be a positive int, got {batch_size!r}")
    x = _as_input(x)
    n = len(x)
    if m.needs_model:
        check_model(model, x)
    else:
        # model-free sources (files, eye tracking) are matched per sample, not computed: one call over all of x,
        # so a method can line its per-sample parameters (e.g. ids) up with the inputs
        batch_size = n
    m.check_params(resolved, input_shape=tuple(x.shape[1:]), model=model if m.needs_model else None)
    t = _as_targets(targets, n, n_outputs(model)) if m.needs_model else (
        np.full(n, -1, np.int32) if targets is None else np.broadcast_to(np.asarray(targets, np.int32), (n,)))
    out = np.empty_like(x)
    starts = range(0, n, batch_size)
    bar = progress_bar(starts, desc=f"explain {m.name}", unit="batch",
                       disable=None if progress is None else not progress)
    with matmul_precision(precision):
        for start in bar:
            xb, tb = x[start:start + batch_size], t[start:start + batch_size]
            k = len(xb)
            if n > batch_size and k < batch_size:  # pad the last batch: compiled methods keep a single trace
                xb = np.concatenate([xb, np.repeat(xb[-1:], batch_size - k, axis=0)])
                tb = np.concatenate([tb, np.repeat(tb[-1:], batch_size - k)])
            if m.needs_model and not m.resolves_predicted:
                tb = resolve_predicted(model, xb, tb)
            r = np.asarray(m.attribute(model, xb, tb, **resolved), dtype=np.float32)
            if r.shape != xb.shape:
                raise ParameterError(f"relevance method {m.name!r} returned shape {r.shape} for input {xb.shape}")
            bad = ~np.isfinite(r[:k].reshape(k, -1)).all(axis=1)
            if bad.any():  # the input was checked finite: the method (or its parameters) produced these
                raise ComponentOutputError(
                    f"{methods.describe(m)} returned NaN or infinite relevance for finite input: sample "
                    f"{start + int(np.flatnonzero(bad)[0])} ({int(bad.sum())} of the {k} samples from {start}); "
                    "check its parameters" + (f" {resolved}" if resolved else ""))
            out[start:start + k] = r[:k]
    return out
