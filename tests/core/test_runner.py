"""`relmask run`: strict parameters, executed notebook + results.json, failing cells, --help."""
from __future__ import annotations

import json

import nbformat
import pytest

from relmask.errors import NotebookExecutionError, ParameterError
from relmask.running.runner import check_parameters, parse_parameters, run_notebook
from tests.conftest import NOTEBOOKS, run_cli

HELLO = NOTEBOOKS / "hello_relmask.ipynb"


def _notebook(tmp_path, params_src: str, body: str = "print('ok')"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(params_src)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell, nbformat.v4.new_code_cell(body)]
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    return path


def test_parse_parameters_types_defaults_and_help(tmp_path):
    nb = _notebook(tmp_path, 'source: str = "synthetic"  # where data comes from\n'
                             'data_path: str | None = None\nn = 3\nlr: float = 0.1\nseeds = [0, 1]\n'
                             'flag = True\nopt = None  # anything\nshape: Optional[int] = None\n')
    p = parse_parameters(nb)
    assert list(p) == ["source", "data_path", "n", "lr", "seeds", "flag", "opt", "shape"]
    assert p["source"].help == "where data comes from" and p["source"].default == "synthetic"
    assert p["data_path"].type_names == ("str", "None") and p["n"].type_names == ("int",)
    assert p["opt"].type_names == () and p["shape"].type_names == ("int", "None")
    assert p["lr"].accepts(1) and not p["n"].accepts(1.5) and not p["n"].accepts(True)
    assert p["seeds"].accepts([1]) and not p["seeds"].accepts(1) and p["opt"].accepts({"a": 1})
    assert p["data_path"].accepts(None) and p["data_path"].accepts("x") and not p["data_path"].accepts(3)


def test_check_parameters_rejects_unknown_and_mistyped():
    with pytest.raises(ParameterError, match="unknown parameter 'fractoin' \\(did you mean 'fraction'\\?\\)"):
        check_parameters(HELLO, {"fractoin": 0.2})
    with pytest.raises(ParameterError, match=r"'n_samples' must be int, got float 2.5"):
        check_parameters(HELLO, {"n_samples": 2.5})
    assert check_parameters(HELLO, {"fraction": 1, "masker": "keep"})


def test_run_writes_executed_notebook_and_results(tmp_path):
    result = run_notebook(HELLO, {"fraction": 0.5, "masker": "keep"}, tmp_path / "out")
    assert result.notebook_out.exists() and result.results_path == tmp_path / "out" / "results.json"
    assert result.results == {"masked_fraction": 0.5, "masker": "keep"}
    assert result.parameters["output_dir"] == str((tmp_path / "out").resolve())  # filled in by the runner
    executed = nbformat.read(result.notebook_out, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


def test_failing_cell_names_cell_and_keeps_executed_notebook(tmp_path):
    nb = _notebook(tmp_path, "x: int = 1", "import relmask\nrelmask.record('before', x)\nraise ValueError('boom')")
    with pytest.raises(NotebookExecutionError, match=r"cell #3 of the source notebook \(In \[3\] in the executed "
                                                     r"one\) failed: ValueError: boom") as err:
        run_notebook(nb, {"x": 5}, tmp_path / "out")
    assert (err.value.cell, err.value.ename, err.value.evalue) == (3, "ValueError", "boom")
    assert err.value.cell_index == 2  # 0-based in the source notebook: [markdown, parameters, this cell]
    # kept under names that say the run failed (a previous good run in "out" would stay as it was)
    assert err.value.notebook_out == (tmp_path / "out" / "t.failed.ipynb").resolve()
    assert (tmp_path / "out" / "t.failed.ipynb").exists() and not (tmp_path / "out" / "t.ipynb").exists()
    assert json.loads((tmp_path / "out" / "results.failed.json").read_text()) == {"before": 5}  # work kept


def test_cli_run_help_params_file_and_errors(tmp_path):
    help_ = run_cli("run", str(HELLO), "--help")
    assert help_.returncode == 0 and "fraction" in help_.stdout and "0.3" in help_.stdout
    params = tmp_path / "p.yaml"
    params.write_text("masker: keep\nfraction: 0.9\n")
    ok = run_cli("run", str(HELLO), "-f", str(params), "-p", "n_samples", "4", "-o", str(tmp_path / "o"))
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "o" / "results.json").read_text())["masker"] == "keep"
    bad = run_cli("run", str(HELLO), "-p", "fraction", "abc")
    assert bad.returncode == 2 and "parameter 'fraction' must be float, got str 'abc'" in bad.stderr
    fail = run_cli("run", str(HELLO), "-p", "masker", "nope", "-o", str(tmp_path / "f"))
    assert fail.returncode == 1 and "UnknownNameError: unknown masker 'nope'" in fail.stderr
    assert "executed notebook:" in fail.stderr
    missing = run_cli("run", str(tmp_path / "none.ipynb"))
    assert missing.returncode == 2 and "notebook not found" in missing.stderr
