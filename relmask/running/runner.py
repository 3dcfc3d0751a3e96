"""Execute a parameterised notebook with papermill, strictly.

papermill only warns about a parameter the notebook does not declare and never checks types; a typo then
silently runs the defaults. ``check_parameters`` rejects both before a kernel starts. Parameters are read
from the cell tagged ``parameters`` with ``ast`` (papermill's own inspector drops ``str | None`` annotations):
each top-level ``name[: annotation] = literal  # help`` is one parameter.
"""
from __future__ import annotations

import ast
import contextlib
import difflib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from relmask._env import ENV_DEFAULTS
from relmask._env import apply_defaults as apply_env_defaults
from relmask.errors import (
    NonFiniteResultError,
    NotebookExecutionError,
    OutputBusyError,
    ParameterError,
    UnknownNameError,
)
from relmask.plugin_system.plugins import experiment_for
from relmask.running.progress import relay as progress_relay
from relmask.running.results import RESULTS_ENV, headline_problems, load_results

#: set in every kernel's environment unless the caller set them (defined once, in relmask._env)
KERNEL_ENV_DEFAULTS = ENV_DEFAULTS

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (float, int), "str": (str,), "bool": (bool,), "list": (list, tuple),
    "tuple": (tuple, list), "dict": (dict,), "None": (type(None),),
}


@dataclass
class NotebookParam:
    name: str
    type_names: tuple[str, ...]  # empty = any type
    default: Any
    help: str = ""

    def accepts(self, value: Any) -> bool:
        if not self.type_names:
            return True
        for tn in self.type_names:
            types = _TYPES.get(tn)
            if types is None:
                return True  # an annotation relmask does not model: do not second-guess it
            if isinstance(value, bool) and bool not in types:
                continue
            if isinstance(value, types):
                return True
        return False

    @property
    def type_label(self) -> str:
        return " | ".join(self.type_names) or "any"


@dataclass
class RunResult:
    notebook_out: Path
    results: dict
    results_path: Path
    duration_s: float
    parameters: dict = field(default_factory=dict)


def _annotation_types(node: ast.expr | None, default: Any) -> tuple[str, ...]:
    if node is None:  # no annotation: the default's type, any type when the default is None
        if default is None:
            return ()
        return (type(default).__name__,)
    names: list[str] = []

    def walk(n: ast.expr) -> None:
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, ast.Constant) and n.value is None:
            names.append("None")
        elif isinstance(n, ast.Name):
            names.append(n.id)
        elif isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name):
            if n.value.id == "Optional":
                walk(n.slice)
                names.append("None")
            elif n.value.id == "Union":
                for e in (n.slice.elts if isinstance(n.slice, ast.Tuple) else [n.slice]):
                    walk(e)
            else:
                names.append(n.value.id)  # list[int] -> list
        elif isinstance(n, ast.Attribute):
            names.append(n.attr)
        else:
            names.append(ast.unparse(n))

    walk(node)
    return tuple(dict.fromkeys(n.lower() if n in ("List", "Dict", "Tuple") else n for n in names))


def _parameters_cell(nb) -> tuple[int, str]:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return i, cell.source
    raise ParameterError("notebook has no cell tagged 'parameters'")


def parse_parameters(notebook: str | os.PathLike) -> dict[str, NotebookParam]:
    """The notebook's declared parameters, in order."""
    path = Path(notebook)
    nb = nbformat.read(path, as_version=4)
    _, source = _parameters_cell(nb)
    lines = source.splitlines()
    params: dict[str, NotebookParam] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, ann, value = node.target.id, node.annotation, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, ann, value = node.targets[0].id, None, node.value
        else:
            continue
        try:
            default = ast.literal_eval(value)
            types = _annotation_types(ann, default)
        except ValueError:  # an expression: shown as written, typed only by its annotation
            default = ast.unparse(value)
            types = _annotation_types(ann, None) if ann is not None else ()
        tail = lines[(node.end_lineno or node.lineno) - 1][node.end_col_offset:]  # ast.parse sets end_lineno
        help_text = tail.split("#", 1)[1].strip() if "#" in tail else ""
        params[name] = NotebookParam(name, types, default, help_text)
    return params


