"""Built-in whale plugin: the ``whale`` domain (synthetic and Kaggle sources) and its spectrogram models.

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
