"""Bars and live status lines on a terminal or in a Jupyter kernel (tqdm)."""
from __future__ import annotations

import os
import sys


def in_ipykernel() -> bool:
    return "ipykernel" in sys.modules and type(sys.stderr).__module__.startswith("ipykernel")


#: the width a live line assumes where the terminal reports none (0 columns: some pseudo-terminals, `script`, CI)
FALLBACK_COLUMNS = 120


def progress_bar(*args, **kwargs):
    """A tqdm progress bar: Jupyter's widget bar where ipywidgets is installed, else the plain text bar (also in a
    kernel: ``tqdm.auto`` without ipywidgets warns "IProgress not found" on every bar and falls back anyway)."""
    import importlib.util

    if in_ipykernel() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(*args, **kwargs)


def status_line(file):
    """A live status line on ``file``: a tqdm bar showing only its text (the plain class, so also in a Jupyter
    kernel, no widget needed). It follows the terminal's width; a terminal that reports a width of 0 would cut
    the text to nothing, so the line then assumes :data:`FALLBACK_COLUMNS`."""
    from tqdm import tqdm

    try:
        columns = os.get_terminal_size(file.fileno()).columns
    except (AttributeError, OSError, ValueError):  # not a terminal (a kernel's stream, a StringIO)
        columns = None
    if columns == 0:
        return tqdm(bar_format="{desc}", file=file, leave=False, ncols=FALLBACK_COLUMNS)
    return tqdm(bar_format="{desc}", file=file, leave=False, dynamic_ncols=True)
