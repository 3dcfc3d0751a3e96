"""One figure style for notebooks and paper/, and the one way figures are saved (PNG + PDF, atomically)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relmask.io import atomic_write

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn
    from matplotlib.typing import RcKeyType

STYLE: dict[RcKeyType, Any] = {
    "figure.dpi": 110, "savefig.dpi": 200, "savefig.bbox": "tight", "font.size": 9, "axes.titlesize": 9,
    "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "lines.linewidth": 1.4, "image.cmap": "viridis", "pdf.fonttype": 42,
}
#: colour-blind safe palette (Okabe-Ito)
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
RELEVANCE_CMAP = "magma"


def apply_style() -> None:
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(STYLE)
    mpl.rcParams["axes.prop_cycle"] = cycler(color=PALETTE)


#: what matplotlib would stamp into a file and that changes from save to save although the figure did not
_VOLATILE_METADATA = {"pdf": {"CreationDate": None}, "svg": {"Date": None}, "ps": {"CreationDate": None}}


def save_figure(fig, stem: str | Path, formats=("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf``; returns the paths.

    The bytes depend on the figure only: PDFs carry no creation date (unless ``SOURCE_DATE_EPOCH`` is set,
    which matplotlib then writes, as reproducible builds expect), and a file whose bytes would not change is
    left untouched, so re-running an unchanged reproduction leaves ``git status`` clean and mtimes as they were.
    """
    import os

    stem = Path(stem)
    out = []
    for fmt in formats:
        buf = io.BytesIO()
        metadata = None if os.environ.get("SOURCE_DATE_EPOCH") else _VOLATILE_METADATA.get(fmt)
        fig.savefig(buf, format=fmt, metadata=metadata)
        path, data = stem.with_suffix(f".{fmt}"), buf.getvalue()
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            out.append(path)
        else:
            out.append(atomic_write(path, data))
    return out
