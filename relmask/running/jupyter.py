"""How relmask meets Jupyter: kernels over IPC, and notebooks saved without Python-version noise.

**Kernels.** papermill, nbclient and Jupyter servers start kernels over jupyter_client's default TCP transport:
five localhost ports any user of a shared machine can connect to, and ipykernel 7 prints "Kernel is running over
TCP without encryption … susceptible to eavesdropping" at every start. Over IPC the sockets are files in a
private folder (mode 0700): no ports, nothing for others to reach, and no cause for the warning.
:class:`RelmaskKernelManager` is what :func:`relmask.running.runner.run_notebook` uses; ``make lab`` gives JupyterLab
``LabKernelManager``. Windows' ZeroMQ has no IPC transport, so there the default (TCP) stays.

**Sources.** A notebook's source is a Jupytext percent-format ``.py`` file (``# %%`` cells, the ``parameters``
tag in the cell's metadata) paired with the ``.ipynb`` beside it (``jupytext: formats: ipynb,py:percent``), so
diffs are readable and JupyterLab opens either file. A registered experiment's ``parameters`` cell is generated
from its config dataclass (:func:`parameters_cell`), so each parameter is declared once. :func:`sync_notebook`
writes the cell and then the ``.ipynb`` from its source deterministically (cell ids ``cell-00``…, no outputs);
:func:`out_of_sync` says how a pair differs (a test runs it on every experiment's notebook); ``relmask notebooks
[--check]`` runs either on the command line.

**Saving.** A kernel reports its ``language_info`` including the Python version, and JupyterLab writes it into
every notebook it saves. The notebooks are stored with the kernel's ``language_info`` minus ``version``
(:func:`sync_notebook`); :func:`pre_save_hook` removes ``version`` again when JupyterLab saves, so opening
and saving a notebook leaves the file byte for byte as it was, whatever the Python. (Lab still flags the open
notebook as modified: its copy gained the version; what reaches the disk, and git, does not.)
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_client.manager import AsyncKernelManager
from traitlets import default

if TYPE_CHECKING:  # for type checkers the mixin is what it is mixed into: its super() calls resolve there
    _KernelManagerMixin = AsyncKernelManager
else:
    _KernelManagerMixin = object

#: the transport relmask's kernels use on this platform
TRANSPORT = "tcp" if os.name == "nt" else "ipc"


#: seconds a kernel gets to exit after a shutdown request (SIGTERM at half of it, SIGKILL at the end); a kernel
#: that imported TensorFlow needs more than jupyter_client's 5 s to run its exit handlers
SHUTDOWN_WAIT_S = 20.0


class _IPCKernel(_KernelManagerMixin):
    """Mixin for a jupyter_client kernel manager: :data:`TRANSPORT`, sockets in a private temporary folder; a
    kernel shut down by a request alone, with time to exit (:data:`SHUTDOWN_WAIT_S`)."""

    _socket_dir: str | None = None

    @default("transport")
    def _transport_default(self) -> str:
        return TRANSPORT

    @default("shutdown_wait_time")
    def _shutdown_wait_time_default(self) -> float:
        return SHUTDOWN_WAIT_S

    async def _async_interrupt_kernel(self) -> None:
        # jupyter_client sends SIGINT before every shutdown request; a kernel caught inside a message handler then
        # logs "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." (or, interrupted in a cell while its
        # sockets close, a ZMQError traceback) on the console. The shutdown request alone ends an idle kernel.
        if getattr(self, "shutting_down", False):
            return
        await super()._async_interrupt_kernel()

    interrupt_kernel = _async_interrupt_kernel  # the async managers' public name is the coroutine

    async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        # a run abandoned by Ctrl-C or SIGTERM (a KeyboardInterrupt on its way: RunInterrupted is one) has a kernel
        # busy in a cell: it is ended at once, silently, rather than asked and waited for
        if not restart and isinstance(sys.exc_info()[1], (KeyboardInterrupt, asyncio.CancelledError)):
            now = True
        await super()._async_shutdown_kernel(now=now, restart=restart)

    shutdown_kernel = _async_shutdown_kernel

    @default("ip")
    def _ip_default(self) -> str:
        if self.transport != "ipc":
            return super()._ip_default()
        # short (Unix socket paths are limited to ~104 bytes) and private; jupyter_client's own default,
        # "kernel-ipc-<n>" files in the working directory, would litter the checkout
        self._socket_dir = tempfile.mkdtemp(prefix="relmask-kernel-")
        return os.path.join(self._socket_dir, "k")

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._socket_dir and not restart:  # a restarted kernel binds the same socket paths again
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources  # the async managers' public name is the coroutine


class RelmaskKernelManager(_IPCKernel, AsyncKernelManager):
    """For nbclient and papermill (``kernel_manager_class=``)."""


def _lab_kernel_manager():
    # jupyter_server comes with the `lab` extra only: imported when a server asks for the class
    from jupyter_server.services.kernels.kernelmanager import ServerKernelManager

    class LabKernelManager(_IPCKernel, ServerKernelManager):
        """For a Jupyter server (``MappingKernelManager.kernel_manager_class``, see :func:`install_server_config`).

        Kernels start in the server's root (the repository, for ``make lab``) instead of the notebook's folder,
        so relative paths in a notebook (``runs/…``, ``notebooks/presets/…``, caches) mean what they mean for
        ``relmask run`` from the checkout, and results land in ``runs/`` as documented, not ``notebooks/runs/``.
        """

        async def start_kernel(self, **kw):
            root = getattr(self.parent, "root_dir", None)
            if root:
                kw["cwd"] = root
            return await super().start_kernel(**kw)

    LabKernelManager.__module__, LabKernelManager.__qualname__ = __name__, "LabKernelManager"
    return LabKernelManager


def __getattr__(name: str):
    if name == "LabKernelManager":
        cls = _lab_kernel_manager()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Jupyter server settings of ``make lab`` (written by :func:`install_server_config`)
SERVER_CONFIG = {
    "MappingKernelManager": {"kernel_manager_class": "relmask.running.jupyter.LabKernelManager"},
    "ContentsManager": {"pre_save_hook": "relmask.running.jupyter.pre_save_hook"},
}


def install_server_config(prefix: str | None = None) -> str:
    """Merge :data:`SERVER_CONFIG` into ``<prefix>/etc/jupyter/jupyter_server_config.json`` (prefix: this
    environment), the settings every Jupyter server started from the environment reads; returns the path."""
    import sys

    path = os.path.join(prefix or sys.prefix, "etc", "jupyter", "jupyter_server_config.json")
    config = {}
    if os.path.exists(path):
        with open(path) as fh:
            config = json.load(fh)
    for section, values in SERVER_CONFIG.items():
        config.setdefault(section, {}).update(values)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(config, fh, indent=2)
        fh.write("\n")
    return path


def notebook_language_info() -> dict:
    """The ``language_info`` notebooks are stored with: what the relmask kernel (ipykernel) reports when it
    starts, less ``version``, which depends on the Python in use."""
    from ipykernel.ipkernel import IPythonKernel

    info = {k: v for k, v in IPythonKernel.language_info.items() if k != "version"}
    return json.loads(json.dumps(info))  # a deep copy: callers may change it


def pre_save_hook(model: dict, path: str = "", **kwargs) -> None:
    """Jupyter server pre-save hook: drop ``metadata.language_info.version`` from a notebook before it is written."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    info = model["content"].get("metadata", {}).get("language_info")
    if isinstance(info, dict):
        info.pop("version", None)