def resolve_notebook(notebook_or_experiment: str | os.PathLike):
    """``(notebook, experiment)`` of a notebook path (its experiment, None for a notebook no experiment registers)
    or of the name of an experiment (``relmask run whale``): the one place a name becomes an experiment, which
    the callers then pass on (:func:`check_parameters`, :func:`describe_parameters`, :func:`run_notebook`)."""
    path = Path(notebook_or_experiment)
    if path.exists() or path.suffix:
        return path, experiment_for(path)
    from relmask.plugin_system.kinds import EXPERIMENTS
    from relmask.plugin_system.plugins import registry

    reg = registry(EXPERIMENTS)
    try:
        exp = reg.get(str(notebook_or_experiment))
    except UnknownNameError:
        raise FileNotFoundError(f"notebook not found: {path} (nor an experiment of that name; experiments: "
                                f"{', '.join(reg.names()) or '(none)'})") from None
    if exp.notebook is None:
        raise FileNotFoundError(f"experiment {exp.name!r} has no notebook to run")
    return Path(exp.notebook), exp


def check_parameters(notebook: str | os.PathLike, params: dict[str, Any], experiment=None) -> dict[str, Any]:
    """Reject unknown names and wrongly typed values (before any execution); returns ``params``.

    A registered experiment's notebook (``experiment``, looked up where not given) is checked once, against the
    experiment's declared parameters (:meth:`~relmask.plugin_system.components.Experiment.configure`: names, types,
    choices,
    ranges and its ``validate()``), so a bad value fails here rather than in a cell minutes later; its parameters
    cell is generated from the same declaration (``relmask notebooks --check``). Any other notebook is checked
    against its ``parameters`` cell (names and annotated types).
    """
    exp = experiment if experiment is not None else experiment_for(notebook)
    if exp is not None and exp.config is not None:
        exp.configure(params)
    else:
        _check_against_cell(notebook, params)
    return params


def _check_against_cell(notebook: str | os.PathLike, params: dict[str, Any]) -> None:
    declared = parse_parameters(notebook)
    for name, value in params.items():
        if name not in declared:
            hint = difflib.get_close_matches(name, list(declared), n=1)
            raise ParameterError(f"{Path(notebook).name}: unknown parameter {name!r}"
                                 + (f" (did you mean {hint[0]!r}?)" if hint else "")
                                 + f"; declared: {', '.join(declared)}")
        p = declared[name]
        if not p.accepts(value):
            raise ParameterError(f"{Path(notebook).name}: parameter {name!r} must be {p.type_label}, "
                                 f"got {type(value).__name__} {value!r}")


#: how ``-p NAME VALUE`` spells None: Python's spelling besides YAML's (``null``, ``~``)
NONE_SPELLINGS = ("None", "null", "~")


def coerce_cli_value(notebook: str | os.PathLike, name: str, raw: str) -> Any:
    """A ``-p NAME VALUE`` string parsed as YAML, except where the parameter is declared ``str``.

    ``None``/``null``/``~`` give None where the parameter accepts None (``int | None``, untyped); elsewhere
    they stay text, so check_parameters names the parameter and the type it wants.
    """
    from relmask.errors import DataError
    from relmask.io import parse_yaml

    declared = parse_parameters(notebook).get(name)
    if raw in NONE_SPELLINGS and declared is not None and declared.accepts(None):
        return None
    if declared is not None and declared.type_names and set(declared.type_names) <= {"str", "None"}:
        return raw
    try:
        return parse_yaml(raw, f"YAML in -p {name}")
    except DataError as exc:
        if "duplicate key" in str(exc):  # {a: 1, a: 2}: which one was meant cannot be guessed
            raise ParameterError(f"-p {name}: {exc}") from None
        return raw  # not YAML: the text itself (check_parameters says when the parameter wants something else)


@contextlib.contextmanager
def _env(name: str, value: str):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextlib.contextmanager
def _quiet_papermill():
    """papermill's own parameter inference cannot read ``str | None`` annotations and warns about every such
    parameter ("Passed unknown parameter", "Unable to parse line"); check_parameters has already done that
    job properly, so its warnings are only noise."""
    import logging

    logger = logging.getLogger("papermill")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


