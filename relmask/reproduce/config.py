"""``relmask reproduce``: run every experiment notebook of a configuration, cached, then build ``paper/``.

A configuration (one a plugin registers, such as the built-in ``quick``, ``full`` and ``real``, or a user file)
lists named runs; a run is an experiment (any installed plugin's, ``relmask list experiments``) or a notebook, with
parameters (a preset, explicit values and an optional grid over values). Each run is keyed
(:func:`relmask.cache.run_key`) and executes into ``<out>/runs/<name>-<key>/``; a ``done.json`` written last
marks it finished, so an interrupted reproduction resumes where it stopped and a repeated one recomputes
nothing. Runs execute through :mod:`relmask.executor` (in-process, a local Dask cluster, or a scheduler);
a failing run is reported with its executed notebook and does not stop the others. See docs/reproduce.md.
"""
from __future__ import annotations

import errno
import itertools
import os
import re
import shlex
import shutil
import signal
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import (
    DataError,
    NotebookExecutionError,
    ParameterError,
    RelmaskError,
    RunInterrupted,
    UnknownNameError,
    sigterm_interrupts,
)

#: notebooks, presets and configs name paths relative to the project checkout
PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: parameters that only say where outputs go: not part of a run's identity
LOCATION_PARAMS = ("output_dir", "cache_dir")
DATA_DIR_ENV = "RELMASK_DATA_DIR"
#: set (to anything but 0) to see the traceback behind the one-line messages of ``relmask reproduce``
DEBUG_ENV = "RELMASK_DEBUG"


class ConfigError(RelmaskError, ValueError):
    """A reproduce configuration is malformed (names the file and the entry)."""


class OutputError(RelmaskError):
    """An output of ``reproduce`` (run records, the paper directory) cannot be written; names the path."""


def _names(names: list[str], limit: int = 8) -> str:
    """``a, b, c`` (at most ``limit`` names, then how many more), or ``none``."""
    if not names:
        return "none"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


class _Stopped:
    """What a stopped reproduction leaves: runs finished (kept), failed (tried again next time), not finished."""

    finished: list[str]
    failed: list[str]
    unfinished: list[str]

    def kept(self) -> str:
        total = len(self.finished) + len(self.failed) + len(self.unfinished)
        text = f"finished and kept: {_names(self.finished)} ({len(self.finished)} of {total} runs)"
        if self.failed:
            text += f"; failed: {_names(self.failed)}"
        return text + f"; not finished: {_names(self.unfinished)}"


class ReproduceInterrupted(_Stopped, RunInterrupted):
    """Ctrl-C or SIGTERM ended ``reproduce``. Finished runs are kept (each has its ``done.json``); running the
    same reproduction again resumes with the others. A KeyboardInterrupt, with the signal in ``signum``."""

    def __init__(self, signum: int, finished: list[str], failed: list[str], unfinished: list[str]):
        super().__init__(signum)
        self.finished, self.failed, self.unfinished = finished, failed, unfinished


class DiskFullError(_Stopped, OutputError):
    """The disk filled up (ENOSPC) during ``reproduce``: the reproduction stopped, finished runs are kept."""

    def __init__(self, cause: BaseException, finished: list[str], failed: list[str], unfinished: list[str]):
        where = getattr(cause, "filename", None) or getattr(cause, "notebook_out", None)
        super().__init__(f"{os.strerror(errno.ENOSPC)}" + (f" ({where})" if where else ""))
        self.finished, self.failed, self.unfinished = finished, failed, unfinished


def disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk: an ENOSPC ``OSError`` here, or one a notebook's cell
    raised in its kernel."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if isinstance(exc, NotebookExecutionError) and (
                f"[Errno {errno.ENOSPC}]" in (exc.evalue or "") or os.strerror(errno.ENOSPC) in (exc.evalue or "")):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


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


