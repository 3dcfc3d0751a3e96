"""The ``digits`` experiment: do a teacher's relevance maps tell a fresh student which pixels to look at?

Per seed, on a stratified train/test split of scikit-learn's handwritten digits:

1. a **teacher** (``digits_cnn``) is trained on the raw digits and explained on the training and test images
   (``method``, e.g. LRP-ε). Every map explains the teacher's *predicted* class, so no map carries the label;
2. for every ``fraction`` the ``masker`` encodes the maps in the images (``keep``: only the most relevant
   ``fraction`` of the pixels is left, the rest filled; ``negative``: exactly those are removed, i.e.
   remove-and-retrain), and a **student** of the same architecture, fresh weights, is trained on the masked
   training images and scored on the masked test images;
3. the same masker runs on **control** maps (:mod:`relmask.controls`: ``shuffled`` keeps each map's values but
   not their places, ``permuted`` is another digit's map, ``smooth`` random blobs of the map's size), and a
   **raw** student learns from the unmasked digits.

Students of one seed share the split, the initial weights and the batch order, so the per-seed difference
relevance − control is the effect and its spread over seeds the noise (:func:`relmask.stats.paired_difference`).
The parameters are declared once, in :class:`DigitsExperiment`; the notebook ``notebooks/digits_masking.py``
calls the functions below in order, and :func:`plot_results` / :func:`table` draw the same figure and table in
the notebook and in ``paper/`` (:mod:`relmask_digits.paper`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from relmask.components import Experiment, presets_in
from relmask.errors import ParameterError
from relmask.masking import FILL_MODES

HERE = Path(__file__).resolve().parent
#: a student's initial weights come from seed + this, the teacher's from seed: the raw student is not the teacher
STUDENT_SEED_OFFSET = 1000
#: the student conditions besides the controls, in the order tables and figures show them
RELEVANCE, RAW = "relevance", "raw"
#: test digits drawn in the example figure
N_EXAMPLES = 6


@dataclass
class DigitsExperiment:
    """Every parameter of the notebook, in its order, with its defaults (= the ``quick`` preset)."""

    n_digits: int | None = field(default=500, metadata={
        "help": "digits used: a stratified subset of the 1,797 (None: all)", "low": 100, "high": 1797})
    test_fraction: float = field(default=0.3, metadata={
        "help": "share of the digits held out to score the students", "low": 0.0, "high": 1.0,
        "low_open": True, "high_open": True})
    model: str = field(default="digits_cnn", metadata={
        "help": "architecture of the teacher and every student (relmask list models)"})
    model_params: dict = field(default_factory=dict, metadata={
        "help": "parameters of the architecture, e.g. {'filters': 8}"})
    method: str = field(default="lrp.epsilon", metadata={
        "help": "relevance method explaining the teacher (relmask list methods)"})
    method_params: dict = field(default_factory=dict, metadata={
        "help": "parameters of the relevance method, e.g. {'epsilon': 0.01}"})
    masker: str = field(default="keep", metadata={
        "help": "keep (the most relevant pixels stay) or negative (they are removed: remove-and-retrain)"})
    fractions: list[float] = field(default_factory=lambda: [0.1, 0.3], metadata={
        "help": "shares of the pixels the masker selects by relevance"})
    fill: str = field(default="zero", metadata={
        "help": "what replaces removed pixels (zero, dataset_mean, sample_mean, blur)", "choices": FILL_MODES})
    controls: list[str] = field(default_factory=lambda: ["shuffled"], metadata={
        "help": "control maps, each masked the same way (shuffled, permuted, smooth)"})
    teacher_epochs: int = field(default=6, metadata={"help": "training epochs of the teacher", "low": 1})
    student_epochs: int = field(default=6, metadata={"help": "training epochs of every student", "low": 1})
    batch_size: int = field(default=32, metadata={"help": "training batch size", "low": 1})
    learning_rate: float = field(default=0.003, metadata={
        "help": "Adam learning rate", "low": 0.0, "low_open": True})
    seeds: list[int] = field(default_factory=lambda: [0, 1], metadata={
        "help": "one split, teacher and set of students per seed"})
    output_dir: str = field(default="runs/digits", metadata={
        "help": "where results.json and figures/ go"})

    def validate(self) -> "DigitsExperiment":
        """Names of registered components and cross-field rules, checked before anything trains."""
        from relmask import get_masker, get_method, get_model
        from relmask.controls import check_controls

        get_model(self.model).resolve_params(self.model_params)
        get_method(self.method).resolve_params(self.method_params)
        masker = get_masker(self.masker)
        accepted = {p.name for p in masker.params}
        if not {"fraction", "fill"} <= accepted:
            raise ParameterError(f"masker: {self.masker!r} has no 'fraction' and 'fill' parameters (it takes "
                                 f"{', '.join(sorted(accepted)) or 'none'}); the digits experiment selects a share of "
                                 "the pixels: use keep or negative")
        if not self.fractions or len(set(self.fractions)) != len(self.fractions):
            raise ParameterError(f"fractions must be a non-empty list of distinct shares, got {self.fractions}")
        for f in self.fractions:
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < f < 1.0:
                raise ParameterError(f"fractions: every share must lie in (0, 1), got {f!r}")
            masker.resolve_params({"fraction": float(f), "fill": self.fill})
        self.fractions = [float(f) for f in self.fractions]
        check_controls(self.controls)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in self.seeds):
            raise ParameterError(f"seeds must be a non-empty list of distinct integers, got {self.seeds}")
        return self

    @property
    def conditions(self) -> list[str]:
        """The masked conditions of every fraction: the real maps, then each control."""
        return [RELEVANCE, *self.controls]


# -- data ------------------------------------------------------------------------------------------------------
def load_data(cfg: DigitsExperiment):
    """The digits (a :class:`relmask.data.Dataset`) through the registered ``digits`` domain."""
    from relmask import get_domain

    return get_domain("digits").load("sklearn", n=cfg.n_digits, seed=0)


def describe_data(data) -> dict:
    """What ``results.json`` says about the data: where it comes from, how much, its fingerprint."""
    return {"domain": "digits", "source": data.extras["source"], "synthetic": False, "n": len(data),
            "class_counts": data.class_counts(), "fingerprint": data.fingerprint()}


def split(data, cfg: DigitsExperiment, seed: int):
    """(train, test) Datasets of one seed: stratified by digit."""
    from relmask.data import stratified_split

    train, test = stratified_split(data.y, [1.0 - cfg.test_fraction, cfg.test_fraction], seed)
    return data.subset(train), data.subset(test)


# -- one seed ------------------------------------------------------------------------------------------------------
def _train(cfg: DigitsExperiment, x, y, n_classes: int, init_seed: int, epochs: int, seed: int, validation=None):
    """A fresh ``cfg.model`` (weights from ``init_seed``) trained on (x, y); returns (model, history)."""
    from relmask import progress
    from relmask.training import build_model, fit

    model = build_model(cfg.model, x.shape[1:], n_classes, seed=init_seed, **cfg.model_params)
    history = fit(model, x, y, epochs=epochs, batch_size=cfg.batch_size, seed=seed,
                  learning_rate=cfg.learning_rate, validation_data=validation,
                  callbacks=[progress.keras_callback()])
    return model, history


def _student(cfg, seed, condition, fraction, x_train, train, x_test, test) -> dict:
    """Train one student on ``x_train`` and score it on ``x_test``: a result row."""
    from relmask.evaluation import accuracy
    from relmask.training import predict_proba

    model, history = _train(cfg, x_train, train.y, train.n_classes, seed + STUDENT_SEED_OFFSET, cfg.student_epochs,
                            seed, validation=(x_test, test.y))
    return {"seed": seed, "condition": condition, "fraction": fraction,
            "accuracy": accuracy(test.y, predict_proba(model, x_test)),
            # the share of the test images' ink the student still sees: keep-masking random pixels of a digit
            # leaves less ink than keeping its relevant ones, which a reader should see beside the accuracy
            "ink_kept": float(x_test.sum() / max(float(test.x.sum()), 1e-12)),
            "curve": [float(v) for v in history.get("val_accuracy", [])]}


def run_seed(cfg: DigitsExperiment, data, seed: int) -> dict:
    """Teacher, maps, controls and every student of one seed.

    Returns ``rows`` (one per student), ``teacher_accuracy`` and ``examples`` (the first test digits with their
    map and their masked versions at the smallest fraction, for :func:`plot_examples`).
    """
    import relmask
    from relmask import progress
    from relmask.controls import control_relevance
    from relmask.evaluation import accuracy
    from relmask.training import predict_proba

    train, test = split(data, cfg, seed)
    with progress.stage("teacher"):
        teacher, _ = _train(cfg, train.x, train.y, train.n_classes, seed, cfg.teacher_epochs, seed)
    teacher_acc = accuracy(test.y, predict_proba(teacher, test.x))
    with progress.stage(f"{cfg.method} maps"):
        # targets=None: each map explains the teacher's prediction, so the label cannot reach the student
        maps = {RELEVANCE: (relmask.explain(teacher, train.x, cfg.method, **cfg.method_params),
                            relmask.explain(teacher, test.x, cfg.method, **cfg.method_params))}
    for c in cfg.controls:
        maps[c] = tuple(control_relevance(r, c, seed) for r in maps[RELEVANCE])

    with progress.stage("student raw"):
        rows = [_student(cfg, seed, RAW, None, train.x, train, test.x, test)]
    smallest = min(cfg.fractions)
    examples = {"x": test.x[:N_EXAMPLES], "y": test.y[:N_EXAMPLES], "relevance": maps[RELEVANCE][1][:N_EXAMPLES],
                "fraction": smallest, "masked": {}}
    for fraction in cfg.fractions:
        for condition in cfg.conditions:
            r_train, r_test = maps[condition]
            kw = {"fraction": fraction, "fill": cfg.fill}
            x_train = relmask.mask(train.x, r_train, cfg.masker, seed=seed, **kw)
            x_test = relmask.mask(test.x, r_test, cfg.masker, seed=seed, **kw)
            if fraction == smallest:
                examples["masked"][condition] = x_test[:N_EXAMPLES]
            with progress.stage(f"student {condition} {fraction:g}"):
                rows.append(_student(cfg, seed, condition, fraction, x_train, train, x_test, test))
    return {"rows": rows, "teacher_accuracy": teacher_acc, "n_train": len(train), "n_test": len(test),
            "examples": examples}


# -- summaries -------------------------------------------------------------------------------------------------
def summarise(rows: list[dict]) -> list[dict]:
    """Per condition and fraction: accuracy and ink kept as mean ± sd over seeds (sd with ddof 1, as everywhere in
    relmask; 0 for one seed), and the learning curves' mean ± sd per epoch, the same spread."""
    from relmask.evaluation import mean_sd

    out = []
    keys = list(dict.fromkeys((r["condition"], r["fraction"]) for r in rows))
    for condition, fraction in keys:
        sub = [r for r in rows if r["condition"] == condition and r["fraction"] == fraction]
        acc_m, acc_s = mean_sd([r["accuracy"] for r in sub])
        ink_m, _ = mean_sd([r["ink_kept"] for r in sub])
        curve_mean, curve_sd = mean_sd([r["curve"] for r in sub], axis=0)
        out.append({"condition": condition, "fraction": fraction, "n_seeds": len(sub), "accuracy_mean": acc_m,
                    "accuracy_sd": acc_s, "ink_kept_mean": ink_m, "curve_mean": curve_mean.tolist(),
                    "curve_sd": curve_sd.tolist()})
    return out


