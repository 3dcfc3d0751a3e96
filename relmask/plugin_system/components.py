"""The kinds of object a plugin registers, and how they declare their parameters.

Every registered object is a :class:`Component`: it has a ``name``, a ``description``, the Keras
``backends`` it supports and a tuple of :class:`Param`. ``resolve_params`` is the one place where user
parameters are checked (unknown names, wrong types, bad choices, out-of-range numbers), so every method, masker,
domain and model rejects bad input with the same kind of message.
"""
from __future__ import annotations

import builtins
import copy
import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from relmask.errors import ParameterError, UnknownNameError

_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool", list: "list", dict: "dict",
               tuple: "tuple", type(None): "None"}


@dataclass(frozen=True)
class Param:
    """A declared parameter: name, accepted type(s), default, help text, optional choices and range.

    ``low``/``high`` bound a number (inclusive unless ``low_open``/``high_open``); ``finite`` rejects NaN and
    ±inf (implied by any bound: NaN compares false with everything, so it would slip through a plain ``<``).
    ``items`` is the type (or types) of every element of a list or tuple value, or of every value of a dict
    (``list[int]`` declares ``items=int``); a range then applies to each of those numbers as well, so
    ``seeds: list[int]`` with ``low=0`` refuses ``["a"]`` and ``[-1]``. Ranges are checked by
    :func:`resolve_params`, i.e. before any work starts.
    """

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    help: str = ""
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    finite: bool = False
    items: builtins.type | tuple[builtins.type, ...] | None = None
    #: a further rule on the whole value (``seeds`` distinct, ``maskers`` not empty): ``rule(value)`` returns what is
    #: wrong with it as a phrase after the name ("seeds must be distinct") or None; checked last, by :meth:`check`
    rule: Callable[[Any], str | None] | None = field(default=None, compare=False, repr=False)

    @property
    def types(self) -> tuple[builtins.type, ...]:
        return self.type if isinstance(self.type, tuple) else (self.type,)

    @property
    def item_types(self) -> tuple[builtins.type, ...]:
        if self.items is None:
            return ()
        return self.items if isinstance(self.items, tuple) else (self.items,)

    @property
    def type_name(self) -> str:
        items = " | ".join(_type_name(t) for t in self.item_types)
        return " | ".join(_type_name(t) + (f"[{items}]" if items and t in (list, tuple, dict) else "")
                          for t in self.types)

    def check(self, value: Any, owner: str) -> Any:
        """Return ``value`` (ints widened to float where float is declared) or raise ParameterError."""
        types = self.types
        if value is None and (self.default is None or type(None) in types):
            return value
        if isinstance(value, bool) and bool not in types:
            ok = False  # bool is an int subclass; True is never a valid window size
        elif float in types and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        elif tuple in types and isinstance(value, list):
            value, ok = tuple(value), True
        else:
            ok = isinstance(value, types)
        if not ok:
            raise ParameterError(f"{owner}: parameter {self.name!r} must be {self.type_name}, "
                                 f"got {type(value).__name__} {value!r}")
        for where, item in self._elements(value):
            if not _is_instance(item, self.item_types):
                raise ParameterError(f"{owner}: parameter {self.name!r} must be {self.type_name}, got "
                                     f"{value!r} ({where} is {type(item).__name__} {item!r})")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"{owner}: parameter {self.name!r} must be one of "
                                 f"{', '.join(map(repr, self.choices))}; got {value!r}")
        self._check_range(value, owner)
        problem = self.rule(value) if self.rule is not None else None
        if problem:
            raise ParameterError(f"{owner}: {self.name} {problem}, got {value!r}")
        return value

    @property
    def range_text(self) -> str | None:
        """The declared range as text (``[0, 1]``, ``>= 0``, ``finite``), None without one."""
        lo = None if self.low is None else ("(" if self.low_open else "[") + f"{self.low:g}"
        hi = None if self.high is None else f"{self.high:g}" + (")" if self.high_open else "]")
        if lo and hi:
            return f"{lo}, {hi}"
        if lo:
            return ("> " if self.low_open else ">= ") + f"{self.low:g}"
        if hi:
            return ("< " if self.high_open else "<= ") + f"{self.high:g}"
        return "finite" if self.finite else None

    def _elements(self, value: Any) -> list[tuple[str, Any]]:
        """(``item 0`` / ``value of 'key'``, element) of a list, tuple or dict value with declared ``items``."""
        if not self.item_types:
            return []
        if isinstance(value, dict):
            return [(f"the value of {k!r}", v) for k, v in value.items()]
        if isinstance(value, (list, tuple)):
            return [(f"item {i}", v) for i, v in enumerate(value)]
        return []

    def _check_range(self, value: Any, owner: str) -> None:
        text = self.range_text
        if text is None:
            return
        if isinstance(value, (list, tuple, dict)):  # the range of each number in it (e.g. a window per axis)
            items = value.values() if isinstance(value, dict) else value
            for item in items:
                if _is_number(item) and _out_of_range(self, item):
                    raise ParameterError(f"{owner}: parameter {self.name!r} = {value!r} is out of range: each "
                                         f"number of {self.name} must be {text} (got {item!r})")
            return
        if not _is_number(value):
            return  # None (where allowed) and non-numbers have no range
        if _out_of_range(self, value):
            verb = "lie in" if self.low is not None and self.high is not None else "be"
            raise ParameterError(f"{owner}: parameter {self.name!r} = {value!r} is out of range: {self.name} "
                                 f"must {verb} {text}")

    def to_dict(self) -> dict:
        d = {"name": self.name, "type": self.type_name, "default": self.default, "help": self.help}
        if self.choices is not None:
            d["choices"] = list(self.choices)
        if self.range_text is not None:
            d["range"] = self.range_text
        return d


