"""``relmask figures``: paper figures, tables and ``manifest.json`` from the recorded results of runs.

Input is a list of run records (``done.json`` of :mod:`relmask.reproduce`): each points at a ``results.json``.
A run is a whale run when it recorded ``summary`` rows with a ``system`` (Paper B) and a FER run when it
recorded ``curves`` (Paper A). Figures are saved with :func:`relmask.plotting.save_figure` (PNG + PDF, one
style); tables as Markdown and LaTeX. Every figure and table from synthetic data says so in its title or
header, and ``manifest.json`` records, per output, the provenance of every run it was drawn from.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .io import atomic_write, read_json, write_json

#: order and display names of the whale systems (notebook `system` values)
WHALE_SYSTEMS = {"cnn1": "CNN₁", "cnn2": "CNN₂ (masked)", "fusion": "fusion CNN₁+CNN₂",
                 "ensemble_raw": "control: CNN₁+raw CNN", "cnn_raw": "control: raw CNN (other seed)",
                 "cnn2_shuffled": "control: CNN₂ shuffled R", "fusion_shuffled": "control: fusion shuffled R",
                 "cnn2_permuted": "control: CNN₂ other clip's R", "fusion_permuted": "control: fusion other clip's R",
                 "cnn2_smooth": "control: CNN₂ smooth random R", "fusion_smooth": "control: fusion smooth random R",
                 "mask_only": "control: maps alone (leak check)",
                 # results recorded before the structured controls existed
                 "cnn2_random": "control: CNN₂ random R", "fusion_random": "control: fusion random R"}
#: systems drawn hatched (controls)
WHALE_CONTROLS = tuple(k for k, v in WHALE_SYSTEMS.items() if v.startswith("control"))
SYNTHETIC_NOTE = ("Synthetic data: these numbers come from relmask's embedded data generators, not from the "
                  "papers' data sets; they show that the pipeline works, not what the papers report.")


@dataclass
class Paper:
    out: Path
    figures: dict[str, dict] = field(default_factory=dict)
    tables: dict[str, dict] = field(default_factory=dict)
    manifest_path: Path | None = None


# -- inputs --------------------------------------------------------------------------------------------
def load_run_results(record: dict) -> dict:
    """The ``results.json`` of a finished run; a DataError naming the file when the run's ``done.json``
    vouched for it and it is now missing or unreadable (a truncated file must not read as "no results")."""
    path = Path(record["results_path"])
    promised = "results.json" in (record.get("outputs") or {})
    if not path.exists():
        if promised:
            raise DataError(f"results of run {record.get('name')!r} are missing (its done.json lists them); "
                            f"rerun it with `relmask reproduce --only {record.get('name')}`", path)
        return {}
    try:
        results = read_json(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"results of run {record.get('name')!r} are unreadable ({exc}); rerun it with "
                        f"`relmask reproduce --only {record.get('name')}`", path) from None
    return results if isinstance(results, dict) else {}


def find_records(runs_dir: str | os.PathLike, config: str | None = None) -> list[dict]:
    """Finished run records under ``runs_dir``.

    Prefers the newest ``reproduce-<config>.json`` (exactly the runs of that reproduction); otherwise every
    ``done.json`` below, keeping the most recent run per name.
    """
    runs_dir = Path(runs_dir)
    summaries = sorted(runs_dir.glob(f"reproduce-{config or '*'}.json"), key=lambda p: p.stat().st_mtime)
    if summaries:
        runs = _read_record_file(summaries[-1])
        runs = runs.get("runs") if isinstance(runs, dict) else None
        if not isinstance(runs, list):
            raise DataError("run records without a list 'runs'", summaries[-1])
        return [r for r in runs if isinstance(r, dict) and r.get("status") in ("ok", "cached")]
    if config is not None:
        raise FileNotFoundError(f"no reproduce-{config}.json in {runs_dir}")
    newest: dict[str, dict] = {}
    for marker in runs_dir.rglob("done.json"):
        r = _read_record_file(marker)
        if not isinstance(r, dict) or "name" not in r:
            continue
        if r.get("status") == "ok" and r["finished_at"] >= newest.get(r["name"], {}).get("finished_at", ""):
            newest[r["name"]] = r
    return sorted(newest.values(), key=lambda r: r["name"])


def _read_record_file(path: Path):
    try:
        return read_json(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"unreadable run records ({exc})", path) from None


def _seeds(record: dict, results: dict) -> list:
    seeds = set()
    for k, v in (record.get("effective_parameters") or record.get("parameters", {})).items():
        if "seed" in k:
            seeds.update(v if isinstance(v, (list, tuple)) else [v])
    for rows in results.values():
        if isinstance(rows, list):
            seeds.update(r["seed"] for r in rows if isinstance(r, dict) and r.get("seed") is not None)
    return sorted(seeds, key=str)


def run_provenance(record: dict, results: dict) -> dict:
    """What the manifest says about one run a figure was drawn from."""
    nb = Path(record["notebook"])
    try:
        from .reproduce import PROJECT_ROOT
        nb_name = nb.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        nb_name = str(nb)
    return {"run": record["name"], "key": record["key"], "config": record.get("config"), "notebook": nb_name,
            "notebook_sha256": record.get("notebook_sha256"), "parameters": record.get("parameters"),
            "effective_parameters": record.get("effective_parameters"),
            "synthetic": record.get("synthetic"), "data": record.get("data", {}),
            "seeds": _seeds(record, results), "duration_s": record.get("duration_s"),
            "started_at": record.get("started_at"), "finished_at": record.get("finished_at"),
            "git": record.get("git"), "versions": record.get("versions"), "device": record.get("device"),
            "run_dir": record.get("run_dir")}


def _label(synthetic: bool) -> str:
    return " [synthetic data]" if synthetic else ""


# -- tables --------------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _pm(row: dict, stem: str) -> str:
    m, s = row.get(f"{stem}_mean"), row.get(f"{stem}_sd")
    if m is None:
        return "–"
    return f"{m:.3f} ± {s:.3f}" if s is not None else f"{m:.3f}"


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("_", r"\_"),
                 ("±", r"$\pm$"), ("₁", r"$_1$"), ("₂", r"$_2$"), ("–", "--")):
        text = text.replace(a, b)
    return text


def write_table(stem: Path, title: str, header: list[str], rows: list[list[str]], caption: str) -> list[Path]:
    """A table as Markdown (``stem.md``) and a LaTeX ``table`` environment (``stem.tex``)."""
    md = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ["", f"*{caption}*", ""]
    tex = [r"\begin{table}[ht]", r"\centering", r"\begin{tabular}{" + "l" * len(header) + "}", r"\hline",
           " & ".join(_latex_escape(h) for h in header) + r" \\", r"\hline"]
    tex += [" & ".join(_latex_escape(c) for c in r) + r" \\" for r in rows]
    tex += [r"\hline", r"\end{tabular}", r"\caption{" + _latex_escape(f"{title}. {caption}") + "}",
            r"\label{tab:" + stem.name.replace("_", "-") + "}", r"\end{table}", ""]
    return [atomic_write(stem.with_suffix(".md"), "\n".join(md)), atomic_write(stem.with_suffix(".tex"),
                                                                                 "\n".join(tex))]


# -- Paper B: whale ------------------------------------------------------------------------------------
def is_whale(results: dict) -> bool:
    rows = results.get("summary")
    return isinstance(rows, list) and bool(rows) and all(isinstance(r, dict) and "system" in r for r in rows)


def is_fer(results: dict) -> bool:
    return isinstance(results.get("curves"), list) and bool(results["curves"])


def whale_groups(runs: list[tuple[dict, dict]]) -> list[tuple[str, dict[str, dict]]]:
    """``(label, {system: summary row})`` per relevance × masker, over all whale runs.

    Rows without relevance/masker (CNN₁, the raw ensemble) belong to every group of their run; fusion
    systems show the ``mean`` rule where several were recorded (the table lists them all).
    """
    groups: dict[str, dict[str, dict]] = {}
    for record, results in runs:
        rows = results["summary"]
        pairs = list(dict.fromkeys((r.get("relevance"), r.get("masker")) for r in rows
                                   if r.get("relevance") is not None and r.get("masker") is not None))
        for rel, msk in pairs or [(None, None)]:
            label = f"{rel}\n{msk}" if rel is not None else record["name"]
            chosen = groups.setdefault(label, {})
            for r in rows:
                if r.get("relevance") not in (rel, None) or r.get("masker") not in (msk, None):
                    continue
                sys_ = r["system"]
                prefer = r.get("fusion_rule") in (None, "mean")
                if sys_ not in chosen or (prefer and chosen[sys_].get("fusion_rule") not in (None, "mean")):
                    chosen[sys_] = r
    return list(groups.items())


def whale_auc_figure(runs, stem: Path, synthetic: bool) -> tuple[list[Path], str]:
    import matplotlib.pyplot as plt

    from .plotting import PALETTE

    groups = whale_groups(runs)
    systems = [s for s in WHALE_SYSTEMS if any(s in g for _, g in groups)]
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
        hatch = "//" if system in WHALE_CONTROLS else None
        ax.bar(xs, means, width, yerr=sds, capsize=2, color=PALETTE[j % len(PALETTE)], hatch=hatch,
               edgecolor="white", linewidth=0.5, label=WHALE_SYSTEMS.get(system, system))
    ax.set_xticks(range(len(groups)), [label for label, _ in groups])
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    ax.set_ylabel("ROC AUC (mean ± sd over seeds)")
    ax.set_xlabel("relevance method / masker")
    n = sorted({r.get("n_seeds") for _, g in groups for r in g.values() if r.get("n_seeds") is not None})
    ax.set_title("Whale up-call detection: relevance-based feature masking" + _label(synthetic))
    ax.grid(axis="x", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    paths = _save(fig, stem)
    caption = ("ROC AUC on held-out clips of CNN₁ (raw spectrograms), CNN₂ (trained on relevance-masked "
               "spectrograms) and their decision-level fusion (mean of probabilities), per relevance method and "
               f"masker; hatched bars are the controls. Error bars: sd over seeds (n = {', '.join(map(str, n))}).")
    return paths, caption


def whale_roc_figure(runs, stem: Path, synthetic: bool) -> tuple[list[Path], str] | None:
    import matplotlib.pyplot as plt

    panels = [(record, results["roc"]) for record, results in runs if isinstance(results.get("roc"), dict)
              and results["roc"]]
    if not panels:
        return None
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.9 * nrows), squeeze=False,
                             layout="constrained")
    for ax, (record, roc) in zip(axes.flat, panels):
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
    fig.suptitle("Whale up-call detection: ROC curves" + _label(synthetic), fontsize=9)
    return _save(fig, stem), ("ROC curves on held-out clips (first seed) per run; fusions with the mean rule "
                              "(the table lists every rule).")


def whale_table(runs, stem: Path, synthetic: bool) -> tuple[list[Path], str]:
    header = ["data", "relevance", "masker", "system", "fusion rule", "AUC (mean ± sd)", "seeds"]
    rows, seen = [], set()
    for record, results in runs:
        for r in results["summary"]:
            ident = (r.get("relevance"), r.get("masker"), r["system"], r.get("fusion_rule"))
            if ident in seen:  # CNN₁ and the raw ensemble repeat in every run of a grid
                continue
            seen.add(ident)
            rows.append(["synthetic" if record.get("synthetic") else "real", _fmt(r.get("relevance")),
                         _fmt(r.get("masker")), WHALE_SYSTEMS.get(r["system"], r["system"]),
                         _fmt(r.get("fusion_rule")), _pm(r, "auc"), _fmt(r.get("n_seeds"))])
    title = "Whale up-call detection, ROC AUC" + _label(synthetic)
    caption = ("CNN₁, CNN₂ on masked features, their fusion and the controls (raw ensemble, CNN₂ and fusion on "
               "shuffled, other clips' and smooth random maps, a CNN on the maps alone), mean ± sd over seeds.")
    if synthetic:
        caption += " " + SYNTHETIC_NOTE
    return write_table(stem, title, header, rows, caption), caption


def whale_effects_table(runs, stem: Path, synthetic: bool) -> tuple[list[Path], str] | None:
    from .stats import format_effect

    header = ["data", "run", "comparison", "Δ AUC (mean [95 % CI], seeds)", "DeLong p < 0.05 (seeds)", "median p"]
    rows = [["synthetic" if record.get("synthetic") else "real", record["name"], e["comparison"],
             format_effect(e, 4), f"{e['delong_significant']}/{e['delong_n']}", f"{e['delong_median_p']:.3g}"]
            for record, results in runs for e in results.get("effects") or []]
    if not rows:
        return None
    title = "Whale up-call detection, effects with 95 % intervals" + _label(synthetic)
    caption = ("Paired per-seed AUC differences (95 % interval of the mean: the wider of bootstrap and t; "
               "'within noise': the interval includes zero) and DeLong's test over the test clips of each seed. "
               "Fusion: mean rule.")
    if synthetic:
        caption += " " + SYNTHETIC_NOTE
    return write_table(stem, title, header, rows, caption), caption


# -- Paper A: FER --------------------------------------------------------------------------------------
def _fer_evals(results: dict) -> list[str]:
    from .experiments.fer import EVALS, evals_of

    return [e for e in evals_of(results["curves"]) if e in EVALS]


def fer_curves_figure(runs, stem: Path, synthetic: bool) -> tuple[list[Path], str]:
    """One row per run, one column per evaluation set; drawn by the notebook's own plotting helper."""
    import matplotlib.pyplot as plt

    from .experiments.fer import draw_learning_curves

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
    fig.suptitle("Facial expression recognition: students on raw vs relevance-masked data" + _label(synthetic),
                 fontsize=9)
    caption = ("Validation accuracy per epoch of the student trained on raw target data and on each "
               "relevance-masked variant, its controls (dashed: shuffled, other sample's and smooth random maps) "
               "and the mask-only control (dotted), scored on masked, raw and label-free validation images: "
               "mean ± sd (ddof 1) over seeds; dotted line: the accuracy level used for 'epochs to reach'.")
    return _save(fig, stem), caption


