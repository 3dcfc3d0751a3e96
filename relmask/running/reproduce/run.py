"""``reproduce()``: load a config, plan it, execute what is not cached, write the run records, build ``paper/``."""
from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relmask.errors import ParameterError
from relmask.running.reproduce.config import Config, ConfigError, load_config, select_runs
from relmask.running.reproduce.errors import DiskFullError, OutputError, ReproduceInterrupted, disk_full
from relmask.running.reproduce.execute import _execute_all, _worker_env
from relmask.running.reproduce.plan import default_data_dir, plan
from relmask.running.reproduce.summary import write_summary
from relmask.running.run_records import USABLE, name_list, unusable_reason


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


def reproduce(config: str | os.PathLike = "quick", data_dir: str | os.PathLike | None = None,
              only: list[str] | None = None, jobs: int = 1, scheduler: str | None = None, force: bool = False,
              out: str | os.PathLike = "runs/reproduce", paper_dir: str | os.PathLike | None = "paper",
              progress: bool | None = None, log=print) -> ReproduceReport:
    """Plan, execute what is not cached, write ``<out>/reproduce-<config>.json`` and build ``paper_dir``.

    Configuration, parameter and data problems raise before any run starts, and so does a ``scheduler`` that
    cannot be reached (:class:`relmask.running.executor.ClusterError`). With ``only``, the records of the runs not
    selected are kept in ``reproduce-<config>.json`` (re-verified on disk), and ``paper_dir`` is built from all
    of them, so selecting some runs never removes the others' figures; a run of the config whose results are gone
    (or that failed) keeps its earlier outputs in ``paper_dir``, and ``report.missing`` names it.

    Ctrl-C (or SIGTERM, where the caller turns it into :class:`relmask.errors.RunInterrupted`) raises
    :class:`ReproduceInterrupted`, a full disk :class:`DiskFullError`: both name the runs that are finished and
    kept (their ``done.json``), so calling ``reproduce`` again resumes.
    """
    from relmask.running.runner import prepare_output_dir

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
            from relmask.running.figures import build_paper

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
                log(f"note: {paper_dir} has nothing yet from runs that never ran: {name_list(never)}")
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM made an interrupt by cmd_reproduce
        raise ReproduceInterrupted(getattr(exc, "signum", signal.SIGINT), *state()) from exc
    except Exception as exc:
        if disk_full(exc):
            raise DiskFullError(exc, *state()) from exc
        raise
    return report