def _type_name(t) -> str:
    return _TYPE_NAMES.get(t, getattr(t, "__name__", str(t)))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_instance(value: Any, types: tuple[type, ...]) -> bool:
    """``isinstance`` as :meth:`Param.check` means it: bool is no int, an int is a float, a list is a tuple."""
    if object in types:
        return True
    if isinstance(value, bool) and bool not in types:
        return False
    if float in types and _is_number(value):
        return True
    if tuple in types and isinstance(value, list):
        return True
    return isinstance(value, types)


def _out_of_range(p: Param, value: float) -> bool:
    bad = not math.isfinite(value)  # any declared range implies a finite number
    if p.low is not None:
        bad = bad or value < p.low or (p.low_open and value == p.low)
    if p.high is not None:
        bad = bad or value > p.high or (p.high_open and value == p.high)
    return bad


def refuse_unknown(params: tuple[Param, ...], given: dict[str, Any], owner: str) -> None:
    """ParameterError (with a did-you-mean) for the first name in ``given`` that ``params`` does not declare."""
    known = [p.name for p in params]
    unknown = [k for k in given if k not in known]
    if unknown:
        k = unknown[0]
        hint = difflib.get_close_matches(k, known, n=1)
        raise ParameterError(f"{owner}: unknown parameter {k!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else "")
                             + f"; accepted: {', '.join(known) or '(none)'}")


def resolve_params(params: tuple[Param, ...], given: dict[str, Any], owner: str) -> dict[str, Any]:
    """Defaults filled in, unknown names rejected (with a did-you-mean), every value type-checked."""
    refuse_unknown(params, given, owner)
    return {p.name: p.check(given.get(p.name, p.default), owner) for p in params}


