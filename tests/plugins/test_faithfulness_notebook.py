"""The faithfulness experiment (relmask_plugins.faithfulness): declared parameters, presets, summaries, a tiny run."""
from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

import relmask
from relmask.errors import ParameterError, UnknownNameError
from relmask_plugins.faithfulness import experiment as fa

NOTEBOOK = fa.RelevanceFaithfulness.notebook


def test_presets_match_the_declared_parameters():
    from relmask.running.runner import check_parameters, parse_parameters

    exp = relmask.get_experiment("faithfulness")
    assert isinstance(exp, fa.RelevanceFaithfulness) and exp.config is fa.FaithfulnessExperiment
    params = parse_parameters(NOTEBOOK)
    assert list(params) == [p.name for p in exp.params]
    assert {n: p.default for n, p in params.items()} == {p.name: p.default for p in exp.params}
    assert sorted(exp.presets) == ["full", "quick"]
    quick = yaml.safe_load(exp.preset("quick").read_text())
    # the quick preset pins the built-in domains at their default sizes (make demo stays the same whatever else
    # is installed); the notebook's default runs every domain that declares its defaults
    assert quick["domains"] == ["whale", "fer"] and exp.configure(quick).domains == ["whale", "fer"]
    assert quick["n_samples"] == {d: relmask.get_domain(d).defaults.n_samples for d in quick["domains"]}
    pinned = ("output_dir", "domains", "n_samples")
    assert {k: v for k, v in quick.items() if k not in pinned} == {p.name: p.default for p in exp.params
                                                                   if p.name not in pinned}
    full = yaml.safe_load(exp.preset("full").read_text())
    assert set(full) == set(params) and full["roar"] and not quick["roar"]
    check_parameters(NOTEBOOK, full)
    assert exp.configure(full).roar_fractions == full["roar_fractions"]


@pytest.mark.parametrize("given, words", [
    ({"n_eval": 0}, ["'n_eval'", ">= 1"]),
    ({"test_fraction": 1.0}, ["'test_fraction'", "(0, 1)"]),
    ({"patch_size": 0}, ["'patch_size'"]),
    ({"reach_level": 1.5}, ["'reach_level'", "[0, 1]"]),
    ({"n_samples": {"whale": 10, "fer": 100}}, ["n_samples", "20"]),
    ({"roar": "yes"}, ["'roar'", "bool"]),
])
def test_configure_rejects_bad_values_naming_them(given, words):
    with pytest.raises(ParameterError) as info:
        relmask.get_experiment("faithfulness").configure(given)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_settings_are_checked_before_anything_trains(monkeypatch):
    with pytest.raises(UnknownNameError, match="audio"):
        fa.FaithfulnessExperiment(domains=["audio"]).validate()
    with pytest.raises(ParameterError, match="not in the run's domains"):
        fa.FaithfulnessExperiment(domains=["whale"], n_samples={"fer": 100}).validate()
    monkeypatch.setattr(relmask.get_domain("fer"), "defaults", None)
    with pytest.raises(ParameterError, match="domain 'fer' declares no defaults"):
        fa.FaithfulnessExperiment(domains=["whale", "fer"]).validate()
    assert "fer" not in fa.declaring_domains()
    assert fa.FaithfulnessExperiment().validate().domains == fa.declaring_domains()  # None: every declaring one
    with pytest.raises(UnknownNameError, match="did you mean 'occlusion'"):
        fa.FaithfulnessExperiment(relevance_methods=["gradient"],
                                  relevance_params={"ocllusion": {"window": 4}}).validate()
    with pytest.raises(ParameterError, match="unknown parameter 'windw'"):
        fa.FaithfulnessExperiment(relevance_methods=["occlusion"],
                                  relevance_params={"occlusion": {"windw": 4}}).validate()
    with pytest.raises(ParameterError, match="roar_fractions"):
        fa.FaithfulnessExperiment(roar_fractions=[0.0]).validate()


def _rows():
    nan = float("nan")
    rows = []
    for i, method in enumerate(["a", "b", "c", "random"]):
        scores = {"pf_aopc_gap": 0.1 * i, "pf_accuracy_gap": 0.0, "road_aopc_gap": 0.0,
                  "road_accuracy_gap": -0.1 * i, "sanity_spearman": nan if method == "random" else 1.0 - 0.2 * i,
                  "sanity_ssim": nan, "roar_score": nan}
        rows.append({"domain": "whale", "method": method, **scores, "mask_score": 0.5 + 0.01 * i})
    return rows


def test_correlations_are_signed_so_positive_means_faithful_and_better():
    corr = fa.correlations(_rows())["whale"]
    assert corr["pf_aopc_gap"] == pytest.approx(1.0)  # higher gap, higher mask score
    assert corr["road_accuracy_gap"] == pytest.approx(-1.0)
    assert corr["sanity_spearman"] == pytest.approx(1.0)  # lower correlation is more faithful: the sign flips
    assert math.isnan(corr["sanity_ssim"]) and math.isnan(corr["pf_accuracy_gap"])  # no values / constant


def test_table_and_figure_files(tmp_path):
    rows = _rows()
    text = fa.format_table(rows)
    assert "| whale | random | 0.300 | 0.000 | -0.300 | – | 0.530 (fusion_auc) |" in text
    assert "roar_score" not in text and "sanity_ssim" not in text  # columns without a value are left out
    # the rows as results.json records them (NaN as None) give the same table and correlations
    recorded = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in rows]
    assert fa.format_table(recorded) == text
    assert fa.correlations(recorded)["whale"]["pf_aopc_gap"] == pytest.approx(1.0)
    paths = fa.write_table(rows, tmp_path / "t")
    assert paths[0].read_text().startswith("Faithfulness") and "(synthetic data)" in paths[0].read_text()
    assert paths[1].read_text().splitlines()[0].startswith("domain,method,pf_aopc_gap")
    figs = fa.plot_scores(rows, tmp_path / "f")
    assert [p.suffix for p in figs] == [".png", ".pdf"] and all(p.stat().st_size > 0 for p in figs)


