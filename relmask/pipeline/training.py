"""Seeded training and prediction helpers shared by every experiment.

Convention: registered models output class probabilities (softmax over ``n_classes``; binary tasks use two
classes), so one loss and one prediction path serve every domain. Relevance methods explain the
pre-softmax logit.

**Grouped training.** An experiment trains dozens of small models of one architecture: every variant, control
and seed. :func:`fit_group` trains a group of such independent :class:`Member` s as *one* Keras model whose
branches are the members: one compiled training step, one batch per member per step (each member its own inputs,
initial weights and batch order), and the loss is the sum of the members' losses. The gradient of that sum with
respect to a member's weights is the gradient of the member's own loss, and Adam updates every weight from its own
gradient history only, so each member follows exactly the trajectory it would follow alone, up to float rounding
(``tests/core/test_grouped_training.py`` checks weights and learning curves against naive one-by-one Keras runs
on TensorFlow and JAX). :func:`fit` is a group of one, so there is one training path.
Why branches and not ``vmap`` over stacked weights: the branch model works unchanged on every Keras backend, with
every layer (BatchNorm, Dropout) and with per-member callbacks; what grouping gains where is measured by
``benchmarks/students.py`` (docs/training.md).

**Input-gradient penalty.** A member may carry ``input_penalty = (annotations, weight)``: its loss then adds
``weight · Σ_d (A ⊙ ∂(Σ_k log p_k)/∂x)²`` per sample, "right for the right reasons" (Ross, Hughes & Doshi-Velez,
IJCAI 2017), where ``A`` (of ``x``'s shape) is 1 where the input gradient is penalised. It needs a second-order
gradient, computed by a nested ``tf.GradientTape`` on TensorFlow and by ``jax.grad`` inside the stateless
training step on JAX (:class:`ModelGroup` subclass built by :func:`_group_model`). Penalised members train in
chunks of their own, so members without a penalty take exactly the path they took before.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relmask._env import quiet_keras_retracing
from relmask.errors import ParameterError

GROUP_SIZE_ENV = "RELMASK_GROUP_SIZE"
# Share of the device's (or the machine's) memory that one group's weights, optimizer state and activations may
# take when the chunk size is chosen automatically.
MEMORY_SHARE = 0.25
# Training steps per compiled call: amortises the per-step dispatch that dominates small models (most under JAX),
# without changing a single update (benchmarks/students.py).
STEPS_PER_EXECUTION = 8
#: Keras backends on which a member's input-gradient penalty (``Member.input_penalty``) is implemented
PENALTY_BACKENDS = ("tensorflow", "jax")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend (and make TF ops deterministic where it can)."""
    import keras

    keras.utils.set_random_seed(int(seed))
    _deterministic_ops()


def _deterministic_ops() -> None:
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except AttributeError:  # pragma: no cover - older TF, without it
            pass


def build_model(name: str, input_shape: Sequence[int], n_classes: int, seed: int | None = None, **params):
    """A fresh registered architecture (``relmask.list_models()``), weights seeded by ``seed``."""
    from relmask.plugin_system.kinds import MODELS
    from relmask.plugin_system.plugins import registry

    if seed is not None:
        set_seed(seed)
    return registry(MODELS).get(name).build(tuple(input_shape), n_classes, **params)


def compile_classifier(model, learning_rate: float = 1e-3) -> Any:
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# -- one group of models ------------------------------------------------------------------------------------
@dataclass
class Member:
    """One model of a group: its built model (with its initial weights), its training data, the seed of its
    batch order, and optional validation data, class weights and Keras callbacks (called with ``self.model``
    set to this member's model and this member's logs: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``).
    A callback that sets ``model.stop_training`` stops this member alone; its weights are kept as they were.

    ``input_penalty``: ``(annotations, weight)``, annotations of ``x``'s shape (1 where the input gradient of the
    summed log-probabilities is penalised, 0 where it is free) and ``weight`` >= 0; the member's loss adds
    ``weight`` times the squared annotated input gradient, summed over the sample's values and averaged over the
    batch like the cross-entropy (class weights weigh both). Weight 0 is no penalty: the member trains exactly
    as without one. Its history then also holds ``input_penalty`` (the penalty's part of ``loss``)."""

    model: Any
    x: np.ndarray
    y: np.ndarray
    seed: int = 0
    validation_data: tuple[np.ndarray, np.ndarray] | None = None
    class_weight: dict | None = None
    callbacks: Sequence = ()
    name: str = ""
    input_penalty: tuple[np.ndarray, float] | None = None

    @property
    def penalised(self) -> bool:
        """True where the member trains with an input-gradient penalty of non-zero weight."""
        return self.input_penalty is not None and float(self.input_penalty[1]) != 0.0


