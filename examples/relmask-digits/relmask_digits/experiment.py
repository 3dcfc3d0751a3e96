"""The ``digits`` experiment: do a teacher's relevance maps tell a fresh student which pixels to look at?

Per seed, on a stratified train/test split of scikit-learn's handwritten digits:

1. a **teacher** (``digits_cnn``) is trained on the raw digits and explained on the training and test images
   (``relevance_method``, e.g. LRP-ε). Every map explains the teacher's *predicted* class, so no map carries the
   label;
2. for every masker of ``maskers`` and every share of its ``masker_params[m]["fraction"]`` (a share, or a list of
   shares: the sweep of the figure's x axis) the masker encodes the maps in the images (``keep``: only the most
   relevant ``fraction`` of the pixels is left, the rest filled; ``negative``: exactly those are removed, i.e.
   remove-and-retrain), and a **student** of the same architecture, fresh weights, is trained on the masked
   training images and scored on the masked test images;
3. the same masker runs on **control** maps (:mod:`relmask.pipeline.controls`: ``shuffled`` keeps each map's values but
   not their places, ``permuted`` is another digit's map, ``smooth`` random blobs of the map's size), and a
   **raw** student learns from the unmasked digits.

Students of one seed share the split, the initial weights and the batch order, so the per-seed difference
relevance − control is the effect and its spread over seeds the noise (:func:`relmask.scoring.stats.paired_difference`).
The parameters are declared once, in :class:`DigitsExperiment`; the notebook ``notebooks/digits_masking.py``
calls the functions below in order, and :func:`plot_results` / :func:`table` draw the same figure and table in
the notebook and in ``paper/`` (:mod:`relmask_digits.paper`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from relmask.errors import ParameterError
from relmask.plugin_system.components import Experiment, ExperimentConfig, presets_in, shared_field

HERE = Path(__file__).resolve().parent
#: a student's initial weights come from seed + this, the teacher's from seed: the raw student is not the teacher
STUDENT_SEED_OFFSET = 1000
#: the student conditions besides the controls, in the order tables and figures show them
RELEVANCE, RAW = "relevance", "raw"
#: test digits drawn in the example figure
N_EXAMPLES = 6


@dataclass
class DigitsExperiment(ExperimentConfig):
    """Every parameter of the notebook, in its order, with its defaults (= the ``quick`` preset). The fields every
    experiment shares (relevance method, maskers and their parameters, model, schedule, seeds, output) are
    relmask's :func:`~relmask.plugin_system.components.shared_field` s: name, type, help text and checks come from
    relmask."""

    experiment_name: ClassVar[str] = "digits"

    n_digits: int | None = field(default=500, metadata={
        "help": "digits used: a stratified subset of the 1,797 (None: all)", "low": 100, "high": 1797})
    test_fraction: float = field(default=0.3, metadata={
        "help": "share of the digits held out to score the students", "low": 0.0, "high": 1.0,
        "low_open": True, "high_open": True})
    model: str = shared_field("model", "digits_cnn")  # the teacher and every student
    model_params: dict = shared_field("model_params", {})  # e.g. {filters: 8}
    relevance_method: str = shared_field("relevance_method", "lrp.epsilon")  # explains the teacher
    relevance_params: dict = shared_field("relevance_params (one method)", {})  # e.g. {epsilon: 0.01}
    # keep (the most relevant pixels stay) or negative (they are removed: remove-and-retrain); the digits sweep the
    # share: masker_params[m]["fraction"] may be a list of shares, each a point of the figure
    maskers: list[str] = shared_field("maskers", ["keep"])
    masker_params: dict[str, dict] = shared_field("masker_params", {"keep": {"fraction": [0.1, 0.3], "fill": "zero"}})
    controls: list[str] = field(default_factory=lambda: ["shuffled"], metadata={
        "help": "control maps, each masked the same way (shuffled, permuted, smooth)"})
    teacher_epochs: int = field(default=6, metadata={"help": "training epochs of the teacher", "low": 1})
    epochs: int = shared_field("epochs", 6)  # every student's
    batch_size: int = shared_field("batch_size", 32)
    learning_rate: float = shared_field("learning_rate", 0.003)
    seeds: list[int] = shared_field("seeds", [0, 1])  # one split, teacher and set of students per seed
    output_dir: str = shared_field("output_dir", "runs/digits")

    def check(self) -> None:
        """Names of registered components and cross-field rules, after the fields' own declarations (types,
        ranges, the shared fields' rules), checked before anything trains."""
        from relmask import get_masker, get_method, get_model
        from relmask.pipeline.controls import check_controls

        get_model(self.model).resolve_params(self.model_params)
        get_method(self.relevance_method).resolve_params(self.relevance_params)
        for m in self.maskers:
            accepted = {p.name for p in get_masker(m).params}
            if not {"fraction", "fill"} <= accepted:
                raise ParameterError(f"maskers: {m!r} has no 'fraction' and 'fill' parameters (it takes "
                                     f"{', '.join(sorted(accepted)) or 'none'}); the digits experiment selects a "
                                     "share of the pixels: use keep or negative")
        extra = sorted(set(self.masker_params) - set(self.maskers))
        if extra:
            raise ParameterError(f"masker_params has entries for {extra}, which are not in maskers {self.maskers}; "
                                 "give parameters per masker, e.g. {'negative': {'fraction': [0.1, 0.3]}}")
        for m in self.maskers:
            shares = fractions(self, m)
            if not shares or len(set(shares)) != len(shares):
                raise ParameterError(f"masker_params[{m!r}]['fraction'] must be a share or a non-empty list of "
                                     f"distinct shares, got {shares}")
            for f in shares:
                if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < f < 1.0:
                    raise ParameterError(f"masker_params[{m!r}]['fraction']: every share must lie in (0, 1), "
                                         f"got {f!r}")
                try:  # the masker's own declarations (fill, ...), as relmask.mask will apply them
                    get_masker(m).resolve_params(mask_params(self, m, f))
                except ParameterError as exc:
                    raise ParameterError(f"masker_params[{m!r}]: {exc}") from None
        check_controls(self.controls)

    @property
    def conditions(self) -> list[str]:
        """The masked conditions of every fraction: the real maps, then each control."""
        return [RELEVANCE, *self.controls]


