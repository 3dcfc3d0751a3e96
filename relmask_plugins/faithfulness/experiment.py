"""Issue 16: how faithful is each relevance map, and does a more faithful map make a better mask?

Per domain (every registered domain that declares :class:`relmask.DomainDefaults`, or those named by
``domains``: the built-in synthetic whale clips and faces, a third-party domain such as the digits example) one
model of the domain's default architecture is trained on its default source; every relevance method explains it
on its training and test data (each map explaining the model's *predicted* class, so no mask sees a label). Then,
per method:

* **faithfulness**: pixel flipping and ROAD on ``n_eval`` test samples (:func:`relmask.evaluate`; the fill of
  pixel flipping is the domain masker's fill, so both remove information the same way), the model-randomisation
  sanity check on ``n_sanity`` samples, and in the full preset ROAR with the random control;
* **masking**: the domain's default masker applied with the method's maps to the training and test data and a
  fresh model of the same architecture trained on it with one fixed protocol, scored by the domain's declared
  score: ``fusion_auc`` (two classes: the masked model's ROC AUC and the AUC of its mean fusion with the explained
  model, Paper B's whale protocol), ``aulc_gain`` (the masked model's learning curve on the masked test data
  against a raw model's, as area-under-the-learning-curve gain and epochs to reach a level, Paper A's faces) or
  ``accuracy`` (the masked model's accuracy on masked test data).

No domain is named here: what the experiment needs of a domain is its ``defaults``, including the relevance
parameters tuned to its inputs (``DomainDefaults.relevance_params``: the occlusion window of 48×48 faces does not
fit 8×8 digits), which the run's ``relevance_params`` override parameter by parameter (:func:`method_params`), and
whether its data are synthetic (``DomainDefaults.synthetic``), which the table and the figure say in their titles
(:func:`data_label`) and the notebook records for ``paper/``.

A ``random`` row (Gaussian-noise maps) is the reference for both: no faithfulness, and the masking result of
removing information at random. :func:`table` sets everything side by side and :func:`plot_scores` draws the one
figure: each faithfulness score against the masking score, one point per method. With a handful of methods on
small synthetic data this is a smoke test of the question, not an answer to it.
The notebook ``notebooks/relevance_faithfulness.ipynb`` beside this module calls these functions in order; the
registered experiment ``faithfulness`` (:class:`RelevanceFaithfulness`, at the bottom) ties the parameters
(:class:`FaithfulnessExperiment`), the notebook and the presets in ``presets/`` together.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from relmask.errors import TrainingError, require
from relmask.plugin_system.components import Experiment, ExperimentConfig, presets_in, shared_field

RANDOM = "random"


def declaring_domains() -> list[str]:
    """The registered domains that declare what this experiment needs (:class:`relmask.DomainDefaults`)."""
    from relmask import get_domain, list_domains

    return [d for d in list_domains() if get_domain(d).defaults is not None]


def domain_defaults(domain: str):
    """The :class:`relmask.DomainDefaults` of ``domain``; ParameterError where it declares none."""
    from relmask import get_domain

    defaults = get_domain(domain).defaults
    require(defaults is not None, f"domains: domain {domain!r} declares no defaults (relmask.DomainDefaults: "
            f"source, model, masker, score ...); domains that do: {', '.join(declaring_domains()) or 'none'}")
    return defaults


#: the faithfulness scores of the table and the figure: (key, label, higher is more faithful)
SCORES = (("pf_aopc_gap", "pixel flipping AOPC gap", True),
          ("pf_accuracy_gap", "pixel flipping accuracy gap", True),
          ("road_accuracy_gap", "ROAD accuracy gap", True),
          ("sanity_spearman", "sanity Spearman (low passes)", False),
          ("sanity_ssim", "sanity SSIM (low passes)", False),
          ("roar_score", "ROAR score", True))


@dataclass
class FaithfulnessExperiment(ExperimentConfig):
    """Every parameter of the experiment and its notebook, declared once (``relmask.get_experiment("faithfulness")``
    derives its :class:`~relmask.plugin_system.components.Param` list from these fields; ``relmask notebooks``
    generates the
    notebook's ``parameters`` cell from them; the defaults are the ``quick`` preset). The fields every experiment
    shares are :func:`~relmask.plugin_system.components.shared_field` s: their help texts and checks are declared in
    core. It
    trains one model per domain once, so it has one ``seed``, not ``seeds``."""

    experiment_name: ClassVar[str] = "faithfulness"

    domains: list[str] | None = field(default=None, metadata={
        "help": "domains to run, each on its default source (None: every registered domain declaring defaults)"})
    relevance_methods: list[str] = shared_field("relevance_methods", ["gradient", "gradcam", "occlusion",
                                                                     "lrp.epsilon", "lrp.epsilon_plus"])
    # per method over each domain's own (DomainDefaults.relevance_params: e.g. an occlusion window that fits its
    # inputs), parameter by parameter; entries for methods outside the run are allowed: each is still checked
    relevance_params: dict[str, dict] = shared_field("relevance_params", {})
    random_control: bool = field(default=True, metadata={
        "help": "add a row of random (noise) maps: the reference for every score"})
    n_samples: dict[str, int] = field(default_factory=dict, metadata={
        "help": "samples per domain (split into train and test), at least 20 each; a domain not named here uses "
                "its default size", "low": 20})
    test_fraction: float = field(default=0.3, metadata={
        "help": "share of each domain's samples held out for testing", "low": 0, "high": 1, "low_open": True,
        "high_open": True})
    model_epochs: int = field(default=6, metadata={"help": "training epochs of the explained model", "low": 1})
    epochs: int = shared_field("epochs", 3)  # every masked model (and a raw model where the score needs one)
    batch_size: int = shared_field("batch_size", 32)
    learning_rate: float = shared_field("learning_rate", 1e-3)
    seed: int = field(default=0, metadata={
        "help": "seed of the data, the split, the models and the metrics", "low": 0})
    n_eval: int = field(default=32, metadata={"help": "test samples scored by pixel flipping and ROAD", "low": 1})
    steps: int = field(default=10, metadata={
        "help": "pixel-flipping steps (all of the input removed at the last)", "low": 1})
    patch_size: int | None = field(default=4, metadata={
        "help": "remove p x p patches (None: single values)", "low": 1})
    road_steps: int = field(default=5, metadata={"help": "ROAD steps (up to 90 % removed)", "low": 1})
    n_sanity: int = field(default=12, metadata={"help": "test samples of the model-randomisation check", "low": 1})
    sanity_layers: int | None = field(default=None, metadata={
        "help": "layers re-initialised from the top (None: all weighted layers)", "low": 1})
    reach_level: float = field(default=0.3, metadata={
        "help": "score aulc_gain: the validation accuracy of \"epochs to reach\"", "low": 0, "high": 1})
    roar: bool = field(default=False, metadata={"help": "also run ROAR (retrains per share: the full preset)"})
    roar_fractions: list[float] = field(default_factory=lambda: [0.3, 0.7], metadata={
        "help": "ROAR: shares of the input removed, each in (0, 1)"})
    roar_epochs: int = field(default=3, metadata={"help": "ROAR: epochs of every retrained model", "low": 1})
    output_dir: str = shared_field("output_dir", "runs/relevance_faithfulness")

    def check(self) -> None:
        """Checks across fields and against the registries, after the fields' own declarations (types, choices,
        ranges, the shared fields' rules: :meth:`~relmask.plugin_system.components.ExperimentConfig.validate`), before
        anything
        trains; ParameterError names the parameter."""
        from relmask import get_domain, get_masker, get_method, get_model
        from relmask.plugin_system.plugins import check_relevance_params

        if self.domains is None:
            self.domains = declaring_domains()
        require(self.domains, f"domains must name at least one domain; domains declaring defaults: "
                f"{', '.join(declaring_domains()) or 'none'}")
        require(len(set(self.domains)) == len(self.domains), f"domains must be distinct, got {self.domains}")
        protocols = {d: domain_defaults(d) for d in self.domains}
        unknown = sorted(set(self.n_samples) - set(self.domains))
        require(not unknown, f"n_samples has entries for {unknown}, which are not in the run's domains {self.domains}")
        require(self.relevance_methods or self.random_control,
                "relevance_methods must name at least one relevance method (or random_control be true)")
        for m in self.relevance_methods:
            get_method(m)
        # entries for registered methods outside the run are allowed (a preset may tune occlusion, which a
        # run without occlusion need not clear); each is still checked, so a typo never passes silently
        for m, p in self.relevance_params.items():  # each a dict: the field's declaration
            get_method(m).resolve_params(p)
        for d, proto in protocols.items():  # each method of the run on each domain's samples and model
            require(proto.score != "fusion_auc" or proto.n_classes == 2,
                    f"domain {d!r}: score 'fusion_auc' needs two classes, the domain has {proto.n_classes}")
            get_domain(d).check(proto.source, **{proto.size_param: self.domain_size(d)})
            get_masker(proto.masker).resolve_params(proto.masker_params)
            shape = get_domain(d).sample_shape(proto.source)

            def model(proto=proto, shape=shape):  # untrained: built only to check layer names
                return get_model(proto.model).build(shape, proto.n_classes)

            for m in self.relevance_methods:
                own = f" (over the domain's own {proto.relevance_params[m]})" if proto.relevance_params.get(m) else ""
                check_relevance_params(m, method_params(proto, m, self.relevance_params), input_shape=shape,
                                       model=model if shape is not None else None,
                                       owner=f"relevance_params[{m!r}] on domain {d!r}{own}")
        require(self.roar_fractions and all(isinstance(f, (int, float)) and 0 < f < 1 for f in self.roar_fractions),
                f"roar_fractions must be shares in (0, 1), got {self.roar_fractions}")

    def domain_size(self, domain: str) -> int:
        """The number of samples of ``domain``: ``n_samples[domain]``, else the domain's default size."""
        return self.n_samples.get(domain, domain_defaults(domain).n_samples)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def method_params(defaults, method: str, relevance_params: dict[str, dict]) -> dict:
    """The parameters of ``method`` on a domain: its :class:`relmask.DomainDefaults` ``relevance_params`` (tuned
    to its inputs, e.g. an occlusion window that fits them), overridden parameter by parameter by the run's
    ``relevance_params``; a method neither names explains with its own defaults."""
    return {**defaults.relevance_params.get(method, {}), **relevance_params.get(method, {})}


def data_label(rows: Sequence[dict]) -> str:
    """What a title of the table or the figure of ``rows`` (:func:`table`) ends with: `` (synthetic data)`` where
    every domain's data were synthetic, `` (synthetic data: a, b)`` naming the synthetic ones where some were, and
    nothing where all were real (relmask.running.figures: every figure and table from synthetic data says so). A
    row that does not say counts as synthetic."""
    domains = list(dict.fromkeys(r["domain"] for r in rows))
    synthetic = [d for d in domains if any(r.get("synthetic", True) for r in rows if r["domain"] == d)]
    if not synthetic:
        return ""
    return " (synthetic data)" if synthetic == domains else f" (synthetic data: {', '.join(synthetic)})"


def synthetic(results: dict[str, dict]) -> bool:
    """Whether any domain of a run (:func:`run`) was on synthetic data: what the notebook records as
    ``synthetic``, so that ``relmask reproduce`` and ``paper/`` label the run as its data were."""
    return any(res.get("synthetic", True) for res in results.values())


# -- data and the trained model ----------------------------------------------------------------------------
def load_domain(domain: str, n: int, seed: int, test_fraction: float):
    """(train Dataset, test Dataset) of ``n`` samples of a domain's default source, stratified and seeded (the
    source's ``seed`` parameter, where it has one, is ``seed`` too)."""
    from relmask import get_domain
    from relmask.pipeline.data import stratified_split

    proto = domain_defaults(domain)
    params = {proto.size_param: n}
    if "seed" in {p.name for p in get_domain(domain).source(proto.source).params}:
        params["seed"] = seed
    ds = get_domain(domain).load(proto.source, **params)
    train, test = stratified_split(ds.y, [1.0 - test_fraction, test_fraction], seed)
    return ds.subset(train), ds.subset(test)


def member(domain: str, x: np.ndarray, y: np.ndarray, n_classes: int, seed: int, name: str, validation=None):
    """A fresh model of the domain's default architecture with its training data, as a member of a training
    group."""
    from relmask.pipeline.training import Member, build_model

    model = build_model(domain_defaults(domain).model, x.shape[1:], n_classes, seed=seed)
    return Member(model, x, y, seed=seed, validation_data=validation, name=name)


def train(members: list, cfg: FaithfulnessExperiment, description: str, epochs: int | None = None) -> list:
    """Train ``members`` together with the one protocol (``cfg.epochs`` unless ``epochs`` is given); their
    :class:`relmask.pipeline.training.MemberResult` s in order."""
    from relmask.pipeline.training import fit_all

    return fit_all(members, description=description, epochs=cfg.epochs if epochs is None else epochs,
                   batch_size=cfg.batch_size, learning_rate=cfg.learning_rate)


def relevance(model, x: np.ndarray, method: str, params: dict | None, seed: int) -> np.ndarray:
    """The method's maps of ``x`` for the model's predicted class; ``random``: Gaussian noise (seeded)."""
    from relmask import explain

    if method == RANDOM:
        return np.random.default_rng(seed).normal(size=x.shape).astype(np.float32)
    return explain(model, x, method, targets=None, progress=False, **(params or {}))


# -- one domain --------------------------------------------------------------------------------------------
def run_domain(domain: str, cfg: FaithfulnessExperiment, progress: bool = False) -> dict:
    """Train, explain with every method, score faithfulness and masking; returns the domain's raw results."""
    from relmask import evaluate, mask
    from relmask.pipeline.training import predict_proba
    from relmask.scoring.evaluation import accuracy, area_under_learning_curve, epochs_to_reach, fuse, roc_auc

    proto = domain_defaults(domain)
    fusion, learning_curve = proto.score == "fusion_auc", proto.score == "aulc_gain"
    tr, te = load_domain(domain, cfg.domain_size(domain), cfg.seed, cfg.test_fraction)
    n_classes = int(max(tr.y.max(), te.y.max())) + 1
    t0 = time.perf_counter()
    (explained,) = train([member(domain, tr.x, tr.y, n_classes, cfg.seed, f"{domain} model")], cfg,
                         "explained model", epochs=cfg.model_epochs)
    if not explained.ok:
        raise TrainingError(f"{domain}: the explained model failed ({explained.error})")
    model = explained.model
    p1 = predict_proba(model, te.x)
    out = {"domain": domain, "n_train": len(tr), "n_test": len(te), "n_classes": n_classes,
           "model": proto.model, "masker": proto.masker, "masker_params": dict(proto.masker_params),
           "source": proto.source, "synthetic": proto.synthetic,
           "relevance_params": {m: method_params(proto, m, cfg.relevance_params) for m in cfg.relevance_methods},
           "model_accuracy": accuracy(te.y, p1), "seconds": {"model": time.perf_counter() - t0},
           "methods": {}}
    if fusion:
        out["model_auc"] = roc_auc(te.y, p1[:, 1])
    n_eval, n_sanity = min(cfg.n_eval, len(te)), min(cfg.n_sanity, len(te))
    fill = proto.masker_params.get("fill", "zero")
    methods = list(cfg.relevance_methods) + ([RANDOM] if cfg.random_control else [])
    students: list[tuple] = []  # (method or None for the raw student, member, its test inputs)
    for i, method in enumerate(methods):
        if progress:
            print(f"[{domain}] {method} ({i + 1}/{len(methods)})", flush=True)
        params = method_params(proto, method, cfg.relevance_params) if method != RANDOM else {}
        sec, res = {}, {}
        t0 = time.perf_counter()
        r_train = relevance(model, tr.x, method, params, cfg.seed + 11)
        r_test = relevance(model, te.x, method, params, cfg.seed + 12)
        sec["maps"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        common = dict(target="predicted", patch_size=cfg.patch_size)
        pf = evaluate(model, te.x[:n_eval], te.y[:n_eval], r_test[:n_eval], "pixel_flipping", steps=cfg.steps,
                      fill=fill, **common)
        sec["pixel_flipping"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        road = evaluate(model, te.x[:n_eval], te.y[:n_eval], r_test[:n_eval], "road", steps=cfg.road_steps,
                        seed=cfg.seed, **common)
        sec["road"] = time.perf_counter() - t0
        res["pixel_flipping"] = _curves(pf)
        res["road"] = _curves(road)
        scores = {"pf_aopc_gap": pf["aopc_gap"], "pf_accuracy_gap": pf["accuracy_gap"],
                  "road_aopc_gap": road["aopc_gap"], "road_accuracy_gap": road["accuracy_gap"],
                  "sanity_spearman": float("nan"), "sanity_ssim": float("nan"), "roar_score": float("nan")}
        if method != RANDOM:  # noise maps have no method to recompute
            t0 = time.perf_counter()
            sanity = evaluate(model, te.x[:n_sanity], te.y[:n_sanity], method, "model_randomisation",
                              method_params=params, target="predicted", layers=cfg.sanity_layers, seed=cfg.seed)
            sec["sanity"] = time.perf_counter() - t0
            res["sanity"] = {k: sanity[k] for k in ("layer_names", "spearman_mean", "ssim_mean")}
            scores["sanity_spearman"], scores["sanity_ssim"] = sanity["spearman_area"], sanity["ssim_area"]
        if cfg.roar:
            t0 = time.perf_counter()
            roar = evaluate(None, tr.x, tr.y, r_train, "roar", x_test=te.x, y_test=te.y, test_relevance=r_test,
                            architecture=proto.model, fractions=list(cfg.roar_fractions), epochs=cfg.roar_epochs,
                            batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, seeds=[cfg.seed],
                            fill=fill)
            sec["roar"] = time.perf_counter() - t0
            res["roar"] = {k: roar[k] for k in ("fractions", "accuracy_mean", "accuracy_random_mean",
                                                "baseline_accuracy", "score")}
            scores["roar_score"] = roar["score"]

        # the masking experiment: the domain's masker with this method's maps, one fresh model, one protocol;
        # every method's model (and the raw student) trains in one group after the loop
        x_tr = mask(tr.x, r_train, proto.masker, seed=cfg.seed, **proto.masker_params)
        x_te = mask(te.x, r_test, proto.masker, seed=cfg.seed, **proto.masker_params)
        students.append((method, member(domain, x_tr, tr.y, n_classes, cfg.seed + 1, f"{domain} {method} student",
                                        (x_te, te.y)), x_te))
        res["scores"] = scores
        res["seconds"] = sec
        out["methods"][method] = res
    t0 = time.perf_counter()
    if learning_curve:  # the raw student: the reference of every masked student's learning curve
        students.insert(0, (None, member(domain, tr.x, tr.y, n_classes, cfg.seed + 1, f"{domain} raw student",
                                         (te.x, te.y)), te.x))
    results = train([m for _, m, _ in students], cfg, f"{domain} students")
    out["seconds"]["students"] = time.perf_counter() - t0
    for (method, _, x_te), res in zip(students, results, strict=True):
        curve = res.history.get("val_accuracy", [])
        if method is None:
            out["raw_student"] = {"curve": curve, "aulc": area_under_learning_curve(curve),
                                  "epochs_to_reach": epochs_to_reach(curve, cfg.reach_level)}
            continue
        if not res.ok:  # reported by fit_all; no masking result for this method
            out["methods"][method]["masking"] = {"error": res.error}
            continue
        p2 = predict_proba(res.model, x_te)
        masking = {"accuracy": accuracy(te.y, p2)}
        if fusion:
            masking["cnn2_auc"] = roc_auc(te.y, p2[:, 1])
            masking["fusion_auc"] = roc_auc(te.y, fuse([p1, p2], "mean")[:, 1])
        elif learning_curve:
            masking.update(curve=curve, aulc=area_under_learning_curve(curve),
                           aulc_gain=area_under_learning_curve(curve) - out["raw_student"]["aulc"],
                           epochs_to_reach=epochs_to_reach(curve, cfg.reach_level))
        out["methods"][method]["masking"] = masking
    return out


def _curves(result: dict) -> dict:
    keys = ("fractions", "accuracy_morf", "accuracy_lerf", "aopc_morf", "aopc_lerf", "aopc_gap", "accuracy_gap")
    out = {k: result[k] for k in keys}
    out["logit_morf_mean"] = result["logit_morf"].mean(axis=0)
    out["logit_lerf_mean"] = result["logit_lerf"].mean(axis=0)
    return out


def run(cfg: FaithfulnessExperiment, progress: bool = False) -> dict[str, dict]:
    cfg.validate()
    return {d: run_domain(d, cfg, progress) for d in cfg.domains}


# -- summaries ---------------------------------------------------------------------------------------------
def table(results: dict[str, dict]) -> list[dict]:
    """One row per (domain, method): the faithfulness scores beside the masking result, and whether the domain's
    data were synthetic."""
    rows = []
    for domain, res in results.items():
        for method, m in res["methods"].items():
            row = {"domain": domain, "method": method, **m["scores"]}
            masking = m["masking"]
            for key in ("cnn2_auc", "fusion_auc", "aulc_gain", "epochs_to_reach", "accuracy"):
                if key in masking:
                    row[f"mask_{key}"] = masking[key]
            row["mask_score"] = masking[domain_defaults(domain).score]
            row["synthetic"] = res.get("synthetic", True)  # what the titles say (data_label)
            rows.append(row)
    return rows


def _finite(value) -> bool:
    """A score that has a value: not NaN, and not None (NaN as ``results.json`` records it, so the summaries below
    also take the rows the notebook recorded)."""
    return value is not None and bool(np.isfinite(value))


def correlations(rows: Sequence[dict]) -> dict[str, dict[str, float]]:
    """Per domain and faithfulness score: Spearman correlation across methods (the random row included) with the
    masking score, signed so that positive means "more faithful, better mask"; NaN with fewer than 3 methods."""
    from relmask.scoring.metrics import spearman_rows

    out: dict[str, dict[str, float]] = {}
    for domain in dict.fromkeys(r["domain"] for r in rows):
        sub = [r for r in rows if r["domain"] == domain]
        out[domain] = {}
        for key, _, higher in SCORES:
            pairs = np.array([(r[key], r["mask_score"]) for r in sub if _finite(r[key])], np.float64)
            if len(pairs) < 3:
                out[domain][key] = float("nan")
                continue
            rho = spearman_rows(pairs[None, :, 0], pairs[None, :, 1])[0]
            out[domain][key] = float(rho if higher else -rho)
    return out


def format_table(rows: Sequence[dict]) -> str:
    """Markdown: per domain and method the scores and the masking result."""
    keys = [k for k, _, _ in SCORES if any(_finite(r[k]) for r in rows)]
    head = ["domain", "method", *keys, "mask score"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["domain"], r["method"]] + [f"{r[k]:.3f}" if _finite(r[k]) else "–" for k in keys]
        cells.append(f"{r['mask_score']:.3f} ({domain_defaults(r['domain']).score})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_table(rows: Sequence[dict], stem: str | Path) -> list[Path]:
    """``stem.md`` (the markdown table, its title labelled as its data were: :func:`data_label`) and
    ``stem.csv``."""
    import csv
    import io

    from relmask.io import atomic_write

    stem = Path(stem)
    md = (f"Faithfulness of relevance maps and the masking result per method{data_label(rows)}.\n\n"
          + format_table(rows) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    writer.writeheader()
    writer.writerows(rows)
    return [atomic_write(stem.with_suffix(".md"), md), atomic_write(stem.with_suffix(".csv"), buf.getvalue())]


def plot_scores(rows: Sequence[dict], stem: str | Path):
    """One figure: per domain (row) each faithfulness score (column) against the masking score, one labelled
    point per method; the title says whether the data were synthetic (:func:`data_label`). Saved as ``stem.png``
    and ``stem.pdf``."""
    import matplotlib.pyplot as plt

    from relmask.running.plotting import PALETTE, apply_style, save_figure

    apply_style()
    domains = list(dict.fromkeys(r["domain"] for r in rows))
    keys = [(k, label) for k, label, _ in SCORES if any(_finite(r[k]) for r in rows)]
    fig, axes = plt.subplots(len(domains), len(keys), figsize=(2.6 * len(keys), 2.4 * len(domains)),
                             squeeze=False)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    colour = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(methods)}
    for i, domain in enumerate(domains):
        sub = [r for r in rows if r["domain"] == domain]
        for j, (key, label) in enumerate(keys):
            ax = axes[i, j]
            for r in sub:
                if _finite(r[key]):
                    ax.scatter(r[key], r["mask_score"], color=colour[r["method"]], s=22,
                               marker="x" if r["method"] == RANDOM else "o", label=r["method"])
            ax.set_xlabel(label)
            if j == 0:
                ax.set_ylabel(f"{domain}: {domain_defaults(domain).score}")
    handles, labels = [], []
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 7), frameon=False,
               bbox_to_anchor=(0.5, 1.02))
    fig.suptitle(f"Faithfulness vs masking result{data_label(rows)}", y=1.07)
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths



# -- the registered experiment -----------------------------------------------------------------------------
HERE = Path(__file__).resolve().parent


class RelevanceFaithfulness(Experiment):
    """``relmask run faithfulness`` / ``experiment: faithfulness`` in a reproduce config: the pipeline above, its
    notebook and presets. Its figure and table reach ``paper/`` through the ``paper_outputs`` the notebook records
    (:func:`relmask.running.figures.declared_outputs`), so :meth:`paper_outputs` stays the default."""

    name = "faithfulness"
    description = ("Faithfulness of relevance maps (pixel flipping, ROAD, the randomisation sanity check, ROAR) "
                   "beside the masking result of each method, on every domain that declares its defaults")
    config = FaithfulnessExperiment
    notebook = HERE / "notebooks" / "relevance_faithfulness.ipynb"
    presets = presets_in(HERE / "presets")
