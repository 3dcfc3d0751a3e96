"""Build notebooks from plain Python so they are reviewable in diffs: ``python notebooks/_build/<name>.py``.

Cells are given as strings; a string starting with ``"# %% [markdown]"`` becomes a markdown cell. The cell
passed as ``parameters`` is tagged for papermill and ``relmask run``.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from relmask.jupyter import notebook_language_info

MARKDOWN = "# %% [markdown]\n"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (relmask)", "language": "python"}


def build(path: str | Path, title: str, parameters: str, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = notebook_language_info()  # what the kernel reports, less the Python version
    nb.cells.append(nbformat.v4.new_markdown_cell(title.strip()))
    params = nbformat.v4.new_code_cell(parameters.strip())
    params.metadata["tags"] = ["parameters"]
    nb.cells.append(params)
    for src in cells:
        if src.startswith(MARKDOWN):
            nb.cells.append(nbformat.v4.new_markdown_cell(src[len(MARKDOWN):].strip()))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(src.strip()))
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating leaves an unchanged notebook unchanged
        cell["id"] = f"cell-{i:02d}"
    path = Path(path)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path