def fer_table(runs, stem: Path, synthetic: bool) -> tuple[list[Path], str]:
    ks = sorted({str(results.get("k")) for _, results in runs if results.get("k") is not None})
    levels = sorted({f"{results['reach_level']:.2f}" for _, results in runs
                     if results.get("reach_level") is not None})
    header = ["data", "run", "variant", "eval set", "masker", "relevance", "control", "seeds",
              f"epochs to reach {'/'.join(levels) or 'level'}", f"acc. after k={'/'.join(ks) or 'k'} epochs",
              "AULC", "final acc.", "test acc."]
    rows = []
    for record, results in runs:
        for r in results.get("table", []):
            rows.append(["synthetic" if record.get("synthetic") else "real", record["name"], _fmt(r.get("variant")),
                         r.get("eval", "masked"), _fmt(r.get("masker")), _fmt(r.get("relevance")),
                         _fmt(r.get("control")), _fmt(r.get("n_seeds")), _pm(r, "epochs_to_reach"),
                         _pm(r, "acc_after_k"), _pm(r, "aulc"), _pm(r, "final_acc"), _pm(r, "test_acc")])
    title = "Facial expression recognition, learning speed of the student" + _label(synthetic)
    caption = ("Mean ± sd over seeds; AULC: area under the validation-accuracy curve (normalised). Eval set: masked "
               "(masks from the trainer's prediction or label-free maps: the trainer is needed at test time), raw "
               "(the student alone), label_free (masks from the mean map over all classes).")
    if synthetic:
        caption += " " + SYNTHETIC_NOTE
    return write_table(stem, title, header, rows, caption), caption


