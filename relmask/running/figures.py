"""``relmask figures``: paper figures, tables and ``manifest.json`` from the recorded results of runs.

Input is a list of run records (``done.json`` of :mod:`relmask.running.reproduce`): each points at a ``results.json``.
This module knows no experiment: it groups the runs by the registered experiment that made them and asks each
:meth:`relmask.plugin_system.components.Experiment.paper_outputs` to draw its figures and tables through a
:class:`PaperWriter`; a notebook may also declare outputs in its results (:func:`declared_outputs`). Figures are
saved with :func:`relmask.running.plotting.save_figure` (PNG + PDF, one style); tables as Markdown and LaTeX. Every
figure
and table from synthetic data says so in its title or header, example figures (which show data) are copied only
from synthetic runs, and ``manifest.json`` records, per output, the provenance of every run it was drawn from.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relmask.errors import DataError
from relmask.io import atomic_write, read_json, write_json
from relmask.running.run_records import PROJECT_ROOT, USABLE, name_list, point_label, unusable_reason

SYNTHETIC_NOTE = ("Synthetic data: these numbers come from relmask's embedded data generators, not from the "
                  "papers' data sets; they show that the pipeline works, not what the papers report.")


@dataclass
class Paper:
    out: Path
    figures: dict[str, dict] = field(default_factory=dict)
    tables: dict[str, dict] = field(default_factory=dict)
    manifest_path: Path | None = None
    #: runs that should be in the paper and cannot be drawn (failed, or their results are gone): name -> why
    missing: dict[str, str] = field(default_factory=dict)
    #: outputs kept as an earlier build drew them, because a run they were drawn from is missing: stem -> runs
    kept: dict[str, list[str]] = field(default_factory=dict)

    @property
    def incomplete(self) -> bool:
        return bool(self.missing)


def incomplete_message(paper: Paper | None, missing: dict[str, str], where: str | os.PathLike = "paper") -> str:
    """One line: which runs ``paper`` (in ``where``) lacks and why, and which earlier outputs it kept for them."""
    why = "; ".join(f"{name}: {reason}" for name, reason in missing.items())
    text = f"{where} is incomplete: {len(missing)} run(s) cannot be drawn ({why})."
    kept = sorted(paper.kept) if paper is not None else []
    if kept:
        text += f" Kept as an earlier build drew them: {name_list(kept)}."
    elif paper is not None:
        text += " No earlier outputs of theirs to keep."
    else:
        text += f" {where} was left as it was."
    return text


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
    """Finished run records under ``runs_dir`` (see :func:`find_runs`)."""
    return find_runs(runs_dir, config)[0]


def find_runs(runs_dir: str | os.PathLike, config: str | None = None) -> tuple[list[dict], dict[str, str]]:
    """Finished run records under ``runs_dir``, and the runs on record that cannot be drawn (name -> why).

    Prefers the newest ``reproduce-<config>.json`` (exactly the runs of that reproduction; one that failed or
    whose results were lost is a missing run); otherwise every ``done.json`` below, keeping the most recent run
    per name (nothing is known to be missing then).
    """
    runs_dir = Path(runs_dir)
    summaries = sorted(runs_dir.glob(f"reproduce-{config or '*'}.json"), key=lambda p: p.stat().st_mtime)
    if summaries:
        runs = _read_record_file(summaries[-1])
        runs = runs.get("runs") if isinstance(runs, dict) else None
        if not isinstance(runs, list):
            raise DataError("run records without a list 'runs'", summaries[-1])
        runs = [r for r in runs if isinstance(r, dict) and r.get("name")]
        return ([r for r in runs if r.get("status") in USABLE],
                {r["name"]: unusable_reason(r) for r in runs if r.get("status") not in USABLE})
    if config is not None:
        raise FileNotFoundError(f"no reproduce-{config}.json in {runs_dir}")
    newest: dict[str, dict] = {}
    for marker in runs_dir.rglob("done.json"):
        r = _read_record_file(marker)
        if not isinstance(r, dict) or "name" not in r:
            continue
        if r.get("status") == "ok" and r["finished_at"] >= newest.get(r["name"], {}).get("finished_at", ""):
            newest[r["name"]] = r
    return sorted(newest.values(), key=lambda r: r["name"]), {}


def _read_record_file(path: Path):
    try:
        return read_json(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"unreadable run records ({exc})", path) from None


def _seeds(record: dict, results: dict) -> list:
    seeds: set[Any] = set()
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


def synthetic_label(synthetic: bool) -> str:
    """What a figure or table title of synthetic data ends with."""
    return " [synthetic data]" if synthetic else ""


# -- tables --------------------------------------------------------------------------------------------
def cell(v: Any) -> str:
    """A table cell: ``–`` for None, floats to 3 decimals."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def mean_sd_cell(row: dict, stem: str) -> str:
    """``mean ± sd`` from a summary row's ``<stem>_mean`` and ``<stem>_sd``."""
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