#: the lock file inside a run's output folder, held while a run writes there (:func:`run_notebook`)
RUN_LOCK = ".relmask-run.lock"
#: prefix of the folders beside an output folder: a run's outputs while it runs (``-staging-``), and the
#: previous run's entries while the new ones are moved into place (``-old-``)
_STAGING, _OLD = "relmask-staging-", "relmask-old-"


def failed_name(name: str) -> str:
    """What a failed run's ``name`` is kept as in the output folder: ``whale.ipynb`` -> ``whale.failed.ipynb``."""
    path = Path(name)
    return f"{path.stem}.failed{path.suffix}"


def run_notebook(notebook: str | os.PathLike, parameters: dict[str, Any] | None = None,
                 output_dir: str | os.PathLike = "runs", kernel_name: str | None = None,
                 progress: bool = False, log_output: bool = False,
                 on_progress: Callable[[dict], Any] | None = None, experiment=None) -> RunResult:
    """Execute ``notebook`` into ``output_dir`` (executed notebook + results.json + whatever the notebook writes).

    Everything a run produces lands below ``output_dir``: it is the notebook's ``output_dir`` parameter where the
    notebook declares one, whatever ``parameters`` say. The run writes into a fresh folder beside ``output_dir``
    and its entries are moved into ``output_dir`` only when it succeeded, replacing those of the previous run
    (other files there are left alone); paths into that folder in ``results.json`` and the executed notebook
    name their final place. A failed or interrupted run leaves the previous run as it was, plus its executed
    notebook and results as ``<name>.failed.ipynb`` and ``results.failed.json``. One run at a time per folder:
    a second one raises :class:`OutputBusyError` before a kernel starts.

    Raises :class:`NotebookExecutionError` naming the failing cell. The kernel talks over IPC sockets
    (:mod:`relmask.running.jupyter`). ``on_progress`` receives the kernel's :mod:`relmask.running.progress` events live.
    ``experiment``: the notebook's experiment where the caller has resolved it (:func:`resolve_notebook`).
    """
    notebook = Path(notebook)
    if not notebook.exists():
        raise FileNotFoundError(f"notebook not found: {notebook}")
    params = dict(parameters or {})
    out_dir = Path(output_dir).resolve()
    declares_output = "output_dir" in parse_parameters(notebook)
    if declares_output:  # the run's folder wins over an output_dir a preset or a parameters file sets
        params["output_dir"] = str(out_dir)
    check_parameters(notebook, params, experiment)
    nb_out = out_dir / notebook.name
    if nb_out.exists() and nb_out.samefile(notebook):
        raise ParameterError(f"output directory {out_dir} is the notebook's own folder: the executed notebook "
                             f"would overwrite the source {notebook}; choose another -o/output_dir")
    prepare_output_dir(out_dir)
    with output_lock(out_dir):
        _clean_leftovers(out_dir)
        staging = _staging_dir(out_dir)
        try:
            return _execute(notebook, params, out_dir, staging, declares_output, kernel_name, progress,
                            log_output, on_progress)
        finally:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)


