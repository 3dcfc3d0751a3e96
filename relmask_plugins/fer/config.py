"""The parameters of the experiment ``fer`` (Paper A, Frontiers 2020: relevance-based data masking on faces),
declared once in :class:`FerExperiment`, and the checks that run on them before anything loads or trains.

``relmask.get_experiment("fer")`` derives its parameter list from the dataclass's fields and ``relmask notebooks``
the notebook's ``parameters`` cell; the pipeline (:mod:`relmask_plugins.fer.pipeline`) applies the same mask-target
rules and masker-parameter checks when it runs. Tested in tests/plugins/test_fer_experiment.py.
"""
from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from relmask.errors import ParameterError, require
from relmask.pipeline.controls import CONTROLS, check_controls
from relmask.plugin_system.components import ExperimentConfig, shared_field

from .domain import FerDomain
from .models import FER_PACKAGE
from .synthetic import STYLES

#: which class a training mask explains; ``true`` leaks the label into the data and must be asked for
TRAIN_MASK_TARGETS = ("predicted", "all_classes", "true")
#: validation masks must not see the true label: the trainer's prediction, or a label-free map
EVAL_MASK_TARGETS = ("predicted", "all_classes")
#: values of ``trainer`` besides a Keras model file
TRAINER_KINDS = ("train", FER_PACKAGE, "none")
#: the arguments :func:`~relmask_plugins.fer.pipeline.load_splits` gives the synthetic source itself (not
#: settable through ``load_params``)
SPLIT_SET = {"n": "n_source / n_target", "seed": "seed", "style": "source_style / target_style"}