class Component:
    """Base of everything a plugin registers."""

    kind: ClassVar[str] = "component"
    name: str = ""
    description: str = ""
    params: tuple[Param, ...] = ()
    backends: tuple[str, ...] = ("tensorflow", "jax")

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        return resolve_params(self.params, given, f"{self.kind} {self.name!r}")

    def metadata(self) -> dict:
        return {"name": self.name, "kind": self.kind, "description": self.description,
                "backends": list(self.backends), "params": [p.to_dict() for p in self.params]}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class RelevanceMethod(Component):
    """Computes a relevance map of ``x``'s shape for a Keras model. Implemented by the relevance engine.

    Subclasses implement :meth:`attribute`; :func:`relmask.explain` resolves targets and parameters,
    batches the input and calls it.
    """

    kind = "relevance method"
    #: True where the input relevance sums to the explained logit (checked by relmask.testing)
    conserves: bool = False
    #: True where the map depends on the model (False for e.g. external or random maps)
    needs_model: bool = True
    #: True where the method accepts target -1 ("the predicted class") and resolves it itself (inside its compiled
    #: graph); otherwise explain() computes the model's prediction first and passes real class indices
    resolves_predicted: bool = False
    #: True where a sample's map does not depend on the other samples of its batch, so explain() may cut the
    #: input into batches of any size (False e.g. for maps keyed by the position of a sample in its batch)
    batch_invariant: bool = True

    def attribute(self, model, x, targets, **params):  # pragma: no cover - interface
        raise NotImplementedError

    def check_params(self, params: dict[str, Any], input_shape: tuple | None = None, model=None) -> None:
        """Checks of resolved ``params`` that need the sample shape or the explained model (a window that must fit
        the input, a layer the model must have); raise ParameterError naming the parameter. :func:`relmask.explain`
        calls it before any work with both; :func:`relmask.plugin_system.plugins.check_relevance_params` (an
        experiment's ``validate()``) with what is known before data are loaded or a model trained: ``input_shape``
        may be None, and ``model`` None or a callable that builds the (untrained) architecture, to be called only
        where a check needs it."""


class Masker(Component):
    """Turns inputs ``x`` and relevance maps ``R`` of the same shape into masked inputs ``x'``.

    ``apply(x, relevance, rng, **params)`` gets the seeded ``numpy.random.Generator`` of :func:`relmask.mask`:
    maskers that draw (ties, degenerate maps, random fills) draw from it, so a seed fixes the result; maskers
    that draw nothing ignore it.
    """

    kind = "masker"
    #: where the maps go: ``"data"`` (``apply`` returns masked inputs) or ``"loss"`` (``apply`` returns
    #: annotations of ``x``'s shape, 1 where a student's input gradient is penalised and 0 where it is free; the
    #: student trains on the raw inputs with that penalty, weighted by the masker's ``weight`` parameter:
    #: ``relmask.pipeline.training.Member.input_penalty``)
    encodes: ClassVar[str] = "data"

    def apply(self, x, relevance, rng, **params):  # pragma: no cover - interface
        raise NotImplementedError


#: what a metric can need: the trained model, relevance maps (arrays, or a method name explained on the data),
#: a relevance *method* it recomputes itself (maps alone cannot do), and retraining fresh models
METRIC_NEEDS = ("model", "maps", "method", "retraining")


class Metric(Component):
    """Scores how faithful relevance maps are to a model (built-ins: :mod:`relmask_plugins.metrics`).

    Subclasses implement :meth:`compute`; :func:`relmask.evaluate` checks the inputs against ``needs`` and the
    parameters, and calls it with float32 ``x``, int ``y`` and either maps of ``x``'s shape or (where
    ``"method"`` is in ``needs``) a relevance method. It returns raw numbers only: a dict of floats, ints,
    strings and NumPy arrays (curves), never figures.
    """

    kind = "metric"
    needs: tuple[str, ...] = ("model", "maps")
    #: further data sets whose maps the metric needs, as (inputs param, labels param, maps param) names: where
    #: `relevance` is a method name and the maps param is None, evaluate() explains the inputs the same way
    extra_maps: tuple[tuple[str, str, str], ...] = ()

    def compute(self, model, x, y, relevance, **params) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def metadata(self) -> dict:
        return dict(super().metadata(), needs=list(self.needs))


