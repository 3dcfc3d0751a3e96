"""Planning: check the data sets a config's runs need, check each run's parameters against its notebook, and key
each run (:func:`relmask.running.run_records.run_key`); no work is done."""
from __future__ import annotations

import os
from pathlib import Path

from relmask.errors import DataError, ParameterError, UnknownNameError
from relmask.running.reproduce.config import LOCATION_PARAMS, Config, ConfigError, RunSpec

DATA_DIR_ENV = "RELMASK_DATA_DIR"



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


def plan(config: Config, runs: list[RunSpec], out: str | os.PathLike, data_dir: str | os.PathLike,
         force: bool = False, env: dict[str, str] | None = None) -> list[dict]:
    """Checked, keyed, JSON-able specs of ``runs`` (what :func:`execute_run` receives); no work done.

    Raises before any execution on a missing data set or a parameter the notebook does not accept.
    """
    from relmask.running.provenance import (
        code_fingerprint,
        file_sha256,
        package_versions,
        path_fingerprint,
        plugin_versions,
    )
    from relmask.running.run_records import finished_run, run_key
    from relmask.running.runner import check_parameters, parse_parameters

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
