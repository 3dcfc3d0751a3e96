"""Plugin manager: built-in plugins, entry-point plugins, the registries they fill (one per kind in
:data:`relmask.plugin_system.kinds.KINDS`) and the lookups that need a registry (:func:`check_relevance_params`,
:func:`experiment_for`), so that the component classes and the run machinery need not import this module back.

Built-ins (relmask's own plugin modules, declared in its ``pyproject.toml`` under the entry-point group
``relmask.builtin``) are registered exactly like third-party plugins, which are found through the entry-point
group ``relmask``; core never imports a plugin by name. ``RELMASK_LOAD_PLUGINS`` (comma-separated distribution
names; empty = none) restricts which third-party plugins load.

A plugin that fails to import or to register is recorded in :func:`plugin_errors` and skipped, so one broken
plugin never breaks the CLI or the others: ``SystemExit`` (a plugin calling ``sys.exit()``) counts as a failure
too (only ``KeyboardInterrupt`` passes through), and a plugin whose hook fails half-way loses everything it had
registered (all or nothing). Each plugin's hook implementation is therefore called on its own rather than
through pluggy's all-at-once hook call. ``RELMASK_LOAD_PLUGINS`` naming no installed distribution warns.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import threading
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast, overload

import pluggy

from relmask.errors import DuplicateNameError, ParameterError, PluginError, UnknownNameError
from relmask.plugin_system import hookspecs
from relmask.plugin_system.components import Component, Experiment
from relmask.plugin_system.kinds import EXPERIMENTS, KINDS, METHODS, Kind

ENTRY_POINT_GROUP = "relmask"
#: relmask's own plugin modules (relmask_plugins.*): always loaded, listed as built-in
BUILTIN_GROUP = "relmask.builtin"
LOAD_ENV = "RELMASK_LOAD_PLUGINS"

C = TypeVar("C", bound=Component)


@dataclass
class Entry(Generic[C]):
    name: str
    obj: C
    plugin: str
    aliases: tuple[str, ...] = ()


@dataclass
class PluginInfo:
    name: str
    version: str
    builtin: bool
    registered: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


class Registry(Generic[C]):
    """Names -> registered objects for one hook, with aliases and duplicate detection."""

    def __init__(self, kind: str, cls: type[C]):
        self.kind, self.cls = kind, cls
        self.entries: dict[str, Entry[C]] = {}
        self.aliases: dict[str, str] = {}

    def add(self, obj: Any, plugin: str, name: str | None = None, aliases=()) -> Entry[C]:
        if not isinstance(obj, self.cls):
            raise PluginError(f"plugin {plugin!r} registered {obj!r} as a {self.kind}, "
                              f"but it is not a {self.cls.__module__}.{self.cls.__name__}")
        name = name or obj.name
        if not name:
            raise PluginError(f"plugin {plugin!r} registered a {self.kind} without a name")
        for n in (name, *aliases):
            owner = self.entries.get(self.aliases.get(n, n))
            if owner is not None:
                raise DuplicateNameError(f"{self.kind} name {n!r} is registered by both plugin "
                                         f"{owner.plugin!r} and plugin {plugin!r}")
        entry = Entry(name, obj, plugin, tuple(aliases))
        self.entries[name] = entry
        for a in aliases:
            self.aliases[a] = name
        return entry

    def get(self, name: str | C) -> C:
        if isinstance(name, self.cls):
            return name  # an object passed directly (e.g. a method not registered anywhere)
        name = cast(str, name)  # not one of the class: a name (anything else is no known one below)
        key = self.aliases.get(name, name)
        if key not in self.entries:
            raise UnknownNameError(self.kind, name, list(self.entries) + list(self.aliases))
        return self.entries[key].obj

    def names(self) -> list[str]:
        return sorted(self.entries)

    def remove_plugin(self, plugin: str) -> None:
        """Drop every entry (and its aliases) that ``plugin`` registered."""
        gone = {n for n, e in self.entries.items() if e.plugin == plugin}
        for n in gone:
            del self.entries[n]
        self.aliases = {a: n for a, n in self.aliases.items() if n not in gone}

    def describe(self, obj: Component) -> str:
        """``<kind> 'name' (plugin 'dist')`` for error messages; objects passed directly are "not registered"."""
        plugin = next((e.plugin for e in self.entries.values() if e.obj is obj), None)
        return f"{self.kind} {obj.name!r} " + (f"(plugin {plugin!r})" if plugin else "(not registered by a plugin)")


class PluginManager:
    def __init__(self):
        self.pm = pluggy.PluginManager("relmask")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.registries: dict[str, Registry[Any]] = {kind.hook: Registry(kind.words, kind.cls) for kind in KINDS}
        self._load_builtins()
        self._load_entry_points()
        self._collect()

    # -- loading ---------------------------------------------------------------------------------
    def _add(self, module_or_obj, name: str, version: str, builtin: bool) -> None:
        info = PluginInfo(name, version, builtin)
        self.infos[name] = info
        try:
            self.pm.register(module_or_obj, name=name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - pluggy validation error: wrong hook signature, unknown hook ...
            self._fail(info, exc)

    def _fail(self, info: PluginInfo, exc: BaseException, stage: str = "load") -> None:
        info.error = f"{stage}: {type(exc).__name__}: {exc}"
        # warn_explicit at "relmask", line 0: the warning names the plugin, and no source line of relmask's plugin
        # manager (where it was raised, or whichever relmask call first loaded the plugins) is printed under it
        warnings.warn_explicit(f"relmask plugin {info.name!r} failed to {stage} and is skipped: "
                               f"{type(exc).__name__}: {exc}", RuntimeWarning, "relmask", 0,
                               module="relmask.plugin_system.plugins")

    def _load_builtins(self) -> None:
        from relmask import __version__
        eps = list(md.entry_points(group=BUILTIN_GROUP))
        if not eps:
            warnings.warn(f"no built-in relmask plugins found (entry-point group {BUILTIN_GROUP!r}): relmask is not "
                          "installed; run `pip install -e .` in the checkout", RuntimeWarning, stacklevel=3)
        for ep in eps:
            modname = ep.value
            try:
                module = importlib.import_module(modname)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - SystemExit too: a plugin must not end the caller's process
                info = self.infos[modname] = PluginInfo(modname, __version__, True)
                self._fail(info, exc)
                continue
            self._add(module, modname, __version__, builtin=True)

    def _load_entry_points(self) -> None:
        wanted = os.environ.get(LOAD_ENV)
        allowed = None if wanted is None else {w.strip() for w in wanted.split(",") if w.strip()}
        eps = list(md.entry_points(group=ENTRY_POINT_GROUP))
        per_dist = Counter(_dist_name(ep) for ep in eps)
        unknown = sorted((allowed or set()) - set(per_dist) - {ep.name for ep in eps})
        if unknown:  # a typo here would otherwise silently load nothing
            warnings.warn(f"{LOAD_ENV} names {', '.join(map(repr, unknown))}, which "
                          f"{'is' if len(unknown) == 1 else 'are'} not an installed relmask plugin; installed: "
                          f"{', '.join(sorted(per_dist)) or '(none)'}", RuntimeWarning, stacklevel=3)
        for ep in eps:
            dist = _dist_name(ep)
            version = ep.dist.version if ep.dist is not None else "?"
            if allowed is not None and dist not in allowed and ep.name not in allowed:
                continue
            # a distribution is named by itself; one with several entry points names each of them
            name = dist if per_dist[dist] == 1 else f"{dist}:{ep.name}"
            try:
                obj = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - SystemExit too: a plugin must not end the caller's process
                info = self.infos[name] = PluginInfo(name, version, False)
                self._fail(info, exc)
                continue
            self._add(obj, name, version, builtin=False)

    def _collect(self) -> None:
        for hook, registry in self.registries.items():
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                info = self.infos[impl.plugin_name]
                if info.error:
                    continue
                names = info.registered.setdefault(hook, [])

                def register(obj, name=None, aliases=(), _info=info, _names=names, _registry=registry):
                    entry = _registry.add(obj, _info.name, name=name, aliases=tuple(aliases))
                    _names.append(entry.name)

                try:
                    impl.function(register)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - a failing plugin is skipped, not the caller's end
                    # all or nothing: what the plugin registered before failing (in this hook or an earlier
                    # one) goes with it, so no half-registered plugin is left usable
                    for reg in self.registries.values():
                        reg.remove_plugin(info.name)
                    info.registered.clear()
                    self._fail(info, exc, stage=f"register ({hook})")

    # -- queries ---------------------------------------------------------------------------------
    @overload
    def registry(self, hook: Kind[C]) -> Registry[C]: ...
    @overload
    def registry(self, hook: str) -> Registry[Any]: ...

    def registry(self, hook: Kind[Any] | str) -> Registry[Any]:
        """The registry of one kind: a :class:`~relmask.plugin_system.kinds.Kind` (typed by its class) or its hook's
        name (``"register_maskers"``)."""
        return self.registries[hook.hook if isinstance(hook, Kind) else hook]


def _dist_name(ep: md.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else ep.name


_manager: PluginManager | None = None
_lock = threading.Lock()


def get_plugin_manager(reload: bool = False) -> PluginManager:
    """The process-wide plugin manager, built on first use (``reload=True`` rebuilds it)."""
    global _manager
    with _lock:
        if _manager is None or reload:
            _manager = PluginManager()
        return _manager


def plugin_infos() -> list[PluginInfo]:
    return list(get_plugin_manager().infos.values())


def plugin_errors() -> dict[str, str]:
    return {i.name: i.error for i in plugin_infos() if i.error}


@overload
def registry(hook: Kind[C]) -> Registry[C]: ...
@overload
def registry(hook: str) -> Registry[Any]: ...


def registry(hook: Kind[Any] | str) -> Registry[Any]:
    """The registry of one kind (:meth:`PluginManager.registry`): ``registry(MASKERS)`` or
    ``registry("register_maskers")``."""
    return get_plugin_manager().registry(hook)


# -- lookups across a registry's components --------------------------------------------------------------
def check_relevance_params(method, params: dict[str, Any] | None = None, input_shape: tuple | None = None,
                           model=None, owner: str | None = None) -> dict[str, Any]:
    """``params`` of relevance method ``method`` (a name or object) checked as :func:`relmask.explain` checks them,
    before any work: names, types and declared ranges
    (:func:`relmask.plugin_system.components.resolve_params`), then the method's
    :meth:`~relmask.plugin_system.components.RelevanceMethod.check_params` against ``input_shape`` and ``model``
    where given (``model`` may be a callable building the architecture; it is called only if a check needs it).
    ``owner`` (e.g. ``"relevance_params"``) prefixes the message. Returns the resolved parameters."""
    m = registry(METHODS).get(method)
    try:
        resolved = m.resolve_params(dict(params or {}))
        m.check_params(resolved, input_shape=None if input_shape is None else tuple(input_shape), model=model)
    except ParameterError as exc:
        if owner is None:
            raise
        raise ParameterError(f"{owner}: {exc}") from None
    return resolved


def experiment_for(notebook: str | os.PathLike, by_file_name: bool = False) -> Experiment | None:
    """The registered :class:`~relmask.plugin_system.components.Experiment` whose notebook ``notebook`` is (None if
    none).

    ``by_file_name``: match the file name only (a run record of another checkout, or of an executed copy).
    """
    def key(path) -> str | Path:
        return Path(path).name if by_file_name else Path(path).resolve()

    wanted = key(notebook)
    reg = registry(EXPERIMENTS)
    for name in reg.names():
        exp = reg.get(name)
        if exp.notebook is not None and key(exp.notebook) == wanted:
            return exp
    return None
