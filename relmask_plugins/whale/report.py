"""The whale experiment's figures and tables: the notebook's (ROC curves of the first seed, example spectrograms,
the Markdown AUC table on disk) and its contribution to ``paper/`` (the AUC figure, ROC curves and the AUC and
effects tables), drawn from the recorded results of its runs (called by :meth:`WhaleFeatureMasking.paper_outputs`).
The numbers and the Markdown tables come from :mod:`relmask_plugins.whale.pipeline`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from relmask.pipeline.controls import CONTROLS
from relmask.pipeline.data import Dataset
from relmask.running.figures import PaperWriter, cell, mean_sd_cell, sweep_point

from .pipeline import degenerate_flags, degenerate_note, effect_method

#: order and display names of the whale systems (notebook `system` values)
SYSTEMS = {"cnn1": "CNN₁", "cnn2": "CNN₂ (masked)", "fusion": "fusion CNN₁+CNN₂",
           "ensemble_raw": "control: CNN₁+raw CNN", "cnn_raw": "control: raw CNN (other seed)",
           "cnn2_shuffled": "control: CNN₂ shuffled R", "fusion_shuffled": "control: fusion shuffled R",
           "cnn2_permuted": "control: CNN₂ other clip's R", "fusion_permuted": "control: fusion other clip's R",
           "cnn2_smooth": "control: CNN₂ smooth random R", "fusion_smooth": "control: fusion smooth random R",
           "mask_only": "control: maps alone (leak check)",
           # results recorded before the structured controls existed
           "cnn2_random": "control: CNN₂ random R", "fusion_random": "control: fusion random R"}
#: systems drawn hatched (controls)
CONTROL_SYSTEMS = tuple(k for k, v in SYSTEMS.items() if v.startswith("control"))


# -- the notebook's figures and table ----------------------------------------------------------------------
def roc_labels(results: dict, rule: str | None = None) -> list[str]:
    """The curves worth drawing: CNN1, the raw ensemble, and per run CNN2, its fusion and the first control's
    fusion."""
    rules = results["params"]["fusion_rules"]
    rule = rule or (rules[0] if rules else None)
    labels = ["cnn1"] + ([f"ensemble_raw/{rule}"] if rule else [])
    for m in results["params"]["relevance_methods"]:
        for k in results["params"]["maskers"]:
            control = results["params"].get("controls", ["shuffled"])[:1]
            labels += [f"{m}/{k}/cnn2"] + ([f"{m}/{k}/fusion/{rule}"] if rule else [])
            labels += [f"{m}/{k}/fusion_{c}/{rule}" for c in control if rule]
    return [lb for lb in labels if lb in results["roc"]]


def plot_roc(results: dict, output_dir: str | Path, rule: str | None = None):
    """ROC curves of the first seed -> ``{output_dir}/figures/roc.{png,pdf}``; returns the figure."""
    import matplotlib.pyplot as plt

    from relmask.running.plotting import apply_style, save_figure

    apply_style()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    for label in roc_labels(results, rule):
        c = results["roc"][label]
        ls = ":" if any(f"_{c}" in label for c in CONTROLS) else ("--" if "raw" in label else "-")
        ax.plot(c["fpr"], c["tpr"], ls, label=f"{label} ({c['auc']:.3f})")
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1), ylim=(0, 1.01),
           title=f"ROC, seed {results['params']['seeds'][0]} (AUC)")
    ax.legend(loc="lower right", fontsize=6)
    save_figure(fig, Path(output_dir) / "figures" / "roc")
    return fig


def plot_examples(results: dict, ds: Dataset, output_dir: str | Path, method: str | None = None,
                  masker: str | None = None):
    """Example test spectrograms: input, relevance overlay, masked, masked by the first control's maps ->
    figures/examples."""
    import matplotlib.pyplot as plt

    from relmask.running.plotting import RELEVANCE_CMAP, apply_style, save_figure

    apply_style()
    ex = results["examples"]
    method = method or results["params"]["relevance_methods"][0]
    masker = masker or results["params"]["maskers"][0]
    key = f"{method}/{masker}"
    freqs, times = np.asarray(ds.freqs), np.asarray(ds.times)
    extent = (times[0], times[-1], freqs[0], freqs[-1])
    n = len(ex["y"])
    fig, axes = plt.subplots(n, 4, figsize=(9, 2.0 * n + 0.3), squeeze=False, sharex=True, sharey=True)
    control = (results["params"].get("controls") or ["shuffled"])[0]
    titles = ["spectrogram", f"{method} relevance", f"{masker}-masked", f"{masker}, {control} control maps"]
    for i in range(n):
        spec = ex["x"][i, ..., 0]
        r = np.abs(ex["relevance"][method][i, ..., 0])
        panels = [spec, None, ex["masked"][key][i, ..., 0], ex["masked_control"].get(key, ex["masked"][key])[i, ..., 0]]
        for j, ax in enumerate(axes[i]):
            kw = dict(origin="lower", aspect="auto", extent=extent)
            if j == 1:
                ax.imshow(spec, cmap="gray", **kw)
                ax.imshow(r / max(r.max(), 1e-12), cmap=RELEVANCE_CMAP, alpha=0.6, **kw)
            else:
                ax.imshow(panels[j], cmap="viridis", vmin=spec.min(), vmax=spec.max(), **kw)
            ax.grid(False)
            if i == 0:
                ax.set_title(titles[j])
            if j == 0:
                ax.set_ylabel(f"{ex['ids'][i]} ({ds.class_names[ex['y'][i]]})\nHz")
            if i == n - 1:
                ax.set_xlabel("s")
    save_figure(fig, Path(output_dir) / "figures" / "examples")
    return fig


def write_table(results: dict, output_dir: str | Path) -> Path:
    """The Markdown AUC table as ``{output_dir}/auc_table.md``."""
    from relmask.io import atomic_write

    return atomic_write(Path(output_dir) / "auc_table.md", results["table_markdown"])


# -- paper/ ------------------------------------------------------------------------------------------------
def paper_outputs(runs: list[tuple[dict, dict]], paper: PaperWriter) -> None:
    """Figures whale_auc and whale_roc, tables whale_auc and whale_effects, and each synthetic run's examples."""
    runs = [(r, res) for r, res in runs if res.get("summary")]
    if not runs:
        return
    auc_figure(runs, paper)
    roc_figure(runs, paper)
    auc_table(runs, paper)
    effects_table(runs, paper)
    for record, results in runs:
        paper.example_figure(f"{record['name']}_examples", record, results)


