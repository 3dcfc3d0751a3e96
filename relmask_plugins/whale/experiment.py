"""The registered experiment ``whale`` (Paper B, Interspeech 2019: relevance-based feature masking with
decision-level fusion, on whale clips): ties the parameters (:class:`~relmask_plugins.whale.config.WhaleExperiment`),
the notebook ``notebooks/whale_feature_masking.ipynb`` (which calls :mod:`relmask_plugins.whale.pipeline`, then
:mod:`relmask_plugins.whale.report` for its figures), the presets in ``presets/`` and the ``paper/`` figures and
tables (also :mod:`relmask_plugins.whale.report`) together."""
from __future__ import annotations

from pathlib import Path

from relmask.plugin_system.components import Experiment, presets_in

from .config import WhaleExperiment

HERE = Path(__file__).resolve().parent


class WhaleFeatureMasking(Experiment):
    """``relmask run whale`` / ``experiment: whale`` in a reproduce config: Paper B's pipeline
    (:mod:`relmask_plugins.whale.pipeline`), its notebook and presets, and its figures and tables in ``paper/``."""

    name = "whale"
    description = ("Paper B (Interspeech 2019): relevance-based feature masking of whale spectrograms, CNN1 + "
                   "CNN2 decision-level fusion, ROC AUC with the raw-ensemble, map and mask-only controls")
    config = WhaleExperiment
    notebook = HERE / "notebooks" / "whale_feature_masking.ipynb"
    presets = presets_in(HERE / "presets")

    def paper_outputs(self, runs, paper) -> None:
        from .report import paper_outputs  # plotting and the pipeline load when paper/ is drawn

        paper_outputs(runs, paper)
