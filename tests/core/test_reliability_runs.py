"""Issue 14, runs and the command line: what relmask promises when runs, files, processes and plugins misbehave.

Each test here failed before its fix. Notebooks are tiny and import no deep-learning framework (a run is a
kernel start, about a second); the lock test uses two real ``relmask reproduce`` processes. Tests run as root,
where ``chmod`` cannot make a directory unwritable, so "cannot write" is produced by putting a *file* where a
directory (or a directory where a file) is needed, which fails the same way for everyone, or, where only a
permission error will do, by making the one probe relmask uses raise the PermissionError a non-root user gets.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

from relmask.cli import main
from relmask.errors import NonFiniteResultError, NotebookExecutionError
from relmask.running import reproduce as rp
from relmask.running.locks import file_lock
from relmask.running.results import headline_problems
from relmask.running.run_records import DONE_MARKER, finished_run, mark_finished
from relmask.running.runner import coerce_cli_value, run_notebook
from tests.conftest import EXAMPLE_PLUGIN, wait_for, write_dist_info

from .test_figures import fer_results, make_run, whale_results

TINY = Path(__file__).resolve().parent.parent / "notebooks" / "tiny.ipynb"
# the tiny notebook stands in for an experiment whose runs the whale and FER paper code draws
pytestmark = pytest.mark.usefixtures("tiny_experiment")


def notebook(path: Path, params_src: str, *cells: str, markdown_first: bool = True) -> Path:
    """A notebook: [markdown], parameters cell, then ``cells`` (a cell starting with '# md' is markdown)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(params_src)
    params.metadata["tags"] = ["parameters"]
    nb.cells = ([nbformat.v4.new_markdown_cell("# test")] if markdown_first else []) + [params]
    nb.cells += [nbformat.v4.new_markdown_cell(c) if c.startswith("# md") else nbformat.v4.new_code_cell(c)
                 for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def config(tmp_path: Path, runs: list[dict], name: str = "cfg") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"runs": runs}, sort_keys=False))
    return path


def reproduce(cfg: Path, tmp_path: Path, **kw):
    kw.setdefault("out", tmp_path / "out")
    kw.setdefault("paper_dir", None)
    return rp.reproduce(cfg, progress=False, log=lambda *a: None, **kw)


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# -- 3: a run whose headline metrics are not finite is failed, never done ------------------------------
NAN_NOTEBOOK = (
    "auc: float = float('nan')  # the headline number\nlog_file: str = 'log.txt'\noutput_dir: str = 'out'",
    "import relmask\nrelmask.results.set_results_path(output_dir)\nopen(log_file, 'a').write('run\\n')\n"
    "relmask.record('summary', [{'system': 'a', 'auc_mean': 0.9, 'note': None},\n"
    "                           {'system': 'b', 'auc_mean': auc, 'epochs_to_reach': float('nan')}],\n"
    "               headline=['auc_mean'])\n"
    "relmask.record('epochs_to_reach', float('nan'))  # not a headline metric: NaN is a legitimate answer",
)


def test_headline_problems_name_every_non_finite_number():
    results = {"summary": [{"auc_mean": 0.8}, {"auc_mean": None}, {"auc_mean": "inf"}, {"auc": 1.0}],
               "acc": "-inf", "n": True, "ok": {"x": 1, "y": [0.5, None]}, "free": None,
               "_headline": {"summary": ["auc_mean"], "acc": True, "n": True, "ok": True, "gone": True}}
    assert headline_problems(results) == [
        "summary[1].auc_mean is NaN or missing (null)", "summary[2].auc_mean is inf", "summary[3].auc_mean is missing",
        "acc is -inf", "n is not a number (bool True)", "ok.y[1] is NaN or missing (null)",
        "gone is missing (declared a headline metric but not recorded)"]
    assert headline_problems({"free": None, "summary": [{"auc_mean": None}]}) == []  # nothing declared


