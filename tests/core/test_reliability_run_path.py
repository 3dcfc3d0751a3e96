"""Issue 25, the single-run path: `relmask run` keeps a run's outputs together, never destroys a good run, checks
everything before a kernel starts, ends cleanly on Ctrl-C, SIGTERM and a full disk, and shows progress.

Each test here failed before its fix. Most are unit-level (papermill replaced by a stand-in that writes what a
run writes); the few that start a kernel use notebooks that import no deep-learning framework, and two real
`relmask run` processes are interrupted. Checks that need a model build it untrained (TensorFlow, ~8 s once).
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest

from relmask.cli import main
from relmask.errors import DataError, NotebookExecutionError, OutputBusyError, ParameterError, RelmaskWarning
from relmask.running import runner
from relmask.running.runner import RUN_LOCK, check_parameters, output_lock, run_notebook
from tests.conftest import ROOT, TINY_NOTEBOOK, wait_for

WHALE = ROOT / "relmask_plugins" / "whale" / "notebooks" / "whale_feature_masking.ipynb"

# a notebook that writes like the experiments do: results.json, a table and figures/ below output_dir
WRITER_PARAMS = ("tag: str = 'first'  # recorded and written into every output\n"
                 "fail: bool = False  # raise after writing the outputs\n"
                 "warn: bool = False  # raise a RelmaskWarning twice\n"
                 "output_dir: str = 'runs/writer'  # where everything goes")
WRITER_CELL = (
    "import warnings\nfrom pathlib import Path\nimport relmask\n"
    "out = Path(output_dir)\n(out / 'figures').mkdir(parents=True, exist_ok=True)\n"
    "(out / 'figures' / 'fig.txt').write_text(tag)\n(out / 'table.md').write_text(tag)\n"
    "relmask.record('tag', tag)\nrelmask.record('where', str(out / 'table.md'))\nprint(out)\n"
    "if warn:\n    for _ in range(2):\n"
    "        warnings.warn('3 of 4 relevance maps carry no information', relmask.errors.RelmaskWarning)\n"
    "if fail:\n    raise RuntimeError('asked to fail')")


def notebook(path: Path, params_src: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(params_src)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), params, *map(nbformat.v4.new_code_cell, cells)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def fake_papermill(monkeypatch, action):
    """papermill.execute_notebook replaced: writes the executed notebook (and what ``action(out_dir)`` writes),
    then ``action`` may raise, as a kernel run would at that point."""
    import papermill

    def execute(src, dst, parameters=None, **kw):
        out = Path(parameters.get("output_dir") or Path(dst).parent)
        Path(dst).write_text(Path(src).read_text())
        return action(out, Path(dst))

    monkeypatch.setattr(papermill, "execute_notebook", execute)


def previous_run(out: Path) -> dict:
    """An earlier good run in ``out``; returns its files' contents, to compare afterwards."""
    (out / "figures").mkdir(parents=True)
    files = {"results.json": '{"tag": "good"}\n', "table.md": "good", "figures/fig.txt": "good",
             "notes.txt": "the user's own file"}
    for name, text in files.items():
        (out / name).write_text(text)
    return files


def unchanged(out: Path, files: dict) -> bool:
    return all((out / name).read_text() == text for name, text in files.items())


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.glob(f".{out.name}.relmask-*"))