def fer_effects_table(runs, stem: Path, synthetic: bool) -> tuple[list[Path], str] | None:
    from .stats import format_effect

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
            from .controls import leak_verdict

            leak = leak_verdict(leak["mask_only"], leak["source"], leak["chance"],
                                uses_label=(results.get("params") or {}).get("train_mask_target") == "true")
        if leak:
            rows.append(["synthetic" if record.get("synthetic") else "real", record["name"], "mask_only",
                         "train_rule", "trainer", leak["text"], "–"])
    if not rows:
        return None
    title = "Facial expression recognition, effects with 95 % intervals" + _label(synthetic)
    caption = ("Paired per-seed differences of a masked-data student against the raw-data student (same evaluation "
               "set; the raw student always sees raw images) and against its controls; 95 % interval "
               "(the wider of bootstrap and t) "
               "of the mean; 'within noise': the interval includes zero. The mask_only row reads the mask-only "
               "control against the trainer (a leak when true-class maps alone beat the trainer; label-free "
               "rules cannot leak).")
    if synthetic:
        caption += " " + SYNTHETIC_NOTE
    return write_table(stem, title, header, rows, caption), caption


# -- assembly ------------------------------------------------------------------------------------------
def run_figure(record: dict, name: str, stem: Path) -> tuple[list[Path], str] | None:
    """A figure the notebook drew itself (e.g. example inputs / relevance / masked inputs), copied as PNG + PDF."""
    src = Path(record["results_path"]).parent / "figures" / name
    paths = [atomic_write(stem.with_suffix(f".{fmt}"), src.with_suffix(f".{fmt}").read_bytes())
             for fmt in ("png", "pdf") if src.with_suffix(f".{fmt}").exists()]
    if not paths:
        return None
    return paths, (f"Examples from run {record['name']}: inputs, relevance maps and masked inputs "
                   f"(drawn by {Path(record['notebook']).name}).")


