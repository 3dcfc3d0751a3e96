"""Deliberately broken plugin for the tests: registers a name the built-ins already own."""
from relmask import hookimpl


@hookimpl
def register_maskers(register):
    from relmask_example import InvertMasker

    register(InvertMasker(), name="keep")  # clashes with the built-in `keep`
