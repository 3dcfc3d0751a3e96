"""What a new user sees in the first ten minutes (issue 17): quiet kernels over IPC, no TensorFlow noise from
prediction, progress in logs and across processes, byte-stable figures, and the notebooks' stored metadata."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from relmask.running import progress
from relmask.running.runner import run_notebook
from tests.conftest import ROOT

TINY = Path(__file__).resolve().parent.parent / "notebooks" / "tiny.ipynb"
TCP_WARNING = "without encryption"


def _notebook(path: Path, *cells: str) -> Path:
    """A notebook with an ``output_dir`` parameters cell and ``cells``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('output_dir: str = "runs/x"  # where results.json goes')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


# -- kernels ------------------------------------------------------------------------------------------------
def test_tiny_notebook_run_prints_no_tcp_warning(tmp_path, capfd):
    result = run_notebook(TINY, {"value": 3}, tmp_path / "out")
    assert result.results["value"] == 3
    captured = capfd.readouterr()
    assert TCP_WARNING not in captured.err + captured.out
    executed = result.notebook_out.read_text()
    assert TCP_WARNING not in executed and "Traceback" not in executed


def test_kernel_talks_over_ipc_and_its_stages_reach_the_caller(tmp_path):
    nb = _notebook(tmp_path / "stages.ipynb", """\
import relmask
from relmask.running import progress
from ipykernel.kernelapp import IPKernelApp

app = IPKernelApp.instance()
relmask.record("transport", app.transport)
relmask.record("ip", app.ip)
for seed in progress.stage("seed", [0, 1]):
    with progress.stage("CNN₁"):
        pass""")
    events = []
    result = run_notebook(nb, {}, tmp_path / "out", on_progress=events.append)
    assert result.results["transport"] == "ipc"
    socket_dir = Path(result.results["ip"]).parent
    assert socket_dir.name.startswith("relmask-kernel-") and not socket_dir.exists()  # removed with the kernel
    done = [e["done"] for e in events if "done" in e]
    assert [d.split(" done in ")[0] for d in done] == ["seed 1/2, CNN₁", "seed 1/2", "seed 2/2, CNN₁", "seed 2/2"]
    assert any(e.get("status", "").startswith("seed 2/2, CNN₁ — ") for e in events)
    assert events[-1] == {"status": "", "eta_s": None}  # the outermost stage closed: the live line goes away
    # the kernel is not a terminal: its own output keeps one line per finished stage, as a record
    executed = nbformat.read(result.notebook_out, as_version=4)
    stderr = "".join(o.get("text", "") for o in executed.cells[-1].outputs if o.get("name") == "stderr")
    assert stderr.count(" done in ") == 4 and "\r" not in stderr


def test_reproduce_prints_each_runs_stages_prefixed_with_its_name(tmp_path, capfd, monkeypatch):
    from relmask.running.reproduce import reproduce

    monkeypatch.delenv(progress.PROGRESS_MODE_ENV, raising=False)
    _notebook(tmp_path / "staged.ipynb", """\
import relmask
from relmask.running import progress

relmask.running.results.set_results_path(output_dir)
for seed in progress.stage("seed", [0, 1]):
    relmask.record(f"seed{seed}", seed)""")
    (tmp_path / "cfg.yaml").write_text("runs:\n  - name: staged\n    notebook: staged.ipynb\n")
    report = reproduce(tmp_path / "cfg.yaml", out=tmp_path / "out", paper_dir=None)
    assert [r["status"] for r in report.records] == ["ok"]
    err = capfd.readouterr().err  # not a terminal: one line per finished stage, prefixed with the run's name
    lines = [line for line in err.splitlines() if line.startswith("staged: ")]
    assert [line.split(" done in ")[0] for line in lines] == ["staged: seed 1/2", "staged: seed 2/2"]
    assert TCP_WARNING not in err


# -- progress -----------------------------------------------------------------------------------------------
def test_stages_in_a_log_print_one_line_per_finished_stage(monkeypatch, capsys):
    monkeypatch.delenv(progress.PROGRESS_FILE_ENV, raising=False)
    monkeypatch.delenv(progress.PROGRESS_MODE_ENV, raising=False)
    for seed in progress.stage("seed", [0, 1, 2]):
        with progress.stage(f"CNN₂ lrp.epsilon/mean (seed {seed})"):
            st = progress.stage("epoch", 4, log=False)
            with st:
                for _ in range(4):
                    st.update()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" done in ")[0] for line in lines] == [
        "seed 1/3, CNN₂ lrp.epsilon/mean (seed 0)", "seed 1/3",
        "seed 2/3, CNN₂ lrp.epsilon/mean (seed 1)", "seed 2/3",
        "seed 3/3, CNN₂ lrp.epsilon/mean (seed 2)", "seed 3/3"]
    assert "left" not in lines[0] and lines[2].endswith(" left")  # an estimate once a seed has finished
    assert "\r" not in "".join(lines)


def test_status_line_and_estimate():
    st = progress.Stage("seed", 4)
    with st:
        st.start -= 30  # as if two seeds had taken 10 s each and the third is 10 s in
        st.n, st.position, st.step_start = 2, 3, st.start + 20
        text = progress.status(now=st.start + 30)
    assert text == "seed 3/4 — 30 s elapsed, ~10 s left"
    assert progress.format_seconds(4.24) == "4.2 s" and progress.format_seconds(3725) == "1:02:05"


