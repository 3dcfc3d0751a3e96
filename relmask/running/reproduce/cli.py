"""The ``relmask reproduce`` command: its options, and one line for each way it can end."""
from __future__ import annotations

import os
import shlex
import signal
import sys
import traceback

from relmask.errors import RelmaskError, sigterm_interrupts
from relmask.running.reproduce.errors import DiskFullError, ReproduceInterrupted
from relmask.running.reproduce.plan import DATA_DIR_ENV
from relmask.running.reproduce.run import reproduce
from relmask.running.reproduce.summary import format_summary

#: set (to anything but 0) to see the traceback behind the one-line messages of ``relmask reproduce``
DEBUG_ENV = "RELMASK_DEBUG"


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
    reasons: dict[int, str] = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}
    return reasons.get(signum, f"stopped by {signal.Signals(signum).name}")


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
        from relmask.running.figures import incomplete_message

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
