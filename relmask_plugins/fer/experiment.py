"""The registered experiment ``fer`` (Paper A, Frontiers 2020: relevance-based data masking as model-agnostic
transfer on faces): ties the parameters (:class:`~relmask_plugins.fer.config.FerExperiment`), the notebook
``notebooks/fer_data_masking.ipynb`` (which calls :mod:`relmask_plugins.fer.pipeline`), the presets in ``presets/``,
the reproduce config ``fer-sizes`` and the ``paper/`` figures and tables (:mod:`relmask_plugins.fer.report`)
together."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from relmask.plugin_system.components import Experiment, presets_in

from .config import FerExperiment

HERE = Path(__file__).resolve().parent


class FerDataMasking(Experiment):
    """``relmask run fer`` / ``experiment: fer`` in a reproduce config: Paper A's pipeline
    (:mod:`relmask_plugins.fer.pipeline`), its notebook and presets, and its figures and tables in ``paper/``."""

    name = "fer"
    description = ("Paper A (Frontiers 2020): relevance-based data masking as model-agnostic transfer on faces: "
                   "students on trainer-masked vs raw data, scored with and without the trainer, with map, "
                   "mask-only and fine-tuning controls")
    config = FerExperiment
    notebook = HERE / "notebooks" / "fer_data_masking.ipynb"
    presets = presets_in(HERE / "presets")
    reproduce_configs: ClassVar[dict[str, Path]] = {"fer-sizes": HERE / "configs" / "fer-sizes.yaml"}

    def paper_outputs(self, runs, paper) -> None:
        from .report import paper_outputs  # plotting and the pipeline load when paper/ is drawn

        paper_outputs(runs, paper)
