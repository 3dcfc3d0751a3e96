"""Reproduce configurations: find one by name or path, parse and validate it, expand its grids and sweeps into
runs, and select runs (``--only``). Nothing is checked against a notebook and nothing runs here."""
from __future__ import annotations

import itertools
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relmask.errors import DataError, UnknownNameError
from relmask.running.reproduce.errors import ConfigError
from relmask.running.run_records import POINT_SEPARATOR, PROJECT_ROOT, _slug, point_label

#: parameters that only say where outputs go: not part of a run's identity
LOCATION_PARAMS = ("output_dir", "cache_dir")


@dataclass
class DataSpec:
    """A data set some runs need: where it lives under ``--data-dir`` and where to get it."""

    name: str
    path: str
    title: str = ""
    url: str = ""
    howto: str = ""
    expect: list[str] = field(default_factory=list)


@dataclass
class RunSpec:
    """One notebook execution of a configuration (grids are already expanded)."""

    name: str
    group: str
    notebook: Path
    parameters: dict[str, Any]
    data: dict[str, str] = field(default_factory=dict)  # notebook parameter -> DataSpec name
    experiment: str | None = None  # the registered experiment whose notebook this is
    sweep: dict[str, Any] = field(default_factory=dict)  # this sweep point's values (empty: not a sweep point)


@dataclass
class Config:
    name: str
    path: Path
    description: str
    data: dict[str, DataSpec]
    runs: list[RunSpec]


def known_configs() -> dict[str, Path]:
    """Config name -> file: those plugins register (``register_reproduce_configs``: configs spanning experiments)
    and those installed experiments ship (:attr:`~relmask.plugin_system.components.Experiment.reproduce_configs`).
    Core has no
    config of its own."""
    from relmask.plugin_system.kinds import EXPERIMENTS, REPRODUCE_CONFIGS
    from relmask.plugin_system.plugins import registry

    configs = registry(REPRODUCE_CONFIGS)
    found: dict[str, Path] = {}
    for name in configs.names():
        path = configs.get(name).path
        if path is None:
            raise TypeError(f"reproduce config {name!r} was registered without a path")
        found[name] = Path(path)
    experiments = registry(EXPERIMENTS)
    for name in experiments.names():
        for cname, cpath in experiments.get(name).reproduce_configs.items():
            if cname in found and Path(found[cname]).resolve() != Path(cpath).resolve():
                warnings.warn(f"reproduce config {cname!r} of experiment {name!r} is shadowed by {found[cname]}",
                              RuntimeWarning, stacklevel=2)
                continue
            found[cname] = Path(cpath)
    return found


def config_path(config: str | os.PathLike) -> Path:
    """A config name (``relmask list configs``, or one an installed experiment ships) or a YAML file."""
    p = Path(config)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise ConfigError(f"config file not found: {p}")
        return p
    known = known_configs()
    if str(config) not in known:
        raise ConfigError(f"unknown config {str(config)!r}: neither a file nor one of {', '.join(sorted(known))}")
    return known[str(config)]


def _resolve(path: str, base: Path) -> Path:
    """A path from a config: absolute, beside the config file, or in the project checkout."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    for root in (base, PROJECT_ROOT):
        if (root / p).exists():
            return (root / p).resolve()
    return (PROJECT_ROOT / p).resolve()


def _value_lists(where: str, name: str, key: str, spec) -> dict[str, list]:
    """A config entry's ``grid:`` or ``sweep:``: parameter names mapped to non-empty lists of values."""
    if spec is None:
        return {}
    if not isinstance(spec, dict) or any(not isinstance(v, list) or not v for v in spec.values()):
        raise ConfigError(f"{where}: run {name!r}: {key!r} maps parameter names to non-empty lists"
                          + (f" (e.g. {key}: {{n_target: [250, 500]}})" if key == "sweep" else ""))
    return spec


