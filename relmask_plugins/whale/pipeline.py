"""Paper B (Interspeech 2019): relevance-based feature masking with decision-level fusion, on whale clips.

Per seed: split the data (stratified; seeded; or one fold of a k-fold), train CNN1 on raw spectrograms,
compute its relevance on the training and test clips, mask both with every masker, train CNN2 on the masked
training features, evaluate CNN2 on the masked test features and fuse it with CNN1 (mean, product, max of
probabilities). The controls go into the same table: ``ensemble_raw`` (CNN1 fused with a CNN trained on raw data
with another seed: the gain of any two-model ensemble); ``cnn2_<control>``/``fusion_<control>`` for each control
of :mod:`relmask.pipeline.controls` (shuffled maps, another clip's map, smooth random maps: the same masker on maps with
the real maps' statistics but not their placement); and ``mask_only`` (a CNN on the maps alone: do they carry the
label?). Every comparison is reported as a paired per-seed difference with a 95 % interval (bootstrap ∪ t)
and, per seed, DeLong's test over the test clips (:mod:`relmask.scoring.stats`).

Masks never use the true label by default: training masks explain CNN1's prediction (``predicted``) or the
up-call logit (``positive``); ``true`` must be asked for and the results then carry ``label_leak_risk``. Masks of
evaluation data never use it at all (``true`` is refused there).

This module is the pipeline: the notebook ``notebooks/whale_feature_masking.ipynb`` calls :func:`load_data` and
:func:`run` (which returns the AUC and effects tables as Markdown with its results). Its parameters are
:class:`~relmask_plugins.whale.config.WhaleExperiment` (declared once, with their checks), its figures and the
``paper/`` figures and tables come from :mod:`relmask_plugins.whale.report`, and
:class:`~relmask_plugins.whale.experiment.WhaleFeatureMasking` registers the experiment ``whale``. Every step here
is a small function with its own test (tests/plugins/test_whale_experiment.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from relmask.errors import ParameterError, TrainingError
from relmask.pipeline.controls import control_relevance, leak_verdict, mask_only_inputs
from relmask.pipeline.data import Dataset, stratified_kfold, stratified_split
from relmask.scoring.evaluation import FUSION_RULES, fuse, mean_sd, roc_auc, roc_curve
from relmask.scoring.stats import delong, format_effect, paired_difference

from .config import TRAIN_TARGETS, WhaleExperiment

#: the seed offset of the second raw-data CNN of the plain-ensemble control
RAW_SEED_OFFSET = 1000
#: ROC curves are thinned to at most this many points before they are recorded
ROC_POINTS = 400


# -- data --------------------------------------------------------------------------------------------------
def load_data(source: str = "synthetic", data_path: str | None = None, n_clips: int | None = None,
              cache_dir: str | None = None, on_error: str = "raise", seed: int = 0, **params) -> Dataset:
    """The whale dataset; ``n_clips`` is the synthetic size, the Kaggle ``max_clips``, or for precomputed
    ``features``/``images`` a stratified seeded subsample; ``on_error`` (raise or skip bad files) applies to
    sources that read files one by one (``kaggle``, ``images``)."""
    from relmask import get_domain

    domain = get_domain("whale")
    accepted = {p.name for p in domain.source(source).params}
    if n_clips is not None and source == "synthetic":
        params["n_clips"] = n_clips
    elif n_clips is not None and "max_clips" in accepted:
        params["max_clips"] = n_clips
    if "on_error" in accepted:
        params["on_error"] = on_error
    if "cache_dir" in accepted:
        params["cache_dir"] = cache_dir
    ds = domain.load(source, data_path, **params)
    if n_clips is not None and source != "synthetic" and "max_clips" not in accepted and n_clips < len(ds):
        keep, _ = stratified_split(ds.y, [n_clips / len(ds), 1.0 - n_clips / len(ds)], seed)
        ds = ds.subset(keep)
    return ds


def make_splits(y: np.ndarray, seed: int, val_fraction: float = 0.1, test_fraction: float = 0.2,
                n_folds: int = 0, fold: int = 0) -> dict[str, np.ndarray]:
    """Stratified, seeded ``train``/``val``/``test`` indices; with ``n_folds`` the test part is fold ``fold``
    of a seeded stratified k-fold and the validation part is carved from the rest."""
    y = np.asarray(y)
    if n_folds:
        train_val, test = stratified_kfold(y, n_folds, seed)[fold % n_folds]
        if val_fraction == 0:
            return {"train": train_val, "val": train_val[:0], "test": test}
        rest = 1.0 - 1.0 / n_folds
        tr, va = stratified_split(y[train_val], [1 - val_fraction / rest, val_fraction / rest], seed)
        return {"train": train_val[tr], "val": train_val[va], "test": test}
    train, val, test = stratified_split(y, [1 - val_fraction - test_fraction, val_fraction, test_fraction], seed)
    return {"train": train, "val": val, "test": test}


# -- models ------------------------------------------------------------------------------------------------
def member(cfg: WhaleExperiment, x: np.ndarray, y: np.ndarray, seed: int, name: str,
           validation: tuple[np.ndarray, np.ndarray] | None = None,
           input_penalty: tuple[np.ndarray, float] | None = None):
    """A fresh ``cfg.model`` seeded by ``seed``, with its training data (and, for a loss-encoding masker, its
    input-gradient penalty: :class:`relmask.pipeline.training.Member`), as a member of a training group."""
    from relmask.pipeline.training import Member, balanced_class_weight, build_model

    model = build_model(cfg.model, x.shape[1:], 2, seed=seed, **cfg.model_params)
    val = validation if validation is not None and len(validation[0]) else None
    return Member(model, x, y, seed=seed, validation_data=val, name=name,
                  class_weight=balanced_class_weight(y) if cfg.balanced else None, input_penalty=input_penalty)


def train_members(cfg: WhaleExperiment, members: list, description: str, log: bool = True) -> list:
    """Train ``members`` together (:func:`relmask.pipeline.training.fit_all`); returns their results in order (a member
    that failed is reported there and has ``ok`` False)."""
    from relmask.pipeline.training import fit_all

    return fit_all(members, description=description, log=log, epochs=cfg.epochs, batch_size=cfg.batch_size,
                   learning_rate=cfg.learning_rate)


# -- relevance and masking ---------------------------------------------------------------------------------
def mask_targets(mode: str, proba: np.ndarray, y_true: np.ndarray | None = None) -> np.ndarray:
    """Which class each relevance map explains: the true label, the model's prediction or always class 1."""
    if mode == "true":
        if y_true is None:
            raise ParameterError("mask target 'true' needs the labels")
        return np.asarray(y_true, np.int64)
    if mode == "predicted":
        return np.asarray(proba).argmax(axis=1).astype(np.int64)
    if mode == "positive":
        return np.ones(len(proba), np.int64)
    raise ParameterError(f"unknown mask target {mode!r}; known: {TRAIN_TARGETS}")