@dataclass
class Source:
    """One way a domain can load data (e.g. ``synthetic``, ``kaggle``), with its own parameters."""

    name: str
    description: str
    loader: Callable[..., Any]
    params: tuple[Param, ...] = ()
    needs_path: bool = False
    #: where to get the data and where to put it, shown when a path is missing
    obtain: str = ""
    #: ``(path, **resolved params) -> sample shape`` without reading the data (None: known only once loaded); lets
    #: an experiment check shape-dependent parameters (an occlusion window) before anything runs
    sample_shape: Callable[..., tuple] | None = None


@dataclass(frozen=True)
class DomainDefaults:
    """What an experiment that runs on any domain (the built-in ``faithfulness``) needs from a domain, so it names
    none: the source it loads and the source parameter that sets the number of samples (``n_clips``, ``n``), a
    small default for that number, the architecture it trains, the masker (and its parameters) it masks with,
    the score of a model trained on masked data, and the number of classes (to build an untrained model for
    checks before any data is loaded).

    ``score`` is one of :data:`MASKING_SCORES`: ``accuracy`` (of the masked model on masked test data),
    ``fusion_auc`` (two classes: ROC AUC of the masked model's probabilities averaged with the explained
    model's) or ``aulc_gain`` (area under the masked model's validation learning curve minus that of a model
    trained on raw data).

    ``relevance_params`` (``{method: {param: value}}``) tunes relevance methods to the domain's inputs, e.g. the
    occlusion window to the image size (``{"occlusion": {"window": 2}}`` for 8×8 digits): the experiment uses them
    where its own ``relevance_params`` leaves a parameter unset (its values win, parameter by parameter); a method
    not named here keeps its own defaults. ``synthetic`` says whether the source's data are generated (the default:
    a domain must say that its data are real), so that the experiment's figures and tables say so or not."""

    source: str
    size_param: str
    n_samples: int
    model: str
    masker: str
    score: str
    n_classes: int
    masker_params: dict = field(default_factory=dict)
    relevance_params: dict = field(default_factory=dict)
    synthetic: bool = True

    def __post_init__(self):
        if self.score not in MASKING_SCORES:
            raise ParameterError(f"DomainDefaults: score must be one of {', '.join(MASKING_SCORES)}, "
                                 f"got {self.score!r}")
        if not (isinstance(self.relevance_params, dict)
                and all(isinstance(m, str) and isinstance(p, dict) for m, p in self.relevance_params.items())):
            raise ParameterError("DomainDefaults: relevance_params must be {method: {param: value}}, got "
                                 f"{self.relevance_params!r}")
        if not isinstance(self.synthetic, bool):
            raise ParameterError(f"DomainDefaults: synthetic must be true or false, got {self.synthetic!r}")


#: how a model trained on masked data is scored (:class:`DomainDefaults`)
MASKING_SCORES = ("accuracy", "fusion_auc", "aulc_gain")


class Domain(Component):
    """A data domain (whale audio, faces). ``load(source, path=None, **params)`` returns a Dataset.

    ``defaults`` (a :class:`DomainDefaults`, None where not declared) is what an experiment that runs on any
    domain needs to run on this one."""

    kind = "domain"
    sources: ClassVar[dict[str, Source]] = {}
    defaults: DomainDefaults | None = None

    def source(self, name: str) -> Source:
        if name not in self.sources:
            raise UnknownNameError(f"source of domain {self.name!r}", name, list(self.sources))
        return self.sources[name]

    def check(self, source: str, path=None, *, must_exist: bool = True, **params) -> dict[str, Any]:
        """What :meth:`load` needs, checked without reading any data: the source exists, a path is given where the
        source needs one (and, with ``must_exist``, exists), and the parameters (names, types, ranges). Returns
        the resolved parameters; ParameterError otherwise. An experiment's ``validate()`` calls it."""
        src = self.source(source)
        owner = f"domain {self.name!r} source {source!r}"
        if src.needs_path and path is None:
            raise ParameterError(f"{owner} needs a path to the data. {src.obtain}".strip())
        if src.needs_path and must_exist and not Path(path).exists():
            raise ParameterError(f"{owner}: the data path {path} does not exist. {src.obtain}".strip())
        return resolve_params(src.params, params, owner)

    def load(self, source: str, path=None, **params):
        resolved = self.check(source, path, must_exist=False, **params)  # a missing file: the loader names it
        return self.source(source).loader(path, **resolved)

    def sample_shape(self, source: str, path=None, **params) -> tuple | None:
        """The shape of one sample that ``load(source, path, **params)`` would give, where the source can tell
        without reading the data (:attr:`Source.sample_shape`); None otherwise. Checks like :meth:`check`."""
        resolved = self.check(source, path, **params)
        shape_of = self.source(source).sample_shape
        return None if shape_of is None else tuple(int(n) for n in shape_of(path, **resolved))

    def metadata(self) -> dict:
        meta = super().metadata()
        meta["sources"] = {n: {"description": s.description, "needs_path": s.needs_path,
                               "params": [p.to_dict() for p in s.params]} for n, s in self.sources.items()}
        meta["defaults"] = None if self.defaults is None else dataclasses.asdict(self.defaults)
        return meta


