"""The ``relmask`` command: ``plugins``, ``list``, ``run`` here; ``reproduce``, ``figures``, ``notebooks`` and
``check`` beside their implementations (each module's ``add_subcommand``, listed once in :func:`build_parser`).

Heavy imports (TensorFlow, papermill) happen inside the commands that need them, so ``relmask plugins``
answers in well under a second.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from relmask import __version__
from relmask.plugin_system.kinds import KINDS


def _fail(message: str, code: int = 2) -> int:
    print(f"relmask: error: {message}", file=sys.stderr)
    return code


# -- plugins / list ------------------------------------------------------------------------------------
def cmd_plugins(args) -> int:
    from relmask.plugin_system.plugins import plugin_infos

    infos = plugin_infos()
    if args.json:
        print(json.dumps([{"name": i.name, "version": i.version, "builtin": i.builtin,
                           "hooks": i.registered, "error": i.error} for i in infos], indent=2))
        return 0
    for i in infos:
        tag = "built-in" if i.builtin else "plugin"
        print(f"{i.name} {i.version} ({tag})" + (f"  FAILED: {i.error}" if i.error else ""))
        for hook, names in i.registered.items():
            print(f"    {hook}: {', '.join(names) or '-'}")
    return 0


def cmd_list(args) -> int:
    from relmask.plugin_system.plugins import registry

    out = {}
    for kind in KINDS:
        if args.kind not in (None, kind.cli_word):
            continue
        reg = registry(kind)
        out[kind.cli_word] = {n: dict(reg.get(n).metadata(), plugin=reg.entries[n].plugin,
                                      aliases=list(reg.entries[n].aliases)) for n in reg.names()}
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    for word, entries in out.items():
        print(f"{word}:")
        for name, meta in entries.items():
            alias = f" (aliases: {', '.join(meta['aliases'])})" if meta["aliases"] else ""
            print(f"  {name}{alias} — {meta['description']}  [{meta['plugin']}]")
            if meta.get("needs"):
                print(f"      needs: {', '.join(meta['needs'])}")
            if meta.get("notebook"):  # experiments: where to open it, and what `--preset` / `--config` take
                print(f"      notebook: {meta['notebook']}")
                print(f"      presets: {', '.join(meta['presets']) or '-'}"
                      + (f"; reproduce configs: {', '.join(meta['reproduce_configs'])}"
                         if meta.get("reproduce_configs") else ""))
            for p in meta["params"]:
                rng = f" {p['range']}" if p.get("range") else ""  # e.g. 'float [0, 1]', 'float >= 0'
                print(f"      {p['name']}: {p['type']}{rng} = {p['default']!r}  {p['help']}")
    return 0


# -- run -----------------------------------------------------------------------------------------------
def collect_parameters(notebook: Path, pairs: list[list[str]], files: list[str]) -> dict:
    """``-f`` YAML files first (in order), then ``-p NAME VALUE`` pairs on top."""
    from relmask.errors import ParameterError
    from relmask.io import read_yaml
    from relmask.running.runner import coerce_cli_value

    params: dict = {}
    for f in files or []:
        loaded = read_yaml(f, what="parameters file") or {}
        if not isinstance(loaded, dict):
            raise ParameterError(f"{f}: a parameters file must hold a mapping NAME: VALUE")
        params.update(loaded)
    for name, raw in pairs or []:
        params[name] = coerce_cli_value(notebook, name, raw)
    return params


def cmd_run(args) -> int:
    from relmask.errors import DataError, NotebookExecutionError, OutputBusyError, ParameterError, UnknownNameError
    from relmask.running.runner import describe_parameters, is_interactive, resolve_notebook

    if args.notebook is None:
        if args.help:
            args.parser.print_help()
            return 0
        return _fail("run: give a notebook or an experiment's name (`relmask list experiments`)")
    try:
        nb, exp = resolve_notebook(args.notebook)
    except FileNotFoundError as exc:
        return _fail(str(exc))
    if not nb.exists():
        return _fail(f"notebook not found: {nb}")
    out = None
    try:
        if args.help:
            print(describe_parameters(nb, exp))
            print("\n" + args.parser.format_help())
            return 0
        files = list(args.parameters_file or [])
        if args.preset:  # a preset the notebook's experiment ships, applied before -f files and -p values
            if exp is None:
                return _fail(f"--preset {args.preset}: {nb} is not a registered experiment's notebook (use -f FILE)")
            files.insert(0, str(exp.preset(args.preset)))
        params = collect_parameters(nb, args.parameters, files)
        # one folder per run: -o, else the output_dir the parameters (a preset, -f, -p) name, else runs/<stem>
        out = Path(args.output or params.get("output_dir") or Path("runs") / nb.stem)
        result = _run_with_display(nb, exp, params, out, args, progress=is_interactive())
    except NotebookExecutionError as exc:  # a cell failed, or the run's headline results are not finite
        return _fail(str(exc), code=1)
    except (ParameterError, DataError, ValueError, FileNotFoundError, UnknownNameError, OutputBusyError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (RunInterrupted)
        signum = getattr(exc, "signum", 2)  # 2: SIGINT
        what = "interrupted" if signum == 2 else f"terminated ({exc.args[0]})"
        return _fail(f"run {what}; {_kept(out, nb)}; rerun the same command to run it again", code=128 + signum)
    except OSError as exc:  # a full disk, a vanished folder ...: one line saying what is kept, not a traceback
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return _fail(f"run failed: {where}{exc.strerror or exc}; {_kept(out, nb)}; free the space (or fix the "
                     "folder) and rerun the same command", code=1)
    print(f"executed notebook: {result.notebook_out}")
    print(f"results: {result.results_path} ({len(result.results)} values, {result.duration_s:.1f} s)")
    return 0


def _run_with_display(nb: Path, exp, params: dict, out: Path, args, progress: bool):
    """``run_notebook`` with the kernel's stages shown live on a terminal (one line per stage otherwise) and its
    warnings relayed once each; SIGTERM ends it like Ctrl-C."""
    from relmask.errors import sigterm_interrupts
    from relmask.running.progress import RunDisplay
    from relmask.running.runner import run_notebook

    display = RunDisplay(file=sys.stderr)
    try:
        with sigterm_interrupts():
            return run_notebook(nb, params, out, kernel_name=args.kernel, progress=progress and not display.live,
                                log_output=args.log_output, on_progress=lambda event: display.event(nb.stem, event),
                                experiment=exp)
    finally:
        display.close()


def _kept(out: Path | None, nb: Path) -> str:
    """What an interrupted or failed ``relmask run`` left: the previous run in ``out``, and this one's notebook."""
    from relmask.running.runner import failed_name

    failed = None if out is None else out / failed_name(nb.name)
    kept = []
    if out is not None and (out / "results.json").exists():
        kept.append(f"the previous run in {out} is kept as it was")
    if failed is not None and failed.exists():
        kept.append(f"this run's notebook so far: {failed}")
    return "; ".join(kept) or "nothing was written"