def relevance(model, x: np.ndarray, method: str, targets: np.ndarray, params: dict | None = None,
              cache_dir: str | None = None) -> np.ndarray:
    """Relevance maps of x's shape, cached on disk (by model weights, data, method, targets, params) under
    ``cache_dir/experiments`` (default: the whale domain's cache folder)."""
    from relmask.running.cache import cached_explain

    from .domain import default_cache_dir

    cache = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / "experiments"
    return cached_explain(model, x, method, targets=targets, cache_dir=str(cache), **(params or {}))


def loss_encoded(masker: str) -> bool:
    """True where ``masker`` encodes the maps in CNN2's loss (``rrr``), not in its inputs."""
    from relmask import get_masker

    return get_masker(masker).encodes == "loss"


def free_region(x: np.ndarray, annotations: np.ndarray) -> np.ndarray:
    """For the example figure of a loss-encoding masker: ``x`` where its input gradient is free, each clip's
    minimum where it is penalised (what the penalty asks CNN2 to decide from; CNN2 itself sees ``x``)."""
    low = x.reshape(len(x), -1).min(axis=1).reshape((-1,) + (1,) * (x.ndim - 1))
    return np.where(annotations > 0, low, x).astype(np.float32)


# -- scores ------------------------------------------------------------------------------------------------
def row(system: str, seed: int, auc: float, relevance: str | None = None, masker: str | None = None,
        fusion_rule: str | None = None) -> dict:
    return {"relevance": relevance, "masker": masker, "system": system, "fusion_rule": fusion_rule,
            "seed": int(seed), "auc": float(auc)}


