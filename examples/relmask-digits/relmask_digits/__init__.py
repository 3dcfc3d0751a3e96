"""relmask-digits: a third-party relmask plugin on real data that ships with scikit-learn.

It registers, through the entry point ``digits = "relmask_digits"`` (group ``relmask``, see pyproject.toml):

* the ``digits`` domain (:mod:`relmask_digits.domain`): the 1,797 handwritten 8×8 digits of
  ``sklearn.datasets.load_digits``, no download;
* the ``digits_cnn`` model (:mod:`relmask_digits.models`);
* the ``digits`` experiment (:mod:`relmask_digits.experiment`): its notebook, presets, reproduce config and paper
  outputs (:mod:`relmask_digits.paper`).

The hooks import their modules only when called, and no module imports Keras at import time, so ``relmask plugins``
stays fast. docs/plugins.md in the relmask repository walks through this package file by file.
"""
from relmask import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_domains(register):
    from .domain import DigitsDomain

    register(DigitsDomain())


@hookimpl
def register_models(register):
    from .models import MODELS

    for spec in MODELS:
        register(spec)


@hookimpl
def register_experiments(register):
    from .experiment import DigitsMasking

    register(DigitsMasking())