def test_titles_say_synthetic_only_for_synthetic_data(tmp_path, monkeypatch):
    """The table's and the figure's titles follow the data each domain's rows were on (DomainDefaults.synthetic,
    carried into every row by fa.table): all synthetic, some (named), none; a row that does not say is synthetic."""
    import relmask.running.plotting as plotting

    titles = []
    save = plotting.save_figure

    def save_figure(fig, stem):
        titles.append(fig._suptitle.get_text())
        return save(fig, stem)

    monkeypatch.setattr(plotting, "save_figure", save_figure)
    whale = _rows()
    fer = [{**r, "domain": "fer"} for r in whale]
    cases = {"unsaid": (whale, " (synthetic data)"),
             "synthetic": ([{**r, "synthetic": True} for r in whale + fer], " (synthetic data)"),
             "mixed": ([{**r, "synthetic": True} for r in whale] + [{**r, "synthetic": False} for r in fer],
                       " (synthetic data: whale)"),
             "real": ([{**r, "synthetic": False} for r in whale + fer], "")}
    for name, (rows, label) in cases.items():
        assert fa.data_label(rows) == label, name
        md = fa.write_table(rows, tmp_path / name)[0].read_text()
        assert md.splitlines()[0] == f"Faithfulness of relevance maps and the masking result per method{label}.", name
        fa.plot_scores(rows, tmp_path / f"{name}_fig")
        assert titles[-1] == f"Faithfulness vs masking result{label}", name
    assert "synthetic" not in fa.write_table(cases["real"][0], tmp_path / "real")[0].read_text().lower()
    # what the notebook records as `synthetic` (relmask reproduce and paper/ label the run by it)
    assert fa.synthetic({"whale": {"synthetic": True}, "digits": {"synthetic": False}}) is True
    assert fa.synthetic({"digits": {"synthetic": False}}) is False


def test_relevance_params_come_from_the_domain_overridden_by_the_run():
    """The occlusion window is the domain's (DomainDefaults.relevance_params), not the experiment's: whale and fer
    declare the 12 px the experiment used to impose on every domain; the run's relevance_params win parameter by
    parameter, and the merged parameters are what the checks see."""
    for d in ("whale", "fer"):
        assert relmask.get_domain(d).defaults.relevance_params == {"occlusion": {"window": 12}}
        assert relmask.get_domain(d).defaults.synthetic is True
    whale = relmask.get_domain("whale").defaults
    assert fa.FaithfulnessExperiment().relevance_params == {}
    assert fa.method_params(whale, "occlusion", {}) == {"window": 12}
    assert fa.method_params(whale, "occlusion", {"occlusion": {"stride": 4}}) == {"window": 12, "stride": 4}
    assert fa.method_params(whale, "occlusion", {"occlusion": {"window": 6}}) == {"window": 6}
    assert fa.method_params(whale, "gradient", {}) == {}
    with pytest.raises(ParameterError, match=r"'whale' \(over the domain's own \{'window': 12\}\).*'stride'"):
        fa.FaithfulnessExperiment(domains=["whale"], relevance_methods=["occlusion"],
                                  relevance_params={"occlusion": {"stride": [1, 1, 1]}}).validate()
    with pytest.raises(ParameterError, match="relevance_params must be"):
        relmask.DomainDefaults(source="s", size_param="n", n_samples=20, model="m", masker="keep", score="accuracy",
                               n_classes=2, relevance_params={"occlusion": 12})


@pytest.mark.slow
def test_notebook_runs_on_tiny_data(tmp_path):
    from relmask.running.runner import run_notebook

    res = run_notebook(NOTEBOOK, {"domains": ["whale", "fer"], "relevance_methods": ["gradient", "lrp.epsilon"],
                                  "n_samples": {"whale": 60, "fer": 70},
                                  "epochs": 1, "n_eval": 8, "steps": 3, "road_steps": 2, "n_sanity": 4,
                                  "roar": True, "roar_fractions": [0.5], "roar_epochs": 1},
                       output_dir=tmp_path / "out")
    rows = res.results["table"]
    assert [(r["domain"], r["method"]) for r in rows] == [(d, m) for d in ("whale", "fer")
                                                          for m in ("gradient", "lrp.epsilon", "random")]
    assert all(np.isfinite(r["pf_aopc_gap"]) and np.isfinite(r["roar_score"]) for r in rows)
    assert set(res.results["correlations"]) == {"whale", "fer"}
    whale = res.results["whale_results"]["methods"]["gradient"]
    assert len(whale["pixel_flipping"]["accuracy_morf"]) == 4 and len(whale["road"]["fractions"]) == 3
    figures = tmp_path / "out" / "figures"
    for name in ("faithfulness_vs_masking.png", "faithfulness_vs_masking.pdf", "faithfulness_table.md",
                 "faithfulness_table.csv"):
        assert (figures / name).exists(), name
    assert res.results["synthetic"] is True  # both built-in domains are synthetic, and the table says so
    assert "(synthetic data)" in (figures / "faithfulness_table.md").read_text().splitlines()[0]