@dataclass
class FerExperiment(ExperimentConfig):
    """Every parameter of the experiment and its notebook, declared once (``relmask.get_experiment("fer")``
    derives its :class:`~relmask.plugin_system.components.Param` list from these fields; ``relmask notebooks``
    generates the
    notebook's ``parameters`` cell from them; the defaults are the ``quick`` preset). The fields every experiment
    shares are :func:`~relmask.plugin_system.components.shared_field` s: their help texts and checks are declared in
    core."""

    experiment_name: ClassVar[str] = "fer"

    source: str = field(default="synthetic", metadata={
        "help": "data: synthetic, fer2013 (Kaggle csv or image folders), folder or features (.npz)",
        "choices": tuple(FerDomain.sources)})
    data_path: str | None = field(default=None, metadata={
        "help": "fer2013.csv, the FER2013 image folders, a class-per-folder set or an .npz"})
    source_style: str = field(default="photo", metadata={
        "help": "synthetic only: drawing style of the trainer's source faces", "choices": STYLES})
    target_style: str = field(default="cartoon", metadata={
        "help": "synthetic only: drawing style of the students' target faces", "choices": STYLES})
    n_source: int = field(default=1000, metadata={
        "help": "source (trainer) faces; real data: 0 for the whole source half", "low": 0})
    n_target: int = field(default=1200, metadata={
        "help": "target faces, split 60/20/20 into train/val/test; real data: 0 for the whole target half",
        "low": 0})
    n_train: int = field(default=0, metadata={
        "help": "students' training faces, nested subsample of the target train split (0: all; val/test stay whole)",
        "low": 0})
    seed: int = field(default=0, metadata={
        "help": "seed of the data, the splits and the random-relevance control", "low": 0})
    trainer: str = field(default="train", metadata={
        "help": "train (on the source set), a Keras model file, fer-package, or none (external maps only)"})
    trainer_model: str = field(default="fer_small_cnn", metadata={
        "help": "architecture of a trained trainer (relmask list models)"})
    trainer_epochs: int = field(default=5, metadata={
        "help": "epochs of trainer training on the source set", "low": 1})
    trainer_holdout: float = field(default=0.15, metadata={
        "help": "share of the source set held out to keep the trainer's best epoch (0: last)", "low": 0,
        "high": 1, "high_open": True})
    relevance_method: str = shared_field("relevance_method", "gradcam")  # or external: maps from files
    relevance_params: dict = shared_field("relevance_params (one method)", {})  # external: {"source": "maps.npz"}
    train_mask_target: str = field(default="predicted", metadata={
        "help": "training masks explain: predicted, all_classes, or true (leaks the label)",
        "choices": TRAIN_MASK_TARGETS})
    eval_mask_target: str = field(default="predicted", metadata={
        "help": "evaluation masks: predicted or all_classes (never the label: it would leak)",
        "choices": EVAL_MASK_TARGETS})
    load_params: dict = field(default_factory=dict, metadata={
        "help": 'extra data-source parameters, e.g. {"on_error": "skip"} or {"difficulty": 1.5}'})
    maskers: list[str] = shared_field("maskers", ["keep"])
    masker_params: dict[str, dict] = shared_field("masker_params", {"keep": {"fraction": 0.5, "fill": "blur"}})
    controls: list[str] = field(default_factory=lambda: list(CONTROLS), metadata={
        "help": "control maps per masker (relmask.pipeline.controls)"})
    mask_only: bool = field(default=True, metadata={
        "help": "also train a student on the maps alone: do they carry the label?"})
    student: str = field(default="fer_small_cnn", metadata={
        "help": "student architecture, e.g. fer_small_cnn, fer_deep_cnn, fer_mobilenetv2"})
    student_params: dict = field(default_factory=dict, metadata={
        "help": "parameters of the student architecture"})
    epochs: int = shared_field("epochs", 3)  # of every student
    batch_size: int = shared_field("batch_size", 32)  # of students, trainer and fine-tuning
    learning_rate: float = shared_field("learning_rate", 1e-3)  # of students, trainer and fine-tuning
    seeds: list[int] = shared_field("seeds", [0, 1, 2])  # student seeds; the data's is `seed`
    reach_level: float = field(default=0.3, metadata={
        "help": 'validation accuracy for "epochs to reach"', "low": 0, "high": 1, "low_open": True,
        "high_open": True})
    k: int = field(default=2, metadata={
        "help": "report the validation accuracy after k epochs (1..epochs)", "low": 1})
    finetune_baseline: bool = field(default=True, metadata={
        "help": "also fine-tune a copy of the trainer on the raw target data"})
    output_dir: str = shared_field("output_dir", "runs/fer_data_masking")
    cache_dir: str | None = shared_field("cache_dir", None)  # None: no cache

    def check_first(self) -> None:
        if self.eval_mask_target == "true":  # the declared choices refuse it too, without saying why
            check_mask_targets(TRAIN_MASK_TARGETS[0], self.eval_mask_target)

    def check(self) -> None:
        """Checks across fields and against the registries (data sources, models, relevance methods, maskers),
        after the fields' own declarations (types, choices, ranges, the shared fields' rules:
        :meth:`~relmask.plugin_system.components.ExperimentConfig.validate`), before anything trains; ParameterError
        names the
        parameter."""
        from relmask import get_domain, get_model
        from relmask.plugin_system.components import resolve_params
        from relmask.plugin_system.plugins import check_relevance_params
        from relmask.relevance import explain

        from .synthetic import CLASS_NAMES

        domain = get_domain("fer")
        source = domain.source(self.source)
        given = dict(self.load_params)
        if self.source == "synthetic":
            for name, where in SPLIT_SET.items():
                require(name not in given, f"load_params: {name!r} is set by {where}, not through load_params")
            require(self.n_source >= 1 and self.n_target >= 1,
                    f"synthetic faces: n_source and n_target must be >= 1, got {self.n_source}, {self.n_target}")
            given.update(n=self.n_source, seed=self.seed, style=self.source_style)
        resolve_params(source.params, given, f"load_params of fer source {self.source!r}")
        try:  # the data path exists where the source needs one (nothing is read)
            shape = domain.sample_shape(self.source, self.data_path, **given)
        except ParameterError as exc:
            raise ParameterError(f"data_path: {exc}") from None
        require(self.trainer in TRAINER_KINDS or Path(self.trainer).is_file(),
                f"trainer must be one of {', '.join(TRAINER_KINDS)} or a Keras model file; {self.trainer!r} is "
                "neither (no such file)")
        if self.trainer == "train":
            get_model(self.trainer_model)
        require(self.trainer != "none" or self.relevance_method == "external",
                f"trainer 'none' works only with relevance_method 'external' (maps from files); "
                f"{self.relevance_method!r} explains a trainer model")
        # explain()'s own options (batch_size, precision ...) may ride along; the rest are the method's parameters
        own = set(inspect.signature(explain).parameters) - {"model", "x", "method", "targets", "params"}

        def trainer():  # the explained architecture, untrained: only for checks that need its layers (Grad-CAM's)
            return get_model(self.trainer_model).build(shape, len(CLASS_NAMES))

        check_relevance_params(self.relevance_method, {k: v for k, v in self.relevance_params.items()
                                                       if k not in own}, input_shape=shape,
                               model=trainer if self.trainer == "train" and shape is not None else None,
                               owner="relevance_params")
        require(self.relevance_method != "external" or self.relevance_params.get("source"),
                "relevance_method 'external' needs relevance_params={source: PATH} (a .npz or a folder of maps)")
        per_masker_params(self.maskers, self.masker_params)
        check_controls(self.controls)
        get_model(self.student).resolve_params(self.student_params)
        check_schedule(self.epochs, self.k, self.reach_level, self.seeds)


