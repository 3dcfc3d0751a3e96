"""Built-in reproduce-configs plugin: the ``relmask reproduce`` configurations that span the built-in experiments
(``quick``: whale, fer and faithfulness on synthetic data, = ``make demo``; ``full`` and ``real``: whale and fer
on real data). A configuration of one experiment ships with that experiment instead (``fer-sizes``:
:attr:`relmask.Experiment.reproduce_configs`). Relative paths inside a configuration resolve beside its file,
then in the project checkout (:func:`relmask.running.reproduce.load_config`)."""
from pathlib import Path

from relmask import hookimpl

HERE = Path(__file__).resolve().parent
#: config name -> what it reproduces (``relmask list configs``)
CONFIGS = {
    "quick": "both papers' experiments and the faithfulness experiment on synthetic data (make demo, minutes)",
    "full": "both papers' experiments on the full real data sets, full presets (hours)",
    "real": "both papers' experiments on the real development data sets (docs/results-real.md)",
}


@hookimpl
def register_reproduce_configs(register):
    from relmask.plugin_system.components import ReproduceConfig

    for name, description in CONFIGS.items():
        register(ReproduceConfig(name, HERE / f"{name}.yaml", description))