# -- configuration -----------------------------------------------------------------------------------
def known_configs() -> dict[str, Path]:
    """Config name -> file: those plugins register (``register_reproduce_configs``: configs spanning experiments)
    and those installed experiments ship (:attr:`~relmask.components.Experiment.reproduce_configs`). Core has no
    config of its own."""
    from .plugins import registry

    configs = registry("register_reproduce_configs")
    found = {name: Path(configs.get(name).path) for name in configs.names()}
    experiments = registry("register_experiments")
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


def _slug(value: Any, keep: str = "") -> str:
    text = "+".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return re.sub(rf"[^A-Za-z0-9._+{re.escape(keep)}]+", "_", text)


#: separates a sweep's name from its point in a run name: ``fer-sizes@n_target=250``
POINT_SEPARATOR = "@"


def point_label(values: dict[str, Any]) -> str:
    """The point part of a sweep run's name: ``n_target=250``, ``lr=-0.5`` or ``n_target=250,seeds=0+1`` (lists
    joined by ``+``; anything but letters, digits, ``.``, ``_``, ``+`` and ``-`` replaced by ``_``), so a name is one
    shell word that needs no quoting and holds no glob character."""
    return ",".join(f"{param}={_slug(value, keep='-')}" for param, value in values.items())


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
            from .plugins import registry

            try:
                experiment = registry("register_experiments").get(entry["experiment"])
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
                values = dict(zip(sweep, point))
                name = f"{base}{POINT_SEPARATOR}{point_label(values)}" if sweep else base
                runs.append(RunSpec(name, entry["name"], notebook, {**params, **dict(zip(grid, combo)), **values},
                                    needs, experiment.name if experiment else None, values))
    names = [r.name for r in runs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{where}: run names must be unique, repeated: {', '.join(dupes)}")
    return Config(path.stem, path, str(raw.get("description", "")).strip(), data, runs)


def _read_yaml(path: Path, what: str):
    from .io import read_yaml

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


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV, "data"))


def check_data(config: Config, runs: list[RunSpec], data_dir: str | os.PathLike) -> dict[str, Path]:
    """Paths of the data sets ``runs`` need; raises one :class:`DataError` naming every missing one."""
    data_dir = Path(data_dir)
    paths, missing = {}, []
    for dname in dict.fromkeys(d for r in runs for d in r.data.values()):
        spec = config.data[dname]
        p = data_dir / spec.path
        absent = [] if p.exists() else [spec.path]
        if p.is_dir():
            absent = [e for e in spec.expect if not (p / e).exists()]
        if absent:
            missing.append((spec, p, absent))
        paths[dname] = p.resolve()
    if missing:
        lines = [f"config {config.name!r} needs data that is not there; nothing was run."]
        for spec, p, absent in missing:
            lines.append(f"  - {spec.name}: {spec.title or spec.name}")
            lines.append(f"      expected at {p} (missing: {', '.join(absent)})")
            if spec.url:
                lines.append(f"      get it from {spec.url}")
            if spec.howto:
                lines.append(f"      {spec.howto.strip()}")
        lines.append(f"Put the data sets under --data-dir DIR (now {data_dir.resolve()}; or set "
                     f"{DATA_DIR_ENV}) with the sub-paths above; see docs/reproduce.md.")
        raise DataError("\n".join(lines))
    return paths