def score_systems(y: np.ndarray, probs: dict[str, np.ndarray], base: np.ndarray, rules: list[str],
                  seed: int, relevance: str | None = None, masker: str | None = None,
                  fused_name: dict[str, str] | None = None) -> tuple[list[dict], dict[str, np.ndarray]]:
    """AUC rows of every single system in ``probs`` and of its fusion with ``base`` (CNN1) per rule.

    ``fused_name`` maps a system to the name of its fusion (e.g. cnn2 -> fusion); returns (rows, the up-call
    scores by label ``system`` or ``system/rule``).
    """
    rows, scores = [], {}
    for system, p in probs.items():
        rows.append(row(system, seed, roc_auc(y, p[:, 1]), relevance, masker))
        scores[system] = p[:, 1]
        name = (fused_name or {}).get(system)
        if name:
            for rule in rules:
                s = fuse([base, p], rule)[:, 1]
                rows.append(row(name, seed, roc_auc(y, s), relevance, masker, rule))
                scores[f"{name}/{rule}"] = s
    return rows, scores


def summarize(rows: list[dict]) -> list[dict]:
    """Rows aggregated over seeds: ``auc_mean``, ``auc_sd`` (ddof 1; 0 for one seed), ``n_seeds``."""
    keys = ("relevance", "masker", "system", "fusion_rule")
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r["auc"])
    out = []
    for key, aucs in groups.items():
        m, sd = mean_sd(aucs)
        out.append({**dict(zip(keys, key, strict=True)), "auc_mean": m, "auc_sd": sd, "n_seeds": len(aucs)})
    return out


def thin_roc(y: np.ndarray, score: np.ndarray, points: int = ROC_POINTS) -> dict[str, list[float]]:
    """ROC curve (fpr, tpr) with at most ``points`` vertices, endpoints kept (monotone, so thinning is safe),
    and the exact AUC of the unthinned scores."""
    fpr, tpr, _ = roc_curve(y, score)
    if len(fpr) > points:
        keep = np.unique(np.round(np.linspace(0, len(fpr) - 1, points)).astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": [round(float(v), 6) for v in fpr], "tpr": [round(float(v), 6) for v in tpr],
            "auc": roc_auc(y, score)}


# -- Markdown tables (run() returns them with its results; the report reuses the degenerate-map flags) -----
def _markdown(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows]) + "\n"


def _percent(share: float) -> str:
    pct = 100 * share
    return f"{pct:.0f} %" if pct >= 10 or pct == round(pct) else f"{pct:.1f} %"


def _count(k: int, n: int) -> str:
    return f"{k:,}/{n:,}"


def degenerate_shares(degenerate: dict | None) -> dict[str, float]:
    """Per relevance method, the largest share of degenerate maps over the seeds and splits of
    ``results["degenerate_maps"]`` (``{seed: {method: {train, n_train, test, n_test}}}``, see :func:`run_seed`)."""
    out: dict[str, float] = {}
    for per_method in _degenerate_entries(degenerate).values():
        for method, c in per_method.items():
            shares = [c[k] / c[f"n_{k}"] for k in ("train", "test") if c.get(f"n_{k}")]
            out[method] = max([out.get(method, 0.0), *shares])
    return out


def _degenerate_entries(degenerate) -> dict[str, dict[str, dict]]:
    """``degenerate`` without entries that are not counts of the form :func:`run_seed` records (None, other
    layouts), so a table never fails on an old or partial results file."""
    keys = ("train", "n_train", "test", "n_test")
    if not isinstance(degenerate, dict):
        return {}
    return {str(seed): {m: c for m, c in per.items() if isinstance(c, dict) and all(k in c for k in keys)}
            for seed, per in degenerate.items() if isinstance(per, dict)}


def degenerate_flags(degenerate: dict | None, limit: float | None = None, always: bool = False) -> dict[str, str]:
    """``{method: table cell}`` for every method with counts: flagged when its maps are degenerate (every value
    equal, e.g. all zero; :func:`relmask.pipeline.masking.degenerate_maps`) for more than ``limit`` (default
    :data:`relmask.pipeline.masking.DEGENERATE_WARN_SHARE`, 5 %) of the training or the test clips of any seed.
    Empty when no method is flagged (tables then keep their plain layout), unless ``always``."""
    from relmask.pipeline.masking import DEGENERATE_WARN_SHARE

    limit = DEGENERATE_WARN_SHARE if limit is None else limit
    shares = degenerate_shares(degenerate)
    if not always and not any(v > limit for v in shares.values()):
        return {}
    return {m: (f"> {_percent(limit)}: up to {_percent(v)}" if v > limit else f"≤ {_percent(limit)}")
            for m, v in shares.items()}