@dataclass
class ModelSpec(Component):
    """A named Keras architecture: ``build(input_shape, n_classes, **params)`` returns a fresh model."""

    name: str = ""
    builder: Callable[..., Any] | None = field(default=None, repr=False)  # required: a default only for the order
    description: str = ""
    params: tuple[Param, ...] = ()
    backends: tuple[str, ...] = ("tensorflow", "jax")
    kind: ClassVar[str] = "model"

    def build(self, input_shape, n_classes: int, **params):
        resolved = self.resolve_params(params)
        if self.builder is None:
            raise TypeError(f"model {self.name!r} was registered without a builder")
        return self.builder(tuple(input_shape), int(n_classes), **resolved)


# -- experiments -------------------------------------------------------------------------------------------
def _param_types(annotation) -> tuple[type, ...]:
    """``int``, ``list[str]``, ``str | None`` ... -> the runtime types Param.check accepts."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(t for a in typing.get_args(annotation) for t in _param_types(a))
    if annotation is None or annotation is type(None):
        return (type(None),)
    if annotation is Any:
        return (object,)
    return (origin or annotation,)


def _item_types(annotation) -> tuple[type, ...] | None:
    """The element types of ``list[int]``/``tuple[int, ...]`` or the value types of ``dict[str, dict]`` in an
    annotation (None: not declared)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        found = [t for a in typing.get_args(annotation) for t in (_item_types(a) or ())]
        return tuple(dict.fromkeys(found)) or None
    args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
    if origin in (list, tuple, set) and args:
        return tuple(dict.fromkeys(t for a in args for t in _param_types(a)))
    if origin is dict and len(args) == 2:
        return _param_types(args[1])
    return None


def config_params(config_class: type) -> tuple[Param, ...]:
    """The :class:`Param` of every field of a dataclass, so an experiment declares its parameters once.

    A field's type comes from its annotation, its default from the dataclass, and ``help``, ``choices`` and the
    range (``low``, ``high``, ``low_open``, ``high_open``, ``finite``) from ``field(metadata={...})``.
    """
    hints = typing.get_type_hints(config_class)
    out = []
    for f in dataclasses.fields(config_class):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        extra = {k: v for k, v in f.metadata.items()
                 if k in ("help", "choices", "low", "high", "low_open", "high_open", "finite", "rule")}
        if "choices" in extra:
            extra["choices"] = tuple(extra["choices"])
        shared_key = f.metadata.get("shared")
        shared = SHARED_FIELDS.get(shared_key) if shared_key is not None else None
        if shared is not None and (f.name != shared.name or _param_types(hints[f.name]) != _param_types(
                shared.type) or _item_types(hints[f.name]) != _item_types(shared.type)):
            raise TypeError(f"{config_class.__name__}.{f.name}: the shared field {f.metadata['shared']!r} is "
                            f"declared as {shared.name}: {_annotation_name(shared.type)} "
                            "(relmask.plugin_system.components.SHARED_FIELDS); annotate it so")
        out.append(Param(f.name, _param_types(hints[f.name]), default, items=_item_types(hints[f.name]), **extra))
    return tuple(out)