@dataclass
class MemberResult:
    """What :func:`fit_group` returns per member, in order: its (trained) model, its per-epoch history, and
    ``error`` when it failed (a loss that turned NaN or infinite); the other members are unaffected."""

    name: str
    model: Any
    history: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def architecture(model) -> tuple:
    """What must agree for models to train in one group: input shape and every layer's type and weight shapes."""
    shape = tuple(getattr(model, "input_shape", None) or ())
    return (shape, tuple((type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights))
                         for layer in model.layers))


def fit_group(members: Sequence[Member], *, epochs: int, batch_size: int = 64, learning_rate: float = 1e-3,
              chunk_size: int | None = None, verbose: int | str = 0) -> list[MemberResult]:
    """Train independent models of one architecture together; returns one :class:`MemberResult` per member.

    Each member sees every epoch its own permutation of its samples, drawn from ``np.random.default_rng((seed,
    epoch))``, in batches of ``batch_size``, and is trained with Adam(``learning_rate``) on sparse categorical
    cross-entropy, exactly as :func:`fit` trains one model. Members are trained in chunks of ``chunk_size``
    (default: :func:`group_size_limit`); members of
    one chunk must have as many samples as each other, so a group is first split by sample count, and members
    with an input penalty (:class:`Member`) train in chunks of their own.
    """
    members = list(members)
    _check_group(members, epochs, batch_size, chunk_size)
    if not members:
        return []
    quiet_keras_retracing()
    _deterministic_ops()
    size = chunk_size or group_size_limit(members[0].model, batch_size)
    results: list[MemberResult | None] = [None] * len(members)
    # a penalised chunk compiles another training step; keeping the others out of it leaves their path unchanged
    by_kind: dict[tuple[int, bool], list[int]] = {}
    for i, m in enumerate(members):
        by_kind.setdefault((len(m.x), m.penalised), []).append(i)
    chunks = [ids[j:j + size] for ids in by_kind.values() for j in range(0, len(ids), size)]
    for ids in chunks:
        fitted = _fit_chunk([members[i] for i in ids], epochs, batch_size, learning_rate, verbose)
        for i, r in zip(ids, fitted, strict=True):
            results[i] = r
    return results  # type: ignore[return-value]


def fit_all(members: Sequence[Member], *, description: str = "models", log: bool = True,
            **kwargs) -> list[MemberResult]:
    """:func:`fit_group` over members of one or more architectures: one group per architecture (in order of
    first appearance), inside a progress stage; each failed member is reported as a
    :class:`relmask.errors.RelmaskWarning` naming it, and the others are kept. ``log`` False keeps the stage
    out of the progress lines; ``kwargs`` go to fit_group."""
    import warnings

    from relmask.errors import RelmaskWarning
    from relmask.running import progress

    members = list(members)
    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(members):
        groups.setdefault(architecture(m.model), []).append(i)
    results: list[MemberResult | None] = [None] * len(members)
    with progress.stage(f"{description} ({len(members)} models, grouped)", len(groups), log=log) as st:
        for ids in groups.values():
            for i, r in zip(ids, fit_group([members[i] for i in ids], **kwargs), strict=True):
                results[i] = r
                if not r.ok:
                    warnings.warn(RelmaskWarning(f"{r.name or r.model.name} failed and is left out: {r.error}"),
                                  stacklevel=2)
            st.update(1)
    return results  # type: ignore[return-value]