def degenerate_note(degenerate: dict | None, limit: float | None = None) -> str:
    """One sentence per flagged method (:func:`degenerate_flags`) with its counts per seed, for a table's
    footnote or caption; empty when none is flagged."""
    from relmask.pipeline.masking import DEGENERATE_WARN_SHARE

    limit = DEGENERATE_WARN_SHARE if limit is None else limit
    flagged = [m for m, v in degenerate_shares(degenerate).items() if v > limit]
    if not flagged:
        return ""
    parts = []
    for m in flagged:
        seeds = [f"seed {seed}: train {_count(c[m]['train'], c[m]['n_train'])}, test "
                 f"{_count(c[m]['test'], c[m]['n_test'])}" for seed, c in _degenerate_entries(degenerate).items()
                 if m in c]
        parts.append(f"{m} — {'; '.join(seeds)}")
    return (f"Degenerate maps (every value equal, e.g. all zero) for more than {_percent(limit)} of the clips: "
            + ". ".join(parts) + ". On such clips top-fraction maskers (negative, keep) draw the masked values "
            "at random, as the shuffled control does, and mean masking keeps or removes the whole clip "
            "(docs/reliability.md): any relevance effect of these rows is diluted.")


def markdown_table(summary: list[dict], degenerate: dict | None = None) -> str:
    """The AUC table (mean ± sd over seeds): one line per relevance × masker × system × fusion rule.

    ``degenerate`` (``results["degenerate_maps"]``): when a method's maps are degenerate for more than 5 % of
    any seed's training or test clips, a column says so beside every row of every method, and a footnote gives
    the counts per seed (:func:`degenerate_flags`, :func:`degenerate_note`)."""
    flags = degenerate_flags(degenerate)
    header = ["relevance", "masker", "system", "fusion", "AUC (mean ± sd)", "seeds"]
    rows = [[s["relevance"] or "–", s["masker"] or "–", s["system"], s["fusion_rule"] or "–",
             f"{s['auc_mean']:.4f} ± {s['auc_sd']:.4f}", s["n_seeds"]] for s in summary]
    if not flags:
        return _markdown(header, rows)
    rows = [[*r, flags.get(s["relevance"], "–")] for r, s in zip(rows, summary, strict=True)]
    return _markdown([*header, "degenerate maps"], rows) + "\n" + degenerate_note(degenerate) + "\n"


# -- one seed, all runs ------------------------------------------------------------------------------------
@dataclass
class SeedResult:
    rows: list[dict]
    scores: dict[str, np.ndarray]
    y_test: np.ndarray
    examples: dict[str, Any]
    masked_fraction: dict[str, float]
    relevance_checksum: dict[str, float]
    histories: dict[str, dict]
    delong: list[dict] = field(default_factory=list)
    degenerate: dict[str, dict] = field(default_factory=dict)


def splits_for(cfg: WhaleExperiment, y: np.ndarray, run_index: int) -> dict[str, np.ndarray]:
    """The split of the ``run_index``-th seed: its own seeded split, or with ``n_folds`` fold ``run_index``
    (modulo n_folds) of one k-fold partition seeded by the first seed (a proper cross-validation)."""
    if cfg.n_folds:
        return make_splits(y, cfg.seeds[0], cfg.val_fraction, cfg.test_fraction, cfg.n_folds, run_index)
    return make_splits(y, cfg.seeds[run_index], cfg.val_fraction, cfg.test_fraction)


def comparisons(cfg: WhaleExperiment) -> list[tuple[str, str, str]]:
    """``(label, system a, system b)`` of every effect the experiment reports, per relevance × masker run
    (systems named as in the score labels: ``cnn1``, ``ensemble_raw/<rule>``, ``<m>/<k>/fusion/<rule>`` …)."""
    rule = cfg.fusion_rules[0] if cfg.fusion_rules else None
    out = []
    for m in cfg.relevance_methods:
        for k in cfg.maskers:
            key = f"{m}/{k}"
            if rule:
                out += [(f"{key}: fusion vs CNN₁", f"{key}/fusion/{rule}", "cnn1"),
                        (f"{key}: fusion vs raw ensemble", f"{key}/fusion/{rule}", f"ensemble_raw/{rule}")]
            for c in cfg.controls:
                out.append((f"{key}: CNN₂ vs {c} control", f"{key}/cnn2", f"{key}/cnn2_{c}"))
                if rule:
                    out.append((f"{key}: fusion vs {c} control", f"{key}/fusion/{rule}",
                                f"{key}/fusion_{c}/{rule}"))
    return out


