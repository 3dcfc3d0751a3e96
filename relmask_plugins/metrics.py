"""The built-in faithfulness metrics: pixel flipping, ROAD, ROAR/KAR and the model-randomisation sanity check.

Each is a :class:`relmask.plugin_system.components.Metric` built on the shared pieces of
:mod:`relmask.scoring.metrics`; docs/metrics.md
describes them with their papers and where relmask's version differs.
"""
from __future__ import annotations

import numpy as np

from relmask import hookimpl
from relmask.errors import DataError, ParameterError
from relmask.pipeline.masking import FILL_PARAMS, NORMALIZE_PARAM
from relmask.plugin_system.components import Metric, ModelSpec, Param
from relmask.scoring.metrics import (
    BATCH_SIZE_PARAM,
    PATCH_PARAM,
    SEED_PARAM,
    STEPS_PARAM,
    TARGET_PARAM,
    max_fraction_param,
    perturbation_curves,
)


class PixelFlipping(Metric):
    name = "pixel_flipping"
    description = ("pixel flipping / region perturbation (Samek et al. 2017): remove the most (MoRF) or least "
                   "(LeRF) relevant values or patches step by step with a masker fill; target-logit and accuracy "
                   "curves, AOPC areas and the MoRF-LeRF gap")
    needs = ("model", "maps")
    params = (STEPS_PARAM, max_fraction_param(1.0), PATCH_PARAM, TARGET_PARAM, NORMALIZE_PARAM, *FILL_PARAMS,
              SEED_PARAM, BATCH_SIZE_PARAM)

    def compute(self, model, x, y, relevance, steps, max_fraction, patch_size, target, normalize, fill,
                fill_value, blur_sigma, seed, batch_size):
        from relmask.pipeline.masking import fill_values

        n = len(x)
        flat = x.reshape(n, -1)
        # the fill of the whole batch once (dataset_mean and blur depend on all of x, as in relmask.mask)
        fills = np.ascontiguousarray(np.broadcast_to(fill_values(x, fill, fill_value, blur_sigma), x.shape)
                                     ).reshape(n, -1)

        def perturb(rows, removed, order, step):
            return np.where(removed, fills[rows], flat[rows])

        return perturbation_curves(model, x, y, relevance, steps=steps, max_fraction=max_fraction,
                                   patch_size=patch_size, normalize=normalize, target=target,
                                   batch_size=batch_size, seed=seed, perturb=perturb)


# -- ROAD: noisy linear imputation ------------------------------------------------------------------------
#: neighbours of a pixel and their weights in ROAD's imputation (Rong et al. 2022): direct 1/6, diagonal 1/12
NEIGHBOURS = ((-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6),
              (-1, -1, 1 / 12), (-1, 1, 1 / 12), (1, -1, 1 / 12), (1, 1, 1 / 12))


def as_grid(sample_shape) -> tuple[int, int, int]:
    """(H, W, C) view of a sample: (D,) is one row, (H, W) one channel, further axes are channels."""
    shape = tuple(int(s) for s in sample_shape)
    if len(shape) == 1:
        return 1, shape[0], 1
    return shape[0], shape[1], int(np.prod(shape[2:], dtype=np.int64))


def linear_impute(image: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """``image`` (H, W, C) with the pixels where ``removed`` (H, W) is True replaced by ROAD's linear imputation.

    Each removed pixel equals the weighted mean of its in-image neighbours (:data:`NEIGHBOURS`), known neighbours
    being fixed: one sparse linear system over the removed pixels, all channels as right-hand sides, solved
    with ``scipy.sparse.linalg.spsolve``. With every pixel removed nothing anchors the system: they become 0.
    """
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    h, w, c = image.shape
    out = np.array(image, np.float64)
    unknown = np.flatnonzero(removed)
    m = len(unknown)
    if m == 0:
        return out
    if m == h * w:
        out[:] = 0.0
        return out
    flat = out.reshape(h * w, c)
    index = np.full(h * w, -1)
    index[unknown] = np.arange(m)
    uy, ux = np.divmod(unknown, w)
    diag = np.zeros(m)
    rhs = np.zeros((m, c))
    rows, cols, vals = [], [], []
    for dy, dx, weight in NEIGHBOURS:
        ny, nx = uy + dy, ux + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        i = np.flatnonzero(inside)
        j = ny[inside] * w + nx[inside]
        diag[i] += weight  # one neighbour per offset: no repeated indices
        ju = index[j]
        free = ju >= 0
        rows.append(i[free])
        cols.append(ju[free])
        vals.append(np.full(int(free.sum()), -weight))
        rhs[i[~free]] += weight * flat[j[~free]]
    a = sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, m))
    a = a + sparse.diags(diag, format="csc")
    solution = spsolve(a, rhs)
    flat[unknown] = np.asarray(solution).reshape(m, c)
    return out