def _execute(notebook: Path, params: dict, out_dir: Path, staging: Path, declares_output: bool, kernel_name,
             progress: bool, log_output: bool, on_progress) -> RunResult:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from relmask.running.jupyter import RelmaskKernelManager

    kernel_params = {**params, "output_dir": str(staging)} if declares_output else params
    staged_nb, staged_results = staging / notebook.name, staging / "results.json"
    apply_env_defaults()  # the kernel inherits this process's environment
    start = time.perf_counter()
    relay = progress_relay(on_progress) if on_progress is not None else contextlib.nullcontext()
    with _env(RESULTS_ENV, str(staged_results)), _quiet_papermill(), relay:
        try:
            pm.execute_notebook(str(notebook), str(staged_nb), parameters=kernel_params, kernel_name=kernel_name,
                                progress_bar=progress, log_output=log_output,
                                kernel_manager_class=RelmaskKernelManager)  # the caller's cwd: relative
            # paths given on the command line mean what they mean in the shell
        except PapermillExecutionError as exc:
            failed = _keep_failed(staging, out_dir, notebook.name)
            index = _source_cell_index(notebook, exc.cell_index, exc.source)
            # the source notebook's position counts every cell from 1 (markdown too); the execution count is
            # what the executed notebook shows: neither is papermill's index, which counts its injected cell
            where = (f"cell #{index + 1} of the source notebook (In [{exc.exec_count}] in the executed one)"
                     if index is not None else f"the injected parameters cell (In [{exc.exec_count}])")
            raise NotebookExecutionError(
                f"{notebook.name}: {where} failed: {exc.ename}: {exc.evalue}\nexecuted notebook: {failed}",
                cell=exc.exec_count, ename=exc.ename, evalue=exc.evalue, notebook_out=failed,
                cell_index=index) from exc
        except BaseException:  # Ctrl-C, SIGTERM, a full disk ...: the previous run stays; keep what this one did
            _keep_failed(staging, out_dir, notebook.name)
            raise
    problems = headline_problems(load_results(staged_results))
    if problems:  # the run "worked" but its headline numbers are NaN/inf: never let it pass as a result
        failed = _keep_failed(staging, out_dir, notebook.name)
        kept_results = out_dir / failed_name("results.json")
        raise NonFiniteResultError(
            f"{notebook.name}: non-finite headline result: {'; '.join(problems)} (in {kept_results})"
            f"\nexecuted notebook: {failed}", ename="NonFiniteResultError", evalue="; ".join(problems),
            notebook_out=failed)
    _relocate(staging, out_dir)
    _publish(staging, out_dir, notebook.name)
    results_path = out_dir / "results.json"
    return RunResult(out_dir / notebook.name, load_results(results_path), results_path,
                     time.perf_counter() - start, params)


def output_lock(out_dir: Path):
    """The lock of an output folder (:func:`relmask.running.locks.file_lock` on ``<out_dir>/.relmask-run.lock``), held
    by
    the run writing there; :class:`OutputBusyError` at once when another process holds it."""
    from relmask.running.locks import file_lock

    lock = out_dir / RUN_LOCK

    def busy():
        raise OutputBusyError(f"output directory {out_dir} is in use by another relmask run (it holds {lock}); wait "
                              "for it to finish or choose another -o/output_dir")

    return file_lock(lock, on_wait=busy)


def _staging_dir(out_dir: Path) -> Path:
    import tempfile

    try:
        return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{_STAGING}", dir=out_dir.parent))
    except OSError as exc:
        raise ParameterError(f"cannot create a folder beside the output directory {out_dir} (a run is written "
                             f"there until it succeeds): {exc.strerror or exc}") from None


def _clean_leftovers(out_dir: Path) -> None:
    """Remove what killed runs left beside ``out_dir`` (called under its lock, so no live run owns any of it). A
    previous run's entry that a killed move left aside is put back first."""
    import shutil

    for old in out_dir.parent.glob(f".{out_dir.name}.{_OLD}*"):
        for entry in old.iterdir():
            if not os.path.lexists(out_dir / entry.name):
                os.replace(entry, out_dir / entry.name)
        shutil.rmtree(old, ignore_errors=True)
    for staging in out_dir.parent.glob(f".{out_dir.name}.{_STAGING}*"):
        shutil.rmtree(staging, ignore_errors=True)


def _keep_failed(staging: Path, out_dir: Path, notebook_name: str) -> Path | None:
    """Move a failed run's executed notebook and results.json into ``out_dir`` under their failed names; the
    executed notebook's new path (None if the run wrote none)."""
    kept = None
    for name in (notebook_name, "results.json"):
        src = staging / name
        if src.is_file():
            target = out_dir / failed_name(name)
            with contextlib.suppress(OSError):  # e.g. the disk is full: the previous run must still stay intact
                os.replace(src, target)
                if name == notebook_name:
                    kept = target
    return kept