def check_declared(config, owner: str) -> None:
    """Apply a config dataclass's field declarations (types, choices, ranges, rules) to its current values, so a
    config built in Python is held to the same rules as notebook parameters. Values are stored back as checked
    (an int where a float is declared becomes a float). :meth:`ExperimentConfig.validate` calls it."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    for name, value in resolve_params(config_params(type(config)), values, owner).items():
        if value is not values[name]:
            setattr(config, name, value)


# -- the fields every experiment shares ------------------------------------------------------------------
#: the default of a :class:`SharedField` that has none every experiment shares
NO_DEFAULT = type("NoDefault", (), {"__repr__": lambda self: "NO_DEFAULT"})()


@dataclass(frozen=True)
class SharedField:
    """A parameter many experiments have, declared once: its field name, annotation, help text, default (where
    there is one everyone shares) and checks (range, ``rule``). :func:`shared_field` makes a dataclass field of it."""

    name: str
    type: Any
    help: str
    default: Any = None  # NO_DEFAULT: every experiment gives its own
    checks: dict = field(default_factory=dict)


def _not_empty(what: str):
    return lambda value: None if value else f"must name at least one {what}"


def _distinct_seeds(value) -> str | None:
    if not value:
        return "must list at least one seed"
    return None if len(set(value)) == len(value) else "must be distinct"


def _annotation_name(annotation) -> str | None:
    return getattr(annotation, "__name__", None) if not typing.get_args(annotation) else str(annotation)


#: The fields every experiment shares, one declaration each. The naming scheme:
#:
#: - ``relevance_methods`` (a list) where an experiment compares several relevance methods, with
#:   ``relevance_params`` per method (``{method: {param: value}}``); ``relevance_method`` where it uses one, with
#:   ``relevance_params`` that method's parameters (key ``"relevance_params (one method)"``);
#: - ``maskers`` (a list) and ``masker_params`` per masker (``{masker: {param: value}}``), so a masking fraction is
#:   always ``masker_params[m]["fraction"]``;
#: - ``model`` and ``model_params``: the architecture of every model an experiment trains, where one serves all;
#: - ``epochs``, ``batch_size``, ``learning_rate``: the schedule of the models trained on masked or raw data (a
#:   model trained apart, to be explained, has ``<role>_epochs``: ``trainer_epochs``, ``teacher_epochs``);
#: - ``seeds`` (a list) where an experiment repeats over seeds; a single ``seed`` of data and splits is no shared
#:   field (an experiment that runs once keeps ``seed``);
#: - ``output_dir`` (results.json and figures/) and ``cache_dir`` (where the experiment caches).
SHARED_FIELDS: dict[str, SharedField] = {key: f for key, f in (
    ("relevance_methods", SharedField("relevance_methods", list[str], "relevance methods to compare (relmask list "
                                      "methods)", NO_DEFAULT)),
    ("relevance_method", SharedField("relevance_method", str, "relevance method (relmask list methods)", NO_DEFAULT)),
    ("relevance_params", SharedField("relevance_params", dict[str, dict], "parameters per relevance method: "
                                     "{method: {param: value}}, e.g. {occlusion: {window: 12}}", {})),
    ("relevance_params (one method)", SharedField("relevance_params", dict, "parameters of the relevance method "
                                                  "(relmask list methods)", {})),
    ("maskers", SharedField("maskers", list[str], "maskers to compare (relmask list maskers)", NO_DEFAULT,
                            {"rule": _not_empty("masker")})),
    ("masker_params", SharedField("masker_params", dict[str, dict], "parameters per masker: {masker: {param: "
                                  "value}}, e.g. {keep: {fraction: 0.5, fill: blur}} (relmask list maskers)", {})),
    ("model", SharedField("model", str, "architecture of every model trained (relmask list models)",
                          NO_DEFAULT)),
    ("model_params", SharedField("model_params", dict, "parameters of the architecture (relmask list models)", {})),
    ("epochs", SharedField("epochs", int, "training epochs of every model the experiment compares (one "
                           "schedule for all; a model trained apart to be explained has its own <role>_epochs)",
                           NO_DEFAULT, {"low": 1})),
    ("batch_size", SharedField("batch_size", int, "training batch size", 32, {"low": 1})),
    ("learning_rate", SharedField("learning_rate", float, "Adam learning rate", 1e-3,
                                  {"low": 0, "low_open": True})),
    ("seeds", SharedField("seeds", list[int], "one repetition per seed: a seed fixes the initial weights shared by "
                          "every condition (paired), results are reported over seeds",
                          NO_DEFAULT, {"low": 0, "rule": _distinct_seeds})),
    ("output_dir", SharedField("output_dir", str, "where results.json and figures/ go", NO_DEFAULT)),
    ("cache_dir", SharedField("cache_dir", str | None, "cache folder of data and relevance maps (None: the "
                              "experiment's default; relmask reproduce sets <out>/cache)", None)),
)}


def shared_field(key: str, default: Any = dataclasses.MISSING) -> Any:
    """The dataclass field of shared field ``key`` (:data:`SHARED_FIELDS`): its help text and checks come from
    there, its default from ``default`` or else the shared declaration. The field must be annotated as declared
    (``maskers: list[str] = shared_field("maskers", ["keep"])``); :func:`config_params` refuses another type."""
    if key not in SHARED_FIELDS:
        raise KeyError(f"no shared field {key!r}; shared: {', '.join(SHARED_FIELDS)}")
    shared = SHARED_FIELDS[key]
    value = shared.default if default is dataclasses.MISSING else default
    if value is NO_DEFAULT:
        raise TypeError(f"shared field {key!r} has no common default: give one")
    metadata = {"help": shared.help, "shared": key, **shared.checks}
    if isinstance(value, (list, dict, set)):
        return field(default_factory=lambda: copy.deepcopy(value), metadata=metadata)
    return field(default=value, metadata=metadata)


class ExperimentConfig:
    """Base of an experiment's config dataclass (``@dataclass class WhaleExperiment(ExperimentConfig)``).

    :meth:`validate` is where a value is checked, once: the fields' declarations (types, choices, ranges, rules:
    :func:`check_declared`), then :meth:`check` (rules across fields and against the registries), which a config
    defines. :meth:`check_first` may explain a refusal better than a field's generic message would (why the true
    label is refused) and runs before both. A config that passed keeps the fact while its values stay the same, so
    a pipeline function may call ``validate()`` on what it was given at no cost."""

    #: the name the messages give (``experiment 'whale'``); the class name where empty
    experiment_name: ClassVar[str] = ""

    def check_first(self) -> None:
        """Checks that must speak before the fields' declarations do (default: none)."""

    def check(self) -> None:
        """Checks across fields and against the registries; raise ParameterError naming the parameter."""

    def validate(self):
        state = _config_state(self)
        if state is not None and self.__dict__.get("_validated_state") == state:
            return self
        self.check_first()
        check_declared(self, f"experiment {self.experiment_name!r}" if self.experiment_name
                       else type(self).__name__)
        self.check()
        self.__dict__["_validated_state"] = _config_state(self)
        return self


