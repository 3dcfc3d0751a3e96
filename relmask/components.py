"""The kinds of object a plugin registers, and how they declare their parameters.

Every registered object is a :class:`Component`: it has a ``name``, a ``description``, the Keras
``backends`` it supports and a tuple of :class:`Param`. ``resolve_params`` is the one place where user
parameters are checked (unknown names, wrong types, bad choices), so every method, masker, domain and
model rejects bad input with the same kind of message.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from .errors import ParameterError, UnknownNameError

_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool", list: "list", dict: "dict",
               tuple: "tuple", type(None): "None"}


@dataclass(frozen=True)
class Param:
    """A declared parameter: name, accepted type(s), default, help text and optional choices."""

    name: str
    type: type | tuple[type, ...]
    default: Any = None
    help: str = ""
    choices: tuple | None = None

    @property
    def types(self) -> tuple[type, ...]:
        return self.type if isinstance(self.type, tuple) else (self.type,)

    @property
    def type_name(self) -> str:
        return " | ".join(_TYPE_NAMES.get(t, getattr(t, "__name__", str(t))) for t in self.types)

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
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"{owner}: parameter {self.name!r} must be one of "
                                 f"{', '.join(map(repr, self.choices))}; got {value!r}")
        return value

    def to_dict(self) -> dict:
        d = {"name": self.name, "type": self.type_name, "default": self.default, "help": self.help}
        if self.choices is not None:
            d["choices"] = list(self.choices)
        return d


def resolve_params(params: tuple[Param, ...], given: dict[str, Any], owner: str) -> dict[str, Any]:
    """Defaults filled in, unknown names rejected (with a did-you-mean), every value type-checked."""
    known = {p.name: p for p in params}
    unknown = [k for k in given if k not in known]
    if unknown:
        k = unknown[0]
        hint = difflib.get_close_matches(k, list(known), n=1)
        raise ParameterError(f"{owner}: unknown parameter {k!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else "")
                             + f"; accepted: {', '.join(known) or '(none)'}")
    return {name: p.check(given.get(name, p.default), owner) for name, p in known.items()}


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

    def attribute(self, model, x, targets, **params):  # pragma: no cover - interface
        raise NotImplementedError


class Masker(Component):
    """Turns inputs ``x`` and relevance maps ``R`` of the same shape into masked inputs ``x'``."""

    kind = "masker"

    def apply(self, x, relevance, rng, **params):  # pragma: no cover - interface
        raise NotImplementedError


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


class Domain(Component):
    """A data domain (whale audio, faces). ``load(source, path=None, **params)`` returns a Dataset."""

    kind = "domain"
    sources: dict[str, Source] = {}

    def source(self, name: str) -> Source:
        if name not in self.sources:
            raise UnknownNameError(f"source of domain {self.name!r}", name, list(self.sources))
        return self.sources[name]

    def load(self, source: str, path=None, **params):
        src = self.source(source)
        owner = f"domain {self.name!r} source {source!r}"
        if src.needs_path and path is None:
            raise ParameterError(f"{owner} needs a path to the data. {src.obtain}".strip())
        resolved = resolve_params(src.params, params, owner)
        return src.loader(path, **resolved)

    def metadata(self) -> dict:
        meta = super().metadata()
        meta["sources"] = {n: {"description": s.description, "needs_path": s.needs_path,
                               "params": [p.to_dict() for p in s.params]} for n, s in self.sources.items()}
        return meta


@dataclass
class ModelSpec(Component):
    """A named Keras architecture: ``build(input_shape, n_classes, **params)`` returns a fresh model."""

    name: str = ""
    builder: Callable[..., Any] = field(default=None, repr=False)
    description: str = ""
    params: tuple[Param, ...] = ()
    backends: tuple[str, ...] = ("tensorflow", "jax")
    kind: ClassVar[str] = "model"

    def build(self, input_shape, n_classes: int, **params):
        resolved = self.resolve_params(params)
        return self.builder(tuple(input_shape), int(n_classes), **resolved)

    __call__ = build
