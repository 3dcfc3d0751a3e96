"""``relmask reproduce``: run every experiment notebook of a configuration, cached, then build ``paper/``.

A configuration (one a plugin registers, such as the built-in ``quick``, ``full`` and ``real``, or a user file)
lists named runs; a run is an experiment (any installed plugin's, ``relmask list experiments``) or a notebook, with
parameters (a preset, explicit values and an optional grid over values). Each run is keyed
(:func:`relmask.running.run_records.run_key`) and executes into ``<out>/runs/<name>-<key>/``; a ``done.json``
written last marks it finished, so an interrupted reproduction resumes where it stopped and a repeated one recomputes
nothing. Runs execute through :mod:`relmask.running.executor` (in-process, a local Dask cluster, or a scheduler);
a failing run is reported with its executed notebook and does not stop the others. See docs/reproduce.md.

One job per module: :mod:`~relmask.running.reproduce.config` (find, parse and select),
:mod:`~relmask.running.reproduce.plan`
(data and parameter checks, keys), :mod:`~relmask.running.reproduce.execute` (one run under its lock; all of them on an
executor), :mod:`~relmask.running.reproduce.summary` (``reproduce-<config>.json``, the closing table),
:mod:`~relmask.running.reproduce.run` (:func:`reproduce`, which strings them together),
:mod:`~relmask.running.reproduce.cli`
(the command) and :mod:`~relmask.running.reproduce.errors`. This package re-exports their public names; code that
replaces one (a test's monkeypatch) patches the module that uses it, e.g.
``relmask.running.reproduce.execute.execute_run``.
"""
from __future__ import annotations

from relmask.running.reproduce.cli import DEBUG_ENV, add_subcommand, cmd_reproduce
from relmask.running.reproduce.config import (
    LOCATION_PARAMS,
    Config,
    DataSpec,
    RunSpec,
    config_path,
    known_configs,
    load_config,
    select_runs,
)
from relmask.running.reproduce.errors import ConfigError, DiskFullError, OutputError, ReproduceInterrupted, disk_full
from relmask.running.reproduce.execute import execute_run
from relmask.running.reproduce.plan import DATA_DIR_ENV, check_data, default_data_dir, plan
from relmask.running.reproduce.run import ReproduceReport, reproduce
from relmask.running.reproduce.summary import format_summary, write_summary
from relmask.running.run_records import POINT_SEPARATOR, PROJECT_ROOT, USABLE, point_label, unusable_reason

__all__ = [
    "DATA_DIR_ENV", "DEBUG_ENV", "LOCATION_PARAMS", "POINT_SEPARATOR", "PROJECT_ROOT", "USABLE", "Config",
    "ConfigError", "DataSpec", "DiskFullError", "OutputError", "ReproduceInterrupted", "ReproduceReport", "RunSpec",
    "add_subcommand", "check_data", "cmd_reproduce", "config_path", "default_data_dir", "disk_full",
    "execute_run", "format_summary", "known_configs", "load_config", "plan", "point_label", "reproduce",
    "select_runs", "unusable_reason", "write_summary",
]