# -- planning ----------------------------------------------------------------------------------------
def plan(config: Config, runs: list[RunSpec], out: str | os.PathLike, data_dir: str | os.PathLike,
         force: bool = False, env: dict[str, str] | None = None) -> list[dict]:
    """Checked, keyed, JSON-able specs of ``runs`` (what :func:`execute_run` receives); no work done.

    Raises before any execution on a missing data set or a parameter the notebook does not accept.
    """
    from .cache import finished_run, run_key
    from .provenance import code_fingerprint, file_sha256, package_versions, path_fingerprint, plugin_versions
    from .runner import check_parameters, parse_parameters

    data_paths = check_data(config, runs, data_dir)
    out = Path(out).resolve()
    versions = {**package_versions(), "relmask_code": code_fingerprint(), "plugins": plugin_versions()}
    fingerprints = {name: path_fingerprint(p) for name, p in data_paths.items()}
    specs = []
    for run in runs:
        declared = parse_parameters(run.notebook)
        params = dict(run.parameters)
        for param, dname in run.data.items():
            params[param] = str(data_paths[dname])
        if "cache_dir" in declared and params.get("cache_dir") is None:
            params["cache_dir"] = str(out / "cache")  # shared by all runs: one relevance/data cache
        params.pop("output_dir", None)  # a preset's output_dir must not win over the run directory
        try:
            check_parameters(run.notebook, params)
        except (ParameterError, UnknownNameError) as exc:
            raise ConfigError(f"{config.path}: run {run.name!r}: {exc}") from None
        sha = file_sha256(run.notebook)
        identity = {k: v for k, v in params.items() if k not in LOCATION_PARAMS and k not in run.data}
        data = {param: fingerprints[dname] for param, dname in run.data.items()}
        key = run_key(sha, identity, versions, {p: d["fingerprint"] for p, d in data.items()})
        run_dir = out / "runs" / f"{run.name}-{key}"
        if "output_dir" in declared:
            params["output_dir"] = str(run_dir)
        spec = {"name": run.name, "group": run.group, "config": config.name, "key": key,
                "experiment": run.experiment, "notebook": str(run.notebook), "notebook_sha256": sha,
                "parameters": params, "data": data, "synthetic": not run.data, "versions": versions,
                "run_dir": str(run_dir), "env": env or {}, "force": force}
        if run.sweep:  # a sweep point: its values, so paper code can tell the points of one sweep apart
            spec["sweep"] = run.sweep
        done = None if force else finished_run(run_dir, key)
        spec["cached"] = done
        specs.append(spec)
    return specs


# -- execution (runs in a Dask worker or in-process) ---------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def execute_run(spec: dict) -> dict:
    """Execute one planned run and return its record; failures are returned (status ``failed``), not raised."""
    from .cache import file_lock, finished_run, run_lock_path

    for k, v in spec.get("env", {}).items():
        os.environ.setdefault(k, v)
    run_dir = Path(spec["run_dir"])
    lock = run_lock_path(run_dir)

    def say_waiting():
        print(f"relmask reproduce: run {spec['name']} is in progress in another process (lock {lock}); waiting "
              "for it", file=sys.stderr, flush=True)

    # one process per run directory: a second reproduce on the same --out waits here instead of deleting the
    # first one's live run directory below
    with file_lock(lock, on_wait=say_waiting) as waited:
        done = finished_run(run_dir, spec["key"]) if waited or not spec.get("force") else None
        if done is not None:  # finished by the process we waited for (or after this one planned): reuse it
            return {**done, "status": "cached"}
        return _execute_locked(spec, run_dir)


def _execute_locked(spec: dict, run_dir: Path) -> dict:
    from .cache import mark_finished
    from .io import write_json
    from .progress import publisher
    from .provenance import device_info, git_info
    from .runner import parse_parameters, run_notebook

    if run_dir.exists():  # leftovers of an interrupted or failed attempt must not mix with this one
        shutil.rmtree(run_dir)
    record = {k: v for k, v in spec.items() if k not in ("env", "force", "cached")}
    record.update(started_at=_now(), device=device_info(), git=git_info(PROJECT_ROOT),
                  notebook_out=str(run_dir / Path(spec["notebook"]).name),
                  results_path=str(run_dir / "results.json"))
    start = time.perf_counter()
    try:
        result = run_notebook(spec["notebook"], spec["parameters"], run_dir, on_progress=publisher(spec["name"]))
    except Exception as exc:
        if disk_full(exc):  # failed.json would not fit either, and every later run would fail the same way
            raise
        cell_error = isinstance(exc, NotebookExecutionError)
        if getattr(exc, "notebook_out", None):  # where the runner kept the failed run's executed notebook
            record["notebook_out"] = str(exc.notebook_out)
        record.update(status="failed", duration_s=round(time.perf_counter() - start, 2), finished_at=_now(),
                      error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                      ename=exc.ename if cell_error else type(exc).__name__,
                      traceback=None if cell_error else traceback.format_exc())
        write_json(run_dir / "failed.json", record)
        return record
    declared = parse_parameters(spec["notebook"])
    if isinstance(result.results.get("synthetic"), bool):
        # the notebook knows what it loaded: real data that ships inside a package (no --data-dir entry) is not
        # synthetic, and paper/ must not call it so; otherwise a run without a data set counts as synthetic
        record["synthetic"] = result.results["synthetic"]
    record.update(status="ok", duration_s=round(result.duration_s, 2), finished_at=_now(),
                  parameters=result.parameters,
                  effective_parameters={**{n: p.default for n, p in declared.items()}, **result.parameters})
    mark_finished(run_dir, record)  # last: its presence means every other output is complete
    return record