def groups_of(runs: list[tuple[dict, dict]]) -> list[tuple[str, dict[str, dict]]]:
    """``(label, {system: summary row})`` per relevance × masker, over all whale runs.

    Rows without relevance/masker (CNN₁, the raw ensemble) belong to every group of their run; fusion
    systems show the ``mean`` rule where several were recorded (the table lists them all). The points of a sweep
    (``relmask reproduce``'s ``sweep:``) are groups of their own, labelled with the point.
    """
    groups: dict[str, dict[str, dict]] = {}
    for record, results in runs:
        rows = results["summary"]
        pairs = list(dict.fromkeys((r.get("relevance"), r.get("masker")) for r in rows
                                   if r.get("relevance") is not None and r.get("masker") is not None))
        point = sweep_point(record)
        for rel, msk in pairs or [(None, None)]:
            label = f"{rel}\n{msk}" if rel is not None else record["name"]
            label += f"\n{point}" if point and rel is not None else ""
            chosen = groups.setdefault(label, {})
            for r in rows:
                if r.get("relevance") not in (rel, None) or r.get("masker") not in (msk, None):
                    continue
                sys_ = r["system"]
                prefer = r.get("fusion_rule") in (None, "mean")
                if sys_ not in chosen or (prefer and chosen[sys_].get("fusion_rule") not in (None, "mean")):
                    chosen[sys_] = r
    return list(groups.items())


def auc_figure(runs, paper: PaperWriter) -> None:
    import matplotlib.pyplot as plt

    from relmask.running.plotting import PALETTE

    groups = groups_of(runs)
    systems = [s for s in SYSTEMS if any(s in g for _, g in groups)]
    systems += sorted({s for _, g in groups for s in g} - set(systems))
    width = 0.8 / max(len(systems), 1)
    fig, ax = plt.subplots(figsize=(max(4.5, len(groups) * max(len(systems), 1) * 0.4 + 2.5), 3.2),
                           layout="constrained")
    lo = 1.0
    for j, system in enumerate(systems):
        xs, means, sds = [], [], []
        for i, (_, g) in enumerate(groups):
            if system in g:
                xs.append(i + (j - (len(systems) - 1) / 2) * width)
                means.append(g[system]["auc_mean"])
                sds.append(g[system].get("auc_sd") or 0.0)
        if not xs:
            continue
        lo = min(lo, min(np.asarray(means) - np.asarray(sds)))
        hatch = "//" if system in CONTROL_SYSTEMS else None
        ax.bar(xs, means, width, yerr=sds, capsize=2, color=PALETTE[j % len(PALETTE)], hatch=hatch,
               edgecolor="white", linewidth=0.5, label=SYSTEMS.get(system, system))
    ax.set_xticks(range(len(groups)), [label for label, _ in groups])
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    ax.set_ylabel("ROC AUC (mean ± sd over seeds)")
    ax.set_xlabel("relevance method / masker")
    n = sorted({r.get("n_seeds") for _, g in groups for r in g.values() if r.get("n_seeds") is not None})
    ax.set_title(paper.title("Whale up-call detection: relevance-based feature masking", runs))
    ax.grid(axis="x", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    caption = ("ROC AUC on held-out clips of CNN₁ (raw spectrograms), CNN₂ (trained on relevance-masked "
               "spectrograms) and their decision-level fusion (mean of probabilities), per relevance method and "
               f"masker; hatched bars are the controls. Error bars: sd over seeds (n = {', '.join(map(str, n))}).")
    paper.figure("whale_auc", runs, fig, caption)


def roc_figure(runs, paper: PaperWriter) -> None:
    import matplotlib.pyplot as plt

    panels = [(record, results["roc"]) for record, results in runs if isinstance(results.get("roc"), dict)
              and results["roc"]]
    if not panels:
        return
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.9 * nrows), squeeze=False,
                             layout="constrained")
    for ax, (record, roc) in zip(axes.flat, panels, strict=False):  # the grid's last row may have spare cells
        for label, curve in roc.items():
            if label.rsplit("/", 1)[-1] in ("product", "max"):  # one fusion rule (mean) keeps panels readable
                continue
            parts = label.split("/")  # "<method>/<masker>/<system>[/<rule>]": the panel title names the run
            ax.plot(curve["fpr"], curve["tpr"], label="/".join(parts[2:] if len(parts) > 2 else parts))
        ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
        ax.set_title(record["name"])
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_aspect("equal")
        ax.legend(loc="lower right", fontsize=6)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(paper.title("Whale up-call detection: ROC curves", runs), fontsize=9)
    paper.figure("whale_roc", runs, fig, "ROC curves on held-out clips (first seed) per run; fusions with the mean "
                                        "rule (the table lists every rule).")


