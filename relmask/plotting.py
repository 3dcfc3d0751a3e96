"""One figure style for notebooks and paper/, and the one way figures are saved (PNG + PDF, atomically)."""
from __future__ import annotations

import io
from pathlib import Path

from .io import atomic_write

STYLE = {
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


def save_figure(fig, stem: str | Path, formats=("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf``; returns the paths."""
    stem = Path(stem)
    out = []
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt)
        out.append(atomic_write(stem.with_suffix(f".{fmt}"), buf.getvalue()))
    return out