# -- assembly ------------------------------------------------------------------------------------------
def experiment_of(record: dict):
    """The registered experiment that made a run: the one its record names, else the one whose notebook has the
    run's notebook file name (records written before runs named their experiment); None for other notebooks."""
    from relmask.plugin_system.kinds import EXPERIMENTS
    from relmask.plugin_system.plugins import experiment_for, registry

    reg = registry(EXPERIMENTS)
    name = record.get("experiment")
    if name:
        if name in reg.entries or name in reg.aliases:
            return reg.get(name)
        import warnings

        warnings.warn(f"run {record.get('name')!r} was made by experiment {name!r}, which is not installed: its "
                      "figures are not drawn", RuntimeWarning, stacklevel=2)
        return None
    return experiment_for(record.get("notebook", ""), by_file_name=True)


class PaperWriter:
    """What an experiment's ``paper_outputs(runs, paper)`` draws with: figures and tables land in ``paper/``
    with their captions and the provenance of the runs they were drawn from (``manifest.json``)."""

    def __init__(self, paper: Paper):
        self.paper = paper
        self.figures_dir = paper.out / "figures"
        self.tables_dir = paper.out / "tables"
        self.used: set[str] = set()  # names of the runs something was drawn from

    @staticmethod
    def synthetic(runs) -> bool:
        return any(r.get("synthetic") for r, _ in runs)

    def title(self, text: str, runs) -> str:
        """A figure or table title, marked when any of ``runs`` is on synthetic data."""
        return text + synthetic_label(self.synthetic(runs))

    def _add(self, kind: str, stem: str, runs, paths: list[Path], caption: str) -> None:
        synthetic = self.synthetic(runs)
        entry = {"files": _rel(paths, self.paper.out),
                 "caption": caption + ("" if not synthetic or kind == "table" else " " + SYNTHETIC_NOTE),
                 "synthetic": synthetic, "runs": [run_provenance(r, res) for r, res in runs]}
        (self.paper.figures if kind == "figure" else self.paper.tables)[stem] = entry
        self.used.update(r["name"] for r, _ in runs)

    def figure(self, stem: str, runs, fig, caption: str) -> None:
        """Save a Matplotlib figure as ``figures/<stem>.png`` + ``.pdf`` (and close it)."""
        self._add("figure", stem, runs, _save(fig, self.figures_dir / stem), caption)

    def table(self, stem: str, runs, title: str, header: list[str], rows: list[list[str]], caption: str) -> None:
        """``tables/<stem>.md`` + ``.tex``; the title and caption say so when the runs are on synthetic data."""
        synthetic = self.synthetic(runs)
        if synthetic:
            caption += " " + SYNTHETIC_NOTE
        paths = write_table(self.tables_dir / stem, title + synthetic_label(synthetic), header, rows, caption)
        self._add("table", stem, runs, paths, caption)

    def copy(self, kind: str, stem: str, runs, files: list[Path], caption: str) -> None:
        """Copy files a notebook wrote (``kind`` ``figure``: PNG/PDF, ``table``: Markdown/LaTeX) as ``stem``."""
        where = self.figures_dir if kind == "figure" else self.tables_dir
        paths = [atomic_write(where / f"{stem}{f.suffix}", f.read_bytes()) for f in files]
        self._add(kind, stem, runs, paths, caption)

    def example_figure(self, stem: str, record: dict, results: dict, name: str = "examples",
                       caption: str | None = None) -> None:
        """Copy a figure the notebook drew itself (``figures/<name>`` of its run) — only from synthetic runs:
        example figures show data, and real data's images never go into outputs."""
        if not record.get("synthetic"):
            return
        src = Path(record["results_path"]).parent / "figures" / name
        files = [src.with_suffix(f".{fmt}") for fmt in ("png", "pdf") if src.with_suffix(f".{fmt}").exists()]
        if files:
            self.copy("figure", stem, [(record, results)], files, caption or (
                f"Examples from run {record['name']}: inputs, relevance maps and masked inputs "
                f"(drawn by {Path(record['notebook']).name})."))


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

    from relmask.running.plotting import save_figure

    try:
        return save_figure(fig, stem)
    finally:
        plt.close(fig)