def run_seed(ds: Dataset, cfg: WhaleExperiment, seed: int, sp: dict[str, np.ndarray],
             progress: bool | None = None, n_examples: int = 3) -> SeedResult:
    """Every system of one seed on the split ``sp`` (see the module doc). ``progress`` False silences the
    stage reports (:mod:`relmask.running.progress`)."""
    from relmask import get_masker
    from relmask.pipeline.masking import degenerate_maps, mask, masked_fraction
    from relmask.pipeline.training import predict_proba
    from relmask.running import progress as prog

    x_tr, y_tr, x_va, y_va = ds.x[sp["train"]], ds.y[sp["train"]], ds.x[sp["val"]], ds.y[sp["val"]]
    x_te, y_te = ds.x[sp["test"]], ds.y[sp["test"]]
    def stage(name):
        return prog.stage(name, log=progress is not False)

    cnn1_res, raw_res = train_members(cfg, [member(cfg, x_tr, y_tr, seed, "CNN₁", (x_va, y_va)),
                                            member(cfg, x_tr, y_tr, seed + RAW_SEED_OFFSET,
                                                   "raw CNN (ensemble control)", (x_va, y_va))], "CNN₁ + raw CNN",
                                      progress is not False)
    if not cnn1_res.ok:
        raise TrainingError(f"seed {seed}: CNN₁ failed ({cnn1_res.error}); nothing of this seed can be computed")
    cnn1, hist1 = cnn1_res.model, cnn1_res.history
    p1_tr, p1 = predict_proba(cnn1, x_tr), predict_proba(cnn1, x_te)
    probs0 = {"cnn1": p1, **({"cnn_raw": predict_proba(raw_res.model, x_te)} if raw_res.ok else {})}
    rows, scores = score_systems(y_te, probs0, p1, cfg.fusion_rules, seed, fused_name={"cnn_raw": "ensemble_raw"})
    t_tr = mask_targets(cfg.train_mask_target, p1_tr, y_tr)
    t_te = mask_targets(cfg.eval_mask_target, p1)  # no labels passed: evaluation masks cannot see them
    # show positives first in the example figure (that is where the relevance is interesting)
    ex_idx = np.argsort(-y_te, kind="stable")[:n_examples]
    examples: dict[str, Any] = {"x": x_te[ex_idx], "y": y_te[ex_idx], "ids": ds.ids[sp["test"]][ex_idx],
                                "relevance": {}, "masked": {}, "masked_control": {}}
    fractions, checksums, histories, degenerate = {}, {}, {"cnn1": hist1}, {}
    # every second CNN of this seed (each method x masker x map, and the mask-only CNNs) trains in one group;
    # jobs: (label, member, test inputs, what to score it as)
    jobs: list[tuple[str, Any, np.ndarray, tuple]] = []
    for method in cfg.relevance_methods:
        rparams = cfg.relevance_params.get(method, {})
        with stage(f"relevance {method}"):
            r_tr = relevance(cnn1, x_tr, method, t_tr, rparams, cfg.cache_dir)
            r_te = relevance(cnn1, x_te, method, t_te, rparams, cfg.cache_dir)
        degenerate[method] = {"train": int(degenerate_maps(r_tr).sum()), "n_train": len(r_tr),
                              "test": int(degenerate_maps(r_te).sum()), "n_test": len(r_te)}
        checksums[method] = float(np.abs(r_te[:8]).sum())
        examples["relevance"][method] = r_te[ex_idx]
        if cfg.mask_only:
            # the maps alone, test maps made by the *training* rule (a diagnostic: with "true" they see the
            # test labels, and this CNN's score is only read against CNN1's, never reported as a detector)
            same_rule = cfg.train_mask_target == cfg.eval_mask_target
            r_te_rule = r_te if same_rule else relevance(
                cnn1, x_te, method, mask_targets(cfg.train_mask_target, p1, y_te), rparams, cfg.cache_dir)
            jobs.append((f"{method}/mask_only", member(cfg, mask_only_inputs(r_tr), y_tr, seed,
                                                       f"mask-only {method}"),
                         mask_only_inputs(r_te_rule), ("mask_only", method, None)))
        for masker in cfg.maskers:
            mparams = cfg.masker_params.get(masker, {})
            key = f"{method}/{masker}"
            maps = {"cnn2": (r_tr, r_te)}
            for i, c in enumerate(cfg.controls):
                maps[f"cnn2_{c}"] = (control_relevance(r_tr, c, seed + 10 * i),
                                     control_relevance(r_te, c, seed + 10 * i + 1))
            weight = get_masker(masker).resolve_params(mparams)["weight"] if loss_encoded(masker) else None
            for system, (rt, re) in maps.items():
                name = f"CNN₂ {key} ({system})"
                if weight is None:
                    xm_tr = mask(x_tr, rt, masker, seed=seed, **mparams)
                    xm_te = mask(x_te, re, masker, seed=seed, **mparams)
                    jobs.append((f"{key}/{system}", member(cfg, xm_tr, y_tr, seed, name),
                                 xm_te if cfg.eval_inputs == "masked" else x_te, (system, method, masker)))
                    fractions[f"{key}/{system}"] = masked_fraction(x_tr, xm_tr)
                else:  # the maps go into CNN2's loss: it trains and is scored on raw clips, nothing is masked
                    annotations = mask(x_tr, rt, masker, seed=seed, **mparams)
                    jobs.append((f"{key}/{system}", member(cfg, x_tr, y_tr, seed, name,
                                                           input_penalty=(annotations, weight)),
                                 x_te, (system, method, masker)))
                    fractions[f"{key}/{system}"] = float(annotations.mean())  # share under the penalty
                    xm_te = free_region(x_te, mask(x_te, re, masker, seed=seed, **mparams))
                if system == "cnn2":
                    examples["masked"][key] = xm_te[ex_idx]
                elif system == f"cnn2_{cfg.controls[0]}":
                    examples["masked_control"][key] = xm_te[ex_idx]
    results = train_members(cfg, [j[1] for j in jobs], "CNN₂s", progress is not False) if jobs else []
    probs: dict[tuple, dict[str, np.ndarray]] = {}
    for (label, _, x_eval, (system, method, masker)), res in zip(jobs, results, strict=True):
        histories[label] = res.history
        if res.ok:  # a failed CNN is reported by fit_all and left out of the tables
            probs.setdefault((method, masker), {})[system] = predict_proba(res.model, x_eval)
    for (method, masker), p in probs.items():
        key = method if masker is None else f"{method}/{masker}"
        fused = {} if masker is None else {system: system.replace("cnn2", "fusion") for system in p}
        r, s = score_systems(y_te, p, p1, cfg.fusion_rules if masker else [], seed, method, masker,
                             fused_name=fused)
        rows += r
        scores.update({f"{key}/{k}": v for k, v in s.items()})
    tests = []
    for label, a, b in comparisons(cfg):
        if a in scores and b in scores:
            tests.append({"comparison": label, "seed": int(seed), **delong(y_te, scores[a], scores[b])})
    return SeedResult(rows, scores, y_te, examples, fractions, checksums, histories, tests, degenerate)