def fractions(cfg: DigitsExperiment, masker: str) -> list:
    """The shares masker ``masker`` sweeps: ``masker_params[masker]["fraction"]`` as a list (a single share is a
    list of one; none given: the masker's default)."""
    from relmask import get_masker

    given = cfg.masker_params.get(masker, {})
    if "fraction" not in given:
        return [next(p.default for p in get_masker(masker).params if p.name == "fraction")]
    value = given["fraction"]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def mask_params(cfg: DigitsExperiment, masker: str, fraction: float) -> dict:
    """The parameters of ``masker`` at one share of its sweep."""
    return {**cfg.masker_params.get(masker, {}), "fraction": float(fraction)}


# -- data ------------------------------------------------------------------------------------------------------
def load_data(cfg: DigitsExperiment):
    """The digits (a :class:`relmask.pipeline.data.Dataset`) through the registered ``digits`` domain."""
    from relmask import get_domain

    return get_domain("digits").load("sklearn", n=cfg.n_digits, seed=0)


def describe_data(data) -> dict:
    """What ``results.json`` says about the data: where it comes from, how much, its fingerprint."""
    return {"domain": "digits", "source": data.extras["source"], "synthetic": False, "n": len(data),
            "class_counts": data.class_counts(), "fingerprint": data.fingerprint()}


def split(data, cfg: DigitsExperiment, seed: int):
    """(train, test) Datasets of one seed: stratified by digit."""
    from relmask.pipeline.data import stratified_split

    train, test = stratified_split(data.y, [1.0 - cfg.test_fraction, cfg.test_fraction], seed)
    return data.subset(train), data.subset(test)


# -- one seed ------------------------------------------------------------------------------------------------------
def _train(cfg: DigitsExperiment, x, y, n_classes: int, init_seed: int, epochs: int, seed: int, validation=None):
    """A fresh ``cfg.model`` (weights from ``init_seed``) trained on (x, y); returns (model, history)."""
    import relmask.running.progress as progress
    from relmask.pipeline.training import build_model, fit

    model = build_model(cfg.model, x.shape[1:], n_classes, seed=init_seed, **cfg.model_params)
    history = fit(model, x, y, epochs=epochs, batch_size=cfg.batch_size, seed=seed,
                  learning_rate=cfg.learning_rate, validation_data=validation,
                  callbacks=[progress.keras_callback()])
    return model, history