def load_config(config: str | os.PathLike) -> Config:
    """Parse and validate a configuration; grids are expanded into one :class:`RunSpec` per combination."""
    path = config_path(config)
    raw = _read_yaml(path, "reproduce config") or {}
    where = str(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("runs"), list) or not raw["runs"]:
        raise ConfigError(f"{where}: a config needs a non-empty list 'runs'")
    data = {}
    for name, d in (raw.get("data") or {}).items():
        if not isinstance(d, dict) or "path" not in d:
            raise ConfigError(f"{where}: data set {name!r} needs at least 'path' (relative to --data-dir)")
        unknown = set(d) - {"path", "title", "url", "howto", "expect"}
        if unknown:
            raise ConfigError(f"{where}: data set {name!r} has unknown keys {sorted(unknown)}")
        data[name] = DataSpec(name, **d)
    runs: list[RunSpec] = []
    for i, entry in enumerate(raw["runs"]):
        if not isinstance(entry, dict) or "name" not in entry or ("notebook" in entry) == ("experiment" in entry):
            raise ConfigError(f"{where}: run #{i + 1} needs 'name' and either 'experiment' or 'notebook'")
        unknown = set(entry) - {"name", "experiment", "notebook", "preset", "params", "grid", "sweep", "data"}
        if unknown:
            raise ConfigError(f"{where}: run {entry['name']!r} has unknown keys {sorted(unknown)}")
        for key, kind in (("name", str), ("experiment", str), ("notebook", str), ("preset", str),
                          ("params", dict), ("data", dict)):
            if entry.get(key) is not None and not isinstance(entry[key], kind):  # else a TypeError deep inside
                raise ConfigError(f"{where}: run #{i + 1}: {key!r} must be a "
                                  f"{'mapping' if kind is dict else 'string'}, got {entry[key]!r}")
        if POINT_SEPARATOR in entry["name"]:
            raise ConfigError(f"{where}: run {entry['name']!r}: a run name must not contain "
                              f"{POINT_SEPARATOR!r} (it separates a sweep from its point)")
        experiment = None
        if "experiment" in entry:
            from relmask.plugin_system.kinds import EXPERIMENTS
            from relmask.plugin_system.plugins import registry

            try:
                experiment = registry(EXPERIMENTS).get(entry["experiment"])
            except UnknownNameError as exc:
                raise ConfigError(f"{where}: run {entry['name']!r}: {exc} (is its plugin installed? "
                                  "`relmask plugins`)") from None
            if experiment.notebook is None:
                raise ConfigError(f"{where}: run {entry['name']!r}: experiment {experiment.name!r} has no notebook")
            notebook = Path(experiment.notebook)
        else:
            notebook = _resolve(entry["notebook"], path.parent)
        if not notebook.exists():
            raise ConfigError(f"{where}: run {entry['name']!r}: notebook not found: {notebook}")
        params: dict[str, Any] = {}
        if entry.get("preset"):
            if experiment is not None and entry["preset"] in experiment.presets:
                preset = experiment.preset(entry["preset"])  # a preset the experiment ships, by name
            else:
                preset = _resolve(entry["preset"], path.parent)
            if not preset.exists():
                raise ConfigError(f"{where}: run {entry['name']!r}: preset file not found: {preset}"
                                  + (f" (nor a preset of experiment {experiment.name!r}: "
                                     f"{', '.join(sorted(experiment.presets))})" if experiment else ""))
            loaded = _read_yaml(preset, "preset") or {}
            if not isinstance(loaded, dict):
                raise ConfigError(f"{preset}: a preset must be a mapping NAME: VALUE")
            params.update(loaded)
        params.update(entry.get("params") or {})
        needs = dict(entry.get("data") or {})
        for param, dname in needs.items():
            if dname not in data:
                raise ConfigError(f"{where}: run {entry['name']!r} needs data set {dname!r} for parameter "
                                  f"{param!r}, but 'data' declares only {sorted(data) or 'none'}")
        grid = _value_lists(where, entry["name"], "grid", entry.get("grid"))
        sweep = _value_lists(where, entry["name"], "sweep", entry.get("sweep"))
        for param in sweep:
            if param in grid or param in needs:
                raise ConfigError(f"{where}: run {entry['name']!r}: parameter {param!r} is in both 'sweep' and "
                                  f"{'grid' if param in grid else 'data'}")
            if param in LOCATION_PARAMS:
                raise ConfigError(f"{where}: run {entry['name']!r}: cannot sweep {param!r}: it says where outputs "
                                  "go, it is not part of a run's identity")
        for combo in itertools.product(*grid.values()) if grid else [()]:
            base = "-".join([entry["name"], *map(_slug, combo)])
            for point in itertools.product(*sweep.values()) if sweep else [()]:
                values = dict(zip(sweep, point, strict=True))
                name = f"{base}{POINT_SEPARATOR}{point_label(values)}" if sweep else base
                point_params = {**params, **dict(zip(grid, combo, strict=True)), **values}
                runs.append(RunSpec(name, entry["name"], notebook, point_params,
                                    needs, experiment.name if experiment else None, values))
    names = [r.name for r in runs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{where}: run names must be unique, repeated: {', '.join(dupes)}")
    return Config(path.stem, path, str(raw.get("description", "")).strip(), data, runs)


def _read_yaml(path: Path, what: str):
    from relmask.io import read_yaml

    try:
        return read_yaml(path, what=what)
    except DataError as exc:
        raise ConfigError(str(exc)) from None


def select_runs(config: Config, only: list[str] | None) -> list[RunSpec]:
    """Runs named by ``--only``: an exact run name (one sweep point: ``fer-sizes@n_target=250``), a config entry
    (all its grid and sweep points: ``fer-sizes``) or a glob (``'fer-sizes@n_target=*'``)."""
    if not only:
        return list(config.runs)
    from fnmatch import fnmatchcase

    chosen = []
    for pattern in only:
        hits = [r for r in config.runs if r.name == pattern or r.group == pattern or fnmatchcase(r.name, pattern)]
        if not hits:
            raise ConfigError(f"--only {pattern!r} matches no run of config {config.name!r}; runs: "
                              + ", ".join(r.name for r in config.runs))
        chosen += [r for r in hits if r not in chosen]
    return chosen