def test_nan_headline_fails_the_run_and_reproduce_never_caches_it(tmp_path):
    nb = notebook(tmp_path / "nan.ipynb", *NAN_NOTEBOOK)
    log = tmp_path / "log.txt"
    with pytest.raises(NonFiniteResultError, match=r"summary\[1\]\.auc_mean is NaN") as err:
        run_notebook(nb, {"log_file": str(log)}, tmp_path / "direct")
    assert isinstance(err.value, NotebookExecutionError) and err.value.notebook_out.exists()
    kept = json.loads((tmp_path / "direct" / "results.failed.json").read_text())  # kept for inspection
    assert kept["summary"][1]["auc_mean"] is None and kept["_headline"] == {"summary": ["auc_mean"]}
    # a finite headline with NaN elsewhere (not declared) is an ordinary result
    assert run_notebook(nb, {"auc": 0.7, "log_file": str(log)}, tmp_path / "fine").results["epochs_to_reach"] is None

    cfg = config(tmp_path, [{"name": "nan", "notebook": str(nb), "params": {"log_file": str(log)}}])
    for _attempt in (1, 2):  # the second reproduce must run it again: a failed run is never cached
        (record,) = reproduce(cfg, tmp_path).records
        assert record["status"] == "failed" and record["ename"] == "NonFiniteResultError"
        assert "summary[1].auc_mean is NaN or missing (null)" in record["error"]
        run_dir = Path(record["run_dir"])
        assert not (run_dir / DONE_MARKER).exists() and (run_dir / "failed.json").exists()
    assert len(log_lines(log)) == 4  # two direct runs, two reproduce attempts


# -- 6: --only keeps the other runs' records and figures; results lost under done.json are recomputed ----
def test_only_keeps_other_runs_records_and_paper_outputs(tmp_path):
    log = tmp_path / "log.txt"
    cfg = config(tmp_path, [{"name": "w", "notebook": str(TINY), "params": {"kind": "whale", "log_file": str(log)}},
                            {"name": "f", "notebook": str(TINY), "params": {"kind": "fer", "log_file": str(log)}}])
    paper = tmp_path / "paper"
    first = reproduce(cfg, tmp_path, paper_dir=paper)
    assert [r["status"] for r in first.records] == ["ok", "ok"]
    whale_png = paper / "figures" / "whale_auc.png"
    assert whale_png.exists() and (paper / "figures" / "fer_learning_curves.png").exists()

    only = reproduce(cfg, tmp_path, paper_dir=paper, only=["f"], force=True)
    assert [r["name"] for r in only.records] == ["f"] and only.records[0]["status"] == "ok"
    assert log_lines(log).count("start 1") == 3  # w once, f twice: --only executed f alone
    summary = json.loads((tmp_path / "out" / "reproduce-cfg.json").read_text())
    assert [(r["name"], r["status"]) for r in summary["runs"]] == [("w", "cached"), ("f", "ok")]
    assert whale_png.exists() and (paper / "tables" / "whale_auc.md").exists()  # not deleted by --only f
    manifest = json.loads((paper / "manifest.json").read_text())
    assert {"whale_auc", "fer_learning_curves"} <= set(manifest["figures"])

    # `relmask figures` draws from the merged records: both runs (building from them is test_figures' job)
    from relmask.running.figures import find_records

    assert [r["name"] for r in find_records(tmp_path / "out", "cfg")] == ["w", "f"]


def test_done_marker_is_believed_only_with_intact_results(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir).mkdir()
    (run_dir / "results.json").write_text('{"auc": 0.9}\n')
    record = mark_finished(run_dir, {"key": "k", "name": "r", "status": "ok"})
    assert json.loads(record.read_text())["outputs"]["results.json"]  # the marker vouches for the file's hash
    assert finished_run(run_dir, "k")["name"] == "r"
    for damage, why in ((lambda p: p.write_text('{"auc": 0.'), "changed since the run finished"),  # truncated
                        (lambda p: p.write_text('{"auc": 0.1}\n'), "changed since the run finished"),
                        (lambda p: p.unlink(), "is missing")):
        (run_dir / "results.json").write_text('{"auc": 0.9}\n')
        damage(run_dir / "results.json")
        with pytest.warns(RuntimeWarning, match=f"results.json {why}.*ignored and the run recomputed"):
            assert finished_run(run_dir, "k") is None
    # a marker from before outputs were recorded: results.json must at least parse
    (run_dir / "results.json").write_text("{")
    (run_dir / DONE_MARKER).write_text(json.dumps({"key": "k", "name": "r"}))
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert finished_run(run_dir, "k") is None


def test_deleted_results_under_done_marker_are_recomputed_not_cached(tmp_path):
    log = tmp_path / "log.txt"
    cfg = config(tmp_path, [{"name": "a", "notebook": str(TINY), "params": {"value": 4, "log_file": str(log)}}])
    (first,) = reproduce(cfg, tmp_path).records
    Path(first["results_path"]).unlink()
    with pytest.warns(RuntimeWarning, match="results.json is missing"):
        (again,) = reproduce(cfg, tmp_path).records
    assert again["status"] == "ok" and log_lines(log) == ["start 4", "end 4"] * 2
    assert json.loads(Path(again["results_path"]).read_text())["value"] == 4


