"""Built-in faithfulness plugin: the ``faithfulness`` experiment (each relevance method's maps scored by pixel
flipping, ROAD, the randomisation check and ROAR beside its masking result, on every domain that declares
its defaults, :class:`relmask.DomainDefaults`; see docs/metrics.md). Imports no Keras at import time."""
from relmask import hookimpl


@hookimpl
def register_experiments(register):
    from .experiment import RelevanceFaithfulness

    register(RelevanceFaithfulness())
