"""Built-in whale plugin: the ``whale`` domain (synthetic, Kaggle, feature and image sources), its spectrogram
models and the ``whale`` experiment (Paper B: feature masking and fusion, with its notebook, presets and paper/
figures).

Imports no Keras/TensorFlow at module import time (the CLI lists plugins quickly); see docs/whale.md.
"""
from relmask import hookimpl


@hookimpl
def register_domains(register):
    from .domain import WhaleDomain

    register(WhaleDomain())


@hookimpl
def register_models(register):
    from .models import MODELS

    for spec in MODELS:
        register(spec)


@hookimpl
def register_experiments(register):
    from .experiment import WhaleFeatureMasking

    register(WhaleFeatureMasking())