# -- notebook sources (Jupytext) -------------------------------------------------------------------------------
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (relmask)", "language": "python"}
PAIRING = "ipynb,py:percent"


def paired_ipynb(source) -> Path:
    return Path(source).with_suffix(".ipynb")


def _cells(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.cell_type, c.source.strip(), tuple(c.get("metadata", {}).get("tags", []))) for c in nb.cells]


def notebook_from_source(source):
    """The notebook a percent-format ``.py`` source describes, as it is stored (stable ids, no outputs)."""
    import jupytext
    import nbformat

    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata["jupytext"] = {"formats": PAIRING}  # only the pairing: no format version noise
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = notebook_language_info()  # what the kernel reports, less the Python version
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating an unchanged source changes nothing
        cell["id"] = f"cell-{i:02d}"
        cell.source = cell.source.strip()
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.validate(nb)
    return nb


#: the first line of the ``parameters`` cell in a percent-format source
PARAMETERS_MARKER = '# %% tags=["parameters"]'


def _literal(value) -> str:
    """``value`` as a Python literal the way the notebooks spell it: strings in double quotes, ``{"a": 1}``."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(map(_literal, value)) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_literal, value)) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _annotation_text(annotation) -> str:
    if isinstance(annotation, str):  # `from __future__ import annotations`: the annotation as written
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def parameters_cell(config_class: type) -> str:
    """The body of a notebook's ``parameters`` cell, generated from its experiment's config dataclass: one line
    per field, in the dataclass's order, ``name: annotation = default  # help`` (papermill injects a run's values
    after it; :func:`relmask.running.runner.parse_parameters` reads it back). ``relmask notebooks`` writes it into the
    source, ``--check`` fails where they differ, so a parameter is declared once: in the dataclass."""
    import dataclasses

    from relmask.plugin_system.components import config_params

    defaults = {p.name: p for p in config_params(config_class)}
    lines = []
    for f in dataclasses.fields(config_class):
        p = defaults[f.name]
        line = f"{f.name}: {_annotation_text(f.type)} = {_literal(p.default)}"
        lines.append(line + (f"  # {' '.join(p.help.split())}" if p.help else ""))
    return "\n".join(lines)


def _config_of(source) -> type | None:
    """The config dataclass of the registered experiment whose notebook ``source`` is the source of (None: none)."""
    from relmask.plugin_system.plugins import experiment_for

    exp = experiment_for(paired_ipynb(source))
    return None if exp is None else exp.config


def _parameters_lines(lines: list[str], source) -> tuple[int, int]:
    """(index of the parameters marker, index of the next cell's marker or the end) in a source's lines."""
    from relmask.errors import ParameterError

    if PARAMETERS_MARKER not in lines:
        raise ParameterError(f"{source}: no cell tagged parameters (a line {PARAMETERS_MARKER})")
    start = lines.index(PARAMETERS_MARKER)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("# %%")), len(lines))
    while end > start + 1 and not lines[end - 1].strip():  # the blank lines before the next cell stay
        end -= 1
    return start, end


def write_parameters_cell(source) -> bool:
    """Rewrite the ``parameters`` cell of ``source`` from its experiment's config dataclass (:func:`parameters_cell`);
    True where the file changed. A source that is no registered experiment's is left as it is."""
    config = _config_of(source)
    if config is None:
        return False
    path = Path(source)
    text = path.read_text()
    lines = text.splitlines()
    start, end = _parameters_lines(lines, source)
    new = "\n".join([*lines[:start + 1], *parameters_cell(config).splitlines(), *lines[end:]]) + "\n"
    if new == text:
        return False
    path.write_text(new)
    return True


def sync_notebook(source):
    """Write the ``parameters`` cell of the percent-format ``source`` from its experiment's dataclass, then the
    ``.ipynb`` paired with it; returns the ``.ipynb``'s path."""
    import nbformat

    write_parameters_cell(source)
    target = paired_ipynb(source)
    nbformat.write(notebook_from_source(source), target)
    return target


def out_of_sync(source) -> list[str]:
    """How ``source`` and the ``.ipynb`` paired with it differ from what they should be: the source's ``parameters``
    cell from its experiment's config dataclass (:func:`parameters_cell`), the ``.ipynb``'s cells (kinds, sources,
    tags) from the source; empty when in sync."""
    import nbformat

    target = paired_ipynb(source)
    problems = []
    lines = Path(source).read_text().splitlines()
    config = _config_of(source)
    if config is not None:
        start, end = _parameters_lines(lines, source)
        if lines[start + 1:end] != parameters_cell(config).splitlines():
            problems.append(f"{Path(source).name}: its parameters cell differs from the fields of "
                            f"{config.__module__}.{config.__qualname__} (the one declaration of the parameters)")
    if not target.exists():
        return [*problems, f"{target} is missing: run `relmask notebooks {source}`"]
    want, have = _cells(notebook_from_source(source)), _cells(nbformat.read(target, as_version=4))
    for i, (w, h) in enumerate(zip(want, have, strict=False)):  # a differing count is reported below
        if w != h:
            what = "kind" if w[0] != h[0] else "tags" if w[2] != h[2] else "source"
            problems.append(f"{target.name}: cell {i} ({w[0]}) differs from {source} in its {what}")
    if len(want) != len(have):
        problems.append(f"{target.name} has {len(have)} cells, its source {source} {len(want)}")
    return problems


def notebook_sources() -> list:
    """The percent-format sources of every registered experiment's notebook."""
    from relmask.plugin_system.kinds import EXPERIMENTS
    from relmask.plugin_system.plugins import registry

    reg = registry(EXPERIMENTS)
    found = []
    for name in reg.names():
        nb = reg.get(name).notebook
        if nb is not None:
            found.append(Path(nb).with_suffix(".py"))
    return found


def cmd_notebooks(args) -> int:
    import sys

    sources = [Path(p) for p in args.sources] or notebook_sources()
    missing = [s for s in sources if not s.exists()]
    if missing:
        print(f"relmask notebooks: error: no such source: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    if args.check:
        problems = [p for s in sources for p in out_of_sync(s)]
        for p in problems:
            print(p)
        print(f"{len(sources)} notebook(s): " + ("in sync" if not problems else f"{len(problems)} difference(s); "
                                                "run `relmask notebooks` to rewrite the parameters cells from the "
                                                "dataclasses and the .ipynb from the .py"))
        return 1 if problems else 0
    for s in sources:
        print(f"wrote {sync_notebook(s)}")
    return 0


def add_subcommand(sub) -> None:
    p = sub.add_parser("notebooks", help="write each notebook's parameters cell from its experiment's dataclass and "
                                         "its .ipynb from its Jupytext .py source (or --check)",
                       description="Notebook sources are Jupytext percent-format .py files paired with an .ipynb; an "
                                   "experiment's parameters cell is generated from its config dataclass. Without "
                                   "SOURCES: every registered experiment's notebook.")
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="percent-format .py notebook sources")
    p.add_argument("--check", action="store_true", help="only report pairs that are out of sync (exit 1)")
    p.set_defaults(func=cmd_notebooks)