def _student(cfg, seed, masker, condition, fraction, x_train, train, x_test, test) -> dict:
    """Train one student on ``x_train`` and score it on ``x_test``: a result row."""
    from relmask.pipeline.training import predict_proba
    from relmask.scoring.evaluation import accuracy

    model, history = _train(cfg, x_train, train.y, train.n_classes, seed + STUDENT_SEED_OFFSET, cfg.epochs,
                            seed, validation=(x_test, test.y))
    return {"seed": seed, "masker": masker, "condition": condition, "fraction": fraction,
            "accuracy": accuracy(test.y, predict_proba(model, x_test)),
            # the share of the test images' ink the student still sees: keep-masking random pixels of a digit
            # leaves less ink than keeping its relevant ones, which a reader should see beside the accuracy
            "ink_kept": float(x_test.sum() / max(float(test.x.sum()), 1e-12)),
            "curve": [float(v) for v in history.get("val_accuracy", [])]}


def run_seed(cfg: DigitsExperiment, data, seed: int) -> dict:
    """Teacher, maps, controls and every student of one seed.

    Returns ``rows`` (one per student), ``teacher_accuracy`` and ``examples`` (the first test digits with their
    map and their masked versions at the first masker's smallest fraction, for :func:`plot_examples`).
    """
    import relmask
    import relmask.running.progress as progress
    from relmask.pipeline.controls import control_relevance
    from relmask.pipeline.training import predict_proba
    from relmask.scoring.evaluation import accuracy

    train, test = split(data, cfg, seed)
    with progress.stage("teacher"):
        teacher, _ = _train(cfg, train.x, train.y, train.n_classes, seed, cfg.teacher_epochs, seed)
    teacher_acc = accuracy(test.y, predict_proba(teacher, test.x))
    with progress.stage(f"{cfg.relevance_method} maps"):
        # targets=None: each map explains the teacher's prediction, so the label cannot reach the student
        maps = {RELEVANCE: (relmask.explain(teacher, train.x, cfg.relevance_method, **cfg.relevance_params),
                            relmask.explain(teacher, test.x, cfg.relevance_method, **cfg.relevance_params))}
    for c in cfg.controls:
        maps[c] = tuple(control_relevance(r, c, seed) for r in maps[RELEVANCE])

    with progress.stage("student raw"):
        rows = [_student(cfg, seed, None, RAW, None, train.x, train, test.x, test)]
    first = cfg.maskers[0]
    smallest = min(fractions(cfg, first))
    examples = {"x": test.x[:N_EXAMPLES], "y": test.y[:N_EXAMPLES], "relevance": maps[RELEVANCE][1][:N_EXAMPLES],
                "masker": first, "fraction": smallest, "masked": {}}
    for masker in cfg.maskers:
        for fraction in fractions(cfg, masker):
            kw = mask_params(cfg, masker, fraction)
            for condition in cfg.conditions:
                r_train, r_test = maps[condition]
                x_train = relmask.mask(train.x, r_train, masker, seed=seed, **kw)
                x_test = relmask.mask(test.x, r_test, masker, seed=seed, **kw)
                if masker == first and fraction == smallest:
                    examples["masked"][condition] = x_test[:N_EXAMPLES]
                stage = f"student {condition} {fraction:g}" if len(cfg.maskers) == 1 else \
                    f"student {masker} {condition} {fraction:g}"
                with progress.stage(stage):
                    rows.append(_student(cfg, seed, masker, condition, kw["fraction"], x_train, train, x_test, test))
    return {"rows": rows, "teacher_accuracy": teacher_acc, "n_train": len(train), "n_test": len(test),
            "examples": examples}


# -- summaries -------------------------------------------------------------------------------------------------
def summarise(rows: list[dict]) -> list[dict]:
    """Per masker, condition and fraction: accuracy and ink kept as mean ± sd over seeds (sd with ddof 1, as
    everywhere in relmask; 0 for one seed), and the learning curves' mean ± sd per epoch, the same spread."""
    from relmask.scoring.evaluation import mean_sd

    out = []
    keys = list(dict.fromkeys((r["masker"], r["condition"], r["fraction"]) for r in rows))
    for masker, condition, fraction in keys:
        sub = [r for r in rows if (r["masker"], r["condition"], r["fraction"]) == (masker, condition, fraction)]
        acc_m, acc_s = mean_sd([r["accuracy"] for r in sub])
        ink_m, _ = mean_sd([r["ink_kept"] for r in sub])
        curve_mean, curve_sd = mean_sd([r["curve"] for r in sub], axis=0)
        out.append({"masker": masker, "condition": condition, "fraction": fraction, "n_seeds": len(sub),
                    "accuracy_mean": acc_m,
                    "accuracy_sd": acc_s, "ink_kept_mean": ink_m, "curve_mean": curve_mean.tolist(),
                    "curve_sd": curve_sd.tolist()})
    return out