def check_mask_targets(train_mask_target: str, eval_mask_target: str) -> None:
    if train_mask_target not in TRAIN_MASK_TARGETS:
        raise ParameterError(f"train_mask_target must be one of {TRAIN_MASK_TARGETS}, got {train_mask_target!r}")
    if eval_mask_target not in EVAL_MASK_TARGETS:
        raise ParameterError(f"eval_mask_target must be one of {EVAL_MASK_TARGETS} (masks of evaluation data "
                             f"must not use the true label), got {eval_mask_target!r}")


def per_masker_params(maskers: Sequence[str], masker_params: dict | None) -> dict[str, dict]:
    """``masker_params`` is ``{masker name: {param: value}}``; names not in ``maskers`` are an error, and every
    masker's parameters are resolved (names, types, ranges) before any model trains."""
    from relmask import get_masker

    masker_params = dict(masker_params or {})
    unknown = [k for k in masker_params if k not in maskers]
    if unknown:
        raise ParameterError(f"masker_params names {unknown[0]!r}, which is not in maskers {list(maskers)}; "
                             f"give parameters per masker, e.g. {{'keep': {{'fraction': 0.4}}}}")
    for name, p in masker_params.items():
        if not isinstance(p, dict):
            raise ParameterError(f"masker_params[{name!r}] must be a dict of parameters, got {p!r}")
    for m in maskers:
        get_masker(m).resolve_params(masker_params.get(m, {}))
    return {m: masker_params.get(m, {}) for m in maskers}


def check_schedule(epochs: int, k: int, reach_level: float, seeds: Sequence[int]) -> None:
    """Reject settings that make the summary meaningless before any model trains."""
    if epochs < 1:
        raise ParameterError(f"epochs must be >= 1, got {epochs}")
    if not 1 <= k <= epochs:
        raise ParameterError(f"k (accuracy after k epochs) must lie in 1..epochs={epochs}, got {k}")
    if not 0.0 < reach_level < 1.0:
        raise ParameterError(f"reach_level must lie in (0, 1), got {reach_level}")
    if len(seeds) < 3:
        warnings.warn(f"{len(seeds)} seed(s): the protocol asks for >= 3 per variant", stacklevel=2)