def effects(rows: list[dict], controls: list[str]) -> list[dict]:
    """Per fraction: relevance − each control and relevance − raw, paired over seeds, with a 95 % interval."""
    from relmask.stats import format_effect, paired_difference

    def by_seed(condition, fraction):
        return {r["seed"]: r["accuracy"] for r in rows if r["condition"] == condition and r["fraction"] == fraction}

    out = []
    for fraction in dict.fromkeys(r["fraction"] for r in rows if r["fraction"] is not None):
        for other, other_fraction in [*((c, fraction) for c in controls), (RAW, None)]:
            e = paired_difference(by_seed(RELEVANCE, fraction), by_seed(other, other_fraction))
            out.append({"fraction": fraction, "versus": other, **{k: e[k] for k in
                        ("mean", "lo", "hi", "n", "includes_zero")}, "text": format_effect(e)})
    return out


# -- figures and tables (the notebook's and paper/'s) --------------------------------------------------------
def fraction_label(masker: str) -> str:
    return {"keep": "share of pixels kept (the most relevant)",
            "negative": "share of pixels removed (the most relevant)"}.get(masker, f"{masker}: fraction")


def plot_results(summary: list[dict], masker: str, title: str = ""):
    """Two panels: test accuracy against the masker's share (relevance and control maps, mean ± sd over seeds as
    error bars; the raw student as a dashed line and band), and the students' learning curves at the smallest
    share. Drawn from :func:`summarise`'s rows only, so the notebook and ``paper/`` draw the same figure."""
    import matplotlib.pyplot as plt

    from relmask.plotting import PALETTE, apply_style

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

    from relmask.plotting import RELEVANCE_CMAP, apply_style

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
    """(header, rows): per fraction the ink each condition's students see, the accuracy of each condition
    (mean ± sd) and relevance − each control and − raw as paired effects; the raw student last."""
    from relmask.figures import mean_sd_cell

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
    reproduce_configs = {"digits": HERE / "configs" / "digits.yaml"}

    def paper_outputs(self, runs, paper) -> None:
        from .paper import paper_outputs

        paper_outputs(runs, paper)