def test_figures_names_a_truncated_results_file(tmp_path, capsys):
    make_run(tmp_path, "whale-gradcam", whale_results(0.8))
    fer = make_run(tmp_path, "fer", fer_results())
    (tmp_path / "a_file").write_text("")
    assert main(["figures", "--runs", str(tmp_path), "--out", str(tmp_path / "a_file")]) == 2  # --out is a file
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot write" in err and "a_file" in err
    Path(fer["results_path"]).write_text('{"curves": [{"variant": "raw", "ep')  # torn write under done.json
    assert main(["figures", "--runs", str(tmp_path), "--out", str(tmp_path / "paper")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fer["results_path"] in err and "unreadable" in err
    Path(fer["results_path"]).unlink()
    assert main(["figures", "--runs", str(tmp_path), "--out", str(tmp_path / "paper")]) == 2
    assert "are missing" in capsys.readouterr().err


# -- 7, 10: `relmask run` refuses what would destroy or crash -------------------------------------------
def test_run_refuses_to_overwrite_the_source_notebook(tmp_path, capsys):
    nb = notebook(tmp_path / "nb" / "t.ipynb", "x: int = 1", "print(x)")
    before = nb.read_bytes()
    assert main(["run", str(nb), "-o", str(nb.parent)]) == 2
    assert "would overwrite the source" in capsys.readouterr().err
    assert nb.read_bytes() == before and not (nb.parent / "results.json").exists()


def test_run_bad_parameter_files_and_output_dirs_are_one_line_errors(tmp_path, capsys, monkeypatch):
    nb = notebook(tmp_path / "t.ipynb", "x: int = 1", "print(x)")
    bad = tmp_path / "bad.yaml"
    evil = tmp_path / "evil.yaml"
    bad.write_text("x: [1, 2\ny: 3\n")
    evil.write_text("x: !!python/object/apply:os.system ['echo pwned']\n")
    a_file = tmp_path / "a_file"
    a_file.write_text("")

    def error(*args) -> str:
        assert main(["run", str(nb), *args]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        return err

    assert str(bad) in error("-f", str(bad)) and "line" in error("-f", str(bad))
    assert str(evil) in error("-f", str(evil)) and "refused" in error("-f", str(evil))
    assert f"output directory {a_file} is a file" in error("-o", str(a_file))
    assert "cannot be written" in error("-o", str(a_file / "sub"))  # a parent is a file
    # a read-only directory (as root, chmod does not stop writes): the probe fails as it would for a user
    import tempfile

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    assert "cannot be written: Permission denied" in error("-o", str(tmp_path / "ro"))


def test_none_is_accepted_where_the_parameter_allows_it(tmp_path):
    from relmask.cli import collect_parameters
    from relmask.running.runner import check_parameters

    nb = notebook(tmp_path / "t.ipynb", "n_clips: int | None = 300\nname: str | None = 'a'\ncount: int = 1\n"
                                        "anything = None")
    for spelling in ("None", "null", "~"):
        assert coerce_cli_value(nb, "n_clips", spelling) is None
        assert coerce_cli_value(nb, "name", spelling) is None
        assert coerce_cli_value(nb, "anything", spelling) is None
    assert coerce_cli_value(nb, "name", "Nonesuch") == "Nonesuch" and coerce_cli_value(nb, "n_clips", "7") == 7
    params = collect_parameters(nb, [["n_clips", "None"]], [])
    assert check_parameters(nb, params) == {"n_clips": None}
    with pytest.raises(ValueError, match="'count' must be int, got str 'None'"):  # int alone: still refused
        check_parameters(nb, collect_parameters(nb, [["count", "None"]], []))


def test_failing_cell_is_named_by_its_place_in_the_source_notebook(tmp_path):
    nb = notebook(tmp_path / "t.ipynb", "x: int = 1", "# md a note", "y = x + 1", "# md another",
                  "raise ValueError('boom')")
    # source cells: 1 markdown, 2 parameters, 3 markdown, 4 code, 5 markdown, 6 the failing one;
    # executed: In [1] parameters, In [2] papermill's injected cell, In [3] y = ..., In [4] the failing one
    with pytest.raises(NotebookExecutionError, match=r"cell #6 of the source notebook \(In \[4\] in the executed "
                                                     r"one\) failed: ValueError: boom") as err:
        run_notebook(nb, {"x": 2}, tmp_path / "out")
    assert err.value.cell_index == 5 and err.value.cell == 4


# -- 10: `relmask reproduce` and `relmask figures` errors ----------------------------------------------
def test_reproduce_config_jobs_and_output_errors_are_one_line(tmp_path, capsys):
    def error(*args) -> str:
        assert main(["reproduce", *args, "--no-figures"]) == 2
        err = capsys.readouterr().err  # may also hold the progress lines of runs that executed
        (line,) = [x for x in err.splitlines() if x.startswith("relmask reproduce: error:")]
        assert "Traceback" not in err, err
        return line

    malformed = tmp_path / "malformed.yaml"
    malformed.write_text("runs:\n  - name: a\n    notebook: [x\n")
    err = error("--config", str(malformed))
    assert str(malformed) in err and "line 4" in err
    evil = tmp_path / "evil.yaml"
    evil.write_text("runs: !!python/object/apply:os.system ['echo pwned']\n")
    assert "refused" in error("--config", str(evil))
    mistyped = tmp_path / "mistyped.yaml"
    mistyped.write_text(f"runs:\n  - name: a\n    notebook: {TINY}\n    params: [1, 2]\n")
    assert "run #1: 'params' must be a mapping, got [1, 2]" in error("--config", str(mistyped))
    cfg = config(tmp_path, [{"name": "a", "notebook": str(TINY), "params": {"log_file": str(tmp_path / "l")}}])
    assert "--jobs must be a whole number of at least 1, got 0" in error("--config", str(cfg), "--jobs", "0")
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert f"--out: output directory {a_file.resolve()} is a file" in error("--config", str(cfg), "--out",
                                                                            str(a_file))
    assert not (tmp_path / "l").exists()  # nothing ran
    # the summary step: the run records cannot be written (a directory stands where the file goes)
    out = tmp_path / "out"
    (out / "reproduce-cfg.json").mkdir(parents=True)
    err = error("--config", str(cfg), "--out", str(out))
    assert f"cannot write the run records {out / 'reproduce-cfg.json'}" in err
    assert log_lines(tmp_path / "l") == ["start 1", "end 1"]  # the run itself finished and is cached
    assert list(out.glob(f"runs/a-*/{DONE_MARKER}"))


# -- 9: one process per run directory --------------------------------------------------------------------
def test_file_lock_of_a_killed_process_is_released(tmp_path):
    lock = tmp_path / "run.lock"
    code = (f"import sys, time; from relmask.running.locks import file_lock\n"
            f"with file_lock({str(lock)!r}):\n    print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        waited = []
        with pytest.raises(BlockingIOError):  # held: a non-blocking attempt fails
            import fcntl

            with open(lock, "a") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        with file_lock(lock, on_wait=lambda: waited.append(1)) as did_wait:  # the OS released it
            assert did_wait is False and not waited
    finally:
        if proc.poll() is None:
            proc.kill()


GATED_NOTEBOOK = (
    "gate: str = 'gate'  # the run waits until this file exists\nlog_file: str = 'log.txt'\n"
    "output_dir: str = 'out'",
    "import os, time, relmask\nrelmask.results.set_results_path(output_dir)\n"
    "open(log_file, 'a').write(f'start {os.getpid()}\\n')\n"
    "while not os.path.exists(gate):\n    time.sleep(0.05)\n"
    "relmask.record('value', 1)\nopen(log_file, 'a').write('end\\n')",
)


def status_of(stdout: str) -> dict[str, str]:
    """name -> status from the table that ends `relmask reproduce`."""
    lines = stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["name", "status"])
    rows = [line.split() for line in lines[head + 2:] if line and not line.startswith(("run records", "FAILED"))]
    return {r[0]: r[1] for r in rows}



def test_second_reproduce_on_the_same_out_waits_instead_of_deleting_the_live_run(tmp_path):
    nb = notebook(tmp_path / "gated.ipynb", *GATED_NOTEBOOK)
    log, gate = tmp_path / "log.txt", tmp_path / "gate"
    cfg = config(tmp_path, [{"name": "slow", "notebook": str(nb), "params": {"log_file": str(log),
                                                                              "gate": str(gate)}}])
    args = [sys.executable, "-m", "relmask", "reproduce", "--config", str(cfg), "--out", str(tmp_path / "out"),
            "--no-figures"]
    first_err, second_err = tmp_path / "first.err", tmp_path / "second.err"
    with open(first_err, "w") as e1, open(second_err, "w") as e2:
        first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=e1, text=True)
        second = None
        try:
            assert wait_for(lambda: log_lines(log), 120), "the first run never started"
            (run_dir,) = [d for d in (tmp_path / "out" / "runs").glob("slow-*") if d.is_dir()]  # not .lock
            second = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=e2, text=True)
            assert wait_for(lambda: "in progress in another process" in second_err.read_text(), 120), \
                second_err.read_text()
            assert run_dir.is_dir() and len(log_lines(log)) == 1  # the live run is untouched
            gate.write_text("")
            out1, _ = first.communicate(timeout=120)
            out2, _ = second.communicate(timeout=120)
        finally:
            gate.write_text("")  # on a failure, lets the notebook kernels (children of the killed CLIs) end too
            for p in (first, second):
                if p is not None and p.poll() is None:
                    p.kill()
    assert first.returncode == 0 and second.returncode == 0, first_err.read_text() + second_err.read_text()
    assert len(log_lines(log)) == 2 and log_lines(log)[1] == "end"  # executed once, by the first process
    assert status_of(out1) == {"slow": "ok"}
    assert status_of(out2) == {"slow": "cached"}  # the second reused the first's result
    assert (run_dir / DONE_MARKER).exists() and json.loads((run_dir / "results.json").read_text()) == {"value": 1}


# -- 12: plugin isolation --------------------------------------------------------------------------------
def test_plugins_that_exit_or_fail_half_way_are_isolated(tmp_path):
    site = tmp_path / "site"
    (site / "exits_plugin.py").parent.mkdir(parents=True)
    (site / "exits_plugin.py").write_text("import sys\nsys.exit(3)\n")
    (site / "hook_exits_plugin.py").write_text(textwrap.dedent("""\
        import sys
        from relmask import hookimpl

        @hookimpl
        def register_maskers(register):
            sys.exit(0)
        """))
    (site / "halfway_plugin.py").write_text(textwrap.dedent("""\
        from relmask import Masker, RelevanceMethod, hookimpl

        class Ok(Masker):
            name = "halfway_ok"
            description = "registered before the failure"

        class First(RelevanceMethod):
            name = "halfway_method"
            description = "registered by an earlier hook"

        @hookimpl
        def register_relevance_methods(register):
            register(First())

        @hookimpl
        def register_maskers(register):
            register(Ok(), aliases=("halfway_alias",))
            raise RuntimeError("failed half-way")
        """))
    write_dist_info(site, "relmask-exits", "1.0", {"exits": "exits_plugin"})
    write_dist_info(site, "relmask-hook-exits", "1.0", {"hook_exits": "hook_exits_plugin"})
    write_dist_info(site, "relmask-halfway", "1.0", {"halfway": "halfway_plugin"})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(EXAMPLE_PLUGIN)])}
    code = ("import json, relmask; from relmask.plugin_system.plugins import plugin_infos, registry\n"
            "print(json.dumps({'errors': {i.name: i.error for i in plugin_infos()},"
            " 'registered': {i.name: i.registered for i in plugin_infos()},"
            " 'maskers': registry('register_maskers').names() + list(registry('register_maskers').aliases),"
            " 'methods': registry('register_relevance_methods').names()}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr  # before: the process ended with code 3, printing nothing
    got = json.loads(proc.stdout)
    assert got["errors"]["relmask-exits"] == "load: SystemExit: 3"
    assert got["errors"]["relmask-hook-exits"].startswith("register (register_maskers): SystemExit")
    assert "RuntimeError: failed half-way" in got["errors"]["relmask-halfway"]
    assert got["registered"]["relmask-halfway"] == {}
    assert not {"halfway_ok", "halfway_alias"} & set(got["maskers"]) and "keep" in got["maskers"]
    assert "halfway_method" not in got["methods"]  # all or nothing: its earlier hook's method goes too

    typo = subprocess.run([sys.executable, "-m", "relmask", "plugins"], capture_output=True, text=True,
                          env={**env, "RELMASK_LOAD_PLUGINS": "relmask-halfwya"}, timeout=120)
    assert typo.returncode == 0
    assert "RELMASK_LOAD_PLUGINS names 'relmask-halfwya', which is not an installed relmask plugin" in typo.stderr
    installed = typo.stderr.split("installed: ", 1)[1].split()
    assert {"relmask-exits,", "relmask-halfway,"} <= set(installed)