def _check_group(members: list[Member], epochs: int, batch_size: int, chunk_size: int | None) -> None:
    if epochs < 0 or batch_size < 1:
        raise ParameterError(f"fit: epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise ParameterError(f"fit_group: chunk_size must be a whole number >= 1 (or None: automatic), "
                             f"got {chunk_size!r}")
    if not members:
        return
    for i, m in enumerate(members):
        if not isinstance(m, Member):
            raise ParameterError(f"fit_group: member {i} is a {type(m).__name__}, not a "
                                 "relmask.pipeline.training.Member")
    first = architecture(members[0].model)
    for i, m in enumerate(members):
        label = m.name or f"member {i}"
        if architecture(m.model) != first:
            raise ParameterError(f"fit_group: {label} ({m.model.name}) does not have the architecture of "
                                 f"{members[0].name or 'member 0'} ({members[0].model.name}); a group trains "
                                 f"models of one architecture, so train it in a group of its own")
        if len(m.x) != len(m.y):
            raise ParameterError(f"fit_group: {label} has {len(m.x)} inputs but {len(m.y)} labels")
        if m.validation_data is not None and len(m.validation_data[0]) != len(m.validation_data[1]):
            raise ParameterError(f"fit_group: {label}'s validation data have {len(m.validation_data[0])} inputs "
                                 f"but {len(m.validation_data[1])} labels")
        if m.input_penalty is not None:
            _check_input_penalty(m, label)


def _check_input_penalty(m: Member, label: str) -> None:
    import keras

    penalty = m.input_penalty
    if not isinstance(penalty, tuple) or len(penalty) != 2:
        raise ParameterError(f"fit_group: {label}'s input_penalty must be a tuple (annotations, weight), "
                             f"got {type(penalty).__name__}")
    annotations, weight = penalty
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
            or weight < 0:
        raise ParameterError(f"fit_group: {label}'s input_penalty weight must be a finite number >= 0, "
                             f"got {weight!r}")
    shape = np.shape(annotations)
    if shape != np.shape(m.x):
        raise ParameterError(f"fit_group: {label}'s input_penalty annotations have shape {shape}, its inputs "
                             f"{np.shape(m.x)}; they must be the same")
    if m.penalised and keras.backend.backend() not in PENALTY_BACKENDS:
        raise ParameterError(f"fit_group: {label} has an input penalty, which is implemented for the Keras "
                             f"backends {', '.join(PENALTY_BACKENDS)}, not {keras.backend.backend()!r}")