# -- the command --------------------------------------------------------------------------------------
@dataclass
class ReproduceReport:
    config: Config
    records: list[dict]
    summary_path: Path | None = None
    paper: Any = None
    #: runs of the config on record whose results cannot be drawn (failed, or lost since): name -> why
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] == "failed"]


def _worker_env(jobs: int, scheduler: str | None) -> dict[str, str]:
    """Thread limits so ``jobs`` local runs share the cores instead of each taking all of them."""
    from ._env import ENV_DEFAULTS

    env = dict(ENV_DEFAULTS)
    if scheduler is None and jobs > 1:
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        env.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=threads,
                   XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}")
    return env


def reproduce(config: str | os.PathLike = "quick", data_dir: str | os.PathLike | None = None,
              only: list[str] | None = None, jobs: int = 1, scheduler: str | None = None, force: bool = False,
              out: str | os.PathLike = "runs/reproduce", paper_dir: str | os.PathLike | None = "paper",
              progress: bool | None = None, log=print) -> ReproduceReport:
    """Plan, execute what is not cached, write ``<out>/reproduce-<config>.json`` and build ``paper_dir``.

    Configuration, parameter and data problems raise before any run starts, and so does a ``scheduler`` that
    cannot be reached (:class:`relmask.executor.ClusterError`). With ``only``, the records of the runs not
    selected are kept in ``reproduce-<config>.json`` (re-verified on disk), and ``paper_dir`` is built from all
    of them, so selecting some runs never removes the others' figures; a run of the config whose results are gone
    (or that failed) keeps its earlier outputs in ``paper_dir``, and ``report.missing`` names it.

    Ctrl-C (or SIGTERM, where the caller turns it into :class:`relmask.errors.RunInterrupted`) raises
    :class:`ReproduceInterrupted`, a full disk :class:`DiskFullError`: both name the runs that are finished and
    kept (their ``done.json``), so calling ``reproduce`` again resumes.
    """
    from .runner import prepare_output_dir

    if not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be a whole number of at least 1, got {jobs!r}")
    cfg = load_config(config)
    selected = select_runs(cfg, only)
    specs = plan(cfg, selected, out, data_dir if data_dir is not None else default_data_dir(), force=force,
                 env=_worker_env(jobs, scheduler))
    try:
        prepare_output_dir(Path(out).resolve())
    except ParameterError as exc:
        raise OutputError(f"--out: {exc}") from None
    records: dict[str, dict] = {}
    todo = []
    for spec in specs:
        if spec["cached"]:
            records[spec["name"]] = {**spec["cached"], "status": "cached"}
        else:
            todo.append(spec)
    log(f"relmask reproduce --config {cfg.name}: {len(specs)} runs, {len(specs) - len(todo)} cached, "
        f"{len(todo)} to execute")

    def state() -> tuple[list[str], list[str], list[str]]:
        status = {s["name"]: records.get(s["name"], {}).get("status") for s in specs}
        return ([n for n, st in status.items() if st in ("ok", "cached")],
                [n for n, st in status.items() if st == "failed"], [n for n, st in status.items() if st is None])

    try:
        if todo:
            _execute_all(todo, records, jobs, scheduler, progress, log)
        ordered = [records[s["name"]] for s in specs]
        report = ReproduceReport(cfg, ordered)
        report.summary_path, every_run = write_summary(cfg, ordered, Path(out), log)
        report.missing = {r["name"]: unusable_reason(r) for r in every_run if r["status"] not in USABLE}
        if paper_dir is not None:
            from .figures import build_paper

            usable = [r for r in every_run if r["status"] in USABLE]
            if usable:
                try:
                    report.paper = build_paper(usable, paper_dir, config=cfg.name, missing=report.missing,
                                               command=" ".join(["relmask", *sys.argv[1:]]) if sys.argv else None)
                except OSError as exc:
                    raise OutputError(f"cannot write the paper directory {paper_dir}: "
                                      f"{exc.strerror or exc} ({exc.filename or paper_dir})") from exc
            never = [run.name for run in cfg.runs if run.name not in {r["name"] for r in every_run}]
            if never:
                log(f"note: {paper_dir} has nothing yet from runs that never ran: {_names(never)}")
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM made an interrupt by cmd_reproduce
        raise ReproduceInterrupted(getattr(exc, "signum", signal.SIGINT), *state()) from exc
    except Exception as exc:
        if disk_full(exc):
            raise DiskFullError(exc, *state()) from exc
        raise
    return report