def effects(rows: list[dict], controls: list[str]) -> list[dict]:
    """Per masker and fraction: relevance − each control and relevance − raw, paired over seeds, with a 95 %
    interval."""
    from relmask.scoring.stats import format_effect, paired_difference

    def by_seed(masker, condition, fraction):
        return {r["seed"]: r["accuracy"] for r in rows
                if (r["masker"], r["condition"], r["fraction"]) == (masker, condition, fraction)}

    out = []
    for masker, fraction in dict.fromkeys((r["masker"], r["fraction"]) for r in rows if r["fraction"] is not None):
        for other, other_masker, other_fraction in [*((c, masker, fraction) for c in controls), (RAW, None, None)]:
            e = paired_difference(by_seed(masker, RELEVANCE, fraction), by_seed(other_masker, other, other_fraction))
            out.append({"masker": masker, "fraction": fraction, "versus": other, **{k: e[k] for k in
                        ("mean", "lo", "hi", "n", "includes_zero")}, "text": format_effect(e)})
    return out


def of_masker(summary: list[dict], masker: str) -> list[dict]:
    """The rows of ``summary`` (or of the effects) that a figure or table of ``masker`` shows: its own, and the raw
    student's."""
    return [s for s in summary if s.get("masker") in (masker, None)]


# -- figures and tables (the notebook's and paper/'s) --------------------------------------------------------
def fraction_label(masker: str) -> str:
    return {"keep": "share of pixels kept (the most relevant)",
            "negative": "share of pixels removed (the most relevant)"}.get(masker, f"{masker}: fraction")


def plot_results(summary: list[dict], masker: str, title: str = ""):
    """Two panels: test accuracy against the masker's share (relevance and control maps, mean ± sd over seeds as
    error bars; the raw student as a dashed line and band), and the students' learning curves at the smallest
    share. Drawn from :func:`summarise`'s rows (those of ``masker``) only, so the notebook and ``paper/`` draw the
    same figure."""
    import matplotlib.pyplot as plt

    from relmask.running.plotting import PALETTE, apply_style

    summary = of_masker(summary, masker)
    apply_style()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(8.0, 3.2))
    raw = next((s for s in summary if s["condition"] == RAW), None)
    conditions = list(dict.fromkeys(s["condition"] for s in summary if s["condition"] != RAW))
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate([RAW, *conditions])}
    if raw is not None:
        ax.axhline(raw["accuracy_mean"], color=colour[RAW], ls="--", label="raw digits")
        ax.axhspan(raw["accuracy_mean"] - raw["accuracy_sd"], raw["accuracy_mean"] + raw["accuracy_sd"],
                   color=colour[RAW], alpha=0.12, lw=0)
    for c in conditions:
        sub = sorted((s for s in summary if s["condition"] == c), key=lambda s: s["fraction"])
        f = np.array([s["fraction"] for s in sub])
        m, sd = np.array([s["accuracy_mean"] for s in sub]), np.array([s["accuracy_sd"] for s in sub])
        label = "relevance maps" if c == RELEVANCE else f"{c} maps (control)"
        # error bars, not a band: the shares are the only points measured, nothing lies between them
        ax.errorbar(f, m, yerr=sd, marker="o", capsize=3, color=colour[c], label=label)
    ax.set_xticks(sorted({s["fraction"] for s in summary if s["fraction"] is not None}))
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel(fraction_label(masker))
    ax.set_ylabel("student test accuracy")
    smallest = min((s["fraction"] for s in summary if s["fraction"] is not None), default=None)
    for s in summary:
        if s["fraction"] not in (None, smallest) or not s["curve_mean"]:
            continue
        m, sd = np.asarray(s["curve_mean"]), np.asarray(s["curve_sd"])
        epochs = np.arange(1, len(m) + 1)
        ax2.plot(epochs, m, color=colour[s["condition"]], ls="--" if s["condition"] == RAW else "-")
        ax2.fill_between(epochs, m - sd, m + sd, color=colour[s["condition"]], alpha=0.2, lw=0)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test accuracy")
    ax2.set_ylim(0.0, 1.02)
    ax2.set_title(f"learning curves at share {smallest:g}" if smallest is not None else "learning curves")
    n = max((s["n_seeds"] for s in summary), default=0)
    fig.suptitle(title or "Students on relevance-masked digits")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False,
               title=f"mean ± sd over {n} seed{'' if n == 1 else 's'}")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def plot_examples(examples: dict, masker: str):
    """Test digits (rows): the image, the teacher's map, and the image masked with each condition's map."""
    import matplotlib.pyplot as plt

    from relmask.running.plotting import RELEVANCE_CMAP, apply_style

    apply_style()
    columns = [("digit", examples["x"], "gray_r"), ("relevance", np.abs(examples["relevance"]), RELEVANCE_CMAP)]
    columns += [(f"{c} {examples['fraction']:g}", x, "gray_r") for c, x in examples["masked"].items()]
    n = len(examples["x"])
    fig, axes = plt.subplots(n, len(columns), figsize=(1.3 * len(columns), 1.3 * n), squeeze=False)
    for j, (name, images, cmap) in enumerate(columns):
        for i in range(n):
            ax = axes[i, j]
            ax.imshow(images[i, ..., 0], cmap=cmap, vmin=0 if cmap == "gray_r" else None,
                      vmax=1 if cmap == "gray_r" else None)
            ax.set_xticks([]), ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():  # a frame on all four sides: white pixels are part of the image
                spine.set_visible(True)
            if i == 0:
                ax.set_title(name)
            if j == 0:
                ax.set_ylabel(f"label {int(examples['y'][i])}")
    fig.suptitle(f"What the students see ({masker} masking)")
    fig.tight_layout()
    return fig