def effects(cfg: WhaleExperiment, table: list[dict], delong_rows: list[dict]) -> list[dict]:
    """Per comparison of :func:`comparisons`: the paired per-seed AUC difference with its 95 %
    interval, and how many seeds' DeLong tests over the test clips find a difference (p < 0.05)."""
    def auc_by_seed(label: str) -> dict[int, float]:
        parts = label.split("/")
        rule = parts[-1] if parts[-1] in FUSION_RULES else None
        if rule:
            parts = parts[:-1]
        system = parts[-1]
        rel, msk = (parts[0], parts[1]) if len(parts) == 3 else (None, None)
        return {r["seed"]: r["auc"] for r in table if r["system"] == system and r["relevance"] == rel
                and r["masker"] == msk and r["fusion_rule"] == rule}

    out = []
    for label, a, b in comparisons(cfg):
        d = paired_difference(auc_by_seed(a), auc_by_seed(b))
        tests = [t for t in delong_rows if t["comparison"] == label]
        out.append({"comparison": label, "a": a, "b": b,
                    **{k: d[k] for k in ("mean", "sd", "lo", "hi", "n", "includes_zero")},
                    "delong_significant": sum(t["p"] < 0.05 for t in tests), "delong_n": len(tests),
                    "delong_median_p": float(np.median([t["p"] for t in tests])) if tests else float("nan")})
    return out


