"""The browser tier (``make test-browser``): the experiment notebooks where users run them — in JupyterLab.

A ``jupyter lab`` server (the ``lab`` extra, configured as ``make lab`` configures it) runs on 127.0.0.1 with a
token; headless Chromium (Debian's ``chromium``, driven by Playwright from pip) opens a copy of each experiment
notebook whose parameters cell holds the tiniest values, checks that opening and saving it leaves the file as
it was, runs all cells from the Run menu, and checks that the output shows the result table and a figure.
Screenshots are kept in ``runs/browser-artifacts/``. Deselected by default (marker ``browser``).
"""
from __future__ import annotations

import ast
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from .conftest import NOTEBOOKS, ROOT

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "runs" / "browser-artifacts"
#: the tiniest values that still give a result table and figures (parameters a notebook lacks are skipped)
TINIEST = {
    "whale_feature_masking": {"n_clips": 48, "epochs": 1, "seeds": [0], "fusion_rules": ["mean"],
                              "controls": ["shuffled"], "batch_size": 16},
    "fer_data_masking": {"n_source": 84, "n_target": 84, "trainer_epochs": 1, "epochs": 2, "k": 1, "seeds": [0],
                         "controls": ["shuffled"], "finetune_baseline": False, "batch_size": 16},
}
#: what the result table of each notebook shows (a column header)
TABLE_TEXT = {"whale_feature_masking": "AUC", "fer_data_masking": "AULC"}
RUN_TIMEOUT_S = 900


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed (make test-browser installs Debian's chromium package)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server whose root is a temporary folder: (url, token, root)."""
    pytest.importorskip("jupyterlab", reason="the lab extra is not installed (make test-browser installs it)")
    from relmask.jupyter import install_server_config

    install_server_config()  # what `make lab` sets up: IPC kernels started at the root, the pre-save hook
    root = tmp_path_factory.mktemp("lab")
    (root / "notebooks").mkdir()
    token, port = secrets.token_hex(16), _free_port()
    cmd = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(root / "lab.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited with {server.returncode}:\n{(root / 'lab.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not start within 120 s")
        yield url, token, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "lab.log", ARTIFACTS / "lab.log")


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api",
                                         reason="playwright is not installed (make test-browser installs it)")
    executable = _chromium()
    with playwright_api.sync_playwright() as p:
        # --no-sandbox: Chromium's sandbox needs user namespaces, which containers (and root) usually lack
        b = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def tiniest_copy(name: str, dest: Path) -> Path:
    """``notebooks/<name>.ipynb`` with the :data:`TINIEST` values written into its parameters cell."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    lines = cell.source.splitlines()
    overrides = {**TINIEST[name], "cache_dir": str(dest.parent.parent / ".relmask-cache")}
    for node in ast.parse(cell.source).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign)
                                                                      else None)
        if isinstance(target, ast.Name) and target.id in overrides and node.value is not None:
            v = node.value
            assert v.lineno == v.end_lineno, f"{name}: parameter {target.id} spans lines"
            line = lines[v.lineno - 1]
            lines[v.lineno - 1] = line[:v.col_offset] + repr(overrides[target.id]) + line[v.end_col_offset:]
    cell.source = "\n".join(lines)
    nbformat.write(nb, dest)
    return dest


@pytest.mark.parametrize("name", sorted(TINIEST))
def test_notebook_runs_in_jupyterlab(lab, browser, name):
    url, token, root = lab
    path = tiniest_copy(name, root / "notebooks" / f"{name}.ipynb")
    original = path.read_bytes()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console_errors = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    try:
        page.goto(f"{url}/lab/tree/notebooks/{name}.ipynb?token={token}", timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        # the relmask kernel starts and reports idle
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=180_000)
        # opening and saving leaves the file byte for byte as it was (the kernel filled in language_info)
        page.keyboard.press("Control+s")
        page.wait_for_timeout(2000)
        assert path.read_bytes() == original, "opening and saving the notebook changed the file"

        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        n_code = sum(c.cell_type == "code" for c in nbformat.reads(original.decode(), as_version=4).cells)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.textContent)")
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                                  ":has-text('Traceback')").count()
            if errors or (len(prompts) == n_code and all("[" in p and "*" not in p and p.strip() != "[ ]:"
                                                         for p in prompts)):
                break
            page.wait_for_timeout(2000)
        page.keyboard.press("Control+s")
        page.wait_for_timeout(2000)
        figures = page.locator(".jp-OutputArea-output img")
        if figures.count():
            figures.last.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        executed = nbformat.read(path, as_version=4)
        failed = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not failed, f"{name}: a cell failed in JupyterLab: {failed[0]['ename']}: {failed[0]['evalue']}"
        assert all(c.get("execution_count") for c in executed.cells if c.cell_type == "code"), \
            f"{name}: not every cell ran within {RUN_TIMEOUT_S} s"
        output_text = page.locator(".jp-OutputArea").all_inner_texts()
        assert any(TABLE_TEXT[name] in t for t in output_text), f"{name}: no result table in the output"
        assert figures.count() >= 1, f"{name}: no figure in the output"
        assert (root / "runs" / name / "results.json").is_file()  # results land in <root>/runs/, as documented
        assert not console_errors, console_errors
    finally:
        page.close()