def road_impute(sample: np.ndarray, removed: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """One sample (any shape :func:`as_grid` accepts) with ``removed`` values imputed plus Gaussian noise of sd
    ``noise`` × the sample's standard deviation.

    Where the removal differs between channels (single values removed), each channel is imputed on its own.
    """
    h, w, c = as_grid(sample.shape)
    img = np.asarray(sample, np.float64).reshape(h, w, c)
    rem = np.asarray(removed, bool).reshape(h, w, c)
    if (rem == rem[..., :1]).all():
        out = linear_impute(img, rem[..., 0])
    else:
        out = np.stack([linear_impute(img[..., ch:ch + 1], rem[..., ch])[..., 0] for ch in range(c)], axis=-1)
    if noise > 0 and rem.any():
        out[rem] += rng.normal(0.0, noise * float(img.std()), size=int(rem.sum()))
    return out.reshape(sample.shape)


class Road(Metric):
    name = "road"
    description = ("ROAD (Rong et al. 2022): remove the MoRF/LeRF share of values and debias with noisy linear "
                   "imputation from the neighbours (no retraining); target-logit and accuracy curves and areas")
    needs = ("model", "maps")
    params = (STEPS_PARAM, max_fraction_param(0.9), PATCH_PARAM, TARGET_PARAM, NORMALIZE_PARAM,
              Param("noise", float, 0.01, "sd of the Gaussian noise added to imputed values, relative to each "
                    "sample's standard deviation", low=0.0), SEED_PARAM, BATCH_SIZE_PARAM)

    def compute(self, model, x, y, relevance, steps, max_fraction, patch_size, target, normalize, noise, seed,
                batch_size):

        def perturb(rows, removed, order, step):
            out = np.empty((len(rows), *x.shape[1:]), np.float32)
            for i, (r, o, s) in enumerate(zip(rows, order, step, strict=True)):
                # the noise of (sample, order, step) is its own stream: the same whatever the batching
                rng = np.random.default_rng((seed, int(o), int(r), int(s)))
                out[i] = road_impute(x[r], removed[i].reshape(x.shape[1:]), noise, rng)
            return out

        return perturbation_curves(model, x, y, relevance, steps=steps, max_fraction=max_fraction,
                                   patch_size=patch_size, normalize=normalize, target=target,
                                   batch_size=batch_size, seed=seed, perturb=perturb)


# -- ROAR / KAR --------------------------------------------------------------------------------------------
class RemoveAndRetrain(Metric):
    """ROAR (remove the most relevant share, masker ``negative``) or KAR (keep the most relevant share, masker
    ``keep``): retrain a fresh model per removed share and seed, on train and test data masked alike."""

    needs = ("maps", "retraining")
    extra_maps = (("x_test", "y_test", "test_relevance"),)

    def __init__(self, name: str, keep: bool):
        self.name, self.keep = name, keep
        paper = "keep-and-retrain (KAR" if keep else "remove-and-retrain (ROAR"
        self.description = (f"{paper}, Hooker et al. 2019): retrain a fresh registered model on data with the "
                            f"{'least' if keep else 'most'} relevant share removed, for several shares, beside a "
                            f"random-relevance control; test accuracy vs share and area scores")
        self.params = (
            Param("x_test", np.ndarray, None, "test inputs, masked like the training inputs (required)"),
            Param("y_test", np.ndarray, None, "test labels (required)"),
            Param("test_relevance", np.ndarray, None, "maps of x_test (None: explained like x where `relevance` "
                  "is a method name)"),
            Param("fractions", list, [0.1, 0.5, 0.9], "shares of values removed, each in (0, 1)"),
            Param("architecture", (str, ModelSpec), "", "model trained afresh: a registered name (relmask list "
                  "models) or a relmask.ModelSpec (required)"),
            Param("architecture_params", dict, {}, "parameters of the architecture"),
            Param("epochs", int, 5, "training epochs of every retrained model", low=1),
            Param("batch_size", int, 64, "training batch size", low=1),
            Param("learning_rate", float, 1e-3, "Adam learning rate", low=0.0, low_open=True),
            Param("seeds", list, [0], "one retrained model per share and seed (accuracies per seed returned)"),
            Param("random_control", bool, True, "also retrain on masks from shuffled relevance (same share)"),
            Param("target", str, "predicted", "class explained where `relevance` is a method name: predicted "
                  "(test masks never see the label) or label", choices=("label", "predicted")),
            NORMALIZE_PARAM, *FILL_PARAMS,
        )

    def compute(self, model, x, y, relevance, x_test, y_test, test_relevance, fractions, architecture,
                architecture_params, epochs, batch_size, learning_rate, seeds, random_control, target, normalize,
                fill, fill_value, blur_sigma):
        import relmask
        from relmask.pipeline.masking import check_pair, shuffle_relevance
        from relmask.scoring.metrics import as_labels, retrain_accuracies

        owner = f"metric {self.name!r}"
        if x_test is None or y_test is None:
            raise ParameterError(f"{owner} needs x_test and y_test (the retrained models' test data)")
        if test_relevance is None:
            raise ParameterError(f"{owner} needs test_relevance (maps of x_test), or a method name as `relevance`")
        if not architecture:
            raise ParameterError(f"{owner} needs architecture: a registered model name (relmask list models)")
        if not fractions or not all(isinstance(f, (int, float)) and 0.0 < f < 1.0 for f in fractions):
            raise ParameterError(f"{owner}: fractions must be a non-empty list of shares in (0, 1), got {fractions}")
        if not seeds or not all(isinstance(s, int) for s in seeds):
            raise ParameterError(f"{owner}: seeds must be a non-empty list of ints, got {seeds}")
        x_test, test_maps = check_pair(x_test, test_relevance)
        y_test = as_labels(y_test, len(x_test), f"{owner}: y_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(f"{owner}: x_test samples have shape {x_test.shape[1:]}, x samples {x.shape[1:]}")
        n_classes = int(max(y.max(), y_test.max())) + 1
        if model is not None:
            from relmask.relevance.engine import n_outputs

            n_classes = max(n_classes, n_outputs(model))
        masker = "keep" if self.keep else "negative"
        fill_params = dict(normalize=normalize, fill=fill, fill_value=fill_value, blur_sigma=blur_sigma)

        def share(f):  # KAR removes the least relevant share f, i.e. keeps the top 1 - f
            return 1.0 - f if self.keep else f

        fr = np.asarray(fractions, np.float64)
        # every model of the grid (baseline, each fraction, each random control; every seed) trains in one group
        jobs, where = [], []
        for j, seed in enumerate(seeds):
            jobs.append((x, x_test, seed))
            where.append(("baseline", None, j))
            # the control's permutation differs per seed, as a new random map would
            shuffled = (shuffle_relevance(relevance, seed=seed), shuffle_relevance(test_maps, seed=seed + 1))
            for i, f in enumerate(fr):
                kw = dict(fill_params, fraction=float(share(f)))
                jobs.append((relmask.mask(x, relevance, masker, **kw), relmask.mask(x_test, test_maps, masker, **kw),
                             seed))
                where.append(("acc", i, j))
                if random_control:
                    jobs.append((relmask.mask(x, shuffled[0], masker, **kw),
                                 relmask.mask(x_test, shuffled[1], masker, **kw), seed))
                    where.append(("random", i, j))
        accs = retrain_accuracies(architecture, jobs, y, y_test, n_classes, epochs=epochs, batch_size=batch_size,
                                  learning_rate=learning_rate, architecture_params=architecture_params)
        acc = np.empty((len(fr), len(seeds)))
        acc_random = np.full((len(fr), len(seeds)), np.nan)
        baseline = np.empty(len(seeds))
        for (kind, i, j), a in zip(where, accs, strict=True):
            if kind == "baseline":
                baseline[j] = a
            else:
                (acc if kind == "acc" else acc_random)[i, j] = a
        mean, mean_random = acc.mean(axis=1), acc_random.mean(axis=1)
        area, area_random = float(mean.mean()), float(mean_random.mean())
        # higher = more faithful: ROAR accuracy should fall below random, KAR accuracy stay above it
        score = (area - area_random) if self.keep else (area_random - area)
        return {"fractions": fr, "masker": masker, "accuracy": acc, "accuracy_random": acc_random,
                "baseline_accuracy": baseline, "accuracy_mean": mean, "accuracy_random_mean": mean_random,
                "accuracy_drop": baseline.mean() - mean, "area": area, "area_random": area_random,
                "score": float(score) if random_control else float("nan")}


# -- model randomisation -----------------------------------------------------------------------------------
def weighted_layers(model) -> list:
    """Layers that hold weights, input to output, nested models flattened."""
    from relmask.relevance.graph import all_layers

    return [layer for layer in all_layers(model) if layer.weights]


class ModelRandomisation(Metric):
    name = "model_randomisation"
    description = ("model-parameter randomisation sanity check (Adebayo et al. 2018): re-initialise layers "
                   "cascading from the top, recompute the maps; Spearman rank correlation and SSIM to the "
                   "trained model's maps (low = the method depends on the model)")
    needs = ("model", "method")
    params = (Param("layers", (int, type(None)), None, "weighted layers re-initialised, from the top (None: all)",
                    low=0),
              Param("absolute", bool, True, "compare |R| (Adebayo's default) rather than signed maps"),
              TARGET_PARAM, SEED_PARAM,
              Param("ssim_sigma", float, 1.5, "sd of SSIM's Gaussian window, in samples", low=0.0, low_open=True),
              Param("batch_size", int, 64, "explain()'s batch size", low=1))

    def compute(self, model, x, y, relevance, layers, absolute, target, seed, ssim_sigma, batch_size):
        import keras

        from relmask.pipeline.masking import normalize_relevance
        from relmask.pipeline.training import set_seed
        from relmask.relevance import explain
        from relmask.scoring.metrics import batched_logits, resolve_targets, spearman_rows, ssim_rows

        method, method_params = relevance
        try:
            work = keras.models.clone_model(model)
            set_seed(seed)  # the fresh weights come from the layers' own initialisers, seeded
            fresh = keras.models.clone_model(model)
        except Exception as exc:
            raise ParameterError(f"metric {self.name!r} clones the model (keras.models.clone_model) and cannot "
                                 f"clone this one: {type(exc).__name__}: {exc}") from exc
        work.set_weights(model.get_weights())
        trained_layers, fresh_layers = weighted_layers(work), weighted_layers(fresh)
        if len(trained_layers) != len(fresh_layers):
            raise ParameterError(f"metric {self.name!r}: the cloned model's layers do not line up with the model's")
        cascade = list(zip(trained_layers, fresh_layers, strict=True))[::-1]
        if layers is not None:
            if not 0 <= layers <= len(cascade):
                raise ParameterError(f"metric {self.name!r}: layers must lie in [0, {len(cascade)}] (the model's "
                                     f"weighted layers), got {layers}")
            cascade = cascade[:layers]
        targets = resolve_targets(target, y, batched_logits(model, len(x), lambda a, b: x[a:b], batch_size))
        mode = "abs" if absolute else "signed"

        def maps(m):
            r = explain(m, x, method, targets=targets, batch_size=batch_size, progress=False, **method_params)
            return np.abs(r) if absolute else r

        base = maps(model)
        base_norm = normalize_relevance(base, mode)
        rho = np.empty((len(cascade), len(x)))
        ssim = np.empty((len(cascade), len(x)))
        # one clone re-initialised in place step after step: its compiled functions see the new weights
        for i, (layer, new) in enumerate(cascade):
            layer.set_weights(new.get_weights())
            r = maps(work)
            rho[i] = spearman_rows(base, r)
            ssim[i] = ssim_rows(base_norm, normalize_relevance(r, mode), sigma=ssim_sigma)
        with np.errstate(all="ignore"):
            rho_mean = np.nanmean(rho, axis=1) if len(cascade) else np.empty(0)
        return {"layer_names": [layer.name for layer, _ in cascade], "spearman": rho, "ssim": ssim,
                "spearman_mean": rho_mean, "ssim_mean": ssim.mean(axis=1),
                "spearman_area": float(np.nanmean(rho)) if rho.size else float("nan"),
                "ssim_area": float(ssim.mean()) if ssim.size else float("nan"),
                "method": getattr(method, "name", method)}


@hookimpl
def register_metrics(register):
    register(PixelFlipping(), aliases=("region_perturbation",))
    register(Road())
    register(RemoveAndRetrain("roar", keep=False))
    register(RemoveAndRetrain("kar", keep=True))
    register(ModelRandomisation(), aliases=("model_randomization", "sanity_check"))