def _execute_all(todo: list[dict], records: dict[str, dict], jobs: int, scheduler: str | None,
                 progress: bool | None, log) -> None:
    """Execute ``todo`` (in-process or on Dask) and put each run's record into ``records`` as it finishes."""
    from .executor import make_executor
    from .progress import RunDisplay, progress_bar, showing

    executor = make_executor(jobs, scheduler)
    disable = None if progress is None else not progress  # None: on only when interactive
    # each run's stages (relmask.progress), live or one line per finished stage, from kernels and workers
    display = RunDisplay(live=progress, enabled=progress is not False, file=sys.stderr)
    executor.subscribe_progress(display.dask_handler)
    with executor:  # connects first: an unreachable scheduler fails here, before any run starts
        log(f"executing on {executor.description}")
        with progress_bar(total=len(todo), desc="runs", unit="run", disable=disable, file=sys.stderr) as bar, \
                showing(display):
            for spec, record, error in executor.map_unordered(execute_run, todo):
                display.finish(spec["name"])
                if error is not None:  # the worker itself died: there is no record from inside the run
                    if disk_full(error):  # every later run would fail the same way: stop here
                        raise error
                    record = {k: v for k, v in spec.items() if k not in ("env", "force", "cached")}
                    record.update(status="failed", error=f"{type(error).__name__}: {error}", duration_s=None,
                                  notebook_out=str(Path(spec["run_dir"]) / Path(spec["notebook"]).name))
                records[spec["name"]] = record
                bar.write(f"{record['status']:>6}  {spec['name']}"
                          + (f"  ({record['duration_s']:.0f} s)" if record.get("duration_s") else "")
                          + (f"  {record['error']}" if record["status"] == "failed" else ""))
                bar.update()


#: statuses of a run record whose results can be drawn
USABLE = ("ok", "cached")


def unusable_reason(record: dict) -> str:
    """Why a run on record cannot be drawn: it failed, or its results are gone (status ``lost``)."""
    if record.get("status") == "failed":
        return f"it failed ({record.get('error') or 'see its failed.json'})"
    return record.get("error") or f"no finished run in {record.get('run_dir')}"