def _rel(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def build_paper(records: list[dict], out: str | os.PathLike = "paper", config: str | None = None,
                command: str | None = None, missing: dict[str, str] | None = None) -> Paper:
    """Figures, tables, ``manifest.json`` and ``README.md`` in ``out`` from finished run records.

    Each experiment's ``paper_outputs`` gets all its runs at once: the points of a sweep and of a grid, the runs
    of several config entries (``record["sweep"]`` holds a sweep point's values, :func:`sweep_point` its label).
    ``missing`` names runs that belong in the paper but cannot be drawn (failed, or their results are gone):
    every output an earlier build drew from one of them stays as that build drew it (files and manifest entry,
    marked ``kept``), instead of being deleted or redrawn without the run; the manifest lists them under
    ``incomplete``, and ``paper.incomplete`` is true.
    """
    import matplotlib

    matplotlib.use("Agg")
    from relmask import __version__
    from relmask.running.plotting import apply_style
    from relmask.running.provenance import code_fingerprint, device_info, plugin_versions

    apply_style()
    out = Path(out)
    paper = Paper(out, missing=dict(missing or {}))
    manifest_path = out / "manifest.json"
    old_manifest = read_json(manifest_path, default={}) or {}
    keep = _outputs_to_keep(out, old_manifest, paper.missing)  # read before anything is drawn over them
    loaded = [(r, load_run_results(r)) for r in records]
    writer = PaperWriter(paper)
    by_experiment: dict[str, tuple[Any, list]] = {}  # in the order of the runs
    for r, res in loaded:
        exp = experiment_of(r)
        if exp is not None:
            by_experiment.setdefault(exp.name, (exp, []))[1].append((r, res))
    for exp, runs in by_experiment.values():
        exp.paper_outputs(runs, writer)

    declared = [(r, res, output) for r, res in loaded for output in declared_outputs(r, res)]
    stems = [(kind, stem) for _, _, (kind, stem, _, _) in declared]
    for r, res, (kind, stem, files, caption) in declared:
        if stems.count((kind, stem)) > 1:  # several runs (points of a sweep) declare one stem: one output each
            stem = f"{stem}_{r['name']}"
        writer.copy(kind, stem, [(r, res)], files, caption)

    _restore_kept(out, keep, paper)
    _remove_stale(out, old_manifest, paper)
    # the newest run's finish, not the clock: rebuilding from unchanged runs must give byte-identical files
    finished = [r["finished_at"] for r in records if r.get("finished_at")]
    manifest = {"generated_at": max(finished) if finished else datetime.now(UTC).isoformat(timespec="seconds"),
                "command": command, "config": config, "relmask": __version__,
                # the drawing code by content, not by commit: a commit that changes no code (or a rerun) must
                # leave paper/ as it was; each run's own git state is in its provenance below
                "relmask_code": code_fingerprint(),
                "plugins": plugin_versions(), "device": device_info(),
                "synthetic": any(e["synthetic"] for e in (*paper.figures.values(), *paper.tables.values())),
                "unused_runs": [r["name"] for r, _ in loaded if r["name"] not in writer.used],
                "figures": paper.figures, "tables": paper.tables}
    if paper.missing:  # only then: a complete paper's manifest stays as it was
        manifest["incomplete"] = paper.missing
    paper.manifest_path = write_json(manifest_path, manifest)
    atomic_write(out / "README.md", paper_readme(paper, manifest))
    return paper


def _outputs_to_keep(out: Path, old_manifest: dict, missing: dict[str, str]) -> dict:
    """``(section, stem) -> (entry, {file: bytes}, runs)`` of the earlier build's outputs drawn from a run in
    ``missing`` whose files are all still there."""
    keep = {}
    for section in ("figures", "tables"):
        for stem, entry in (old_manifest.get(section) or {}).items():
            if not isinstance(entry, dict):
                continue
            runs = [r.get("run") for r in entry.get("runs") or [] if isinstance(r, dict) and r.get("run") in missing]
            files = entry.get("files") or []
            if runs and files and all((out / f).is_file() for f in files):
                keep[(section, stem)] = (entry, {f: (out / f).read_bytes() for f in files}, runs)
    return keep


def _restore_kept(out: Path, keep: dict, paper: Paper) -> None:
    """Put the outputs :func:`_outputs_to_keep` chose back as the earlier build drew them (where this build drew
    the same stem without the missing run) and into the manifest, marked ``kept``."""
    for (section, stem), (entry, blobs, runs) in keep.items():
        target = paper.figures if section == "figures" else paper.tables
        redrawn = target.get(stem)
        for f in (redrawn or {}).get("files", []):
            if f not in blobs:
                (out / f).unlink(missing_ok=True)
        for f, data in blobs.items():
            if not (out / f).is_file() or (out / f).read_bytes() != data:
                atomic_write(out / f, data)
        target[stem] = {**entry, "kept": f"as an earlier build drew it: run(s) {', '.join(runs)} cannot be drawn "
                                         f"now ({'; '.join(paper.missing[r] for r in runs)})"}
        paper.kept[stem] = runs


def sweep_point(record: dict) -> str | None:
    """The label of a sweep point's run (``n_target=250`` for ``fer-sizes@n_target=250``), None for other runs:
    what paper code adds where several points of one sweep would otherwise look alike."""
    values = record.get("sweep")
    return point_label(values) if values else None


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
    if paper.missing:
        lines += [f"> **Incomplete:** {len(paper.missing)} run(s) of this config cannot be drawn: "
                  + "; ".join(f"{name}: {reason}" for name, reason in paper.missing.items())
                  + ". Outputs drawn from them are kept as an earlier build drew them (marked below).", ""]
    for stem, e in paper.figures.items():
        png = next(f for f in e["files"] if f.endswith(".png"))
        tag = " (synthetic data)" if e["synthetic"] else ""
        lines += [f"## {stem}{tag}", "", f"![{stem}]({png})", "", e["caption"], "",
                  *([f"*Kept {e['kept']}.*", ""] if e.get("kept") else []),
                  "Files: " + ", ".join(f"[{Path(f).suffix[1:]}]({f})" for f in e["files"]), ""]
    for stem, e in paper.tables.items():
        md = next(f for f in e["files"] if f.endswith(".md"))
        lines += [f"## table {stem}", "", (paper.out / md).read_text().strip(), "",
                  *([f"*Kept {e['kept']}.*", ""] if e.get("kept") else []),
                  f"LaTeX: [{Path(md).with_suffix('.tex').as_posix()}]({Path(md).with_suffix('.tex').as_posix()})",
                  ""]
    if manifest["unused_runs"]:
        lines += ["Runs nothing was drawn from: " + ", ".join(manifest["unused_runs"]), ""]
    return "\n".join(lines)


# -- the command --------------------------------------------------------------------------------------
def _locations(args) -> tuple[str, str]:
    """``(runs, paper)`` folders from ``relmask figures``' options, named as ``relmask reproduce`` names them
    (``--out RUNS --paper PAPER``); the older ``--runs RUNS --out PAPER`` still works: with ``--runs``, ``--out``
    keeps its old meaning (the paper folder)."""
    if args.runs is not None:
        return args.runs, args.paper or args.out or "paper"
    return args.out or "runs/reproduce", args.paper or "paper"


def cmd_figures(args) -> int:
    runs_dir, paper_dir = _locations(args)
    try:
        records, missing = find_runs(runs_dir, args.config)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"relmask figures: error: {exc}", file=sys.stderr)
        return 2
    if not records:
        hint = (" (--out names the runs folder, as for `relmask reproduce`; the paper folder is --paper)"
                if args.runs is None and args.out is not None else "")
        print(f"relmask figures: error: no finished runs under {runs_dir}{hint} (run `relmask reproduce` first)",
              file=sys.stderr)
        return 2
    from relmask.errors import RelmaskError

    try:
        paper = build_paper(records, paper_dir, config=records[0].get("config"), missing=missing,
                            command=" ".join(["relmask", *sys.argv[1:]]))
    except RelmaskError as exc:
        print(f"relmask figures: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the paper folder is a file or not writable
        print(f"relmask figures: error: cannot write {exc.filename or paper_dir}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    for kind, entries in (("figure", paper.figures), ("table", paper.tables)):
        for stem, e in entries.items():
            print(f"{kind} {stem}: {', '.join(e['files'])}" + ("  [synthetic data]" if e["synthetic"] else "")
                  + ("  [kept from an earlier build]" if e.get("kept") else ""))
    print(f"manifest: {paper.manifest_path}")
    if paper.incomplete:  # never a paper silently built without some of its runs
        print(f"relmask figures: {incomplete_message(paper, paper.missing, paper_dir)} Recompute them with "
              f"`relmask reproduce --only NAME` (one --only per run), then run `relmask figures` again.",
              file=sys.stderr)
        return 1
    return 0


def add_subcommand(sub) -> None:
    p = sub.add_parser("figures", help="build paper/ figures, tables and manifest.json from finished runs",
                       description="Build figures (PNG+PDF), tables (Markdown+LaTeX), manifest.json and README.md "
                                   "from the results of `relmask reproduce` runs. Exit status 1 when a run of the "
                                   "config cannot be drawn (its earlier outputs are kept).")
    p.add_argument("--out", default=None, metavar="RUNS",
                   help="the --out of relmask reproduce: where its runs are (default runs/reproduce); with the "
                        "older --runs, the paper folder")
    p.add_argument("--paper", default=None, help="where figures, tables and manifest.json go (default paper)")
    p.add_argument("--runs", default=None, help="older name of --out (then --out is the paper folder)")
    p.add_argument("--config", default=None, help="use the runs of this config's last reproduction "
                                                  "(default: the newest)")
    p.set_defaults(func=cmd_figures)