def group_size_limit(model, batch_size: int) -> int:
    """How many members of ``model``'s architecture one chunk may hold: ``$RELMASK_GROUP_SIZE`` if set; on an
    accelerator as many as fit :data:`MEMORY_SHARE` of its memory; on the CPU one member per core (a branch per
    core can run in parallel; a whole grid in one chunk was slower, docs/training.md), within the
    same memory bound. At least 1."""
    env = os.environ.get(GROUP_SIZE_ENV)
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        if value < 1:
            raise ParameterError(f"${GROUP_SIZE_ENV} must be a whole number >= 1, got {env!r}")
        return value
    memory, accelerator = device_memory()
    fits = max(1, int(MEMORY_SHARE * memory // member_bytes(model, batch_size)))
    return fits if accelerator else max(1, min(fits, os.cpu_count() or 1))


def member_bytes(model, batch_size: int) -> int:
    """Estimated memory of one member in training: float32 weights, gradients and Adam's two moments, plus
    every layer's output for a batch kept for the backward pass (twice: activations and their gradients)."""
    params = sum(int(np.prod(w.shape)) for w in model.weights)
    activations = 0
    for layer in model.layers:
        try:
            activations += int(np.prod(layer.output.shape[1:]))
        except (AttributeError, ValueError, TypeError):  # a layer without one output: counted through params
            pass
    return 4 * (4 * params + 2 * batch_size * activations) + 1


def device_memory() -> tuple[int, bool]:
    """(bytes, is an accelerator) of the device training runs on: the first accelerator's (JAX or TensorFlow),
    else the machine's memory."""
    import keras

    try:
        if keras.backend.backend() == "jax":
            import jax

            dev = jax.devices()[0]
            if dev.platform != "cpu":
                return int((dev.memory_stats() or {}).get("bytes_limit", 0)) or _host_memory(), True
        elif keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                limit = tf.config.experimental.get_device_details(gpus[0]).get("memory_limit", 0)
                return int(limit or 0) or _host_memory(), True
    except Exception:  # noqa: BLE001 - a backend without memory statistics: fall back to the machine's
        pass
    return _host_memory(), False


def _host_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8 << 30


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which a member with ``seed`` sees its ``n`` samples in ``epoch`` (0-based)."""
    return np.random.default_rng((int(seed), int(epoch))).permutation(n)


def _keys(k: int) -> list[str]:
    return [f"m{i}" for i in range(k)]


def _penalty_key(key: str) -> str:
    """The group output (and loss) that carries member ``key``'s input penalty per sample."""
    return f"{key}_penalty"


def _annotation_key(key: str) -> str:
    """The group input that carries member ``key``'s annotations, batched with its samples."""
    return f"{key}_annotation"


def _penalty_loss(y_true, y_pred):
    """The loss of a penalty output: the per-sample penalty itself (``y_true`` is a placeholder), so Keras
    averages it over the batch with the member's sample weights exactly as it averages the cross-entropy."""
    return y_pred


def _fit_chunk(members: list[Member], epochs: int, batch_size: int, learning_rate: float,
               verbose) -> list[MemberResult]:
    import keras

    from relmask.running import progress

    keys = _keys(len(members))
    group = _group_model(members, keys)
    n = len(members[0].x)
    steps = max(1, math.ceil(n / batch_size))
    penalised = [k for k, m in zip(keys, members, strict=True) if m.penalised]
    group.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss={**{k: "sparse_categorical_crossentropy" for k in keys},
                        **{_penalty_key(k): _penalty_loss for k in penalised}},
                  metrics={k: ["accuracy"] for k in keys}, steps_per_execution=min(STEPS_PER_EXECUTION, steps))
    results = [MemberResult(m.name, m.model) for m in members]
    active = [True] * len(members)
    stopped_weights: dict[int, list] = {}
    for m in members:
        m.model.stop_training = False
        for cb in m.callbacks:
            cb.set_model(m.model)
            cb.set_params({"epochs": int(epochs), "steps": steps, "verbose": 0})
            cb.on_train_begin()
    source = _GroupData(members, keys, batch_size)
    with progress.stage("epoch", int(epochs) or None, log=False) as st:
        for epoch in range(int(epochs)):
            if not any(active):
                break
            for i, m in enumerate(members):
                if active[i]:
                    for cb in m.callbacks:
                        cb.on_epoch_begin(epoch)
            data = source.epoch([epoch_order(m.seed, epoch, n) for m in members])
            fitted = group.fit(data, epochs=1, shuffle=False, verbose=verbose)  # shuffle: data is in order already
            logs = {k: float(v[-1]) for k, v in fitted.history.items()}
            for i, (m, k) in enumerate(zip(members, keys, strict=True)):
                if not active[i]:
                    continue
                # Keras drops the output's name for a single output
                prefix = f"{k}_" if len(members) + len(penalised) > 1 else ""
                mlogs = {"loss": logs[f"{prefix}loss"], "accuracy": logs[f"{prefix}accuracy"]}
                if k in penalised:  # the member's loss is what it minimises: cross-entropy + penalty
                    mlogs["input_penalty"] = logs[f"{_penalty_key(k)}_loss"]
                    mlogs["loss"] += mlogs["input_penalty"]
                if m.validation_data is not None and len(m.validation_data[0]):
                    mlogs.update(_validation_logs(m.model, *m.validation_data, batch_size))
                for name, value in mlogs.items():
                    results[i].history.setdefault(name, []).append(value)
                if not math.isfinite(mlogs["loss"]):
                    results[i].error = f"its training loss became {mlogs['loss']} in epoch {epoch + 1}"
                    active[i] = False
                    continue
                for cb in m.callbacks:
                    cb.on_epoch_end(epoch, dict(mlogs))
                if m.model.stop_training:
                    active[i] = False
                    stopped_weights[i] = m.model.get_weights()
            st.update(1, info=_progress_info(results))
    for i, m in enumerate(members):
        if i in stopped_weights:  # stopped early: as it was when it stopped, not after the others' epochs
            m.model.set_weights(stopped_weights[i])
        if results[i].error is None:
            for cb in m.callbacks:
                cb.on_train_end()
    return results


def _progress_info(results: list[MemberResult]) -> str:
    losses = [r.history["loss"][-1] for r in results if r.history.get("loss") and r.ok]
    info = f"{len(results)} models" if len(results) > 1 else ""
    if losses:
        info += (", " if info else "") + f"loss {float(np.mean(losses)):.3g}"
    return info


def _validation_logs(model, x: np.ndarray, y: np.ndarray, batch_size: int) -> dict[str, float]:
    """``val_loss`` (mean cross-entropy, probabilities clipped as Keras clips them) and ``val_accuracy``."""
    import keras

    p = predict_proba(model, x, batch_size=max(batch_size, 256))
    y = np.asarray(y).astype(np.int64)
    eps = keras.config.epsilon()
    picked = np.clip(p[np.arange(len(y)), y], eps, 1.0 - eps)
    return {"val_loss": float(-np.log(picked).mean()), "val_accuracy": float((p.argmax(axis=1) == y).mean())}


_GROUP_CLASSES: dict[str, type] = {}


def _group_model(members: list[Member], keys: list[str]):
    """A Keras model whose branch ``keys[i]`` is ``members[i].model`` (its own weights, not copies); with
    penalised members, one that also outputs each one's input penalty per sample (``<key>_penalty``)."""
    if not _GROUP_CLASSES:
        _GROUP_CLASSES.update(_define_group_classes())
    weights = {k: float(m.input_penalty[1]) for k, m in zip(keys, members, strict=True)
               if m.input_penalty is not None and m.penalised}
    models = [m.model for m in members]
    if not weights:
        return _GROUP_CLASSES["plain"](models, keys, name="relmask_group")
    return _GROUP_CLASSES["penalised"](models, keys, weights, name="relmask_group")


def _define_group_classes() -> dict[str, type]:
    """The group model classes (defined on first use: importing relmask must not import Keras)."""
    import keras
    from keras import ops

    class ModelGroup(keras.Model):
        """Independent models side by side: inputs and outputs are dicts keyed like the members."""

        def __init__(self, models, keys, **kwargs):
            super().__init__(**kwargs)
            self.members, self.keys = list(models), list(keys)

        def call(self, inputs, training=False):
            return {k: m(inputs[k], training=training) for k, m in zip(self.keys, self.members, strict=True)}

    class InputPenaltyGroup(ModelGroup):
        """A group in which the members ``penalty_weights`` names also output their input penalty per sample,
        ``weight · Σ_d (A ⊙ ∂(Σ_k log p_k)/∂x)²``, with their annotations ``A`` as the extra input
        ``<key>_annotation``. The gradient is that of the batch's summed log-probabilities (as Ross et al.
        compute it), so where BatchNorm couples a batch in training, a sample's gradient includes its effect
        through the batch statistics. TensorFlow computes it in :meth:`call`, under the training step's tape;
        JAX in :meth:`stateless_call`, which its training step differentiates (``call`` cannot take a JAX
        gradient there: the layers' state updates would leave the inner trace)."""

        def __init__(self, models, keys, penalty_weights, **kwargs):
            super().__init__(models, keys, **kwargs)
            self.penalty_weights = dict(penalty_weights)

        def call(self, inputs, training=False):
            outputs = {}
            for k, m in zip(self.keys, self.members, strict=True):
                if k not in self.penalty_weights:
                    outputs[k] = m(inputs[k], training=training)
                elif training and keras.backend.backend() == "tensorflow":
                    outputs[k], gradient = _tensorflow_input_gradient(m, inputs[k])
                    outputs[_penalty_key(k)] = self.penalty(k, gradient, inputs[_annotation_key(k)])
                else:  # evaluation, shape inference, or JAX (where stateless_call replaces it)
                    outputs[k] = m(inputs[k], training=training)
                    outputs[_penalty_key(k)] = ops.zeros_like(outputs[k][:, 0])
            return outputs

        def stateless_call(self, trainable_variables, non_trainable_variables, inputs, return_losses=False,
                           **kwargs):
            plain_call = super().stateless_call
            if not kwargs.get("training") or keras.backend.backend() != "jax":
                return plain_call(trainable_variables, non_trainable_variables, inputs,
                                  return_losses=return_losses, **kwargs)
            import jax

            def summed_log_probabilities(watched):
                result = plain_call(trainable_variables, non_trainable_variables, {**inputs, **watched},
                                    return_losses=return_losses, **kwargs)
                return sum(_summed_log_probabilities(result[0][k]) for k in watched), result

            watched = {k: inputs[k] for k in self.penalty_weights}
            gradients, result = jax.grad(summed_log_probabilities, has_aux=True)(watched)
            outputs = dict(result[0])
            for k, gradient in gradients.items():
                outputs[_penalty_key(k)] = self.penalty(k, gradient, inputs[_annotation_key(k)])
            return (outputs, *result[1:])

        def penalty(self, key, gradient, annotations):
            """Member ``key``'s penalty per sample: its weight times the annotated squared input gradient."""
            return self.penalty_weights[key] * ops.sum(ops.square(annotations * gradient),
                                                       axis=tuple(range(1, len(gradient.shape))))

    return {"plain": ModelGroup, "penalised": InputPenaltyGroup}


def _summed_log_probabilities(probabilities):
    """Σ over the batch and the classes of log p, probabilities clipped as Keras's cross-entropy clips them
    (a class at probability 0 would give log 0)."""
    import keras
    from keras import ops

    return ops.sum(ops.log(ops.clip(probabilities, keras.config.epsilon(), 1.0)))


def _tensorflow_input_gradient(model, x):
    """``model(x)`` in training and the gradient of its summed log-probabilities with respect to ``x``. The
    inner tape runs under the training step's tape, which therefore records the gradient's own computation and
    differentiates the penalty with respect to the weights (second order)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        probabilities = model(x, training=True)
        total = _summed_log_probabilities(probabilities)
    return probabilities, tape.gradient(total, x)


class _GroupData:
    """A group's training data, held once per chunk; :meth:`epoch` gives one epoch's batches: step ``i`` gathers
    batch ``i`` of each member's own order (samples gathered by index, never copied per epoch), class weights as
    sample weights. On TensorFlow a tf.data pipeline over tensors made once (a Python generator per step cost
    ~20 % of a small model's epoch on the 2-core CPU, ``benchmarks/students.py --previous``); on other backends
    a :class:`keras.utils.PyDataset`.

    A penalised member's annotations ride along as the input ``<key>_annotation``, gathered with its samples;
    its penalty output gets placeholder targets (zeros) and the member's sample weights."""

    def __init__(self, members: list[Member], keys: list[str], batch_size: int):
        import keras

        self.keys, self.batch_size = keys, batch_size
        xs = [np.asarray(m.x, np.float32) for m in members]
        ys = [np.asarray(m.y) for m in members]
        ws = [_sample_weights(m.y, m.class_weight) for m in members] if any(m.class_weight for m in members) \
            else None
        # (column of the member in the batch index, annotations) per penalised member's key
        annotations = {k: (j, np.asarray(m.input_penalty[0], np.float32))
                       for j, (k, m) in enumerate(zip(keys, members, strict=True))
                       if m.input_penalty is not None and m.penalised}
        self.tensorflow = keras.backend.backend() == "tensorflow"
        if self.tensorflow:
            import tensorflow as tf

            self.xs = [tf.convert_to_tensor(x) for x in xs]
            self.ys = [tf.convert_to_tensor(y) for y in ys]
            self.ws = None if ws is None else [tf.convert_to_tensor(w) for w in ws]
            self.annotations = {k: (j, tf.convert_to_tensor(a)) for k, (j, a) in annotations.items()}
        else:
            self.xs, self.ys, self.ws, self.annotations = xs, ys, ws, annotations

    def add_penalties(self, batch: tuple, columns: list, gather, zeros) -> tuple:
        """``batch`` (inputs, targets[, sample weights]) with every penalised member's annotations, placeholder
        targets and sample weights added; ``columns[j]`` indexes member ``j``'s samples of this batch."""
        if not self.annotations:
            return batch
        xb, yb, *wb = batch
        for k, (j, a) in self.annotations.items():
            xb[_annotation_key(k)] = gather(a, columns[j])
            yb[_penalty_key(k)] = zeros(columns[j])
            if wb:
                wb[0][_penalty_key(k)] = wb[0][k]
        return (xb, yb, *wb)

    def epoch(self, orders: list[np.ndarray]):
        if not self.tensorflow:
            return _py_dataset(self, orders)
        import tensorflow as tf

        xs, ys, ws, keys = self.xs, self.ys, self.ws, self.keys

        def zeros(column):
            return tf.zeros(tf.shape(column), tf.float32)

        @tf.autograph.experimental.do_not_convert  # plain TensorFlow ops: nothing for AutoGraph to rewrite
        def gather(idx):  # idx: (batch, members)
            xb = {k: tf.gather(x, idx[:, j]) for j, (k, x) in enumerate(zip(keys, xs, strict=True))}
            yb = {k: tf.gather(y, idx[:, j]) for j, (k, y) in enumerate(zip(keys, ys, strict=True))}
            batch = (xb, yb) if ws is None else \
                (xb, yb, {k: tf.gather(w, idx[:, j]) for j, (k, w) in enumerate(zip(keys, ws, strict=True))})
            return self.add_penalties(batch, [idx[:, j] for j in range(len(keys))], tf.gather, zeros)

        # a sequential map of whole batches: TensorFlow's op determinism (set_seed) rewrites a parallel map at
        # every iterator start and prints "NodeDef mentions attribute use_unbounded_threadpool"
        index = tf.data.Dataset.from_tensor_slices(np.stack(orders, axis=1).astype(np.int64))
        return index.batch(self.batch_size).map(gather).prefetch(tf.data.AUTOTUNE)


_BATCHES_CLASS = None


def _py_dataset(data: _GroupData, orders: list[np.ndarray]):
    """One epoch of ``data`` as a :class:`keras.utils.PyDataset` (backends without tf.data)."""
    global _BATCHES_CLASS
    if _BATCHES_CLASS is None:
        import keras

        class EpochBatches(keras.utils.PyDataset):
            def __init__(self, data, orders):
                super().__init__()
                self.data, self.orders = data, orders

            def __len__(self):
                return max(1, math.ceil(len(self.orders[0]) / self.data.batch_size))

            def __getitem__(self, step):
                d = self.data
                part = slice(step * d.batch_size, (step + 1) * d.batch_size)
                idx = [o[part] for o in self.orders]
                xb = {k: x[i] for k, x, i in zip(d.keys, d.xs, idx, strict=True)}
                yb = {k: y[i] for k, y, i in zip(d.keys, d.ys, idx, strict=True)}
                batch = (xb, yb) if d.ws is None else \
                    (xb, yb, {k: w[i] for k, w, i in zip(d.keys, d.ws, idx, strict=True)})
                return d.add_penalties(batch, idx, lambda a, i: a[i], lambda i: np.zeros(len(i), np.float32))

        _BATCHES_CLASS = EpochBatches
    return _BATCHES_CLASS(data, orders)


def _sample_weights(y: np.ndarray, class_weight: dict | None) -> np.ndarray:
    y = np.asarray(y)
    if not class_weight:
        return np.ones(len(y), np.float32)
    return np.asarray([class_weight.get(int(c), 1.0) for c in y], np.float32)


def fit(model, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int = 64, seed: int = 0,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None, learning_rate: float = 1e-3,
        class_weight: dict | None = None, callbacks: list | None = None, verbose: int | str = 0,
        input_penalty: tuple[np.ndarray, float] | None = None) -> dict:
    """Train one model (Adam, sparse cross-entropy; ``input_penalty`` as in :class:`Member`); returns its
    per-epoch history dict.

    A group of one (:func:`fit_group`): batches follow :func:`epoch_order` of ``seed``; ``callbacks`` may include
    :func:`relmask.running.progress.keras_callback` to report epochs. A loss that turns NaN raises
    :class:`relmask.errors.TrainingError`.
    """
    from relmask.errors import TrainingError

    (result,) = fit_group([Member(model, x, y, seed, validation_data, class_weight, callbacks or [],
                                  input_penalty=input_penalty)],
                          epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, chunk_size=1,
                          verbose=verbose)
    if result.error:
        raise TrainingError(f"training {model.name} failed: {result.error}")
    return result.history
def predict_proba(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, n_classes) as float64, computed in batches of ``batch_size``.

    The model is called directly (inference mode) instead of through ``model.predict``. Experiments predict
    with many freshly built models, once or twice each: ``predict`` builds a tf.data pipeline and traces a new
    tf.function for every model, so each call paid a trace, TensorFlow warned about "retracing" after a few
    models, and its tf.data graph rewrite under ``enable_op_determinism`` (see :func:`set_seed`) printed
    ``E0000 … NodeDef mentions attribute use_unbounded_threadpool`` lines. A direct call does neither and gives
    the same numbers (same kernels, same batches).
    """
    import keras

    if batch_size < 1:
        raise ValueError(f"predict_proba(): batch_size must be >= 1, got {batch_size}")
    x = np.asarray(x, np.float32)
    parts = [keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
             for i in range(0, len(x), batch_size)]
    if not parts:  # no samples: the model's output width without calling it
        return np.zeros((0, *model.output_shape[1:]), np.float64)
    return np.concatenate(parts).astype(np.float64, copy=False)


def balanced_class_weight(y: np.ndarray) -> dict[int, float]:
    counts = np.bincount(np.asarray(y))
    return {i: float(len(y) / (len(counts) * c)) for i, c in enumerate(counts) if c}
