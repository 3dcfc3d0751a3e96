"""The only backend-specific code of the relevance engine: input gradients and compilation.

Everything else in :mod:`relmask.relevance` is written with ``keras.ops`` (``keras.ops.custom_gradient``
included). Three primitives are needed:

* :func:`grad` — the gradient of a scalar function with respect to its first argument
  (``tf.GradientTape`` on TensorFlow, ``jax.grad`` on JAX);
* :func:`vjp` — a vector-Jacobian product: the transpose of a (linear) map applied to a cotangent, which is how
  LRP sends relevance back through a layer (``GradientTape.gradient(output_gradients=...)`` / ``jax.vjp``);
* :func:`compile_fn` — a compiled callable over a model (``tf.function`` on TensorFlow; ``jax.jit`` on JAX,
  with the model's variables passed in as arguments through ``keras.StatelessScope`` so that a compiled
  function never bakes in stale weights after further training).

plus :func:`fori_loop`, a loop inside a compiled function that runs one iteration at a time, and
:func:`matmul_precision`, the precision of float32 matrix products and convolutions while relevance is
computed (NVIDIA GPUs since Ampere run them in TensorFloat-32 by default on both backends).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import keras
import numpy as np

from relmask.errors import ParameterError
from relmask.relevance.precision import PRECISIONS


def backend() -> str:
    return keras.backend.backend()


def grad(f: Callable, has_aux: bool = False) -> Callable:
    """``g(x, *rest) -> d f(x, *rest) / d x`` for a scalar-valued ``f``.

    With ``has_aux`` ``f`` returns ``(scalar, aux)`` and ``g`` returns ``(gradient, aux)``.
    """
    if backend() == "tensorflow":
        import tensorflow as tf

        def g(x, *rest):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = f(x, *rest)
            y, aux = out if has_aux else (out, None)
            dx = tape.gradient(y, x)
            return (dx, aux) if has_aux else dx

        return g
    if backend() == "jax":
        import jax

        return jax.grad(f, has_aux=has_aux)
    raise NotImplementedError(f"relmask's relevance engine supports the tensorflow and jax Keras backends, "
                              f"not {backend()!r}")


@contextlib.contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """``"highest"``: float32 products and convolutions in full float32 (TensorFloat-32 off) inside the block;
    ``"default"``: the backend's own choice.

    Why "highest" is explain()'s default: TF32 rounds the inputs of every product to a 10-bit mantissa, and on
    a GPU that made maps depend on the batch, LRP sums miss the logit and integrated gradients miss
    TensorFlow-on-CPU by more than the conformance tolerances, while in float32 every check passed (measured in
    benchmarks/results/2026-11-26_h200_jax; docs/relevance.md, *Precision on GPUs*). Relevance costs little next
    to training: reproducible maps win.
    """
    if precision not in PRECISIONS:
        raise ParameterError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "default":
        yield
    elif backend() == "tensorflow":
        import tensorflow as tf

        # a process-wide switch, read when a kernel runs (compiled functions need no retracing): restore it
        before = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        try:
            yield
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(before)
    elif backend() == "jax":
        import jax

        with jax.default_matmul_precision("highest"):  # part of jit's cache key: traced once per precision
            yield
    else:
        yield


def vjp(f: Callable, primals: tuple, cotangent) -> tuple:
    """``(∂f/∂primals)ᵀ · cotangent`` for each primal: for a linear ``f`` that is ``fᵀ(cotangent)``.

    ``f``'s forward value is not used; in compiled graphs the recomputed forward is dead code and pruned
    (tf.function's graph optimiser, XLA), so this costs the transposed map only.
    """
    if backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            for p in primals:
                tape.watch(p)
            out = f(*primals)
        grads = tape.gradient(out, list(primals), output_gradients=cotangent)
        # a primal that f ignores gets None from TensorFlow and zeros from JAX: zeros on both
        return tuple(tf.zeros_like(p) if g is None else g for p, g in zip(primals, grads, strict=True))
    if backend() == "jax":
        import jax

        return tuple(jax.vjp(f, *primals)[1](cotangent))
    raise NotImplementedError(f"relmask's relevance engine supports the tensorflow and jax Keras backends, "
                              f"not {backend()!r}")


def fori_loop(n: int, body: Callable, init):
    """``body(i, ...body(1, body(0, init)))`` inside a compiled function, one iteration at a time.

    ``keras.ops.fori_loop`` leaves TensorFlow's ``while_loop`` at ``parallel_iterations=10``: iterations whose
    work does not wait on the carried sum (every step of integrated gradients) then run concurrently, each with
    its own activations, so memory grows with the number of iterations in flight. One at a time keeps memory
    bounded by the batch.
    """
    if backend() == "tensorflow":
        import tensorflow as tf

        return tf.while_loop(lambda i, val: i < n, lambda i, val: (i + 1, body(i, val)), (tf.constant(0), init),
                             parallel_iterations=1)[1]
    return keras.ops.fori_loop(0, n, body, init)  # jax.lax.fori_loop: sequential


def compile_fn(model, f: Callable) -> Callable:
    """Compile ``f(*arrays)`` (which calls ``model``'s layers) into ``run(*numpy arrays) -> numpy``.

    One trace per input shape: callers keep shapes fixed (the engine pads the last batch).
    """
    if backend() == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(f, autograph=False)
        # Every method compiles its own function from the same few code locations, which TF's "frequent
        # retracing" detector mistakes for retracing; each function traces once per input shape.
        compiled._omit_frequent_tracing_warning = True

        def run(*args):
            return _to_numpy(compiled(*args))

        vars(run)["function"] = compiled  # the tf.function itself, for profiling (benchmarks/relevance_profile.py)
        return run
    if backend() == "jax":
        import jax

        variables = list(model.variables)

        def pure(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return f(*args)

        compiled = jax.jit(pure)

        def run(*args):
            return _to_numpy(compiled([v.value for v in variables], *args))

        vars(run)["function"] = compiled
        return run
    raise NotImplementedError(f"relmask's relevance engine supports the tensorflow and jax Keras backends, "
                              f"not {backend()!r}")


def _to_numpy(out):
    if isinstance(out, (tuple, list)):
        return type(out)(_to_numpy(o) for o in out)
    return np.asarray(out)
