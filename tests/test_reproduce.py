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

from relmask import reproduce as rp
from relmask.cache import DONE_MARKER
from relmask.errors import DataError

from .conftest import wait_for

TINY = Path(__file__).resolve().parent / "notebooks" / "tiny.ipynb"
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
    with pytest.raises(rp.ConfigError, match="matches no run.*g-3-fer"):
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
    with pytest.raises(rp.ConfigError, match="run 'b'.*unknown parameter 'valeu'.*did you mean 'value'"):
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

    monkeypatch.setattr(rp, "execute_run", interrupt_after_first)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, tmp_path)
    assert executions(tmp_path) == ["start 1", "end 1"]

    # a run killed mid-way leaves a directory without the done marker: it must be recomputed, cleanly
    config = rp.load_config(cfg)
    spec_b = rp.plan(config, config.runs, tmp_path / "out", "data")[1]
    Path(spec_b["run_dir"]).mkdir(parents=True)
    (Path(spec_b["run_dir"]) / "results.json").write_text('{"stale": 1}')

    monkeypatch.setattr(rp, "execute_run", real)
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
    # the executed notebook, with the traceback (relmask.runner keeps a failed run's as tiny.failed.ipynb)
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