def add_subcommand(sub) -> None:
    """``plugins``, ``list`` and ``run``: the commands defined in this module."""
    p = sub.add_parser("plugins", help="list installed plugins, their versions and what they register")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("list", help=f"list the registered {', '.join(kind.cli_word for kind in KINDS)} with their "
                                    "parameters")
    p.add_argument("kind", nargs="?", choices=[kind.cli_word for kind in KINDS])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", add_help=False, help="execute a notebook with strictly checked parameters",
                       description="Execute NOTEBOOK (a path, or the name of an experiment: `relmask list "
                                   "experiments`) with papermill. `relmask run NOTEBOOK --help` lists its "
                                   "parameters.")
    p.add_argument("notebook", nargs="?", help="an .ipynb file or an experiment's name")
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="set a parameter (VALUE parsed as YAML unless the parameter is a str)")
    p.add_argument("-f", "--parameters-file", action="append", metavar="YAML", help="parameters from a YAML file")
    p.add_argument("-P", "--preset", metavar="NAME", help="an experiment's preset by name (quick, full, real, ...; "
                                                          "`relmask list experiments`), before -f and -p")
    p.add_argument("-o", "--output", metavar="OUTDIR", help="where everything the run writes goes: the executed "
                                                           "notebook, results.json, figures (wins over an output_dir "
                                                           "parameter; default: that parameter, else "
                                                           "runs/<notebook stem>)")
    p.add_argument("-k", "--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    p.add_argument("--log-output", action="store_true", help="stream cell output to the terminal")
    p.add_argument("-h", "--help", action="store_true", help="show the notebook's parameters (and these options) "
                                                            "and exit")
    p.set_defaults(func=cmd_run, parser=p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relmask", description="Relevance-based masking, reproducibly.")
    parser.add_argument("--version", action="version", version=f"relmask {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    # every subcommand is defined beside its implementation by that module's add_subcommand(sub), which adds its
    # parser with set_defaults(func=...); the modules import their heavy dependencies only inside the command
    from relmask import testing
    from relmask.running import figures, jupyter, reproduce

    for module in (sys.modules[__name__], reproduce, figures, jupyter, testing):
        module.add_subcommand(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `relmask plugins --json | head`: the reader is gone, which is no error of ours
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null, so the interpreter's final flush raises nothing."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured in tests): nothing will be flushed to a pipe
        pass


if __name__ == "__main__":
    sys.exit(main())