def _relocate(staging: Path, out_dir: Path) -> None:
    """Paths into ``staging`` in results.json and the executed notebooks name ``out_dir``, where they will be."""
    import json

    old, new = str(staging), str(out_dir)

    def swap(obj):
        if isinstance(obj, str):
            return obj.replace(old, new)
        if isinstance(obj, list):
            return [swap(v) for v in obj]
        if isinstance(obj, dict):
            return {k: swap(v) for k, v in obj.items()}
        return obj

    from relmask.io import atomic_write

    for path in (*staging.glob("*.ipynb"), staging / "results.json"):
        if path.is_file():
            text = path.read_text()
            if old in text:
                data = swap(json.loads(text))
                indent = 1 if path.suffix == ".ipynb" else 2  # nbformat's layout / results.json's
                atomic_write(path, json.dumps(data, indent=indent, sort_keys=True, ensure_ascii=False) + "\n")


def _publish(staging: Path, out_dir: Path, notebook_name: str) -> None:
    """Move every entry of ``staging`` into ``out_dir``, replacing the entry of that name (a file atomically; a
    folder after its predecessor was moved aside), then drop the outputs of an earlier failed attempt."""
    import shutil
    import tempfile

    aside = None
    for entry in sorted(staging.iterdir()):
        target = out_dir / entry.name
        if (os.path.isdir(target) and not os.path.islink(target)) or (entry.is_dir() and os.path.lexists(target)):
            if aside is None:
                aside = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{_OLD}", dir=out_dir.parent))
            os.replace(target, aside / entry.name)
        os.replace(entry, target)
    for name in (notebook_name, "results.json"):
        (out_dir / failed_name(name)).unlink(missing_ok=True)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def prepare_output_dir(path: Path) -> Path:
    """Create ``path`` and make sure files can be written there; a ParameterError naming it otherwise."""
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # mkdir succeeds on an existing read-only directory
            pass
    except FileExistsError:
        raise ParameterError(f"output directory {path} is a file, not a directory") from None
    except OSError as exc:  # NotADirectoryError (a parent is a file), PermissionError, read-only filesystem
        raise ParameterError(f"output directory {path} cannot be written: {exc.strerror or exc}") from None
    return path


def _source_cell_index(notebook: Path, executed_index: int, source: str) -> int | None:
    """0-based position in the *source* notebook of the cell papermill reports at ``executed_index`` of the
    executed notebook (which has an injected parameters cell); None when the failing cell is that injected one."""
    cells = nbformat.read(notebook, as_version=4).cells
    hits = [i for i, c in enumerate(cells) if c.cell_type == "code" and c.source == source]
    if not hits:
        return None
    return min(hits, key=lambda i: (abs(executed_index - 1 - i), i))  # the copy nearest the shifted position


def describe_parameters(notebook: str | os.PathLike, experiment=None) -> str:
    """The text of ``relmask run NOTEBOOK --help``: an experiment's declared parameters (with choices and ranges)
    and presets, else the notebook's ``parameters`` cell. ``experiment``: looked up where not given."""
    exp = experiment if experiment is not None else experiment_for(notebook)
    if exp is not None and exp.params:
        rows = []
        for p in exp.params:
            kind = p.type_name + (f" {p.range_text}" if p.range_text else "")
            if p.choices is not None:
                kind += " in {" + ", ".join(map(str, p.choices)) + "}"
            rows.append((p.name, kind, repr(p.default), p.help))
        head = (f"parameters of experiment {exp.name!r} ({notebook}); set with -p NAME VALUE, -f params.yaml or "
                f"--preset NAME (presets: {', '.join(sorted(exp.presets)) or '-'}):")
    else:
        rows = [(p.name, p.type_label, repr(p.default), p.help) for p in parse_parameters(notebook).values()]
        head = f"parameters of {notebook} (set with -p NAME VALUE or -f params.yaml):"
    w = [max([len(r[i]) for r in rows] + [len(h)]) for i, h in enumerate(("name", "type", "default"))]
    out = [head, ""]
    out.append(f"  {'name':<{w[0]}}  {'type':<{w[1]}}  {'default':<{w[2]}}  help")
    for r in rows:
        out.append(f"  {r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    return "\n".join(out)


def is_interactive() -> bool:
    return sys.stderr.isatty()
