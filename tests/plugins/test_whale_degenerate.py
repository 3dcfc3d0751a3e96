"""Whale tables say so beside a method's rows when its maps are degenerate for more than 5 % of clips (issue 23,
point 3). Small synthetic result rows, no training."""
from __future__ import annotations

from relmask_plugins.whale import pipeline, report


def counts(train: int, test: int, n_train: int = 2100, n_test: int = 600) -> dict:
    return {"train": train, "n_train": n_train, "test": test, "n_test": n_test}


def summary_row(system: str, relevance: str | None = None, masker: str | None = None, rule: str | None = None,
                auc: float = 0.95) -> dict:
    return {"relevance": relevance, "masker": masker, "system": system, "fusion_rule": rule, "auc_mean": auc,
            "auc_sd": 0.005, "n_seeds": 3}


SUMMARY = [summary_row("cnn1"), summary_row("ensemble_raw", rule="mean"),
           summary_row("mask_only", "gradcam"), summary_row("cnn2", "gradcam", "negative"),
           summary_row("fusion", "gradcam", "negative", "mean"), summary_row("cnn2", "lrp.epsilon", "negative"),
           summary_row("fusion", "lrp.epsilon", "negative", "mean")]
#: the previous real run's Grad-CAM counts (docs/results-real.md) beside an LRP method without degenerate maps
DEGENERATE = {"0": {"gradcam": counts(390, 105), "lrp.epsilon": counts(0, 0)},
              "1": {"gradcam": counts(43, 11), "lrp.epsilon": counts(3, 1)},
              "2": {"gradcam": counts(1017, 284), "lrp.epsilon": counts(0, 0)}}


def line_of(table: str, *cells: str) -> str:
    (line,) = [ln for ln in table.splitlines() if ln.startswith("| " + " | ".join(cells) + " |")]
    return line


def test_auc_table_flags_the_method_whose_maps_are_degenerate():
    table = pipeline.markdown_table(SUMMARY, DEGENERATE)
    assert table.splitlines()[0].endswith("| degenerate maps |")
    for cells in (("gradcam", "negative", "cnn2"), ("gradcam", "negative", "fusion"), ("gradcam", "–", "mask_only")):
        assert line_of(table, *cells).endswith("| > 5 %: up to 48 % |")  # 1,017 of 2,100 in seed 2
    assert line_of(table, "lrp.epsilon", "negative", "cnn2").endswith("| ≤ 5 % |")
    assert line_of(table, "–", "–", "cnn1").endswith("| – |")  # rows without relevance are not a method's
    note = table.split("\n\n")[-1]
    assert ("gradcam — seed 0: train 390/2,100, test 105/600; seed 1: train 43/2,100, test 11/600; seed 2: train "
            "1,017/2,100, test 284/600") in note
    assert "lrp.epsilon" not in note and "more than 5 %" in note


def test_no_flag_up_to_five_percent_and_old_results_keep_the_plain_table():
    plain = pipeline.markdown_table(SUMMARY)
    assert "degenerate" not in plain
    at_limit = {"0": {"gradcam": counts(105, 30)}}  # exactly 5 % of both splits: not more than 5 %
    assert pipeline.markdown_table(SUMMARY, at_limit) == plain
    assert pipeline.markdown_table(SUMMARY, {}) == plain
    assert pipeline.markdown_table(SUMMARY, {"0": {"gradcam": 7}}) == plain  # not counts: ignored, never a crash
    test_only = {"0": {"gradcam": counts(0, 31)}}  # 5.2 % of the test clips of one seed is enough
    assert line_of(pipeline.markdown_table(SUMMARY, test_only), "gradcam", "negative", "cnn2").endswith(
        "| > 5 %: up to 5.2 % |")


def test_effects_table_flags_rows_by_the_method_of_their_system():
    effects = [{"comparison": f"{m}/negative: fusion vs CNN₁", "a": f"{m}/negative/fusion/mean", "b": "cnn1",
                "mean": 0.001, "sd": 0.002, "lo": -0.004, "hi": 0.006, "n": 3, "includes_zero": True,
                "delong_significant": 0, "delong_n": 3, "delong_median_p": 0.6} for m in ("gradcam", "lrp.epsilon")]
    table = pipeline.effects_markdown(effects, DEGENERATE)
    assert line_of(table, "gradcam/negative: fusion vs CNN₁").endswith("| > 5 %: up to 48 % |")
    assert line_of(table, "lrp.epsilon/negative: fusion vs CNN₁").endswith("| ≤ 5 % |")
    assert "seed 2: train 1,017/2,100" in table
    assert "degenerate" not in pipeline.effects_markdown(effects)


class FakePaper:
    def __init__(self):
        self.tables = {}

    def table(self, stem, runs, title, header, rows, caption):
        self.tables[stem] = (header, rows, caption)


def test_paper_tables_flag_each_runs_methods():
    effects = [{"comparison": "gradcam/negative: fusion vs CNN₁", "a": "gradcam/negative/fusion/mean",
                "b": "cnn1", "mean": 0.001, "sd": 0.002, "lo": -0.004, "hi": 0.006, "n": 3, "includes_zero": True,
                "delong_significant": 0, "delong_n": 3, "delong_median_p": 0.6}]
    flagged = ({"name": "whale-real", "synthetic": False},
               {"summary": SUMMARY, "degenerate_maps": DEGENERATE, "effects": effects})
    clean = ({"name": "whale-clean", "synthetic": False},
             {"summary": [summary_row("cnn2", "gradcam", "mean")], "effects": effects,
              "degenerate_maps": {"0": {"gradcam": counts(2, 0)}}})
    paper = FakePaper()
    report.auc_table([flagged, clean], paper)
    report.effects_table([flagged, clean], paper)
    header, rows, caption = paper.tables["whale_auc"]
    assert header[-1] == "degenerate maps"
    cells = {(r[1], r[2], r[3]): r[-1] for r in rows}
    assert cells[("gradcam", "negative", "CNN₂ (masked)")] == "> 5 %: up to 48 %"
    assert cells[("lrp.epsilon", "negative", "CNN₂ (masked)")] == "≤ 5 %"
    assert cells[("gradcam", "mean", "CNN₂ (masked)")] == "≤ 5 %"  # the other run's Grad-CAM is fine
    assert cells[("–", "–", "CNN₁")] == "–"
    assert "Run whale-real: " in caption and "seed 2: train 1,017/2,100, test 284/600" in caption
    assert "whale-clean" not in caption
    header, rows, caption = paper.tables["whale_effects"]
    assert header[-1] == "degenerate maps" and [r[-1] for r in rows] == ["> 5 %: up to 48 %", "≤ 5 %"]
    plain = FakePaper()
    report.auc_table([clean], plain)
    assert "degenerate maps" not in plain.tables["whale_auc"][0] and "Degenerate" not in plain.tables["whale_auc"][2]