def _config_state(config) -> str | None:
    """The values of a config as text, to tell whether they changed since it was validated (None: not telling)."""
    try:
        return repr([(f.name, getattr(config, f.name)) for f in dataclasses.fields(config)])
    except Exception:  # noqa: BLE001 - a value without a repr is checked every time
        return None


def presets_in(folder: str | Path) -> dict[str, Path]:
    """``{name: file}`` of the ``*.yaml`` presets in ``folder`` (an experiment's ``presets``)."""
    return {p.stem: p for p in sorted(Path(folder).glob("*.yaml"))}


@dataclass
class ReproduceConfig(Component):
    """A ``relmask reproduce`` configuration that spans experiments (``quick`` runs whale, fer and faithfulness),
    registered by the ``register_reproduce_configs`` hook: ``path`` is its YAML file, ``--config NAME`` finds it.
    A config of one experiment is named by that experiment's :attr:`Experiment.reproduce_configs` instead."""

    name: str = ""
    path: Path | None = None  # required: a default only for the order of the fields
    description: str = ""
    kind: ClassVar[str] = "reproduce config"

    def metadata(self) -> dict:
        return dict(super().metadata(), path=str(self.path))


class Experiment(Component):
    """An experiment of a domain: its notebook, presets, parameters, pipeline and contribution to ``paper/``.

    ``config`` is a dataclass with one field per notebook parameter: the one declaration of the parameters.
    :attr:`params` is derived from it, ``relmask run``/``reproduce`` check given values against it (once, in
    :meth:`configure`) before a kernel starts, and ``relmask notebooks`` generates the notebook's ``parameters``
    cell from it (:func:`relmask.running.jupyter.parameters_cell`; ``--check`` fails where they disagree). The
    dataclass may
    define ``validate()`` (cross-field checks, names of methods and maskers), which
    :meth:`configure` calls.

    ``notebook`` is the executed ``.ipynb``; its source is the Jupytext percent-format ``.py`` beside it.
    ``presets`` maps a preset name (``quick``, ``full``, ``real`` ...) to a YAML file of parameter values and
    ``reproduce_configs`` a config name to a ``relmask reproduce`` YAML file. :meth:`paper_outputs` draws the
    experiment's figures and tables for ``paper/`` from the recorded results of its runs.
    """

    kind = "experiment"
    config: ClassVar[type | None] = None
    notebook: Path | None = None
    presets: ClassVar[dict[str, Path]] = {}
    reproduce_configs: ClassVar[dict[str, Path]] = {}

    @property
    def params(self) -> tuple[Param, ...]:  # type: ignore[override]
        return config_params(self.config) if self.config is not None else ()

    def configure(self, values: dict[str, Any]):
        """Check ``values`` (unknown names, types, choices, ranges; defaults filled in), build the config and
        run its ``validate()``: everything is checked before anything trains. Returns the config."""
        if self.config is None:  # nothing declared: the notebook's parameters cell is all there is
            return dict(values)
        refuse_unknown(self.params, values, f"{self.kind} {self.name!r}")
        cfg = self.config(**values)
        if isinstance(cfg, ExperimentConfig):
            return cfg.validate()  # the fields' declarations, then its check(): each value checked once
        check_declared(cfg, f"{self.kind} {self.name!r}")  # a plain dataclass: its declarations, then validate()
        check = getattr(cfg, "validate", None)
        return (check() or cfg) if callable(check) else cfg

    def from_namespace(self, namespace: dict[str, Any]):
        """:meth:`configure` from a notebook's globals (the names of :attr:`params` that it defines)."""
        return self.configure({p.name: namespace[p.name] for p in self.params if p.name in namespace})

    def preset(self, name: str) -> Path:
        """The YAML file of preset ``name``."""
        if name not in self.presets:
            raise UnknownNameError(f"preset of experiment {self.name!r}", name, list(self.presets))
        return Path(self.presets[name])

    def paper_outputs(self, runs: list[tuple[dict, dict]], paper) -> None:
        """Draw figures and tables from ``runs`` (``(run record, results)`` pairs of this experiment) with the
        :class:`relmask.running.figures.PaperWriter` ``paper``. The default contributes nothing (a notebook may still
        declare ``paper_outputs`` in its results, see :func:`relmask.running.figures.declared_outputs`)."""

    def metadata(self) -> dict:
        meta = super().metadata()
        meta["notebook"] = str(self.notebook) if self.notebook else None
        meta["presets"] = sorted(self.presets)
        meta["reproduce_configs"] = sorted(self.reproduce_configs)
        return meta