def write_summary(cfg: Config, records: list[dict], out: Path, log=print) -> tuple[Path, list[dict]]:
    """Write ``<out>/reproduce-<config>.json``: ``records`` merged into the records already there.

    Runs of the config that this reproduction did not select (``--only``) keep their earlier record when their
    run directory still holds intact results (:func:`relmask.cache.finished_run`); one that does not stays on
    record with status ``lost`` and the reason, and a message says how to recompute it (``relmask figures`` and
    ``paper/`` then know that the run exists and cannot be drawn). An earlier failure stays on record until the
    run is tried again. Concurrent reproductions of the same config on the same ``out`` merge one after the other
    (a lock beside the file). Returns the path and every run's record, in config order.
    """
    from .cache import file_lock, finished_run
    from .io import read_json, write_json

    path = out / f"reproduce-{cfg.name}.json"
    try:
        with file_lock(path.with_name(path.name + ".lock")):
            try:
                previous = read_json(path, default={}) or {}
            except ValueError as exc:
                log(f"warning: earlier run records {path} are unreadable ({exc}); writing them anew")
                previous = {}
            fresh = {r["name"]: r for r in records}
            kept = {}
            if isinstance(previous, dict) and previous.get("config_path") == str(cfg.path):
                for r in previous.get("runs") or []:
                    if not isinstance(r, dict) or r.get("name") in fresh:
                        continue
                    if r.get("status") not in (*USABLE, "lost"):
                        kept[r.get("name")] = r  # an earlier failure stays on record until it is rerun
                        continue
                    with warnings.catch_warnings(record=True) as why:
                        warnings.simplefilter("always")
                        done = finished_run(r.get("run_dir", ""), r.get("key"))
                    if done is not None:  # intact (again: a lost run whose results were put back)
                        kept[r["name"]] = {**done, "status": "cached"}
                        continue
                    if r.get("status") == "lost":
                        kept[r["name"]] = r
                        continue
                    reason = str(why[-1].message) if why else f"no finished run in {r.get('run_dir')}"
                    kept[r["name"]] = {**r, "status": "lost", "error": reason}
                    log(f"warning: run {r.get('name')!r} cannot be drawn: {reason}; its earlier outputs in "
                        f"paper/ are kept; recompute it with --only {r.get('name')}")
            every = [fresh.get(run.name) or kept.get(run.name) for run in cfg.runs]
            every = [r for r in every if r is not None]
            written = write_json(path, {"config": cfg.name, "config_path": str(cfg.path), "finished_at": _now(),
                                        "runs": every})
    except OSError as exc:
        raise OutputError(f"cannot write the run records {path}: {exc.strerror or exc}") from exc
    return written, every


