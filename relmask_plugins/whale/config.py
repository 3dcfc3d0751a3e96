"""The parameters of the experiment ``whale`` (Paper B, Interspeech 2019: relevance-based feature masking with
decision-level fusion, on whale clips), declared once in :class:`WhaleExperiment`, and the checks that run on them
before anything loads or trains.

``relmask.get_experiment("whale")`` derives its parameter list from the dataclass's fields and ``relmask notebooks``
the notebook's ``parameters`` cell; the pipeline (:mod:`relmask_plugins.whale.pipeline`) applies the mask-target
rules declared here. Tested in tests/plugins/test_whale_experiment.py.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from relmask.errors import ParameterError, require
from relmask.pipeline.controls import CONTROLS, check_controls
from relmask.plugin_system.components import ExperimentConfig, shared_field
from relmask.scoring.evaluation import FUSION_RULES

from .domain import WhaleDomain

#: which class a training mask explains; ``true`` leaks the label into the data and must be asked for
TRAIN_TARGETS = ("predicted", "positive", "true")
EVAL_TARGETS = ("predicted", "positive")  # never the true label: the mask would leak the answer
EVAL_INPUTS = ("masked", "raw")


@dataclass
class WhaleExperiment(ExperimentConfig):
    """Every parameter of the experiment and its notebook, declared once (``relmask.get_experiment("whale")``
    derives its :class:`~relmask.plugin_system.components.Param` list from these fields; ``relmask notebooks``
    generates the
    notebook's ``parameters`` cell from them; the defaults are the ``quick`` preset). The fields every experiment
    shares are :func:`~relmask.plugin_system.components.shared_field` s: their help texts and checks are declared in
    core."""

    experiment_name: ClassVar[str] = "whale"

    source: str = field(default="synthetic", metadata={
        "help": "data source of the whale domain: synthetic, kaggle (clips + CSV), features (.npz of "
                "spectrograms) or images (<class>/*.png)", "choices": tuple(WhaleDomain.sources)})
    data_path: str | None = field(default=None, metadata={
        "help": "Kaggle folder, an .npz of spectrograms or a folder of <class>/*.png; None for synthetic"})
    n_clips: int | None = field(default=400, metadata={
        "help": "synthetic: number of clips; kaggle: the first N; features/images: a stratified subsample "
                "(None = all)", "low": 1})
    on_error: str = field(default="raise", metadata={
        "help": "kaggle/images: a bad file or label mismatch raises (naming the file) or is skipped",
        "choices": ("raise", "skip")})
    load_params: dict = field(default_factory=dict, metadata={
        "help": "extra parameters of the data source, e.g. {flip_frequency: true} for image-ordered rows "
                "(relmask list domains)"})
    relevance_methods: list[str] = shared_field("relevance_methods", ["gradcam"])
    relevance_params: dict[str, dict] = shared_field("relevance_params", {})
    maskers: list[str] = shared_field("maskers", ["negative"])
    masker_params: dict[str, dict] = shared_field("masker_params", {})
    model: str = shared_field("model", "whale_cnn")  # whale_cnn, whale_cnn_bn, whale_conv1d
    model_params: dict = shared_field("model_params", {})
    epochs: int = shared_field("epochs", 2)
    batch_size: int = shared_field("batch_size", 32)
    learning_rate: float = shared_field("learning_rate", 1e-3)
    balanced: bool = field(default=True, metadata={
        "help": "weight the classes inversely to their frequency in training (up-calls are the minority)"})
    seeds: list[int] = shared_field("seeds", [0, 1])  # one full run (split, CNN1, CNN2s) per seed
    n_folds: int = field(default=0, metadata={
        "help": "0: a seeded stratified split per seed; k >= 2: seed i runs fold i of one k-fold", "low": 0})
    val_fraction: float = field(default=0.1, metadata={
        "help": "share of the clips held out for validation during training", "low": 0, "high": 1,
        "high_open": True})
    test_fraction: float = field(default=0.2, metadata={
        "help": "share of the clips held out for testing (ignored with n_folds: one fold is the test part)",
        "low": 0, "high": 1, "low_open": True, "high_open": True})
    fusion_rules: list[str] = field(default_factory=lambda: list(FUSION_RULES), metadata={
        "help": "decision-level fusion of CNN1 with CNN2: mean, product, max"})
    train_mask_target: str = field(default="predicted", metadata={
        "help": "class the training masks explain: predicted (CNN1's), positive (the up-call), or true (leaks "
                "the label into the data)", "choices": TRAIN_TARGETS})
    eval_mask_target: str = field(default="predicted", metadata={
        # no declared choices: validate() names them and says why the true label is refused
        "help": "class the test masks explain: predicted or positive; never the true label (it would leak the "
                "answer)"})
    eval_inputs: str = field(default="masked", metadata={
        "help": "CNN2 is evaluated on masked (like its training data) or raw test spectrograms",
        "choices": EVAL_INPUTS})
    controls: list[str] = field(default_factory=lambda: list(CONTROLS), metadata={
        "help": "control maps per masker: shuffled, permuted, smooth (relmask.pipeline.controls)"})
    mask_only: bool = field(default=True, metadata={
        "help": "also train a CNN on the maps alone: do they carry the label?"})
    cache_dir: str | None = shared_field("cache_dir", None)  # None: the whale domain's cache folder
    output_dir: str = shared_field("output_dir", "runs/whale_feature_masking")  # also auc_table.md

    def check_first(self) -> None:
        require(self.eval_mask_target in EVAL_TARGETS,
                f"eval_mask_target must be one of {EVAL_TARGETS}, got {self.eval_mask_target!r}"
                + (" (masks of evaluation data must not use the true label: the mask would leak the answer)"
                   if self.eval_mask_target == "true" else ""))

    def check(self) -> None:
        """Checks across fields and against the registries, after the fields' own declarations (types, choices,
        ranges, the shared fields' rules: :meth:`~relmask.plugin_system.components.ExperimentConfig.validate`), before
        any
        training starts; ParameterError names the parameter."""
        from relmask import get_domain, get_masker, get_model
        from relmask.plugin_system.components import resolve_params
        from relmask.plugin_system.plugins import check_relevance_params

        from .domain import CLASS_NAMES

        domain = get_domain("whale")
        source = domain.source(self.source)
        resolve_params(source.params, self.load_params, f"load_params of whale source {self.source!r}")
        require(self.source != "synthetic" or self.data_path is None,
                f"data_path: source 'synthetic' generates its clips and takes no path, got {self.data_path!r}")
        try:  # the data path exists where the source needs one (nothing is read)
            domain.check(self.source, self.data_path, **self.load_params)
        except ParameterError as exc:
            raise ParameterError(f"data_path: {exc}") from None
        try:
            shape = domain.sample_shape(self.source, self.data_path, **self.load_params)
        except ParameterError as exc:
            raise ParameterError(f"load_params: {exc}") from None
        require(self.relevance_methods, "relevance_methods must name at least one method")
        for name, given, known in (("relevance_params", self.relevance_params, self.relevance_methods),
                                   ("masker_params", self.masker_params, self.maskers)):
            extra = sorted(set(given) - set(known))
            require(not extra, f"{name} has entries for {extra}, which are not in the run's list {known}")
        try:
            get_model(self.model).resolve_params(self.model_params)
        except ParameterError as exc:
            raise ParameterError(f"model_params: {exc}") from None

        def cnn1():  # the explained architecture, untrained: only for checks that need its layers (Grad-CAM's)
            return get_model(self.model).build(shape, len(CLASS_NAMES), **self.model_params)

        for m in self.relevance_methods:  # ranges, a window within the spectrogram, a layer CNN1 has
            check_relevance_params(m, self.relevance_params.get(m, {}), input_shape=shape,
                                   model=cnn1 if shape is not None else None, owner=f"relevance_params[{m!r}]")
        for m in self.maskers:
            get_masker(m).resolve_params(self.masker_params.get(m, {}))
        for r in self.fusion_rules:
            require(r in FUSION_RULES, f"fusion_rules: unknown rule {r!r}; known: {', '.join(FUSION_RULES)}")
        check_controls(self.controls)
        require(self.n_folds != 1, "n_folds must be 0 (no k-fold) or >= 2, got 1")
        require(self.val_fraction + self.test_fraction < 1,
                f"val_fraction + test_fraction must be < 1, got {self.val_fraction} + {self.test_fraction}")
        # with k folds the validation part is carved from the k - 1 training folds
        require(not self.n_folds or self.val_fraction < 1 - 1 / self.n_folds,
                f"val_fraction must be < 1 - 1/n_folds = {1 - 1 / max(self.n_folds, 1):.3g} with n_folds "
                f"{self.n_folds}, got {self.val_fraction}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
