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
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tests.conftest import NOTEBOOK_PATHS, ROOT

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
def lab():
    """A JupyterLab server whose root is a temporary folder: (url, token, root)."""
    import tempfile

    pytest.importorskip("jupyterlab", reason="the lab extra is not installed (make test-browser installs it)")
    from relmask.running.jupyter import install_server_config

    install_server_config()  # what `make lab` sets up: IPC kernels started at the root, the pre-save hook
    # not pytest's tmp_path: other pytest sessions on the machine prune old basetemps, this folder is the
    # kernels' working directory for minutes
    root = Path(tempfile.mkdtemp(prefix="relmask-lab-"))
    (root / "notebooks").mkdir()
    settings = root / ".lab" / "settings" / "@jupyterlab"
    for plugin, values in (
            # no "get notified about official Jupyter news?" pop-up (and no fetching it) over the screenshots
            ("apputils-extension/notification", '{"fetchNews": "false", "checkForUpdates": false}'),
            # every cell in the page, not only those in view: the test reads all execution prompts
            ("notebook-extension/tracker", '{"windowingMode": "none"}')):
        (settings / f"{plugin}.jupyterlab-settings").parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(values)
    token, port = secrets.token_hex(16), _free_port()
    cmd = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           # a fresh workspace and settings: no tabs of an earlier session, nothing of the user's own set-up
           f"--LabApp.workspaces_dir={root / '.lab' / 'workspaces'}",
           f"--LabApp.user_settings_dir={root / '.lab' / 'settings'}"]
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
        shutil.rmtree(root, ignore_errors=True)


def _kernels(url: str, token: str) -> list[dict]:
    import json
    import urllib.request

    request = urllib.request.Request(f"{url}/api/kernels", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request) as r:
        return json.load(r)


def _wait_for_idle_kernel(url: str, token: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(k.get("execution_state") == "idle" for k in _kernels(url, token)):
            return
        time.sleep(1)
    pytest.fail(f"no kernel was idle within {timeout_s} s: {_kernels(url, token)}")


def _shutdown_kernels(url: str, token: str) -> None:
    """One notebook's TensorFlow kernel at a time: the next test must not share the memory with it."""
    import urllib.request

    headers = {"Authorization": f"token {token}"}
    for k in _kernels(url, token):
        urllib.request.urlopen(urllib.request.Request(f"{url}/api/kernels/{k['id']}", headers=headers,
                                                      method="DELETE")).close()


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
    """The stored notebook ``name`` with the :data:`TINIEST` values written into its parameters cell."""
    nb = nbformat.read(NOTEBOOK_PATHS[name], as_version=4)
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
        _wait_for_idle_kernel(url, token, timeout_s=180)  # the relmask kernel started and answered
        page.get_by_text(re.compile(r"\|\s*Idle$")).first.wait_for(timeout=60_000)  # the status bar shows it
        # opening and saving leaves the file byte for byte as it was (the kernel filled in language_info)
        page.keyboard.press("Control+s")
        page.wait_for_timeout(2000)
        assert path.read_bytes() == original, "opening and saving the notebook changed the file"

        page.screenshot(path=str(ARTIFACTS / f"{name}-opened.png"))

        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        page.wait_for_selector(".jp-CodeCell .jp-InputArea-prompt:has-text('*')", timeout=60_000)  # it started
        deadline = time.monotonic() + RUN_TIMEOUT_S
        log_start = len((root / "lab.log").read_text())
        while True:  # done when the saved notebook has every code cell executed, or one failed
            if "restarting kernel" in (root / "lab.log").read_text()[log_start:]:
                pytest.fail(f"{name}: the kernel died while running (out of memory?); see {ARTIFACTS / 'lab.log'}")
            if time.monotonic() > deadline:
                pytest.fail(f"{name}: not every cell ran within {RUN_TIMEOUT_S} s")
            page.wait_for_timeout(5000)
            if not any(k.get("execution_state") == "idle" for k in _kernels(url, token)):
                continue
            page.keyboard.press("Control+s")
            page.wait_for_timeout(1500)
            executed = nbformat.read(path, as_version=4)
            code = [c for c in executed.cells if c.cell_type == "code"]
            failed = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
            if failed or all(c.get("execution_count") for c in code):
                break
        figures = page.locator(".jp-OutputArea-output img")
        if figures.count():
            figures.last.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        assert not failed, f"{name}: a cell failed in JupyterLab: {failed[0]['ename']}: {failed[0]['evalue']}"
        output_text = page.locator(".jp-OutputArea").all_inner_texts()
        assert any(TABLE_TEXT[name] in t for t in output_text), f"{name}: no result table in the output"
        assert figures.count() >= 1, f"{name}: no figure in the output"
        assert (root / "runs" / name / "results.json").is_file()  # results land in <root>/runs/, as documented
        assert not console_errors, console_errors
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / f"{name}-failed.png"))
        raise
    finally:
        page.close()
        _shutdown_kernels(url, token)