def table(summary: list[dict], effect_rows: list[dict], masker: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of ``masker``: per fraction the ink each condition's students see, the accuracy of each
    condition (mean ± sd) and relevance − each control and − raw as paired effects; the raw student last."""
    from relmask.running.figures import mean_sd_cell

    summary, effect_rows = of_masker(summary, masker), of_masker(effect_rows, masker)

    conditions = list(dict.fromkeys(s["condition"] for s in summary if s["condition"] != RAW))
    controls = [c for c in conditions if c != RELEVANCE]
    header = [fraction_label(masker), f"ink kept ({', '.join(conditions)})", *(f"{c} accuracy" for c in conditions),
              *(f"relevance − {c}" for c in [*controls, RAW])]
    rows = []
    for fraction in sorted({s["fraction"] for s in summary if s["fraction"] is not None}):
        at = {s["condition"]: s for s in summary if s["fraction"] == fraction}
        eff = {e["versus"]: e["text"] for e in effect_rows if e["fraction"] == fraction}
        rows.append([f"{fraction:g}", ", ".join(f"{at[c]['ink_kept_mean']:.2f}" for c in conditions),
                     *(mean_sd_cell(at[c], "accuracy") for c in conditions),
                     *(eff.get(c, "–") for c in [*controls, RAW])])
    raw = next((s for s in summary if s["condition"] == RAW), None)
    if raw is not None:
        rows.append(["raw digits (no mask)", "1.00", mean_sd_cell(raw, "accuracy"),
                     *("–" for _ in conditions[1:]), *("–" for _ in [*controls, RAW])])
    return header, rows


# -- the registered experiment ----------------------------------------------------------------------------------
class DigitsMasking(Experiment):
    """What ``relmask list experiments`` shows and ``relmask run digits`` / ``relmask reproduce`` run."""

    name = "digits"
    description = ("students on relevance-masked handwritten digits (scikit-learn's load_digits, real data) "
                   "against control maps and raw digits")
    config = DigitsExperiment
    notebook = HERE / "notebooks" / "digits_masking.ipynb"
    presets = presets_in(HERE / "presets")
    reproduce_configs: ClassVar[dict[str, Path]] = {"digits": HERE / "configs" / "digits.yaml"}

    def paper_outputs(self, runs, paper) -> None:
        from .paper import paper_outputs

        paper_outputs(runs, paper)