# -- 1, 2: one folder per run; moved into place only when it succeeded -------------------------------------------
def test_a_run_writes_below_its_folder_and_replaces_the_previous_run_only_when_it_succeeds(tmp_path):
    nb = notebook(tmp_path / "nb" / "w.ipynb", WRITER_PARAMS, WRITER_CELL)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (out).mkdir()
    (out / "notes.txt").write_text("the user's own file")
    events = []
    # a preset's or a parameters file's output_dir never splits a run: the run's folder wins
    first = run_notebook(nb, {"output_dir": str(elsewhere), "warn": True}, out, on_progress=events.append)
    assert not elsewhere.exists() and first.parameters["output_dir"] == str(out.resolve())
    assert (out / "figures" / "fig.txt").read_text() == "first" and (out / "table.md").read_text() == "first"
    # the run wrote into a folder beside out; paths into it name the final place, and nothing is left beside out
    assert first.results["where"] == str(out.resolve() / "table.md")
    assert ".relmask-staging" not in (out / "w.ipynb").read_text() and leftovers(out) == []
    assert [e["warning"] for e in events if "warning" in e] == [
        "RelmaskWarning: 3 of 4 relevance maps carry no information"]  # the kernel's warning reached us

    with pytest.raises(NotebookExecutionError, match="RuntimeError: asked to fail") as err:
        run_notebook(nb, {"tag": "second", "fail": True}, out)
    # the previous good run is intact; the failed one is kept under names that say so
    assert json.loads((out / "results.json").read_text())["tag"] == "first"
    assert (out / "figures" / "fig.txt").read_text() == "first" and (out / "table.md").read_text() == "first"
    assert err.value.notebook_out == out.resolve() / "w.failed.ipynb" and err.value.notebook_out.exists()
    assert json.loads((out / "results.failed.json").read_text())["tag"] == "second"
    assert f"executed notebook: {out.resolve() / 'w.failed.ipynb'}" in str(err.value) and leftovers(out) == []

    third = run_notebook(nb, {"tag": "third"}, out)
    assert third.results["tag"] == "third" and (out / "figures" / "fig.txt").read_text() == "third"
    assert not (out / "w.failed.ipynb").exists() and not (out / "results.failed.json").exists()
    assert (out / "notes.txt").read_text() == "the user's own file"  # not the run's: left alone


def test_output_option_wins_over_a_presets_output_dir(tmp_path, monkeypatch, capsys):
    from relmask.plugin_system.components import Experiment
    from relmask.plugin_system.plugins import registry

    preset = tmp_path / "quick.yaml"
    preset.write_text(f"value: 3\noutput_dir: {tmp_path / 'preset_dir'}\n")

    class Tiny(Experiment):
        name, notebook, presets = "tiny_presets", TINY_NOTEBOOK, {"quick": preset}

    calls = []
    monkeypatch.setattr(runner, "run_notebook", lambda nb, params, out, **kw: calls.append((params, Path(out)))
                        or runner.RunResult(Path(out) / "tiny.ipynb", {}, Path(out) / "results.json", 0.0, params))
    registry("register_experiments").add(Tiny(), "tests-presets")
    try:
        assert main(["run", "tiny_presets", "--preset", "quick", "-o", str(tmp_path / "o")]) == 0
        assert main(["run", "tiny_presets", "-P", "quick"]) == 0
    finally:
        registry("register_experiments").remove_plugin("tests-presets")
    assert calls[0][1] == tmp_path / "o" and calls[0][0]["value"] == 3  # -o wins
    assert calls[1][1] == tmp_path / "preset_dir"  # without -o the preset's folder is the run's, whole