def effect_method(effect: dict) -> str | None:
    """The relevance method of an effect row (its system ``a`` is ``<method>/<masker>/<system>[/<rule>]``)."""
    parts = str(effect.get("a") or "").split("/")
    return parts[0] if len(parts) >= 3 else None


def effects_markdown(rows: list[dict], degenerate: dict | None = None) -> str:
    """The effects as a Markdown table; an interval that includes zero says *within noise*. ``degenerate`` as in
    :func:`markdown_table`: a method whose maps are degenerate for more than 5 % of clips is flagged beside its
    rows."""
    flags = degenerate_flags(degenerate)
    header = ["comparison", "Δ AUC (mean [95% CI], seeds)", "DeLong p < 0.05 (seeds)", "median p"]
    table = [[r["comparison"], format_effect(r, 4), f"{r['delong_significant']}/{r['delong_n']}",
              f"{r['delong_median_p']:.3g}"] for r in rows]
    if not flags:
        return _markdown(header, table)
    table = [[*t, flags.get(effect_method(r), "–")] for t, r in zip(table, rows, strict=True)]
    return _markdown([*header, "degenerate maps"], table) + "\n" + degenerate_note(degenerate) + "\n"


def leak_checks(cfg: WhaleExperiment, table: list[dict]) -> dict[str, dict]:
    """Per relevance method, the mask-only control read against CNN1 (chance AUC 0.5)."""
    out = {}
    for method in cfg.relevance_methods:
        only = [r["auc"] for r in table if r["system"] == "mask_only" and r["relevance"] == method]
        cnn1 = [r["auc"] for r in table if r["system"] == "cnn1"]
        if only:
            out[method] = leak_verdict(float(np.mean(only)), float(np.mean(cnn1)), 0.5,
                                       uses_label=cfg.train_mask_target == "true")
    return out


def run(ds: Dataset, cfg: WhaleExperiment, record: bool = True, progress: bool | None = None) -> dict:
    """All seeds; records ``table``, ``summary``, ``effects``, ``leak_check``, ``roc`` (first seed), sizes,
    params, ``degenerate_maps`` and check values."""
    from relmask import record as rec

    cfg.validate()
    splits = [splits_for(cfg, ds.y, i) for i in range(len(cfg.seeds))]
    from relmask.running import progress as prog

    seed_splits = list(zip(cfg.seeds, splits, strict=True))
    per_seed = [run_seed(ds, cfg, seed, sp, progress=progress)
                for seed, sp in prog.stage("seed", seed_splits, log=progress is not False)]
    first, sp = per_seed[0], splits[0]
    table = [r for s in per_seed for r in s.rows]
    delong_rows = [t for s in per_seed for t in s.delong]
    results = {
        "table": table,
        "summary": summarize(table),
        "effects": effects(cfg, table, delong_rows),
        "delong": delong_rows,
        "leak_check": leak_checks(cfg, table),
        "label_leak_risk": cfg.train_mask_target == "true",
        "degenerate_maps": {str(seed): s.degenerate for seed, s in zip(cfg.seeds, per_seed, strict=True)},
        "roc": {label: thin_roc(first.y_test, s) for label, s in first.scores.items()},
        "n_train": len(sp["train"]), "n_val": len(sp["val"]), "n_test": len(sp["test"]),
        "class_counts": ds.class_counts(),
        "params": cfg.to_dict(),
        "data": {k: v for k, v in ds.report.items() if k != "cache_file"},
        "data_fingerprint": ds.fingerprint(),
        "masked_fraction": first.masked_fraction,
        "relevance_checksum": first.relevance_checksum,
        "histories": first.histories,
    }
    if record:
        headline = {"summary": ["auc_mean"], "table": ["auc"]}  # a NaN AUC fails the run, never cached as done
        for k, v in results.items():
            rec(k, v, headline=headline.get(k))
    results["table_markdown"] = markdown_table(results["summary"], results["degenerate_maps"])
    results["effects_markdown"] = effects_markdown(results["effects"], results["degenerate_maps"])
    results["examples"] = first.examples
    return results