def degenerate_of(runs) -> tuple[list[dict[str, str]], str]:
    """Per run its methods' cells (``{method: cell}``: whether the maps are degenerate for more than 5 % of any
    seed's training or test clips; :func:`relmask_plugins.whale.pipeline.degenerate_flags`), and one caption
    sentence per run with flagged methods, naming their counts per seed ('' when no run has any: the tables then
    have no such column)."""
    flags = [degenerate_flags(results.get("degenerate_maps"), always=True) for _, results in runs]
    notes = [(record["name"], degenerate_note(results.get("degenerate_maps"))) for record, results in runs]
    named = len(runs) > 1
    text = " ".join(f"{f'Run {name}: ' if named else ''}{note}" for name, note in notes if note)
    return flags, text


def auc_table(runs, paper: PaperWriter) -> None:
    swept = any(sweep_point(record) for record, _ in runs)  # points of a sweep: a column says which
    flags, note = degenerate_of(runs)
    flagged = bool(note)  # a method's maps degenerate for > 5 % of clips: a column says so beside its rows
    header = ["data", *(["sweep point"] if swept else []), "relevance", "masker", "system", "fusion rule",
              "AUC (mean ± sd)", "seeds", *(["degenerate maps"] if flagged else [])]
    rows, seen = [], set()
    for (record, results), flag in zip(runs, flags, strict=True):
        for r in results["summary"]:
            ident = (sweep_point(record), r.get("relevance"), r.get("masker"), r["system"], r.get("fusion_rule"))
            if ident in seen:  # CNN₁ and the raw ensemble repeat in every run of a grid
                continue
            seen.add(ident)
            rows.append(["synthetic" if record.get("synthetic") else "real",
                         *([cell(sweep_point(record))] if swept else []), cell(r.get("relevance")),
                         cell(r.get("masker")), SYSTEMS.get(r["system"], r["system"]),
                         cell(r.get("fusion_rule")), mean_sd_cell(r, "auc"), cell(r.get("n_seeds")),
                         *([flag.get(r.get("relevance"), "–")] if flagged else [])])
    caption = ("CNN₁, CNN₂ on masked features, their fusion and the controls (raw ensemble, CNN₂ and fusion on "
               "shuffled, other clips' and smooth random maps, a CNN on the maps alone), mean ± sd over seeds.")
    caption += f" {note}" if note else ""
    paper.table("whale_auc", runs, "Whale up-call detection, ROC AUC", header, rows, caption)


def effects_table(runs, paper: PaperWriter) -> None:
    from relmask.scoring.stats import format_effect

    flags, note = degenerate_of(runs)
    flagged = bool(note)
    header = ["data", "run", "comparison", "Δ AUC (mean [95 % CI], seeds)", "DeLong p < 0.05 (seeds)", "median p",
              *(["degenerate maps"] if flagged else [])]
    rows = [["synthetic" if record.get("synthetic") else "real", record["name"], e["comparison"],
             format_effect(e, 4), f"{e['delong_significant']}/{e['delong_n']}", f"{e['delong_median_p']:.3g}",
             *([flag.get(effect_method(e), "–")] if flagged else [])]
            for (record, results), flag in zip(runs, flags, strict=True) for e in results.get("effects") or []]
    if not rows:
        return
    caption = ("Paired per-seed AUC differences (95 % interval of the mean: the wider of bootstrap and t; "
               "'within noise': the interval includes zero) and DeLong's test over the test clips of each seed. "
               "Fusion: mean rule.")
    caption += f" {note}" if note else ""
    paper.table("whale_effects", runs, "Whale up-call detection, effects with 95 % intervals", header, rows, caption)