def test_an_interrupted_run_keeps_the_previous_run_and_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    files = previous_run(out)

    def interrupted(stage_dir, nb):
        (stage_dir / "figures").mkdir(parents=True, exist_ok=True)
        (stage_dir / "figures" / "fig.txt").write_text("partial")
        raise KeyboardInterrupt

    fake_papermill(monkeypatch, interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_notebook(TINY_NOTEBOOK, {}, out)
    assert unchanged(out, files) and (out / "tiny.failed.ipynb").exists() and leftovers(out) == []

    capsys.readouterr()
    assert main(["run", str(TINY_NOTEBOOK), "-o", str(out)]) == 130
    line = one_line(capsys.readouterr().err)
    assert "interrupted" in line and f"the previous run in {out} is kept" in line and "rerun" in line
    assert unchanged(out, files)

    def terminated(stage_dir, nb):
        os.kill(os.getpid(), signal.SIGTERM)  # relmask run turns it into an interrupt, like Ctrl-C

    fake_papermill(monkeypatch, terminated)
    assert main(["run", str(TINY_NOTEBOOK), "-o", str(out)]) == 143
    assert "terminated (SIGTERM)" in one_line(capsys.readouterr().err) and unchanged(out, files)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored afterwards


def test_a_full_disk_ends_in_one_line_and_keeps_the_previous_run(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    files = previous_run(out)

    def full(stage_dir, nb):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(nb))

    fake_papermill(monkeypatch, full)
    assert main(["run", str(TINY_NOTEBOOK), "-o", str(out)]) == 1
    line = one_line(capsys.readouterr().err)
    assert "No space left on device" in line and f"the previous run in {out} is kept" in line
    assert unchanged(out, files) and leftovers(out) == []


def test_killed_runs_leave_nothing_that_a_later_run_trips_over(tmp_path):
    out = tmp_path / "out"
    files = previous_run(out)
    (tmp_path / ".out.relmask-staging-x1").mkdir()  # a run killed while it ran
    aside = tmp_path / ".out.relmask-old-x2"  # ... and one killed while it moved its outputs into place
    aside.mkdir()
    os.replace(out / "figures", aside / "figures")
    runner._clean_leftovers(out.resolve())
    assert unchanged(out, files) and leftovers(out) == []


# -- 8: one run per output folder ---------------------------------------------------------------------------------
def test_a_second_run_into_the_same_folder_fails_clearly(tmp_path, capsys):
    out = tmp_path / "out"
    files = previous_run(out)
    with output_lock(out):  # held as a first `relmask run -o out` holds it (flock: per open file, so also here)
        assert main(["run", str(TINY_NOTEBOOK), "-o", str(out)]) == 2
        line = one_line(capsys.readouterr().err)
        assert f"output directory {out.resolve()} is in use by another relmask run" in line
        with pytest.raises(OutputBusyError):
            run_notebook(TINY_NOTEBOOK, {}, out)
    assert unchanged(out, files) and (out / RUN_LOCK).exists()


# -- 6: real processes: SIGTERM and Ctrl-C end in one line --------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_end_a_real_run_in_one_line(tmp_path, signum):
    out = tmp_path / "out"
    files = previous_run(out)
    log = tmp_path / "log.txt"
    proc = subprocess.Popen([sys.executable, "-m", "relmask", "run", str(TINY_NOTEBOOK), "-o", str(out),
                             "-p", "sleep_s", "60", "-p", "log_file", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert wait_for(lambda: log.exists(), 120), "the kernel never started"
        proc.send_signal(signum)  # to relmask only: the kernel runs in a session of its own
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    line = one_line(err)
    assert ("interrupted" if signum == signal.SIGINT else "terminated") in line and "is kept" in line
    assert unchanged(out, files) and (out / "tiny.failed.ipynb").exists() and leftovers(out) == []


# -- 3: every parameter checked before a kernel starts ------------------------------------------------------------
@pytest.mark.parametrize("params, match", [
    ({"relevance_methods": ["integrated_gradients"], "relevance_params": {"integrated_gradients": {"steps": 0}}},
     r"relevance_params\['integrated_gradients'\]: .*'steps' = 0 is out of range: steps must be >= 1"),
    ({"relevance_methods": ["smoothgrad"], "relevance_params": {"smoothgrad": {"samples": 0}}},
     r"'samples' = 0 is out of range"),
    ({"relevance_methods": ["occlusion"], "relevance_params": {"occlusion": {"window": 0}}},
     r"relevance_params\['occlusion'\]: .*'window' = 0 is out of range"),
    ({"relevance_methods": ["occlusion"], "relevance_params": {"occlusion": {"window": 500}}},
     r"'window' = 500: the window \(500, 500\) is larger than the input \(65, 59\)"),
    ({"relevance_methods": ["occlusion"], "relevance_params": {"occlusion": {"window": [4, 4, 4]}}},
     r"'window' must be a positive int or 2 positive ints"),
    ({"relevance_methods": ["lrp.epsilon"], "relevance_params": {"lrp.epsilon": {"epsilon": -1}}},
     r"'epsilon' = -1.0 is out of range: epsilon must be >= 0"),
    ({"seeds": ["a"]}, r"parameter 'seeds' must be list\[int\], got \['a'\] \(item 0 is str 'a'\)"),
    ({"seeds": [-1]}, r"'seeds' = \[-1\] is out of range"),
    ({"source": "kaggle", "data_path": "/no/such/whale"}, r"data_path: .*the data path /no/such/whale does not exist"),
    ({"source": "features", "data_path": "/no/such/x.npz"}, r"data_path: .*/no/such/x.npz does not exist"),
    ({"data_path": "/some/path"}, r"data_path: source 'synthetic' generates its clips and takes no path"),
    ({"model_params": {"dropout": 1.5}}, r"model_params: model 'whale_cnn': parameter 'dropout' = 1.5"),
    ({"load_params": {"positive_share": 2}}, r"'positive_share' = 2.0 is out of range"),
    ({"load_params": {"fmin": 300, "fmax": 200}}, r"load_params: .*need 0 <= fmin < fmax"),
])
def test_whale_parameters_are_checked_before_a_kernel_starts(params, match):
    with pytest.raises(ParameterError, match=match) as err:
        check_parameters(WHALE, params)
    assert "\n" not in str(err.value)


def test_gradcam_layer_is_checked_against_the_untrained_architecture():
    with pytest.raises(ParameterError, match=r"parameter 'layer': model 'whale_cnn' has no layer 'nosuch'; its "
                                             r"layers: conv1, .*conv3"):
        check_parameters(WHALE, {"relevance_methods": ["gradcam"],
                                 "relevance_params": {"gradcam": {"layer": "nosuch"}}})
    check_parameters(WHALE, {"relevance_methods": ["gradcam"], "relevance_params": {"gradcam": {"layer": "conv2"}}})
    from relmask_plugins.faithfulness.experiment import FaithfulnessExperiment

    with pytest.raises(ParameterError, match=r"relevance_params\['occlusion'\] on domain 'fer'.*larger than the input"):
        FaithfulnessExperiment(relevance_methods=["occlusion"],
                               relevance_params={"occlusion": {"window": [60, 50]}}).validate()


def test_cli_refuses_bad_seeds_in_one_line_before_a_kernel_starts(tmp_path, monkeypatch, capsys):
    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a kernel started"))
    assert main(["run", "whale", "-p", "seeds", "[a]", "-o", str(tmp_path / "o")]) == 2
    assert "parameter 'seeds' must be list[int]" in one_line(capsys.readouterr().err)
    assert main(["run", "whale", "-p", "relevance_methods", "[integrated_gradients]", "-p", "relevance_params",
                 "{integrated_gradients: {steps: 0}}", "-o", str(tmp_path / "o")]) == 2
    assert "'steps' = 0 is out of range" in one_line(capsys.readouterr().err)


def test_fer_parameters_are_checked_before_training():
    from relmask_plugins.fer.config import FerExperiment

    with pytest.raises(ParameterError, match=r"relevance_params: .*'window' = 100: the window \(100, 100\) is "
                                             r"larger than the input \(48, 48\)"):
        FerExperiment(relevance_method="occlusion", relevance_params={"window": 100}).validate()
    with pytest.raises(ParameterError, match=r"data_path: .*/no/such.csv does not exist"):
        FerExperiment(source="fer2013", data_path="/no/such.csv").validate()
    with pytest.raises(ParameterError, match=r"'seeds' must be list\[int\]"):
        FerExperiment(seeds=[0.5]).validate()


def test_declared_item_types_and_ranges_of_list_parameters():
    from relmask.plugin_system.components import Param

    p = Param("window", (int, tuple), 8, low=1, items=int)
    assert p.check([2, 3], "x") == (2, 3) and p.type_name == "int | tuple[int]"
    with pytest.raises(ParameterError, match=r"each number of window must be >= 1 \(got 0\)"):
        p.check((2, 0), "x")
    with pytest.raises(ParameterError, match=r"item 1 is bool True"):
        p.check((2, True), "x")


# -- 4: explain() refuses what it would silently misread ----------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(3, name="out")])
    return model, np.random.default_rng(0).random((2, 6, 6, 1), dtype=np.float32)


def test_explain_refuses_negative_epsilon_and_non_integer_targets(tiny_model):
    import relmask

    model, x = tiny_model
    with pytest.raises(ParameterError, match=r"'epsilon' = -1.0 is out of range: epsilon must be >= 0"):
        relmask.explain(model, x, "lrp.epsilon", epsilon=-1)
    for bad in (1.5, True, np.float32(1.0), [1.0, 2.0], [True, False]):
        with pytest.raises(ParameterError, match="targets must be None, an int or one int per sample"):
            relmask.explain(model, x, "gradient", targets=bad)
    assert relmask.explain(model, x, "gradient", targets=np.int64(1)).shape == x.shape
    with pytest.raises(ParameterError, match=r"'window' = 7: the window \(7, 7\) is larger than the input \(6, 6\)"):
        relmask.explain(model, x, "occlusion", window=7)
    with pytest.raises(ParameterError, match=r"parameter 'layer': model '.*' has no layer 'nope'"):
        relmask.explain(model, x, "gradcam", layer="nope")


# -- 9: the smaller ones --------------------------------------------------------------------------------------------
def test_explain_on_an_unbuilt_sequential_says_to_build_it():
    import keras

    import relmask

    with pytest.raises(ParameterError, match=r"is not built yet .* model.build"):
        relmask.explain(keras.Sequential([keras.layers.Dense(3)]), np.ones((2, 4), np.float32), "gradient")


def test_mask_of_an_empty_batch_is_an_empty_batch():
    import relmask

    out = relmask.mask(np.zeros((0, 4, 4)), np.zeros((0, 4, 4)), "negative", fraction=0.3)
    assert out.shape == (0, 4, 4) and out.dtype == np.float32


def test_run_help_works_without_a_notebook_and_lists_the_options(capsys):
    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    assert "usage: relmask run" in text and "--preset" in text
    assert main(["run", "whale", "--help"]) == 0
    text = capsys.readouterr().out
    assert "relevance_methods" in text and all(f in text for f in ("-o OUTDIR", "-P NAME", "-f YAML"))


def test_check_with_an_unknown_method_is_one_line(capsys):
    assert main(["check", "--methods", "gradient,nosuch"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "unknown relevance method 'nosuch'" in one_line(out.err)


def test_duplicate_yaml_keys_are_refused(tmp_path, capsys):
    params = tmp_path / "p.yaml"
    params.write_text("value: 1\nkind: plain\nvalue: 2\n")
    assert main(["run", str(TINY_NOTEBOOK), "-f", str(params), "-o", str(tmp_path / "o")]) == 2
    assert f"{params}: not valid parameters file: line 3, column 1: duplicate key 'value'" in one_line(
        capsys.readouterr().err)
    assert main(["run", "whale", "-p", "relevance_params", "{gradcam: {}, gradcam: {layer: x}}"]) == 2
    assert "-p relevance_params: " in one_line(capsys.readouterr().err)
    from relmask.io import read_yaml

    nested = tmp_path / "config.yaml"  # presets and reproduce configs are read by the same helper
    nested.write_text("runs:\n  - {name: a, name: b}\n")
    with pytest.raises(DataError, match=r"config.yaml: not valid reproduce config: line 2, column 15: duplicate key"):
        read_yaml(nested, "reproduce config")


def test_plugins_json_into_a_closed_pipe_is_no_error():
    proc = subprocess.run(f"'{sys.executable}' -m relmask plugins --json | head -1", shell=True,
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.stdout.strip() == "[" and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_a_broken_plugins_warning_shows_no_source_line(plugin_site):
    proc = subprocess.run([sys.executable, "-m", "relmask", "plugins"], capture_output=True, text=True,
                          env={**os.environ, **plugin_site}, cwd=ROOT, timeout=120)
    warned = [line for line in proc.stderr.splitlines() if line.strip()]
    assert any("relmask plugin 'relmask-broken:import_error' failed to load" in w for w in warned)
    assert all("RuntimeWarning" in w for w in warned), proc.stderr  # no "  self._load_entry_points()" under it


def test_the_kernel_is_not_interrupted_when_it_is_shut_down():
    import asyncio

    from relmask.running.jupyter import SHUTDOWN_WAIT_S, RelmaskKernelManager

    km = RelmaskKernelManager()
    assert km.shutdown_wait_time == SHUTDOWN_WAIT_S > 5  # jupyter_client's 5 s: SIGTERM after 2.5 s
    sent = []

    async def signal_kernel(signum):
        sent.append(signum)

    km._async_signal_kernel = signal_kernel
    km.shutting_down = True  # what shutdown_kernel sets before it interrupts: no SIGINT now
    asyncio.run(km._async_interrupt_kernel())
    assert sent == []


# -- 7: progress and the kernel's warnings on the console -------------------------------------------------------
class FakeTerminal:
    """A stream that says it is a terminal (its width: whatever ``os.get_terminal_size`` says)."""

    def __init__(self):
        import io

        self.buf = io.StringIO()

    def write(self, s):
        return self.buf.write(s)

    def flush(self):
        pass

    def isatty(self):
        return True

    def fileno(self):
        return 99


def test_run_display_draws_a_live_line_on_a_terminal_and_relays_warnings_once(monkeypatch):
    from relmask.running import progress

    monkeypatch.delenv(progress.PROGRESS_MODE_ENV, raising=False)
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=None: os.terminal_size((0, 0)))  # reports no width
    term = FakeTerminal()
    display = progress.RunDisplay(file=term)
    assert display.live
    display.event("whale", {"status": "seed 1/2, CNN₁, epoch 2/4 — 0:12 elapsed, ~1:05 left", "eta_s": 65})
    for _ in range(2):
        display.event("whale", {"warning": "RelmaskWarning: 3 of 4 relevance maps carry no information"})
    display.close()
    text = term.buf.getvalue()
    assert "whale: seed 1/2, CNN₁, epoch 2/4 — 0:12 elapsed, ~1:05 left" in text  # not cut to 0 columns
    assert text.count("whale: warning: RelmaskWarning: 3 of 4") == 1


def test_relmask_run_shows_stages_and_the_kernels_warnings(tmp_path, monkeypatch, capsys):
    from relmask.running import progress

    monkeypatch.setenv(progress.PROGRESS_MODE_ENV, "lines")  # as in a log: one line per finished stage

    def fake_run(nb, params, out, on_progress=None, **kw):
        for event in ({"status": "seed 1/2 — 1.0 s elapsed", "eta_s": None},
                      {"done": "seed 1/2 done in 4.0 s, ~4.0 s left"}, {"warning": "RelmaskWarning: cache recomputed"},
                      {"warning": "RelmaskWarning: cache recomputed"}, {"done": "seed 2/2 done in 4.0 s"}):
            on_progress(event)
        return runner.RunResult(Path(out) / "tiny.ipynb", {}, Path(out) / "results.json", 8.0, params)

    monkeypatch.setattr(runner, "run_notebook", fake_run)
    assert main(["run", str(TINY_NOTEBOOK), "-o", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["tiny: seed 1/2 done in 4.0 s, ~4.0 s left", "tiny: warning: RelmaskWarning: cache recomputed",
                   "tiny: seed 2/2 done in 4.0 s"]


def test_a_kernels_warnings_are_forwarded_as_events(tmp_path, monkeypatch):
    from relmask.running import progress

    path = tmp_path / "events.jsonl"
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(path))
    shown = []
    monkeypatch.setattr(warnings, "showwarning", lambda *a, **k: shown.append(a[0]))  # the kernel's display
    progress.forward_warnings()
    progress.forward_warnings()  # installed once
    warnings.showwarning("a cache entry is recomputed", RelmaskWarning, "x.py", 1)
    warnings.showwarning("old API", DeprecationWarning, "x.py", 2)  # for developers: not forwarded
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert events == [{"warning": "RelmaskWarning: a cache entry is recomputed"}]
    assert shown == ["a cache entry is recomputed", "old API"]  # still shown where they were raised