def format_summary(records: list[dict]) -> str:
    """The table that ends ``relmask reproduce``: name, status, duration, key, path."""
    rows = [("name", "status", "duration", "key", "path")]
    for r in records:
        dur = "-" if r.get("duration_s") is None else f"{r['duration_s']:.1f} s"
        path = r.get("notebook_out") if r["status"] == "failed" else r.get("run_dir")
        rows.append((r["name"], r["status"], dur, r["key"], str(path)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    for r in records:
        if r["status"] == "failed":
            lines.append(f"FAILED {r['name']}: {r.get('error')}\n  executed notebook: {r.get('notebook_out')}")
    return "\n".join(lines)


def _command(args, only: list[str] | None = None) -> str:
    """The ``relmask reproduce`` command line of ``args`` (without ``--force``: it would recompute finished runs),
    with ``only`` instead of the given ``--only`` when set: what resumes or completes this reproduction."""
    words = ["relmask", "reproduce", "--config", str(args.config)]
    for flag, value, default in (("--data-dir", args.data_dir, None), ("--jobs", args.jobs, 1),
                                 ("--scheduler", args.scheduler, None), ("--out", args.out, "runs/reproduce"),
                                 ("--paper", args.paper, "paper")):
        if value is not None and value != default:
            words += [flag, str(value)]
    for name in (only if only is not None else args.only) or []:
        words += ["--only", name]
    if args.no_figures:
        words.append("--no-figures")
    return shlex.join(words)


def _stop_reason(signum: int) -> str:
    return {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}.get(
        signum, f"stopped by {signal.Signals(signum).name}")


def cmd_reproduce(args) -> int:
    debug = getattr(args, "debug", False) or os.environ.get(DEBUG_ENV, "0") not in ("", "0")

    def fail(message: str, code: int) -> int:
        if debug:  # the traceback behind the one line
            traceback.print_exc()
        print(f"relmask reproduce: {message}", file=sys.stderr, flush=True)
        return code

    try:
        with sigterm_interrupts():
            report = reproduce(args.config, data_dir=args.data_dir, only=args.only, jobs=args.jobs,
                               scheduler=args.scheduler, force=args.force, out=args.out,
                               paper_dir=None if args.no_figures else args.paper)
    except ReproduceInterrupted as exc:
        return fail(f"{_stop_reason(exc.signum)}; {exc.kept()}. Resume with the same command: {_command(args)}",
                    128 + exc.signum)
    except KeyboardInterrupt as exc:  # while checking the config, before any run started
        signum = getattr(exc, "signum", signal.SIGINT)
        return fail(f"{_stop_reason(signum)} before any run started; nothing was run", 128 + signum)
    except DiskFullError as exc:
        return fail(f"error: {exc}; {exc.kept()}. Free some space, then resume with the same command: "
                    f"{_command(args)}", 1)
    except (RelmaskError, FileNotFoundError) as exc:
        return fail(f"error: {exc}", 2)
    except OSError as exc:  # anything unforeseen on the filesystem: one line naming the file, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(f"error: {where}{exc.strerror or exc}", 2)
    print(format_summary(report.records))
    print(f"run records: {report.summary_path}")
    if report.paper is not None:
        print(f"paper: {report.paper.manifest_path.parent} ({len(report.paper.figures)} figures, "
              f"{len(report.paper.tables)} tables)")
    if report.missing and not args.no_figures:
        from .figures import incomplete_message

        print(f"relmask reproduce: {incomplete_message(report.paper, report.missing, args.paper)} Recompute "
              f"with: {_command(args, only=list(report.missing))}", file=sys.stderr)
        return 1
    return 1 if report.failed else 0


def add_subcommand(sub) -> None:
    p = sub.add_parser("reproduce", help="run every experiment notebook of a config (cached), then build paper/",
                       description="Run the notebooks of a reproduce configuration with caching and resume, "
                                   "on Dask for --jobs > 1 or --scheduler, then build the paper figures. See "
                                   "docs/reproduce.md.")
    p.add_argument("--config", default="quick", help="quick (synthetic data, minutes), full (real data) or a "
                                                     "YAML file (default quick)")
    p.add_argument("--data-dir", default=None, help=f"directory holding the real data sets (default "
                                                    f"${DATA_DIR_ENV} or ./data)")
    p.add_argument("--only", action="append", metavar="NAME", help="run only this run / sweep point / config "
                                                                  "entry / glob (repeatable)")
    p.add_argument("--jobs", type=int, default=1, help="parallel runs on a local Dask cluster (default 1: "
                                                       "in-process)")
    p.add_argument("--scheduler", default=None, metavar="ADDR", help="an existing Dask scheduler, e.g. "
                                                                    "tcp://host:8786 or a dask-jobqueue cluster's "
                                                                    "scheduler_address (needs a shared filesystem)")
    p.add_argument("--force", action="store_true", help="recompute runs even when a finished run is cached")
    p.add_argument("--out", default="runs/reproduce", help="where runs and the cache go (default runs/reproduce)")
    p.add_argument("--paper", default="paper", help="where figures, tables and manifest.json go (default paper)")
    p.add_argument("--no-figures", action="store_true", help="skip building the paper figures")
    p.add_argument("--debug", action="store_true", help=f"show the traceback behind an error or interrupt "
                                                        f"(also: {DEBUG_ENV}=1)")
    p.set_defaults(func=cmd_reproduce)
