"""Execution: one planned run under its lock (in a Dask worker or in-process), and all of them on an executor."""
from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from pathlib import Path

from relmask.errors import NotebookExecutionError
from relmask.running.reproduce.errors import disk_full
from relmask.running.run_records import PROJECT_ROOT, timestamp


def execute_run(spec: dict) -> dict:
    """Execute one planned run and return its record; failures are returned (status ``failed``), not raised."""
    from relmask.running.locks import file_lock, run_lock_path
    from relmask.running.run_records import finished_run

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
    from relmask.io import write_json
    from relmask.running.progress import publisher
    from relmask.running.provenance import device_info, git_info
    from relmask.running.run_records import mark_finished
    from relmask.running.runner import parse_parameters, run_notebook

    if run_dir.exists():  # leftovers of an interrupted or failed attempt must not mix with this one
        shutil.rmtree(run_dir)
    record = {k: v for k, v in spec.items() if k not in ("env", "force", "cached")}
    record.update(started_at=timestamp(), device=device_info(), git=git_info(PROJECT_ROOT),
                  notebook_out=str(run_dir / Path(spec["notebook"]).name),
                  results_path=str(run_dir / "results.json"))
    start = time.perf_counter()
    try:
        result = run_notebook(spec["notebook"], spec["parameters"], run_dir, on_progress=publisher(spec["name"]))
    except Exception as exc:  # a failing run is recorded as failed: it must not lose the others
        if disk_full(exc):  # failed.json would not fit either, and every later run would fail the same way
            raise
        cell_error = exc if isinstance(exc, NotebookExecutionError) else None
        notebook_out = getattr(exc, "notebook_out", None)
        if notebook_out:  # where the runner kept the failed run's executed notebook
            record["notebook_out"] = str(notebook_out)
        record.update(status="failed", duration_s=round(time.perf_counter() - start, 2), finished_at=timestamp(),
                      error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                      ename=cell_error.ename if cell_error is not None else type(exc).__name__,
                      traceback=None if cell_error is not None else traceback.format_exc())
        write_json(run_dir / "failed.json", record)
        return record
    declared = parse_parameters(spec["notebook"])
    if isinstance(result.results.get("synthetic"), bool):
        # the notebook knows what it loaded: real data that ships inside a package (no --data-dir entry) is not
        # synthetic, and paper/ must not call it so; otherwise a run without a data set counts as synthetic
        record["synthetic"] = result.results["synthetic"]
    record.update(status="ok", duration_s=round(result.duration_s, 2), finished_at=timestamp(),
                  parameters=result.parameters,
                  effective_parameters={**{n: p.default for n, p in declared.items()}, **result.parameters})
    mark_finished(run_dir, record)  # last: its presence means every other output is complete
    return record


def _worker_env(jobs: int, scheduler: str | None) -> dict[str, str]:
    """Thread limits so ``jobs`` local runs share the cores instead of each taking all of them."""
    from relmask._env import ENV_DEFAULTS

    env = dict(ENV_DEFAULTS)
    if scheduler is None and jobs > 1:
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        env.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=threads,
                   XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}")
    return env


def _execute_all(todo: list[dict], records: dict[str, dict], jobs: int, scheduler: str | None,
                 progress: bool | None, log) -> None:
    """Execute ``todo`` (in-process or on Dask) and put each run's record into ``records`` as it finishes."""
    from relmask.running.executor import make_executor
    from relmask.running.progress import RunDisplay, progress_bar, showing

    executor = make_executor(jobs, scheduler)
    disable = None if progress is None else not progress  # None: on only when interactive
    # each run's stages (relmask.running.progress), live or one line per finished stage, from kernels and workers
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
