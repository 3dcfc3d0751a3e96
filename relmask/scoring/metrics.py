"""``relmask.evaluate(model, x, y, relevance, metric, **params)``: how faithful are relevance maps to a model?

Metrics are registered through the ``register_metrics`` hook (the built-ins by ``relmask_plugins.metrics``:
pixel flipping, ROAD, ROAR/KAR and the model-randomisation sanity check; docs/metrics.md). A metric returns raw
numbers — a dict of floats and NumPy arrays (curves) — never figures.

This module holds what every metric shares, so a plugin metric behaves like the built-ins:

* :func:`removal_ranks` / :func:`removal_counts`: the order in which values (or patches) are removed — most
  relevant first (MoRF) or least relevant first (LeRF) — and how many are removed at each step;
* :func:`perturbation_curves`: every perturbed input of every sample and step, generated chunk by chunk and sent
  through the model's pre-softmax logits in fixed-size batches (one compiled trace, no Python loop of tiny
  predictions), turned into logit and accuracy curves, their AOPC areas and the MoRF–LeRF gaps;
* :func:`retrain_accuracy`: a fresh registered architecture trained with :func:`relmask.pipeline.training.fit` and
scored
  on test data (remove-and-retrain);
* :func:`spearman_rows` / :func:`ssim_rows`: per-sample similarity of two sets of maps.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from relmask.errors import DataError, ParameterError
from relmask.plugin_system.components import METRIC_NEEDS, Metric, Param, RelevanceMethod

ORDERS = ("morf", "lerf")
TARGETS = ("label", "predicted")

#: parameters shared by the metrics that perturb inputs of a trained model
TARGET_PARAM = Param("target", str, "label", "class whose logit is tracked (and explained, where `relevance` is a "
                     "method name): label (y) or predicted (the model's class on the unperturbed input)",
                     choices=TARGETS)
BATCH_SIZE_PARAM = Param("batch_size", int, 256, "perturbed inputs per forward pass", low=1)
STEPS_PARAM = Param("steps", int, 20, "perturbation steps; curves have steps + 1 points (step 0: nothing removed)",
                    low=1)
PATCH_PARAM = Param("patch_size", (int, type(None)), None,
                    "None: remove single values; p: remove p×p patches over the first two sample axes (all "
                    "channels at once; p=1 removes whole pixels), ranked by their summed relevance", low=1)
SEED_PARAM = Param("seed", int, 0, "random seed (ties in the removal order are broken at random with it)")


def max_fraction_param(default: float) -> Param:
    return Param("max_fraction", float, default, "share of values (or patches) removed at the last step",
                 low=0.0, low_open=True, high=1.0)


# -- the public entry point ------------------------------------------------------------------------------
def evaluate(model, x, y, relevance, metric, *, method_params: dict | None = None, **params) -> dict[str, Any]:
    """Score relevance maps with a registered metric (``relmask list metrics``); returns raw numbers.

    ``relevance`` is an array of ``x``'s shape (a trailing channel axis of size 1 may be missing) or a relevance
    method name (``relmask list methods``), explained on ``x`` with ``method_params`` for the class the metric's
    ``target`` parameter names. Metrics that recompute maps themselves (``needs`` contains ``"method"``, e.g.
    ``model_randomisation``) require a method name. ``y`` holds one integer label per sample. ``params`` are the
    metric's declared parameters, checked like every relmask component's.
    """
    from relmask.pipeline.masking import check_pair
    from relmask.plugin_system.kinds import METRICS
    from relmask.plugin_system.plugins import registry
    from relmask.relevance import explain

    m = registry(METRICS).get(metric)
    owner = f"metric {m.name!r}"
    resolved = m.resolve_params(params)
    bad = [n for n in m.needs if n not in METRIC_NEEDS]
    if bad:
        raise ParameterError(f"{owner} declares unknown needs {bad}; known: {', '.join(METRIC_NEEDS)}")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"{owner}: x must be a non-empty batch (N, ...), got shape {x.shape}")
    y = as_labels(y, len(x), f"{owner}: y")
    if "model" in m.needs and model is None:
        raise ParameterError(f"{owner} needs the trained model; got model=None")
    is_method = isinstance(relevance, (str, RelevanceMethod))
    if method_params and not is_method:
        raise ParameterError(f"{owner}: method_params only apply when `relevance` is a method name")
    method_params = dict(method_params or {})
    if "method" in m.needs:
        if not is_method:
            raise ParameterError(f"{owner} recomputes maps for altered models, so `relevance` must be a relevance "
                                 f"method name (relmask list methods), not an array")
        return _checked_output(m, m.compute(model, x, y, (relevance, method_params), **resolved))
    if is_method:
        if model is None:
            raise ParameterError(f"{owner}: `relevance` is the method name {relevance!r}, which needs the model "
                                 f"to explain; got model=None")
        label_targets = resolved.get("target", "label") == "label"
        maps = explain(model, x, relevance, targets=y if label_targets else None, **method_params)
        for x_name, y_name, maps_name in m.extra_maps:  # e.g. ROAR's test set, explained the same way
            if resolved.get(maps_name) is None and resolved.get(x_name) is not None:
                xe = np.asarray(resolved[x_name], np.float32)
                ye = as_labels(resolved.get(y_name), len(xe), f"{owner}: {y_name}")
                resolved[maps_name] = explain(model, xe, relevance, targets=ye if label_targets else None,
                                              **method_params)
    else:
        maps = relevance
    _, maps = check_pair(x, maps)
    return _checked_output(m, m.compute(model, x, y, maps, **resolved))


def as_labels(y, n: int, what: str) -> np.ndarray:
    """``y`` checked as ``n`` integer class labels (int64); the errors name ``what`` (a metric's parameter)."""
    if y is None:
        raise ParameterError(f"{what} is required: one integer label per sample")
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{what} must be {n} integer labels, got {y.dtype} array of shape {y.shape}")
    return y.astype(np.int64)


def _checked_output(m: Metric, out) -> dict[str, Any]:
    if not isinstance(out, dict):
        from relmask.errors import ComponentOutputError
        from relmask.plugin_system.kinds import METRICS
        from relmask.plugin_system.plugins import registry

        entry = registry(METRICS).entries.get(m.name)
        plugin = f" (plugin {entry.plugin!r})" if entry is not None else ""
        raise ComponentOutputError(f"metric {m.name!r}{plugin} returned {type(out).__name__}, not a dict of "
                                   f"numbers")
    return out


# -- removal order -----------------------------------------------------------------------------------------
def unit_index(sample_shape: Sequence[int], patch_size: int | None) -> tuple[np.ndarray, int]:
    """(unit of every flattened value, number of units): each value its own unit, or p×p patches.

    Patches tile the first two sample axes (the first axis only for 1-D samples); the last row/column of patches
    may be smaller. Every further axis (channels) belongs to the same patch.
    """
    shape = tuple(int(s) for s in sample_shape)
    d = math.prod(shape)
    if patch_size is None:
        return np.arange(d), d
    if patch_size < 1:
        raise ParameterError(f"patch_size must be a positive int or None, got {patch_size}")
    spatial = shape[:2]
    grids = [np.arange(s) // patch_size for s in spatial]
    n_per_axis = [-(-s // patch_size) for s in spatial]
    coords = np.meshgrid(*grids, indexing="ij")
    units = np.ravel_multi_index(tuple(coords), n_per_axis)  # (H, W) or (D,)
    units = np.broadcast_to(units.reshape(units.shape + (1,) * (len(shape) - len(spatial))), shape)
    return units.reshape(-1).copy(), math.prod(n_per_axis)


def removal_ranks(relevance: np.ndarray, patch_size: int | None = None, normalize: str = "abs", seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """(MoRF rank, LeRF rank, number of units): per value, the step position of its unit in each order.

    Relevance is normalised per sample like the maskers do (:func:`relmask.pipeline.masking.normalize_relevance`) and
    summed per unit. Ties are broken at random (seeded), never by position — removing tied zeros of a
    Grad-CAM map top row first would bias the curves — and by the *same* random key in both orders, so a map
    without information (all values equal) gets identical MoRF and LeRF curves. Removing the values with
    rank < k removes the k first units of that order.
    """
    from scipy import sparse

    from relmask.pipeline.masking import normalize_relevance

    n = len(relevance)
    flat = normalize_relevance(np.asarray(relevance, np.float32), normalize).reshape(n, -1).astype(np.float64)
    unit_of, n_units = unit_index(relevance.shape[1:], patch_size)
    if n_units == flat.shape[1] and patch_size is None:
        per_unit = flat
    else:  # sum per unit as one sparse product (values x units), not a loop over patches
        onehot = sparse.csr_matrix((np.ones(len(unit_of)), (np.arange(len(unit_of)), unit_of)),
                                   shape=(len(unit_of), n_units))
        per_unit = np.asarray(onehot.T.dot(flat.T).T)
    tie_key = np.random.default_rng(seed).random(per_unit.shape)
    ranks = []
    for sign in (-1.0, 1.0):  # MoRF: descending relevance; LeRF: ascending
        order = np.lexsort((tie_key, sign * per_unit), axis=1)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(n_units)[None, :].repeat(n, axis=0), axis=1)
        ranks.append(rank[:, unit_of].astype(np.int32))
    return ranks[0], ranks[1], n_units


def removal_counts(n_units: int, steps: int, max_fraction: float) -> np.ndarray:
    """Units removed after each of ``steps`` steps (step 0: none), evenly up to ``max_fraction`` of them."""
    if steps < 1:
        raise ParameterError(f"steps must be >= 1, got {steps}")
    if not 0.0 < max_fraction <= 1.0:
        raise ParameterError(f"max_fraction must lie in (0, 1], got {max_fraction}")
    return np.round(np.arange(steps + 1) / steps * max_fraction * n_units).astype(np.int64)


# -- batched forward passes --------------------------------------------------------------------------------
def batched_logits(model, n_items: int, make_batch: Callable[[int, int], np.ndarray], batch_size: int = 256,
                   ) -> np.ndarray:
    """Pre-softmax logits (n_items, n_classes) of inputs built on demand by ``make_batch(start, stop)``.

    Uses the relevance engine's compiled logit function (the same logit relevance explains). Every batch has
    ``batch_size`` rows (the last one padded) so the function is traced once; perturbed inputs exist only one
    batch at a time.
    """
    from relmask.relevance.engine import logit_fn

    if batch_size < 1:
        raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
    if n_items < 1:  # no forward pass, so not even the number of classes is known
        raise ParameterError(f"batched_logits needs at least one item, got n_items={n_items}")
    f = logit_fn(model)
    out: np.ndarray | None = None
    for start in range(0, n_items, batch_size):
        stop = min(start + batch_size, n_items)
        xb = np.asarray(make_batch(start, stop), np.float32)
        k = len(xb)
        if n_items > batch_size and k < batch_size:
            xb = np.concatenate([xb, np.repeat(xb[-1:], batch_size - k, axis=0)])
        z = np.asarray(f(xb), np.float64)[:k]
        if out is None:
            out = np.empty((n_items, z.shape[1]), np.float64)
        out[start:stop] = z
    assert out is not None  # n_items >= 1: the loop ran
    return out


def resolve_targets(target: str, y: np.ndarray, base_logits: np.ndarray) -> np.ndarray:
    """The tracked class per sample: the label, or the class the logits of the unperturbed input predict."""
    n_classes = base_logits.shape[1]
    if target == "label":
        y = np.asarray(y, np.int64)
        if ((y < 0) | (y >= n_classes)).any():
            raise DataError(f"label {int(y[(y < 0) | (y >= n_classes)][0])} is out of range: the model has "
                            f"{n_classes} outputs")
        return y
    return base_logits.argmax(axis=1).astype(np.int64)


def perturbation_curves(model, x: np.ndarray, y: np.ndarray, relevance: np.ndarray, *, steps: int,
                        max_fraction: float, patch_size: int | None, normalize: str, target: str,
                        batch_size: int, seed: int, perturb: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                                                           np.ndarray]) -> dict[str, Any]:
    """MoRF and LeRF curves of the target logit and of accuracy, their areas and gaps.

    ``perturb(rows, removed, order, step)`` returns the perturbed inputs for samples ``x[rows]`` with the values
    where ``removed`` (bool, rows × values) is True taken out; ``order`` (0 MoRF, 1 LeRF) and ``step`` identify
    each row (for seeded noise). All (order, sample, step ≥ 1) inputs go through the model in chunks of
    ``batch_size``; step 0 (nothing removed) is evaluated once and shared by both curves.

    Areas follow AOPC (Samek et al. 2017): the mean over the steps 0..S of the drop ``logit(step 0) -
    logit(step s)``, averaged over samples; a faithful map has a large MoRF area and a small LeRF area.
    """
    n = len(x)
    rank_morf, rank_lerf, n_units = removal_ranks(relevance, patch_size, normalize, seed)
    ks = removal_counts(n_units, steps, max_fraction)
    base = batched_logits(model, n, lambda a, b: x[a:b], batch_size)
    targets = resolve_targets(target, y, base)
    # items in (order, sample, step) order: order-major so each curve is one reshape at the end
    order = np.repeat(np.arange(2), n * steps)
    rows = np.tile(np.repeat(np.arange(n), steps), 2)
    step = np.tile(np.arange(1, steps + 1), 2 * n)

    def make_batch(a: int, b: int) -> np.ndarray:
        o, r, s = order[a:b], rows[a:b], step[a:b]
        rank = np.where((o == 0)[:, None], rank_morf[r], rank_lerf[r])
        removed = rank < ks[s][:, None]
        return perturb(r, removed, o, s).reshape((len(r), *x.shape[1:]))

    z = batched_logits(model, len(order), make_batch, batch_size).reshape(2, n, steps, -1)
    pick = targets[None, :, None, None]
    logit = np.concatenate([np.broadcast_to(base[None, :, None, :], (2, n, 1, base.shape[1])), z], axis=2)
    target_logit = np.take_along_axis(logit, np.broadcast_to(pick, (2, n, steps + 1, 1)), axis=3)[..., 0]
    correct = logit.argmax(axis=3) == np.asarray(y)[None, :, None]
    out: dict[str, Any] = {"fractions": ks / n_units, "removed_units": ks, "n_units": n_units,
                           "targets": targets}
    for i, name in enumerate(ORDERS):
        out[f"logit_{name}"] = target_logit[i]
        out[f"accuracy_{name}"] = correct[i].mean(axis=0)
        out[f"aopc_{name}"] = float((target_logit[i][:, :1] - target_logit[i]).mean())
        out[f"accuracy_area_{name}"] = float(out[f"accuracy_{name}"].mean())
    out["aopc_gap"] = out["aopc_morf"] - out["aopc_lerf"]
    out["accuracy_gap"] = out["accuracy_area_lerf"] - out["accuracy_area_morf"]
    return out


# -- retraining --------------------------------------------------------------------------------------------
def retrain_accuracy(architecture: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                     y_test: np.ndarray, n_classes: int, *, seed: int, epochs: int, batch_size: int,
                     learning_rate: float, architecture_params: dict | None = None) -> float:
    """Test accuracy of a fresh ``architecture`` (a registered model name or a ModelSpec) trained on (x_train,
    y_train)."""
    (acc,) = retrain_accuracies(architecture, [(x_train, x_test, seed)], y_train, y_test, n_classes,
                                epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                architecture_params=architecture_params)
    return acc


def retrain_accuracies(architecture: str, jobs: Sequence[tuple[np.ndarray, np.ndarray, int]], y_train: np.ndarray,
                       y_test: np.ndarray, n_classes: int, *, epochs: int, batch_size: int, learning_rate: float,
                       architecture_params: dict | None = None) -> list[float]:
    """Test accuracies of fresh ``architecture`` models, one per ``(x_train, x_test, seed)`` job, trained
    together (:func:`relmask.pipeline.training.fit_all`); NaN for a model whose training failed (it is reported)."""
    from relmask.pipeline.training import Member, build_model, fit_all, predict_proba
    from relmask.scoring.evaluation import accuracy

    members = [Member(build_model(architecture, xtr.shape[1:], n_classes, seed=seed, **(architecture_params or {})),
                      xtr, y_train, seed=seed, name=f"retrained model {i + 1} (seed {seed})")
               for i, (xtr, _, seed) in enumerate(jobs)]
    results = fit_all(members, description="retraining", epochs=epochs, batch_size=batch_size,
                      learning_rate=learning_rate)
    return [accuracy(y_test, predict_proba(r.model, xte)) if r.ok else float("nan")
            for r, (_, xte, _) in zip(results, jobs, strict=True)]


# -- map similarity ----------------------------------------------------------------------------------------
def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each sample's flattened maps (average ranks for ties); NaN where a map is
    constant (its ranks carry no order)."""
    from scipy.stats import rankdata

    ra = rankdata(np.asarray(a, np.float64).reshape(len(a), -1), axis=1)
    rb = rankdata(np.asarray(b, np.float64).reshape(len(b), -1), axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra ** 2).sum(axis=1) * (rb ** 2).sum(axis=1))
    num = (ra * rb).sum(axis=1)
    return np.divide(num, denom, out=np.full(len(num), np.nan), where=denom > 0)


def ssim_rows(a: np.ndarray, b: np.ndarray, sigma: float = 1.5, data_range: float = 1.0) -> np.ndarray:
    """Mean structural similarity (Wang et al. 2004) of each pair of maps, with a Gaussian window.

    Maps are (N, D), (N, H, W) or (N, H, W, C): the window spans the first two sample axes (the only one of 1-D
    samples), never channels; borders reflect; the SSIM image is averaged over every position and channel.
    Constants C1 = (0.01 L)², C2 = (0.03 L)² with L = ``data_range``.
    """
    from scipy.ndimage import gaussian_filter

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise DataError(f"ssim: map shapes differ: {a.shape} vs {b.shape}")
    spatial = min(a.ndim - 1, 2)
    sig = [0.0] + [sigma] * spatial + [0.0] * (a.ndim - 1 - spatial)

    def blur(v):
        return gaussian_filter(v, sigma=sig, mode="reflect", truncate=3.5)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.reshape(len(s), -1).mean(axis=1)


__all__ = [
    "ORDERS",
    "Metric",
    "batched_logits",
    "evaluate",
    "perturbation_curves",
    "removal_counts",
    "removal_ranks",
    "retrain_accuracies",
    "retrain_accuracy",
    "spearman_rows",
    "ssim_rows",
    "unit_index",
]
