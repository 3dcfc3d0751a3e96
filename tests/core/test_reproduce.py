"""relmask reproduce: config parsing, planning, caching/resume, failures, data checks, Dask (tiny notebooks).

The notebook is tests/notebooks/tiny.ipynb (no TensorFlow: a run takes about a second). It appends a line to
``log_file`` per execution, which is how these tests count what was (re)computed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from relmask.errors import DataError
from relmask.running import reproduce as rp
from relmask.running.run_records import DONE_MARKER
from tests.conftest import wait_for

TINY = Path(__file__).resolve().parent.parent / "notebooks" / "tiny.ipynb"
# the tiny notebook stands in for an experiment whose runs the whale and FER paper code draws
pytestmark = pytest.mark.usefixtures("tiny_experiment")


def write_config(tmp_path: Path, runs: list[dict], data: dict | None = None, name: str = "tiny") -> Path:
    for r in runs:
        r.setdefault("notebook", str(TINY))
        r.setdefault("params", {}).setdefault("log_file", str(tmp_path / "log.txt"))
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"description": "test", "data": data or {}, "runs": runs}, sort_keys=False))
    return path


def executions(tmp_path: Path) -> list[str]:
    log = tmp_path / "log.txt"
    return log.read_text().split("\n")[:-1] if log.exists() else []


def run(cfg, tmp_path, **kw):
    kw.setdefault("out", tmp_path / "out")
    kw.setdefault("paper_dir", None)
    return rp.reproduce(cfg, progress=False, log=lambda *a: None, **kw)


def test_config_grid_expansion_and_selection(tmp_path):
    cfg = write_config(tmp_path, [{"name": "a", "params": {"value": 1}},
                                  {"name": "g", "grid": {"value": [2, 3], "kind": ["whale", "fer"]}}])
    config = rp.load_config(cfg)
    assert [r.name for r in config.runs] == ["a", "g-2-whale", "g-2-fer", "g-3-whale", "g-3-fer"]
    assert config.runs[3].parameters["value"] == 3 and config.runs[3].parameters["kind"] == "whale"
    assert [r.name for r in rp.select_runs(config, ["g"])] == [r.name for r in config.runs[1:]]
    assert [r.name for r in rp.select_runs(config, ["*-fer", "a"])] == ["g-2-fer", "g-3-fer", "a"]
    with pytest.raises(rp.ConfigError, match=r"matches no run.*g-3-fer"):
        rp.select_runs(config, ["nope"])


@pytest.mark.parametrize("entry, message", [
    ({"name": "x", "notebook": "missing.ipynb"}, "notebook not found"),
    ({"name": "x", "grid": {"value": 3}}, "non-empty lists"),
    ({"name": "x", "data": {"data_path": "whale"}}, "needs data set 'whale'"),
    ({"name": "x", "bogus": 1}, "unknown keys"),
])
def test_config_errors_name_the_file_and_run(tmp_path, entry, message):
    with pytest.raises(rp.ConfigError, match=message) as info:
        rp.load_config(write_config(tmp_path, [entry]))
    assert "tiny.yaml" in str(info.value)


def test_bad_parameter_fails_before_any_run(tmp_path):
    cfg = write_config(tmp_path, [{"name": "a"}, {"name": "b", "params": {"valeu": 2}}])
    with pytest.raises(rp.ConfigError, match=r"run 'b'.*unknown parameter 'valeu'.*did you mean 'value'"):
        run(cfg, tmp_path)
    assert executions(tmp_path) == []


def test_run_key_covers_notebook_params_and_data_not_locations(tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "set").mkdir(parents=True)
    (data_dir / "set" / "labels.csv").write_text("a,1\n")
    cfg = write_config(tmp_path, [{"name": "a", "params": {"value": 1}},
                                  {"name": "b", "params": {"value": 2}},
                                  {"name": "d", "data": {"log_file": "set"}}],
                       data={"set": {"path": "set", "expect": ["labels.csv"]}})
    config = rp.load_config(cfg)

    def keys(out):
        return {s["name"]: s["key"] for s in rp.plan(config, config.runs, out, data_dir)}

    k1 = keys(tmp_path / "out1")
    assert keys(tmp_path / "out2") == k1  # where outputs go is not part of the identity
    assert k1["a"] != k1["b"]
    (data_dir / "set" / "labels.csv").write_text("a,1\nb,0\n")  # the data changed: only its run is stale
    k2 = keys(tmp_path / "out1")
    assert k2["d"] != k1["d"] and k2["a"] == k1["a"]
    copy = tmp_path / "copy.ipynb"
    copy.write_bytes(TINY.read_bytes() + b"\n")  # notebook bytes changed
    config.runs[0].notebook = copy
    assert keys(tmp_path / "out1")["a"] != k1["a"]


def test_finished_runs_are_reused_and_force_recomputes(tmp_path):
    cfg = write_config(tmp_path, [{"name": "a", "params": {"value": 1}}, {"name": "b", "params": {"value": 2}}])
    first = run(cfg, tmp_path)
    assert [r["status"] for r in first.records] == ["ok", "ok"]
    assert executions(tmp_path) == ["start 1", "end 1", "start 2", "end 2"]
    run_dir = Path(first.records[0]["run_dir"])
    assert run_dir.name.startswith("a-") and (run_dir / DONE_MARKER).exists()
    assert (run_dir / "results.json").exists() and (run_dir / "tiny.ipynb").exists()

    second = run(cfg, tmp_path)
    assert [r["status"] for r in second.records] == ["cached", "cached"]
    assert len(executions(tmp_path)) == 4

    third = run(cfg, tmp_path, force=True, only=["b"])
    assert [r["status"] for r in third.records] == ["ok"]
    assert executions(tmp_path)[4:] == ["start 2", "end 2"]


def test_interrupted_reproduce_resumes_without_recomputing(tmp_path, monkeypatch):
    cfg = write_config(tmp_path, [{"name": n, "params": {"value": v}} for n, v in (("a", 1), ("b", 2), ("c", 3))])
    real = rp.execute_run
    calls = []

    def interrupt_after_first(spec):
        calls.append(spec["name"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second notebook starts
        return real(spec)

    monkeypatch.setattr(rp.execute, "execute_run", interrupt_after_first)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, tmp_path)
    assert executions(tmp_path) == ["start 1", "end 1"]

    # a run killed mid-way leaves a directory without the done marker: it must be recomputed, cleanly
    config = rp.load_config(cfg)
    spec_b = rp.plan(config, config.runs, tmp_path / "out", "data")[1]
    Path(spec_b["run_dir"]).mkdir(parents=True)
    (Path(spec_b["run_dir"]) / "results.json").write_text('{"stale": 1}')

    monkeypatch.setattr(rp.execute, "execute_run", real)
    report = run(cfg, tmp_path)
    assert [r["status"] for r in report.records] == ["cached", "ok", "ok"]
    assert executions(tmp_path) == ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]
    results = (Path(report.records[1]["run_dir"]) / "results.json").read_text()
    assert "stale" not in results and '"value": 2' in results


def test_failing_run_is_reported_and_others_continue(tmp_path, capsys):
    from relmask.cli import main

    cfg = write_config(tmp_path, [{"name": "a", "params": {"value": 1}},
                                  {"name": "bad", "params": {"value": 2, "fail": True}},
                                  {"name": "c", "params": {"value": 3}}])
    code = main(["reproduce", "--config", str(cfg), "--out", str(tmp_path / "out"), "--no-figures"])
    out = capsys.readouterr().out
    assert code == 1
    assert executions(tmp_path) == ["start 1", "end 1", "start 2", "start 3", "end 3"]
    bad = next(line for line in out.splitlines() if line.startswith("bad "))
    assert "failed" in bad
    nb_out = Path(bad.split()[-1])
    # the executed notebook, with the traceback (relmask.running.runner keeps a failed run's as tiny.failed.ipynb)
    assert nb_out.name in ("tiny.ipynb", "tiny.failed.ipynb") and nb_out.exists()
    assert "RuntimeError: tiny notebook asked to fail (value=2)" in out
    assert "executed notebook: " + str(nb_out) in out
    assert not (nb_out.parent / DONE_MARKER).exists() and (nb_out.parent / "failed.json").exists()
    # a failed run is not cached: the next reproduce tries it again, the others are reused
    report = run(cfg, tmp_path)
    assert [r["status"] for r in report.records] == ["cached", "failed", "cached"]


def test_missing_data_fails_up_front_naming_the_data_set(tmp_path):
    cfg = write_config(tmp_path, [{"name": "a"}, {"name": "real", "data": {"log_file": "whale"}}],
                       data={"whale": {"path": "whale", "title": "Kaggle Whale Detection Challenge",
                                       "url": "https://www.kaggle.com/c/whale-detection-challenge",
                                       "howto": "unzip so that whale/train.csv exists",
                                       "expect": ["train.csv", "train"]}})
    with pytest.raises(DataError) as info:
        run(cfg, tmp_path, data_dir=tmp_path / "data")
    msg = str(info.value)
    assert "whale: Kaggle Whale Detection Challenge" in msg
    assert f"expected at {tmp_path / 'data' / 'whale'}" in msg and "missing: whale" in msg
    assert "https://www.kaggle.com/c/whale-detection-challenge" in msg and "--data-dir" in msg
    assert executions(tmp_path) == [] and not (tmp_path / "out").exists()

    (tmp_path / "data" / "whale" / "train").mkdir(parents=True)  # present but incomplete
    with pytest.raises(DataError, match=r"missing: train\.csv"):
        run(cfg, tmp_path, data_dir=tmp_path / "data")
    # runs that need no data still work with --only
    assert [r["status"] for r in run(cfg, tmp_path, data_dir=tmp_path / "data", only=["a"]).records] == ["ok"]


def test_full_config_without_data_fails_up_front(tmp_path, capsys):
    from relmask.cli import main

    code = main(["reproduce", "--config", "full", "--data-dir", str(tmp_path / "nodata"),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "nothing was run" in err
    assert "whale" in err and "fer2013" in err and "kaggle.com" in err
    assert not (tmp_path / "out").exists()


def test_quick_config_is_valid():
    config = rp.load_config("quick")
    assert config.runs and not any(r.data for r in config.runs)  # quick needs no downloaded data
    rp.plan(config, config.runs, "unused", "unused")  # every parameter accepted by its notebook


def test_dask_local_cluster_runs_in_parallel(tmp_path):
    cfg = write_config(tmp_path, [{"name": "g", "grid": {"value": [1, 2, 3]}, "params": {"kind": "fer"}}])
    report = run(cfg, tmp_path, jobs=2, paper_dir=tmp_path / "paper")
    assert sorted(r["status"] for r in report.records) == ["ok"] * 3
    assert sorted(executions(tmp_path)) == sorted(f"{w} {v}" for v in (1, 2, 3) for w in ("start", "end"))
    hosts = {r["device"]["host"] for r in report.records}
    assert len(hosts) == 1
    assert (tmp_path / "paper" / "figures" / "fer_learning_curves.png").exists()
    assert (tmp_path / "out" / "reproduce-tiny.json").exists()



def _kill_and_resume(tmp_path: Path, sig: int, jobs: int) -> None:
    """Start `relmask reproduce` as a real process, kill it once the first run finished, run it again."""
    values = {"a": 1, "b": 2, "c": 3}
    runs = [{"name": n, "params": {"value": v, "sleep_s": 0.0 if n == "a" else 4.0}} for n, v in values.items()]
    cfg = write_config(tmp_path, runs)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "relmask", "reproduce", "--config", str(cfg), "--out", str(out),
            "--no-figures", "--jobs", str(jobs)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(args, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: "end 1" in executions(tmp_path), 90), "first run never finished"
        assert wait_for(lambda: {"start 2", "start 3"} & set(executions(tmp_path)), 30)
        # the whole process group: the CLI, its Dask workers and notebook kernels, as a terminal would
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = executions(tmp_path)
    finished = {n for n in values if list(out.glob(f"runs/{n}-*/{DONE_MARKER}"))}
    assert "a" in finished and finished != set(values), before

    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    table = lines.index(next(x for x in lines if x.split()[:2] == ["name", "status"]))
    status = {x.split()[0]: x.split()[1] for x in lines[table + 2:table + 5]}
    # (a run key includes a hash of relmask's source: editing relmask while this runs makes every run "ok")
    assert status == {n: "cached" if n in finished else "ok" for n in values}, done.stdout
    after = executions(tmp_path)[len(before):]
    for n, v in values.items():
        assert after.count(f"start {v}") == after.count(f"end {v}") == (0 if n in finished else 1), after


def test_sigkill_midway_then_rerun_finishes_the_rest(tmp_path):
    _kill_and_resume(tmp_path, signal.SIGKILL, jobs=1)


@pytest.mark.slow
def test_sigint_dask_midway_then_rerun_finishes_the_rest(tmp_path):
    _kill_and_resume(tmp_path, signal.SIGINT, jobs=2)


# -- sweeps (issue 22, 3): one run per point, each checked, keyed, recorded and drawn --------------------------------
def test_sweep_points_are_named_checked_keyed_and_selected(tmp_path):
    import shlex

    cfg = write_config(tmp_path, [{"name": "sizes", "sweep": {"value": [1, 2]}, "params": {"kind": "fer"}},
                                  {"name": "seeds", "sweep": {"seed": [0, 1], "value": [3]}},  # a product
                                  {"name": "g", "grid": {"kind": ["whale"]}, "sweep": {"value": [4, 5]}}])
    config = rp.load_config(cfg)
    names = [r.name for r in config.runs]
    assert names == ["sizes@value=1", "sizes@value=2", "seeds@seed=0,value=3", "seeds@seed=1,value=3",
                     "g-whale@value=4", "g-whale@value=5"]
    assert all(shlex.quote(n) == n and not set("*?[]") & set(n) for n in names)  # one shell word, no glob
    assert config.runs[1].parameters["value"] == 2 and config.runs[1].sweep == {"value": 2}
    assert config.runs[4].parameters["kind"] == "whale" and config.runs[4].group == "g"
    assert [r.name for r in rp.select_runs(config, ["sizes"])] == names[:2]  # the whole sweep
    assert [r.name for r in rp.select_runs(config, ["sizes@value=2"])] == ["sizes@value=2"]  # one point
    assert [r.name for r in rp.select_runs(config, ["seeds@*"])] == names[2:4]
    specs = rp.plan(config, config.runs, tmp_path / "out", "data")
    assert len({s["key"] for s in specs}) == len({s["run_dir"] for s in specs}) == 6  # each point its own run
    assert specs[1]["sweep"] == {"value": 2}  # the point's values travel into its record
    plain = rp.load_config(write_config(tmp_path, [{"name": "plain"}]))
    assert "sweep" not in rp.plan(plain, plain.runs, tmp_path / "out", "data")[0]


@pytest.mark.parametrize("entry, message", [
    ({"name": "s", "sweep": {"value": []}}, "'sweep' maps parameter names to non-empty lists"),
    ({"name": "s", "sweep": [1, 2]}, "'sweep' maps parameter names to non-empty lists"),
    ({"name": "s", "grid": {"value": [1]}, "sweep": {"value": [2]}}, "'value' is in both 'sweep' and grid"),
    ({"name": "s", "sweep": {"output_dir": ["a", "b"]}}, "cannot sweep 'output_dir'"),
    ({"name": "s@1", "sweep": {"value": [1]}}, "must not contain '@'"),
])
def test_sweep_config_errors_name_the_file_and_run(tmp_path, entry, message):
    with pytest.raises(rp.ConfigError, match=message) as info:
        rp.load_config(write_config(tmp_path, [entry]))
    assert "tiny.yaml" in str(info.value)


def test_every_sweep_point_is_checked_before_anything_runs(tmp_path):
    cfg = write_config(tmp_path, [{"name": "ok", "params": {"value": 1}},
                                  {"name": "s", "sweep": {"value": [2, "three"]}}])
    with pytest.raises(rp.ConfigError, match=r"tiny\.yaml: run 's@value=three': .*parameter 'value' must be int"):
        run(cfg, tmp_path)
    cfg = write_config(tmp_path, [{"name": "s", "sweep": {"valeu": [1, 2]}}])
    with pytest.raises(rp.ConfigError, match=r"run 's@valeu=1': .*unknown parameter 'valeu'"):
        run(cfg, tmp_path)
    assert executions(tmp_path) == []
    # an experiment's declared parameters (ranges, validate()) check each point, e.g. spread seeds of FER
    fer = tmp_path / "fer.yaml"
    fer.write_text(yaml.safe_dump({"runs": [{"name": "fer", "experiment": "fer", "preset": "quick",
                                             "sweep": {"seeds": [[0], [1]], "n_target": [100, -5]}}]},
                                  sort_keys=False))
    config = rp.load_config(fer)
    assert [r.name for r in config.runs][:2] == ["fer@seeds=0,n_target=100", "fer@seeds=0,n_target=-5"]
    with pytest.raises(rp.ConfigError, match=r"fer\.yaml: run 'fer@seeds=0,n_target=-5': .*n_target"):
        rp.plan(config, config.runs, tmp_path / "out", "data")


def test_sweep_points_resume_one_by_one_and_every_point_is_on_record_and_drawn(tmp_path, capsys):
    import json

    from relmask.cli import main

    cfg = write_config(tmp_path, [{"name": "sizes", "sweep": {"value": [1, 2, 3]}, "params": {"kind": "whale"}},
                                  {"name": "fer", "sweep": {"seed": [0, 1]}, "params": {"kind": "fer"}}])
    out, paper = tmp_path / "out", tmp_path / "paper"
    args = ["reproduce", "--config", str(cfg), "--out", str(out), "--paper", str(paper)]
    assert main([*args, "--only", "sizes@value=2"]) == 0
    assert executions(tmp_path) == ["start 2", "end 2"]
    capsys.readouterr()
    assert main(args) == 0
    # sizes@value=1 and =3, then both fer points (value 1): the point that finished is not run again
    assert executions(tmp_path)[2:] == ["start 1", "end 1", "start 3", "end 3"] + ["start 1", "end 1"] * 2
    table = capsys.readouterr().out
    status = {line.split()[0]: line.split()[1] for line in table.splitlines() if "@" in line.split(" ")[0]}
    assert status == {"sizes@value=1": "ok", "sizes@value=2": "cached", "sizes@value=3": "ok",
                      "fer@seed=0": "ok", "fer@seed=1": "ok"}
    summary = json.loads((out / "reproduce-tiny.json").read_text())
    assert [(r["name"], r["sweep"]) for r in summary["runs"]] == [
        ("sizes@value=1", {"value": 1}), ("sizes@value=2", {"value": 2}), ("sizes@value=3", {"value": 3}),
        ("fer@seed=0", {"seed": 0}), ("fer@seed=1", {"seed": 1})]
    # the experiment's paper code gets every point: each has its rows (the whale table says which point)
    whale = (paper / "tables" / "whale_auc.md").read_text()
    assert all(f"| value={v} | gradient | negative | CNN₂ (masked) |" in whale for v in (1, 2, 3)), whale
    assert all(f"| fer@seed={s} |" in (paper / "tables" / "fer_learning.md").read_text() for s in (0, 1))
    manifest = json.loads((paper / "manifest.json").read_text())
    assert {r["run"] for r in manifest["figures"]["whale_auc"]["runs"]} == {f"sizes@value={v}" for v in (1, 2, 3)}


def test_points_declaring_the_same_paper_output_each_get_their_own(tmp_path):
    from relmask.running.figures import build_paper

    from .test_figures import make_run

    records = []
    for point in (1, 2):
        rec = make_run(tmp_path, f"faith@n={point}", {"paper_outputs": {"tables": {"faith": {
            "file": "figures/t", "caption": "mine"}}}})
        (Path(rec["results_path"]).parent / "figures").mkdir()
        (Path(rec["results_path"]).parent / "figures" / "t.md").write_text(f"point {point}\n")
        records.append(rec)
    paper = build_paper(records, tmp_path / "paper")
    assert set(paper.tables) == {"faith_faith@n=1", "faith_faith@n=2"}
    assert (tmp_path / "paper" / "tables" / "faith_faith@n=2.md").read_text() == "point 2\n"


# -- clusters (issue 22, 3): the same results on Dask workers; an unreachable scheduler fails fast -------------------
def test_results_on_a_two_worker_cluster_equal_an_in_process_run(tmp_path):
    from distributed import LocalCluster

    cfg = write_config(tmp_path, [{"name": "s", "sweep": {"value": [1, 2, 3]}, "params": {"kind": "whale"}}])
    local = run(cfg, tmp_path, out=tmp_path / "local")
    # what a dask-jobqueue cluster hands over: a scheduler address (docs/reproduce.md, Clusters)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        remote = run(cfg, tmp_path, out=tmp_path / "cluster", scheduler=cluster.scheduler_address)
    assert [r["status"] for r in local.records] == [r["status"] for r in remote.records] == ["ok"] * 3
    for a, b in zip(local.records, remote.records, strict=True):
        assert a["name"] == b["name"] and a["key"] == b["key"] and a["run_dir"] != b["run_dir"]
        assert Path(a["results_path"]).read_text() == Path(b["results_path"]).read_text()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "no-port-here"])
def test_an_unreachable_scheduler_fails_fast_in_one_line_before_any_run(tmp_path, capsys, monkeypatch, address):
    import time

    from relmask.cli import main
    from relmask.running.executor import CONNECT_TIMEOUT_S

    assert CONNECT_TIMEOUT_S <= 10  # Dask's own default is 30 s
    monkeypatch.setenv("RELMASK_SCHEDULER_TIMEOUT", "1")
    cfg = write_config(tmp_path, [{"name": "a"}])
    start = time.monotonic()
    code = main(["reproduce", "--config", str(cfg), "--out", str(tmp_path / "out"), "--scheduler", address,
                 "--no-figures"])
    assert code == 2 and time.monotonic() - start < 8
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.strip()]
    assert line.startswith("relmask reproduce: error: cannot reach the Dask scheduler") and address in line
    assert "nothing was run" in line and "Traceback" not in err
    assert executions(tmp_path) == []


# -- issue 25, 5: a run that cannot be rebuilt keeps its figures, and the paper says it is incomplete ------------------
def test_only_keeps_the_figures_of_a_run_whose_results_are_gone_and_exits_non_zero(tmp_path, capsys):
    import json

    from relmask.cli import main

    cfg = write_config(tmp_path, [{"name": "w", "params": {"kind": "whale"}},
                                  {"name": "f", "params": {"kind": "fer", "value": 2}}])
    out, paper = tmp_path / "out", tmp_path / "paper"
    args = ["reproduce", "--config", str(cfg), "--out", str(out), "--paper", str(paper)]
    assert main(args) == 0
    whale = [paper / "figures" / "whale_auc.png", paper / "tables" / "whale_auc.md",
             paper / "figures" / "whale_roc.pdf"]
    before = {p: p.read_bytes() for p in whale}
    (w_results,) = out.glob("runs/w-*/results.json")
    w_results.unlink()
    capsys.readouterr()

    assert main([*args, "--only", "f", "--force"]) == 1  # the paper lacks w: not a success
    said = capsys.readouterr()
    err = said.err
    assert "run 'w' cannot be drawn" in said.out and "results.json is missing" in said.out
    line = err.strip().splitlines()[-1]
    assert "is incomplete: 1 run(s) cannot be drawn (w:" in line and "Kept as an earlier build drew them:" in line
    assert "whale_auc" in line and "--only w" in line
    assert {p: p.read_bytes() for p in whale} == before  # kept, byte for byte
    manifest = json.loads((paper / "manifest.json").read_text())
    assert "w" in manifest["incomplete"] and "run(s) w cannot be drawn" in manifest["figures"]["whale_auc"]["kept"]
    assert "fer_learning_curves" in manifest["figures"] and "kept" not in manifest["figures"]["fer_learning_curves"]
    assert "Incomplete" in (paper / "README.md").read_text()
    summary = json.loads((out / "reproduce-tiny.json").read_text())
    assert [(r["name"], r["status"]) for r in summary["runs"]] == [("w", "lost"), ("f", "ok")]

    # relmask figures (reproduce's option names) says so too, keeps them, and exits non-zero
    assert main(["figures", "--out", str(out), "--paper", str(paper)]) == 1
    assert "is incomplete" in capsys.readouterr().err and {p: p.read_bytes() for p in whale} == before
    # the older option names still work (--runs RUNS --out PAPER)
    assert main(["figures", "--runs", str(out), "--out", str(paper)]) == 1
    capsys.readouterr()
    assert main(["figures", "--out", str(paper)]) == 2  # --out is the runs folder now: a clear error
    assert "--out names the runs folder" in capsys.readouterr().err

    # recomputing it completes the paper
    assert main([*args, "--only", "w"]) == 0
    manifest = json.loads((paper / "manifest.json").read_text())
    assert "incomplete" not in manifest and "kept" not in manifest["figures"]["whale_auc"]
    summary = json.loads((out / "reproduce-tiny.json").read_text())
    assert [r["status"] for r in summary["runs"]] == ["ok", "cached"]


# -- issue 25, 6: Ctrl-C, SIGTERM and a full disk end in one line saying what is kept and how to resume ---------------
@pytest.mark.parametrize("stop, code, says", [
    ("ctrl-c", 130, "interrupted (Ctrl-C)"),
    ("sigterm", 143, "terminated (SIGTERM)"),
    ("disk", 1, "error: No space left on device"),
])
def test_stopping_reproduce_ends_in_one_line_that_says_what_is_kept(tmp_path, monkeypatch, capsys, stop, code, says):
    import errno
    import signal

    from relmask.cli import main

    cfg = write_config(tmp_path, [{"name": n, "params": {"value": v}} for n, v in (("a", 1), ("b", 2), ("c", 3))])
    real = rp.execute_run

    def stop_at_b(spec):
        if spec["name"] == "b":
            if stop == "ctrl-c":
                raise KeyboardInterrupt
            if stop == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), spec["run_dir"] + "/results.json")
        return real(spec)

    monkeypatch.setattr(rp.execute, "execute_run", stop_at_b)
    args = ["reproduce", "--config", str(cfg), "--out", str(tmp_path / "out"), "--no-figures", "--force"]
    assert main(args) == code
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"relmask reproduce: {says}")
    assert "finished and kept: a (1 of 3 runs); not finished: b, c" in lines[0]
    resume = f"relmask reproduce --config {cfg} --out {tmp_path / 'out'} --no-figures"  # without --force
    assert lines[0].endswith(f"esume with the same command: {resume}")  # Resume, or: free space, then resume
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored
    assert executions(tmp_path) == ["start 1", "end 1"] and list((tmp_path / "out").glob(f"runs/a-*/{DONE_MARKER}"))

    monkeypatch.setenv("RELMASK_DEBUG", "1")  # the traceback behind the line, on request
    assert main(args) == code
    assert "Traceback" in capsys.readouterr().err

    monkeypatch.setattr(rp.execute, "execute_run", real)
    monkeypatch.delenv("RELMASK_DEBUG")
    report = run(cfg, tmp_path)  # the same command resumes: a is reused
    assert [r["status"] for r in report.records] == ["cached", "ok", "ok"]


def test_a_full_disk_inside_a_notebook_stops_the_reproduction(tmp_path, monkeypatch):
    import errno

    from relmask.errors import NotebookExecutionError

    cfg = write_config(tmp_path, [{"name": n, "params": {"value": v}} for n, v in (("a", 1), ("b", 2), ("c", 3))])
    real = rp.execute_run
    seen = []

    def kernel_disk_full(spec):  # a cell's write failed in the kernel: the run comes back as a cell error
        seen.append(spec["name"])
        if spec["name"] == "b":
            raise NotebookExecutionError("tiny.ipynb: cell #4 failed", ename="OSError",
                                         evalue=f"[Errno {errno.ENOSPC}] No space left on device: 'x.npy'")
        return real(spec)

    monkeypatch.setattr(rp.execute, "execute_run", kernel_disk_full)
    with pytest.raises(rp.DiskFullError) as info:
        run(cfg, tmp_path)
    assert seen == ["a", "b"] and info.value.finished == ["a"] and info.value.unfinished == ["b", "c"]


def test_sigterm_to_a_real_reproduce_ends_in_one_line(tmp_path):
    runs = [{"name": n, "params": {"value": v, "sleep_s": 0.0 if n == "a" else 30.0}} for n, v in (("a", 1), ("b", 2))]
    cfg = write_config(tmp_path, runs)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "relmask", "reproduce", "--config", str(cfg), "--out", str(out), "--no-figures"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "RELMASK_PROGRESS": "off"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: "start 2" in executions(tmp_path), 90), "the second run never started"
        proc.send_signal(signal.SIGTERM)  # as `kill PID` or a batch system's time limit does
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("relmask reproduce: terminated (SIGTERM); finished and kept: a (1 of 2 runs)"), err
    assert "relmask/running/reproduce.py" not in err, err  # no traceback of relmask's own
    assert "end 2" not in executions(tmp_path)
