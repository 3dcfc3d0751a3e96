"""The FER experiment's contribution to ``paper/``: learning curves per evaluation set, the learning-speed and
effects tables, drawn from the recorded results of its runs (called by :meth:`FerDataMasking.paper_outputs`)."""
from __future__ import annotations

from relmask.figures import PaperWriter, cell, mean_sd_cell


def paper_outputs(runs: list[tuple[dict, dict]], paper: PaperWriter) -> None:
    """Figure fer_learning_curves, tables fer_learning and fer_effects, and each synthetic run's examples."""
    runs = [(r, res) for r, res in runs if res.get("curves")]
    if not runs:
        return
    curves_figure(runs, paper)
    learning_table(runs, paper)
    effects_table(runs, paper)
    for record, results in runs:
        paper.example_figure(f"{record['name']}_examples", record, results)


def _fer_evals(results: dict) -> list[str]:
    from .experiment import EVALS, evals_of

    return [e for e in evals_of(results["curves"]) if e in EVALS]


def curves_figure(runs, paper: PaperWriter) -> None:
    """One row per run, one column per evaluation set; drawn by the notebook's own plotting helper."""
    import matplotlib.pyplot as plt

    from .experiment import draw_learning_curves

    ncols = max(len(_fer_evals(results)) for _, results in runs)
    fig, axes = plt.subplots(len(runs), ncols, figsize=(3.4 * ncols + 1.6, 2.8 * len(runs)), squeeze=False,
                             sharey="row", layout="constrained")
    for row, (record, results) in zip(axes, runs):
        evals = _fer_evals(results)
        colors: dict[str, str] = {}
        for ax, e in zip(row, evals):
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
              "AULC", "final acc.", "test acc."]
    rows = []
    for record, results in runs:
        for r in results.get("table", []):
            rows.append(["synthetic" if record.get("synthetic") else "real", record["name"], cell(r.get("variant")),
                         r.get("eval", "masked"), cell(r.get("masker")), cell(r.get("relevance")),
                         cell(r.get("control")), cell(r.get("n_seeds")), mean_sd_cell(r, "epochs_to_reach"),
                         mean_sd_cell(r, "acc_after_k"), mean_sd_cell(r, "aulc"), mean_sd_cell(r, "final_acc"),
                         mean_sd_cell(r, "test_acc")])
    caption = ("Mean ± sd over seeds; AULC: area under the validation-accuracy curve (normalised). Eval set: masked "
               "(masks from the trainer's prediction or label-free maps: the trainer is needed at test time), raw "
               "(the student alone), label_free (masks from the mean map over all classes).")
    paper.table("fer_learning", runs, "Facial expression recognition, learning speed of the student", header, rows,
                caption)


def effects_table(runs, paper: PaperWriter) -> None:
    from relmask.stats import format_effect

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
            from relmask.controls import leak_verdict

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
