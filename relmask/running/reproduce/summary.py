"""The run records a reproduction leaves: ``<out>/reproduce-<config>.json`` and the table that ends the command."""
from __future__ import annotations

import warnings
from pathlib import Path

from relmask.running.reproduce.config import Config
from relmask.running.reproduce.errors import OutputError
from relmask.running.run_records import USABLE, timestamp


def write_summary(cfg: Config, records: list[dict], out: Path, log=print) -> tuple[Path, list[dict]]:
    """Write ``<out>/reproduce-<config>.json``: ``records`` merged into the records already there.

    Runs of the config that this reproduction did not select (``--only``) keep their earlier record when their
    run directory still holds intact results (:func:`relmask.running.run_records.finished_run`); one that does not
    stays on
    record with status ``lost`` and the reason, and a message says how to recompute it (``relmask figures`` and
    ``paper/`` then know that the run exists and cannot be drawn). An earlier failure stays on record until the
    run is tried again. Concurrent reproductions of the same config on the same ``out`` merge one after the other
    (a lock beside the file). Returns the path and every run's record, in config order.
    """
    from relmask.io import read_json, write_json
    from relmask.running.locks import file_lock
    from relmask.running.run_records import finished_run

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
            found = [fresh.get(run.name) or kept.get(run.name) for run in cfg.runs]
            every = [r for r in found if r is not None]
            written = write_json(path, {"config": cfg.name, "config_path": str(cfg.path), "finished_at": timestamp(),
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
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4] for row in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    for r in records:
        if r["status"] == "failed":
            lines.append(f"FAILED {r['name']}: {r.get('error')}\n  executed notebook: {r.get('notebook_out')}")
    return "\n".join(lines)