def declared_outputs(record: dict, results: dict) -> list[tuple[str, str, list[Path], str]]:
    """Figures and tables a notebook declared for ``paper/`` itself, copied from its run directory.

    A notebook records ``paper_outputs = {"figures": {stem: {"file": "figures/x", "caption": …}}, "tables":
    {stem: {"file": "figures/t", "caption": …}}}`` (``file`` without suffix, relative to its output folder);
    figures are copied as PNG + PDF, tables as Markdown (+ LaTeX where it wrote one). So an experiment that is not
    one of the built-in papers still lands in ``paper/`` without code here.
    """
    spec = results.get("paper_outputs") or {}
    base = Path(record["results_path"]).parent
    out = []
    for kind, suffixes in (("figures", ("png", "pdf")), ("tables", ("md", "tex"))):
        for stem, entry in (spec.get(kind) or {}).items():
            src = base / entry["file"]
            found = [src.with_suffix(f".{fmt}") for fmt in suffixes if src.with_suffix(f".{fmt}").exists()]
            if found:
                out.append((kind[:-1], stem, found, str(entry.get("caption", ""))))
    return out


def _save(fig, stem: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    from .plotting import save_figure

    try:
        return save_figure(fig, stem)
    finally:
        plt.close(fig)


def _rel(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def build_paper(records: list[dict], out: str | os.PathLike = "paper", config: str | None = None,
                command: str | None = None) -> Paper:
    """Figures, tables, ``manifest.json`` and ``README.md`` in ``out`` from finished run records."""
    import matplotlib

    matplotlib.use("Agg")
    from . import __version__
    from .plotting import apply_style
    from .provenance import code_fingerprint, device_info, plugin_versions

    apply_style()
    out = Path(out)
    paper = Paper(out)
    loaded = [(r, load_run_results(r)) for r in records]
    whale = [(r, res) for r, res in loaded if is_whale(res)]
    fer = [(r, res) for r, res in loaded if is_fer(res)]

    def add(kind: str, stem: str, runs, built) -> None:
        if built is None:
            return
        paths, caption = built
        synthetic = any(r.get("synthetic") for r, _ in runs)
        entry = {"files": _rel(paths, out), "caption": caption + ("" if not synthetic or kind == "table"
                                                                   else " " + SYNTHETIC_NOTE),
                 "synthetic": synthetic, "runs": [run_provenance(r, res) for r, res in runs]}
        (paper.figures if kind == "figure" else paper.tables)[stem] = entry

    fig_dir, tab_dir = out / "figures", out / "tables"
    if whale:
        syn = any(r.get("synthetic") for r, _ in whale)
        add("figure", "whale_auc", whale, whale_auc_figure(whale, fig_dir / "whale_auc", syn))
        add("figure", "whale_roc", whale, whale_roc_figure(whale, fig_dir / "whale_roc", syn))
        add("table", "whale_auc", whale, whale_table(whale, tab_dir / "whale_auc", syn))
        add("table", "whale_effects", whale, whale_effects_table(whale, tab_dir / "whale_effects", syn))
    if fer:
        syn = any(r.get("synthetic") for r, _ in fer)
        add("figure", "fer_learning_curves", fer, fer_curves_figure(fer, fig_dir / "fer_learning_curves", syn))
        add("table", "fer_learning", fer, fer_table(fer, tab_dir / "fer_learning", syn))
        add("table", "fer_effects", fer, fer_effects_table(fer, tab_dir / "fer_effects", syn))
    for r, res in whale + fer:
        if r.get("synthetic"):  # example figures show data: real data's images are never copied into outputs
            add("figure", f"{r['name']}_examples", [(r, res)],
                run_figure(r, "examples", fig_dir / f"{r['name']}_examples"))

    for r, res in loaded:
        for kind, stem, files, caption in declared_outputs(r, res):
            where = fig_dir if kind == "figure" else tab_dir
            paths = [atomic_write(where / f"{stem}{f.suffix}", f.read_bytes()) for f in files]
            add(kind, stem, [(r, res)], (paths, caption))

    manifest_path = out / "manifest.json"
    _remove_stale(out, read_json(manifest_path, default={}) or {}, paper)
    # the newest run's finish, not the clock: rebuilding from unchanged runs must give byte-identical files
    finished = [r["finished_at"] for r in records if r.get("finished_at")]
    manifest = {"generated_at": max(finished) if finished else datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "command": command, "config": config, "relmask": __version__,
                # the drawing code by content, not by commit: a commit that changes no code (or a rerun) must
                # leave paper/ as it was; each run's own git state is in its provenance below
                "relmask_code": code_fingerprint(),
                "plugins": plugin_versions(), "device": device_info(),
                "synthetic": any(e["synthetic"] for e in (*paper.figures.values(), *paper.tables.values())),
                "unused_runs": [r["name"] for r, res in loaded
                                if not (is_whale(res) or is_fer(res) or res.get("paper_outputs"))],
                "figures": paper.figures, "tables": paper.tables}
    paper.manifest_path = write_json(manifest_path, manifest)
    atomic_write(out / "README.md", paper_readme(paper, manifest))
    return paper


def _remove_stale(out: Path, old_manifest: dict, paper: Paper) -> None:
    """Delete outputs an earlier build listed that this build did not make (no stale figure survives)."""
    new = {f for e in (*paper.figures.values(), *paper.tables.values()) for f in e["files"]}
    for section in ("figures", "tables"):
        for entry in (old_manifest.get(section) or {}).values():
            for f in entry.get("files", []):
                if f not in new:
                    (out / f).unlink(missing_ok=True)


def paper_readme(paper: Paper, manifest: dict) -> str:
    cmd = manifest.get("command") or "relmask figures"
    lines = ["# relmask paper outputs", "",
             f"Generated by `{cmd}` from runs finished by {manifest['generated_at']} (relmask {manifest['relmask']}, "
             f"config `{manifest.get('config') or '-'}`). Do not edit: rerun the command. Provenance of every "
             "figure and table (notebook, parameters, git commit, versions, data fingerprints, seeds, durations, "
             "device) is in [manifest.json](manifest.json).", ""]
    if manifest["synthetic"]:
        lines += [f"> **{SYNTHETIC_NOTE}**", ""]
    for stem, e in paper.figures.items():
        png = next(f for f in e["files"] if f.endswith(".png"))
        tag = " (synthetic data)" if e["synthetic"] else ""
        lines += [f"## {stem}{tag}", "", f"![{stem}]({png})", "", e["caption"], "",
                  "Files: " + ", ".join(f"[{Path(f).suffix[1:]}]({f})" for f in e["files"]), ""]
    for stem, e in paper.tables.items():
        md = next(f for f in e["files"] if f.endswith(".md"))
        lines += [f"## table {stem}", "", (paper.out / md).read_text().strip(), "",
                  f"LaTeX: [{Path(md).with_suffix('.tex').as_posix()}]({Path(md).with_suffix('.tex').as_posix()})",
                  ""]
    if manifest["unused_runs"]:
        lines += ["Runs without whale or FER results (not drawn): " + ", ".join(manifest["unused_runs"]), ""]
    return "\n".join(lines)


# -- the command --------------------------------------------------------------------------------------
def cmd_figures(args) -> int:
    try:
        records = find_records(args.runs, args.config)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"relmask figures: error: {exc}", file=sys.stderr)
        return 2
    if not records:
        print(f"relmask figures: error: no finished runs under {args.runs} (run `relmask reproduce` first)",
              file=sys.stderr)
        return 2
    from .errors import RelmaskError

    try:
        paper = build_paper(records, args.out, config=records[0].get("config"),
                            command=" ".join(["relmask", *sys.argv[1:]]))
    except RelmaskError as exc:
        print(f"relmask figures: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. --out is a file or not writable
        print(f"relmask figures: error: cannot write {exc.filename or args.out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    for kind, entries in (("figure", paper.figures), ("table", paper.tables)):
        for stem, e in entries.items():
            print(f"{kind} {stem}: {', '.join(e['files'])}" + ("  [synthetic data]" if e["synthetic"] else ""))
    print(f"manifest: {paper.manifest_path}")
    return 0


def add_subcommand(sub) -> None:
    p = sub.add_parser("figures", help="build paper/ figures, tables and manifest.json from finished runs",
                       description="Build figures (PNG+PDF), tables (Markdown+LaTeX), manifest.json and README.md "
                                   "from the results of `relmask reproduce` runs.")
    p.add_argument("--runs", default="runs/reproduce", help="the --out of relmask reproduce (default runs/reproduce)")
    p.add_argument("--config", default=None, help="use the runs of this config's last reproduction "
                                                  "(default: the newest)")
    p.add_argument("--out", default="paper", help="output directory (default paper)")
    p.set_defaults(func=cmd_figures)