def test_keras_callback_reports_epochs(monkeypatch, capsys):
    from relmask.pipeline import training

    monkeypatch.setenv(progress.PROGRESS_MODE_ENV, "lines")
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype(np.float32)
    y = np.arange(16) % 2
    model = training.build_model("whale_cnn", x.shape[1:], 2, seed=0)
    seen = []
    original = progress.stages._Reporter.changed

    def spy(self, force=False, closed=False):
        seen.append(progress.status())
        return original(self, force=True, closed=closed)

    monkeypatch.setattr(progress.stages._Reporter, "changed", spy)
    with progress.stage("CNN₁"):
        training.fit(model, x, y, epochs=3, batch_size=8, callbacks=[progress.keras_callback()])
    assert any(s.startswith("CNN₁, epoch 3/3 (loss ") for s in seen)
    assert capsys.readouterr().err.splitlines()[-1].startswith("CNN₁ done in ")  # no line per epoch


def test_run_display_prefixes_runs_and_relays_from_another_process(tmp_path):
    import io
    import subprocess

    out = io.StringIO()
    display = progress.RunDisplay(live=False, file=out)
    with progress.relay(lambda e: display.event("whale-quick", e)):
        code = "from relmask.running import progress\nwith progress.stage('seed', 2) as s:\n    s.update()\n"
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    assert out.getvalue().startswith("whale-quick: seed done in ")


def test_progress_reaches_a_dask_client():
    distributed = pytest.importorskip("distributed")

    received = []
    display = progress.RunDisplay(live=False)
    display.event = lambda run, event: received.append((run, event))
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as client:
        client.subscribe_topic(progress.TOPIC, display.dask_handler)
        client.submit(_publish, "fer-quick", pure=False).result()
        for _ in range(100):
            if received:
                break
            import time

            time.sleep(0.05)
    assert received == [("fer-quick", {"done": "trainer done in 1.0 s"})]


def _publish(run):
    progress.publisher(run)({"done": "trainer done in 1.0 s"})


# -- TensorFlow noise ----------------------------------------------------------------------------------------
def test_predict_on_fresh_models_is_quiet_and_unchanged(capfd):
    from relmask.pipeline import training

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    tf_logger = logging.getLogger("tensorflow")
    tf_logger.addHandler(handler)
    x = np.random.default_rng(1).normal(size=(20, 8, 8, 1)).astype(np.float32)
    try:
        for seed in range(7):  # TensorFlow warns about retracing from the 5th traced call on
            model = training.build_model("whale_cnn", x.shape[1:], 2, seed=seed)
            p = training.predict_proba(model, x, batch_size=8)
            assert p.shape == (20, 2) and p.dtype == np.float64
    finally:
        tf_logger.removeHandler(handler)
    assert not [r for r in records if "retracing" in r.getMessage()]
    err = capfd.readouterr().err
    assert "E0000" not in err and "use_unbounded_threadpool" not in err
    np.testing.assert_allclose(p, model.predict(x, batch_size=8, verbose=0), rtol=1e-6, atol=1e-7)
    assert training.predict_proba(model, x[:0]).shape == (0, 2)


# -- deterministic figures -------------------------------------------------------------------------------------
def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [1, 0, 2])
    ax.set_title("AUC")
    return fig


def test_figures_are_byte_identical_on_two_saves(tmp_path, monkeypatch):
    import os
    import time

    from relmask.running.plotting import save_figure

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = {p.suffix: p.read_bytes() for p in save_figure(_figure(), tmp_path / "a")}
    time.sleep(1.1)  # PDF dates have one-second resolution
    pdf = tmp_path / "a.pdf"
    os.utime(pdf, (0, 0))
    again = save_figure(_figure(), tmp_path / "a")
    assert {p.suffix: p.read_bytes() for p in again} == first
    assert pdf.stat().st_mtime == 0  # unchanged bytes: the file is not even rewritten
    assert b"CreationDate" not in first[".pdf"]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # reproducible-builds convention: this date
    stamped = save_figure(_figure(), tmp_path / "b")[1].read_bytes()
    assert b"/CreationDate (D:20231114" in stamped


# -- notebooks as JupyterLab opens them -----------------------------------------------------------------------
@pytest.mark.parametrize("path", ["relmask_plugins/whale/notebooks/whale_feature_masking.ipynb",
                                  "relmask_plugins/fer/notebooks/fer_data_masking.ipynb",
                                  "notebooks/hello_relmask.ipynb"])
def test_notebooks_store_the_metadata_the_kernel_writes(path):
    """Opening a notebook must not mark it modified: the kernel fills in ``language_info`` on start, so the
    stored notebooks carry exactly what relmask.running.jupyter.sync_notebook writes, and JupyterLab saves nothing
    new."""
    from relmask.running.jupyter import KERNELSPEC, PAIRING, notebook_language_info, pre_save_hook

    name = Path(path).stem
    stored = (ROOT / path).read_text()
    meta = json.loads(stored)["metadata"]
    assert meta == {"jupytext": {"formats": PAIRING}, "kernelspec": KERNELSPEC,
                    "language_info": notebook_language_info()}
    assert "version" not in meta["language_info"]  # it would differ with the Python in use
    # what JupyterLab saves after the kernel filled in language_info: the server's hook restores the stored bytes
    nb = nbformat.reads(stored, as_version=4)
    nb.metadata["language_info"]["version"] = "3.99.1"
    model = {"type": "notebook", "content": nb}
    pre_save_hook(model=model, path=f"notebooks/{name}.ipynb")
    assert nbformat.writes(model["content"]) + "\n" == stored


def test_make_lab_starts_at_the_repository_root_and_as_root():
    import os
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    command = next(line for line in dry.splitlines() if "jupyter lab" in line)
    assert "--ServerApp.root_dir=." in command and " notebooks/" not in command
    assert ("--allow-root" in command) == (os.geteuid() == 0)
    assert "install_server_config()" in dry  # IPC kernels started at the root, the pre-save hook
