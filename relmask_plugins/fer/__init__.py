"""Built-in fer plugin: the ``fer`` domain, face student/trainer architectures, ``external`` relevance maps and
the ``fer`` experiment (Paper A: relevance-based data masking; registered in :mod:`relmask_plugins.fer.experiment`,
its parameters in :mod:`~relmask_plugins.fer.config`, the steps its notebook calls in
:mod:`~relmask_plugins.fer.pipeline`, its tables and figures in :mod:`~relmask_plugins.fer.report`).

Nothing here imports Keras at import time (the CLI lists plugins in well under a second).
"""
from relmask import hookimpl

from .domain import FerDomain
from .external import ExternalRelevance
from .models import MODELS


@hookimpl
def register_domains(register):
    register(FerDomain(), aliases=("faces",))


@hookimpl
def register_models(register):
    for spec in MODELS:
        register(spec)


@hookimpl
def register_relevance_methods(register):
    register(ExternalRelevance())


@hookimpl
def register_experiments(register):
    from .experiment import FerDataMasking

    register(FerDataMasking())
