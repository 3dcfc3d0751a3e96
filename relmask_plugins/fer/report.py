"""The FER experiment's tables and figures: the notebook's (the summary and effects tables as text, example faces,
learning curves) and its contribution to ``paper/`` (learning curves per evaluation set, the learning-speed and
effects tables, the size sweep), drawn from the recorded results of its runs (called by
:meth:`FerDataMasking.paper_outputs`). The numbers come from :mod:`relmask_plugins.fer.pipeline`."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from relmask.pipeline.controls import CONTROLS
from relmask.pipeline.data import Dataset
from relmask.running.figures import PaperWriter, cell, mean_sd_cell
from relmask.scoring.evaluation import mean_sd

from .pipeline import EVALS, MASK_ONLY, RAW, Variant, curves_by_variant, evals_of

# --- the notebook's tables -----------------------------------------------------------------------------

def format_table(table: Sequence[dict], reach_level: float, k: int) -> str:
    """The summary table as aligned text (for the notebook output)."""
    head = (f"{'variant':<20}{'eval set':<12}{'control':>10}{'masked':>8}"
            f"{'epochs to ' + format(reach_level, '.2f'):>17}{'acc after ' + str(k):>16}{'AULC':>15}"
            f"{'final acc':>15}{'test acc':>15}")
    lines = [head, "-" * len(head)]
    for r in table:
        reach = ("never" if not r["reached"] else
                 f"{r['epochs_to_reach_mean']:.1f}±{r['epochs_to_reach_sd']:.1f} ({r['reached']}/{r['n_seeds']})")
        control = r["control"] if isinstance(r["control"], str) else ("yes" if r["control"] else "")
        lines.append(f"{r['variant']:<20}{r.get('eval', 'masked'):<12}{control:>10}{r['masked_fraction']:>8.2f}"
                     f"{reach:>17}{r['acc_after_k_mean']:>10.3f}±{r['acc_after_k_sd']:.3f}"
                     f"{r['aulc_mean']:>9.3f}±{r['aulc_sd']:.3f}{r['final_acc_mean']:>9.3f}±{r['final_acc_sd']:.3f}"
                     f"{r.get('test_acc_mean', np.nan):>9.3f}±{r.get('test_acc_sd', np.nan):.3f}")
    return "\n".join(lines)


def format_effects(rows: Sequence[dict], metric: str = "aulc") -> str:
    """The effects of one metric as aligned text: variant, evaluation set, comparison, Δ [95 % CI]."""
    from relmask.scoring.stats import format_effect

    head = f"{'variant':<16}{'eval set':<12}{'against':<22}Δ {metric} (mean [95% CI], n)"
    lines = [head, "-" * (len(head) + 12)]
    for r in rows:
        if r["metric"] == metric:
            lines.append(f"{r['variant']:<16}{r['eval']:<12}{r['against']:<22}{format_effect(r)}")
    return "\n".join(lines)


# --- the notebook's figures ----------------------------------------------------------------------------

def plot_examples(val: Dataset, relevance: np.ndarray, variants: Sequence[Variant], stem: str | Path,
                  per_class: int = 1):
    """Grid: one row per class (first validation faces); columns face, relevance, then each masked variant
    (its ``masked`` validation input)."""
    import matplotlib.pyplot as plt

    from relmask.running.plotting import RELEVANCE_CMAP, apply_style, save_figure

    apply_style()
    rows = [i for c in range(val.n_classes) for i in np.flatnonzero(val.y == c)[:per_class]]
    masked = [v for v in variants if v.name != RAW]
    cols = 2 + len(masked)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.1 * cols, 1.15 * len(rows)), squeeze=False)
    for r, i in enumerate(rows):
        panels = [(val.x[i], "gray", "face"), (np.abs(relevance[i]), RELEVANCE_CMAP, "relevance")]
        panels += [(v.x_val["masked"][i], "gray", v.name) for v in masked]
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


EVAL_TITLES = {"masked": "masked validation images (trainer needed)", "raw": "raw validation images (standalone)",
               "label_free": "label-free masks (all classes)", "train_rule": "maps by the training rule"}


def draw_learning_curves(ax, curves: Sequence[dict], eval: str, reach_level: float | None = None,
                         colors: dict[str, str] | None = None) -> None:
    """Validation accuracy per epoch on one evaluation set, mean ± sd (ddof 1) over seeds, one line per
    variant (controls dashed in their masker's colour). The notebook and ``paper/`` both draw with this; pass one
    ``colors`` dict to several panels so a variant keeps its colour across them."""
    from relmask.running.plotting import PALETTE

    colors = {} if colors is None else colors
    for name, per_seed in curves_by_variant(curves, eval).items():
        n = min(len(c) for c in per_seed.values())
        a = np.stack([c[:n] for c in per_seed.values()])
        epochs = np.arange(1, n + 1)
        mean, sd = mean_sd(a, axis=0)  # the spread every table reports (ddof 1)
        base = name.rsplit("_", 1)[0] if name.rsplit("_", 1)[-1] in CONTROLS else name
        control = base != name or name == MASK_ONLY
        color = colors.setdefault(base, PALETTE[len(colors) % len(PALETTE)])
        ax.plot(epochs, mean, color=color, ls=(":" if name == MASK_ONLY else "--") if control else "-",
                marker="o", ms=2, label=f"{name} (n={len(a)})")
        ax.fill_between(epochs, mean - sd, mean + sd, color=color, alpha=0.12, lw=0)
    if reach_level is not None:
        ax.axhline(reach_level, color="0.5", lw=0.8, ls=":")
    ax.xaxis.set_major_locator(_integer_locator())
    ax.set_xlabel("epoch")
    ax.set_title(EVAL_TITLES.get(eval, eval), fontsize=8)


def _integer_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def plot_learning_curves(curves: Sequence[dict], stem: str | Path, reach_level: float | None = None):
    """One panel per evaluation set (masked, raw, label-free): validation accuracy per epoch, mean ± sd."""
    import matplotlib.pyplot as plt

    from relmask.running.plotting import apply_style, save_figure

    apply_style()
    sets = [e for e in evals_of(curves) if e in EVALS] or evals_of(curves)
    fig, axes = plt.subplots(1, len(sets), figsize=(4.0 * len(sets), 3.3), squeeze=False, sharey=True,
                             layout="constrained")
    colors: dict[str, str] = {}
    for ax, e in zip(axes[0], sets, strict=True):
        draw_learning_curves(ax, curves, e, reach_level, colors)
    axes[0, 0].set_ylabel("validation accuracy")
    axes[0, -1].legend(frameon=False, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save_figure(fig, stem)
    return fig


# --- paper/ --------------------------------------------------------------------------------------------

def paper_outputs(runs: list[tuple[dict, dict]], paper: PaperWriter) -> None:
    """Figure fer_learning_curves, tables fer_learning and fer_effects, and each synthetic run's examples; for
    the points of a sweep over the students' training-set size (``n_train``), figure and table fer_size_sweep
    instead of one learning-curve row per point."""
    runs = [(r, res) for r, res in runs if res.get("curves")]
    if not runs:
        return
    sizes = [(r, res) for r, res in runs if "n_train" in (r.get("sweep") or {})]
    others = [(r, res) for r, res in runs if (r, res) not in sizes]
    if len(sizes) >= 2:
        size_sweep_figure(sizes, paper)
        size_sweep_table(sizes, paper)
    else:
        others = runs
    if others:
        curves_figure(others, paper)
        learning_table(others, paper)
        effects_table(others, paper)
    for record, results in runs:
        paper.example_figure(f"{record['name']}_examples", record, results)


def _fer_evals(results: dict) -> list[str]:
    return [e for e in evals_of(results["curves"]) if e in EVALS]


def curves_figure(runs, paper: PaperWriter) -> None:
    """One row per run, one column per evaluation set; drawn by the notebook's own plotting helper."""
    import matplotlib.pyplot as plt

    ncols = max(len(_fer_evals(results)) for _, results in runs)
    fig, axes = plt.subplots(len(runs), ncols, figsize=(3.4 * ncols + 1.6, 2.8 * len(runs)), squeeze=False,
                             sharey="row", layout="constrained")
    for row, (record, results) in zip(axes, runs, strict=True):
        evals = _fer_evals(results)
        colors: dict[str, str] = {}
        for ax, e in zip(row, evals, strict=False):  # a run with fewer evaluation sets leaves cells empty
            draw_learning_curves(ax, results["curves"], e, results.get("reach_level"), colors)
            ax.set_title(f"{record['name']}: {ax.get_title()}", fontsize=7)
        row[0].set_ylabel("validation accuracy")
        row[len(evals) - 1].legend(fontsize=5, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        for ax in row[len(evals):]:
            ax.set_visible(False)
    fig.suptitle(paper.title("Facial expression recognition: students on raw vs relevance-masked data", runs),
                 fontsize=9)
    caption = ("Validation accuracy per epoch of the student trained on raw target data and on each "
               "relevance-masked variant, its controls (dashed: shuffled, other sample's and smooth random maps) "
               "and the mask-only control (dotted), scored on masked, raw and label-free validation images: "
               "mean ± sd (ddof 1) over seeds; dotted line: the accuracy level used for 'epochs to reach'.")
    paper.figure("fer_learning_curves", runs, fig, caption)


def learning_table(runs, paper: PaperWriter) -> None:
    ks = sorted({str(results.get("k")) for _, results in runs if results.get("k") is not None})
    levels = sorted({f"{results['reach_level']:.2f}" for _, results in runs
                     if results.get("reach_level") is not None})
    header = ["data", "run", "variant", "eval set", "masker", "relevance", "control", "seeds",
              f"epochs to reach {'/'.join(levels) or 'level'}", f"acc. after k={'/'.join(ks) or 'k'} epochs",
              "AULC", "final acc.", "test acc.", "majority class (test)", "trainer acc. (target val / test)"]
    rows = []
    for record, results in runs:
        trainer = " / ".join(cell(results[k]) for k in ("trainer_accuracy", "trainer_test_accuracy") if k in results)
        floors = [cell((results.get("majority_rate") or {}).get("test")), trainer or "–"]
        for r in results.get("table", []):
            rows.append(["synthetic" if record.get("synthetic") else "real", record["name"], cell(r.get("variant")),
                         r.get("eval", "masked"), cell(r.get("masker")), cell(r.get("relevance")),
                         cell(r.get("control")), cell(r.get("n_seeds")), mean_sd_cell(r, "epochs_to_reach"),
                         mean_sd_cell(r, "acc_after_k"), mean_sd_cell(r, "aulc"), mean_sd_cell(r, "final_acc"),
                         mean_sd_cell(r, "test_acc"), *floors])
    caption = ("Mean ± sd over seeds; AULC: area under the validation-accuracy curve (normalised). The majority "
               "class column is the test accuracy of always predicting the most frequent class; the trainer's "
               "accuracy is on the raw target validation faces, which it never trained on. Eval set: masked "
               "(masks from the trainer's prediction or label-free maps: the trainer is needed at test time), raw "
               "(the student alone), label_free (masks from the mean map over all classes).")
    paper.table("fer_learning", runs, "Facial expression recognition, learning speed of the student", header, rows,
                caption)


def effects_table(runs, paper: PaperWriter) -> None:
    from relmask.scoring.stats import format_effect

    header = ["data", "run", "variant", "eval set", "against", "Δ AULC (mean [95 % CI], seeds)",
              "Δ test acc. (mean [95 % CI], seeds)"]
    rows = []
    for record, results in runs:
        effects = results.get("effects") or []
        by = {(e["variant"], e["eval"], e["against"], e["metric"]): e for e in effects}
        for (variant, e, against) in dict.fromkeys((x["variant"], x["eval"], x["against"]) for x in effects):
            cells = [format_effect(by[(variant, e, against, m)]) if (variant, e, against, m) in by else "–"
                     for m in ("aulc", "test_acc")]
            rows.append(["synthetic" if record.get("synthetic") else "real", record["name"], variant, e, against,
                         *cells])
        leak = results.get("leak_check")
        if leak and "uses_label" not in leak:  # recorded before label-free rules were read as such
            from relmask.pipeline.controls import leak_verdict

            leak = leak_verdict(leak["mask_only"], leak["source"], leak["chance"],
                                uses_label=(results.get("params") or {}).get("train_mask_target") == "true")
        if leak:
            rows.append(["synthetic" if record.get("synthetic") else "real", record["name"], "mask_only",
                         "train_rule", "trainer", leak["text"], "–"])
    if not rows:
        return
    caption = ("Paired per-seed differences of a masked-data student against the raw-data student (same evaluation "
               "set; the raw student always sees raw images) and against its controls; 95 % interval "
               "(the wider of bootstrap and t) "
               "of the mean; 'within noise': the interval includes zero. The mask_only row reads the mask-only "
               "control against the trainer (a leak when true-class maps alone beat the trainer; label-free "
               "rules cannot leak).")
    paper.table("fer_effects", runs, "Facial expression recognition, effects with 95 % intervals", header, rows,
                caption)


# --- gain against the students' training-set size ----------------------------------------------------------

#: the comparisons a size sweep draws: each masker against the raw-data student, per evaluation set
SWEEP_METRICS = (("aulc", "Δ AULC"), ("test_acc", "Δ test accuracy"))


def _train_size(record: dict, results: dict) -> int:
    """The point's number of student training faces (``n_train`` 0 means the whole training split)."""
    return int((results.get("split_sizes") or {}).get("train") or record["sweep"]["n_train"])


def _mask_target(results: dict) -> str:
    return (results.get("params") or {}).get("train_mask_target", "predicted")


def sweep_gains(runs) -> list[dict]:
    """One row per (size, masker, mask target, evaluation set, metric): the paired effect of the masked-data
    student against the raw-data student at that size, read from each point's recorded ``effects``."""
    rows = []
    for record, results in runs:
        size, target = _train_size(record, results), _mask_target(results)
        raw = {r["eval"]: r for r in results.get("table", []) if r.get("variant") == "raw"}
        for e in results.get("effects") or []:
            if e["against"] == "raw" and e["metric"] in dict(SWEEP_METRICS):
                rows.append({"size": size, "masker": e["variant"], "mask_target": target, "eval": e["eval"],
                             "metric": e["metric"], "effect": e,
                             "raw_test_acc": (raw.get(e["eval"]) or {}).get("test_acc_mean"),
                             "majority": (results.get("majority_rate") or {}).get("test")})
    return sorted(rows, key=lambda r: (r["mask_target"], r["masker"], r["eval"], r["metric"], r["size"]))


def size_sweep_figure(runs, paper: PaperWriter) -> None:
    """Δ AULC and Δ test accuracy against the training-set size (log axis), one line per masker and mask target,
    one row per evaluation set, with the 95 % intervals as error bars."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    gains = sweep_gains(runs)
    sizes = sorted({g["size"] for g in gains})
    evals = [e for e in ("masked", "raw", "label_free") if any(g["eval"] == e for g in gains)]
    if not evals:
        return
    fig, axes = plt.subplots(len(evals), len(SWEEP_METRICS), figsize=(7.2, 2.4 * len(evals)), squeeze=False,
                             sharex=True, layout="constrained")
    lines = sorted({(g["masker"], g["mask_target"]) for g in gains})
    for row, e in zip(axes, evals, strict=True):
        for ax, (metric, label) in zip(row, SWEEP_METRICS, strict=True):
            for i, (masker, target) in enumerate(lines):
                pts = [g for g in gains if (g["masker"], g["mask_target"], g["eval"], g["metric"])
                       == (masker, target, e, metric)]
                if not pts:
                    continue
                # a small horizontal offset per line keeps overlapping error bars apart on the log axis
                x = np.array([g["size"] for g in pts]) * (1.0 + 0.04 * (i - (len(lines) - 1) / 2))
                m = np.array([g["effect"]["mean"] for g in pts])
                lo = np.array([g["effect"]["lo"] if g["effect"]["lo"] is not None else np.nan for g in pts])
                hi = np.array([g["effect"]["hi"] if g["effect"]["hi"] is not None else np.nan for g in pts])
                ax.errorbar(x, m, yerr=[m - lo, hi - m], marker="o", ms=3, capsize=2, lw=1,
                            label=f"{masker} ({target} masks)")
            ax.axhline(0.0, color="0.5", lw=0.8, ls=":")
            ax.set_xscale("log")
            ax.xaxis.set_minor_locator(NullLocator())  # the sizes themselves are the ticks
            ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
            ax.set_title(f"{label}, {e} evaluation images", fontsize=8)
            ax.tick_params(labelsize=7)
        row[0].set_ylabel("masked − raw student", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("student training faces", fontsize=8)
    axes[0][-1].legend(fontsize=6, frameon=False)
    fig.suptitle(paper.title("Facial expression recognition: the gain of relevance-based masking against the "
                             "size of the target training set", runs), fontsize=9)
    caption = ("Paired per-seed difference of each masked-data student against the raw-data student trained on "
               "the same faces with the same initial weights, at each size of the students' training set (nested "
               "subsets; trainer, validation and test faces fixed): mean and 95 % interval (the wider of "
               "bootstrap and t) over seeds; AULC over all epochs, test accuracy after the last; dotted: no gain.")
    paper.figure("fer_size_sweep", runs, fig, caption)


def size_sweep_verdict(gains: list[dict]) -> str:
    """One sentence: at which sizes, for which masker, mask target and evaluation set, masking's interval lies
    above zero (helps) or below zero (hurts); 'nowhere' when every interval includes zero."""
    def where(sign: int) -> list[str]:
        out = []
        for g in gains:
            e = g["effect"]
            lo, hi = e.get("lo"), e.get("hi")
            if lo is None or hi is None:
                continue
            if (sign > 0 and lo > 0) or (sign < 0 and hi < 0):
                out.append(f"{g['masker']}/{g['mask_target']}/{g['eval']} {g['metric']} at {g['size']}")
        return out

    helps, hurts = where(+1), where(-1)
    text = "Masking helps (interval above zero): " + ("; ".join(helps) if helps else "nowhere") + ". "
    return text + "It hurts (interval below zero): " + ("; ".join(hurts) if hurts else "nowhere") + "."


def size_sweep_table(runs, paper: PaperWriter) -> None:
    from relmask.scoring.stats import format_effect

    gains = sweep_gains(runs)
    if not gains:
        return
    by = {(g["size"], g["masker"], g["mask_target"], g["eval"], g["metric"]): g for g in gains}
    header = ["training faces", "masker", "mask target", "eval set", "Δ AULC (mean [95 % CI], seeds)",
              "Δ test acc. (mean [95 % CI], seeds)", "raw student test acc.", "majority class (test)"]
    rows = []
    for key in dict.fromkeys(k[:4] for k in by):
        cells = [format_effect(by[(*key, m)]["effect"]) if (*key, m) in by else "–" for m, _ in SWEEP_METRICS]
        any_row = by.get((*key, "aulc")) or by.get((*key, "test_acc"))
        rows.append([str(key[0]), key[1], key[2], key[3], *cells, cell(any_row["raw_test_acc"]),
                     cell(any_row["majority"])])
    caption = ("Each masked-data student against the raw-data student at each training-set size (nested subsets "
               "of the target training split; the trainer, validation and test faces fixed): paired per-seed "
               "differences, 95 % interval of the mean; 'within noise': the interval includes zero. "
               + size_sweep_verdict(gains))
    paper.table("fer_size_sweep", runs, "Facial expression recognition, gain of masking against the target "
                "set's size", header, rows, caption)
